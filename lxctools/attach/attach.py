"""lxc-attach: run a command inside a running container (lxc-behaviour.md 2.4).

Everything is decided here, before any process enters (_Plan). The caller becomes a child
subreaper and starts a transient process: the compiled entry helper (native/lxc-entry.c,
exec'd from a sealed memfd copy: spawn/entry.py), else a fork of ours. The transient is
non-dumpable from the start; it applies the container's prlimits and lxc.proc settings (its
cgroups are joined first), joins the namespaces (user first, mount last: their files were
opened before anything was joined), goes back to the caller's working directory when the
container has it, and then, still outside the container's pid namespace where nothing
inside can see it: personality, the capability bounding set, no supplementary groups, the
user namespace's root, the pty (allocated inside), the program's lookup, no_new_privs,
seccomp, -u/-g, no capability outside the bounding set. Only then does it fork the
command's process (the first one the container can see: it holds nothing its root lacks)
and exit. The command's process is then the caller's child, as with LXC's CLONE_PARENT:
nothing of ours lingers in the container's cgroup. It takes the pty as its controlling
terminal and execs. In the Python transient everything used after joining the mount
namespace is imported before: the host's files are gone then.

Terminals as LXC: when any of stdin, stdout, stderr is a tty, a pty is taken from the
container's own devpts and put in place of exactly those fds that are ttys; the others are
passed straight through (so `lxc-attach -- ls > file` writes plain lines into the file).

Size: the plan and the transient process's steps are read in the order they run, in one
place; the terminal is attach_tty.py's, the compiled helper's side entry.py's.
"""

import errno
import fcntl  # used after setns(mnt), where the host's modules are out of reach
import os
import signal
import sys
import termios

from ..errors import LxcError
from ..kernel import libc
from ..spawn import childpipe

NS_ORDER = libc.JOIN_ORDER
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ARCHES_32 = {"x86", "i386", "i486", "i586", "i686", "linux32", "armel", "armhf", "armv7l",
             "arm", "ppc", "s390", "mips", "mipsel", "armv7"}
ARCHES_64 = {"x86_64", "amd64", "linux64", "aarch64", "arm64", "ppc64", "ppc64le", "s390x",
             "mips64", "mips64el", "riscv64", "ppc64el"}
# exec errors as LXC's lxc_attach_run_command reports them
EXEC_CODES = {errno.ENOENT: 127, errno.EACCES: 126, errno.ENOEXEC: 126}


class AttachError(LxcError):
    """Attaching failed."""


class Options:
    def __init__(self, command=None, namespaces=None, elevated=(), clear_env=False,
                 keep_vars=(), set_vars=(), uid=None, gid=None, arch=None, remount=False,
                 pty_log=None, cwd=None, stdio=None, terminal=True, persona=None):
        self.command = command
        self.cwd = cwd                 # None: the caller's directory, as lxc-attach
        self.stdio = stdio             # (in, out, err) fds for the command (python-lxc's API)
        self.terminal = terminal       # False: never a pty (the API)
        self.persona = persona         # a personality(2) value instead of an -a name
        self.namespaces = namespaces   # None: every namespace the container has of its own
        self.elevated = set(elevated)  # subset of {"CAP", "CGROUP", "LSM"}
        self.clear_env = clear_env
        self.keep_vars = list(keep_vars)
        self.set_vars = list(set_vars)
        self.uid = uid
        self.gid = gid
        self.arch = arch
        self.remount = remount
        self.pty_log = pty_log


def parse_namespaces(text):
    """LXC's -s: MOUNT/NETWORK/UTSNAME (exact upper case) become mnt/net/uts, then every
    token is matched case-insensitively with /proc/PID/ns names."""
    names = []
    for token in text.split("|"):
        token = {"MOUNT": "mnt", "NETWORK": "net", "UTSNAME": "uts"}.get(token, token)
        if token.lower() not in NS_ORDER:
            raise AttachError(f"invalid namespace name {token!r}",
                              hint="use MOUNT|PID|UTSNAME|IPC|USER|NETWORK|CGROUP|TIME "
                                   "(upper case for MOUNT, NETWORK and UTSNAME)")
        names.append(token.lower())
    return names


