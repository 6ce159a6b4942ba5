"""Our systemd units run for real under systemd, in the VM: lxc.service starts the autostart
containers (groups, lxc.start.order, lxc.start.delay), brings them back after a reboot and
stops them cleanly at shutdown and on `systemctl stop`; lxc@NAME.service starts, restarts and
stops one container, side by side with Debian's lxc@.service running real LXC; a container
started from a unit that then ends outlives it (systemd kills what is left in a finished
unit: neither the container nor what serves it may be there)."""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO, ours, real_lxc
from lxcenv import SANE_PATH
from vmtier import STATE, halted_cleanly, note_clean_halts, request_reboot

LP = "/var/lib/lxc"  # the units pass no -P: the host's lxcpath, shared with Debian's lxc
CG = "/sys/fs/cgroup"
AUTOSTART = {  # name: extra config; started by lxc.service: onboot group, then by order
    "vm-as-boot": "lxc.start.auto = 1\nlxc.group = onboot\n",
    "vm-as-early": "lxc.start.auto = 1\nlxc.start.order = 10\nlxc.start.delay = 3\n",
    "vm-as-late": "lxc.start.auto = 1\nlxc.start.order = 20\n",
    "vm-as-manual": "lxc.start.order = 5\n",
}


def systemctl(*args, check=True):
    proc = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, f"systemctl {' '.join(args)}: {proc.stderr}"
    return proc


def tool(name, *args, timeout=120):
    return subprocess.run([ours(name), "-P", LP, *args], capture_output=True, text=True,
                          timeout=timeout)


def state(name):
    return tool("lxc-info", "-n", name, "-sH").stdout.strip()


def init_pid(name):
    return int(tool("lxc-info", "-n", name, "-pH").stdout)


def started_ticks(pid):
    """When PID started, in clock ticks since boot (/proc/PID/stat field 22)."""
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[19])


def create(name, extra=""):
    conf = f"/tmp/{name}.conf"
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\n" + extra)
    made = tool("lxc-create", "-n", name, "-t", "busybox", "-f", conf)
    assert made.returncode == 0, made.stderr
    note_clean_halts(f"{LP}/{name}/rootfs")


def destroy(name):
    tool("lxc-stop", "-n", name, "-k")
    tool("lxc-destroy", "-n", name)


def wait_state(name, wanted, timeout=60):
    return tool("lxc-wait", "-n", name, "-s", wanted, "-t", str(timeout),
                timeout=timeout + 10).returncode == 0


@pytest.fixture(scope="module")
def units():
    """Our units installed as tools/install-etc.py installs them (over Debian's lxc ones)."""
    got = subprocess.run([sys.executable, os.path.join(REPO, "tools/install-etc.py"), "--init",
                          "systemd", "--no-completion"], capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    with open("/etc/systemd/system/lxc.service") as handle:
        assert "ExecStart=/usr/libexec/lxctools/lxc-containers start" in handle.read()
    with open("/usr/libexec/lxctools/lxc-containers") as handle:  # reads /etc/default/lxc
        assert f'bindir="{os.path.dirname(sys.executable)}"' in handle.read()
    systemctl("daemon-reload")


def test_lxc_service_starts_the_autostart_containers(units):
    for name, extra in AUTOSTART.items():
        create(name, extra)
    # Debian's lxc.service (same name) already ran at this boot: `enable --now` would find the
    # unit active and start nothing; a restart runs ours (the next boot would too)
    systemctl("enable", "lxc.service")
    systemctl("restart", "lxc.service")
    assert systemctl("is-active", "lxc.service").stdout.strip() == "active"
    assert [state(n) for n in AUTOSTART] == ["RUNNING", "RUNNING", "RUNNING", "STOPPED"]
    # the onboot group first, then the ungrouped by lxc.start.order; early's delay before late
    ticks = {n: started_ticks(init_pid(n)) for n in ("vm-as-boot", "vm-as-early", "vm-as-late")}
    assert ticks["vm-as-boot"] <= ticks["vm-as-early"] <= ticks["vm-as-late"]
    hz = os.sysconf("SC_CLK_TCK")
    assert ticks["vm-as-late"] - ticks["vm-as-early"] >= 3 * hz  # lxc.start.delay = 3
    # the containers' cgroups where LXC puts root's, not in the unit (systemd-cgls agrees)
    for name in ("vm-as-boot", "vm-as-early", "vm-as-late"):
        with open(f"/proc/{init_pid(name)}/cgroup") as handle:
            assert handle.read() == f"0::/lxc.payload.{name}\n"
    # the next boot reads the journal of this one: how the shutdown went
    os.makedirs("/etc/systemd/journald.conf.d", exist_ok=True)
    with open("/etc/systemd/journald.conf.d/zz-vm-tests.conf", "w") as handle:
        handle.write("[Journal]\nStorage=persistent\n")
    os.makedirs("/var/log/journal", exist_ok=True)
    systemctl("restart", "systemd-journald")
    subprocess.run(["journalctl", "--flush"], check=True)  # from /run to /var/log/journal
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "units.json"), "w") as handle:
        json.dump({"boot_id": open("/proc/sys/kernel/random/boot_id").read().strip()}, handle)
    request_reboot()


