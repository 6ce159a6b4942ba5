"""Containers that real LXC started: a user who puts lxctools on PATH may have some running
under LXC's own `[lxc monitor]` (started before the switch, or by lxc.service at boot). Our
tools must see them as running -- never start a second init on the same rootfs -- and can
stop them, wait for them and read their state and init pid through LXC's command socket.

What is read of LXC 5.0 (src/lxc/commands.[ch]): the abstract socket
`@LXCPATH/NAME/command` (or `@lxc/FNV1A64(LXCPATH/NAME)/command` when that does not fit
sun_path); a request is the C struct {int cmd; int datalen; void *data} sent with
SCM_CREDENTIALS; the answer {int ret; int datalen; void *data}, where GET_STATE and
GET_INIT_PID carry their value in `data` itself (as does a request's small argument);
STOP answers nothing and closes the connection once init got its stop signal;
SERVE_STATE_CLIENTS sets the state the monitor reports, as liblxc's freeze does around its
write of the freezer (v1: the monitor does not freeze).
"""

import _socket
import os

from .commands import STATES, fnv64

_STOP, _GET_STATE, _GET_INIT_PID, _SERVE_STATE_CLIENTS = 2, 3, 4, 12
_ADD_BPF_DEVICE_CGROUP = 14
_SUN_PATH = 108


def address(lxcpath, name):
    path = f"{lxcpath}/{name}/command"
    if len(path.encode()) >= _SUN_PATH - 2:
        path = f"lxc/{fnv64(f'{lxcpath}/{name}')}/command"
    return "\0" + path


def _ask(lxcpath, name, command, value=0, timeout=10.0, data=b""):
    """(ret, value) of LXC's answer; None when no LXC monitor serves NAME; (None, None) when
    it closed the connection without an answer (STOP's way, or it stopped meanwhile). DATA,
    when given, follows the request (its datalen), as liblxc sends a command's payload."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(address(lxcpath, name))
        except (ConnectionRefusedError, FileNotFoundError):
            return None  # the common case: a stopped container or one of ours
        import struct

        frame = struct.Struct("=iiQ")
        credentials = struct.pack("=iII", os.getpid(), os.getuid(), os.getgid())
        sock.sendmsg([frame.pack(command, len(data), value)],
                     [(_socket.SOL_SOCKET, _socket.SCM_CREDENTIALS, credentials)])
        if data:
            sock.sendall(data)
        data = b""
        while len(data) < frame.size:
            chunk = sock.recv(frame.size - len(data))
            if not chunk:
                return (None, None)
            data += chunk
        ret, _length, value = frame.unpack(data)
        return ret, value
    except (ConnectionResetError, BrokenPipeError):
        return (None, None)
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


def listening(lxcpath, names, unix_table):
    """Those of NAMES whose LXC command socket appears in UNIX_TABLE (/proc/net/unix)."""
    return [n for n in names if b"@" + address(lxcpath, n)[1:].encode() in unix_table]


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
        from .control import send_signal

        send_signal(pid, int(fields["signal"]))
        return {}
    if command == "stop":
        reply = _ask(lxcpath, name, _STOP)
        if reply is not None and reply[0] is not None and reply[0] < 0:
            raise LxcError(f"LXC's monitor of {name} failed to stop it: "
                           f"{os.strerror(-reply[0])}")
        return {}
    from .cgroups.core import Cgroups

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
    from .cgroups import devices

    try:
        rule = devices.parse(key, value)
    except devices.DeviceRuleError as exc:
        raise LxcError(exc.message, hint=exc.hint) from None
    item = struct.pack("@cii4siPP", rule.type.encode(), rule.major, rule.minor,
                       rule.access.encode(), int(rule.allow), 0, 0)
    reply = _ask(lxcpath, name, _ADD_BPF_DEVICE_CGROUP, data=item)
    if reply is None or reply[0] is None:
        raise LxcError(f"LXC's monitor of {name} did not answer the device rule")
    if reply[0] < 0:
        raise LxcError(f"LXC's monitor of {name} refused the device rule {key} = {value}",
                       hint="its log (lxc-start -l DEBUG -o FILE) says why")


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
