"""LXC's command socket, both halves: the client our tools use for containers real LXC runs,
and the server our supervisor answers for the containers it runs, so that real LXC's tools and
python3-lxc see, enter, wait for and stop ours.

Containers that real LXC started: a user who puts lxctools on PATH may have some running
under LXC's own `[lxc monitor]` (started before the switch, or by lxc.service at boot). Our
tools must see them as running -- never start a second init on the same rootfs -- and can
stop them, wait for them and read their state and init pid through LXC's command socket.

What is read of LXC 5.0.2 (src/lxc/commands.[ch], commands_utils.c, af_unix.c): the abstract
socket `@LXCPATH/NAME/command` (or `@lxc/FNV1A64(LXCPATH/NAME)/command` when that does not fit
sun_path); a request is the C struct {int cmd; int datalen; void *data} sent with
SCM_CREDENTIALS, followed by DATALEN bytes; the answer {int ret; int datalen; void *data},
followed by DATALEN bytes, with file descriptors as SCM_RIGHTS on the header; a small value
(a state, a pid, a tty number, a request's argument) travels in `data` itself. One request
per connection. STOP answers nothing and the connection ends when the container has stopped;
ADD_STATE_CLIENT keeps it, and the next wanted state arrives as a struct lxc_msg;
SERVE_STATE_CLIENTS sets the state the monitor reports, as liblxc's freeze does around its
write of the freezer (v1: the monitor does not freeze).

Size: both halves of one foreign wire format (LXC 5.0's commands.h), kept side by side so
that what the client sends and the server answers are checked against the same reading.
"""

import _socket
import os

from ..paths import fnv64
from .wire import STATES, accept

# LXC 5.0's lxc_cmd_t, in order (commands.h); a name's index is its number on the wire
COMMANDS = ("GET_TTY_FD", "TERMINAL_WINCH", "STOP", "GET_STATE", "GET_INIT_PID",
            "GET_CLONE_FLAGS", "GET_CGROUP", "GET_CONFIG_ITEM", "GET_NAME", "GET_LXCPATH",
            "ADD_STATE_CLIENT", "CONSOLE_LOG", "SERVE_STATE_CLIENTS",
            "SECCOMP_NOTIFY_ADD_LISTENER", "ADD_BPF_DEVICE_CGROUP", "FREEZE", "UNFREEZE",
            "GET_CGROUP2_FD", "GET_INIT_PIDFD", "GET_LIMIT_CGROUP", "GET_LIMIT_CGROUP2_FD",
            "GET_DEVPTS_FD", "GET_SECCOMP_NOTIFY_FD", "GET_CGROUP_CTX", "GET_CGROUP_FD",
            "GET_LIMIT_CGROUP_FD", "GET_SYSTEMD_SCOPE")
_STOP, _GET_STATE, _GET_INIT_PID, _SERVE_STATE_CLIENTS = 2, 3, 4, 12
_ADD_BPF_DEVICE_CGROUP = 14
_SUN_PATH = 108
_HEADER = "=iiq"          # struct lxc_cmd_req / lxc_cmd_rsp on a 64-bit host: 16 bytes
_DATA_MAX = 4096 * 2      # LXC_CMD_DATA_MAX (PATH_MAX * 2): longer requests are dropped
_MSG = "=i256si"          # struct lxc_msg {type; char name[NAME_MAX + 1]; int value}


def address(lxcpath, name):
    path = f"{lxcpath}/{name}/command"
    if len(path.encode()) >= _SUN_PATH - 2:
        path = f"lxc/{fnv64(f'{lxcpath}/{name}')}/command"
    return "\0" + path


def _ask(lxcpath, name, command, value=0, timeout=10.0, data=b""):
    """(ret, value) of LXC's answer; None when no LXC monitor serves NAME; (None, None) when
    it closed the connection without an answer (STOP's way, or it stopped meanwhile). DATA,
    when given, follows the request (its datalen), as liblxc sends a command's payload."""
    answer = call(lxcpath, name, command, value=value, data=data, timeout=timeout)
    return answer if answer is None else answer[:2]


