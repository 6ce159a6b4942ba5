"""A privileged busybox container's whole life on Debian 12 as installed (systemd as PID 1,
cgroup2 only), in the VM: create, start, attach, lxc-info with stats, lxc.cgroup2.* limits
applied and enforced, lxc-cgroup, freeze and unfreeze through cgroup.freeze, stop, destroy;
and the cgroups where real LXC puts them on the same host (Debian's lxc is in the image)."""

import os
import re
import subprocess
import time

import pytest

from guestkit import busybox, usage
from lxcenv import world  # noqa: F401  (fixture)

CG = "/sys/fs/cgroup"
LIMITS = """lxc.net.0.type = empty
lxc.cgroup2.memory.max = 48M
lxc.cgroup2.memory.swap.max = 0
lxc.cgroup2.pids.max = 40
lxc.cgroup2.cpu.weight = 50
"""


def read(path):
    with open(path) as handle:
        return handle.read()


def cgroup_of(pid):
    """The cgroup2 path of PID, as /proc/PID/cgroup's 0:: line names it."""
    [line] = [x for x in read(f"/proc/{pid}/cgroup").splitlines() if x.startswith("0::")]
    return line[3:]


def state(run, name):
    return run("lxc-info", "-n", name, "-sH").stdout.strip()


def make(world, name, real=False, config=LIMITS):
    return busybox(world, name, config, real=real)


def leftovers(name):
    found = subprocess.run(["find", CG, "-name", f"lxc.*.{name}*"], capture_output=True,
                           text=True).stdout
    return found.split()


def test_the_host_is_debian_12_with_systemd_and_cgroup2_only():
    assert read("/proc/1/comm").strip() == "systemd"
    assert subprocess.run(["stat", "-fc", "%T", CG], capture_output=True,
                          text=True).stdout.strip() == "cgroup2fs"
    # no v1 hierarchy anywhere: the layout every systemd >= 247 distribution boots with
    assert " cgroup " not in read("/proc/self/mounts")
    assert {"cpu", "memory", "pids", "io", "cpuset"} <= set(read(f"{CG}/cgroup.controllers").split())
    assert read("/run/lxctools-vm/boot-state").strip() == "running"  # nothing failed at boot
    assert read("/sys/module/apparmor/parameters/enabled").strip() == "Y"
    assert read("/etc/debian_version").startswith("12.")
    assert os.access("/usr/bin/lxc-start", os.X_OK)  # real LXC beside ours


