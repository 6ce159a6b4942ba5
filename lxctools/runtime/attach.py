"""lxc-attach: run a command inside a running container (lxc-behaviour.md 2.4).

The caller forks a child that joins the container's cgroups and namespaces (user first, mount
last: the namespace files are opened before anything is joined), forks again so the command
is inside the PID namespace, then gives up what the container's init gave up (capabilities,
no_new_privs, seccomp) unless -e keeps it, and execs. Everything the child needs after
joining the mount namespace is imported and computed before: the host's files are gone then.

With a terminal on stdin or stdout, a pty is made on the host and proxied, as LXC does;
otherwise the caller's stdio is passed straight through (redirections work).
"""

import fcntl  # noqa: F401 - used after setns(mnt)
import os
import signal
import sys
import termios  # noqa: F401

from ..errors import LxcError
from ..kernel import libc

NS_ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ARCHES_32 = {"x86", "i386", "i486", "i586", "i686", "linux32", "armel", "armhf", "armv7l",
             "arm", "ppc", "s390", "mips", "mipsel"}
ARCHES_64 = {"x86_64", "amd64", "linux64", "aarch64", "arm64", "ppc64", "ppc64le", "s390x",
             "mips64", "mips64el", "riscv64"}


class AttachError(LxcError):
    """Attaching failed."""


class Options:
    def __init__(self, command=None, namespaces=None, elevated=(), clear_env=False,
                 keep_vars=(), set_vars=(), uid=None, gid=None, arch=None, remount=False,
                 pty_log=None):
        self.command = command
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
                              hint="use MOUNT|PID|UTSNAME|IPC|USER|NETWORK|CGROUP|TIME")
        names.append(token.lower())
    return names


def parse_elevated(text):
    if not text:
        return {"CAP", "CGROUP", "LSM"}
    found = set()
    for token in text.split("|"):
        if token not in ("CAP", "CGROUP", "LSM"):
            raise AttachError(f"invalid privilege {token!r}", hint="CAP, CGROUP or LSM, |-separated")
        found.add(token)
    return found


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
        if not sep:
            raise AttachError(f"-v {entry!r}: expected VAR=VALUE")
        env[key] = value
    return env


def passwd_entry(uid):
    """(home, shell) for UID from the container's /etc/passwd (read after joining it)."""
    try:
        with open("/etc/passwd") as handle:
            for line in handle:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 7 and fields[2] == str(uid):
                    return fields[5] or "/", fields[6] or "/bin/sh"
    except OSError:
        pass
    return "/", "/bin/sh"


def find_program(name, path):
    if "/" in name:
        return name
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return name


def attach(init_pid, conf, cgroups, options):
    """Run OPTIONS.command in the container whose init is INIT_PID; returns its exit code."""
    from . import security

    if options.namespaces is not None:
        options.elevated = {"CAP", "CGROUP", "LSM"}  # -s implies -e, as LXC
    fds = container_namespaces(init_pid, options.namespaces)
    # what init gave up, the attached command gives up too (unless -e CAP keeps it)
    prepared = security.prepare(conf) if "CAP" not in options.elevated else None
    env = environment(conf, options)
    persona = None
    if options.arch:
        if options.arch in ARCHES_32:
            persona = libc.PER_LINUX32
        elif options.arch in ARCHES_64:
            persona = libc.PER_LINUX
        else:
            raise AttachError(f"unknown architecture {options.arch!r}",
                              hint="e.g. -a i686 (32-bit) or -a x86_64")
    use_pty = sys.stdin.isatty() or sys.stdout.isatty()
    master = slave = None
    if use_pty:
        master, slave = open_pty(init_pid)
    error_r, error_w = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(error_r)
        if master is not None:
            os.close(master)
        code = 1
        try:
            code = _child(fds, cgroups, options, prepared, env, persona, slave, error_w)
        except BaseException as exc:  # noqa: BLE001 - tell the caller, then leave
            _report(error_w, exc)
        os._exit(code)
    os.close(error_w)
    for fd in fds.values():
        os.close(fd)
    if slave is not None:
        os.close(slave)
    if master is not None:
        code = _proxy_until_exit(master, child, options.pty_log)
    else:
        code = _wait(child)
    message = b""
    while True:
        chunk = os.read(error_r, 4096)
        if not chunk:
            break
        message += chunk
    os.close(error_r)
    if message:
        text, _, hint = message.decode(errors="replace").partition("\0")
        raise AttachError(text, hint=hint or None, exit_code=code if code else 1)
    return code


