"""lxc-checkconfig's logic on fake hosts: kernel configs with options missing, old kernels,
a fake /proc and cgroup tree, subuid files with and without the user, idmap mismatches,
newuidmap without setuid, and the text/JSON rendering."""

import gzip
import json
import os
import re
import struct

import pytest

from lxctools.cli import checkconfig as cli
from lxctools import hostcheck as H
from lxctools.hostcheck import kconfig, readiness

from kernel_configs import kernel_config

HYBRID_MOUNTS = """tmpfs /sys/fs/cgroup tmpfs rw 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,freezer 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,xattr,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0
"""
V2_MOUNTS = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n"


def write(path, text, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    if mode is not None:
        os.chmod(path, mode)
    return str(path)


def elf(interp):
    """A minimal ELF64 header with one program header: PT_INTERP (dynamic) or PT_LOAD."""
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    return header + struct.pack("<IIQQQQQQ", 3 if interp else 1, 4, 0, 0, 0, 0, 0, 0)


class FakeHost:
    """A fake /proc, /sys, /etc, kernel config and tools under tmp_path."""

    def __init__(self, tmp_path, *, config=None, mounts=HYBRID_MOUNTS, pid1="init",
                 own_cgroups="0::/\n", setuid=True):
        self.base = tmp_path
        p = str(tmp_path)
        self.roots = H.Roots(proc=f"{p}/proc", sys=f"{p}/sys", etc=f"{p}/etc", boot=f"{p}/boot",
                             modules=f"{p}/modules", release="6.1.0-test", path=f"{p}/bin",
                             default_config=f"{p}/home/.config/lxc/default.conf")
        write(f"{p}/proc/config.gz", "")
        with gzip.open(f"{p}/proc/config.gz", "wt") as handle:
            handle.write(config if config is not None else kernel_config())
        write(f"{p}/proc/self/mounts", mounts)
        write(f"{p}/proc/self/cgroup", own_cgroups)
        write(f"{p}/proc/self/ns/cgroup", "")
        write(f"{p}/proc/1/comm", pid1 + "\n")
        write(f"{p}/proc/sys/user/max_user_namespaces", "15000\n")
        for line in mounts.splitlines():
            fields = line.split()
            if fields[2] in ("cgroup", "cgroup2"):
                target = self.roots.host_path(fields[1])
                write(f"{target}/cgroup.procs", "", 0o644)
                if fields[2] == "cgroup":
                    write(f"{target}/cgroup.clone_children", "0\n")
                else:
                    write(f"{target}/cgroup.controllers", "cpu memory pids\n")
        write(f"{p}/etc/subuid", "")
        write(f"{p}/etc/subgid", "")
        mode = 0o4755 if setuid else 0o755
        for tool in ("newuidmap", "newgidmap"):
            write(f"{p}/bin/{tool}", "#!/bin/sh\n", mode)
        busybox = f"{p}/bin/busybox"
        os.makedirs(os.path.dirname(busybox), exist_ok=True)
        with open(busybox, "wb") as handle:
            handle.write(elf(interp=False))
        os.chmod(busybox, 0o755)

    def file(self, rel, text, mode=None):
        return write(os.path.join(str(self.base), rel), text, mode)

    def run(self, user=None, **kwargs):
        user = user or H.User("alice", 1000, 1000, home=str(self.base / "home"))
        return H.run(self.roots, user, **kwargs)


ALICE = H.User("alice", 1000, 1000)
ROOT = H.User("root", 0, 0)


def verdicts(report, title):
    return {c.label: c.state for c in report.section(title).checks}


def check(report, title, label_start):
    matches = [c for c in report.section(title).checks if c.label.startswith(label_start)]
    assert matches, f"no {label_start!r} in {title}: {[c.label for c in report.section(title).checks]}"
    return matches[0]


# -- kernel config ------------------------------------------------------------------------------
def test_full_config_enables_every_option(tmp_path):
    report = FakeHost(tmp_path).run()
    for title in ("Namespaces", "Control groups", "Misc", "Checkpoint/Restore"):
        states = {c.label: c.state for c in report.section(title).checks if c.state != H.LIST}
        assert set(states.values()) == {H.ENABLED}, (title, states)
    assert report.kernel_version == (6, 1, 0)
    assert report.messages == []
    assert [s.title for s in report.sections] == ["Namespaces", "Control groups", "Misc",
                                                  "Checkpoint/Restore", "Host readiness"]


def test_missing_options_say_missing_or_required(tmp_path):
    config = kernel_config(without={"CONFIG_NAMESPACES", "CONFIG_PID_NS", "CONFIG_UTS_NS",
                                    "CONFIG_VETH", "CONFIG_CPUSETS", "CONFIG_EPOLL"})
    report = FakeHost(tmp_path, config=config).run()
    ns = verdicts(report, "Namespaces")
    assert ns["Namespaces"] == H.REQUIRED
    assert ns["Pid namespace"] == H.REQUIRED
    assert ns["Utsname namespace"] == H.MISSING
    assert ns["Ipc namespace"] == H.ENABLED
    assert verdicts(report, "Misc")["Veth pair device"] == H.MISSING
    assert verdicts(report, "Control groups")["Cgroup cpuset"] == H.MISSING
    assert verdicts(report, "Checkpoint/Restore")["CONFIG_EPOLL"] == H.MISSING
    text = cli.render_text(report)
    assert "Namespaces: required\n" in text and "Utsname namespace: missing\n" in text


def test_an_option_named_only_in_a_comment_or_string_is_not_set():
    config = kconfig.KernelConfig('# CONFIG_VETH is not set\nCONFIG_CMDLINE="CONFIG_VETH=y"\n'
                                  "CONFIG_VETHX=y\n")
    assert not config.is_set("CONFIG_VETH")


def test_cpuset_line_only_with_smp(tmp_path):
    report = FakeHost(tmp_path, config=kernel_config(without={"CONFIG_SMP"})).run()
    assert "Cgroup cpuset" not in verdicts(report, "Control groups")


def test_old_kernels_get_lxcs_version_dependent_checks(tmp_path):
    report = FakeHost(tmp_path / "a", config=kernel_config("4.4.0")).run()
    assert "Multiple /dev/pts instances" in verdicts(report, "Namespaces")
    assert "CONFIG_NF_NAT_IPV4" not in verdicts(report, "Misc")  # LXC: only 4.7 to 4.x
    report = FakeHost(tmp_path / "b", config=kernel_config("4.9.0")).run()
    assert "Multiple /dev/pts instances" not in verdicts(report, "Namespaces")
    misc = [c.label for c in report.section("Misc").checks]
    assert misc.index("CONFIG_NF_NAT_IPV4") == misc.index("Advanced netfilter") + 1
    report = FakeHost(tmp_path / "c", config=kernel_config(
        "3.2.0", without={"CONFIG_CGROUP_MEM_RES_CTLR"})).run()
    memory = check(report, "Control groups", "Cgroup memory controller")
    assert (memory.option, memory.state) == ("CONFIG_CGROUP_MEM_RES_CTLR", H.MISSING)
    report = FakeHost(tmp_path / "d", config=kernel_config(
        "2.6.32", without={"CONFIG_SECURITY_FILE_CAPABILITIES"})).run()
    assert verdicts(report, "Checkpoint/Restore")["File capabilities"] == H.MISSING
    report = FakeHost(tmp_path / "e", config=kernel_config(
        "2.6.35", without={"CONFIG_SECURITY_FILE_CAPABILITIES"})).run()
    assert verdicts(report, "Checkpoint/Restore")["File capabilities"] == H.ENABLED


def test_no_version_header_warns_and_assumes_latest(tmp_path):
    report = FakeHost(tmp_path, config=kernel_config(version=None)).run()
    assert report.kernel_version is None
    assert report.messages == ["WARNING: Unable to detect version from configuration, assuming latest"]
    assert "Multiple /dev/pts instances" not in verdicts(report, "Namespaces")
    text = cli.render_text(report)
    assert "assuming latest\n\n\n--- Namespaces ---\n" in text


def test_config_env_plain_file_and_search_order(tmp_path):
    host = FakeHost(tmp_path)
    plain = host.file("my.config", kernel_config(without={"CONFIG_MACVLAN"}))
    host.roots.kernel_config = plain
    report = host.run()
    assert report.kernel_config == plain and report.messages == []
    assert verdicts(report, "Misc")["Macvlan"] == H.MISSING
    # $CONFIG missing: headers' .config, then /boot (which wins).
    host.roots.kernel_config = str(tmp_path / "nowhere")
    headers = host.file("modules/6.1.0-test/build/.config", kernel_config())
    assert host.run().kernel_config == headers
    boot = host.file("boot/config-6.1.0-test", kernel_config())
    report = host.run()
    assert report.kernel_config == boot
    assert report.messages == [f"Kernel configuration not found at {tmp_path}/nowhere; searching...",
                               f"Kernel configuration found at {boot}"]


def test_no_config_anywhere_raises_with_module_hint(tmp_path):
    host = FakeHost(tmp_path)
    host.roots.kernel_config = str(tmp_path / "nowhere")
    with pytest.raises(H.NoKernelConfig) as info:
        host.run()
    assert info.value.module_file is None
    host.file("modules/6.1.0-test/kernel/kernel/configs.ko.xz", "")
    host.file("modules/6.1.0-test/modules.dep", "kernel/kernel/configs.ko.xz:\n")
    with pytest.raises(H.NoKernelConfig) as info:
        host.run()
    assert info.value.module_file.endswith("configs.ko.xz")


def test_module_status_only_when_proc_modules_exists(tmp_path):
    host = FakeHost(tmp_path, config=kernel_config(module={"CONFIG_VETH", "CONFIG_BRIDGE"}))
    assert {c.value for c in host.run().section("Misc").checks} == {None}
    host.file("proc/modules", "veth 40960 0 - Live 0x0\nbr_netfilter 32768 0 - Live 0x0\n")
    misc = {c.label: c.value for c in host.run().section("Misc").checks}
    assert misc["Veth pair device"] == "loaded"
    assert misc["Bridges"] == "not loaded"  # br_netfilter is another module
    assert "Veth pair device: enabled, loaded\n" in cli.render_text(host.run())


# -- cgroups ------------------------------------------------------------------------------------
def test_cgroup_mount_points_and_v1_controller_checks(tmp_path):
    report = FakeHost(tmp_path).run()
    checks = {c.label: c for c in report.section("Control groups").checks}
    assert checks["Cgroup v1 mount points"].items == [
        "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/freezer",
        "/sys/fs/cgroup/systemd"]
    assert checks["Cgroup v2 mount points"].items == ["/sys/fs/cgroup/unified"]
    assert checks["Cgroup v1 clone_children flag"].state == H.ENABLED
    assert "Cgroup v1 systemd controller" not in checks


def test_v1_without_systemd_and_freezer_is_red_missing(tmp_path):
    mounts = "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
    report = FakeHost(tmp_path, mounts=mounts).run()
    checks = {c.label: c for c in report.section("Control groups").checks}
    for label in ("Cgroup v1 systemd controller", "Cgroup v1 freezer controller"):
        assert (checks[label].state, checks[label].required) == (H.MISSING, True)
    coloured = cli.render_text(report, colour=True)
    assert f"Cgroup v1 systemd controller: {cli.RED}missing{cli.NORMAL}" in coloured
    assert f"Utsname namespace: {cli.GREEN}enabled{cli.NORMAL}" in coloured


def test_pure_v2_host_skips_v1_checks(tmp_path):
    report = FakeHost(tmp_path, mounts=V2_MOUNTS).run(user=ROOT)
    labels = [c.label for c in report.section("Control groups").checks]
    assert not any(label.startswith("Cgroup v1 systemd") for label in labels)
    assert check(report, "Host readiness", "Cgroup layout").value.startswith("v2 ")
    assert check(report, "Host readiness", "systemd guests").state == H.OK


# -- readiness: subordinate ids and idmap -----------------------------------------------------
def test_subuid_without_the_user_fails_with_a_free_range(tmp_path):
    host = FakeHost(tmp_path)
    host.file("etc/subuid", "bob:100000:65536\n")
    report = host.run()
    uid = check(report, "Host readiness", "Subordinate uids")
    assert uid.state == H.FAILED
    assert uid.fix == "usermod --add-subuids 165536-231071 alice   # as root"
    gid = check(report, "Host readiness", "Subordinate gids")
    assert gid.fix == "usermod --add-subgids 100000-165535 alice   # as root"


def test_subuid_entry_by_name_or_uid(tmp_path):
    host = FakeHost(tmp_path)
    host.file("etc/subuid", "alice:100000:65536\n")
    host.file("etc/subgid", "1000:200000:65536\n")
    report = host.run()
    assert check(report, "Host readiness", "Subordinate uids").state == H.OK
    gid = check(report, "Host readiness", "Subordinate gids")
    assert (gid.state, gid.fix) == (H.OK, None)
    assert "200000-265535" in gid.value


def test_default_config_missing_gives_a_printf_fix(tmp_path):
    host = FakeHost(tmp_path)
    host.file("etc/subuid", "alice:300000:65536\n")
    report = host.run()
    idmap = check(report, "Host readiness", "Default config idmap")
    assert idmap.state == H.FAILED
    assert "lxc.idmap = u 0 300000 65536" in idmap.fix
    assert "lxc.idmap = g 0 100000 65536" in idmap.fix
    assert idmap.fix.startswith(f"mkdir -p {tmp_path}/home/.config/lxc && printf ")


def test_idmap_matching_subuids_is_ok(tmp_path):
    host = FakeHost(tmp_path)
    host.file("etc/subuid", "alice:100000:65536\n")
    host.file("etc/subgid", "alice:100000:65536\n")
    host.file("home/.config/lxc/default.conf",
              "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n"
              "lxc.idmap = u 65536 1000 1\n")  # the user's own uid needs no subuid
    idmap = check(host.run(), "Host readiness", "Default config idmap")
    assert idmap.state == H.OK, idmap


def test_idmap_outside_the_ranges_fails_with_usermod(tmp_path):
    host = FakeHost(tmp_path)
    host.file("etc/subuid", "alice:100000:65536\n")
    host.file("etc/subgid", "alice:100000:65536\n")
    host.file("home/.config/lxc/default.conf",
              "lxc.idmap = u 0 200000 65536\nlxc.idmap = g 0 100000 65536\n")
    idmap = check(host.run(), "Host readiness", "Default config idmap")
    assert idmap.state == H.FAILED
    assert "u 0 200000 65536 is outside alice's subuid ranges" in idmap.value
    assert idmap.fix == "usermod --add-subuids 200000-265535 alice   # as root"


def test_idmap_onto_someone_elses_ids_suggests_editing_the_line(tmp_path):
    host = FakeHost(tmp_path)
    host.file("etc/subuid", "alice:100000:65536\nbob:200000:65536\n")
    host.file("etc/subgid", "alice:100000:65536\n")
    conf = host.file("home/.config/lxc/default.conf",
                     "lxc.idmap = u 0 200000 65536\nlxc.idmap = g 0 100000 65536\n")
    idmap = check(host.run(), "Host readiness", "Default config idmap")
    assert idmap.state == H.FAILED
    assert idmap.fix == (f"sed -i 's/^lxc.idmap *= *u 0 200000 65536$/lxc.idmap = u 0 100000 65536/'"
                         f" {conf}")


def test_idmap_without_root_mapping_fails(tmp_path):
    host = FakeHost(tmp_path)
    host.file("etc/subuid", "alice:100000:65536\n")
    host.file("etc/subgid", "alice:100000:65536\n")
    conf = host.file("home/.config/lxc/default.conf", "lxc.idmap = u 0 100000 65536\n")
    idmap = check(host.run(), "Host readiness", "Default config idmap")
    assert "no g line maps container root" in idmap.value
    assert idmap.fix == f"echo 'lxc.idmap = g 0 100000 65536' >> {conf}"


def test_unreadable_default_config_names_the_line(tmp_path):
    host = FakeHost(tmp_path)
    host.file("home/.config/lxc/default.conf", "lxc.idmap = u 0 100000\n")
    idmap = check(host.run(), "Host readiness", "Default config idmap")
    assert idmap.state == H.FAILED and "default.conf:1:" in idmap.value


def test_root_without_idmap_is_informational(tmp_path):
    report = FakeHost(tmp_path).run(user=ROOT)
    assert check(report, "Host readiness", "Subordinate uids").state == H.INFO
    assert check(report, "Host readiness", "Default config idmap").state == H.INFO
    assert check(report, "Host readiness", "Cgroups for root").state == H.OK


def test_covered_joins_adjacent_ranges():
    assert readiness.covered([(100000, 10), (100010, 10)], 100005, 10)
    assert not readiness.covered([(100000, 10), (100011, 10)], 100005, 10)
    assert not readiness.covered([], 1, 1)


# -- readiness: tools, sysctls, cgroups, busybox ----------------------------------------------
def test_newuidmap_not_setuid(tmp_path):
    host = FakeHost(tmp_path, setuid=False)
    report = host.run()
    notes = [c.text for c in report.section("Namespaces").checks if c.state == H.NOTE]
    assert notes == ["Warning: newuidmap is not setuid-root", "Warning: newgidmap is not setuid-root"]
    tool = check(report, "Host readiness", "newuidmap")
    assert tool.state == H.FAILED
    assert tool.fix == f"chmod u+s {tmp_path}/bin/newuidmap   # as root"
    text = cli.render_text(report)
    assert "User namespace: enabled\nWarning: newuidmap is not setuid-root\n" in text


def test_newuidmap_setuid_root_is_ok(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a setuid-root file can only be made by root")
    report = FakeHost(tmp_path).run()
    assert check(report, "Host readiness", "newuidmap").state == H.OK
    assert not [c for c in report.section("Namespaces").checks if c.state == H.NOTE]


def test_newuidmap_not_installed(tmp_path):
    host = FakeHost(tmp_path)
    os.unlink(tmp_path / "bin" / "newgidmap")
    report = host.run()
    assert "newgidmap is not installed" in [c.text for c in report.section("Namespaces").checks]
    assert check(report, "Host readiness", "newgidmap").fix == "apt-get install uidmap   # as root"


def test_userns_sysctls(tmp_path):
    host = FakeHost(tmp_path)
    host.file("proc/sys/user/max_user_namespaces", "0\n")
    host.file("proc/sys/kernel/unprivileged_userns_clone", "0\n")
    report = host.run()
    limit = check(report, "Host readiness", "user.max_user_namespaces")
    assert (limit.state, limit.fix) == (H.FAILED, "sysctl -w user.max_user_namespaces=15000   # as root")
    clone = check(report, "Host readiness", "kernel.unprivileged_userns_clone")
    assert clone.fix == "sysctl -w kernel.unprivileged_userns_clone=1   # as root"
    host.file("proc/sys/kernel/unprivileged_userns_clone", "1\n")
    assert check(host.run(), "Host readiness", "kernel.unprivileged_userns_clone").state == H.OK


def test_no_delegated_cgroups_warns_with_pam_fix(tmp_path):
    host = FakeHost(tmp_path)
    deleg = check(host.run(), "Host readiness", "Cgroups for alice")
    assert deleg.state == H.WARNING
    assert "apt-get install libpam-cgfs" in deleg.fix
    host.file("etc/pam.d/common-session", "session optional pam_cgfs.so -c freezer,memory,name=systemd\n")
    deleg = check(host.run(), "Host readiness", "Cgroups for alice")
    assert deleg.fix.startswith("su - alice")


def delegate(host, controllers, path="user/alice/0"):
    """What pam_cgfs does: the directory becomes the user's, cgroup.procs stays root's 0644."""
    for c in controllers:
        directory = os.path.join(host.roots.sys, "fs/cgroup", c, path)
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o777)
        write(os.path.join(directory, "cgroup.procs"), "", 0o644)


def test_partly_delegated_cgroups_from_pam_cgfs(tmp_path):
    own = "4:name=systemd:/user/alice/0\n3:freezer:/user/alice/0\n2:memory:/user/alice/0\n" \
          "1:cpuacct,cpu:/\n0::/\n"
    host = FakeHost(tmp_path, own_cgroups=own)
    host.file("etc/pam.d/common-session", "session optional pam_cgfs.so -c freezer,memory,name=systemd\n")
    delegate(host, ["freezer", "memory", "systemd"])
    report = host.run()
    deleg = check(report, "Host readiness", "Cgroups for alice")
    assert deleg.state == H.WARNING
    assert "delegated: memory freezer name=systemd; not delegated: cpu,cpuacct" in deleg.value
    assert deleg.fix.startswith("sed -i 's/pam_cgfs.so -c [^[:space:]]*/pam_cgfs.so/'")
    assert check(report, "Host readiness", "systemd guests").state == H.OK
    delegate(host, ["cpu,cpuacct"])
    host.file("proc/self/cgroup", own.replace("1:cpuacct,cpu:/", "1:cpuacct,cpu:/user/alice/0"))
    assert check(host.run(), "Host readiness", "Cgroups for alice").state == H.OK


def test_delegated_v2_subtree(tmp_path):
    host = FakeHost(tmp_path, mounts=V2_MOUNTS, own_cgroups="0::/user/alice\n")
    report = host.run()
    assert check(report, "Host readiness", "Cgroups for alice").state == H.WARNING
    assert check(report, "Host readiness", "systemd guests").state == H.WARNING
    directory = os.path.join(host.roots.sys, "fs/cgroup/user/alice")
    os.makedirs(directory)
    os.chmod(directory, 0o777)
    # cgroup2 checks the common ancestor's cgroup.procs when moving a process down
    write(os.path.join(directory, "cgroup.procs"), "", 0o644)
    assert check(host.run(), "Host readiness", "Cgroups for alice").state == H.WARNING
    os.chmod(os.path.join(directory, "cgroup.procs"), 0o666)
    report = host.run()
    assert check(report, "Host readiness", "Cgroups for alice").state == H.OK
    assert check(report, "Host readiness", "systemd guests").state == H.OK


def test_undelegated_v2_under_systemd_points_at_a_delegated_scope(tmp_path):
    """systemd owns the cgroup2 tree: the fix is LXC's documented way, a delegated scope
    (tests/vm runs it for real), not a hand-made cgroup."""
    host = FakeHost(tmp_path, mounts=V2_MOUNTS, pid1="systemd",
                    own_cgroups="0::/user.slice/user-1000.slice/session-1.scope\n")
    deleg = check(host.run(), "Host readiness", "Cgroups for alice")
    assert deleg.state == H.WARNING and "Delegate=yes" in deleg.value
    assert deleg.fix.splitlines() == [
        "lxc-unpriv-start -n NAME   # or: systemd-run --user --scope -p Delegate=yes -- "
        "lxc-start -n NAME",
        "loginctl enable-linger alice   # as root, once: alice's systemd manager, which "
        "makes the scope"]


def test_systemd_guests_need_name_systemd_without_systemd_pid1(tmp_path):
    mounts = "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
    report = FakeHost(tmp_path / "a", mounts=mounts).run(user=ROOT)
    guests = check(report, "Host readiness", "systemd guests")
    assert guests.state == H.WARNING and "name=systemd" in guests.fix
    report = FakeHost(tmp_path / "b", mounts=mounts, pid1="systemd").run(user=ROOT)
    assert check(report, "Host readiness", "systemd guests").state == H.OK


def test_busybox_static_dynamic_missing(tmp_path):
    host = FakeHost(tmp_path)
    assert check(host.run(), "Host readiness", "busybox").state == H.OK
    with open(tmp_path / "bin" / "busybox", "wb") as handle:
        handle.write(elf(interp=True))
    box = check(host.run(), "Host readiness", "busybox")
    assert (box.state, box.fix) == (H.WARNING, "apt-get install busybox-static   # as root")
    host.roots.busybox = str(tmp_path / "no-busybox")
    box = check(host.run(), "Host readiness", "busybox")
    assert (box.state, box.fix) == (H.FAILED, "apt-get install busybox-static   # as root")


# -- rendering --------------------------------------------------------------------------------
def test_text_has_lxcs_layout_and_no_escapes_without_colour(tmp_path):
    text = cli.render_text(FakeHost(tmp_path, setuid=False).run(), argv0="/x/lxc-checkconfig")
    assert "\033" not in text
    assert text.startswith(cli.version_line() + "\n\n--- Namespaces ---\nNamespaces: enabled\n")
    assert "\n\n--- Control groups ---\n" in text
    assert "Cgroup v1 mount points: \n - /sys/fs/cgroup/cpu,cpuacct\n" in text
    assert text.endswith("Note : Before booting a new kernel, you can check its configuration\n"
                         "usage : CONFIG=/path/to/config /x/lxc-checkconfig\n\n")
    # every failing or warning readiness line is followed by its fix
    lines = text[text.index("--- Host readiness ---"):].splitlines()
    for i, line in enumerate(lines):
        if re.search(r": (failed|warning)\b", line):
            assert lines[i + 1].startswith("  fix: "), line


def test_report_as_json_has_every_section(tmp_path, capsys):
    report = FakeHost(tmp_path).run()
    cli._print_json(report)
    data = json.loads(capsys.readouterr().out)
    assert list(data["sections"]) == ["Namespaces", "Control groups", "Misc",
                                      "Checkpoint/Restore", "Host readiness"]
    first = data["sections"]["Namespaces"][0]
    assert first == {"label": "Namespaces", "state": "enabled", "value": None, "required": True,
                     "fix": None, "option": "CONFIG_NAMESPACES"}
    assert data["kernel_version"] == "6.1.0"
    for item in data["sections"]["Host readiness"]:
        assert set(item) >= {"label", "state", "value", "required", "fix"}
        if item["state"] in ("failed", "warning"):
            assert item["fix"]


# -- readiness: networks for an unprivileged user ----------------------------------------------
def test_user_networks_helper_quota_and_tun(tmp_path):
    host = FakeHost(tmp_path)
    host.roots.user_nic = host.file("libexec/lxc/lxc-user-nic", "", 0o755)
    host.roots.dev = str(tmp_path / "dev")
    host.file("dev/net/tun", "", 0o600)
    report = host.run()
    helper = check(report, "Host readiness", "lxc-user-nic")
    assert helper.state == H.WARNING and "is not setuid-root" in helper.value
    assert helper.fix == f"chmod u+s {host.roots.user_nic}   # as root"
    quota = check(report, "Host readiness", "Network quota")
    assert quota.state == H.WARNING and "does not exist" in quota.value
    assert quota.fix == f"echo 'alice veth lxcbr0 10' >> {tmp_path}/etc/lxc/lxc-usernet   # as root"
    tun = check(report, "Host readiness", f"{tmp_path}/dev/net/tun")
    assert tun.state == H.WARNING and "mode 0600, closed to alice" in tun.value
    assert tun.fix == f"chmod 0666 {tmp_path}/dev/net/tun   # as root"

    host.file("etc/lxc/lxc-usernet", "bob veth br0 4\nalice veth br0 2\nalice veth br1 1\n"
                                     "alice veth br0 1\n")
    os.chmod(tmp_path / "dev/net/tun", 0o666)
    report = host.run()
    assert check(report, "Host readiness", "Network quota").value == (
        "alice: 3 veth on br0 (lines 2, 4); 1 veth on br1 (line 3)")
    assert check(report, "Host readiness", f"{tmp_path}/dev/net/tun").state == H.OK
    # root needs none of it
    assert not [c for c in host.run(ROOT).section("Host readiness").checks
                if c.label.startswith(("lxc-user-nic", "Network quota"))]


# -- readiness: how many containers one lxcpath can hold ------------------------------------------
LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max processes             96367                96367                processes
Max open files            {soft:<20} {hard:<20} files
Max locked memory         8388608              8388608              bytes
"""


def test_a_low_hard_open_file_limit_warns_with_the_containers_it_allows(tmp_path):
    host = FakeHost(tmp_path)
    host.file("proc/self/limits", LIMITS.format(soft=1024, hard=4096))
    host.file("proc/sys/fs/nr_open", "1048576\n")
    limit = check(host.run(ROOT), "Host readiness", "Open files")
    assert limit.state == H.WARNING
    # (4096 - 32 of the supervisor's own) // 9 descriptors of a busybox container
    from lxctools.kernel.fdlimit import SUPERVISOR_OWN, per_container
    at_most = (4096 - SUPERVISOR_OWN) // per_container(5)  # 406: 10 fds a busybox container
    assert limit.value.startswith(f"hard limit 4096: ~{at_most} containers per lxcpath at most")
    assert limit.fix.startswith("ulimit -Hn 1048576   #")
    # a user cannot raise its own hard limit: root's limits.d line, then a new login
    limit = check(host.run(ALICE), "Host readiness", "Open files")
    assert limit.fix == ("echo 'alice hard nofile 1048576' >> /etc/security/limits.d/lxc.conf"
                         "   # as root; then log in again")
    # the kernel's own ceiling first when it is below what the fix asks for
    host.file("proc/sys/fs/nr_open", "32768\n")
    limit = check(host.run(ROOT), "Host readiness", "Open files")
    assert limit.fix.splitlines() == [
        "sysctl -w fs.nr_open=65536",
        "ulimit -Hn 65536   # in the shell or service (LimitNOFILE=1024:65536) that starts "
        "containers"]


def test_a_high_hard_open_file_limit_is_ok_whatever_the_soft_one(tmp_path):
    host = FakeHost(tmp_path)
    host.file("proc/self/limits", LIMITS.format(soft=1024, hard=1048576))
    limit = check(host.run(ROOT), "Host readiness", "Open files")
    assert limit.state == H.OK and limit.fix is None
    from lxctools.kernel.fdlimit import SUPERVISOR_OWN, per_container
    at_most = (1048576 - SUPERVISOR_OWN) // per_container(5)
    assert limit.value.startswith(f"soft 1024, hard 1048576: ~{at_most} containers per lxcpath")
    # no limits file (an odd /proc): no line rather than a guess
    os.unlink(tmp_path / "proc/self/limits")
    assert not [c for c in host.run(ROOT).section("Host readiness").checks
                if c.label.startswith("Open files")]


def test_kernel_pty_max_gives_the_containers_their_ptys_allow(tmp_path):
    host = FakeHost(tmp_path)
    host.file("proc/sys/kernel/pty/max", "4096\n")
    host.file("proc/sys/kernel/pty/reserve", "1024\n")
    ptys = check(host.run(ROOT), "Host readiness", "kernel.pty.max")
    assert ptys.state == H.INFO
    assert "containers share 3072 ptys" in ptys.value
    assert "~512 containers (sysctl -w kernel.pty.max=7024 for 1,000)" in ptys.value
    host.file("proc/sys/kernel/pty/max", "100000\n")
    assert check(host.run(ROOT), "Host readiness", "kernel.pty.max").value.endswith(
        "~16496 containers")


def test_apparmor_host_says_what_lxc_apparmor_profile_can_use(tmp_path):
    host = FakeHost(tmp_path)
    sys_root = str(tmp_path / "sys")
    write(f"{sys_root}/module/apparmor/parameters/enabled", "Y\n")
    aa = f"{sys_root}/kernel/security/apparmor"
    write(f"{aa}/profiles", "lxc-container-default-cgns (enforce)\n/usr/bin/man (enforce)\n")
    write(f"{aa}/features/mount/mask", "mount umount pivot_root\n")
    write(f"{tmp_path}/bin/apparmor_parser", "#!/bin/sh\n", 0o755)
    report = host.run(user=ROOT)
    checks = {c.label: c for c in report.section("Host readiness").checks}
    assert checks["LSM"].value == "AppArmor"
    assert checks["AppArmor default profile"].state == H.OK
    assert checks["apparmor_parser"].state == H.OK
    assert "AppArmor mount mediation" not in checks
    # LXC's profiles not loaded, no parser, no mount mediation: each said, with the fix
    write(f"{aa}/profiles", "/usr/bin/man (enforce)\n")
    os.unlink(f"{aa}/features/mount/mask")
    os.unlink(f"{tmp_path}/bin/apparmor_parser")
    report = host.run(user=ROOT)
    checks = {c.label: c for c in report.section("Host readiness").checks}
    assert checks["AppArmor default profile"].state == H.WARNING
    assert "apparmor_parser -r /etc/apparmor.d/lxc-containers" in checks[
        "AppArmor default profile"].fix
    assert checks["AppArmor mount mediation"].state == H.WARNING
    assert checks["apparmor_parser"].state == H.WARNING
