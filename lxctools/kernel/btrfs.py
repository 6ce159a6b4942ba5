"""btrfs ioctls: subvolume create, snapshot, destroy, and what filesystem a path is on.

Only this module (with kernel/libc.py) talks to the kernel; storage/btrfs.py decides when.
Every call works relative to an open directory fd, so no path is resolved twice.
"""

import errno
import fcntl
import os
import struct

from . import libc

BTRFS_SUPER_MAGIC = 0x9123683E
FIRST_FREE_OBJECTID = 256  # the inode number of every subvolume's root directory

_VOL_ARGS = 4096          # struct btrfs_ioctl_vol_args: s64 fd; char name[4088]
_VOL_ARGS_V2 = 4096       # struct btrfs_ioctl_vol_args_v2: fd, transid, flags, 4 u64, name[4040]
_FS_INFO = 1024           # struct btrfs_ioctl_fs_info_args


def _iow(nr, size):
    return (1 << 30) | (size << 16) | (0x94 << 8) | nr


def _ior(nr, size):
    return (2 << 30) | (size << 16) | (0x94 << 8) | nr


BTRFS_IOC_SUBVOL_CREATE = _iow(14, _VOL_ARGS)
BTRFS_IOC_SNAP_DESTROY = _iow(15, _VOL_ARGS)
BTRFS_IOC_SNAP_CREATE_V2 = _iow(23, _VOL_ARGS_V2)
BTRFS_IOC_FS_INFO = _ior(31, _FS_INFO)

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _name(name):
    raw = os.fsencode(name)
    if not raw or b"/" in raw or raw in (b".", b".."):
        raise OSError(errno.EINVAL, f"invalid subvolume name {name!r}")
    return raw


def _ioctl(fd, request, buf, what):
    try:
        fcntl.ioctl(fd, request, buf, True)
    except OSError as exc:
        raise OSError(exc.errno, f"{what}: {os.strerror(exc.errno)}") from None


def fs_type(path):
    """statfs(PATH).f_type (the filesystem's magic number)."""
    return libc.statfs_type(path)


def is_btrfs(path):
    try:
        return fs_type(path) == BTRFS_SUPER_MAGIC
    except OSError:
        return False


def fsid(fd):
    """The 16-byte filesystem id of the btrfs filesystem FD is on (same for all subvolumes)."""
    buf = bytearray(_FS_INFO)
    _ioctl(fd, BTRFS_IOC_FS_INFO, buf, "BTRFS_IOC_FS_INFO")
    return bytes(buf[16:32])


def is_subvolume_fd(fd):
    st = os.fstat(fd)
    return st.st_ino == FIRST_FREE_OBJECTID and libc.fstatfs_type(fd) == BTRFS_SUPER_MAGIC


def subvolume_create_at(parent_fd, name):
    """Make subvolume NAME in the directory PARENT_FD."""
    buf = bytearray(_VOL_ARGS)
    raw = _name(name)
    buf[8:8 + len(raw)] = raw
    _ioctl(parent_fd, BTRFS_IOC_SUBVOL_CREATE, buf, f"creating btrfs subvolume {name}")


def snapshot_at(source_fd, parent_fd, name, readonly=False):
    """Make NAME in PARENT_FD a snapshot of the subvolume SOURCE_FD."""
    buf = bytearray(_VOL_ARGS_V2)
    struct.pack_into("=qQQ", buf, 0, source_fd, 0, 2 if readonly else 0)  # BTRFS_SUBVOL_RDONLY
    raw = _name(name)
    buf[56:56 + len(raw)] = raw
    _ioctl(parent_fd, BTRFS_IOC_SNAP_CREATE_V2, buf, f"snapshotting into {name}")


def subvolume_destroy_at(parent_fd, name):
    """Delete the subvolume NAME of directory PARENT_FD with everything in it (the kernel
    refuses with ENOTEMPTY while it holds other subvolumes)."""
    buf = bytearray(_VOL_ARGS)
    raw = _name(name)
    buf[8:8 + len(raw)] = raw
    _ioctl(parent_fd, BTRFS_IOC_SNAP_DESTROY, buf, f"deleting btrfs subvolume {name}")


def open_dir(path, dir_fd=None):
    return os.open(path, _DIR, dir_fd=dir_fd)


# Path-based forms (the image cache uses these): each raises OSError naming the object.

def _at(path, call, *args):
    parent = open_dir(os.path.dirname(os.path.abspath(path)) or "/")
    try:
        return call(*args, parent, os.path.basename(os.path.normpath(path)))
    finally:
        os.close(parent)


def is_subvolume(path):
    """Is PATH (not followed if a symlink) the root directory of a btrfs subvolume?"""
    try:
        fd = open_dir(path)
    except OSError:
        return False
    try:
        return is_subvolume_fd(fd)
    except OSError:
        return False
    finally:
        os.close(fd)


def on_btrfs(path):
    """Is the existing directory PATH on a btrfs filesystem?"""
    return is_btrfs(path)


def create_subvolume(path):
    _at(path, subvolume_create_at)


def delete_subvolume(path):
    """Delete the subvolume PATH with its contents (ENOTEMPTY while it holds subvolumes)."""
    _at(path, subvolume_destroy_at)


def snapshot(source, dest, readonly=False):
    """Make DEST (must not exist) a snapshot of the subvolume SOURCE."""
    src = open_dir(source)
    try:
        _at(dest, lambda parent, name: snapshot_at(src, parent, name, readonly))
    finally:
        os.close(src)

