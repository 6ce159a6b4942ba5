"""The command socket: how every tool talks to a running container's supervisor.

One abstract unix socket per running container; it exists exactly while the supervisor lives,
so "connection refused" means STOPPED (as LXC's `@LXCPATH/NAME/command`). The wire format is
ours: one JSON object per line each way, file descriptors (console ptys) as SCM_RIGHTS.

Kept import-light: lxc-info, lxc-ls and lxc-wait load this on their hot path.
"""

import _socket  # not socket.py: its enum and selectors imports cost ~4 ms per command
import _struct
import json
import os

from ..errors import LxcError, NotRunning

STATES = ("STOPPED", "STARTING", "RUNNING", "STOPPING", "ABORTING", "FREEZING", "FROZEN", "THAWED")


def fnv64(text):
    """FNV-1a, 64 bit, as hex: a short stable name for a path (hashlib costs 3 ms to import)."""
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


_KEYS = {}


def lxcpath_key(lxcpath):
    """What names LXCPATH's supervisor, sockets and records: the directory it is (device and
    inode), not its spelling. Two mount namespaces that see different directories at one
    path (a bind mount over it) get apart supervisors and registries; two that see the same
    directory share them, as they share its containers (keyed by the namespace too, a
    `unshare -m` shell would see a running container as STOPPED and start a second init on
    its rootfs). An lxcpath that does not exist keys by its text (nothing runs there).
    Taken once per process: a supervisor keeps its key whatever is mounted later."""
    key = _KEYS.get(lxcpath)
    if key is None:
        try:
            st = os.stat(lxcpath)
            key = fnv64(f"dir:{st.st_dev}:{st.st_ino}")
        except OSError:
            return fnv64(lxcpath)  # not cached: the directory may be made next
        _KEYS[lxcpath] = key
    return key


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
    except TimeoutError:
        raise busy(name, timeout) from None
    try:
        channel.send(dict(fields, cmd=command))
        answer = channel.receive()
    except (ConnectionResetError, BrokenPipeError):
        answer = None
    except TimeoutError:
        raise busy(name, timeout) from None
    finally:
        channel.close()
    if answer is None:
        raise NotRunning(f"{name} is not running")
    return answer


def busy(name, timeout):
    """A supervisor that does not answer is not a stopped container: say so."""
    return LxcError(f"{name}'s supervisor did not answer within {timeout:g} s",
                    hint="it is busy (many commands at once?): try again")


def state_of(lxcpath, name):
    try:
        return request(lxcpath, name, "state")["state"]
    except NotRunning:
        return "STOPPED"
    except OSError:
        return "STOPPED"


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


def active_names(lxcpath, settle=True):
    """Names whose supervisor's socket is listening right now (one read of /proc/net/unix).
    A record whose socket does not listen is a supervisor's death seen: with SETTLE, the
    lxcpath's supervisor settles it first (daemon.recover), so that a container whose
    supervisor died is listed as what it is, and stale records go."""
    recorded = recorded_names(lxcpath)
    listening = _listening()
    live = [n for n in recorded if b"@" + socket_name(lxcpath, n)[1:].encode() in listening]
    if settle and len(live) < len(recorded):
        from .daemon import recover
        recover(lxcpath)
        return active_names(lxcpath, settle=False)
    return live + lxc_run_names(lxcpath, listening, exclude=live)


def _listening():
    try:
        with open("/proc/net/unix", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


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