def parse_elevated(text):
    if not text:
        return {"CAP", "CGROUP", "LSM"}
    found = set()
    for token in text.split("|"):
        if token not in ("CAP", "CGROUP", "LSM"):
            raise AttachError(f'invalid elevated privilege "{token}" requested',
                              hint="CAP, CGROUP or LSM, |-separated (-eCAP or "
                                   "--elevated-privileges='CAP|CGROUP')")
        found.add(token)
    return found


def persona_of(arch):
    """personality(2) value for an lxc.arch / -a name; None when unknown."""
    if arch in ARCHES_32:
        return libc.PER_LINUX32
    if arch in ARCHES_64:
        return libc.PER_LINUX
    return None


def container_namespaces(init_pid, wanted):
    """{name: fd} of the init's namespaces to join: those it does not share with us."""
    fds = {}
    try:
        for name in NS_ORDER:
            if wanted is not None and name not in wanted:
                continue
            theirs = f"/proc/{init_pid}/ns/{name}"
            try:
                if os.readlink(theirs) == os.readlink(f"/proc/self/ns/{name}"):
                    continue
            except FileNotFoundError:
                continue
            fds[name] = os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        for fd in fds.values():
            os.close(fd)
        raise AttachError(f"cannot open the namespaces of PID {init_pid}: {exc.strerror}",
                          hint="is the container still running? (lxc-info)") from None
    return fds


def userns_root(init_pid):
    """(uid, gid) to take on inside the container's user namespace, as LXC: its root when
    the maps have 0, else whatever the init runs as."""
    host = {}
    with open(f"/proc/{init_pid}/status") as handle:
        for line in handle:
            if line.startswith(("Uid:", "Gid:")):
                host[line[0]] = int(line.split()[1])
    ids = []
    for kind, name in (("U", "uid_map"), ("G", "gid_map")):
        found = None
        with open(f"/proc/{init_pid}/{name}") as handle:
            for line in handle:
                inner, outer, count = (int(x) for x in line.split())
                if inner <= 0 < inner + count:
                    found = 0
                    break
                if outer <= host[kind] < outer + count:
                    found = host[kind] - outer + inner
        if found is None:
            raise AttachError(f"the container's {name} maps neither root nor its init's id",
                              hint=f"check lxc.idmap (cat /proc/{init_pid}/{name})")
        ids.append(found)
    return tuple(ids)


def host_ids(init_pid, uid, gid):
    """(uid, gid) on the host of UID and GID of the container's user namespace; None when
    either is unmapped."""
    ids = []
    for name, inner_id in (("uid_map", uid), ("gid_map", gid)):
        found = None
        with open(f"/proc/{init_pid}/{name}") as handle:
            for line in handle:
                inner, outer, count = (int(x) for x in line.split())
                if inner <= inner_id < inner + count:
                    found = outer + inner_id - inner
                    break
        if found is None:
            return None
        ids.append(found)
    return tuple(ids)


def environment(conf, options):
    if options.clear_env:
        env = {k: os.environ[k] for k in options.keep_vars if k in os.environ}
        env.setdefault("PATH", DEFAULT_PATH)
    else:
        env = dict(os.environ)
    env["container"] = "lxc"
    for entry in (conf.value("lxc.environment") or []) + (
            conf.value("lxc.environment.runtime") or []):
        key, sep, value = entry.partition("=")
        env[key] = value if sep else os.environ.get(key, "")
    for entry in options.set_vars:
        key, sep, value = entry.partition("=")
        if sep:
            env[key] = value
        else:
            env.pop(key, None)  # putenv("NAME") removes NAME, as LXC's -v NAME does
    return env