def call(lxcpath, name, command, value=0, data=b"", timeout=10.0, max_fds=0):
    """One request as liblxc sends it: (ret, value, data, fds) of the answer (value is the
    `data` pointer's 64 bits, unsigned); None when nothing listens at NAME's address;
    (None, None, b"", []) when the server closed without an answer. MAX_FDS > 0 takes that
    many SCM_RIGHTS fds (the caller owns them)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    fds = []
    try:
        try:
            sock.connect(address(lxcpath, name))
        except (ConnectionRefusedError, FileNotFoundError):
            return None  # the common case: a stopped container or one of ours
        import struct

        frame = struct.Struct(_HEADER[:-1] + "Q")
        credentials = struct.pack("=iII", os.getpid(), os.getuid(), os.getgid())
        sock.sendmsg([frame.pack(command, len(data), value)],
                     [(_socket.SOL_SOCKET, _socket.SCM_CREDENTIALS, credentials)])
        if data:
            sock.sendall(data)
        received = b""
        while len(received) < frame.size:
            chunk, ancillary, _flags, _addr = sock.recvmsg(
                frame.size - len(received),
                _socket.CMSG_SPACE(4 * max_fds) if max_fds else 0, _socket.MSG_CMSG_CLOEXEC)
            for level, kind, payload in ancillary:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    fds += struct.unpack(f"={len(payload) // 4}i", payload[:len(payload) // 4 * 4])
            if not chunk:
                return (None, None, b"", fds)
            received += chunk
        ret, length, value = frame.unpack(received)
        body = b""
        while 0 < length and len(body) < length:
            chunk = sock.recv(length - len(body))
            if not chunk:
                break
            body += chunk
        return ret, value, body, fds
    except (ConnectionResetError, BrokenPipeError):
        return (None, None, b"", fds)
    except TimeoutError:
        for fd in fds:
            os.close(fd)
        from ..errors import LxcError
        raise LxcError(f"LXC's command socket of {name} (@{address(lxcpath, name)[1:]}) did "
                       f"not answer within {timeout:g} s",
                       hint="its monitor hangs: ss -xlp shows which process holds the "
                            "socket") from None
    finally:
        sock.close()


def state(lxcpath, name):
    """NAME's state under LXC's monitor, or None when LXC does not run it."""
    answer = _ask(lxcpath, name, _GET_STATE)
    if answer is None:
        return None
    value = answer[1]
    if value is None:
        return "STOPPED"
    value &= 0xFFFFFFFF
    return STATES[value] if value < len(STATES) else "STOPPED"


def init_pid(lxcpath, name):
    answer = _ask(lxcpath, name, _GET_INIT_PID)
    if answer is None or answer[1] is None:
        return None
    pid = answer[1] & 0xFFFFFFFF
    return pid if 0 < pid < 1 << 22 else None


def init_pidfd(lxcpath, name):
    """A pidfd of NAME's init from the monitor that runs it (LXC's or ours: GET_INIT_PIDFD),
    or None. The caller owns it. Unlike a pid, it cannot come to name another process."""
    answer = call(lxcpath, name, COMMANDS.index("GET_INIT_PIDFD"), max_fds=1)
    if answer is None:
        return None
    ret, _value, _body, fds = answer
    for extra in fds[1:]:
        os.close(extra)
    if ret != 0 or not fds:
        if fds:
            os.close(fds[0])
        return None
    return fds[0]


def listening(lxcpath, names, unix_table):
    """Those of NAMES whose LXC command socket appears in UNIX_TABLE (/proc/net/unix)."""
    return [n for n in names if b"@" + address(lxcpath, n)[1:].encode() in unix_table]


def send_signal(init_pid, sig):
    """Signal INIT_PID through a pidfd (a recycled pid is never hit); False when gone."""
    from ..kernel import libc

    try:
        fd = libc.pidfd_open(init_pid)
    except OSError:
        return False
    try:
        libc.pidfd_send_signal(fd, sig)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def answer(lxcpath, name, command, fields):
    """Our command socket's answer for a container LXC runs, or None when LXC does not run
    NAME. What our tools need to see, wait for, enter, stop, freeze and measure it is served
    (cgroup work on the cgroups its init sits in, as liblxc does on cgroup v1); the console
    and device moves are refused with the way out."""
    from ..errors import LxcError

    current = state(lxcpath, name)
    if current is None or current == "STOPPED":
        return None
    if command == "state" and current != "RUNNING":
        return {"state": current}
    pid = init_pid(lxcpath, name)
    if pid is None:
        return None
    if command == "signal":
        send_signal(pid, int(fields["signal"]))
        return {}
    if command == "stop":
        reply = _ask(lxcpath, name, _STOP)
        if reply is not None and reply[0] is not None and reply[0] < 0:
            raise LxcError(f"LXC's monitor of {name} failed to stop it: "
                           f"{os.strerror(-reply[0])}")
        return {}
    from ..cgroups.core import Cgroups

    cgroups = Cgroups.of_process(name, pid)
    if current == "RUNNING":
        try:
            frozen = cgroups.freezer_state()
        except (OSError, LxcError, AttributeError):
            frozen = None
        if frozen in ("FROZEN", "FREEZING"):
            current = frozen  # frozen behind the monitor's back: the freezer is the truth
    if command == "state":
        return {"state": current}
    if command == "info":
        out = {"state": current, "init_pid": pid, "started_by": "lxc",
               "cgroups": cgroups.to_json()}
        if fields.get("stats"):
            out["stats"] = cgroups.stats()
        return out
    if command == "stats":
        return {"stats": cgroups.stats()}
    if command in ("freeze", "unfreeze"):
        # liblxc's way: tell the monitor (FREEZING / THAWED), write the freezer, tell the
        # outcome (FROZEN / RUNNING), so that LXC's tools and ours read the same state
        code = STATES.index
        before, after, undo = ((code("FREEZING"), code("FROZEN"), code("RUNNING"))
                               if command == "freeze" else
                               (code("THAWED"), code("RUNNING"), code("FROZEN")))
        _ask(lxcpath, name, _SERVE_STATE_CLIENTS, before)
        try:
            if command == "freeze":
                cgroups.freeze()
            else:
                cgroups.unfreeze()
        except BaseException:
            _ask(lxcpath, name, _SERVE_STATE_CLIENTS, undo)
            raise
        _ask(lxcpath, name, _SERVE_STATE_CLIENTS, after)
        return {}
    if command == "cgroup":
        if fields.get("value") is None:
            return {"value": cgroups.get(fields["key"])}
        key = fields["key"].split("lxc.cgroup2.", 1)[-1].split("lxc.cgroup.", 1)[-1]
        if key in ("devices.allow", "devices.deny") and cgroups.layout == "unified":
            add_bpf_device(lxcpath, name, key, fields["value"])
            return {}
        cgroups.set(fields["key"], fields["value"])
        return {}
    raise refusal(name, f"'{command}'")


def add_bpf_device(lxcpath, name, key, value):
    """A device rule for a container LXC runs on a cgroup2 host: its monitor owns the device
    program, so the rule goes to it (LXC_CMD_ADD_BPF_DEVICE_CGROUP with liblxc's struct
    device_item: char type; int major, minor; char access[4]; int allow; a list_head), as
    liblxc's lxc-cgroup and lxc-device send it."""
    import struct

    from ..errors import LxcError
    from ..cgroups import devices

    try:
        rule = devices.parse(key, value)
    except devices.DeviceRuleError as exc:
        raise LxcError(exc.message, hint=exc.hint) from None
    item = struct.pack(_DEVICE_ITEM, rule.type.encode(), rule.major, rule.minor,
                       rule.access.encode(), int(rule.allow), 0, 0)
    reply = _ask(lxcpath, name, _ADD_BPF_DEVICE_CGROUP, data=item)
    if reply is None or reply[0] is None:
        raise LxcError(f"LXC's monitor of {name} did not answer the device rule")
    if reply[0] < 0:
        raise LxcError(f"LXC's monitor of {name} refused the device rule {key} = {value}",
                       hint="its log (lxc-start -n NAME -l DEBUG -o FILE) says why")


