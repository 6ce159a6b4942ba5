"""Who may command a supervisor (kernel/peer.py; docs/SECURITY.md, "Who may command a
supervisor"): root (or its own user) in its own pid namespace -- and user namespace, for a
root supervisor -- for every command of the container's socket, the lxcpath's and LXC's own.

The abstract sockets are reachable from every process in the host's network namespace: root
in a privileged container with `lxc.net.0.type = none` is uid 0 there. Each test here is
such a caller, for real: a process that is uid 0 in the host's network namespace but in a
new pid namespace (unshare --pid --fork), and a real container's root; each asks a running
container's supervisor for its console, to stop, freeze, change its cgroups, start another
container..., is refused each time, and the container goes on unharmed. The same from the
host's pid namespace is answered (the control: the refusal is the check, not a broken
client)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from lxcenv import busybox, python3_lxc_stop, world  # noqa: F401  (fixture)
from lxctools.kernel import libc, peer
from lxctools.monitor import lxcsocket, wire
from lxctools.monitor.daemon import daemon_socket

VICTIM, OTHER = "pp-victim", "pp-other"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the hostile client: every command of both our sockets, and LXC's STOP, GET_TTY_FD and
# FREEZE on LXC's socket; prints {what: reply}. argv: container socket, lxcpath socket,
# LXC's socket address, then the fd of a pidfd of a host process (or -1)
CLIENT = r"""
import json, os, socket, struct, sys
from lxctools.monitor import lxcsocket, protocol, wire

box, lxcpath_sock, lxc_address, foreign = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
box, lxcpath_sock, lxc_address = (a.encode().decode("unicode_escape")
                                  for a in (box, lxcpath_sock, lxc_address))
CONTAINER = [("console", {"tty": 0}), ("console", {"tty": -1}), ("stop", {}),
             ("freeze", {}), ("unfreeze", {}), ("cgroup", {"key": "pids.max", "value": "7"}),
             ("cgroup", {"key": "pids.max"}), ("signal", {"signal": 9}), ("info", {}),
             ("state", {}), ("wait", {"states": ["STOPPED"]}), ("stats", {}), ("ttys", {}),
             ("attach", {"ns": {}})]
DAEMON = [("start", {"name": sys.argv[5], "options": {}}), ("recover", {"name": None}),
          ("monitor", {})]
out = {}

def ask(address, table, cmd, fields, fds=None):
    sock = wire.connect_address(address, 20)
    channel = wire.Channel(sock)
    message = protocol.request(table, cmd, **fields)
    if fds is None:
        channel.send(message)              # as our clients send it: a pidfd of ourselves
    else:
        channel._send((json.dumps(message) + "\n").encode(), fds)
    try:
        answer = channel.receive()
    except OSError as exc:
        answer = {"oserror": str(exc)}
    for fd in channel.fds:
        os.close(fd)
        answer["fd"] = True
    channel.close()
    return answer

for cmd, fields in CONTAINER:
    out[f"{cmd} {json.dumps(fields)}"] = ask(box, protocol.CONTAINER, cmd, fields)
for cmd, fields in DAEMON:
    out[f"daemon {cmd}"] = ask(lxcpath_sock, protocol.DAEMON, cmd, fields)
out["stop, no pidfd"] = ask(box, protocol.CONTAINER, "stop", {}, fds=[])
if foreign >= 0:
    out["stop, a host process's pidfd"] = ask(box, protocol.CONTAINER, "stop", {}, fds=[foreign])
C = {name: number for number, name in enumerate(lxcsocket.COMMANDS)}
for name in ("GET_TTY_FD", "FREEZE", "GET_INIT_PIDFD", "STOP"):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(lxc_address)
    sock.sendall(struct.pack("=iiQ", C[name], 0, 0))
    data, anc, _f, _a = sock.recvmsg(16, socket.CMSG_SPACE(4 * 4))
    for level, kind, payload in anc:
        if kind == socket.SCM_RIGHTS:
            out.setdefault("lxc fds", []).append(name)
    out[f"lxc {name}"] = struct.unpack("=iiQ", data)[0] if len(data) == 16 else None
    sock.close()
