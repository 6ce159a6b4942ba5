"""A running supervisor fed random bytes and malformed requests on both its sockets: each
gets an error reply or a closed connection, never a hang, and the container's supervisor and
the lxcpath's keep serving, the same processes as before (issue 20, item 3)."""

import json
import random
import socket

from lxcenv import world  # noqa: F401  (fixture)

from lxctools.monitor import daemon, protocol, wire


def _exchange(address, payload):
    """Send PAYLOAD, end our side, return what came back (b"" when closed without a word)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(20)
    try:
        sock.connect(address)
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it read enough to refuse and closed: fine, the answer (if any) is below
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data
    finally:
        sock.close()


def _payloads():
    rng = random.Random(2020)
    out = [b"\n", b"[]\n", b"42\n", b'"state"\n', b"{\n", b"\xff\xfe\n", b"[" * 200000 + b"\n",
           b'{"cmd": "cgroup"}\n', b'{"cmd": "signal", "signal": "TERM"}\n',
           b'{"cmd": "info", "stats": "yes"}\n', b'{"cmd": "state", "v": 99}\n',
           b'{"cmd": "console", "tty": "x"}\n', b'{"cmd": "nosuch"}\n',
           b'{"cmd": "start", "name": 5}\n', b'{"cmd": "recover", "name": []}\n',
           b"no newline at all"]
    for _ in range(60):
        out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) + b"\n")
    return out


def _check_replies(address):
    for payload in _payloads():
        data = _exchange(address, payload)
        if not data:
            continue  # closed without a word: a payload that ended before a line did
        for line in data.splitlines():
            reply = json.loads(line)
            assert isinstance(reply, dict) and reply.get("error"), (payload[:60], reply)


def test_random_bytes_leave_both_supervisors_serving(world):
    proc = world.ours("lxc-create", "-n", "pf", "-t", "busybox")
    assert proc.returncode == 0, proc.stderr
    assert world.ours("lxc-start", "-n", "pf").returncode == 0
    try:
        info = json.loads(_exchange(wire.socket_name(world.lp, "pf"),
                                    json.dumps({"cmd": "info"}).encode() + b"\n"))
        monitor = info["monitor_pid"]
        _check_replies(wire.socket_name(world.lp, "pf"))
        _check_replies(daemon.daemon_socket(world.lp))
        # the same supervisor answers, as before, through the tools
        after = json.loads(_exchange(wire.socket_name(world.lp, "pf"),
                                     json.dumps({"cmd": "info"}).encode() + b"\n"))
        assert after["monitor_pid"] == monitor and after["state"] == "RUNNING"
        assert world.ours("lxc-info", "-n", "pf", "-s").stdout.split() == ["State:", "RUNNING"]
        # and a well-formed request of a newer version is refused by name, not misread
        refused = json.loads(_exchange(wire.socket_name(world.lp, "pf"),
                                       b'{"cmd": "state", "v": 2}\n'))
        assert refused["error"] == f"protocol version 2: this supervisor speaks version " \
                                   f"{protocol.VERSION}"
    finally:
        assert world.ours("lxc-stop", "-n", "pf", "-k").returncode == 0
        world.ours("lxc-destroy", "-n", "pf")
