"""Every libc call lxctools makes, through ctypes. Auditable on one screen.

Each wrapper raises OSError(errno, message naming the object) on failure so callers can add
context and the CLI can print one clear line.
"""

import ctypes
import os

from .syscalls import number as _nr  # the calls glibc has no wrapper for, per architecture


def _load_libc():
    # ctypes.util.find_library runs ldconfig: 5-10 ms on every command. glibc's soname first.
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library
        return ctypes.CDLL(find_library("c"), use_errno=True)


_libc = _load_libc()

# clone/unshare/setns flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# the order a process joins a running container's namespaces in (attach, the entry helper's
# plan): user first (it grants the rights for the rest), mount last (the host's files are
# gone after it)
JOIN_ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt")

NAMESPACE_FLAGS = {
    "mnt": CLONE_NEWNS, "pid": CLONE_NEWPID, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC,
    "net": CLONE_NEWNET, "user": CLONE_NEWUSER, "cgroup": CLONE_NEWCGROUP, "time": CLONE_NEWTIME,
}

# mount flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def _check(result, what):
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(value):
    return None if value is None else os.fsencode(value)


def mount(source, target, fstype=None, flags=0, data=None):
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount {source} on {target}" + (f" ({fstype})" if fstype else ""))


def umount(target, flags=0):
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def open_tree(path, flags=OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC):
    """An fd of a detached copy of the mount at PATH (a bind mount not attached anywhere)."""
    return _check(_libc.syscall(_nr("open_tree"), ctypes.c_int(AT_FDCWD), _b(path),
                                ctypes.c_uint(flags)), f"open_tree {path}")


def move_mount_fd(fd, target):
    """Attach the detached mount FD (open_tree) at TARGET, in the caller's mount namespace."""
    _check(_libc.syscall(_nr("move_mount"), ctypes.c_int(fd), b"", ctypes.c_int(AT_FDCWD),
                         _b(target), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)),
           f"move_mount onto {target}")


def move_mount_at(fd, dir_fd, name):
    """Attach the detached mount FD at NAME in the directory DIR_FD: one component, no path
    walked, a symlink there not followed."""
    _check(_libc.syscall(_nr("move_mount"), ctypes.c_int(fd), b"", ctypes.c_int(dir_fd),
                         _b(name), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)),
           f"move_mount onto {name}")


def unshare(flags):
    _check(_libc.unshare(flags), "unshare")


def setns(fd, nstype=0):
    _check(_libc.setns(fd, nstype), "setns")


def pivot_root(new_root, put_old):
    _check(_libc.syscall(_nr("pivot_root"), _b(new_root), _b(put_old)), f"pivot_root {new_root}")


def sethostname(name):
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), f"sethostname {name}")


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl {option}")


def pidfd_open(pid, flags=0):
    return _check(_libc.syscall(_nr("pidfd_open"), ctypes.c_int(pid), ctypes.c_uint(flags)),
                  f"pidfd_open {pid}")