print(json.dumps(out))
"""


def _escape(address):
    return address.encode().decode("latin-1").encode("unicode_escape").decode()


def _run_client(world, *prefix, foreign=-1, pass_fds=()):
    """CLIENT's answers, run under PREFIX (unshare ...: its own pid namespace)."""
    env = dict(world.env, PYTHONPATH=REPO)
    args = [sys.executable, "-c", CLIENT, _escape(wire.socket_name(world.lp, VICTIM)),
            _escape(daemon_socket(world.lp)), _escape(lxcsocket.address(world.lp, VICTIM)),
            str(foreign), OTHER]
    done = subprocess.run([*prefix, *args], capture_output=True, text=True, env=env,
                          timeout=240, pass_fds=pass_fds)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _snapshot(world):
    """What the attacks would change: the victim's state and init, its pids.max, the other
    container's state."""
    info = world.ours("lxc-info", "-n", VICTIM, "-s", "-p", "-H")
    assert info.returncode == 0, info.stderr
    value = world.ours("lxc-cgroup", "-n", VICTIM, "pids.max")
    other = world.ours("lxc-info", "-n", OTHER, "-s", "-H")
    return info.stdout, value.stdout, other.stdout


@pytest.fixture
def victim(world):
    busybox(world, VICTIM)
    busybox(world, OTHER)
    go = world.ours("lxc-start", "-n", VICTIM, "-d")
    assert go.returncode == 0, go.stderr
    assert world.ours("lxc-wait", "-n", VICTIM, "-s", "RUNNING", "-t", "30").returncode == 0
    yield
    world.ours("lxc-stop", "-n", VICTIM, "-k")
    world.ours("lxc-stop", "-n", OTHER, "-k")


def _assert_all_refused(answers):
    for what, answer in answers.items():
        if what.startswith("lxc "):
            continue
        assert "error" in answer and "refused" in answer["error"], (what, answer)
        assert "fd" not in answer, (what, "an fd was handed out")
    # LXC's socket: EPERM to each, and no fd (a console's pty, init's pidfd) handed out
    for name in ("GET_TTY_FD", "FREEZE", "GET_INIT_PIDFD", "STOP"):
        assert answers[f"lxc {name}"] == -1, (name, answers[f"lxc {name}"])  # -EPERM
    assert "lxc fds" not in answers


def test_a_root_in_another_pid_namespace_is_refused_every_command(world, victim):
    """uid 0, the host's network namespace, a new pid namespace: every command of every
    door refused with an error that says why, the supervisor logs it, nothing changed."""
    before = _snapshot(world)
    host = subprocess.Popen(["sleep", "120"])
    foreign = os.pidfd_open(host.pid)  # a host process's pidfd, taken into the namespace
    try:
        answers = _run_client(world, "unshare", "--pid", "--fork", foreign=foreign,
                              pass_fds=(foreign,))
    finally:
        os.close(foreign)
        host.kill()
        host.wait()
    _assert_all_refused(answers)
    assert "another pid namespace" in answers["stop {}"]["error"]
    assert answers["stop {}"]["hint"] == peer.HINT
    assert "not the caller's" in answers["stop, a host process's pidfd"]["error"]
    assert _snapshot(world) == before
    assert "State:          RUNNING" in before[0]
    logged = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    said = f"{VICTIM}'s supervisor refused 'stop' from pid "
    assert said in logged and "another pid namespace" in logged, logged[-2000:]


