"""The monitor's protocol: every request and reply on a supervisor's sockets, typed, in one place.

Two sockets speak it (wire.py carries it: one JSON object per line, fds as SCM_RIGHTS):
- a container's command socket (supervisor.py serves it): CONTAINER's commands;
- the lxcpath's supervisor socket (daemon.py serves it): DAEMON's commands.

Each command is a Request class with its Reply class beside it; a class lists its FIELDS
(name, accepted types, default) and is the only place that knows them. decode() turns what
arrived into a Request (or says clearly why it cannot: not JSON, not an object, an unknown
command, a missing or mistyped field, a newer version), so a server never reads a raw dict
and a bad message gets an ErrorReply instead of a traceback. Clients build requests through
request() and get the reply back as the dict on the wire.

Version: requests carry "v" (VERSION). A request without one is version 1, the format of
supervisors started before the field existed, which they ignore; a supervisor refuses a
request of a version above its own, naming both. Replies are plain objects, as before.

Plain classes, not dataclasses: importing dataclasses costs every lxc-info and lxc-ls
(which load this module) about 5 ms.
"""

import json

from ..errors import LxcError

VERSION = 1


class ProtocolError(LxcError):
    """A message that is not one of this protocol's (or not of its version)."""


class _Omit:
    """The default of a field left out of the wire form when unset."""

    def __repr__(self):
        return "OMIT"


REQUIRED = object()
OMIT = _Omit()
_NUMBER = (int, float)


def _type_names(types):
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


class Message:
    """A typed message. FIELDS: (name, type or tuple of types, default), default REQUIRED
    for a field that must be there, OMIT for one left out of the wire form when unset."""

    FIELDS = ()

    def __init__(self, **values):
        for name, types, default in self.FIELDS:
            if name in values:
                value = values.pop(name)
                _check(type(self).__name__, name, value, types)
            elif default is REQUIRED:
                raise ProtocolError(f"{self.describe()}: the field {name!r} is missing")
            else:
                value = default
            setattr(self, name, value)
        if values:
            raise ProtocolError(f"{self.describe()}: unknown field "
                                f"{', '.join(repr(k) for k in sorted(values))}")

    @classmethod
    def describe(cls):
        return getattr(cls, "CMD", None) and f"the {cls.CMD!r} request" or cls.__name__

    def to_wire(self):
        data = {name: getattr(self, name) for name, _types, _default in self.FIELDS
                if getattr(self, name) is not OMIT}
        if getattr(self, "CMD", None):
            data["cmd"] = self.CMD
            data["v"] = VERSION
        return data

    def __eq__(self, other):
        return type(self) is type(other) and self.to_wire() == other.to_wire()

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name, _t, _d in self.FIELDS)
        return f"{type(self).__name__}({fields})"


def _check(owner, name, value, types):
    types = types if isinstance(types, tuple) else (types,)
    # JSON has one number type: an int is a float's fine value; bool is not an int here
    ok = any(value is None if t is type(None) else
             (isinstance(value, t) and not (isinstance(value, bool) and t is not bool))
             for t in types)
    if not ok:
        raise ProtocolError(f"{owner}: the field {name!r} must be {_type_names(types)}, "
                            f"not {type(value).__name__}")


# -- replies every command may give ------------------------------------------------------------
class ErrorReply(Message):
    """What failed, for the tool to print: its hint, LXC's line's detail, the exit code."""
    FIELDS = (("error", str, REQUIRED), ("hint", (str, type(None)), None),
              ("detail", (str, type(None)), OMIT), ("exit_code", int, OMIT))



class OkReply(Message):
    FIELDS = (("ok", bool, True),)


# -- a container's command socket (supervisor.py) ---------------------------------------------
class StateReply(Message):
    FIELDS = (("state", str, REQUIRED),)


class StateRequest(Message):
    """The container's state (frozen read from its freezer)."""
    CMD, REPLY = "state", StateReply


