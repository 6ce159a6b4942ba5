"""The compiled entry helper: how lxctools runs native/lxc-entry.c and what it hands over.

Between its fork and its exec, a process that enters a container is visible inside it (in
its pid namespace). If that process were the host's python3, a container's root could hold
an O_PATH fd on /proc/PID/exe (the host's interpreter) or on /proc/PID/map_files/* (the
host's libraries) and reopen them for writing later (CVE-2019-5736). So the process that
enters is lxc-entry: static (no library mapped), exec'd from a sealed memfd copy made anew
for each attach (its exe is nobody's file, and cannot be written), non-dumpable from its
first instruction. LXC does the same for lxc-attach, runc for its nsexec.

Python decides everything (attach/attach.py's _Plan) and sends it on fd 3 of the helper, a
SOCK_SEQPACKET socket, then listens on the same socket. This docstring is the one description
of that plan; native/lxc-entry.c decodes it (its `enum tag` and `enum flag` carry the same
numbers, tests/unit/test_entry_plan.py compares them).

First message: a 16-byte header, native byte order, then as much of the records as fits;
every file descriptor of the plan travels with it (SCM_RIGHTS), the records name them by
index. Further messages carry the rest of the records.

    header   "LXEP", u32 version (PLAN_VERSION), u32 length of the records, u32 fd count
    record   u32 tag, u32 length, value, zero padding to a multiple of 8

    tag  name        value
    1    FLAGS       u32: F_API 1 (python-lxc: errors on stderr, execvp semantics, the helper
                     waits and ends as the command ended), F_REMOUNT 2 (-R), F_NO_NEW_PRIVS 4,
                     F_DROP_CAPS 8 (lxc.cap.drop/keep to apply)
    2    NS          u32 fd index, u32 CLONE_NEW* type; one per namespace, in joining order
    3    STDIO       i32 x3: fd index for the command's stdin, stdout, stderr, or -1
    4    TTY         u8 each: which of fds 0, 1, 2 get the pty allocated inside
    5    PERSONA     u32 personality(2)
    6    SETUP_IDS   u32 uid, u32 gid: the user namespace's root, taken right after joining
    7    TARGET_IDS  u32 uid, u32 gid: the command's (-u/-g, else the setup ids or 0)
    8    CAPS        u64 mask of capabilities to drop; absent: capabilities untouched (-e)
    9    SECCOMP     struct sock_filter[]: the profile, compiled by libseccomp here
    10   CWD         string (NUL-terminated): the directory to try
    11   ENV         string NAME=VALUE: the command's environment, one record each
    12   ARG         string: the command's argv, one record each (none: the login shell)
    13   PRLIMIT     u32 resource, u64 soft, u64 hard
    14   PROC        string path below /proc/self, string value (lxc.proc.*)
    15   LSM         string: the AppArmor label the command execs under (the init's), set
                     with "exec LABEL" on /proc/self/attr/apparmor/exec (else attr/exec)
                     before any setns, while the host's /proc is in view; fork keeps it
    16   WINSIZE     struct winsize (u16 rows, cols, xpixel, ypixel): the caller's terminal's
                     size, given to the pty before the command runs (as LXC: a command that
                     asks its size at once, e.g. `stty size` or an editor, sees the real one)

Answers, one message each, on the same socket:
    "P" + decimal pid   the command's process (lxc-attach waits for it: it is reparented)
    "C" + fd            the master of the pty allocated inside (checked before relaying)
    "H"                 no usable devpts inside: lxc-attach answers "S" + a host pty's slave
    "E" + text [\\0 hint] why it failed (spawn/childpipe.py's form)
The socket is close-on-exec: its end of file means the command runs (or everything ended).

Where the helper is not built (no C compiler at install), attach/attach.py does the same in
Python, less well (docs/SECURITY.md): lxctools says so once per boot.

The init of lxc-execute (native/lxc-execinit.c) is the other compiled helper, for the same
reason: it is PID 1 of the container for its whole life. It runs from a sealed memfd too
(`sealed_copy`, made by the supervisor before anything is cloned), exec'd by the container's
setup process once everything is done and confined (spawn/payload.py exec_init). Its plan
is what little is left (`init_plan`), on its fd 4, a pipe: NUL-terminated fields

    INIT_MARKER, lxc.init.uid, lxc.init.gid ("-" when unset), the command's program

with argv "init" + the command's argv, the command's environment, and the start's sync
socket on fd 3.
"""

import errno
import os
import struct

PLAN_MAGIC = b"LXEP"
PLAN_VERSION = 3
MARKER = b"lxctools-entry-plan-%d\0" % PLAN_VERSION

TAG_FLAGS = 1
TAG_NS = 2
TAG_STDIO = 3
TAG_TTY = 4
TAG_PERSONA = 5
TAG_SETUP_IDS = 6
TAG_TARGET_IDS = 7
TAG_CAPS = 8
TAG_SECCOMP = 9
TAG_CWD = 10
TAG_ENV = 11
TAG_ARG = 12
TAG_PRLIMIT = 13
TAG_PROC = 14
TAG_LSM = 15
TAG_WINSIZE = 16