def open_pty(init_pid):
    """A pty from the container's own devpts (so `tty` inside names a device it can see),
    else from the host's."""
    try:
        master, slave, _number = libc.open_pty_in(f"/proc/{init_pid}/root/dev/pts")
    except OSError:
        import pty
        master, slave = pty.openpty()
    os.set_inheritable(master, False)
    return master, slave


def _report(fd, exc):
    if isinstance(exc, LxcError):
        text = f"{exc}\0{exc.hint or ''}"
    elif isinstance(exc, OSError):
        text = f"{exc.strerror or exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    try:
        os.write(fd, text.encode())
    except OSError:
        pass


def _child(fds, cgroups, options, prepared, env, persona, slave, error_w):
    if cgroups is not None and "CGROUP" not in options.elevated:
        cgroups.enter(os.getpid())
    for name in NS_ORDER:
        if name in fds:
            libc.setns(fds[name], 0)
            os.close(fds[name])
    os.chdir("/")
    pid = os.fork()
    if pid:
        os.close(error_w)
        return _wait(pid)
    # the command's process: inside every namespace joined, PID namespace included
    try:
        if options.remount and "mnt" not in fds:
            libc.unshare(libc.CLONE_NEWNS)
            libc.mount(None, "/", None, libc.MS_SLAVE | libc.MS_REC)
            libc.mount("proc", "/proc", "proc", 0)
            libc.mount("sysfs", "/sys", "sysfs", 0)
        uid = options.uid if options.uid is not None else 0
        gid = options.gid if options.gid is not None else 0
        home, shell = passwd_entry(uid)
        command = options.command or [shell]
        if slave is not None:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for target in (0, 1, 2):
                os.dup2(slave, target)
            if slave > 2:
                os.close(slave)
        for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        if persona is not None:
            libc.personality(persona)
        if prepared is not None:
            # bounding-set drops need CAP_SETPCAP: before the switch of user, as LXC
            prepared.apply_caps()
        if options.gid is not None or options.uid is not None:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        try:
            os.chdir(home)
        except OSError:
            os.chdir("/")
        program = find_program(command[0], env.get("PATH", DEFAULT_PATH))
        if prepared is not None:
            prepared.apply()
        try:
            os.execve(program, command, env)
        except OSError as exc:
            os.write(error_w, f'{exc.strerror} - Failed to exec "{command[0]}"'.encode())
            os._exit(127)
    except BaseException as exc:  # noqa: BLE001
        _report(error_w, exc)
        os._exit(1)


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


def _proxy_until_exit(master, child, log_path):
    """Relay the caller's terminal to the pty until the command exits."""
    import selectors
    from .terminal import RawMode, copy_window_size, write_all

    log = open(log_path, "ab") if log_path else None
    if log is not None:
        os.fchmod(log.fileno(), 0o640)
    selector = selectors.DefaultSelector()
    selector.register(master, selectors.EVENT_READ, "out")
    stdin_open = sys.stdin.isatty()
    if stdin_open:
        selector.register(0, selectors.EVENT_READ, "in")
    if sys.stdin.isatty():
        copy_window_size(0, master)
    old = signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(0, master))
    try:
        with RawMode(0) if sys.stdin.isatty() else _Nothing():
            while True:
                for key, _mask in selector.select(timeout=0.5):
                    if key.data == "out":
                        try:
                            data = os.read(master, 65536)
                        except OSError:
                            data = b""
                        if not data:
                            return _wait(child)
                        write_all(1, data)
                        if log is not None:
                            log.write(data)
                    else:
                        data = os.read(0, 4096)
                        if not data:
                            selector.unregister(0)
                            continue
                        write_all(master, data)
                pid, status = os.waitpid(child, os.WNOHANG)
                if pid:
                    _drain(master, log)
                    if os.WIFSIGNALED(status):
                        return 128 + os.WTERMSIG(status)
                    return os.waitstatus_to_exitcode(status)
    finally:
        signal.signal(signal.SIGWINCH, old)
        selector.close()
        os.close(master)
        if log is not None:
            log.close()


def _drain(master, log):
    from .terminal import write_all
    import select
    while select.select([master], [], [], 0)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        write_all(1, data)
        if log is not None:
            log.write(data)


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
