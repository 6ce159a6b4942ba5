"""The supervisor's sockets and records, seen from either end: the bottom of the monitor.

One abstract unix socket per running container; it exists exactly while the supervisor lives,
so "connection refused" means STOPPED (as LXC's `@LXCPATH/NAME/command`). The wire format is
ours: one JSON object per line each way (Channel), file descriptors (console ptys) as
SCM_RIGHTS. Beside each socket a record in /run (state_dir, read_record) says what the
supervisor runs, so that the next one can settle what a dead one left.

This module imports nothing of the monitor: the supervisor, its daemon and LXC's socket
(lxcsocket.py) build on it, and the client that may spawn a daemon (commands.py) sits above
them all. Kept import-light: lxc-info, lxc-ls and lxc-wait load this on their hot path.
"""

import _socket  # not socket.py: its enum and selectors imports cost ~4 ms per command
import _struct
import json
import os

from ..errors import LxcError
from ..paths import fnv64, lxcpath_key

STATES = ("STOPPED", "STARTING", "RUNNING", "STOPPING", "ABORTING", "FREEZING", "FROZEN", "THAWED")


def socket_name(lxcpath, name):
    """Abstract socket address. Hashed, so any lxcpath/name fits sun_path; the readable part
    lets people find it in `ss -xl`."""
    return f"\0lxctools/{fnv64(f'{lxcpath_key(lxcpath)}/{name}')}/command"


def state_dir(lxcpath):
    """Where supervisors of LXCPATH record themselves (listing reads it; the socket is truth)."""
    from ..paths import runtime_dir
    return os.path.join(runtime_dir(), "lxctools", "active", lxcpath_key(lxcpath))


def connect_address(address, timeout):
    """A socket connected to ADDRESS, then in TIMEOUT mode (None: blocking).

    The connect itself blocks, bounded by SO_SNDTIMEO: when a busy supervisor's listen queue
    is full, a blocking connect waits for room, where a socket in timeout mode (non-blocking
    underneath) fails at once with EAGAIN -- under a hundred parallel commands that read as
    "not running". Refused/absent: ConnectionRefusedError/FileNotFoundError as usual."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        if timeout is not None:
            seconds = int(timeout)
            micros = int((timeout - seconds) * 1e6)
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDTIMEO,
                            _struct.pack("@ll", seconds, micros))
        sock.connect(address)
        if timeout is not None:
            # back to no send timeout: settimeout() alone governs the conversation
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDTIMEO, _struct.pack("@ll", 0, 0))
    except BlockingIOError:
        sock.close()
        raise TimeoutError(f"no answer within {timeout} s (its queue stayed full)") from None
    except BaseException:
        sock.close()
        raise
    sock.settimeout(timeout)
    return sock


def accept(listener):
    """LISTENER.accept() for a listener made with _socket (a supervisor's: socket.py's
    imports, enum and selectors, are ~2 ms of its cold start): (connection, address), the
    connection close-on-exec, blocking when the listener has a timeout, as socket.py's."""
    fd, address = listener._accept()
    sock = _socket.socket(fileno=fd)
    if _socket.getdefaulttimeout() is None and listener.gettimeout():
        sock.setblocking(True)
    return sock, address


class Channel:
    """A line-oriented JSON conversation over one connection."""

    def __init__(self, sock):
        self.sock = sock
        self._buf = b""
        self.fds = []

    def send(self, obj, fds=()):
        """OBJ as one line, FDS beside it. A request (protocol.Request.to_wire's: it names
        its "cmd") carries a pidfd of this process first among its fds (protocol's
        SENDER_PIDFD: the supervisor's proof of who asks, kernel/peer.py)."""
        data = (json.dumps(obj) + "\n").encode()
        if "cmd" in obj:
            own = os.pidfd_open(os.getpid())
            try:
                self._send(data, [own, *fds])
            finally:
                os.close(own)
            return
        self._send(data, fds)

    def send_encoded(self, data):
        """A reply already encoded as send() would (one JSON object, a newline): bytes."""
        self._send(data, ())

    def _send(self, data, fds):
        if fds:
            import array
            sent = self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                               array.array("i", fds))])
            if sent < len(data):
                self.sock.sendall(data[sent:])
        else:
            self.sock.sendall(data)

    def receive(self):
        """Next JSON object, or None at EOF. Received fds collect in self.fds."""
        while b"\n" not in self._buf:
            chunk, ancillary, _flags, _addr = self.sock.recvmsg(65536, _socket.CMSG_SPACE(16 * 4))
            for level, kind, payload in ancillary:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    count = len(payload) // 4  # ints (array's import: ~0.5 ms of a cold start)
                    fds = _struct.unpack(f"{count}i", payload[:count * 4])
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


def busy(name, timeout):
    """A supervisor that does not answer is not a stopped container: say so."""
    return LxcError(f"{name}'s supervisor did not answer within {timeout:g} s",
                    hint="it is busy (many commands at once?): try again")


def recorded_names(lxcpath):
    """Names with a record (not the temporary files records are written through)."""
    try:
        entries = os.listdir(state_dir(lxcpath))
    except OSError:
        return []
    return [e for e in entries if not is_temp_record(e)]


def is_temp_record(entry):
    """NAME.PID.tmp: a record being written (or left by a writer killed mid-write)."""
    head, _, pid = entry[:-4].rpartition(".") if entry.endswith(".tmp") else ("", "", "")
    return bool(head) and pid.isdigit()


def listening_table():
    try:
        with open("/proc/net/unix", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def read_record(lxcpath, name):
    """NAME's record as a dict; None when there is none. An unreadable one (a half-written
    file cannot be: records are renamed into place) reads as {} (settled as stale)."""
    path = os.path.join(state_dir(lxcpath), name)
    try:
        with open(path) as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def process_start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
