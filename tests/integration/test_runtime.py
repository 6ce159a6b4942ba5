"""lxc-start / lxc-stop / lxc-wait / lxc-execute / lxc-console on real busybox containers,
side by side with real LXC where their behaviour is the specification."""

import os
import signal
import subprocess
import time

import pytest

from lxcenv import World, busybox, world  # noqa: F401  (fixture)


def init_pid(world, name):
    proc = world.ours("lxc-info", "-n", name, "-pH")
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


def inside(pid, *command):
    """Run COMMAND in the container's namespaces (nsenter: independent of our lxc-attach)."""
    return subprocess.run(["nsenter", "-t", str(pid), "-a", *command], capture_output=True,
                          text=True, timeout=30)


def mounts_seen(pid):
    """(fstype, mount point, ro/rw) of every mount inside, sorted."""
    rows = set()
    with open(f"/proc/{pid}/mounts") as handle:
        for line in handle:
            source, target, fstype, options = line.split()[:4]
            rows.add((fstype, target, options.split(",")[0]))
    return sorted(rows)


def test_start_info_stop_cycle(world):
    busybox(world, "rt-a")
    proc = world.ours("lxc-start", "-n", "rt-a")
    assert proc.returncode == 0, proc.stderr
    info = world.ours("lxc-info", "-n", "rt-a")
    assert "State:          RUNNING" in info.stdout
    pid = init_pid(world, "rt-a")
    assert inside(pid, "hostname").stdout.strip() == "rt-a"
    environ = inside(pid, "cat", "/proc/1/environ").stdout.split("\0")
    # LXC gives exactly container=lxc; systemd's Container Interface also wants these two
    assert environ[0] == "container=lxc" and environ[1].startswith("container_uuid=")
    assert environ[2] == "container_ttys=pts/1 pts/2 pts/3 pts/4 pts/5" and environ[3:] == [""]
    # busybox's init starts the getty once rcS is done (syslogd, mount -a, a udhcpc that
    # finds no NIC): a start returns when init has exec'd, before that (CI once read ps
    # while rcS still ran)
    deadline = time.monotonic() + 20
    ps = inside(pid, "ps").stdout
    while not ("/bin/syslogd" in ps and "getty" in ps) and time.monotonic() < deadline:
        time.sleep(0.05)
        ps = inside(pid, "ps").stdout
    assert "/bin/syslogd" in ps and "getty" in ps, ps
    listed = world.ours("lxc-ls", "-f")
    assert "rt-a RUNNING" in listed.stdout.replace("  ", " ")
    assert world.ours("lxc-ls", "--running").stdout.split() == ["rt-a"]
    again = world.ours("lxc-start", "-n", "rt-a")
    assert again.returncode == 0 and "Container is already running" in again.stderr
    stop = world.ours("lxc-stop", "-n", "rt-a")
    assert stop.returncode == 0, stop.stderr
    assert not os.path.exists(f"/proc/{pid}")
    assert "State:          STOPPED" in world.ours("lxc-info", "-n", "rt-a").stdout
    twice = world.ours("lxc-stop", "-n", "rt-a")
    assert twice.returncode == 2 and twice.stderr.strip() == "lxc-stop: rt-a is not running"


