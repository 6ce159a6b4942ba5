"""What the container side of a start uses: the sync socket, limits, ids, the init's exec.

The two processes the supervisor forks, the spawner (C1: joins and unshares the namespaces,
forks PID 1) and the container's PID 1 (C2: builds the filesystem, pivots, sets hostname,
sysctls and limits, applies the security settings, execs the container's init), run their
steps of the start plan (startplan.py); the pieces those steps call are here, with the
namespace flags (clone_flags) the supervisor, --explain and LXC's socket read too.

Both talk to the supervisor over one SOCK_SEQPACKET socket (sync.py). Nothing here returns
to the supervisor's code: each process ends in exec or os._exit, reporting failures as
{"error", "hint"} first (_fail). What runs after pivot_root must be imported before it
(the host's files are gone then): this module and startplan.py import it up front (the
start hooks' subprocess only when there are any: startplan.Plan)."""

import _socket
import fcntl  # noqa: F401 - everything used after pivot_root must be imported before it
import os
import resource  # noqa: F401
import signal
import termios  # noqa: F401

from ..errors import LxcError
from ..kernel import libc
from ..kernel import fdlimit
from .sync import Failed

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

NS_FLAGS = {"mnt": libc.CLONE_NEWNS, "pid": libc.CLONE_NEWPID, "uts": libc.CLONE_NEWUTS,
            "ipc": libc.CLONE_NEWIPC, "net": libc.CLONE_NEWNET, "cgroup": libc.CLONE_NEWCGROUP,
            "user": libc.CLONE_NEWUSER, "time": libc.CLONE_NEWTIME}
# lxc.namespace.clone/keep spell them this way
NS_CONFIG_NAMES = {"mount": "mnt", "mnt": "mnt", "pid": "pid", "uts": "uts", "ipc": "ipc",
                   "net": "net", "network": "net", "cgroup": "cgroup", "user": "user",
                   "time": "time"}


DEFAULT_NAMESPACES = ("mnt", "pid", "uts", "ipc", "net", "cgroup")


def clone_flags(conf):
    """The CLONE_NEW* flags of the namespaces the container gets (lxc.namespace.clone,
    .keep and .share, lxc.idmap, a sole "none" NIC)."""
    names = set(DEFAULT_NAMESPACES)
    if conf.value("lxc.idmap"):
        names.add("user")
    clone = conf.value("lxc.namespace.clone")
    keep = conf.value("lxc.namespace.keep")
    if clone:
        names = {NS_CONFIG_NAMES.get(n, n) for n in _words(clone)}
        if conf.value("lxc.idmap"):
            names.add("user")
    if keep:
        names -= {NS_CONFIG_NAMES.get(n, n) for n in _words(keep)}
    for kind, _value in conf.family("lxc.namespace.share"):
        names.discard(NS_CONFIG_NAMES.get(kind, kind))
    types = [conf.value(f"lxc.net.{i}.type") for i in conf.nic_indices()]
    if types == ["none"]:
        names.discard("net")  # a sole "none" NIC shares the host's network namespace
    flags = 0
    for name in names:
        flags |= NS_FLAGS[name]
    return flags


def _words(value):
    if isinstance(value, list):
        return [w for v in value for w in v.split()]
    return value.split()


