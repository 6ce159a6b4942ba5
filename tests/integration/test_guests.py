"""Real distributions boot under our runtime: Debian 12 with systemd and with sysvinit
(debootstrapped once and cached, tests/guests.py), on this host whose PID 1 is not systemd.

The cached trees are never written: each container runs on an overlay of one."""

import os
import subprocess
import time

import pytest

import guests
from lxcenv import World, world  # noqa: F401  (fixture)

GUEST_CONFIG = """lxc.rootfs.path = overlay:{lower}:{upper}
lxc.uts.name = {name}
lxc.tty.max = 2
lxc.pty.max = 8
lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed
lxc.cap.drop = sys_module mac_admin mac_override sys_time
lxc.console.logfile = {console}
"""


# Only the includes lxctools ships (LXC_TEMPLATE_CONFIG), nothing of /usr/share/lxc.
OUR_INCLUDES_CONFIG = """lxc.include = {config}/debian.common.conf
lxc.rootfs.path = overlay:{lower}:{upper}
lxc.uts.name = {name}
lxc.console.logfile = {console}
"""


def guest_container(world, name, guest, template=GUEST_CONFIG):
    from lxctools.paths import template_config_dir

    try:
        lower = guests.rootfs(guest)
    except RuntimeError as exc:
        pytest.fail(f"the {guest} guest could not be built: {exc}")
    made = world.ours("lxc-create", "-n", name, "-t", "none")
    assert made.returncode == 0, made.stderr
    console = os.path.join(world.root, f"{name}.console")
    with open(os.path.join(world.cdir(name), "config"), "a") as handle:
        handle.write(template.format(lower=lower, name=name, console=console,
                                     config=template_config_dir(),
                                     upper=os.path.join(world.cdir(name), "overlay/delta")))
    return console


def inside(pid, *command):
    return subprocess.run(["nsenter", "-t", str(pid), "-a", *command], capture_output=True,
                          text=True, timeout=30)


def init_pid(world, name):
    return int(world.ours("lxc-info", "-n", name, "-pH").stdout)


def test_debian_systemd_boots_to_running_and_stops_cleanly(world):
    console = guest_container(world, "gst-sd", "debian-systemd")
    started = time.monotonic()
    proc = world.ours("lxc-start", "-n", "gst-sd")
    assert proc.returncode == 0, proc.stderr
    pid = init_pid(world, "gst-sd")
    state = ""
    while time.monotonic() - started < 60:
        state = inside(pid, "systemctl", "is-system-running").stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(0.1)
    failed = inside(pid, "systemctl", "--failed", "--no-legend").stdout
    assert state == "running", f"{state}; failed units:\n{failed}"
    print(f"systemd guest: lxc-start to running in {time.monotonic() - started:.2f} s")
    assert inside(pid, "systemd-detect-virt").stdout.strip() == "lxc"
    assert inside(pid, "readlink", "/proc/1/exe").stdout.strip().endswith("systemd")
    stopping = time.monotonic()
    stop = world.ours("lxc-stop", "-n", "gst-sd", "--nokill", "-t", "10")
    assert stop.returncode == 0, stop.stderr  # --nokill: it stopped by itself, no SIGKILL
    assert time.monotonic() - stopping < 10
    with open(console, errors="replace") as handle:
        text = handle.read()
    assert "Powering off." in text or "Halting system." in text


def test_debian_sysvinit_boots_to_its_runlevel_and_stops_cleanly(world):
    console = guest_container(world, "gst-sv", "debian-sysvinit")
    proc = world.ours("lxc-start", "-n", "gst-sv")
    assert proc.returncode == 0, proc.stderr
    pid = init_pid(world, "gst-sv")
    deadline = time.monotonic() + 60
    level = ""
    while time.monotonic() < deadline:
        level = inside(pid, "runlevel").stdout.strip()
        if level.endswith("2"):
            break
        time.sleep(0.2)
    assert level == "N 2"
    # sysvinit's SIGPWR runs a powerfail script Debian no longer ships: we ask over initctl.
    stop = world.ours("lxc-stop", "-n", "gst-sv", "--nokill", "-t", "30")
    assert stop.returncode == 0, stop.stderr
    with open(console, errors="replace") as handle:
        assert "Will now halt" in handle.read()