class InfoReply(Message):
    FIELDS = (("state", str, REQUIRED), ("init_pid", int, REQUIRED),
              ("monitor_pid", int, REQUIRED), ("cgroups", (dict, type(None)), None),
              ("network", (dict, list, type(None)), None),
              ("config_file", (str, type(None)), None),
              ("started_at", (int, float, type(None)), None),
              ("halt_signal", (str, type(None)), None), ("conf", dict, REQUIRED),
              ("reboot_signal", (str, type(None)), None), ("clone_flags", int, 0),
              ("stats", dict, OMIT))


class InfoRequest(Message):
    """What lxc-info shows and stop/attach need; with STATS, the cgroup figures too."""
    CMD, REPLY = "info", InfoReply
    FIELDS = (("stats", bool, False),)


class WaitRequest(Message):
    """The state now, then one StateReply per change, until one of STATES (kept open)."""
    CMD, REPLY = "wait", StateReply
    FIELDS = (("states", list, ()),)


class StopRequest(Message):
    """Hard stop (lxc-stop -k): SIGKILL to init, a frozen container thawed to let it die."""
    CMD, REPLY = "stop", OkReply


class FreezeRequest(Message):
    CMD, REPLY = "freeze", OkReply


class UnfreezeRequest(Message):
    CMD, REPLY = "unfreeze", OkReply


class CgroupReply(Message):
    """A read's value; a write answers OkReply."""
    FIELDS = (("value", str, REQUIRED),)


class CgroupRequest(Message):
    """lxc-cgroup: read KEY of the container's cgroups, or write VALUE to it."""
    CMD, REPLY = "cgroup", CgroupReply
    FIELDS = (("key", str, REQUIRED), ("value", (str, type(None)), None))


class StatsReply(Message):
    FIELDS = (("stats", dict, REQUIRED),)


class StatsRequest(Message):
    CMD, REPLY = "stats", StatsReply


class SignalRequest(Message):
    """Send SIGNAL to init; REBOOT marks it as a reboot (the supervisor starts it again)."""
    CMD, REPLY = "signal", OkReply
    FIELDS = (("signal", int, REQUIRED), ("reboot", bool, False))


class ConsoleReply(Message):
    """The tty handed out (0: the console); its pty master travels as an fd beside it."""
    FIELDS = (("tty", int, REQUIRED),)


class ConsoleRequest(Message):
    """lxc-console: tty N, 0 the console, -1 the first free tty (kept open while used)."""
    CMD, REPLY = "console", ConsoleReply
    FIELDS = (("tty", int, -1),)


# -- the lxcpath's supervisor socket (daemon.py) ----------------------------------------------
class StartReply(Message):
    """A start's outcome: init's pid and the warnings to print (an ErrorReply if it failed)."""
    FIELDS = (("ok", bool, True), ("pid", int, REQUIRED), ("warnings", list, ()))


class StartRequest(Message):
    """lxc-start's OPTIONS for NAME: the supervisor reads the config, checks and starts."""
    CMD, REPLY = "start", StartReply
    FIELDS = (("name", str, REQUIRED), ("options", (dict, type(None)), None))


class RecoverRequest(Message):
    """Settle NAME's record left by a dead supervisor (every record when NAME is None)."""
    CMD, REPLY = "recover", OkReply
    FIELDS = (("name", (str, type(None)), None),)


class MonitorReply(Message):
    """The names supervised now; then one {"name", "state"} line per change (lxc-monitor)."""
    FIELDS = (("names", list, REQUIRED),)


class MonitorRequest(Message):
    CMD, REPLY = "monitor", MonitorReply


class Event(Message):
    """What lxc-monitor's subscription then receives: NAME's new state, or its init's exit."""
    FIELDS = (("name", str, REQUIRED), ("state", str, OMIT), ("exited", int, OMIT))


# -- a start's sync: the supervisor and the container side (payload.Sync) --------------------
class SyncMessage(Message):
    """One datagram between the supervisor and the processes it forks for a start. Its one
    field, KEY, names it on the wire ({"go": true}, {"pid": 42}...), as before it had a
    class; the order they come in is the start plan's (startplan.py)."""


class Go(SyncMessage):
    """Supervisor -> spawner: it is in the cgroups, unshare."""
    KEY, FIELDS = "go", (("go", bool, True),)


class Userns(SyncMessage):
    """Spawner -> supervisor: in a new user namespace, write its id maps."""
    KEY, FIELDS = "userns", (("userns", bool, True),)