def _fail(sync, exc):
    try:
        if isinstance(exc, LxcError):
            sync.send(Failed(error=str(exc), hint=exc.hint))
        elif isinstance(exc, OSError):
            sync.send(Failed(
                error=f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")))
        else:
            sync.send(Failed(error=f"{type(exc).__name__}: {exc}"))
    except OSError:
        pass
    os._exit(1)


def loopback_up():
    """lo up in the container's new network namespace: what `lxc.net.N.type = empty` with
    `flags = up` asks for (LXC's lxc_netdev_up("lo")). An ioctl, not netlink: a container
    with only empty NICs never loads the network package."""
    import struct

    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack_from("16sH", fcntl.ioctl(sock, 0x8913, request))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
    except OSError as exc:
        raise LxcError(f"lxc.net.N.flags = up: cannot bring the loopback up: {exc.strerror}")\
            from None
    finally:
        sock.close()


def reset_signals():
    """Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive execve: the container's
    init must start with default dispositions and an empty mask, as after a plain fork."""
    for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                   signal.SIGCHLD, signal.SIGWINCH):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def find_program(name, path):
    if "/" in name:
        if os.access(name, os.X_OK):
            return name
        raise FileNotFoundError(2, "not found", "exec")
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(2, "not found", "exec")


def stdio_on_console(plan):
    """Init's stdio: /dev/console; the caller's own stdio when the supervisor runs in the
    foreground without a terminal (lxc-execute, lxc-start -F | ...); else /dev/null. Every
    other inherited fd is closed, but the sync socket (close-on-exec: its EOF tells the
    supervisor that exec worked), lxc-execute's init and the AppArmor attr (open_lsm).

    The console is never init's controlling terminal (O_NOCTTY: init leads a session of its
    own), as with LXC, whose init gets the console pty as stdio and then calls setsid(): a
    tty can control one session only, and the getty or shell init starts on the console
    (busybox's askfirst, a getty's setsid + TIOCSCTTY) must be able to take it, or it runs
    without job control (no ^C, ^Z, fg)."""
    fd = None
    if plan.passthrough_stdio:
        pass
    elif plan.rootfs and plan.want_console:
        fd = os.open("/dev/console", os.O_RDWR | os.O_NOCTTY)
    else:
        fd = os.open(os.devnull, os.O_RDWR)
    if fd is not None:
        for target in (0, 1, 2):
            os.dup2(fd, target)
        if fd > 2:
            os.close(fd)
    # all but the sync socket and lxc-execute's init (its sealed copy), up to the hard limit:
    # a supervisor of many containers holds descriptors above 65536
    low = 3
    lsm_fd = plan.security.lsm_fd if plan.security is not None else None
    for fd in sorted(fd for fd in (plan.sync_fd, plan.init_fd, lsm_fd) if fd is not None):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, fdlimit.ceiling())


def prlimit_values(conf):
    """[(resource number, soft, hard)] of CONF's lxc.prlimit.* keys (for attach)."""
    return [limit[:3] for limit in _prlimits(conf)]


def _prlimits(conf):
    """[(resource number, soft, hard, key, value)]: names and values were checked when the
    config was read (config/values.py)."""
    from ..config.values import prlimit_number

    values = []
    for key, value in conf.family("lxc.prlimit"):
        if key.isdigit() or key.startswith(("0x", "0X", "+")):
            which = prlimit_number(key)
        else:
            # RLIMIT_LOCKS is missing from Python's resource module (10 on every arch)
            which = getattr(resource, "RLIMIT_" + key.upper(), 10 if key == "locks" else None)
        if which is None:
            raise LxcError(f"lxc.prlimit.{key}: unknown resource", key=f"lxc.prlimit.{key}")
        soft, _, hard = value.partition(":")
        hard = hard or soft

        def number(text):
            # past 2^63 Python cannot pass it on; such a limit is unlimited in practice
            got = prlimit_number(text)
            return resource.RLIM_INFINITY if got >= 2 ** 63 else got

        values.append((which, number(soft), number(hard), key, value))
    return values


def apply_prlimits(conf, nofile=True, only=None):
    """lxc.prlimit.*: every one, or all but nofile (NOFILE false), or ONLY that one. The
    kernel may still refuse (raising a hard limit without the right)."""
    for which, soft, hard, key, value in _prlimits(conf):
        if only is not None and which != only:
            continue
        if not nofile and which == resource.RLIMIT_NOFILE:
            continue
        try:
            resource.setrlimit(which, (soft, hard))
        except (OSError, ValueError) as exc:
            raise LxcError(f"lxc.prlimit.{key} = {value}: cannot set it: "
                           f"{getattr(exc, 'strerror', None) or exc}", key=f"lxc.prlimit.{key}",
                           hint="a hard limit can only be raised by root") from None


def switch_user(conf):
    gid = conf.value("lxc.init.gid")
    uid = conf.value("lxc.init.uid")
    if gid:
        os.setgroups([])
        os.setresgid(int(gid), int(gid), int(gid))
    if uid:
        os.setresuid(int(uid), int(uid), int(uid))


_init_copies = {}  # (dev, ino, mtime) of the built init -> its sealed memfd, in this process


def init_copy():
    """lxc-execute's init, compiled (native/lxc-execinit.c): a sealed memfd copy of it, for the
    supervisor to hand to the container before it is cloned (the caller closes it); None
    where it is not built (then the Python init below, said once per boot) or not usable.

    One sealed copy per supervisor process, shared by every container it starts: sealed, it
    cannot change, and the inits of a hundred containers share its pages (~0.7 MiB)."""
    from . import entry

    path = entry.chosen(entry.INIT)
    if path is None:
        return None
    try:
        st = os.stat(path)
        key = (st.st_dev, st.st_ino, st.st_mtime_ns)
        if key not in _init_copies:
            for old in _init_copies.values():
                os.close(old)  # reinstalled meanwhile
            _init_copies.clear()
            _init_copies[key] = entry.sealed_copy(path, "lxc-init", entry.INIT_MARKER)
        return fcntl.fcntl(_init_copies[key], fcntl.F_DUPFD_CLOEXEC, 10)
    except (OSError, ValueError) as exc:
        entry.warn_python_path(f"cannot run {path}: {exc}")
        return None


