"""The command socket: how every tool talks to a running container's supervisor.

One abstract unix socket per running container; it exists exactly while the supervisor lives,
so "connection refused" means STOPPED (as LXC's `@LXCPATH/NAME/command`). The wire format is
ours: one JSON object per line each way, file descriptors (console ptys) as SCM_RIGHTS.

Kept import-light: lxc-info, lxc-ls and lxc-wait load this on their hot path.
"""

import _socket  # not socket.py: its enum and selectors imports cost ~4 ms per command
import json
import os

from ..errors import NotRunning

STATES = ("STOPPED", "STARTING", "RUNNING", "STOPPING", "ABORTING", "FREEZING", "FROZEN", "THAWED")


def fnv64(text):
    """FNV-1a, 64 bit, as hex: a short stable name for a path (hashlib costs 3 ms to import)."""
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def socket_name(lxcpath, name):
    """Abstract socket address. Hashed, so any lxcpath/name fits sun_path; the readable part
    lets people find it in `ss -xl`."""
    return f"\0lxctools/{fnv64(f'{lxcpath}/{name}')}/command"


def state_dir(lxcpath):
    """Where supervisors of LXCPATH record themselves (listing reads it; the socket is truth)."""
    from ..paths import runtime_dir
    return os.path.join(runtime_dir(), "lxctools", "active", fnv64(lxcpath))


def connect(lxcpath, name, timeout=10.0, adopt=True):
    """A connected socket to NAME's supervisor, or NotRunning."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(socket_name(lxcpath, name))
    except (ConnectionRefusedError, FileNotFoundError):
        sock.close()
        # A record without a listening socket means its supervisor died while the
        # container ran: a new supervisor adopts it, then we ask again.
        if adopt and os.path.exists(os.path.join(state_dir(lxcpath), name)):
            from .daemon import adopt_orphans_of
            if adopt_orphans_of(lxcpath):
                return connect(lxcpath, name, timeout, adopt=False)
        raise NotRunning(f"{name} is not running") from None
    return sock


class Channel:
    """A line-oriented JSON conversation over one connection."""

    def __init__(self, sock):
        self.sock = sock
        self._buf = b""
        self.fds = []

    def send(self, obj, fds=()):
        data = (json.dumps(obj) + "\n").encode()
        if fds:
            import array
            self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                        array.array("i", fds))])
        else:
            self.sock.sendall(data)

    def receive(self):
        """Next JSON object, or None at EOF. Received fds collect in self.fds."""
        while b"\n" not in self._buf:
            chunk, ancillary, _flags, _addr = self.sock.recvmsg(65536, _socket.CMSG_SPACE(16 * 4))
            for level, kind, payload in ancillary:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    import array
                    fds = array.array("i")
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                    for fd in fds:
                        os.set_inheritable(fd, False)
                    self.fds.extend(fds)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def close(self):
        self.sock.close()


def request(lxcpath, name, command, timeout=10.0, **fields):
    """Send COMMAND and return the supervisor's answer (a dict). NotRunning if there is none.
    A container real LXC runs answers through LXC's own socket (lxcsocket.py)."""
    try:
        channel = Channel(connect(lxcpath, name, timeout))
    except NotRunning:
        from .lxcsocket import answer

        found = answer(lxcpath, name, command, fields)
        if found is None:
            raise
        return found
    try:
        channel.send(dict(fields, cmd=command))
        answer = channel.receive()
    except (ConnectionResetError, BrokenPipeError):
        answer = None
    finally:
        channel.close()
    if answer is None:
        raise NotRunning(f"{name} is not running")
    return answer


def state_of(lxcpath, name):
    try:
        return request(lxcpath, name, "state")["state"]
    except NotRunning:
        return "STOPPED"
    except OSError:
        return "STOPPED"


def active_names(lxcpath):
    """Names whose supervisor's socket is listening right now (one read of /proc/net/unix)."""
    directory = state_dir(lxcpath)
    try:
        recorded = os.listdir(directory)
    except OSError:
        recorded = []
    try:
        with open("/proc/net/unix", "rb") as handle:
            listening = handle.read()
    except OSError:
        listening = b""
    live = []
    for name in recorded:
        address = socket_name(lxcpath, name)[1:].encode()
        if b"@" + address in listening:
            live.append(name)
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