def wait_booted(pid, guest):
    deadline = time.monotonic() + 60
    state = ""
    while time.monotonic() < deadline:
        if guest == "debian-systemd":
            state = inside(pid, "systemctl", "is-system-running").stdout.strip()
            if state in ("running", "degraded"):
                break
        else:
            state = inside(pid, "runlevel").stdout.strip()
            if state == "N 2":
                break
        time.sleep(0.1)
    return state


@pytest.mark.parametrize("guest", ["debian-systemd", "debian-sysvinit"])
def test_debian_guests_boot_on_our_includes_alone(world, guest):
    name = "gst-inc-" + guest.split("-")[1][:2]
    guest_container(world, name, guest, OUR_INCLUDES_CONFIG)
    config = world.config(name)
    assert "/usr/share/lxc" not in config
    proc = world.ours("lxc-start", "-n", name)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    pid = init_pid(world, name)
    try:
        state = wait_booted(pid, guest)
        failed = inside(pid, "systemctl", "--failed", "--no-legend").stdout if "systemd" in guest else ""
        assert state == ("running" if "systemd" in guest else "N 2"), f"{state}\n{failed}"
        with open(f"/proc/{pid}/status") as handle:
            assert "\nSeccomp:\t2\n" in handle.read()  # common.seccomp
    finally:
        stop = world.ours("lxc-stop", "-n", name, "--nokill", "-t", "30")
    assert stop.returncode == 0, stop.stderr