def refusal(name, what):
    """The error for what only LXC's monitor of NAME can do."""
    from ..errors import LxcError

    return LxcError(f"{name} runs under real LXC's monitor (it was started with LXC's "
                    f"lxc-start): lxctools cannot {what} it",
                    hint=f"use LXC's own tool for this, or lxc-stop -n {name} and start it "
                         "again with lxctools")


def check_not_lxcs(lxcpath, name, what):
    """Raise refusal() when real LXC runs NAME (a stopped container passes)."""
    if state(lxcpath, name) not in (None, "STOPPED"):
        raise refusal(name, what)


# -- the server half: LXC's command socket of a container our supervisor runs ----------------

_LAYOUTS = {"legacy": 0, "hybrid": 1, "unified": 2}   # cgroup_layout_t
_CGROUP_MAGIC, _CGROUP2_MAGIC = 0x27E0EB, 0x63677270  # cgroupfs_type_magic_t
_DEVICES_UTILITY, _FREEZER_UTILITY = 1, 2
_CGROUP_CTX = "=iII20i4x"      # struct cgroup_ctx (aligned 8): 96 bytes
_CGROUP_FD = "=iIii64s"        # struct cgroup_fd: 80 bytes
_DEVICE_ITEM = "@cii4siPP"     # struct device_item, its list_head included: 40 bytes
_MAX_PENDING = 32              # connections that have not sent a whole request yet