def pidfd_pid(pidfd):
    """The pid a pidfd names now (its fdinfo's Pid:), -1 once that process has exited.
    Read raw (os.read, no text layer): the supervisor reads it for each caller."""
    fd = os.open(f"/proc/self/fdinfo/{pidfd}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = b"\n" + os.read(fd, 4096)
    finally:
        os.close(fd)
    at = data.find(b"\nPid:")
    if at < 0:
        raise OSError(f"fd {pidfd} is not a pidfd")
    return int(data[at + 5:data.index(b"\n", at + 5)])


def pidfd_send_signal(pidfd, sig):
    _check(_libc.syscall(_nr("pidfd_send_signal"), ctypes.c_int(pidfd), ctypes.c_int(sig), None,
                         ctypes.c_uint(0)), f"pidfd_send_signal {sig}")


def set_no_new_privs():
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_pdeathsig(sig):
    prctl(PR_SET_PDEATHSIG, sig)


def die_with_parent():
    """preexec_fn for helpers (rsync, cp, mkfs): a kill -9 of the lxc-* tool that runs them
    must not leave them writing into a half-made container that the next lookup removes."""
    import signal

    set_pdeathsig(signal.SIGKILL)


def set_child_subreaper():
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_dumpable(flag):
    prctl(PR_SET_DUMPABLE, 1 if flag else 0)


def set_process_name(name):
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _check(_libc.prctl(PR_SET_NAME, ctypes.cast(buf, ctypes.c_void_p).value or 0, 0, 0, 0),
           "prctl PR_SET_NAME")


def _arg_area():
    """(arg_start, arg_end) of this process (/proc/self/stat fields 48 and 49)."""
    with open("/proc/self/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return int(fields[45]), int(fields[46])


def set_cmdline(title):
    """Make /proc/self/cmdline (what ps and pkill -f see) read TITLE, as LXC's monitor shows
    "[lxc monitor] LXCPATH NAME": written over this process's original arguments through
    /proc/self/mem (CPython works on its own copies of them), cut to their length; the rest
    of that area is zeroed. LXC points the kernel at a buffer of its own instead (PR_SET_MM),
    which needs CAP_SYS_RESOURCE: not every root has it (this project's CI does not), a
    user never. Returns what was written; OSError when the area cannot be written."""
    data = title.encode("utf-8", "surrogateescape")
    start, end = _arg_area()
    room = end - start
    if room < 2:
        raise OSError(22, "no argument area to write a title over")
    data = data[:room - 1]
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        mem.seek(start)
        mem.write(data.ljust(room, b"\0"))
    return data.decode("utf-8", "replace")


def drop_bounding_cap(cap):
    prctl(PR_CAPBSET_DROP, cap)


def in_bounding_set(cap):
    return prctl(PR_CAPBSET_READ, cap) == 1


_libc.personality.argtypes = [ctypes.c_ulong]
_libc.personality.restype = ctypes.c_int

PER_LINUX = 0x0000
PER_LINUX32 = 0x0008


def personality(persona):
    """Set the execution domain (lxc.arch / lxc-attach -a: linux32 on a 64-bit host)."""
    return _check(_libc.personality(persona), "personality")


TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty_in(devpts_dir):
    """A pty pair from the devpts instance mounted at DEVPTS_DIR (a container's, reached
    through /proc/PID/root): (master fd, slave fd, slave number)."""
    import fcntl
    import struct

    master = os.open(os.path.join(devpts_dir, "ptmx"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        slave = os.open(os.path.join(devpts_dir, str(number)), os.O_RDWR | os.O_NOCTTY)
    except OSError:
        os.close(master)
        raise
    return master, slave, number


# struct statfs: f_type (a long) comes first; the whole struct is 120 bytes on 64-bit Linux.
_STATFS_SIZE = 256
_libc.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
_libc.fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]


def statfs_type(path):
    """The filesystem magic number (statfs f_type) of PATH."""
    buf = ctypes.create_string_buffer(_STATFS_SIZE)
    _check(_libc.statfs(_b(path), buf), f"statfs {path}")
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def fstatfs_type(fd):
    buf = ctypes.create_string_buffer(_STATFS_SIZE)
    _check(_libc.fstatfs(fd, buf), f"fstatfs {fd}")
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


# inotify (monitor/linger.py: a lingering supervisor's lxcpath)
IN_MOVE_SELF = 0x00000800
IN_DELETE_SELF = 0x00000400
IN_UNMOUNT = 0x00002000
IN_ONLYDIR = 0x01000000
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]


def inotify_init1(flags):
    return _check(_libc.inotify_init1(flags), "inotify_init1")


def inotify_add_watch(fd, path, mask):
    return _check(_libc.inotify_add_watch(fd, _b(path), mask), f"inotify_add_watch {path}")


# posix_spawn (idmap/userns.py: newuidmap and newgidmap on every unprivileged start). The
# opaque posix_spawn_file_actions_t (80 bytes), posix_spawnattr_t (336) and sigset_t (128)
# of glibc on 64-bit Linux, given room to spare; only glibc reads them.
_SPAWN_ACTIONS_SIZE = 256
_SPAWN_ATTR_SIZE = 512
_SIGSET_SIZE = 128
POSIX_SPAWN_SETSIGDEF = 0x04
_closefrom = getattr(_libc, "posix_spawn_file_actions_addclosefrom_np", None)  # glibc 2.34
_libc.posix_spawnp.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ctypes.c_void_p,
                               ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]


def can_spawn():
    """Whether spawn() can close every descriptor but stdio in the child (as subprocess's
    close_fds): glibc 2.34 on. Without it, callers use subprocess."""
    return _closefrom is not None


def spawn(argv, stdout, stderr):
    """Run ARGV (its first word looked up in PATH) with this process's environment and stdin,
    STDOUT and STDERR (fds) as its stdout and stderr, every other descriptor closed and
    SIGPIPE and SIGXFSZ back to their defaults (Python ignores them; ignored stays ignored
    across exec): what subprocess.Popen(argv, stdout=, stderr=) does, without its Python
    half (pipes for its own error report, selectors, decoding). The child's pid; OSError
    (FileNotFoundError when ARGV[0] is not found) naming ARGV[0] as Popen's would."""
    import signal

    actions = ctypes.create_string_buffer(_SPAWN_ACTIONS_SIZE)
    attr = ctypes.create_string_buffer(_SPAWN_ATTR_SIZE)
    defaults = ctypes.create_string_buffer(_SIGSET_SIZE)
    words = [os.fsencode(word) for word in argv]
    args = (ctypes.c_char_p * (len(words) + 1))(*words, None)
    environ = ctypes.c_void_p.in_dll(_libc, "environ")
    pid = ctypes.c_int()
    failed = _libc.posix_spawn_file_actions_init(actions)  # an errno, as posix_spawn's
    if failed:
        raise OSError(failed, f"posix_spawn of {argv[0]}: {os.strerror(failed)}")
    try:
        _libc.posix_spawnattr_init(attr)
        try:
            _libc.sigemptyset(defaults)
            for signum in (signal.SIGPIPE, signal.SIGXFSZ):
                _libc.sigaddset(defaults, int(signum))
            failed = (_libc.posix_spawnattr_setsigdefault(attr, defaults)
                      or _libc.posix_spawnattr_setflags(attr, ctypes.c_short(POSIX_SPAWN_SETSIGDEF))
                      or _libc.posix_spawn_file_actions_adddup2(actions, stdout, 1)
                      or _libc.posix_spawn_file_actions_adddup2(actions, stderr, 2)
                      or _closefrom(actions, 3))
            if failed:
                raise OSError(failed, f"posix_spawn of {argv[0]}: {os.strerror(failed)}")
            failed = _libc.posix_spawnp(ctypes.byref(pid), words[0], actions, attr, args,
                                        environ)
        finally:
            _libc.posix_spawnattr_destroy(attr)
    finally:
        _libc.posix_spawn_file_actions_destroy(actions)
    if failed:
        raise OSError(failed, os.strerror(failed), argv[0])
    return pid.value
