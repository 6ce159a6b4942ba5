"""A caller that exits and lends its pid (kernel/peer.py; docs/SECURITY.md, "Who may command
a supervisor"): on a kernel without SO_PEERPIDFD, LXC's own clients send no pidfd, so the
supervisor opens one from SO_PEERCRED's pid -- a number, which after the caller's exit names
whatever process took it. Staged here deterministically: a caller in another pid namespace
(uid 0, the host's network namespace: a privileged container's root) connects, asks, and
exits -- leaving its end of the connection open in a child of its own, or closed -- and a
root process of the host's pid namespace is then made to take exactly that pid (clone3 with
set_tid, as CRIU restores pids). The proof must refuse: the process with that pid holds no
end of the connection. Without the check (main before it) each of these is accepted, and
through LXC's socket of a real supervisor the victim is stopped.

This host's kernel has SO_PEERPIDFD; LXCTOOLS_PEER_FALLBACK=1 makes the supervisor prove as
on one without (Debian 12's 6.1, which the VM tier runs)."""

import os
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from lxcenv import SANE_PATH, busybox, python3_lxc_stop, world  # noqa: F401  (fixture)
from lxctools.kernel import peer
from lxctools.monitor import commands, lxcsocket

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VICTIM = "pr-victim"
STOP = struct.pack("=iiQ", lxcsocket.COMMANDS.index("STOP"), 0, 0)

# The caller: argv address (unicode-escaped), "hold" or "close". In a new pid namespace
# (whose init it is not: that namespace would end with it), it connects, sends LXC's STOP,
# writes its host pid (/proc/self of the host's proc) and, in "hold", forks a child that
# keeps its end open; then it exits. Its init reaps it, says "reaped" and its host pid, and
# stays (with the holder) until killed.
CALLER = r"""
import os, socket, sys, time
from lxctools.kernel import libc
address = sys.argv[1].encode().decode("unicode_escape").encode("latin-1")
mode, payload = sys.argv[2], bytes.fromhex(sys.argv[3])
libc.unshare(libc.CLONE_NEWPID)
if os.fork() == 0:
    if os.fork() == 0:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(address)
        sock.sendall(payload)
        print("pid", os.readlink("/proc/self"), flush=True)
        if mode == "hold" and os.fork() == 0:
            time.sleep(300)
        os._exit(0)
    os.wait()
    print("reaped", os.readlink("/proc/self"), flush=True)
    time.sleep(300)
    os._exit(0)
os.wait()
"""

# A process at exactly pid argv[1] of this (the host's) pid namespace: clone3 with set_tid;
# the child (as uid argv[2], if given) execs sleep, keeping the fds it was passed. Prints its
# pid once exec'd (or "EEXIST"), then waits for stdin to close.
AT_PID = r"""
import ctypes, errno, os, signal, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
tid = (ctypes.c_int * 1)(int(sys.argv[1]))
# struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
# tls, set_tid, set_tid_size
args = ctypes.create_string_buffer(struct.pack("=10Q", 0, 0, 0, 0, signal.SIGCHLD, 0, 0, 0,
                                               ctypes.addressof(tid), 1))
pid = libc.syscall(435, args, ctypes.c_size_t(80))
if pid == 0:
    try:
        if len(sys.argv) > 2:
            uid = int(sys.argv[2])
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        os.execv("/bin/sleep", ["sleep", "300"])
    finally:
        os._exit(1)
if pid < 0:
    print(errno.errorcode.get(ctypes.get_errno(), "?"), flush=True)
    sys.exit(0)
while not open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"sleep\0"):
    os.sched_yield()  # (its exec done)
print(pid, flush=True)
sys.stdin.read()
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
"""


def _escape(address):
    if isinstance(address, str):
        address = address.encode("latin-1")
    return address.decode("latin-1").encode("unicode_escape").decode()


