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

Who asks: every request carries a pidfd of its sender, the first of the fds beside its line
(SENDER_PIDFD); a supervisor answers only a caller in its own pid namespace (and user
namespace, when it is root), proved with the kernel's pidfd of the peer (SO_PEERPIDFD) or,
on a kernel without one, with that pidfd (kernel/peer.py; docs/SECURITY.md, "Who may command
a supervisor"). A caller refused gets an ErrorReply saying why.

Version: requests carry "v" (VERSION). A request without one is version 1, the format of
supervisors started before the field existed, which they ignore; a supervisor refuses a
request of a version above its own, naming both. Replies are plain objects, as before.

The message classes' base (fields, checks, ProtocolError) is message.py's, shared with the
start's sync messages (sync.py).
"""

import json

from ..message import OMIT, REQUIRED, Message, ProtocolError  # noqa: F401 - its error too

VERSION = 1
# where a request's sender puts a pidfd of itself: the first fd beside its line (wire.Channel
# and the front door's send_request do; the supervisor's proof of who asks, kernel/peer.py)
SENDER_PIDFD = "first"


class Request(Message):
    """A command: its wire form names it ("cmd") and the protocol's version ("v"). CMD is
    the command's name, REPLY its reply class."""

    CMD = REPLY = None

    def to_wire(self):
        data = super().to_wire()
        data["cmd"] = self.CMD
        data["v"] = VERSION
        return data


# -- replies every command may give ------------------------------------------------------------
class ErrorReply(Message):
    """What failed, for the tool to print: its hint, LXC's line's detail, the exit code;
    REFUSED when the supervisor would not take the request from this caller (not in its
    pid namespace: kernel/peer.py), which every client raises whatever it asked."""
    FIELDS = (("error", str, REQUIRED), ("hint", (str, type(None)), None),
              ("detail", (str, type(None)), OMIT), ("exit_code", int, OMIT),
              ("refused", bool, OMIT))



class OkReply(Message):
    FIELDS = (("ok", bool, True),)


# -- a container's command socket (supervisor.py) ---------------------------------------------
class StateReply(Message):
    FIELDS = (("state", str, REQUIRED),)


class StateRequest(Request):
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
              ("init_start", (int, type(None)), None), ("stats", dict, OMIT))


class InfoRequest(Request):
    """What lxc-info shows and stop/attach need; with STATS, the cgroup figures too."""
    CMD, REPLY = "info", InfoReply
    FIELDS = (("stats", bool, False),)


class WaitRequest(Request):
    """The state now, then one StateReply per change, until one of STATES (kept open)."""
    CMD, REPLY = "wait", StateReply
    FIELDS = (("states", list, ()),)


class StopRequest(Request):
    """Hard stop (lxc-stop -k): SIGKILL to init, a frozen container thawed to let it die."""
    CMD, REPLY = "stop", OkReply


class FreezeRequest(Request):
    CMD, REPLY = "freeze", OkReply


class UnfreezeRequest(Request):
    CMD, REPLY = "unfreeze", OkReply


class CgroupReply(Message):
    """A read's value; a write answers OkReply."""
    FIELDS = (("value", str, REQUIRED),)


class CgroupRequest(Request):
    """lxc-cgroup: read KEY of the container's cgroups, or write VALUE to it."""
    CMD, REPLY = "cgroup", CgroupReply
    FIELDS = (("key", str, REQUIRED), ("value", (str, type(None)), None))


class StatsReply(Message):
    FIELDS = (("stats", dict, REQUIRED),)


class StatsRequest(Request):
    CMD, REPLY = "stats", StatsReply


class SignalRequest(Request):
    """Send SIGNAL to init; REBOOT marks it as a reboot (the supervisor starts it again)."""
    CMD, REPLY = "signal", OkReply
    FIELDS = (("signal", int, REQUIRED), ("reboot", bool, False))


class ConsoleReply(Message):
    """The tty handed out (0: the console); its pty master travels as an fd beside it."""
    FIELDS = (("tty", int, REQUIRED),)


class ConsoleRequest(Request):
    """lxc-console: tty N, 0 the console, -1 the first free tty (kept open while used)."""
    CMD, REPLY = "console", ConsoleReply
    FIELDS = (("tty", int, -1),)


class TtysReply(Message):
    """Each of NAME's console and ttys: {"name", "path" in the container, "rdev", "dev"}."""
    FIELDS = (("ttys", list, REQUIRED),)


class TtysRequest(Request):
    """lxc-checkpoint: the ptys whose masters the supervisor holds (CRIU's external ttys)."""
    CMD, REPLY = "ttys", TtysReply


class AttachReply(Message):
    """The container's half of an attach (attach/facts.py says each field): the entry
    helper's plan records and the fds they name (the namespaces, then a sealed copy of the
    helper), base64 where bytes."""
    FIELDS = (("version", int, REQUIRED), ("init_pid", int, REQUIRED),
              ("records", str, REQUIRED), ("nfds", int, REQUIRED), ("mnt", bool, REQUIRED),
              ("setup", (list, type(None)), None), ("env", str, ""), ("files", str, ""),
              ("cgroups", str, ""), ("maps", str, ""))


class AttachRequest(Request):
    """The compiled lxc-attach: the container's half of the plan, for a caller whose
    namespaces are NS ({name: inode}) and who keeps ELEVATED (-e) privileges. A pidfd of the
    caller itself travels with it (the supervisor checks who asks)."""
    CMD, REPLY = "attach", AttachReply
    FIELDS = (("elevated", list, ()), ("ns", dict, {}))


# -- the lxcpath's supervisor socket (daemon.py) ----------------------------------------------
class StartReply(Message):
    """A start's outcome: init's pid and the warnings to print (an ErrorReply if it failed)."""
    FIELDS = (("ok", bool, True), ("pid", int, REQUIRED), ("warnings", list, ()))


class StartRequest(Request):
    """lxc-start's OPTIONS for NAME: the supervisor reads the config, checks and starts."""
    CMD, REPLY = "start", StartReply
    FIELDS = (("name", str, REQUIRED), ("options", (dict, type(None)), None))


class RecoverRequest(Request):
    """Settle NAME's record left by a dead supervisor (every record when NAME is None)."""
    CMD, REPLY = "recover", OkReply
    FIELDS = (("name", (str, type(None)), None),)


class MonitorReply(Message):
    """The names supervised now; then one {"name", "state"} line per change (lxc-monitor)."""
    FIELDS = (("names", list, REQUIRED),)


class MonitorRequest(Request):
    CMD, REPLY = "monitor", MonitorReply


class Event(Message):
    """What lxc-monitor's subscription then receives: NAME's new state, or its init's exit."""
    FIELDS = (("name", str, REQUIRED), ("state", str, OMIT), ("exited", int, OMIT))


def _table(*classes):
    return {cls.CMD: cls for cls in classes}


# the dispatch tables: command name -> request class (its REPLY beside it)
CONTAINER = _table(StateRequest, InfoRequest, WaitRequest, StopRequest, FreezeRequest,
                   UnfreezeRequest, CgroupRequest, StatsRequest, SignalRequest, ConsoleRequest,
                   TtysRequest, AttachRequest)
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