def login_shell(uid):
    """The shell of UID in the container's /etc/passwd (read after joining it), else None.
    Only a regular file is read: a FIFO there must not hold the attach."""
    import stat

    try:
        fd = os.open("/etc/passwd", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        with open(fd, errors="replace") as handle:
            for line in handle:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 7 and fields[2] == str(uid) and fields[6]:
                    return fields[6]
    except OSError:
        pass
    return None


def find_program(name, path):
    if "/" in name:
        return name
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return name


def still_init(pidfd, init_pid):
    """Raise unless PIDFD still names INIT_PID.

    Everything attach reads of the container by pid (/proc/PID/ns/*, its maps, its status,
    its AppArmor label) would be another process's once init has exited and a host process
    has taken its pid: attach would then run the command in the host's namespaces as root.
    A pidfd cannot come to name another process, so: it must name INIT_PID before the first
    read and still after the last one; then everything read in between was init's."""
    if libc.pidfd_pid(pidfd) != init_pid:
        raise AttachError(f"the container's init (PID {init_pid}) exited while attaching",
                          hint="is the container still running? (lxc-info)")


def open_init_pidfd(init_pid):
    """A pidfd of INIT_PID when the monitor gave none (it serves one unless it adopted the
    container after a crash): only a pid reused between the monitor's answer and this open
    escapes the check then."""
    try:
        return libc.pidfd_open(init_pid)
    except OSError as exc:
        raise AttachError(f"cannot open the container's init (PID {init_pid}): "
                          f"{exc.strerror}", hint="is the container still running? "
                          "(lxc-info)") from None


class _Plan:
    """Everything the forked processes need, decided before the fork."""

    def __init__(self, init_pid, conf, local_conf, cgroups, options, pidfd=None):
        own = pidfd is None
        if own:
            pidfd = open_init_pidfd(init_pid)
        self.fds = {}
        try:
            still_init(pidfd, init_pid)
            self._decide(init_pid, conf, local_conf, cgroups, options)
            still_init(pidfd, init_pid)
        except BaseException:
            for fd in self.fds.values():
                os.close(fd)
            raise
        finally:
            if own:
                os.close(pidfd)

    def _decide(self, init_pid, conf, local_conf, cgroups, options):
        from .. import security

        self.options = options
        self.fds = container_namespaces(init_pid, options.namespaces)
        self.cgroups = cgroups if "CGROUP" not in options.elevated else None
        # what init gave up, the attached command gives up too (unless -e CAP keeps it)
        self.security = security.prepare(conf) if "CAP" not in options.elevated else None
        # the AppArmor label the container's init runs under, as LXC takes it (-e LSM:
        # the caller's own); only with its mount namespace, where the label's paths mean
        # what they mean to init
        self.lsm_label = None
        if "LSM" not in options.elevated and "mnt" in self.fds:
            from ..security import apparmor
            label = apparmor.label_of(init_pid)
            if label not in (None, apparmor.UNCONFINED):
                self.lsm_label = label
        self.env = environment(local_conf, options)
        self.persona = None
        if options.persona is not None:
            self.persona = options.persona
        elif options.arch:
            self.persona = persona_of(options.arch)
            if self.persona is None:
                raise AttachError(f"Invalid architecture specified: {options.arch}",
                                  hint="e.g. -a i686 (32-bit) or -a x86_64")
        else:
            self.persona = persona_of(conf.value("lxc.arch") or "")
        self.setup_ids = userns_root(init_pid) if "user" in self.fds else None
        default = self.setup_ids or (0, 0)
        self.uid = options.uid if options.uid is not None else default[0]
        self.gid = options.gid if options.gid is not None else default[1]
        self.local_conf = local_conf
        self.prlimit_values = []
        if local_conf.family("lxc.prlimit"):
            from ..spawn.payload import prlimit_values
            self.prlimit_values = prlimit_values(local_conf)
        self.proc = local_conf.family("lxc.proc")
        self.cwd = options.cwd
        if self.cwd is None:
            try:
                self.cwd = os.getcwd()
            except OSError:
                pass
        self.tty_fds = [fd for fd in (0, 1, 2) if _isatty(fd)] if options.terminal else []
        # the caller's terminal's size, set on the pty before the command runs (as LXC)
        self.winsize = _winsize(self.tty_fds[0]) if self.tty_fds else None
        # who owns a host pty handed to a user namespace's root (the fallback, as LXC)
        self.host_owner = host_ids(init_pid, self.uid, self.gid) if "user" in self.fds else None
        self.function = self.payload = None


def attach(init_pid, conf, cgroups, options, local_conf=None, pidfd=None):
    """Run OPTIONS.command in the container whose init is INIT_PID; returns its exit code.

    PIDFD: the monitor's pidfd of init (GET_INIT_PIDFD), which every read of /proc/INIT_PID
    is checked against (still_init); without it attach opens one itself.
    CONF is the running configuration (security, architecture); LOCAL_CONF the one lxc-attach
    loaded (the container's file or --rcfile), which gives the environment, prlimits and
    lxc.proc settings as with LXC. Default: CONF."""
    from ..spawn import entry

    plan = _Plan(init_pid, conf, local_conf or conf, cgroups, options, pidfd)
    libc.set_child_subreaper()
    # ^C and ^\ are for the command: without a terminal they reach the whole process group,
    # and LXC ignores them in lxc-attach itself so that its status is the command's. Before
    # the command can run: one that starts at once could be ^C'd before lxc-attach ignored
    # it (seen under load: "lxc-attach: interrupted"). The command gets them back (the entry
    # helper resets every signal, the Python path's _command too).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    # the transient's answers (command pid, pty, errors) come back over this; see entry.py
    chan, child_chan = entry.channel()
    try:
        transient = _spawn(plan, chan, child_chan, api=False)
    finally:
        child_chan.close()
        for fd in plan.fds.values():
            os.close(fd)
    try:
        master, child, message = _collect(chan, plan)
    finally:
        chan.close()
    code = _wait(transient)
    if child is not None:
        if master is not None:
            from .attach_tty import relay_until_exit
            code = relay_until_exit(master, child, plan.tty_fds, options.pty_log)
        else:
            code = _wait(child)
    elif master is not None:
        os.close(master)
    if message:
        text, _, hint = message.partition("\0")
        raise AttachError(text, hint=hint or None, exit_code=code if code else 1)
    return code


def _spawn(plan, chan, child_chan, api):
    """Start the transient process: the compiled entry helper when built (entry.py), else a
    fork of ours. Returns its pid."""
    from ..spawn import entry

    if plan.function is None:
        helper = entry.chosen()
        if helper is not None:
            try:
                pid, born = entry.spawn(helper, child_chan, plan.cgroups)
            except (OSError, ValueError) as exc:
                entry.warn_python_path(f"cannot run {helper}: {exc}")
            else:
                # cgroups from here, before the helper does anything; it waits for its plan
                try:
                    if plan.cgroups is not None and not born:
                        plan.cgroups.enter_attached(pid)
                    records, fds = entry.encode(plan, api)
                    entry.send_plan(chan, records, fds)
                except BaseException as exc:
                    chan.close()  # the helper reads end of file and leaves with status 1
                    if api and isinstance(exc, Exception):
                        _report(None, exc)  # as a transient would have: on stderr
                        return pid
                    _wait(pid)
                    if isinstance(exc, (LxcError, KeyboardInterrupt)):
                        raise
                    raise AttachError(childpipe.describe(exc)) from None
                return pid
    # the host's modules are out of reach after setns(mnt): import now what comes after
    if plan.tty_fds:
        from ..kernel import pty  # noqa: F401
        from . import attach_tty  # noqa: F401
    if plan.security is not None:
        from ..kernel import caps  # noqa: F401
        from ..security import capabilities  # noqa: F401
    pid = os.fork()
    if pid == 0:
        chan.close()
        try:
            _drop_supervisor_connections()
            _transient(plan, None if api else child_chan)
        except BaseException as exc:  # noqa: BLE001 - tell the caller, then leave
            _report(None if api else child_chan, exc)
        os._exit(1)
    return pid


def _is_supervisor_address(peer):
    """Whether PEER (a unix socket's peer address) is a supervisor's: ours (wire.socket_name:
    "\0lxctools/...") or LXC's command socket ("\0LXCPATH/NAME/command", hashed "\0lxc/...")."""
    if isinstance(peer, str):
        peer = peer.encode("utf-8", "surrogateescape")
    return peer[:1] == b"\0" and (peer.startswith((b"\0lxctools/", b"\0lxc/"))
                                  or peer.endswith(b"/command"))


def _drop_supervisor_connections():
    """This fork is seen in the container from its move into the container's pid namespace
    until its exec -- for a Python FUNCTION, for its whole life: close-on-exec closes
    nothing then, every fd of the caller is there. A connection of the caller's to a supervisor
    (Container.console_getfd's channel, kept open while its tty is used) would let the
    container's root, through pidfd_getfd with sys_ptrace, send commands that the supervisor
    takes as the proved caller's (kernel/peer.py proves a connection once). Each such fd is
    replaced by an unconnected socket, not closed: the caller's socket object still owns
    that number, and a number closed here could be reused by the function's own files and
    closed under it by that object's finalizer."""
    import _socket

    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return
    inert = None
    for fd in fds:
        if fd <= 2:
            continue
        try:
            sock = _socket.socket(fileno=fd)
        except OSError:
            continue  # not a socket (or gone: the listdir's own fd)
        try:
            if sock.family != _socket.AF_UNIX or not _is_supervisor_address(sock.getpeername()):
                continue
        except OSError:
            continue  # not connected
        finally:
            sock.detach()
        if inert is None:
            inert = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
        os.dup2(inert.fileno(), fd, inheritable=False)
    if inert is not None:
        inert.close()


def _collect(chan, plan):
    """Read the transient's answers until every copy of its end is closed (the command
    runs, or everything ended): (pty master or None, command pid or None, error or "")."""
    from ..spawn import entry

    master = child = None
    errors = []
    while True:
        msg, fds = entry.recv_fds(chan, 65536, 1)
        if not msg:
            break
        kind, body = msg[:1], msg[1:]
        if kind == b"C" and fds and master is None and _is_master(fds[0]):
            master = fds.pop()
        elif kind == b"H" and master is None and plan.tty_fds:
            from .attach_tty import host_pty
            master = host_pty(chan, plan.host_owner)
        elif kind == b"P" and body.isdigit() and child is None:
            child = int(body)
        elif kind == b"E":
            errors.append(_printable(body.decode(errors="replace")))
        for fd in fds:
            os.close(fd)  # anything else sent is never used
    return master, child, errors[0] if errors else ""


def _is_master(fd):
    from ..kernel import pty

    return pty.is_master(fd)


def _printable(text):
    """The container may have written that message: no terminal control codes reach the
    caller's terminal."""
    return "".join(c if c == "\0" or c.isprintable() else "?" for c in text)


def _winsize(fd):
    """struct winsize of the terminal FD, or None."""
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8))
    except OSError:
        return None