@pytest.mark.after_reboot
def test_lxc_service_brings_them_back_after_a_reboot_and_stops_them():
    with open(os.path.join(STATE, "units.json")) as handle:
        before = json.load(handle)
    assert open("/proc/sys/kernel/random/boot_id").read().strip() != before["boot_id"]
    try:
        assert systemctl("is-active", "lxc.service").stdout.strip() == "active"
        assert [state(n) for n in AUTOSTART] == ["RUNNING", "RUNNING", "RUNNING", "STOPPED"]
        # the shutdown before this boot: lxc.service stopped every container itself, cleanly,
        # before systemd's timeout (no "timed out", no killing of what was left in the unit)
        journal = subprocess.run(["journalctl", "-b", "-1", "-u", "lxc.service", "-o", "cat",
                                  "--no-pager"], capture_output=True, text=True).stdout
        assert "Stopping lxc.service" in journal, journal
        assert "Stopped lxc.service" in journal, journal
        for trouble in ("timed out", "Killing process", "Failed with result"):
            assert trouble not in journal, journal
        for name in ("vm-as-boot", "vm-as-early", "vm-as-late"):
            assert halted_cleanly(f"{LP}/{name}/rootfs"), name  # halted, not killed
        # systemctl stop: every container halted, the unit stopped without failure
        for name in AUTOSTART:
            note_clean_halts(f"{LP}/{name}/rootfs")
        systemctl("stop", "lxc.service")
        assert all(halted_cleanly(f"{LP}/{n}/rootfs") for n in AUTOSTART if n != "vm-as-manual")
        assert [state(n) for n in AUTOSTART] == ["STOPPED"] * 4
        assert systemctl("show", "-p", "Result", "lxc.service").stdout.strip() == "Result=success"
        assert not [d for d in os.listdir(CG) if d.startswith("lxc.payload.vm-as-")]
    finally:
        systemctl("disable", "--now", "lxc.service", check=False)
        for name in AUTOSTART:
            destroy(name)


def test_lxc_at_unit_starts_restarts_and_stops_one_container(units):
    create("vm-unit")
    try:
        systemctl("start", "lxc@vm-unit.service")
        assert wait_state("vm-unit", "RUNNING")
        assert systemctl("is-active", "lxc@vm-unit.service").stdout.strip() == "active"
        first = init_pid("vm-unit")
        systemctl("restart", "lxc@vm-unit.service")
        assert wait_state("vm-unit", "RUNNING")
        assert init_pid("vm-unit") != first
        assert tool("lxc-attach", "-n", "vm-unit", "--", "true").returncode == 0
        systemctl("stop", "lxc@vm-unit.service")
        assert state("vm-unit") == "STOPPED"
        show = systemctl("show", "-p", "ActiveState", "-p", "Result", "lxc@vm-unit.service").stdout
        assert "ActiveState=inactive" in show and "Result=success" in show, show
        # a halt from inside ends the unit too (it lives as long as the container)
        systemctl("start", "lxc@vm-unit.service")
        assert wait_state("vm-unit", "RUNNING")
        tool("lxc-attach", "-n", "vm-unit", "--", "poweroff")
        assert wait_state("vm-unit", "STOPPED")
        deadline = time.monotonic() + 60
        while systemctl("is-active", "lxc@vm-unit.service", check=False).stdout.strip() != \
                "inactive":
            assert time.monotonic() < deadline, systemctl("status", "lxc@vm-unit.service",
                                                          check=False).stdout
            time.sleep(0.5)
    finally:
        systemctl("stop", "lxc@vm-unit.service", check=False)
        destroy("vm-unit")


