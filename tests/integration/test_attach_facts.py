"""The supervisor's half of the compiled lxc-attach (attach/facts.py): it hands namespace
fds only while its pidfd of init names init (a reused pid never leads into a host process's
namespaces), and only to a caller allowed to attach: root or its own user, in its own pid
namespace, proved by a pidfd of the caller (docs/SECURITY.md, "The compiled lxc-attach")."""

import os
import socket
import subprocess
import sys

import pytest

from conftest import require_root

from lxctools.attach import facts
from lxctools.config.model import Conf
from lxctools.monitor import protocol
from lxctools.spawn import entry


class _Sup:
    """What facts.answer reads of a Supervisor."""

    def __init__(self, root, init_pid, init_pidfd):
        self.lxcpath, self.name = root, "c"
        os.makedirs(os.path.join(root, "c"), exist_ok=True)
        with open(os.path.join(root, "c", "config"), "w") as handle:
            handle.write("lxc.uts.name = c\nlxc.environment = FROM_CONFIG=1\n")
        self.conf = Conf()
        self.init_pid, self.init_pidfd = init_pid, init_pidfd
        self.cgroups = None
        self.state = "RUNNING"


def _request():
    ns = {n: os.stat(f"/proc/self/ns/{n}").st_ino for n in ("user", "ipc", "uts", "net", "mnt")}
    # the "container" is a host process: a caller in other namespaces would be handed its
    # namespaces, the host's (what a reused pid would give)
    ns["net"] += 1
    return protocol.AttachRequest(ns=ns)


@pytest.fixture
def processes():
    require_root()
    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_pidfd_of_another_process_hands_out_nothing(processes, tmp_path):
    host, init = processes
    pidfd = os.pidfd_open(init.pid)
    try:
        sup = _Sup(str(tmp_path), host.pid, pidfd)  # the pid is now a host process's
        before = set(os.listdir("/proc/self/fd"))
        with pytest.raises(facts.Refused):
            facts.answer(sup, _request(), [])
        assert set(os.listdir("/proc/self/fd")) == before  # no namespace fd left open
    finally:
        os.close(pidfd)


def test_a_pidfd_of_an_exited_init_hands_out_nothing(processes, tmp_path):
    host, init = processes
    pidfd = os.pidfd_open(init.pid)
    init.kill()
    init.wait()
    try:
        with pytest.raises(facts.Refused):
            facts.answer(_Sup(str(tmp_path), host.pid, pidfd), _request(), [])
    finally:
        os.close(pidfd)


def test_the_real_init_is_answered(processes, tmp_path):
    """The control: with its own pidfd the same process is answered, its net namespace
    (other than the caller's, as sent) the one fd handed out, the config's environment."""
    import base64

    host, _init = processes
    pidfd = os.pidfd_open(host.pid)
    try:
        fields, fds, own = facts.answer(_Sup(str(tmp_path), host.pid, pidfd), _request(), [])
    finally:
        os.close(pidfd)
    try:
        assert fields["nfds"] == len(own) == 1 and len(fds) == 2
        assert os.readlink(f"/proc/self/fd/{own[0]}") == os.readlink(f"/proc/{host.pid}/ns/net")
        assert base64.b64decode(fields["env"]) == b"FROM_CONFIG=1\0"
        assert fields["mnt"] is False and fields["version"] == entry.PLAN_VERSION
    finally:
        for fd in own:
            os.close(fd)


def _peer_check(send):
    """facts.check_peer on a connection whose client sends SEND's fds (a callable run in
    the client, returning the fds to send)."""
    address = "\0lxctools-test-peer-" + os.urandom(4).hex()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(1)
    pid = os.fork()
    if pid == 0:
        try:
            listener.close()
            fds = send()  # first: it may change who we are
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(address)
            socket.send_fds(client, [b"x"], fds)
            client.recv(1)
        finally:
            os._exit(0)
    conn, _ = listener.accept()
    listener.close()
    _msg, fds, _flags, _addr = socket.recv_fds(conn, 10, 4)
    try:
        facts.check_peer(conn, fds)
        return "allowed"
    except facts.Refused as exc:
        return str(exc)
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()
        os.waitpid(pid, 0)


def test_the_caller_proves_who_it_is():
    require_root()
    assert _peer_check(lambda: [os.pidfd_open(os.getpid())]) == "allowed"
    assert _peer_check(lambda: []) == "no pidfd of the caller"
    assert _peer_check(lambda: [os.pidfd_open(os.getppid())]) == "the pidfd is not the caller's"
    assert _peer_check(lambda: [os.open("/dev/null", os.O_RDONLY)]) == "no pidfd of the caller"
    # another user: refused before anything else (the socket's own rule, checked again)
    assert _peer_check(lambda: (os.setuid(65534), [os.pidfd_open(os.getpid())])[1]) == \
        "not root nor the supervisor's user"


def test_a_caller_in_another_pid_namespace_is_refused(tmp_path):
    """A root that reaches the abstract socket from another pid namespace (a container
    sharing the host's network namespace) gets no namespace fd."""
    require_root()
    address = "\0lxctools-test-peer-" + os.urandom(4).hex()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(1)
    client = ("import os, socket, sys\n"
              "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
              f"s.connect({address!r})\n"
              "socket.send_fds(s, [b'x'], [os.pidfd_open(os.getpid())])\n"
              "s.recv(1)\n")
    proc = subprocess.Popen(["unshare", "--pid", "--fork", sys.executable, "-c", client])
    try:
        listener.settimeout(30)
        conn, _ = listener.accept()
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 10, 4)
        try:
            with pytest.raises(facts.Refused, match="another pid namespace"):
                facts.check_peer(conn, fds)
        finally:
            for fd in fds:
                os.close(fd)
            conn.close()
    finally:
        listener.close()
        proc.wait(timeout=30)