def _isatty(fd):
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _report(chan, exc):
    """EXC's message to the caller: over CHAN, or on stderr (API: nobody listens)."""
    if chan is None:
        text = exc if isinstance(exc, str) else str(exc)
        hint = getattr(exc, "hint", None)
        try:
            os.write(2, f"lxc-attach: {text}\n".encode()
                     + (f"lxc-attach: hint: {hint}\n".encode() if hint else b""))
        except OSError:
            pass
        return
    try:
        chan.send(b"E" + childpipe.describe(exc).encode())
    except OSError:
        pass  # lxc-attach is gone: nobody to tell


def _transient(plan, chan):
    """What native/lxc-entry.c does, in Python (its header gives the order and the reasons).

    Non-dumpable before anything: neither its memory nor its exe (the host's python3) may
    be reached through /proc from inside. All the confinement happens here, before the fork
    into the container's pid namespace: the command's process is visible there until its
    exec, and it then holds nothing the container's root lacks."""
    libc.set_dumpable(False)
    # set here, while we are still root of the host: fork passes them on (LXC sets them on
    # the attached pid from the outside)
    for which, soft, hard in plan.prlimit_values:
        import resource
        resource.setrlimit(which, (soft, hard))
    for key, value in plan.proc:
        with open("/proc/self/" + key.replace(".", "/"), "w") as handle:
            handle.write(value)
    if plan.cgroups is not None:
        plan.cgroups.enter_attached(os.getpid())
    lsm_fd = None
    if plan.lsm_label:
        # the host's /proc still: the container's label at the command's exec (fork
        # keeps it); a Python function that runs without exec switches at once (below)
        from ..security import apparmor
        if plan.function is None:
            fd = apparmor.open_exec_attr()
            try:
                apparmor.write_exec(fd, plan.lsm_label)
            finally:
                os.close(fd)
        else:
            lsm_fd = apparmor.open_current_attr()
    for name in NS_ORDER:
        if name in plan.fds:
            libc.setns(plan.fds[name], 0)
            os.close(plan.fds[name])
    if plan.cwd and ("mnt" in plan.fds or plan.options.cwd):
        try:
            os.chdir(plan.cwd)  # LXC keeps the caller's directory when the container has it
        except OSError:
            pass  # setns left us at the container's root
    if plan.persona is not None:
        libc.personality(plan.persona)
    if plan.security is not None:
        # bounding-set drops need CAP_SETPCAP: before any switch of user, as LXC
        plan.security.apply_caps()
    try:
        os.setgroups([])
    except PermissionError:
        pass  # a user namespace whose setgroups is "deny"
    if plan.setup_ids is not None:
        os.setresgid(plan.setup_ids[1], plan.setup_ids[1], plan.setup_ids[1])
        os.setresuid(plan.setup_ids[0], plan.setup_ids[0], plan.setup_ids[0])
    slave = None
    if plan.tty_fds:
        from .attach_tty import allocate_inside
        slave = allocate_inside(chan)
        if plan.winsize:
            try:
                fcntl.ioctl(slave, termios.TIOCSWINSZ, plan.winsize)
            except OSError:
                pass
        if plan.uid != (plan.setup_ids or (0, 0))[0]:
            try:
                os.fchown(slave, plan.uid, -1)  # the user's terminal is the user's
            except OSError:
                pass
    command = plan.options.command
    if plan.function is not None:
        program = None
    elif command:
        program = find_program(command[0], plan.env.get("PATH", DEFAULT_PATH))
    else:
        command = [login_shell(plan.uid) or "/bin/sh"]
        program = command[0]
    remount = plan.options.remount and "mnt" not in plan.fds
    if lsm_fd is not None:
        apparmor.change_now(lsm_fd, plan.lsm_label)  # before no_new_privs, as LXC
    if not remount:
        _confine(plan)
    pid = os.fork()
    if pid:
        if slave is not None:
            os.close(slave)
        if chan is None:
            _mirror(os.waitpid(pid, 0)[1])
        chan.send(b"P%d" % pid)
        os._exit(0)
    try:
        if remount:
            _remount_proc_sys()
            _confine(plan)
        _command(plan, slave, chan, command, program)
    except BaseException as exc:  # noqa: BLE001
        _report(chan, exc)
        os._exit(1)