class _Connection:
    """One client: its socket, what it sent so far, and what it holds once answered."""

    def __init__(self, sock, peer_ok):
        self.sock = sock
        self.peer_ok = peer_ok
        self.buf = b""
        self.creds_ok = True
        self.answered = False
        self.holds = None          # "stop", ("tty", N), ("state", wanted codes)


class Server:
    """LXC's command socket for one container a Supervisor runs, on the supervisor's loop.

    Every read is non-blocking and buffered (a client that sends half a request holds a
    connection, never the loop), each connection is answered once, file descriptors a client
    sends are closed unread, and a request that names no command of LXC 5.0 gets LXC's
    -ENOSYS. Who may ask is LXC's rule (af_unix.c): root, or the supervisor's own uid and gid;
    anyone else gets -EPERM. The supervisor's process holds one listening socket per
    container for it; connections live for one request (STOP, state and tty clients: until
    their end).
    """

    def __init__(self, supervisor):
        self.sup = supervisor
        self.listener = None
        self.conns = {}

    # -- the socket ---------------------------------------------------------------------------
    def open(self):
        """Bind LXC's address of the container. Taken means some LXC monitor (or another
        supervisor) runs a container of that lxcpath and name: the start must not go on."""
        import errno

        from ..errors import LxcError

        sock = _socket.socket(_socket.AF_UNIX,
                              _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC | _socket.SOCK_NONBLOCK)
        try:
            sock.bind(address(self.sup.lxcpath, self.sup.name))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise LxcError("Container is already running", exit_code=0,
                               hint="LXC's command socket of this container is taken: real "
                                    "LXC's monitor runs it (lxc-info with /usr/bin's tools "
                                    "tells)") from None
            raise LxcError(f"cannot bind LXC's command socket of {self.sup.name}: "
                           f"{exc.strerror}") from None
        # accepted connections inherit SO_PASSCRED: a request's credentials are always seen
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
        sock.listen(100)  # lxc_abstract_unix_open's backlog
        self.listener = sock
        self.sup.loop.register(sock, self._guarded_accept)
        return self

    def close(self):
        """The container has stopped: every connection ends (STOP's callers see their answer
        in that end, as LXC's monitor closes them when it exits)."""
        for conn in list(self.conns.values()):
            self._drop(conn)
        if self.listener is not None:
            self.sup.loop.unregister(self.listener)
            self.listener.close()
            self.listener = None

    def _guarded_accept(self, _mask):
        try:
            self._accept()
        except Exception as exc:  # noqa: BLE001 - never the supervisor's end
            from .. import log
            log.error(f"LXC's command socket of {self.sup.name}: {type(exc).__name__}: {exc}")

    def _accept(self):
        import struct

        if self.listener is None:
            return
        try:
            sock, _ = accept(self.listener)
        except OSError:
            return
        sock.setblocking(False)
        try:
            _pid, uid, gid = struct.unpack("=iII", sock.getsockopt(
                _socket.SOL_SOCKET, _socket.SO_PEERCRED, 12))
        except OSError:
            sock.close()
            return
        pending = [c for c in self.conns.values() if not c.answered]
        if len(pending) >= _MAX_PENDING:
            self._drop(pending[0])  # the oldest silent one: a flood cannot take the fds
        conn = _Connection(sock, _allowed(uid, gid) and self._peer_proved(sock))
        self.conns[sock.fileno()] = conn
        self.sup.loop.register(sock, lambda _m, c=conn: self._guarded(c))

    def _peer_proved(self, sock):
        """Whether the peer lives in our pid namespace (and user namespace, for root):
        kernel/peer.py, as on our own socket. liblxc sends no pidfd of itself: the kernel's
        is the proof (by its pid on a kernel without one). A refused peer gets LXC's EPERM
        at its request, and the log says why."""
        import struct

        from ..kernel import peer

        try:
            peer.check(sock, by_pid=True)
        except peer.Refused as exc:
            from .. import log
            pid = struct.unpack("=i", sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED,
                                                      12)[:4])[0]
            said = f"LXC's command socket of {self.sup.name} refused pid {pid}: {exc}"
            log.error(said)
            peer.report(said)
            return False
        return True

    def _guarded(self, conn):
        """Whatever a client sends, the supervisor lives on: a failure is logged and costs
        only that connection."""
        try:
            self._readable(conn)
        except Exception as exc:  # noqa: BLE001 - see above
            from .. import log
            log.error(f"LXC's command socket of {self.sup.name}: {type(exc).__name__}: {exc}")
            self._drop(conn)

    def _drop(self, conn):
        fileno = conn.sock.fileno()
        if fileno >= 0:
            self.sup.loop.unregister(conn.sock)
            self.conns.pop(fileno, None)
        if isinstance(conn.holds, tuple) and conn.holds[0] == "tty":
            self._release_tty(conn)
        conn.holds = None
        conn.sock.close()

    def _readable(self, conn):
        import struct

        try:
            data, ancillary, _flags, _addr = conn.sock.recvmsg(
                65536, _socket.CMSG_SPACE(12) + _socket.CMSG_SPACE(4 * 16), _socket.MSG_CMSG_CLOEXEC)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        for level, kind, payload in ancillary:
            if level != _socket.SOL_SOCKET:
                continue
            if kind == _socket.SCM_RIGHTS:
                for index in range(len(payload) // 4):  # nothing is ever taken from a client
                    try:
                        os.close(struct.unpack_from("=i", payload, 4 * index)[0])
                    except OSError:
                        pass
            elif kind == _socket.SCM_CREDENTIALS and len(payload) >= 12:
                pid, uid, gid = struct.unpack_from("=iII", payload)
                # pid 0: the kernel's filler for a sender that attached none (SO_PEERCRED,
                # taken at connect, decides alone then)
                if pid and not _allowed(uid, gid):
                    conn.creds_ok = False
        if not data:
            self._drop(conn)  # the client went away (a state or tty client's end, too)
            return
        if conn.answered:
            return  # one request per connection; later bytes are not read as commands
        conn.buf += data
        if not (conn.peer_ok and conn.creds_ok):
            self._finish(conn, _answer(-_errno("EPERM")))
            return
        size = struct.calcsize(_HEADER)
        if len(conn.buf) < size:
            return
        command, datalen, value = struct.unpack_from(_HEADER, conn.buf)
        if datalen > _DATA_MAX:
            self._drop(conn)  # LXC drops such a request unanswered
            return
        datalen = max(datalen, 0)
        if len(conn.buf) < size + datalen:
            return
        payload = conn.buf[size:size + datalen]
        conn.answered = True
        conn.buf = b""
        try:
            outcome = self._serve(conn, command, datalen, value, payload)
        except Exception as exc:  # noqa: BLE001 - one request must never end the supervisor
            from .. import log
            log.error(f"LXC command {command} for {self.sup.name}: {type(exc).__name__}: {exc}")
            outcome = _answer(-_errno("EIO"))
        self._finish(conn, outcome)

    def _finish(self, conn, outcome):
        """OUTCOME: None (close unanswered), ("hold",) (no answer, keep), or (bytes, fds,
        keep)."""

        conn.answered = True
        if outcome is None:
            self._drop(conn)
            return
        if outcome[0] == "hold":
            return
        message, fds, keep, opened = outcome
        try:
            if fds:
                import array
                conn.sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                               array.array("i", fds))],
                                  _socket.MSG_NOSIGNAL | _socket.MSG_DONTWAIT)
            else:
                conn.sock.send(message, _socket.MSG_NOSIGNAL | _socket.MSG_DONTWAIT)
        except OSError:
            keep = False
        finally:
            for fd in opened:
                os.close(fd)  # opened for this answer only (cgroup directories)
        if not keep:
            self._drop(conn)

    # -- states -------------------------------------------------------------------------------
    def state_changed(self, state):
        """Tell the state clients (real lxc-wait, liblxc's wait) that want STATE, then let
        them go, as lxc_serve_state_clients does."""
        import struct

        if state not in STATES:
            return
        code = STATES.index(state)
        message = struct.pack(_MSG, 0, self.sup.name.encode()[:255], code)
        for conn in list(self.conns.values()):
            holds = conn.holds
            if isinstance(holds, tuple) and holds[0] == "state" and code in holds[1]:
                try:
                    conn.sock.send(message, _socket.MSG_NOSIGNAL | _socket.MSG_DONTWAIT)
                except OSError:
                    pass
                self._drop(conn)

    # -- the commands -------------------------------------------------------------------------
    def _serve(self, conn, command, datalen, value, data):
        if not 0 <= command < len(COMMANDS):
            return _answer(-_errno("ENOSYS"))
        handler = getattr(self, "_cmd_" + COMMANDS[command].lower())
        return handler(conn, datalen, value, data)

    def _cmd_get_state(self, _conn, _datalen, _value, _data):
        return _answer(0, STATES.index(self.sup.current_state()))

    def _cmd_get_init_pid(self, _conn, _datalen, _value, _data):
        return _answer(0, self.sup.init_pid)

    def _cmd_get_init_pidfd(self, _conn, _datalen, _value, _data):
        if self.sup.init_pidfd < 0:
            return _answer(-_errno("EBADF"))
        return _answer(0, fds=[self.sup.init_pidfd])

    def _cmd_get_clone_flags(self, _conn, _datalen, _value, _data):
        plan = getattr(self.sup, "plan", None)
        if plan is not None:
            flags = plan.clone_flags
        else:  # adopted after a supervisor crash: the same computation from the same config
            from ..spawn.payload import clone_flags
            flags = clone_flags(self.sup.conf)
        return _answer(0, flags)

    def _cmd_get_name(self, _conn, _datalen, _value, _data):
        return _answer(0, data=self.sup.name.encode() + b"\0")

    def _cmd_get_lxcpath(self, _conn, _datalen, _value, _data):
        return _answer(0, data=self.sup.lxcpath.encode() + b"\0")

    def _cmd_get_config_item(self, _conn, _datalen, _value, data):
        """liblxc's getter text of a key of the running config; -1 for an unknown or empty
        one. (LXC 5.0.2's monitor dies on a request without a key; ours answers -1.)"""
        key = _string(data)
        text = None
        if key:
            text = self._config_text(key)
        if not text:
            return _answer(-1)
        return _answer(0, data=text.encode() + b"\0")

    def _config_text(self, key):
        from ..config.model import getter_text
        from ..errors import LxcError

        import re
        match = re.fullmatch(r"lxc\.net\.(\d+)\.veth\.pair", key)
        if match:
            # liblxc reports the host side's name the start gave it when none was configured
            for nic in self.sup.network_json() or []:
                if isinstance(nic, dict) and str(nic.get("index")) == match.group(1) \
                        and nic.get("host_name"):
                    return nic["host_name"]
        try:
            return getter_text(self.sup.conf, key)
        except LxcError:
            return None

    def _cmd_add_state_client(self, conn, datalen, _value, data):
        import struct

        if datalen != 4 * len(STATES):
            return _answer(-_errno("EINVAL"))
        wanted = struct.unpack(f"={len(STATES)}i", data)
        current = STATES.index(self.sup.current_state())
        if wanted[current] == 1:
            return _answer(current, current)  # already there: the client reads it and goes
        conn.holds = ("state", {i for i, w in enumerate(wanted) if w})
        return _answer(len(STATES), len(STATES), keep=True)

    def _cmd_serve_state_clients(self, _conn, _datalen, value, _data):
        """liblxc's freeze and unfreeze tell the monitor what they do to the freezer. Only
        those states are passed on: a client cannot make this supervisor's waiters believe
        the container stopped."""
        state = value & 0xFFFFFFFF
        if state >= len(STATES):
            return _answer(-_errno("EINVAL"))
        if STATES[state] in ("FREEZING", "FROZEN", "THAWED", "RUNNING"):
            self.sup.notify(STATES[state])
        return _answer(0)

    def _cmd_stop(self, conn, _datalen, _value, _data):
        """lxc.signal.stop (SIGKILL by default) to init, the container thawed; no answer: the
        connection ends once the container has stopped (Server.close), which is what
        liblxc's lxc_cmd_stop waits for."""
        import signal

        from ..kernel import libc

        sup = self.sup
        if sup.init_pidfd < 0:
            return _answer(-_errno("ESRCH"))
        try:
            libc.pidfd_send_signal(sup.init_pidfd, int(sup.conf.value("lxc.signal.stop")
                                                       or signal.SIGKILL))
        except OSError as exc:
            return _answer(-(exc.errno or _errno("ESRCH")))
        sup.stop_requested = True  # not a reboot: the supervisor lets it go
        if sup.cgroups is not None:
            try:
                sup.cgroups.unfreeze()
            except Exception:  # noqa: BLE001 - LXC only warns
                pass
        conn.holds = "stop"
        return ("hold",)

    def _cmd_get_cgroup(self, _conn, datalen, _value, data, limit=False):
        placed = self._hierarchy(_string(data) if datalen > 0 else None)
        if placed is None:
            return None  # LXC closes without an answer
        directory = placed.limit if limit else placed.payload
        rel = os.path.relpath(directory, placed.h.mountpoint)
        return _answer(0, data=("/" + rel if rel != "." else "/").encode() + b"\0")

    def _cmd_get_limit_cgroup(self, conn, datalen, value, data):
        return self._cmd_get_cgroup(conn, datalen, value, data, limit=True)

    def _cmd_get_cgroup_ctx(self, _conn, datalen, _value, data):
        """lxc-attach's way into the cgroups: one directory fd per hierarchy (O_PATH, opened
        for this answer), which it writes cgroup.procs beneath (v2: its .lxc leaf)."""
        import struct

        cgroups = self.sup.cgroups
        layout = _LAYOUTS.get(getattr(cgroups, "layout", None), -1)
        dirs = [p.payload for p in (cgroups.placed if cgroups is not None else ())
                if p.payload][:20]
        fds = []
        try:
            for directory in dirs:
                fds.append(os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            return _answer(-_errno("ENOENT"))
        size = struct.calcsize(_CGROUP_CTX)
        body = struct.pack(_CGROUP_CTX, layout, self._utilities(), len(fds),
                           *(fds + [0] * (20 - len(fds))))
        body = body[:min(size, max(datalen, 0))]
        if not fds:
            return _answer(-_errno("ENOENT"), data=body)
        return _answer(0, data=body, fds=fds, close=fds)

    def _cmd_get_cgroup_fd(self, _conn, datalen, _value, data, limit=False):
        import struct

        size = struct.calcsize(_CGROUP_FD)
        if len(data) > size and any(data[size:]):
            return _answer(-_errno("E2BIG"))
        layout, utilities, kind, _fd, controller = struct.unpack(
            _CGROUP_FD, data[:size].ljust(size, b"\0"))
        controller = controller.split(b"\0", 1)[0].decode("utf-8", "replace")
        if not controller:
            return _answer(-_errno("EINVAL"))
        placed = self._hierarchy(controller)
        if placed is None:
            return _answer(-_errno("ENOENT"))
        magic = _CGROUP2_MAGIC if placed.h.version == 2 else _CGROUP_MAGIC
        if kind not in (0, magic):
            return _answer(-_errno("EINVAL"))
        try:
            fd = os.open(placed.limit if limit else placed.payload,
                         os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return _answer(-_errno("EBADF"))
        utilities = self._utilities() if placed.h.version == 2 else 0
        body = struct.pack(_CGROUP_FD, _LAYOUTS.get(self.sup.cgroups.layout, -1), utilities,
                           magic, fd, controller.encode()[:63])
        return _answer(0, data=body[:min(size, datalen)], fds=[fd], close=[fd])

    def _cmd_get_limit_cgroup_fd(self, conn, datalen, value, data):
        return self._cmd_get_cgroup_fd(conn, datalen, value, data, limit=True)

    def _cmd_get_cgroup2_fd(self, _conn, _datalen, _value, _data, limit=False):
        cgroups = self.sup.cgroups
        unified = cgroups.unified() if cgroups is not None and cgroups.layout == "unified" \
            else None
        if unified is None:
            return _answer(-_errno("EINVAL"))
        try:
            fd = os.open(unified.limit if limit else unified.payload,
                         os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return _answer(-_errno("EBADF"))
        return _answer(0, fds=[fd], close=[fd])

    def _cmd_get_limit_cgroup2_fd(self, conn, datalen, value, data):
        return self._cmd_get_cgroup2_fd(conn, datalen, value, data, limit=True)

    def _cmd_freeze(self, _conn, _datalen, value, _data, freeze=True):
        """Only where LXC's monitor freezes (a unified layout); elsewhere liblxc writes the v1
        freezer itself between SERVE_STATE_CLIENTS notes."""
        cgroups = self.sup.cgroups
        if cgroups is None or cgroups.layout != "unified":
            return _answer(-_errno("ENOENT"))
        timeout = _signed32(value)
        try:
            if freeze:
                cgroups.freeze(timeout=None if timeout < 0 else min(timeout, 60) or 10)
            else:
                cgroups.unfreeze()
        except OSError as exc:
            return _answer(-(exc.errno or _errno("EIO")))
        except Exception:  # noqa: BLE001 - LxcError: did not freeze in time
            return _answer(-1)
        return _answer(0)

    def _cmd_unfreeze(self, conn, datalen, value, data):
        return self._cmd_freeze(conn, datalen, value, data, freeze=False)

    def _cmd_add_bpf_device_cgroup(self, _conn, datalen, _value, data):
        """A device rule from liblxc's lxc-cgroup/lxc-device (cgroup2): applied as ours."""
        import struct

        if datalen != struct.calcsize(_DEVICE_ITEM) or self.sup.cgroups is None:
            return _answer(-_errno("EINVAL"))
        kind, major, minor, access, allow, _next, _prev = struct.unpack(_DEVICE_ITEM, data)
        kind = kind.decode("latin-1")
        access = access.split(b"\0", 1)[0].decode("latin-1")
        if kind not in "abc" or not kind or not access or set(access) - set("rwm"):
            return _answer(-1)  # LXC: the program update fails
        number = lambda n: "*" if n < 0 else str(n)  # noqa: E731
        rule = "a" if kind == "a" else f"{kind} {number(major)}:{number(minor)} {access}"
        try:
            self.sup.cgroups.set("devices.allow" if allow else "devices.deny", rule)
        except Exception:  # noqa: BLE001 - LXC answers -1 for any refusal
            return _answer(-1)
        try:
            self.sup.record()  # the device program's new id and list, for an adopter
        except Exception:  # noqa: BLE001
            pass
        return _answer(0)

    def _cmd_get_tty_fd(self, conn, _datalen, value, _data):
        """Real lxc-console: tty N's master (0: the console, -1: the first free tty), this
        client's until it disconnects; a busy or missing tty is -EBADF, as LXC."""
        sup = self.sup
        wanted = _signed32(value)
        if wanted == 0:
            if sup.console_master is None or sup.console_busy is not None:
                return _answer(-_errno("EBADF"))
            sup.console_busy = conn
            sup.unwatch_console()
            conn.holds = ("tty", 0)
            return _answer(0, 0, fds=[sup.console_master], keep=True)
        count = len(sup.tty_masters)
        if wanted < 0:
            free = [i for i in range(1, count + 1) if i not in sup.tty_busy]
            if not free:
                return _answer(-_errno("EBADF"))
            wanted = free[0]
        if wanted > count or wanted in sup.tty_busy:
            return _answer(-_errno("EBADF"))
        sup.tty_busy[wanted] = conn
        conn.holds = ("tty", wanted)
        return _answer(0, wanted, fds=[sup.tty_masters[wanted - 1]], keep=True)

    def _release_tty(self, conn):
        sup = self.sup
        number = conn.holds[1]
        if number == 0:
            if sup.console_busy is conn:
                sup.console_busy = None
                if sup.console_master is not None:
                    sup.watch_console()
        elif sup.tty_busy.get(number) is conn:
            del sup.tty_busy[number]

    def _cmd_terminal_winch(self, _conn, _datalen, _value, _data):
        return None  # "should never be called": LXC closes unanswered

    def _cmd_console_log(self, _conn, _datalen, _value, _data):
        return _answer(-_errno("EFAULT"))  # no ring buffer (lxc.console.buffer.size = 0)

    def _cmd_seccomp_notify_add_listener(self, _conn, _datalen, _value, _data):
        return _answer(-_errno("EINVAL"))  # no seccomp proxy (LXC: "No seccomp proxy fd")

    def _cmd_get_seccomp_notify_fd(self, _conn, _datalen, _value, _data):
        return _answer(-_errno("EBADF"))

    def _cmd_get_devpts_fd(self, _conn, _datalen, _value, _data):
        # LXC's answer when its monitor holds no devpts: lxc-attach then makes its pty on the
        # host (its own fallback); ours makes it in the container's devpts
        return _answer(-_errno("EBADF"))

    def _cmd_get_systemd_scope(self, _conn, _datalen, _value, _data):
        return _answer(-_errno("EINVAL"))

    # -- helpers ------------------------------------------------------------------------------
    def _hierarchy(self, controller):
        """The placed hierarchy LXC's get_hierarchy() would pick for CONTROLLER (None: an
        empty cgroup2 hierarchy)."""
        cgroups = self.sup.cgroups
        if cgroups is None:
            return None
        for p in cgroups.placed:
            if not p.payload:
                continue
            if controller is None:
                if p.h.version == 2 and not p.h.controllers:
                    return p
                continue
            if cgroups.layout == "unified" and controller in ("devices", "freezer"):
                return p if p.h.version == 2 else None
            if controller in p.h.controllers:
                return p
        return None

    def _utilities(self):
        cgroups = self.sup.cgroups
        unified = cgroups.unified() if cgroups is not None else None
        if unified is None or cgroups.layout != "unified" or not unified.limit:
            return 0
        found = _DEVICES_UTILITY
        if os.path.exists(os.path.join(unified.limit, "cgroup.freeze")):
            found |= _FREEZER_UTILITY
        return found


def _allowed(uid, gid):
    """LXC's rule (lxc_abstract_unix_rcv_credential): root, or the monitor's own ids."""
    return uid == 0 or (uid == os.getuid() and gid == os.getgid())


def _answer(ret, value=0, data=b"", fds=(), keep=False, close=()):
    import struct

    header = struct.pack(_HEADER, ret, len(data), value)
    return (header + data, list(fds), keep, list(close))


def _errno(name):
    import errno
    return getattr(errno, name)


def _string(data):
    """A request's C string: up to its first NUL, None when it is not UTF-8."""
    try:
        return data.split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _signed32(value):
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
