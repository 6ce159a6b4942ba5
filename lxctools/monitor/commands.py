"""The client of the monitor: how every tool asks a container's supervisor something.

request() sends one command to NAME's supervisor (wire.py: its socket and line format) and
returns the answer; a container real LXC runs answers through LXC's own socket instead
(lxcsocket.py). A record whose socket does not listen means that supervisor died: the
lxcpath's supervisor is asked to settle it first (daemon.recover), so that the answer is the
settled one. That may spawn a supervisor, so this module sits above the whole monitor and
nothing in it imports this one.

The socket's names (STATES, Channel, state_dir, ...) are wire.py's, re-exported here for the
tools that speak to a supervisor directly. Kept import-light: lxc-info, lxc-ls and lxc-wait
load this on their hot path.
"""

import os

from ..errors import LxcError, NotRunning
from . import protocol
from .wire import (  # noqa: F401 - the names tools use, re-exported
    STATES, Channel, busy, connect_address, is_temp_record, listening_table, recorded_names,
    socket_name, state_dir)


def connect(lxcpath, name, timeout=10.0, adopt=True):
    """A connected socket to NAME's supervisor, or NotRunning."""
    try:
        return connect_address(socket_name(lxcpath, name), timeout)
    except (ConnectionRefusedError, FileNotFoundError):
        pass
    # A record without a listening socket means its supervisor died (supervisors remove the
    # record before they close the socket): the lxcpath's supervisor settles it -- adopts a
    # running init, undoes the rest -- and we ask again, getting the settled answer.
    if adopt and os.path.exists(os.path.join(state_dir(lxcpath), name)):
        from .daemon import recover
        recover(lxcpath, name)
        return connect(lxcpath, name, timeout, adopt=False)
    raise NotRunning(f"{name} is not running")


def request(lxcpath, name, command, timeout=10.0, **fields):
    """Send COMMAND (one of protocol.CONTAINER's, with its FIELDS) and return the
    supervisor's answer (its wire form: a dict). NotRunning if there is none. A container
    real LXC runs answers through LXC's own socket (lxcsocket.py)."""
    message = protocol.request(protocol.CONTAINER, command, **fields)
    try:
        channel = Channel(connect(lxcpath, name, timeout))
    except NotRunning:
        from .lxcsocket import answer

        found = answer(lxcpath, name, command, fields)
        if found is None:
            raise
        return found
    except TimeoutError:
        raise busy(name, timeout) from None
    try:
        channel.send(message)
        answer = channel.receive()
    except (ConnectionResetError, BrokenPipeError):
        answer = None
    except TimeoutError:
        raise busy(name, timeout) from None
    finally:
        channel.close()
    if answer is None:
        raise NotRunning(f"{name} is not running")
    refused(answer)
    return answer


def refused(answer):
    """Raise the supervisor's refusal of this caller (protocol.ErrorReply's REFUSED: not in
    its pid namespace), whatever was asked; ANSWER otherwise."""
    if isinstance(answer, dict) and answer.get("refused") is True:
        raise LxcError(answer.get("error") or "refused", hint=answer.get("hint"))
    return answer


def state_of(lxcpath, name):
    try:
        return request(lxcpath, name, "state")["state"]
    except NotRunning:
        return "STOPPED"
    except OSError:
        return "STOPPED"


def active_names(lxcpath, settle=True):
    """Names whose supervisor's socket is listening right now (one read of /proc/net/unix).
    A record whose socket does not listen is a supervisor's death seen: with SETTLE, the
    lxcpath's supervisor settles it first (daemon.recover), so that a container whose
    supervisor died is listed as what it is, and stale records go."""
    recorded = recorded_names(lxcpath)
    listening = listening_table()
    live = [n for n in recorded if b"@" + socket_name(lxcpath, n)[1:].encode() in listening]
    if settle and len(live) < len(recorded):
        from .daemon import recover
        recover(lxcpath)
        return active_names(lxcpath, settle=False)
    return live + lxc_run_names(lxcpath, listening, exclude=live)


def lxc_run_names(lxcpath, listening, exclude=()):
    """Containers of LXCPATH that real LXC's monitor runs (its sockets in /proc/net/unix)."""
    if (b"@" + lxcpath.encode("utf-8", "surrogateescape") + b"/" not in listening
            and b"@lxc/" not in listening):
        return []  # no LXC monitor serves anything of LXCPATH: no need to list it
    try:
        names = [n for n in os.listdir(lxcpath) if n not in exclude]
    except OSError:
        return []
    from .lxcsocket import listening as lxc_listening

    return lxc_listening(lxcpath, names, listening)