def _confine(plan):
    """What the container's init gave up (no_new_privs, seccomp), then -u/-g, then no
    capability outside the bounding set."""
    if plan.security is not None:
        plan.security.apply()
    if (plan.uid, plan.gid) != (plan.setup_ids or (0, 0)):
        os.setresgid(plan.gid, plan.gid, plan.gid)
        os.setresuid(plan.uid, plan.uid, plan.uid)
    if plan.security is not None:
        plan.security.cut_caps()


def _remount_proc_sys():
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount(None, "/", None, libc.MS_SLAVE | libc.MS_REC)
    libc.umount("/proc", libc.MNT_DETACH)
    libc.mount("proc", "/proc", "proc", 0)
    try:
        libc.umount("/sys", libc.MNT_DETACH)
        libc.mount("sysfs", "/sys", "sysfs", 0)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # /sys was no mount point: leave it
            raise


def _command(plan, slave, chan, command, program):
    """The command's process, inside every namespace joined, PID namespace included."""
    if slave is not None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for target in plan.tty_fds:
            os.dup2(slave, target)
        if slave not in (0, 1, 2):
            os.close(slave)
    for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT,
                   signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    if plan.function is not None:
        _call(plan)
    _stdio(plan.options.stdio)
    try:
        os.execve(program, command, plan.env)
    except OSError as exc:
        if not plan.options.command and program != "/bin/sh":
            try:
                os.execve("/bin/sh", ["/bin/sh"], plan.env)
            except OSError:
                pass
        _report(chan, f'{exc.strerror} - Failed to exec "{command[0]}"')
        os._exit(EXEC_CODES.get(exc.errno, 255))