def test_the_tools_from_another_pid_namespace_are_refused(world, victim):
    """Our tools themselves (the compiled front door, the Python tool, python3-lxc's
    liblxc on LXC's socket) from a new pid namespace: refused, the container runs on."""
    before = _snapshot(world)
    for tool, args in (("lxc-stop", ["-k"]), ("lxc-stop", []), ("lxc-freeze", []),
                       ("lxc-cgroup", ["pids.max", "9"]), ("lxc-info", ["-s"]),
                       ("lxc-console", ["-t", "0"])):
        for pure in ("", "1"):
            env = dict(world.env, LXCTOOLS_PURE_PYTHON=pure) if pure else world.env
            done = subprocess.run(["unshare", "--pid", "--fork", world.tool(tool), "-P",
                                   world.lp, "-n", VICTIM, *args], capture_output=True,
                                  text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
            assert done.returncode != 0, (tool, args, pure, done.stdout)
            assert "refused" in done.stderr, (tool, args, pure, done.stderr)
    done = subprocess.run(["unshare", "--pid", "--fork", world.tool("lxc-start"), "-P",
                           world.lp, "-n", OTHER, "-d"], capture_output=True, text=True,
                          env=world.env, timeout=120)
    assert done.returncode != 0 and "refused" in done.stderr, done.stderr
    assert _snapshot(world) == before


def test_liblxc_from_another_pid_namespace_is_refused(world, victim):
    """python3-lxc (liblxc 5.0.2) on LXC's socket of our container, from a new pid
    namespace: its stop() fails, the container runs on; from the host's, it stops it (the
    control)."""
    before = _snapshot(world)
    answer = python3_lxc_stop(VICTIM, world.lp, new_pid_namespace=True)
    if answer is None:
        pytest.skip("python3-lxc (Debian's liblxc binding) is not installed here")
    assert answer[0] == "False", answer[1]
    assert _snapshot(world) == before
    answer = python3_lxc_stop(VICTIM, world.lp)
    assert answer[0] == "True", answer[1]


def test_the_host_pid_namespace_is_answered(world, victim):
    """The control: the same client from the host's pid namespace is answered (read-only
    commands and a freeze/thaw; the console handed out), and a pidfd of another process
    than the caller is refused there too."""
    client = CLIENT.replace('("stop", {}),', "").replace('("signal", {"signal": 9}), ', "")
    client = client.replace('("cgroup", {"key": "pids.max", "value": "7"}),', "")
    client = client.replace('("wait", {"states": ["STOPPED"]}), ', "")
    client = client.split("for cmd, fields in DAEMON:")[0] + (
        "if foreign >= 0:\n"
        "    out['foreign'] = ask(box, protocol.CONTAINER, 'info', {}, fds=[foreign])\n"
        "print(json.dumps(out))\n")
    host = subprocess.Popen(["sleep", "120"])
    foreign = os.pidfd_open(host.pid)
    env = dict(world.env, PYTHONPATH=REPO)
    try:
        done = subprocess.run(
            [sys.executable, "-c", client, _escape(wire.socket_name(world.lp, VICTIM)),
             _escape(daemon_socket(world.lp)), _escape(lxcsocket.address(world.lp, VICTIM)),
             str(foreign), OTHER], capture_output=True, text=True, env=env, timeout=240,
            pass_fds=(foreign,))
    finally:
        os.close(foreign)
        host.kill()
        host.wait()
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout.splitlines()[-1])
    assert "not the caller's" in answers.pop("foreign")["error"]
    for what, answer in answers.items():
        assert "refused" not in answer.get("error", ""), (what, answer)
    assert answers['console {"tty": 0}'].get("fd") is True
    assert answers["info {}"]["state"] == "RUNNING"
    assert world.ours("lxc-info", "-n", VICTIM, "-s").stdout.split() == ["State:", "RUNNING"]
    done = world.ours("lxc-stop", "-n", VICTIM, "-k")
    assert done.returncode == 0, done.stderr
    assert world.ours("lxc-info", "-n", VICTIM, "-s").stdout.split() == ["State:", "STOPPED"]