class Staged:
    """The race, staged: CALLER's processes and the process at its pid (kill() ends them)."""

    def __init__(self, address, mode, payload=b"x"):
        self.procs = []
        caller = subprocess.Popen(
            [sys.executable, "-c", CALLER, _escape(address), mode, payload.hex()],
            stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=REPO))
        self.procs.append(caller)
        said = caller.stdout.readline().split()
        assert said[:1] == ["pid"], said
        self.pid = int(said[1])
        said = caller.stdout.readline().split()
        assert said[:1] == ["reaped"], said
        self.init = int(said[1])
        self.reuser = None
        at = subprocess.Popen([sys.executable, "-c", AT_PID, str(self.pid)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs.append(at)
        said = at.stdout.readline().strip()
        if said.isdigit():
            self.reuser = int(said)
            assert self.reuser == self.pid

    def kill(self):
        for proc in self.procs:
            if proc.stdin:
                proc.stdin.close()
        try:
            os.kill(self.init, signal.SIGKILL)  # and with it its namespace: the holder
        except ProcessLookupError:
            pass
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _stage(address, mode, payload=b"x", tries=20):
    """Staged with a process at the caller's pid (another process of the machine may take the
    freed pid first: then again)."""
    for _ in range(tries):
        staged = Staged(address, mode, payload)
        if staged.reuser:
            return staged
        staged.kill()
    pytest.fail(f"no process could be made to take a freed pid in {tries} tries")


def _listener():
    address = b"\0lxctools-test-reuse-" + os.urandom(4).hex().encode()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(4)
    return address, listener


@pytest.mark.parametrize("mode", ["hold", "close"])
def test_a_reused_pid_does_not_pass_for_the_caller(mode):
    """peer.check as LXC's socket calls it (by pid, no SO_PEERPIDFD): the caller, in another
    pid namespace, connected and exited -- its end held on by a child of its own ("hold"),
    or closed ("close": a request left behind, as a STOP needs no answer) -- and a root
    process of the host's pid namespace has its pid now. Refused; main accepted both."""
    from conftest import require_root
    require_root()
    address, listener = _listener()
    staged = None
    try:
        staged = _stage(address, mode)
        while True:  # (the connections of tries whose pid another process took: skipped)
            conn, _ = listener.accept()
            pid = struct.unpack("=iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                        12))[0]
            if pid == staged.pid:
                break
            conn.close()
        try:
            assert pid == staged.pid == staged.reuser  # SO_PEERCRED's pid: the reuser's now
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                assert handle.read().startswith(b"sleep\0")
            assert os.stat(f"/proc/{pid}/ns/pid").st_ino == os.stat("/proc/self/ns/pid").st_ino
            with pytest.raises(peer.Refused) as refused:
                peer.check(conn, use_kernel=False, by_pid=True)
            if mode == "hold":
                assert "holds no end of the connection" in str(refused.value)
            else:
                assert "its end of the connection is closed" in str(refused.value)
        finally:
            conn.close()
    finally:
        if staged:
            staged.kill()
        listener.close()


def test_the_caller_itself_and_its_holder_by_pid():
    """The controls of the same check: a host process that holds its end is answered (also
    from a thread with an fd table of its own); one that handed its end to a child and
    closed its own is not (its pid holds no end); one in another pid namespace holding its
    end is refused for its namespace."""
    from conftest import require_root
    require_root()
    address, listener = _listener()
    connect = ("s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
               f"s.connect({address!r})\n")
    cases = (
        (connect + "print(flush=True)\ns.recv(1)\n", "allowed"),
        (connect + "if os.fork() == 0:\n    s.recv(1)\n    os._exit(0)\n"
         "s.close()\nprint(flush=True)\nsys.stdin.read()\n",  # (alive while checked)
         "holds no end of the connection"),
        # a thread with an fd table of its own (CLONE_FILES): /proc/PID/fd is its leader's,
        # its end is in /proc/PID/task/TID/fd
        ("import threading\ndef run():\n    libc.unshare(0x400)\n"
         + "".join("    " + line + "\n" for line in connect.splitlines())
         + "    print(flush=True)\n    s.recv(1)\nthreading.Thread(target=run).start()\n",
         "allowed"),
        ("libc.unshare(libc.CLONE_NEWPID)\nif os.fork() == 0:\n"
         + "".join("    " + line + "\n" for line in connect.splitlines())
         + "    print(flush=True)\n    s.recv(1)\n    os._exit(0)\nos.wait()\n",
         "the caller is in another pid namespace"))
    try:
        for script, expect in cases:
            proc = subprocess.Popen(
                [sys.executable, "-c", "import os, socket, sys\n"
                 "from lxctools.kernel import libc\n" + script],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env=dict(os.environ, PYTHONPATH=REPO))
            conn, _ = listener.accept()
            try:
                proc.stdout.readline()  # connected (and, second, its own end closed)
                try:
                    peer.check(conn, use_kernel=False, by_pid=True)
                    got = "allowed"
                except peer.Refused as exc:
                    got = str(exc)
                assert expect in got, (script, got)
            finally:
                conn.close()
                proc.stdin.close()
                proc.wait(timeout=30)
    finally:
        listener.close()


@pytest.mark.parametrize("uid", [0, 65534], ids=["root", "nobody"])
def test_a_successor_handed_the_connection(uid):
    """The boundary of the proof by pid: a caller connects, hands its end to another
    process and exits; a process born at its pid inherits that end. As uid 65534 it is
    refused (the holder must pass the uid rule too); as root of the host's namespaces it is
    taken for the caller -- the residual docs/SECURITY.md names: only a host root process
    that was handed the connection gets there."""
    from conftest import require_root
    require_root()
    address, listener = _listener()
    try:
        for _ in range(20):
            mine, theirs = socket.socketpair()
            caller = os.fork()
            if caller == 0:
                try:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.connect(address)
                    socket.send_fds(theirs, [b"x"], [sock.fileno()])
                finally:
                    os._exit(0)
            os.waitpid(caller, 0)
            _msg, fds, _flags, _addr = socket.recv_fds(mine, 1, 1)
            mine.close()
            theirs.close()
            conn, _ = listener.accept()
            at = subprocess.Popen([sys.executable, "-c", AT_PID, str(caller), str(uid)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  pass_fds=fds)
            for fd in fds:
                os.close(fd)  # the successor (and its parent) hold the end now
            try:
                if at.stdout.readline().strip() != str(caller):
                    continue  # another process took the pid first
                try:
                    peer.check(conn, use_kernel=False, by_pid=True)
                    got = "allowed"
                except peer.Refused as exc:
                    got = str(exc)
                if uid == 0:
                    assert got == "allowed"
                else:
                    assert "is not root nor the supervisor's user" in got, got
                return
            finally:
                conn.close()
                at.stdin.close()
                at.wait(timeout=30)
        pytest.fail("no process could be made to take a freed pid in 20 tries")
    finally:
        listener.close()


def _running(world):
    return world.ours("lxc-info", "-n", VICTIM, "-sH").stdout.strip()


@pytest.fixture
def fallback_victim(world):
    """VICTIM running under a supervisor that proves as on a kernel without SO_PEERPIDFD."""
    world.env = dict(world.env, LXCTOOLS_PEER_FALLBACK="1")
    busybox(world, VICTIM)
    go = world.ours("lxc-start", "-n", VICTIM, "-d")
    assert go.returncode == 0, go.stderr
    assert world.ours("lxc-wait", "-n", VICTIM, "-s", "RUNNING", "-t", "30").returncode == 0
    supervisor = commands.request(world.lp, VICTIM, "info")["monitor_pid"]
    with open(f"/proc/{supervisor}/environ", "rb") as handle:
        assert b"LXCTOOLS_PEER_FALLBACK=1\0" in handle.read()
    yield supervisor
    try:
        os.kill(supervisor, signal.SIGCONT)
    except ProcessLookupError:
        pass  # (gone with the victim, when a test failed)
    world.ours("lxc-stop", "-n", VICTIM, "-k")


def test_real_lxc_clients_are_answered_by_pid(world, fallback_victim):
    """The control, through LXC's socket proved by pid: real lxc-info from the host reads
    the state and init's pid; real lxc-stop (and python3-lxc's stop(), where installed)
    from a new pid namespace cannot stop the container; real lxc-stop from the host's can."""
    pid = world.ours("lxc-info", "-n", VICTIM, "-pH").stdout.strip()
    real = world.real("lxc-info", "-n", VICTIM, "-s", "-p", lxcpath=world.lp)
    assert real.stdout == f"State:          RUNNING\nPID:            {pid}\n", real.stderr
    sane = dict(os.environ, PATH=SANE_PATH)
    from conftest import real_lxc
    done = subprocess.run(["unshare", "--pid", "--fork", real_lxc("lxc-stop"), "-P", world.lp,
                           "-n", VICTIM, "-k"], capture_output=True, text=True, timeout=120,
                          env=sane)
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert _running(world) == "RUNNING"
    answer = python3_lxc_stop(VICTIM, world.lp, new_pid_namespace=True)
    if answer is not None:  # where installed (the VM image has none)
        assert answer[0] == "False", answer[1]
        assert _running(world) == "RUNNING"
    done = world.real("lxc-stop", "-n", VICTIM, "-k", lxcpath=world.lp)
    assert done.returncode == 0, done.stderr
    assert _running(world) == "STOPPED"


@pytest.mark.parametrize("mode", ["hold", "close"])
def test_a_stop_left_behind_by_an_exited_caller(world, fallback_victim, mode):
    """The attack on a real supervisor: while it is busy (here: SIGSTOP), a caller in
    another pid namespace connects to LXC's socket of the victim, sends STOP and exits (its
    end held open by a child, or closed); a host root process takes its pid; the supervisor
    then accepts the connection. Refused with LXC's EPERM, the refusal logged, the victim
    runs on (main stopped it)."""
    supervisor = fallback_victim
    os.kill(supervisor, signal.SIGSTOP)
    staged = None
    try:
        staged = _stage(lxcsocket.address(world.lp, VICTIM), mode, STOP)
        os.kill(supervisor, signal.SIGCONT)
        said = f"LXC's command socket of {VICTIM} refused pid {staged.pid}: "
        deadline = time.monotonic() + 30
        logged = ""
        while time.monotonic() < deadline:
            logged = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
            if said in logged or _running(world) == "STOPPED":
                break
            time.sleep(0.2)
        assert _running(world) == "RUNNING", "a process that took the caller's pid passed"
        assert said in logged, logged[-2000:]
        line = logged[logged.rindex(said):].splitlines()[0]
        assert ("holds no end of the connection" in line if mode == "hold"
                else "its end of the connection is closed" in line), line
    finally:
        try:
            os.kill(supervisor, signal.SIGCONT)
        except ProcessLookupError:
            pass
        if staged:
            staged.kill()
    assert world.real("lxc-info", "-n", VICTIM, "-sH", lxcpath=world.lp).stdout == "RUNNING\n"


UNPRIV_USER = "lxct-peerreuse"


def test_a_users_supervisor_proves_real_lxc_info_by_pid():
    """An unprivileged user's container under our supervisor (the user's, proving as on a
    kernel without SO_PEERPIDFD): real lxc-info and lxc-stop run as the user reach it
    through LXC's socket -- the user's supervisor may ask sock_diag and read the fds of its
    own user's caller."""
    import pwd

    from conftest import ordinary_user, ours_for_anyone, real_lxc

    with ordinary_user(UNPRIV_USER, 520000):
        entry = pwd.getpwnam(UNPRIV_USER)
        as_them = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                   "--init-groups", "env", "-i", f"HOME={entry.pw_dir}", "PATH=/usr/bin:/bin",
                   f"USER={UNPRIV_USER}", "LXCTOOLS_PEER_FALLBACK=1"]

        def run(program, *args):
            return subprocess.run(as_them + [program, *args], capture_output=True, text=True,
                                  cwd="/", timeout=120)

        made = run(ours_for_anyone("lxc-create"), "-n", "pr-u", "-t", "busybox")
        assert made.returncode == 0, made.stderr
        try:
            go = run(ours_for_anyone("lxc-start"), "-n", "pr-u")
            assert go.returncode == 0, go.stderr
            listed = subprocess.run(["ps", "-u", str(entry.pw_uid), "-o", "pid=,cmd="],
                                    capture_output=True, text=True).stdout.splitlines()
            supervisor, = (int(line.split()[0]) for line in listed
                           if "[lxc monitor]" in line)  # (root may not ask it: not its user)
            with open(f"/proc/{supervisor}/environ", "rb") as handle:
                assert b"LXCTOOLS_PEER_FALLBACK=1\0" in handle.read()
            assert os.stat(f"/proc/{supervisor}").st_uid == entry.pw_uid
            info = run(real_lxc("lxc-info"), "-n", "pr-u", "-sH")
            assert info.stdout == "RUNNING\n", info.stderr
            stop = run(real_lxc("lxc-stop"), "-n", "pr-u", "-k")
            assert stop.returncode == 0, stop.stderr
            assert run(real_lxc("lxc-info"), "-n", "pr-u", "-sH").stdout == "STOPPED\n"
        finally:
            run(ours_for_anyone("lxc-stop"), "-n", "pr-u", "-k")
            run(ours_for_anyone("lxc-destroy"), "-n", "pr-u")