def test_container_view_matches_real_lxc(world):
    """Same mounts, /dev, hostname, namespaces as real LXC's container from the same template."""
    busybox(world, "rt-v")
    made = world.real("lxc-create", "-n", "rt-v", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    assert world.ours("lxc-start", "-n", "rt-v").returncode == 0
    assert world.real("lxc-start", "-n", "rt-v").returncode == 0
    ours_pid = init_pid(world, "rt-v")
    real_pid = int(world.real("lxc-info", "-n", "rt-v", "-pH").stdout)
    try:
        ours_mounts = [m for m in mounts_seen(ours_pid)]
        # real LXC also mounts proc and sys under /dev/.lxc for its own use
        real_mounts = [m for m in mounts_seen(real_pid) if not m[1].startswith("/dev/.lxc/")]
        assert ours_mounts == real_mounts, (ours_mounts, real_mounts)
        # the same /dev once both boots have settled: the busybox's syslogd makes /dev/log
        # when it starts, in whichever container's boot gets there first
        for _ in range(50):
            real_dev = inside(real_pid, "ls", "-a", "/dev").stdout.split()
            ours_dev = inside(ours_pid, "ls", "-a", "/dev").stdout.split()
            if ours_dev == [d for d in real_dev if d != ".lxc"]:
                break
            time.sleep(0.2)
        assert ours_dev == [d for d in real_dev if d != ".lxc"]
        ours_id = inside(ours_pid, "cat", "/proc/sys/kernel/random/boot_id").stdout
        with open("/proc/sys/kernel/random/boot_id") as handle:
            assert ours_id != handle.read() and len(ours_id.strip()) == 36
        for ns in ("cgroup", "ipc", "mnt", "net", "pid", "uts", "user", "time"):
            ours_own = os.readlink(f"/proc/{ours_pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
            real_own = os.readlink(f"/proc/{real_pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
            assert ours_own == real_own, ns
        assert inside(ours_pid, "ip", "-o", "link").stdout.split()[1] == "lo:"
    finally:
        world.real("lxc-stop", "-n", "rt-v", "-k")
        world.ours("lxc-stop", "-n", "rt-v", "-k")


def test_stop_falls_back_to_kill_and_options(world):
    busybox(world, "rt-s")
    # an init that ignores the halt signal (sleep as PID 1 gets no default handlers)
    assert world.ours("lxc-start", "-n", "rt-s", "--", "/bin/sleep", "1000").returncode == 0
    started = time.monotonic()
    nowait = world.ours("lxc-stop", "-n", "rt-s", "-W")
    assert nowait.returncode == 0 and time.monotonic() - started < 5
    assert world.ours("lxc-info", "-n", "rt-s", "-sH").stdout.strip() == "RUNNING"
    nokill = world.ours("lxc-stop", "-n", "rt-s", "-t", "1", "--nokill")
    assert nokill.returncode == 1
    assert world.ours("lxc-info", "-n", "rt-s", "-sH").stdout.strip() == "RUNNING"
    fallback = world.ours("lxc-stop", "-n", "rt-s", "-t", "1")
    assert fallback.returncode == 0, fallback.stderr
    assert world.ours("lxc-info", "-n", "rt-s", "-sH").stdout.strip() == "STOPPED"
    assert world.ours("lxc-start", "-n", "rt-s").returncode == 0
    kill = world.ours("lxc-stop", "-n", "rt-s", "-k")
    assert kill.returncode == 0
    assert world.ours("lxc-info", "-n", "rt-s", "-sH").stdout.strip() == "STOPPED"


@pytest.mark.parametrize("args, message", [
    (["-k", "--nokill"], "-k can't be used with --nokill"),
    (["-k", "-r"], "-k can't be used with -r"),
    (["-k", "-t", "5"], "-k doesn't allow timeouts"),
    (["--nolock"], "--nolock may only be used with -k"),
])
def test_stop_option_errors(world, args, message):
    proc = world.ours("lxc-stop", "-n", "rt-x", *args)
    assert proc.returncode == 1 and message in proc.stderr


def test_wait_states(world):
    busybox(world, "rt-w")
    assert world.ours("lxc-wait", "-n", "rt-w", "-s", "STOPPED", "-t", "1").returncode == 0
    assert world.ours("lxc-wait", "-n", "rt-w", "-s", "RUNNING", "-t", "1").returncode == 1
    assert world.ours("lxc-start", "-n", "rt-w").returncode == 0
    assert world.ours("lxc-wait", "-n", "rt-w", "-s", "RUNNING|FROZEN", "-t", "5").returncode == 0
    assert world.ours("lxc-wait", "-n", "rt-w", "-s", "STOPPED", "-t", "1").returncode == 1
    waiter = subprocess.Popen([__import__("conftest").ours("lxc-wait"), "-P", world.lp, "-n",
                               "rt-w", "-s", "STOPPED", "-t", "30"], env=world.env)
    time.sleep(0.3)
    assert world.ours("lxc-stop", "-n", "rt-w", "-k").returncode == 0
    assert waiter.wait(timeout=30) == 0
    bad = world.ours("lxc-wait", "-n", "rt-w", "-s", "running")
    assert bad.returncode == 1 and "invalid state" in bad.stderr


def test_execute_exit_codes_and_stdio(world):
    busybox(world, "rt-e")
    ok = world.ours("lxc-execute", "-n", "rt-e", "--", "sh", "-c", "echo ok; hostname; exit 3")
    assert ok.returncode == 3 and ok.stdout.split() == ["ok", "rt-e"], ok.stderr
    piped = world.ours("lxc-execute", "-n", "rt-e", "--", "cat", input="through stdin\n")
    assert piped.returncode == 0 and piped.stdout == "through stdin\n"
    pid1 = world.ours("lxc-execute", "-n", "rt-e", "--", "sh", "-c", "echo $$; ps -o pid,comm")
    assert pid1.stdout.split()[0] == "2"  # our init is PID 1, the command PID 2
    missing = world.ours("lxc-execute", "-n", "rt-e", "--", "/nonexistent")
    assert missing.returncode != 0 and 'Failed to exec "/nonexistent"' in missing.stderr
    assert world.ours("lxc-info", "-n", "rt-e", "-sH").stdout.strip() == "STOPPED"
    nocmd = world.ours("lxc-execute", "-n", "rt-e")
    assert nocmd.returncode == 1 and "Missing command to execute!" in nocmd.stderr


def test_foreground_without_a_terminal_shows_output(world):
    busybox(world, "rt-f")
    proc = world.ours("lxc-start", "-n", "rt-f", "-F", "--", "/bin/echo", "hi")
    # LXC loses this output when stdout is not a tty; we pass stdio through.
    assert proc.returncode == 0 and proc.stdout == "hi\n"


def test_failures_are_clear_and_leave_nothing(world):
    missing = world.ours("lxc-start", "-n", "rt-none")
    assert missing.returncode == 1 and "No container config specified" in missing.stderr
    busybox(world, "rt-bad", "lxc.mount.entry = /nonexistent-src mnt none bind 0 0\n")
    bad = world.ours("lxc-start", "-n", "rt-bad")
    assert bad.returncode == 1
    assert "lxc.mount.entry: source /nonexistent-src does not exist" in bad.stderr
    assert "hint:" in bad.stderr
    assert world.ours("lxc-info", "-n", "rt-bad", "-sH").stdout.strip() == "STOPPED"
    left = subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "2", "-name", "*rt-bad*"],
                          capture_output=True, text=True).stdout
    assert left == ""
    noexec = world.ours("lxc-start", "-n", "rt-bad", "-s", "lxc.mount.entry=", "--", "/nope")
    assert noexec.returncode == 1 and "/nope: not found in the container's rootfs" in noexec.stderr
    define = world.ours("lxc-start", "-n", "rt-bad", "-s", "nonsense")
    assert define.returncode == 1 and "expected lxc.KEY=VALUE" in define.stderr


def test_pidfile_hooks_and_reboot(world):
    log = os.path.join(world.root, "hooks.log")
    hook = os.path.join(world.root, "hook.sh")
    with open(hook, "w") as handle:
        handle.write(f'#!/bin/sh\necho "$3 $LXC_NAME ${{LXC_TARGET:-}}" >> {log}\n')
    os.chmod(hook, 0o755)
    busybox(world, "rt-h", "".join(f"lxc.hook.{h} = {hook}\n"
                                   for h in ("pre-start", "start-host", "stop", "post-stop")))
    pidfile = os.path.join(world.root, "rt-h.pid")
    assert world.ours("lxc-start", "-n", "rt-h", "-p", pidfile).returncode == 0
    with open(pidfile) as handle:
        supervisor = int(handle.read())
    assert os.path.exists(f"/proc/{supervisor}")
    first = init_pid(world, "rt-h")
    reboot = world.ours("lxc-stop", "-n", "rt-h", "-r", "-t", "20")
    assert reboot.returncode == 0, reboot.stderr
    assert world.ours("lxc-info", "-n", "rt-h", "-sH").stdout.strip() == "RUNNING"
    assert init_pid(world, "rt-h") != first
    assert world.ours("lxc-stop", "-n", "rt-h", "-k").returncode == 0
    # lxc-stop -k returns once the kill is sent (as LXC's); the supervisor then cleans up
    assert world.ours("lxc-wait", "-n", "rt-h", "-s", "STOPPED", "-t", "10").returncode == 0
    deadline = time.monotonic() + 10
    while os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(pidfile)
    # post-stop hooks run after STOPPED is announced (as LXC's): give the last one a moment
    deadline = time.monotonic() + 10
    while True:
        with open(log) as handle:
            lines = [line.rstrip() for line in handle]
        if len(lines) >= 8 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lines == ["pre-start rt-h", "start-host rt-h", "stop rt-h reboot",
                     "post-stop rt-h reboot", "pre-start rt-h", "start-host rt-h",
                     "stop rt-h stop", "post-stop rt-h stop"]


def test_mount_entry_cannot_escape_through_a_symlink(world, tmp_path):
    host_dir = tmp_path / "host-target"
    host_dir.mkdir()
    (host_dir / "precious").write_text("host file\n")
    source = tmp_path / "share"
    source.mkdir()
    (source / "shared").write_text("from the host\n")
    busybox(world, "rt-m", f"lxc.mount.entry = {source} mnt/share none bind,create=dir 0 0\n"
                           f"lxc.mount.entry = {source} evil none bind,create=dir 0 0\n")
    os.symlink(str(host_dir), os.path.join(world.cdir("rt-m"), "rootfs/evil"))
    # the target is a link (to a host path): refused as LXC's safe_mount does, naming it
    start = world.ours("lxc-start", "-n", "rt-m")
    assert start.returncode == 1
    assert "/evil in the rootfs is a symlink" in start.stderr, start.stderr
    assert os.listdir(host_dir) == ["precious"]
    world.ours("lxc-stop", "-n", "rt-m", "-k")
    # without the link the same container starts and the other entry is there
    os.unlink(os.path.join(world.cdir("rt-m"), "rootfs/evil"))
    assert world.ours("lxc-start", "-n", "rt-m").returncode == 0
    pid = init_pid(world, "rt-m")
    assert inside(pid, "cat", "/mnt/share/shared").stdout == "from the host\n"
    assert os.listdir(host_dir) == ["precious"]
    assert world.ours("lxc-stop", "-n", "rt-m", "-k").returncode == 0


def test_ephemeral_container_is_removed_after_stop(world):
    busybox(world, "rt-eph", "lxc.ephemeral = 1\n")
    assert world.ours("lxc-start", "-n", "rt-eph").returncode == 0
    assert world.ours("lxc-stop", "-n", "rt-eph", "-k").returncode == 0
    deadline = time.monotonic() + 10
    while os.path.exists(world.cdir("rt-eph")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(world.cdir("rt-eph"))


def test_console(world):
    import pexpect
    from conftest import ours

    busybox(world, "rt-c")
    stopped = world.ours("lxc-console", "-n", "rt-c", "-t", "0")
    assert stopped.returncode == 1
    assert world.ours("lxc-start", "-n", "rt-c").returncode == 0
    child = pexpect.spawn(ours("lxc-console"), ["-P", world.lp, "-n", "rt-c", "-t", "0"],
                          env=world.env, encoding="utf-8", timeout=20)
    child.expect("Connected to tty 0")
    child.expect("Type <Ctrl\\+a q> to exit the console")
    child.send("\r")
    child.expect("# ")
    child.sendline("echo HELLO-$((6*7)); tty")
    child.expect("HELLO-42")
    child.expect("/dev/console")
    child.send("\x01q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    tty1 = pexpect.spawn(ours("lxc-console"), ["-P", world.lp, "-n", "rt-c"], env=world.env,
                         encoding="utf-8", timeout=20)
    tty1.expect("Connected to tty 1")
    tty1.send("\r")
    tty1.expect("login:")
    # a second client gets the next free tty
    tty2 = pexpect.spawn(ours("lxc-console"), ["-P", world.lp, "-n", "rt-c"], env=world.env,
                         encoding="utf-8", timeout=20)
    tty2.expect("Connected to tty 2")
    tty2.send("\x01q")
    tty2.expect(pexpect.EOF)
    tty1.send("\x01q")
    tty1.expect(pexpect.EOF)
    busy = pexpect.spawn(ours("lxc-console"), ["-P", world.lp, "-n", "rt-c", "-t", "3"],
                         env=world.env, encoding="utf-8", timeout=20)
    busy.expect("Connected to tty 3")
    refused = world.ours("lxc-console", "-n", "rt-c", "-t", "3")
    assert refused.returncode == 1  # (not a terminal either; with one: "tty 3 is in use")
    second = pexpect.spawn(ours("lxc-console"), ["-P", world.lp, "-n", "rt-c", "-t", "3"],
                           env=world.env, encoding="utf-8", timeout=20)
    second.expect("tty 3 is in use by another lxc-console")
    second.expect(pexpect.EOF)
    second.close()
    assert second.exitstatus == 1
    busy.send("\x01q")
    busy.expect(pexpect.EOF)
    nosuch = pexpect.spawn(ours("lxc-console"), ["-P", world.lp, "-n", "rt-c", "-t", "9"],
                           env=world.env, encoding="utf-8", timeout=20)
    nosuch.expect("tty 9 does not exist")
    nosuch.expect(pexpect.EOF)
    nosuch.close()
    assert nosuch.exitstatus == 1
    assert world.ours("lxc-stop", "-n", "rt-c", "-k").returncode == 0


def test_one_supervisor_for_many_containers_and_surviving_its_crash(world):
    """Background containers of an lxcpath share one supervisor; killing it with SIGKILL
    leaves them running, lxc-info keeps telling the truth and lxc-stop -k still cleans up."""
    names = [f"rt-d{i}" for i in range(3)]
    for name in names:
        busybox(world, name)
        assert world.ours("lxc-start", "-n", name).returncode == 0
    supervisors = {world_info_monitor(world, n) for n in names}
    assert len(supervisors) == 1
    supervisor = supervisors.pop()
    pids = [init_pid(world, n) for n in names]
    os.kill(supervisor, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{supervisor}") and time.monotonic() < deadline:
        time.sleep(0.05)
    for name, pid in zip(names, pids):
        assert os.path.exists(f"/proc/{pid}")
        info = world.ours("lxc-info", "-n", name)
        assert "State:          RUNNING" in info.stdout, info.stderr
        assert f"PID:            {pid}" in info.stdout
    assert world_info_monitor(world, names[0]) != supervisor  # adopted by a new one
    for name, pid in zip(names, pids):
        assert world.ours("lxc-stop", "-n", name, "-k").returncode == 0
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}")
    assert world.ours("lxc-ls", "--running").stdout.split() == []


def world_info_monitor(world, name):
    from lxctools.monitor.commands import request
    return request(world.lp, name, "info")["monitor_pid"]


def test_init_is_checked_before_anything_is_cloned(world):
    busybox(world, "rt-p")
    missing = world.ours("lxc-start", "-n", "rt-p", "--", "/sbin/nosuch-init")
    assert missing.returncode == 1
    assert "/sbin/nosuch-init: not found in the container's rootfs" in missing.stderr
    assert "hint:" in missing.stderr
    rootfs = os.path.join(world.cdir("rt-p"), "rootfs")
    with open(os.path.join(rootfs, "bin/noexec"), "w") as handle:
        handle.write("#!/bin/sh\n")
    notexec = world.ours("lxc-start", "-n", "rt-p", "--", "/bin/noexec")
    assert notexec.returncode == 1 and "not executable" in notexec.stderr
    # an ELF header for another architecture (aarch64 on x86_64, x86_64 elsewhere)
    import platform
    machine = 183 if platform.machine() == "x86_64" else 62
    with open(os.path.join(rootfs, "sbin/foreign-init"), "wb") as handle:
        handle.write(b"\x7fELF\x02\x01\x01" + b"\0" * 9 + (2).to_bytes(2, "little")
                     + machine.to_bytes(2, "little") + b"\0" * 44)
    os.chmod(os.path.join(rootfs, "sbin/foreign-init"), 0o755)
    foreign = world.ours("lxc-start", "-n", "rt-p", "--", "/sbin/foreign-init")
    assert foreign.returncode == 1 and "is built for" in foreign.stderr, foreign.stderr
    assert world.ours("lxc-info", "-n", "rt-p", "-sH").stdout.strip() == "STOPPED"
    unknown = os.path.join(world.root, "bad.conf")
    with open(unknown, "w") as handle:
        handle.write("lxc.net.0.type = empty\nlxc.net.0.lnk = br0\n")
    bad = world.ours("lxc-start", "-n", "rt-p", "-f", unknown)
    assert bad.returncode == 1
    assert f"{unknown}:2:" in bad.stderr and "lxc.net.0.link" in bad.stderr


def test_monitor_prints_state_changes_like_lxc(world):
    from conftest import ours

    busybox(world, "rt-mon")
    busybox(world, "other")
    out = os.path.join(world.root, "monitor.out")
    with open(out, "w") as handle:
        monitor = subprocess.Popen([ours("lxc-monitor"), "-P", world.lp, "-n", "rt-.*"],
                                   stdout=handle, env=world.env)
    try:
        time.sleep(0.5)
        assert world.ours("lxc-start", "-n", "rt-mon").returncode == 0
        assert world.ours("lxc-start", "-n", "other").returncode == 0
        assert world.ours("lxc-stop", "-n", "rt-mon", "-k").returncode == 0
        assert world.ours("lxc-stop", "-n", "other", "-k").returncode == 0
        time.sleep(0.5)
    finally:
        monitor.terminate()
        monitor.wait(timeout=10)
    with open(out) as handle:
        lines = handle.read().splitlines()
    assert lines == ["'rt-mon' changed state to [STARTING]", "'rt-mon' changed state to [RUNNING]",
                     "'rt-mon' exited with status [137]", "'rt-mon' changed state to [STOPPING]",
                     "'rt-mon' changed state to [STOPPED]"]


def test_explain_prints_the_plan_and_runs_nothing(world):
    busybox(world, "rt-x", "lxc.cgroup.pids.max = 50\nlxc.hook.pre-start = /bin/true\n")
    proc = world.ours("lxc-start", "-n", "rt-x", "--explain")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for expected in ("new: cgroup ipc mnt net pid uts", "/sys/fs/cgroup/pids/lxc.payload.rt-x",
                     "limit pids.max = 50", "tmpfs on /dev", "pivot_root", "loopback only",
                     "drop capabilities: sys_module sys_rawio sys_time mac_admin mac_override",
                     "pre-start: /bin/true", "init: /sbin/init", "halt with SIGUSR1"):
        assert expected in text, expected
    assert world.ours("lxc-info", "-n", "rt-x", "-sH").stdout.strip() == "STOPPED"
    assert not os.path.exists("/sys/fs/cgroup/pids/lxc.payload.rt-x")