F_API = 1
F_REMOUNT = 2
F_NO_NEW_PRIVS = 4
F_DROP_CAPS = 8

CHUNK = 60000  # records per message after the first: well below a socket's buffer

MFD_EXEC = getattr(os, "MFD_EXEC", 0x0010)  # linux/memfd.h; os has it from Python 3.12

ENTRY = "lxc-entry"
INIT = "lxc-execinit"
INIT_MARKER = b"lxctools-init-plan-1\0"


# The socket pair and its fd passing, over _socket: socket.py's enum and selectors imports
# cost ~3 ms per attach (monitor/commands.py avoids it too).

def channel():
    """(ours, theirs): a close-on-exec SOCK_SEQPACKET pair."""
    import _socket

    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)


def send_fds(sock, data, fds):
    import _socket

    ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]
    return sock.sendmsg([data], ancillary if fds else [])


def recv_fds(sock, size, maxfds, cloexec=True):
    """(message, [fds]); the fds arrive close-on-exec, or inheritable (CLOEXEC false: as
    socket.recv_fds leaves them)."""
    import _socket

    msg, ancillary, _flags, _addr = sock.recvmsg(size, _socket.CMSG_SPACE(maxfds * 4),
                                                 _socket.MSG_CMSG_CLOEXEC if cloexec else 0)
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            count = len(data) // 4
            fds.extend(struct.unpack(f"{count}i", data[:count * 4]))
    return msg, fds


def libexec_path(name):
    """The built helper NAME beside the package (lxctools/libexec/NAME), or None: not built
    (no C compiler at install)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "libexec", name)
    return path if os.path.isfile(path) else None


def helper_path():
    """The entry helper (lxc-entry), or None: not built."""
    return libexec_path(ENTRY)


def init_path():
    """lxc-execute's init (lxc-execinit), or None: not built."""
    return libexec_path(INIT)


def chosen(which=ENTRY):
    """The helper WHICH (ENTRY or INIT) to run, or None for the Python path: not built, or
    LXCTOOLS_ENTRY=python (tests of the Python path, debugging; it covers both helpers)."""
    if os.environ.get("LXCTOOLS_ENTRY") == "python":
        return None
    path = helper_path() if which == ENTRY else init_path()
    if path is None:
        warn_python_path(f"the compiled helper {which} is not built: no C compiler at install")
    return path