class Mapped(SyncMessage):
    """Supervisor -> spawner: the maps are written."""
    KEY, FIELDS = "mapped", (("mapped", bool, True),)


class Pid(SyncMessage):
    """Spawner -> supervisor: the container's PID 1, as the host sees it."""
    KEY, FIELDS = "pid", (("pid", int, REQUIRED),)


class Net(SyncMessage):
    """Supervisor -> PID 1: the host side of the network is up, set up the rest."""
    KEY, FIELDS = "net", (("net", bool, True),)


class Ptys(SyncMessage):
    """PID 1 -> supervisor: how many pty masters it made; they travel beside it as fds."""
    KEY, FIELDS = "ptys", (("ptys", int, REQUIRED),)


class Ready(SyncMessage):
    """PID 1 -> supervisor: set up, waiting to be confined and exec."""
    KEY, FIELDS = "ready", (("ready", bool, True),)


class Exec(SyncMessage):
    """Supervisor -> PID 1: go on and exec init (EOF of the close-on-exec socket says it did)."""
    KEY, FIELDS = "exec", (("exec", bool, True),)


class Failed(SyncMessage):
    """Either container process -> supervisor: why the start failed (native/lxc-execinit.c
    writes this one too)."""
    KEY, FIELDS = "error", (("error", str, REQUIRED), ("hint", (str, type(None)), None))


SYNC = {cls.KEY: cls for cls in (Go, Userns, Mapped, Pid, Net, Ptys, Ready, Exec, Failed)}


def decode_sync(message):
    """The SyncMessage MESSAGE (a received datagram's JSON object) is; ProtocolError when it
    is none of them, or more than one."""
    if not isinstance(message, dict):
        raise ProtocolError(f"a sync message is a JSON object, not {type(message).__name__}")
    kinds = [SYNC[key] for key in message if key in SYNC]
    if len(kinds) != 1:
        raise ProtocolError(f"not one sync message: {', '.join(sorted(map(str, message)))}")
    return kinds[0](**message)


def _table(*classes):
    return {cls.CMD: cls for cls in classes}


# the dispatch tables: command name -> request class (its REPLY beside it)
CONTAINER = _table(StateRequest, InfoRequest, WaitRequest, StopRequest, FreezeRequest,
                   UnfreezeRequest, CgroupRequest, StatsRequest, SignalRequest, ConsoleRequest)
DAEMON = _table(StartRequest, RecoverRequest, MonitorRequest)


def decode(message, table):
    """The Request MESSAGE is (an object from Channel.receive, or the bytes of one line),
    among TABLE's commands; ProtocolError saying what is wrong with it otherwise."""
    if isinstance(message, (bytes, bytearray)):
        try:
            message = json.loads(message)
        except (ValueError, RecursionError):
            raise ProtocolError("not a JSON object: a request is one JSON object per line") \
                from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a request is a JSON object, not {type(message).__name__}")
    fields = dict(message)
    version = fields.pop("v", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProtocolError(f"the protocol version must be a number from 1, not {version!r}")
    if version > VERSION:
        raise ProtocolError(f"protocol version {version}: this supervisor speaks version "
                            f"{VERSION}", hint="it was started by an older lxctools: restart "
                                               "the container to use the newer one")
    command = fields.pop("cmd", None)
    cls = table.get(command) if isinstance(command, str) else None
    if cls is None:
        raise ProtocolError(f"unknown command {command!r}",
                            hint="known: " + ", ".join(sorted(table)))
    return cls(**fields)


def request(table, command, **fields):
    """The wire form of COMMAND with FIELDS, checked as the server will check it."""
    cls = table.get(command)
    if cls is None:
        raise ProtocolError(f"unknown command {command!r}")
    return cls(**fields).to_wire()


def error(exc, **extra):
    """The wire form of an ErrorReply for LxcError EXC (a ProtocolError among them)."""
    return ErrorReply(error=str(exc), hint=exc.hint, **extra).to_wire()


def reply(cls, **fields):
    """The wire form of reply CLS with FIELDS, checked (a server's mistake fails its tests)."""
    return cls(**fields).to_wire()
