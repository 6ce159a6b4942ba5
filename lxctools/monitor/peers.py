"""Another container of the lxcpath, asked from inside the monitor: its init's pid, for
lxc.namespace.share.KIND = NAME (the start plan's shared namespaces step).

Not commands.request: that settles a dead supervisor's record through the lxcpath's
supervisor, and this runs in it (it would wait on itself). Here such a container reads as
not running until it is settled.
"""

from ..errors import NotRunning
from . import protocol, wire
from .lxcsocket import answer


def init_pid_of(lxcpath, name):
    """NAME's init pid, from its supervisor or real LXC's monitor. A record left by a dead
    supervisor is not settled from here (commands.request would): in the lxcpath's
    supervisor that would wait on itself, so NAME reads as not running until it is."""
    try:
        channel = wire.Channel(wire.connect_address(wire.socket_name(lxcpath, name), 10.0))
    except (ConnectionRefusedError, FileNotFoundError):
        found = answer(lxcpath, name, "info", {})
        if found is None:
            raise NotRunning(f"{name} is not running") from None
        return found["init_pid"]
    try:
        channel.send(protocol.request(protocol.CONTAINER, "info"))
        reply = channel.receive()
    finally:
        channel.close()
    if reply is None:
        raise NotRunning(f"{name} is not running")
    return reply["init_pid"]
