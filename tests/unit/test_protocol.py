"""monitor/protocol.py: the monitor's requests and replies, typed, with clear errors for what
is not one of them (issue 20, item 3). The live fuzz of a running supervisor is in
tests/integration/test_protocol_fuzz.py."""

import json
import random

import pytest

from lxctools.monitor import protocol
from lxctools.spawn import sync
from lxctools.monitor.protocol import ProtocolError


def test_every_command_has_its_reply_beside_it():
    for table in (protocol.CONTAINER, protocol.DAEMON):
        for command, cls in table.items():
            assert cls.CMD == command
            assert issubclass(cls.REPLY, protocol.Message), cls


def test_the_supervisor_serves_exactly_the_container_commands():
    """One dispatch table: the supervisor's handlers are keyed by the protocol's classes."""
    from lxctools.monitor.supervisor import Supervisor

    assert set(Supervisor.HANDLERS) == set(protocol.CONTAINER.values())


@pytest.mark.parametrize("command, fields", [
    ("state", {}), ("info", {"stats": True}), ("wait", {"states": ["RUNNING"]}),
    ("cgroup", {"key": "memory.max", "value": None}), ("cgroup", {"key": "pids.max", "value": "9"}),
    ("signal", {"signal": 15, "reboot": True}), ("console", {"tty": 0}), ("stop", {}),
])
def test_a_request_goes_round_the_wire(command, fields):
    wire = protocol.request(protocol.CONTAINER, command, **fields)
    assert wire["cmd"] == command and wire["v"] == protocol.VERSION
    line = json.dumps(wire).encode()
    decoded = protocol.decode(line, protocol.CONTAINER)
    assert type(decoded) is protocol.CONTAINER[command]
    for name, value in fields.items():
        assert getattr(decoded, name) == value


def test_defaults_fill_what_a_request_leaves_out():
    decoded = protocol.decode({"cmd": "console"}, protocol.CONTAINER)
    assert decoded.tty == -1
    assert protocol.decode({"cmd": "info"}, protocol.CONTAINER).stats is False


def test_a_request_without_a_version_is_version_1():
    """What a supervisor started before the field existed sends and expects."""
    assert isinstance(protocol.decode({"cmd": "state"}, protocol.CONTAINER),
                      protocol.StateRequest)


@pytest.mark.parametrize("message, words", [
    (b"not json", "not a JSON object"),
    (b"[1, 2]", "a request is a JSON object, not list"),
    (b"42", "not int"),
    ({"cmd": "nosuch"}, "unknown command 'nosuch'"),
    ({"cmd": 7}, "unknown command 7"),
    ({}, "unknown command None"),
    ({"cmd": "cgroup"}, "the 'cgroup' request: the field 'key' is missing"),
    ({"cmd": "cgroup", "key": 5}, "the field 'key' must be str, not int"),
    ({"cmd": "signal", "signal": "15"}, "the field 'signal' must be int, not str"),
    ({"cmd": "signal", "signal": True}, "the field 'signal' must be int, not bool"),
    ({"cmd": "info", "stats": 1}, "the field 'stats' must be bool, not int"),
    ({"cmd": "state", "extra": 1}, "unknown field 'extra'"),
    ({"cmd": "state", "v": 99}, "protocol version 99: this supervisor speaks version 1"),
    ({"cmd": "state", "v": "1"}, "the protocol version must be a number from 1"),
    ({"cmd": "start", "name": "c"}, "unknown command 'start'"),  # the daemon's, not a container's
])
def test_what_is_not_a_request_is_named(message, words):
    with pytest.raises(ProtocolError) as info:
        protocol.decode(message, protocol.CONTAINER)
    assert words in str(info.value)
    reply = protocol.error(info.value)
    assert reply["error"] == str(info.value)
    json.dumps(reply)  # an ErrorReply always goes on the wire


def test_the_unknown_command_error_lists_the_known_ones():
    with pytest.raises(ProtocolError) as info:
        protocol.decode({"cmd": "stat"}, protocol.CONTAINER)
    assert "state" in info.value.hint and "console" in info.value.hint


def test_a_client_cannot_build_a_bad_request():
    with pytest.raises(ProtocolError):
        protocol.request(protocol.CONTAINER, "cgroup", value="1")
    with pytest.raises(ProtocolError):
        protocol.request(protocol.CONTAINER, "nosuch")