def init_ids(conf):
    """(lxc.init.uid, lxc.init.gid) as numbers, None where unset."""
    uid = conf.value("lxc.init.uid")
    gid = conf.value("lxc.init.gid")
    return (int(uid) if uid else None), (int(gid) if gid else None)


def exec_init(plan, program, argv, env, sync):
    """lxc-execute: become the compiled init (native/lxc-execinit.c says what it does), so
    that nothing of the host's Python stays in the container for its life. Everything is
    done and confined already (the plan's steps, startplan.py); the init gets the sync
    socket on fd 3 (its command's exec closes it: the supervisor's sign that the command
    runs), its plan on fd 4, "init" + the command's argv, the command's environment.
    Returns only if the exec failed, by raising."""
    from . import entry  # imported by the supervisor already (init_copy): after pivot_root

    uid, gid = init_ids(plan.conf)
    read, write = os.pipe()
    os.write(write, entry.init_plan(uid, gid, program))  # a few hundred bytes: never blocks
    os.close(write)
    # out of the way first (any of them may sit at 3 or 4), then into place
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            for fd in (plan.init_fd, sync.sock.fileno(), read)]
    os.close(read)
    memfd, sync_high, plan_high = high
    os.dup2(sync_high, 3)  # inheritable
    os.dup2(plan_high, 4)
    try:
        # by fd (execveat): the memfd is reachable without /proc, and is the init's exe
        os.execve(memfd, ["init", *argv], env)
    except OSError as exc:
        # the socket _fail reports on: the fd the Sync knew may be the plan's pipe now
        sync.sock = _socket.socket(fileno=sync_high)
        raise LxcError(f"cannot run lxc-execute's init ({entry.INIT}, from its memfd): "
                       f"{exc.strerror}", hint="LXCTOOLS_ENTRY=python runs the Python init "
                       "instead (docs/SECURITY.md says what that costs)") from None


# what an init passes on to its command (as native/lxc-execinit.c, and LXC's lxc-init): every
# signal but the faults of the init itself, SIGCHLD (its own), and what cannot be caught
FORWARDED = sorted(set(signal.valid_signals()) - {
    signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGILL, signal.SIGSEGV,
    signal.SIGBUS, signal.SIGFPE, signal.SIGTRAP, signal.SIGSYS})


def minimal_init(plan, program, argv, env, sync):
    """lxc-execute where the compiled init is not built: we stay PID 1 (already in memory,
    no binary needed inside the rootfs), run the command, reap orphans, pass signals on, and
    exit with the command's status. The container can see this host python3 for its whole
    life (docs/SECURITY.md): it is confined (the plan's steps, startplan.py), holds no
    capability outside the bounding set, and is non-dumpable, so only a container root
    that keeps sys_ptrace (and sys_admin, for map_files) reaches it."""
    if plan.security is not None:
        plan.security.cut_caps()
    if not plan.clone_flags & libc.CLONE_NEWUSER:
        # In a user namespace this would shut the namespace's owner out of /proc/1 (ns files:
        # lxc-attach) until exit: the memory of this process was made by an exec on the host
        # (the spawner made it dumpable for the same reason); its root, an unprivileged uid
        # of the host, can write none of the host's files anyway.
        libc.set_dumpable(False)
    # signals wait until the handlers below can pass them on to the command
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    child = os.fork()
    if child == 0:
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            switch_user(plan.conf)
            os.execve(program, argv, env)
        except BaseException as exc:  # noqa: BLE001
            _fail(sync, exc)
    sync.sock.close()
    try:
        pidfd = os.pidfd_open(child)  # names that very process, even once its pid is reused
    except OSError:
        pidfd = None
    reaped = False

    def forward(signum, _frame):
        if reaped:
            return
        try:
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signum)
            else:
                os.kill(child, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    # kill -1 reaches every process the caller may signal in its pid namespace: only the
    # container's own init may send it (with lxc.namespace.keep/share.pid that namespace is
    # the host's or another container's; the supervisor kills what is left in our cgroup)
    is_init = os.getpid() == 1
    status = 0
    while True:
        try:
            pid, raw = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            status = raw
            reaped = True
            if not is_init:
                break
            # the command is done: everything else it left behind goes too.
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
    if os.WIFSIGNALED(status):
        # PID 1 cannot die of its child's signal: report it the shell's way
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status))
