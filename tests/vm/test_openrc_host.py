"""lxctools on an OpenRC host, in the VM: Debian's openrc package with openrc-init as PID 1.
A busybox container's life under OpenRC's hybrid cgroups, side by side with real LXC; the
OpenRC script for real (`rc-update add lxc default`, Gentoo's `lxc.NAME` symlink for one
container): started at boot, stopped at shutdown -- the reboot between the two boots also
switches OpenRC from rc_cgroup_mode hybrid (its default) to unified; and a systemd guest
(the debian-systemd image's root, its disk attached by the tier) booting to `running` and
halting cleanly under each mode: the seed case of systemd guests on non-systemd hosts."""

import os
import subprocess
import sys

import pytest

from conftest import REPO, ours
from guestkit import boot, failed_units, guest, halt, inside, layers  # noqa: F401 (fixture)
from lxcenv import world  # noqa: F401  (fixture)
from vmtier import halted_cleanly, note_clean_halts, request_reboot

LP = "/var/lib/lxc"  # the script passes no -P unless conf.d says: the host's lxcpath
CG = "/sys/fs/cgroup"


def read(path):
    with open(path) as handle:
        return handle.read()


def fstype(path):
    return subprocess.run(["stat", "-fc", "%T", path], capture_output=True,
                          text=True).stdout.strip()


def rc(*args, check=True):
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, f"{' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def tool(name, *args):
    return subprocess.run([ours(name), "-P", LP, *args], capture_output=True, text=True,
                          timeout=120)


def state(name):
    return tool("lxc-info", "-n", name, "-sH").stdout.strip()


def create(name, extra=""):
    conf = f"/tmp/{name}.conf"
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\n" + extra)
    made = tool("lxc-create", "-n", name, "-t", "busybox", "-f", conf)
    assert made.returncode == 0, made.stderr
    note_clean_halts(f"{LP}/{name}/rootfs")


def test_the_host_runs_openrc_as_pid_1():
    assert read("/proc/1/comm").strip() == "openrc-init"
    assert read("/run/openrc/softlevel").strip() == "default"
    assert read("/run/lxctools-vm/boot-state").strip() == "running"  # nothing crashed
    # rc_cgroup_mode hybrid: v1 controllers on a tmpfs, cgroup2 at unified, OpenRC's own
    assert fstype(CG) == "tmpfs"
    assert fstype(f"{CG}/unified") == "cgroup2fs"
    assert "name=openrc" in read("/proc/self/mounts")
    assert os.path.isdir(f"{CG}/memory")


def test_busybox_whole_life_under_openrc_side_by_side(world):
    conf = os.path.join(world.root, "c.conf")
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\nlxc.cgroup.memory.limit_in_bytes = 48M\n"
                     "lxc.cgroup.pids.max = 40\n")
    for run, name in ((world.ours, "vm-or-o"), (world.real, "vm-or-r")):
        made = run("lxc-create", "-n", name, "-t", "busybox", "-f", conf)
        assert made.returncode == 0, made.stderr
        assert run("lxc-start", "-n", name).returncode == 0
    try:
        pids = {n: int(r("lxc-info", "-n", n, "-pH").stdout)
                for r, n in ((world.ours, "vm-or-o"), (world.real, "vm-or-r"))}
        # every hierarchy, OpenRC's name=openrc one included, as real LXC places them
        assert read(f"/proc/{pids['vm-or-o']}/cgroup").replace("vm-or-o", "N") == \
            read(f"/proc/{pids['vm-or-r']}/cgroup").replace("vm-or-r", "N")
        assert "1:name=openrc:/lxc.payload.vm-or-o\n" in read(f"/proc/{pids['vm-or-o']}/cgroup")
        assert read(f"{CG}/memory/lxc.payload.vm-or-o/memory.limit_in_bytes") == f"{48 << 20}\n"
        assert read(f"{CG}/pids/lxc.payload.vm-or-o/pids.max") == "40\n"
        out = world.ours("lxc-attach", "-n", "vm-or-o", "--", "echo", "inside")
        assert out.stdout == "inside\n", out.stderr
        assert "Memory use:" in world.ours("lxc-info", "-n", "vm-or-o", "-S").stdout
        for key in ("memory.limit_in_bytes", "pids.max"):
            o = world.ours("lxc-cgroup", "-n", "vm-or-o", key)
            r = world.real("lxc-cgroup", "-n", "vm-or-r", key)
            assert (o.returncode, o.stdout) == (r.returncode, r.stdout), key
        assert world.ours("lxc-freeze", "-n", "vm-or-o").returncode == 0
        assert read(f"{CG}/freezer/lxc.payload.vm-or-o/freezer.state") == "FROZEN\n"
        assert world.ours("lxc-unfreeze", "-n", "vm-or-o").returncode == 0
        assert world.ours("lxc-stop", "-n", "vm-or-o").returncode == 0
        assert world.ours("lxc-info", "-n", "vm-or-o", "-sH").stdout.strip() == "STOPPED"
        assert not os.path.exists(f"{CG}/memory/lxc.payload.vm-or-o")
    finally:
        world.ours("lxc-stop", "-n", "vm-or-o", "-k")
        world.real("lxc-stop", "-n", "vm-or-r", "-k")
    assert world.ours("lxc-destroy", "-n", "vm-or-o").returncode == 0