def test_privileged_busybox_whole_life(world):
    name = "vm-life"
    run = make(world, name)
    assert run("lxc-start", "-n", name).returncode == 0
    try:
        assert state(run, name) == "RUNNING"
        pid = int(run("lxc-info", "-n", name, "-pH").stdout)
        where = cgroup_of(pid)
        assert where == f"/lxc.payload.{name}"
        payload = CG + where
        # lxc.cgroup2.* written as the config says
        assert read(f"{payload}/memory.max") == f"{48 << 20}\n"
        assert read(f"{payload}/memory.swap.max") == "0\n"
        assert read(f"{payload}/pids.max") == "40\n"
        assert read(f"{payload}/cpu.weight") == "50\n"

        # attach: a command inside, in the payload's .lxc leaf (LXC 5's place for attached
        # processes on cgroup2), seeing the cgroup namespace's root
        out = run("lxc-attach", "-n", name, "--", "sh", "-c",
                  "cat /proc/self/cgroup; echo $((6 * 7))")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["0::/.lxc", "42"]

        # lxc-info's usage from cgroup2's files
        usage(run, name)

        # lxc-cgroup reads and writes the payload's files
        assert run("lxc-cgroup", "-n", name, "pids.max").stdout.strip() == "40"
        assert run("lxc-cgroup", "-n", name, "pids.max", "30").returncode == 0
        assert read(f"{payload}/pids.max") == "30\n"
        assert int(run("lxc-cgroup", "-n", name, "memory.current").stdout) > 0
        bad = run("lxc-cgroup", "-n", name, "memory.limit_in_bytes")  # a v1 name on cgroup2
        assert bad.returncode == 1

        # the limits hold: pids.max stops the 31st task, memory.max kills what outgrows it
        # (the shell may give up at the first refused fork: count from outside)
        before = int(read(f"{payload}/pids.current"))
        run("lxc-attach", "-n", name, "--", "sh", "-c",
            "for i in $(seq 40); do sleep 60 & done 2>/dev/null")
        assert int(read(f"{payload}/pids.current")) <= 30
        assert re.search(r"^max [1-9]", read(f"{payload}/pids.events"), re.M)
        for task in read(f"{payload}/cgroup.procs").split():
            if read(f"/proc/{task}/comm").strip() == "sleep":
                os.kill(int(task), 9)
        # a killed sleep counts in pids.current until the container's init reaps it: wait
        # for that, or the hog's shell may find no pid to fork and never reach memory.max
        deadline = time.monotonic() + 30
        while int(read(f"{payload}/pids.current")) > before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert int(read(f"{payload}/pids.current")) <= before
        hog = run("lxc-attach", "-n", name, "--", "sh", "-c",  # tail keeps the one "line"
                  f"head -c {96 << 20} /dev/zero | tail > /dev/null")
        assert hog.returncode != 0, hog.stderr
        events = read(f"{payload}/memory.events")
        assert re.search(r"^oom_kill [1-9]", events, re.M), (hog.returncode, hog.stderr, events)
        assert state(run, name) == "RUNNING"  # the hog died, not the container

        # freeze and thaw through cgroup.freeze
        assert run("lxc-freeze", "-n", name).returncode == 0
        assert state(run, name) == "FROZEN"
        assert read(f"{payload}/cgroup.freeze") == "1\n"
        assert "frozen 1" in read(f"{payload}/cgroup.events")
        assert read(f"/proc/{pid}/stat").split(")")[1].split()[0] in ("S", "D")
        assert run("lxc-unfreeze", "-n", name).returncode == 0
        assert state(run, name) == "RUNNING"
        assert read(f"{payload}/cgroup.freeze") == "0\n"
        assert "frozen 0" in read(f"{payload}/cgroup.events")
        assert run("lxc-attach", "-n", name, "--", "true").returncode == 0

        stop = run("lxc-stop", "-n", name)
        assert stop.returncode == 0, stop.stderr
        assert state(run, name) == "STOPPED"
        assert not os.path.exists(f"/proc/{pid}")
        assert leftovers(name) == []
    finally:
        run("lxc-stop", "-n", name, "-k")
    assert run("lxc-destroy", "-n", name).returncode == 0
    assert not os.path.exists(world.cdir(name))


def test_cgroups_where_real_lxc_puts_them(world):
    """Started from the same place (this test runs in a systemd service's cgroup), ours and
    real LXC's payloads sit side by side, and no container process is left in the caller's
    unit, which systemd may stop at any time."""
    ours = make(world, "vm-ours")
    real = make(world, "vm-real", real=True)
    assert ours("lxc-start", "-n", "vm-ours").returncode == 0
    assert real("lxc-start", "-n", "vm-real").returncode == 0
    try:
        ours_pid = int(ours("lxc-info", "-n", "vm-ours", "-pH").stdout)
        real_pid = int(real("lxc-info", "-n", "vm-real", "-pH").stdout)
        assert cgroup_of(ours_pid).replace("vm-ours", "NAME") == \
            cgroup_of(real_pid).replace("vm-real", "NAME")
        # every process of both containers in its payload cgroup, none in our unit's
        unit = cgroup_of(os.getpid())
        for name in ("vm-ours", "vm-real"):
            procs = read(f"{CG}/lxc.payload.{name}/cgroup.procs").split()
            assert len(procs) >= 2  # init and its children
        unit_procs = set(read(f"{CG}{unit}/cgroup.procs").split())
        for name in ("vm-ours", "vm-real"):
            assert not unit_procs & set(read(f"{CG}/lxc.payload.{name}/cgroup.procs").split())
        # systemd's own view
        cgls = subprocess.run(["systemd-cgls", "--no-pager", "-l"], capture_output=True,
                              text=True).stdout
        for name, pid in (("vm-ours", ours_pid), ("vm-real", real_pid)):
            block = cgls.split(f"lxc.payload.{name}", 1)[1].split("\n", 2)[1]
            assert f"{pid} " in block, cgls
    finally:
        ours("lxc-stop", "-n", "vm-ours", "-k")
        real("lxc-stop", "-n", "vm-real", "-k")
    assert leftovers("vm-ours") == []


