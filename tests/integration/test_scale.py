"""Many containers on one lxcpath: the supervisor's open-file limit and the descriptors it keeps
per container (issue 25). No timing is asserted: the bench measures (bench/run --scale)."""

import os
import resource
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ours
from lxcenv import World, busybox, world  # noqa: F401  (fixture)
from lxctools.kernel.fdlimit import per_container

SOFT = 1024


def start_under_soft_limit(world, name):
    """lxc-start as from a login shell with `ulimit -Sn 1024` (the hard limit untouched): the
    first one forks the lxcpath's supervisor, which inherits that limit."""
    def soft_limit():
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT, hard))
    return subprocess.run([ours("lxc-start"), "-P", world.lp, "-n", name], capture_output=True,
                          text=True, env=world.env, timeout=120, preexec_fn=soft_limit)


def info(world, name, *flags):
    proc = world.ours("lxc-info", "-n", name, *flags)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def supervisor_of(world, name):
    from lxctools.monitor.commands import request
    return request(world.lp, name, "info")["monitor_pid"]


def open_files_limit(pid):
    with open(f"/proc/{pid}/limits") as handle:
        for line in handle:
            if line.startswith("Max open files"):
                soft, hard = line[len("Max open files"):].split()[:2]
                return int(soft), int(hard)
    raise AssertionError(f"no open-file limit in /proc/{pid}/limits")


def listening_sockets():
    """Inodes of the listening unix sockets (/proc/net/unix flags __SO_ACCEPTCON)."""
    inodes = set()
    with open("/proc/net/unix") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            if int(fields[3], 16) & 0x10000:
                inodes.add(fields[6])
    return inodes


def descriptors(pid):
    """What PID holds, by kind: pidfd, ptmx (pty masters), pts/N (pty slaves), listening
    sockets (connected ones are clients come and gone: not counted)..."""
    listening = listening_sockets()
    kinds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            if target[len("socket:["):-1] not in listening:
                continue
            kind = "listening socket"
        elif target == "anon_inode:[pidfd]":
            kind = "pidfd"
        elif target.endswith("/ptmx"):
            kind = "ptmx"
        elif target.startswith("/dev/pts/"):
            kind = "pts/" + target.rsplit("/", 1)[1]
        else:
            kind = target.split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def test_the_supervisor_keeps_the_masters_and_the_consoles_slave_only(world):
    """Per container: the command socket, init's pidfd, the console's master and slave, one
    master per tty; a tty's slave only while an lxc-console holds that tty. The container
    itself gets the open-file limit its supervisor was started with, or lxc.prlimit.nofile."""
    import pexpect

    hook_saw = os.path.join(world.root, "hook-saw")
    busybox(world, "sc-fd1")
    # a host hook, run by the supervisor: the caller's soft limit too, not the raised one
    busybox(world, "sc-fd2", "lxc.prlimit.nofile = 2048:4096\n"
                             f"lxc.hook.pre-start = sh -c 'ulimit -Sn > {hook_saw}'\n")
    assert start_under_soft_limit(world, "sc-fd1").returncode == 0
    supervisor = supervisor_of(world, "sc-fd1")
    before = descriptors(supervisor)
    assert start_under_soft_limit(world, "sc-fd2").returncode == 0
    assert supervisor_of(world, "sc-fd2") == supervisor
    # busybox: a console and lxc.tty.max = 5; the console is pts/0 of the container's devpts
    after = descriptors(supervisor)
    added = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in after}
    added = {kind: n for kind, n in added.items() if n}
    # two listening sockets: ours and LXC's command socket (monitor/lxcsocket.py)
    assert added == {"listening socket": 2, "pidfd": 1, "ptmx": 6, "pts/0": 1}
    assert sum(added.values()) == per_container(5)
    assert not [kind for kind in after if kind.startswith("pts/") and kind != "pts/0"]

    # the supervisor raised its own soft limit; the containers got back the caller's
    soft, hard = open_files_limit(supervisor)
    assert soft == hard == resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert open_files_limit(int(info(world, "sc-fd1", "-pH"))) == (SOFT, hard)
    assert open_files_limit(int(info(world, "sc-fd2", "-pH"))) == (2048, 4096)
    with open(hook_saw) as handle:
        assert handle.read().strip() == str(SOFT)

    # tty 3 has no getty (busybox's inittab serves tty1): while lxc-console holds it, the
    # supervisor holds its slave, so the session stays up instead of reading a hang-up
    console = pexpect.spawn(ours("lxc-console"), ["-P", world.lp, "-n", "sc-fd1", "-t", "3"],
                            env=world.env, encoding="utf-8", timeout=20)
    try:
        console.expect("Connected to tty 3")
        deadline = time.monotonic() + 10
        while descriptors(supervisor).get("pts/3") != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert descriptors(supervisor).get("pts/3") == 1
        time.sleep(0.5)
        assert console.isalive()
        console.send("\x01q")
        console.expect(pexpect.EOF)
    finally:
        console.close(force=True)
    deadline = time.monotonic() + 10
    while "pts/3" in descriptors(supervisor) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert descriptors(supervisor) == after
    for name in ("sc-fd1", "sc-fd2"):
        assert world.ours("lxc-stop", "-n", name, "-k").returncode == 0


def test_150_containers_under_a_soft_limit_of_1024(world):
    """Started one by one from a shell with `ulimit -Sn 1024`, each keeping 9 descriptors in
    the one supervisor (1,350 in all): every start succeeds and every container runs; then
    every one stops and the supervisor leaves."""
    count = int(os.environ.get("LXCTOOLS_TEST_SCALE", "150"))
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = count * per_container(5) + 64
    if hard < needed:
        pytest.fail(f"the hard open-file limit ({hard}) is below the {needed} descriptors "
                    f"{count} containers need: raise it (ulimit -Hn 65536) to run this test")
    names = [f"sc-{i:03d}" for i in range(count)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda n: busybox(world, n), names))
    supervisor = None
    try:
        for name in names:
            proc = start_under_soft_limit(world, name)
            assert proc.returncode == 0, f"{name}: {proc.stderr}"
        running = world.ours("lxc-ls", "--running").stdout.split()
        assert running == names
        listed = world.ours("lxc-ls", "-f", "-F", "NAME,STATE").stdout.splitlines()[1:]
        assert [line.split() for line in listed] == [[n, "RUNNING"] for n in names]
        supervisor = supervisor_of(world, names[0])
        assert {supervisor_of(world, n) for n in (names[1], names[-1])} == {supervisor}
        assert open_files_limit(supervisor)[0] == hard
        assert sum(descriptors(supervisor).values()) > SOFT  # what this test is about
        # the last container started as well as the first: its ttys and its console work
        assert info(world, names[-1], "-sH") == "RUNNING"
        assert world.ours("lxc-attach", "-n", names[-1], "--", "/bin/true").returncode == 0
    finally:
        stops = {name: world.ours("lxc-stop", "-n", name, "-k") for name in names}
    refused = {n: (p.returncode, p.stderr.strip()) for n, p in stops.items() if p.returncode}
    assert refused == {}
    assert world.ours("lxc-ls", "--running").stdout.split() == []
    if supervisor is not None:
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{supervisor}") and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.path.exists(f"/proc/{supervisor}"):
            os.kill(supervisor, signal.SIGKILL)
            pytest.fail("the supervisor stayed after its last container stopped")