def start(init_pid, conf, cgroups, options, local_conf=None, function=None, payload=None,
          exec_only=False, pidfd=None):
    """python-lxc's Container.attach: start OPTIONS.command, or FUNCTION(PAYLOAD), in the
    container and return at once the pid of a process whose wait status is the command's
    (its exit code, or death by the same signal). No terminal is made; OPTIONS.stdio gives
    the command's stdin, stdout and stderr. Failures are printed on stderr, as liblxc logs
    them, and the status is then exit 1 (exit 255 for a FUNCTION that raised).

    EXEC_ONLY: FUNCTION is python-lxc's attach_run_command (OPTIONS.command holds its argv)
    or attach_run_shell (no command): the entry helper does what they do, and no Python runs
    inside the container."""
    import resource  # noqa: F401 - both used after setns(mnt): a failing FUNCTION's
    import traceback  # noqa: F401 - traceback, a command killed by a signal

    from ..spawn import entry

    options.terminal = False
    plan = _Plan(init_pid, conf, local_conf or conf, cgroups, options, pidfd)
    plan.function, plan.payload = function, payload
    if exec_only:
        if entry.chosen() is not None:
            plan.function = plan.payload = None
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the children would write the caller's pending output again
    chan, child_chan = entry.channel()
    try:
        return _spawn(plan, chan, child_chan, api=True)
    finally:
        chan.close()
        child_chan.close()
        for fd in plan.fds.values():
            os.close(fd)


def _call(plan):
    """FUNCTION(PAYLOAD) as the attached process: its int result is the exit code."""
    import traceback

    os.environ.clear()
    os.environ.update(plan.env)
    _stdio(plan.options.stdio)
    code = 255
    try:
        result = plan.function(plan.payload)
        if isinstance(result, int) and not isinstance(result, bool):
            code = result & 0xFF
    except SystemExit as exc:
        code = exc.code & 0xFF if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - shown as Python shows it, then exit 255
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _stdio(fds):
    if not fds:
        return
    for target, fd in enumerate(fds):
        if fd is not None and fd >= 0 and fd != target:
            os.dup2(fd, target)


def _mirror(status):
    """End this process as STATUS says its child ended: same exit code or same signal."""
    if os.WIFSIGNALED(status):
        import resource  # imported by start() before the fork

        signum = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the command dumped core already
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
        os.kill(os.getpid(), signum)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _wait(pid):
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)