def test_freeze_and_cgroup_values_like_real_lxc(world):
    """lxc-cgroup's output and lxc-freeze's states, side by side with real LXC on cgroup2."""
    ours = make(world, "vm-fo")
    real = make(world, "vm-fr", real=True)
    assert ours("lxc-start", "-n", "vm-fo").returncode == 0
    assert real("lxc-start", "-n", "vm-fr").returncode == 0
    try:
        for key in ("memory.max", "pids.max", "cpu.weight", "memory.swap.max"):
            o = ours("lxc-cgroup", "-n", "vm-fo", key)
            r = real("lxc-cgroup", "-n", "vm-fr", key)
            assert (o.returncode, o.stdout) == (r.returncode, r.stdout), key
        for name, run in (("vm-fo", ours), ("vm-fr", real)):
            assert run("lxc-freeze", "-n", name).returncode == 0
            assert state(run, name) == "FROZEN"
            assert read(f"{CG}/lxc.payload.{name}/cgroup.freeze") == "1\n"
        # ours thaws the one real LXC froze (through its monitor's command socket)
        assert ours("lxc-unfreeze", "-n", "vm-fr", lxcpath=world.real_lp).returncode == 0
        assert ours("lxc-unfreeze", "-n", "vm-fo").returncode == 0
        assert state(ours, "vm-fo") == "RUNNING" and state(real, "vm-fr") == "RUNNING"
        assert read(f"{CG}/lxc.payload.vm-fr/cgroup.freeze") == "0\n"
    finally:
        ours("lxc-stop", "-n", "vm-fo", "-k")
        real("lxc-stop", "-n", "vm-fr", "-k")


@pytest.mark.parametrize("which", ["ours", "real"])
def test_common_conf_device_rules_enforced_by_a_bpf_program(world, which):
    """A container with LXC's common.conf (what every download image includes: its
    lxc.cgroup.devices.* and lxc.cgroup2.devices.* lists) starts on a cgroup2-only host, under
    ours as under real LXC, and the list holds through the BPF device program: /dev/null and
    /dev/zero work, a block device made with mknod cannot be opened."""
    name = f"vm-dev-{which}"
    config = ("lxc.net.0.type = empty\n"
              "lxc.include = /usr/share/lxc/config/common.conf\n")
    run = make(world, name, real=which == "real", config=config)
    started = run("lxc-start", "-n", name)
    try:
        assert started.returncode == 0, started.stderr
        assert state(run, name) == "RUNNING"
        ok = run("lxc-attach", "-n", name, "--", "sh", "-c",
                 "echo x > /dev/null && head -c 1 /dev/zero | wc -c")
        assert ok.returncode == 0 and ok.stdout.strip() == "1", ok.stderr
        # a BPF_CGROUP_DEVICE program on the container's cgroup, as our lxc-info finds it
        # (for real LXC's container too, through its monitor)
        shown = world.ours("lxc-info", "-n", name, "--devices",
                           lxcpath=world.real_lp if which == "real" else None)
        assert re.search(r"^Devices:\s+cgroup2 program \d+ on ", shown.stdout, re.M), shown
        assert "NOT ATTACHED" not in shown.stdout
        disk = os.stat("/dev/vda").st_rdev
        denied = run("lxc-attach", "-n", name, "--", "sh", "-c",
                     f"mknod /tmp/disk b {os.major(disk)} {os.minor(disk)} && "
                     "head -c 512 /tmp/disk > /dev/null")
        assert denied.returncode != 0, denied.stdout
        assert "Operation not permitted" in denied.stderr, denied.stderr
    finally:
        run("lxc-stop", "-n", name, "-k")