def test_the_openrc_script_starts_containers_for_real():
    """/etc/init.d/lxc (the autostart set) and lxc.vm-rc1 (one container, Gentoo's symlink),
    under openrc-run, in the default runlevel; then a reboot (and unified cgroups next). Over
    Debian's own /etc/init.d/lxc, which install-etc.py replaces only with --force."""
    got = subprocess.run([sys.executable, os.path.join(REPO, "tools/install-etc.py"), "--init",
                          "openrc", "--no-completion", "--force"], capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    os.symlink("lxc", "/etc/init.d/lxc.vm-rc1")
    create("vm-rc-auto", "lxc.start.auto = 1\n")
    create("vm-rc1")
    create("vm-rc-off")
    rc("rc-update", "add", "lxc", "default")
    rc("rc-update", "add", "lxc.vm-rc1", "default")
    # Debian's lxc script (same name) already ran at this boot: OpenRC would find `lxc`
    # started and start nothing; a restart runs ours (the next boot would too)
    rc("rc-service", "lxc", "restart")
    rc("rc-service", "lxc.vm-rc1", "start")
    assert [state(n) for n in ("vm-rc-auto", "vm-rc1", "vm-rc-off")] == [
        "RUNNING", "RUNNING", "STOPPED"]
    assert "started" in rc("rc-service", "lxc.vm-rc1", "status").stdout
    # OpenRC moved each service into a cgroup of its own; the containers are not there
    for name in ("vm-rc-auto", "vm-rc1"):
        pid = tool("lxc-info", "-n", name, "-pH").stdout.strip()
        assert f"1:name=openrc:/lxc.payload.{name}\n" in read(f"/proc/{pid}/cgroup")
    assert rc("rc-service", "lxc.vm-rc1", "stop").returncode == 0
    assert state("vm-rc1") == "STOPPED"
    assert halted_cleanly(f"{LP}/vm-rc1/rootfs")
    rc("rc-service", "lxc.vm-rc1", "start")
    for name in ("vm-rc-auto", "vm-rc1"):
        note_clean_halts(f"{LP}/{name}/rootfs")
    # the next boot with cgroup2 only
    with open("/etc/rc.conf", "a") as handle:
        handle.write('rc_cgroup_mode="unified"\n')
    request_reboot()


def cleanup():
    for name in ("vm-rc-auto", "vm-rc1", "vm-rc-off"):
        tool("lxc-stop", "-n", name, "-k")
        tool("lxc-destroy", "-n", name)
    rc("rc-update", "del", "lxc.vm-rc1", "default", check=False)
    rc("rc-update", "del", "lxc", "default", check=False)


def brought_back(mode):
    """After a reboot: OpenRC runs in MODE, the script started the autostart container and
    the symlinked one at boot (not the third), and the shutdown before halted both cleanly."""
    assert read("/proc/1/comm").strip() == "openrc-init"
    assert fstype(CG) == {"unified": "cgroup2fs", "hybrid": "tmpfs"}[mode]
    assert [state(n) for n in ("vm-rc-auto", "vm-rc1", "vm-rc-off")] == [
        "RUNNING", "RUNNING", "STOPPED"]
    for name in ("vm-rc-auto", "vm-rc1"):
        pid = tool("lxc-info", "-n", name, "-pH").stdout.strip()
        cgroups = read(f"/proc/{pid}/cgroup")
        if mode == "unified":
            assert cgroups == f"0::/lxc.payload.{name}\n"
        else:
            assert f"1:name=openrc:/lxc.payload.{name}\n" in cgroups, cgroups
            assert f"0::/lxc.payload.{name}\n" in cgroups, cgroups
    # the shutdown before this boot halted them (their inits ran their shutdown actions),
    # not killed them
    for name in ("vm-rc-auto", "vm-rc1"):
        assert halted_cleanly(f"{LP}/{name}/rootfs"), name


@pytest.mark.after_reboot
def test_the_openrc_script_brings_them_back_under_unified_cgroups():
    """Started at boot under rc_cgroup_mode unified, after a shutdown under hybrid; the next
    boot goes back to hybrid (started at boot there, after a shutdown under unified)."""
    try:
        brought_back("unified")
        for name in ("vm-rc-auto", "vm-rc1"):
            note_clean_halts(f"{LP}/{name}/rootfs")
        with open("/etc/rc.conf", "a") as handle:
            handle.write('rc_cgroup_mode="hybrid"\n')
    except BaseException:
        cleanup()
        raise
    request_reboot()


@pytest.mark.after_reboot(boot=3)
def test_the_openrc_script_brings_them_back_under_hybrid_cgroups_and_stops_them():
    try:
        brought_back("hybrid")
        # and now by hand
        for name in ("vm-rc-auto", "vm-rc1"):
            note_clean_halts(f"{LP}/{name}/rootfs")
        rc("rc-service", "lxc.vm-rc1", "stop")
        rc("rc-service", "lxc", "stop")
        assert [state(n) for n in ("vm-rc-auto", "vm-rc1")] == ["STOPPED", "STOPPED"]
        assert halted_cleanly(f"{LP}/vm-rc1/rootfs") and halted_cleanly(f"{LP}/vm-rc-auto/rootfs")
        left = rc("find", CG, "-maxdepth", "2", "-name", "lxc.*.vm-rc*").stdout
        assert left == "", left  # in no hierarchy
    finally:
        cleanup()


def systemd_guest_root():
    """The debian-systemd image's root (tier.py attaches its disk), mounted read-only: the
    lower layer of the systemd guest, as the systemd host's own / is in test_systemd_guest."""
    disks = dict(d.split("=", 1) for d in os.environ.get("LXCTOOLS_VM_DISKS", "").split())
    assert "debian-systemd" in disks, \
        "no debian-systemd disk: run with vmkit.py run --disk debian-systemd (tier.py does)"
    target = "/mnt/debian-systemd"
    if not os.path.ismount(target):
        os.makedirs(target, exist_ok=True)
        rc("mount", "-o", "ro", disks["debian-systemd"], target)
    assert os.path.exists(f"{target}/lib/systemd/systemd")
    return target


def systemd_guest_boots_and_halts(world, layers, name):
    """Our lxc-start boots the systemd guest to `running` (nothing failed); lxc-stop halts it
    without a SIGKILL. The guest's init's cgroups, as the host sees them."""
    run, console = guest(world, layers, name, lower=systemd_guest_root())
    try:
        state, _took, pid = boot(run, name)
        assert state == "running", f"{state}; failed units:\n{failed_units(pid)}"
        assert inside(pid, "systemd-detect-virt").stdout.strip() == "lxc"
        cgroups = read(f"/proc/{pid}/cgroup")
        halt(run, name, console)
    finally:
        run("lxc-stop", "-n", name, "-k")
    assert run("lxc-destroy", "-n", name).returncode == 0
    return cgroups


def test_a_systemd_guest_boots_under_openrc_hybrid_cgroups(world, layers):
    assert fstype(CG) == "tmpfs" and fstype(f"{CG}/unified") == "cgroup2fs"
    cgroups = systemd_guest_boots_and_halts(world, layers, "vm-or-sd")
    # OpenRC mounts no name=systemd hierarchy: lxc-start made one for the guest, whose systemd
    # sits in the container's cgroup there (init.scope), as in every other hierarchy
    lines = dict(line.split(":", 2)[1:] for line in cgroups.splitlines())
    assert lines["name=systemd"] == "/lxc.payload.vm-or-sd/init.scope", cgroups
    assert lines[""] == "/lxc.payload.vm-or-sd/init.scope", cgroups
    assert lines["name=openrc"] == "/lxc.payload.vm-or-sd", cgroups


@pytest.mark.after_reboot
def test_a_systemd_guest_boots_under_openrc_unified_cgroups(world, layers):
    assert fstype(CG) == "cgroup2fs"
    cgroups = systemd_guest_boots_and_halts(world, layers, "vm-or-sd2")
    assert cgroups == "0::/lxc.payload.vm-or-sd2/init.scope\n"