def test_busybox_stops_cleanly_with_the_template_signals(world):
    made = world.ours("lxc-create", "-n", "gst-bb", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    assert world.ours("lxc-start", "-n", "gst-bb").returncode == 0
    stop = world.ours("lxc-stop", "-n", "gst-bb", "--nokill", "-t", "10")
    assert stop.returncode == 0, stop.stderr


def test_init_without_a_handler_is_killed_at_once_not_after_the_timeout(world):
    made = world.ours("lxc-create", "-n", "gst-sl", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    assert world.ours("lxc-start", "-n", "gst-sl", "-s", "lxc.signal.halt=SIGPWR", "--",
                      "/bin/sleep", "1000").returncode == 0
    started = time.monotonic()
    stop = world.ours("lxc-stop", "-n", "gst-sl")
    assert stop.returncode == 0
    assert "does not handle SIGPWR: killing it" in stop.stderr
    assert time.monotonic() - started < 10  # not LXC's silent 60 s
    assert world.ours("lxc-info", "-n", "gst-sl", "-sH").stdout.strip() == "STOPPED"


def test_guest_init_is_recognised(world):
    from lxctools.spawn.guestcheck import guest_init

    assert guest_init(guests.rootfs("debian-systemd"), ["/sbin/init"]) == ("systemd", 252)
    assert guest_init(guests.rootfs("debian-sysvinit"), ["/sbin/init"]) == ("sysvinit", None)
    made = world.ours("lxc-create", "-n", "gst-id", "-t", "busybox")
    assert made.returncode == 0
    rootfs = os.path.join(world.cdir("gst-id"), "rootfs")
    assert guest_init(rootfs, ["/sbin/init"])[0] == "busybox"


def test_warning_before_a_systemd_guest_that_cannot_work(world):
    guest_container(world, "gst-bad", "debian-systemd")
    with open(os.path.join(world.cdir("gst-bad"), "config"), "a") as handle:
        handle.write("lxc.cap.drop = sys_admin\nlxc.mount.auto =\nlxc.mount.auto = proc:mixed\n")
    proc = world.ours("lxc-start", "-n", "gst-bad")
    try:
        assert "warning: systemd cannot mount its cgroups" in proc.stderr
        assert "fix: add cgroup:mixed to lxc.mount.auto" in proc.stderr
    finally:
        world.ours("lxc-stop", "-n", "gst-bad", "-k")
    good = guest_container(world, "gst-good", "debian-systemd")
    del good
    with open(os.path.join(world.cdir("gst-good"), "config"), "a") as handle:
        handle.write("lxctools.unconfined = 1\n")  # the test image has no common.conf
    quiet = world.ours("lxc-start", "-n", "gst-good")
    world.ours("lxc-stop", "-n", "gst-good", "-k")
    assert "warning" not in quiet.stderr


@pytest.fixture
def lxcfs():
    """The host's lxcfs, run for the test (Debian's lxcfs package, installed with lxc)."""
    from lxctools.spawn.mounts import lxcfs_running

    if lxcfs_running():
        yield None
        return
    if not os.path.exists("/usr/bin/lxcfs") or not os.path.exists("/dev/fuse"):
        pytest.fail("lxcfs tests need /usr/bin/lxcfs (package lxcfs) and /dev/fuse")
    os.makedirs("/var/lib/lxcfs", exist_ok=True)
    daemon = subprocess.Popen(["/usr/bin/lxcfs", "/var/lib/lxcfs"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not lxcfs_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lxcfs_running(), "lxcfs did not mount /var/lib/lxcfs"
        yield daemon
    finally:
        daemon.kill()
        daemon.wait()
        subprocess.run(["umount", "-l", "/var/lib/lxcfs"], capture_output=True)


def test_lxcfs_views_and_a_dead_lxcfs_is_reported(world, lxcfs):
    made = world.ours("lxc-create", "-n", "gst-fs", "-t", "busybox")
    assert made.returncode == 0
    start = world.ours("lxc-start", "-n", "gst-fs", "-s", "lxc.cgroup.memory.limit_in_bytes=64M")
    assert start.returncode == 0, start.stderr
    pid = init_pid(world, "gst-fs")
    meminfo = inside(pid, "cat", "/proc/meminfo").stdout
    total = int(meminfo.split("MemTotal:")[1].split()[0])
    assert total == 65536, meminfo[:200]  # the container's limit, not the host's 24 GiB
    mounts = inside(pid, "cat", "/proc/mounts").stdout
    assert "lxcfs /proc/meminfo fuse.lxcfs" in mounts
    assert world.ours("lxc-info", "-n", "gst-fs").stderr == ""
    if lxcfs is not None:
        lxcfs.kill()
        lxcfs.wait()
        info = world.ours("lxc-info", "-n", "gst-fs")
        assert "lxcfs files are dead (Transport endpoint is not connected)" in info.stderr
    world.ours("lxc-stop", "-n", "gst-fs", "-k")


def test_console_and_getty_of_the_systemd_guest(world):
    import pexpect
    from conftest import ours

    console = guest_container(world, "gst-con", "debian-systemd")
    assert world.ours("lxc-start", "-n", "gst-con").returncode == 0
    try:
        pid = init_pid(world, "gst-con")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if inside(pid, "systemctl", "is-system-running").stdout.strip() in ("running",
                                                                                 "degraded"):
                break
            time.sleep(0.1)
        for tty in ("1", "0"):  # container-getty@1 (container_ttys) and console-getty
            child = pexpect.spawn(ours("lxc-console"), ["-P", world.lp, "-n", "gst-con", "-t",
                                                        tty], env=world.env, encoding="utf-8",
                                  timeout=20)
            child.expect(f"Connected to tty {tty}")
            child.send("\r")
            child.expect("login:")
            child.send("\x01q")
            child.expect(pexpect.EOF)
            child.close()
            assert child.exitstatus == 0
        assert world.ours("lxc-info", "-n", "gst-con", "-sH").stdout.strip() == "RUNNING"
        with open(console, errors="replace") as handle:
            # the console log has what the console showed while no lxc-console held it
            assert "Reached target" in handle.read()
    finally:
        world.ours("lxc-stop", "-n", "gst-con", "-k")


def cgroup_mounts(path="/proc/self/mountinfo"):
    with open(path) as handle:
        lines = [line.split(" - ") for line in handle]
    return sorted(f"{left.split()[4]} {right.strip()}" for left, right in lines
                  if right.split()[0] in ("cgroup", "cgroup2"))


def test_systemd_guest_gets_a_name_systemd_hierarchy_where_the_host_shows_none(world):
    """In a private mount namespace without the host's name=systemd mount (as on a v1 host
    whose PID 1 is not systemd), lxc-start mounts the hierarchy for the container: the guest's
    systemd sits in lxc.payload.NAME there, not at the hierarchy's root; the host's own mount
    table is untouched."""
    from conftest import ours
    from lxctools.cgroups import systemd_v1

    name = "gst-nosd"
    guest_container(world, name, "debian-systemd", OUR_INCLUDES_CONFIG)
    before = cgroup_mounts()
    made_dirs = [d for d in (os.path.dirname(systemd_v1.mount_dir()), systemd_v1.mount_dir())
                 if not os.path.exists(d)]
    script = ("umount /sys/fs/cgroup/systemd 2>/dev/null; "
              "grep -q name=systemd /proc/self/mountinfo && exit 99; "
              f"exec {ours('lxc-start')} -P {world.lp} -n {name}")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], env=world.env,
                          capture_output=True, text=True, timeout=60)
    try:
        assert proc.returncode == 0, proc.stderr
        assert "warning" not in proc.stderr
        pid = init_pid(world, name)
        state = wait_booted(pid, "debian-systemd")
        assert state == "running", inside(pid, "systemctl", "--failed", "--no-legend").stdout
        with open(f"/proc/{pid}/cgroup") as handle:
            own = [line.strip().split(":", 2)[2] for line in handle if ":name=systemd:" in line]
        assert own == [f"/lxc.payload.{name}/init.scope"]
        with open(f"/proc/{pid}/status") as handle:
            supervisor = [line.split()[1] for line in handle if line.startswith("PPid:")][0]
        theirs = cgroup_mounts(f"/proc/{supervisor}/mountinfo")
        assert [m for m in theirs if "name=systemd" in m] == [
            m for m in theirs if m.startswith(systemd_v1.mount_dir() + " cgroup ")], theirs
        assert len([m for m in theirs if "name=systemd" in m]) == 1, theirs
        assert cgroup_mounts() == before  # the host's own table: nothing added or removed
    finally:
        stop = world.ours("lxc-stop", "-n", name, "--nokill", "-t", "10")
        for directory in reversed(made_dirs):
            try:
                os.rmdir(directory)
            except OSError:
                pass
    assert stop.returncode == 0, stop.stderr
    assert cgroup_mounts() == before
    if os.path.exists("/sys/fs/cgroup/systemd/cgroup.procs"):
        assert not os.path.exists(f"/sys/fs/cgroup/systemd/lxc.payload.{name}")


def test_journal_linked_to_the_host_and_to_the_guest(world):
    """lxctools.journal.link (systemd-nspawn's --link-journal): host keeps the guest's journal
    files in JOURNAL_ROOT/MACHINE-ID on the host (bound in; they outlive the container), guest
    leaves them in the rootfs with a symlink on the host. A test-made root stands for the
    host's /var/log/journal."""
    import shutil

    name = "gst-jnl"
    guest_container(world, name, "debian-systemd", OUR_INCLUDES_CONFIG)
    journals = os.path.join(world.root, "host-journal")
    world.env = dict(world.env, LXCTOOLS_JOURNAL_ROOT=journals)
    with open(os.path.join(world.cdir(name), "config"), "a") as handle:
        handle.write("lxctools.journal.link = host\n")
    proc = world.ours("lxc-start", "-n", name)
    assert proc.returncode == 0, proc.stderr
    try:
        pid = init_pid(world, name)
        assert wait_booted(pid, "debian-systemd") == "running"
        ident = inside(pid, "cat", "/etc/machine-id").stdout.strip()
        assert len(ident) == 32
        host_dir = os.path.join(journals, ident)
        assert "system.journal" in os.listdir(host_dir)
        assert inside(pid, "journalctl", "--flush").returncode == 0
        with open("/proc/self/mountinfo") as handle:
            assert journals not in handle.read()  # bound in the container's namespace only
        if shutil.which("journalctl"):
            read = subprocess.run(["journalctl", "-D", host_dir, "--no-pager", "-q"],
                                  capture_output=True, text=True, timeout=30)
            assert "Startup finished" in read.stdout, read.stdout[-2000:] + read.stderr
    finally:
        stop = world.ours("lxc-stop", "-n", name, "--nokill", "-t", "10")
    assert stop.returncode == 0, stop.stderr
    assert "system.journal" in os.listdir(host_dir)  # outlives the container

    # guest: refused while the host holds a real directory there, then a symlink
    refused = world.ours("lxc-start", "-n", name, "-s", "lxctools.journal.link=guest")
    assert refused.returncode != 0
    assert "exists on the host and is not a link to the guest's journal" in refused.stderr
    shutil.rmtree(host_dir)
    proc = world.ours("lxc-start", "-n", name, "-s", "lxctools.journal.link=guest")
    assert proc.returncode == 0, proc.stderr
    try:
        pid = init_pid(world, name)
        assert wait_booted(pid, "debian-systemd") == "running"
        upper = os.path.join(world.cdir(name), "overlay/delta")
        assert os.readlink(host_dir) == os.path.join(upper, "var/log/journal", ident)
        assert "system.journal" in os.listdir(host_dir)
    finally:
        stop = world.ours("lxc-stop", "-n", name, "--nokill", "-t", "10")
    assert stop.returncode == 0, stop.stderr