def test_replies_are_checked_too():
    assert protocol.reply(protocol.OkReply) == {"ok": True}
    assert protocol.reply(protocol.ErrorReply, error="x") == {"error": "x", "hint": None}
    info = protocol.reply(protocol.InfoReply, state="RUNNING", init_pid=1, monitor_pid=2,
                          conf={})
    assert "stats" not in info  # asked for only
    with pytest.raises(ProtocolError):
        protocol.reply(protocol.StateReply, state=None)


def _random_message(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if kind == 1:
        return b"[" * rng.randrange(1, 100000)  # deep nesting: json's recursion limit
    values = [None, True, 0, -1, 2 ** 70, 1.5, "", "x" * 300, [], {}, ["RUNNING"], {"a": 1}]
    command = rng.choice(list(protocol.CONTAINER) + ["", "nosuch", None, 5])
    message = {"cmd": command}
    for name in rng.sample(["key", "value", "states", "tty", "signal", "reboot", "stats", "v",
                            "extra"], rng.randrange(4)):
        message[name] = rng.choice(values)
    return message if kind == 2 else json.dumps(message).encode()


def test_fuzz_decode_raises_only_protocol_errors():
    """Random bytes and random objects: a Request or a ProtocolError, nothing else."""
    rng = random.Random(20)
    for _ in range(3000):
        message = _random_message(rng)
        try:
            decoded = protocol.decode(message, protocol.CONTAINER)
        except ProtocolError as exc:
            json.dumps(protocol.error(exc))
        else:
            assert type(decoded) in protocol.CONTAINER.values()


# -- the start's sync messages (sync.py) ---------------------------------------------------
@pytest.mark.parametrize("message, wire", [
    (sync.Go(), {"go": True}), (sync.Userns(), {"userns": True}),
    (sync.Mapped(), {"mapped": True}), (sync.Pid(pid=42), {"pid": 42}),
    (sync.Net(), {"net": True}), (sync.Ptys(ptys=3), {"ptys": 3}),
    (sync.Ready(), {"ready": True}), (sync.Exec(), {"exec": True}),
    (sync.Failed(error="no", hint=None), {"error": "no", "hint": None}),
])
def test_a_sync_message_keeps_its_wire_form(message, wire):
    """The same datagrams as before the classes: native/lxc-execinit.c writes Failed's."""
    assert message.to_wire() == wire
    assert sync.decode_sync(json.loads(json.dumps(wire))) == message


@pytest.mark.parametrize("message, words", [
    ([], "a sync message is a JSON object, not list"),
    ({}, "not one sync message"),
    ({"go": True, "net": True}, "not one sync message: go, net"),
    ({"pid": "42"}, "the field 'pid' must be int, not str"),
    ({"error": "x", "extra": 1}, "unknown field 'extra'"),
])
def test_a_bad_sync_message_is_named(message, words):
    with pytest.raises(ProtocolError) as info:
        sync.decode_sync(message)
    assert words in str(info.value)


def test_a_sync_datagram_that_is_none_fails_the_start_by_name():
    """sync.Sync.receive: garbage from the other side reads as a Failed saying so."""
    import socket

    from lxctools.spawn.sync import Sync

    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        left.send(b"\xff not json")
        got = Sync(right).receive()
        assert isinstance(got, sync.Failed) and "none" in got.error
        Sync(left).send(sync.Pid(pid=7))
        got = Sync(right).receive()
        assert got == sync.Pid(pid=7) and got.fds == []
    finally:
        left.close()
        right.close()


def test_sync_reads_what_the_other_side_said_before_it_closed_on_a_message_of_ours():
    """Init that fails making its mounts before "go" (startplan.setup_before_cgroups) sends
    Failed and exits with the supervisor's Go unread: the kernel then reports ECONNRESET
    once, ahead of the Failed still queued, which must be what the start says."""
    import socket

    from lxctools.spawn.sync import Sync

    host, init = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        Sync(init).send(sync.Failed(error="lxc.mount.entry: no such source"))
        Sync(host).send(sync.Go())
        init.close()
        got = Sync(host).receive()
        assert isinstance(got, sync.Failed) and got.error == "lxc.mount.entry: no such source"
        assert Sync(host).receive() is None  # then EOF
    finally:
        host.close()
