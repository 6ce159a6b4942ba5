"""openat2(2) (Linux 5.6): an open whose path walk the kernel confines.

lxctools runs as host root and must open paths below a container's root (its rootfs, or
/proc/PID/root) that the container controls: a symlink there must never lead to the host's
files. RESOLVE_IN_ROOT makes the kernel resolve every symlink and ".." as if the starting
directory were "/", atomically, so no swap between a check and the open can win.

`openat2` raises OSError(ENOSYS) on a kernel without it (or a seccomp policy that hides it);
kernel/rootpath.py then walks component by component with O_NOFOLLOW, same semantics.
"""

import ctypes
import os

from .libc import _libc
from .syscalls import number as _nr  # per architecture


RESOLVE_NO_XDEV = 0x01        # never cross a mount point
RESOLVE_NO_MAGICLINKS = 0x02  # never follow /proc/PID/{fd/N,root,cwd,exe,ns/*}-style links
RESOLVE_NO_SYMLINKS = 0x04    # no symlink anywhere in the path
RESOLVE_BENEATH = 0x08        # refuse (EXDEV) anything that would leave the starting dir
RESOLVE_IN_ROOT = 0x10        # the starting dir is "/" for symlinks and ".."
RESOLVE_CACHED = 0x20

# what kernel/rootpath.py uses unless told otherwise
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS

# statfs f_type values lxctools checks on what it opened
PROC_SUPER_MAGIC = 0x9FA0
DEVPTS_SUPER_MAGIC = 0x1CD1
TMPFS_MAGIC = 0x01021994
FUSE_SUPER_MAGIC = 0x65735546


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def openat2(dirfd, path, flags, mode=0, resolve=0):
    """The fd of PATH opened relative to DIRFD under RESOLVE; O_CLOEXEC is always added.
    openat2 is strict: MODE only with O_CREAT/O_TMPFILE, and O_PATH takes no other flags
    than O_DIRECTORY/O_NOFOLLOW."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & (os.O_CREAT | os.O_TMPFILE) else 0,
                   resolve)
    raw = os.fsencode(path)
    fd = _libc.syscall(ctypes.c_long(_nr("openat2")), ctypes.c_int(dirfd), ctypes.c_char_p(raw),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), os.fsdecode(raw))
    return fd


_available = None


def available():
    """Whether this kernel (and seccomp policy) lets us call openat2; asked once."""
    global _available
    if _available is None:
        try:
            os.close(openat2(-100, "/", os.O_PATH, 0, RESOLVE_IN_ROOT))
            _available = True
        except OSError as exc:
            _available = exc.errno != 38  # ENOSYS
    return _available