def sealed_copy(path, name="lxc-attach", marker=MARKER):
    """A memfd named NAME holding the helper at PATH, sealed against any change (size and
    content), its fd above 3 (and 4); ValueError when it was built from another plan version
    (MARKER is not in it)."""
    import fcntl

    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(src, os.fstat(src).st_size + 1)
    finally:
        os.close(src)
    if marker not in data:
        raise ValueError(f"{path} speaks another plan version (rebuild: pip install .)")
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        # executable, said outright: where vm.memfd_noexec = 1 (a pid namespace's choice,
        # kernel 6.3+) a memfd made without it could not be exec'd
        fd = os.memfd_create(name, flags | MFD_EXEC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EACCES: vm.memfd_noexec = 2, no executable memfd
            raise
        fd = os.memfd_create(name, flags)  # a kernel older than MFD_EXEC
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK
                    | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
        if fd <= 4:  # fds 3 and 4 are the helpers' plan: the copy must not be there
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            fd = high
    except BaseException:
        os.close(fd)
        raise
    return fd


def spawn(path, child_sock, cgroups=None):
    """Start the helper from a sealed copy of PATH with CHILD_SOCK as its fd 3: (its pid,
    whether it was born in CGROUPS' attach cgroups). It waits for its plan (send_plan). Its
    name is lxc-attach's, as LXC's memfd is. Born there where it can be (_born: no move,
    so no wait for the kernel's grace period), else spawned and left for the caller to
    move (Cgroups.enter_attached)."""
    memfd = sealed_copy(path)
    try:
        if cgroups is not None:
            pid = _born(memfd, child_sock, cgroups)
            if pid is not None:
                return pid, True
        return os.posix_spawn(f"/proc/self/fd/{memfd}", ["lxc-attach"], {},
                              file_actions=[(os.POSIX_SPAWN_DUP2, child_sock.fileno(), 3)]), False
    finally:
        os.close(memfd)


def _born(memfd, child_sock, cgroups):
    """The helper forked into its cgroups, as the compiled front door's transient
    (lxc-front.c born_in_cgroups): by clone3 into the cgroup2 leaf, then its own "0" to each
    v1 `tasks` before the exec (kernel/clone3.py). None, nothing forked, where it cannot
    (another thread here, no clone3): the caller spawns it as before."""
    from ..errors import LxcError
    from ..kernel import clone3

    if not (clone3.single_threaded() and clone3.supported()):
        return None
    try:
        unified, tasks = cgroups.birth_fds(attach=True)
    except LxcError:
        return None  # the move after a spawn says what is wrong
    try:
        pid = clone3.fork_into(unified) if unified is not None else os.fork()
        if pid == 0:
            try:
                for fd in tasks:
                    os.write(fd, b"0")
                os.dup2(child_sock.fileno(), 3)
                os.execve(f"/proc/self/fd/{memfd}", ["lxc-attach"], {})
            except BaseException as exc:  # noqa: BLE001 - said on the channel, as the helper would
                try:
                    os.write(child_sock.fileno(), b"Ecannot enter the container's cgroups: " +
                             str(exc).encode(errors="replace") + b"\0")
                finally:
                    os._exit(1)
        return pid
    finally:
        for fd in tasks + ([unified] if unified is not None else []):
            os.close(fd)


def init_plan(uid, gid, program):
    """The init's plan (its fd 4): lxc.init.uid and lxc.init.gid (None: unset), the program."""
    def field(value):
        return b"-" if value is None else b"%d" % int(value)

    return b"".join(part + b"\0" for part in (INIT_MARKER[:-1], field(uid), field(gid),
                                               os.fsencode(program)))


def _record(tag, value):
    return struct.pack("=II", tag, len(value)) + value + b"\0" * (-len(value) % 8)


def _string(text):
    return os.fsencode(text) + b"\0"


def encode(plan, api=False):
    """(records, fds) for attach's _Plan PLAN."""
    fds = []
    out = []

    def index(fd):
        fds.append(fd)
        return len(fds) - 1

    options = plan.options
    flags = F_API if api else 0
    if options.remount and "mnt" not in plan.fds:
        flags |= F_REMOUNT
    security = plan.security
    if security is not None and security.no_new_privs:
        flags |= F_NO_NEW_PRIVS
    if security is not None and security.touch_caps:
        flags |= F_DROP_CAPS
    out.append(_record(TAG_FLAGS, struct.pack("=I", flags)))
    for limit in plan.prlimit_values:
        which, soft, hard = (v & 0xFFFFFFFFFFFFFFFF for v in limit)
        out.append(_record(TAG_PRLIMIT, struct.pack("=IQQ", which, soft, hard)))
    for key, value in plan.proc:
        out.append(_record(TAG_PROC, _string(key.replace(".", "/")) + _string(value)))
    if getattr(plan, "lsm_label", None):
        out.append(_record(TAG_LSM, _string(plan.lsm_label)))
    from ..kernel.libc import NAMESPACE_FLAGS
    from ..kernel.libc import JOIN_ORDER
    for name in JOIN_ORDER:
        if name in plan.fds:
            out.append(_record(TAG_NS, struct.pack("=II", index(plan.fds[name]),
                                                   NAMESPACE_FLAGS[name])))
    if options.stdio:
        slots = [index(fd) if fd is not None and fd >= 0 else -1 for fd in options.stdio]
        slots += [-1] * (3 - len(slots))
        out.append(_record(TAG_STDIO, struct.pack("=iii", *slots[:3])))
    if plan.tty_fds:
        out.append(_record(TAG_TTY, bytes(plan.tty_fds)))
        if getattr(plan, "winsize", None):
            out.append(_record(TAG_WINSIZE, plan.winsize))
    if plan.persona is not None:
        out.append(_record(TAG_PERSONA, struct.pack("=I", plan.persona)))
    if plan.setup_ids is not None:
        out.append(_record(TAG_SETUP_IDS, struct.pack("=II", *plan.setup_ids)))
    out.append(_record(TAG_TARGET_IDS, struct.pack("=II", plan.uid, plan.gid)))
    if security is not None:
        out.append(_record(TAG_CAPS, struct.pack("=Q", security.drop_mask())))
        if security.program is not None:
            out.append(_record(TAG_SECCOMP, security.program))
    if plan.cwd and ("mnt" in plan.fds or options.cwd):
        out.append(_record(TAG_CWD, _string(plan.cwd)))
    for key, value in plan.env.items():
        out.append(_record(TAG_ENV, _string(f"{key}={value}")))
    for arg in options.command or ():
        out.append(_record(TAG_ARG, _string(arg)))
    return b"".join(out), fds


def send_plan(sock, records, fds):
    header = PLAN_MAGIC + struct.pack("=III", PLAN_VERSION, len(records), len(fds))
    first = CHUNK - len(header)
    send_fds(sock, header + records[:first], fds)
    for start in range(first, len(records), CHUNK):
        sock.sendall(records[start:start + CHUNK])


_warned = False


def warn_python_path(reason):
    """Say once per boot (a stamp in the runtime dir, else once per process) that processes
    enter containers through Python (lxc-attach's, and lxc-execute's init: both helpers are
    built by the same compiler, or neither)."""
    global _warned
    if _warned:
        return
    _warned = True
    from .. import log, paths

    directory = os.path.join(paths.runtime_dir(), "lxctools")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(directory, "entry-helper-warned"),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.close(fd)
    except FileExistsError:
        return
    except OSError:
        pass
    log.warn(f"entering containers through Python ({reason}): the container can see the "
             "host's python3 until an attached command starts, and as lxc-execute's init; "
             "see docs/SECURITY.md")