def test_debian_lxc_at_unit_runs_real_lxc_side_by_side(units):
    """Debian's own lxc@.service (real LXC) beside ours: the same config under both, their
    payloads side by side."""
    with open("/lib/systemd/system/lxc@.service") as handle:
        # without Wants=lxc.service: that name is our autostart unit now
        text = "".join(x for x in handle if not x.startswith("Wants="))
    with open("/etc/systemd/system/lxc-real@.service", "w") as handle:
        handle.write(text)
    systemctl("daemon-reload")
    create("vm-side-o")
    made = subprocess.run([real_lxc("lxc-create"), "-P", LP, "-n", "vm-side-r", "-t", "busybox",
                           "-f", "/tmp/vm-side-o.conf"], capture_output=True, text=True,
                          env={"PATH": SANE_PATH, "LANG": "C"})
    assert made.returncode == 0, made.stderr
    try:
        systemctl("start", "lxc@vm-side-o.service", "lxc-real@vm-side-r.service")
        assert wait_state("vm-side-o", "RUNNING") and wait_state("vm-side-r", "RUNNING")
        for name in ("vm-side-o", "vm-side-r"):
            with open(f"/proc/{init_pid(name)}/cgroup") as handle:
                assert handle.read() == f"0::/lxc.payload.{name}\n"
        systemctl("stop", "lxc@vm-side-o.service", "lxc-real@vm-side-r.service")
        assert state("vm-side-o") == "STOPPED" and state("vm-side-r") == "STOPPED"
    finally:
        systemctl("stop", "lxc@vm-side-o.service", "lxc-real@vm-side-r.service", check=False)
        destroy("vm-side-o")
        subprocess.run([real_lxc("lxc-destroy"), "-P", LP, "-n", "vm-side-r", "-f"],
                       capture_output=True)
        os.unlink("/etc/systemd/system/lxc-real@.service")
        systemctl("daemon-reload")


@pytest.mark.parametrize("which", ["ours", "real"])
def test_a_container_outlives_the_unit_that_started_it(units, which):
    """`lxc-start -d` from a oneshot unit: when the unit ends, systemd kills whatever is left
    in its cgroup. The container, and what serves it (LXC's monitor, our supervisor), must not
    be there: lxc-attach and a clean lxc-stop work afterwards."""
    name = f"vm-out-{which}"
    create(name)
    start = ours("lxc-start") if which == "ours" else real_lxc("lxc-start")
    pidfile = f"/tmp/{name}.pid"  # LXC's and our lxc-start -p: the monitor's/supervisor's pid
    try:
        ran = subprocess.run(["systemd-run", "--wait", "--collect", "-q", "-p", "Type=oneshot",
                              f"--unit=vm-starter-{which}", start, "-P", LP, "-n", name, "-p",
                              pidfile], capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
        with open(pidfile) as handle:
            server = int(handle.read())
        assert os.path.exists(f"/proc/{server}"), "the unit's end killed the monitor"
        assert state(name) == "RUNNING"
        pid = init_pid(name)
        with open(f"/proc/{pid}/cgroup") as handle:
            assert handle.read() == f"0::/lxc.payload.{name}\n"
        attached = tool("lxc-attach", "-n", name, "--", "echo", "alive")
        assert attached.stdout == "alive\n", attached.stderr
        stopped = tool("lxc-stop", "-n", name)
        assert stopped.returncode == 0, stopped.stderr
        assert state(name) == "STOPPED"
    finally:
        destroy(name)