ATTACK = r"""
import json, os, socket, struct, sys
sys.path.insert(0, sys.argv[1])
from lxctools.monitor import lxcsocket, protocol, wire
with open("/results/target") as handle:
    target = json.load(handle)
out = {}
for cmd, fields in (("console", {"tty": 0}), ("freeze", {}), ("cgroup", {"key": "pids.max", "value": "3"}),
                    ("stop", {})):
    try:
        channel = wire.Channel(wire.connect_address(target["ours"], 20))
        channel.send(protocol.request(protocol.CONTAINER, cmd, **fields))
        out[cmd] = channel.receive()
        out[cmd]["fd"] = bool(channel.fds)
        channel.close()
    except Exception as exc:
        out[cmd] = {"exception": repr(exc)}
try:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(target["lxc"])
    sock.sendall(struct.pack("=iiQ", lxcsocket.COMMANDS.index("STOP"), 0, 0))
    data = sock.recv(16)
    out["lxc STOP"] = struct.unpack("=iiQ", data)[0] if len(data) == 16 else None
except Exception as exc:
    out["lxc STOP"] = repr(exc)
with open("/results/out.tmp", "w") as handle:
    json.dump(out, handle)
os.rename("/results/out.tmp", "/results/out.json")
"""


def test_a_privileged_containers_root_cannot_stop_another(world, victim):
    """A real privileged container sharing the host's network namespace (lxc.net.0.type =
    none): its init, root in it, is a Python script (the host's /usr/bin/python3, bound
    read-only with lxctools' source) that asks the victim's supervisor, through both our
    socket and LXC's, for its console, a freeze, a cgroup change and a stop. Each is
    refused; the victim runs on. (With the check disabled, this test fails: the victim is
    stopped.)"""
    results = os.path.join(world.root, "results")
    os.makedirs(results)
    with open(os.path.join(results, "target"), "w") as handle:
        json.dump({"ours": wire.socket_name(world.lp, VICTIM),
                   "lxc": lxcsocket.address(world.lp, VICTIM)}, handle)
    with open(os.path.join(results, "attack.py"), "w") as handle:
        handle.write(ATTACK)
    name = "pp-attacker"
    rootfs = busybox(world, name)
    with open(os.path.join(rootfs, "attack.sh"), "w") as handle:  # /usr/bin is bound later
        handle.write(f"#!/bin/sh\nexec /usr/bin/python3 /results/attack.py {REPO}\n")
    os.chmod(os.path.join(rootfs, "attack.sh"), 0o755)
    path = os.path.join(world.cdir(name), "config")
    with open(path) as handle:
        lines = [line for line in handle.read().splitlines()
                 if not line.startswith("lxc.net.0.")]
    lines += ["lxc.net.0.type = none",
              "lxc.mount.entry = /usr/bin usr/bin none ro,bind,create=dir 0 0",
              f"lxc.mount.entry = {REPO} {REPO.lstrip('/')} none ro,bind,create=dir 0 0",
              f"lxc.mount.entry = {results} results none rw,bind,create=dir 0 0",
              "lxc.init.cmd = /attack.sh"]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    before = _snapshot(world)
    go = world.ours("lxc-start", "-n", name, "-d")
    assert go.returncode == 0, go.stderr
    out = os.path.join(results, "out.json")
    deadline = time.monotonic() + 90
    while not os.path.exists(out) and time.monotonic() < deadline:
        time.sleep(0.2)
    world.ours("lxc-stop", "-n", name, "-k")
    assert os.path.exists(out), "the attacker's script did not run"
    with open(out) as handle:
        answers = json.load(handle)
    for cmd in ("console", "freeze", "cgroup", "stop"):
        assert "refused" in answers[cmd].get("error", ""), (cmd, answers[cmd])
        assert answers[cmd]["fd"] is False
    assert answers["lxc STOP"] == -1, answers  # -EPERM
    assert _snapshot(world) == before


# -- the proof itself, on both kernels' paths ------------------------------------------------
def _check(send, *prefix, use_kernel=True, by_pid=False):
    """peer.check on a connection from a client (run under PREFIX) that sends the fds SEND
    names: "own" (a pidfd of itself), "parent" (a pidfd of the test, taken before PREFIX's
    unshare), "none"."""
    address = "\0lxctools-test-peer-" + os.urandom(4).hex()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(1)
    own = os.pidfd_open(os.getpid())
    client = ("import os, socket, sys\n"
              "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
              f"s.connect({address!r})\n"
              f"fds = {{'own': [os.pidfd_open(os.getpid())], 'parent': [{own}], 'none': []}}"
              f"[{send!r}]\n"
              "socket.send_fds(s, [b'x'], fds)\n"
              "s.recv(1)\n")
    proc = subprocess.Popen([*prefix, sys.executable, "-c", client], pass_fds=(own,))
    try:
        listener.settimeout(30)
        conn, _ = listener.accept()
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 10, 4)
        try:
            peer.check(conn, fds, use_kernel=use_kernel, by_pid=by_pid)
            return "allowed"
        except peer.Refused as exc:
            return str(exc)
        finally:
            for fd in fds:
                os.close(fd)
            conn.close()
    finally:
        os.close(own)
        listener.close()
        proc.wait(timeout=30)


