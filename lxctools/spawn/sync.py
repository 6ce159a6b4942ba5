"""A start's sync: the messages between the supervisor and the processes it forks, typed.

The supervisor, the spawner and the container's PID 1 talk over one SOCK_SEQPACKET pair
(Sync): one JSON object per datagram, pty masters as fds beside Ptys. Each message is a
class (message.py's base, as the monitor's protocol); the order they come in is the start
plan's (startplan.py), where each step that sends or waits for one is named after it.
native/lxc-execinit.c writes Failed too.
"""

import json
import os

from ..message import REQUIRED, Message, ProtocolError
from . import entry


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


class Sync:
    """The start's messages with the supervisor (SYNC): one JSON object per
    datagram, pty masters as fds beside the Ptys one."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, message, fds=None):
        data = json.dumps(message.to_wire()).encode()
        if fds:
            entry.send_fds(self.sock, data, fds)
        else:
            self.sock.send(data)  # send(2): test_crash's injections count these

    def receive(self):
        """The next SyncMessage (its fds in .fds), None at EOF. One that cannot be read is
        a Failed naming why: the start stops there, as for any failure."""
        try:
            data, fds = entry.recv_fds(self.sock, 65536, 64, cloexec=False)
        except ConnectionResetError:
            # the other side closed with a message of ours unread (init that failed making
            # its mounts before "go" came): the kernel says so once, ahead of what that side
            # sent before it closed, which is still there to read
            data, fds = entry.recv_fds(self.sock, 65536, 64, cloexec=False)
        if not data:
            return None
        try:
            message = decode_sync(json.loads(data))
        except (ValueError, RecursionError, ProtocolError) as exc:
            message = Failed(error=f"a message of the start that is none: {exc}")
        message.fds = fds
        return message

    def expect(self, kind):
        message = self.receive()
        if not isinstance(message, kind):
            os._exit(1)  # the supervisor gave up on us
        return message