NEW_PIDNS = ("unshare", "--pid", "--fork")
NEW_USERNS = ("unshare", "--user", "--map-root-user")


@pytest.mark.parametrize("use_kernel", [True, False], ids=["SO_PEERPIDFD", "sent pidfd"])
def test_the_proof(use_kernel):
    """Both proofs: the kernel's pidfd of the peer (SO_PEERPIDFD, where the kernel has it:
    from 6.5; before, the first case is the second, which the VM tier's 6.1 runs) and, as
    on a kernel without it, the pidfd the request carries."""
    from conftest import require_root
    require_root()
    probe = socket.socketpair()
    try:
        fd = peer.kernel_pidfd(probe[0])
        if fd is not None:
            assert libc.pidfd_pid(fd) == os.getpid()
            os.close(fd)
    finally:
        probe[0].close()
        probe[1].close()
    release = tuple(int(part) for part in os.uname().release.split("-")[0].split(".")[:2])
    # Linux 6.5 made SO_PEERPIDFD; before, check() proves with the sent pidfd by itself
    # (LXCTOOLS_PEER_FALLBACK=1: as before 6.5 on any kernel)
    assert (fd is not None) == (release >= (6, 5) and not peer.force_fallback), \
        os.uname().release
    kernel = use_kernel and fd is not None
    assert _check("own", use_kernel=use_kernel) == "allowed"
    assert _check("own", *NEW_PIDNS, use_kernel=use_kernel) == \
        "the caller is in another pid namespace"
    assert _check("parent", use_kernel=use_kernel) == "the pidfd is not the caller's"
    assert _check("parent", *NEW_PIDNS, use_kernel=use_kernel) == \
        "the pidfd is not the caller's"
    assert _check("own", *NEW_USERNS, use_kernel=use_kernel) in (
        "the caller is in another user namespace", "not root nor the supervisor's user")
    if kernel:
        assert _check("none") == "allowed"
        assert _check("none", *NEW_PIDNS) == "the caller is in another pid namespace"
    else:
        assert _check("none", use_kernel=use_kernel).startswith("no pidfd of the caller")
        # LXC's socket on such a kernel: the pid SO_PEERCRED gives, opened
        assert _check("none", use_kernel=use_kernel, by_pid=True) == "allowed"
        assert _check("none", *NEW_PIDNS, use_kernel=use_kernel, by_pid=True) == \
            "the caller is in another pid namespace"


def test_the_user_namespace_of_a_root_supervisor():
    """A process of the host's pid namespace whose uid 0 is a user namespace's (unshare
    --user --map-root-user: SO_PEERCRED shows uid 0): refused by a root supervisor."""
    from conftest import require_root
    require_root()
    assert _check("own", *NEW_USERNS) == "the caller is in another user namespace"


def test_an_exited_caller_is_refused():
    """A peer gone before the check (its pid free for another process): refused."""
    from conftest import require_root
    require_root()
    address = "\0lxctools-test-peer-" + os.urandom(4).hex()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(1)
    pid = os.fork()
    if pid == 0:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(address)
        socket.send_fds(client, [b"x"], [os.pidfd_open(os.getpid())])
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    conn, _ = listener.accept()
    listener.close()
    _msg, fds, _flags, _addr = socket.recv_fds(conn, 10, 4)
    try:
        for use_kernel in (True, False):
            with pytest.raises(peer.Refused):
                peer.check(conn, fds, use_kernel=use_kernel)
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()
