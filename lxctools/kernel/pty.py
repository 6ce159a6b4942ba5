"""Pseudo-terminals from a container's devpts, opened without trusting any path to it.

A container's root owns every path below its root: a /dev/pts replaced by symlinks, or a file
mounted over /dev/pts/ptmx, must never make us open something else. So the pty is allocated
in the container's mount namespace (where nothing of the host can be named), no component of
the path may be a symlink, the directory must be a devpts mount, ptmx is looked up beneath it
without crossing into another mount, and the slave comes from the master (TIOCGPTPEER), never
from a path. native/entry.c makes the same checks in C.
"""

import errno
import fcntl
import os
import struct

from . import libc
from .openat2 import (RESOLVE_BENEATH as _RESOLVE_BENEATH,
                      RESOLVE_NO_MAGICLINKS as _RESOLVE_NO_MAGICLINKS,
                      RESOLVE_NO_SYMLINKS as _RESOLVE_NO_SYMLINKS,
                      RESOLVE_NO_XDEV as _RESOLVE_NO_XDEV, openat2 as _openat2)

DEVPTS_SUPER_MAGIC = 0x1CD1
TIOCGPTN = libc.TIOCGPTN
TIOCSPTLCK = libc.TIOCSPTLCK
TIOCGPTPEER = 0x5441



def _directory(path):
    """An O_PATH fd of directory PATH (absolute), reached through no symlink at all."""
    flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        return _openat2(libc.AT_FDCWD, path, flags,
                        resolve=_RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
    except OSError as exc:
        if exc.errno != errno.ENOSYS:  # kernels before 5.6: one component at a time
            raise
    fd = os.open("/", flags)
    try:
        for part in [p for p in path.split("/") if p]:
            if part == "..":
                raise OSError(errno.EINVAL, "no .. in a pty path", path)
            child = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_pair(devpts="/dev/pts"):
    """(master, slave) of a new pty of the devpts mounted at DEVPTS in the caller's mount
    namespace, both close-on-exec. OSError when DEVPTS is not a devpts reached without a
    symlink, or the kernel cannot hand out the slave by fd (TIOCGPTPEER, Linux 4.13)."""
    dirfd = _directory(devpts)
    try:
        return open_pair_at(dirfd, devpts)
    finally:
        os.close(dirfd)


def open_pair_at(dirfd, devpts="/dev/pts"):
    """open_pair for a devpts already held as DIRFD (the container's setup process opens
    its /dev/pts below the rootfs with kernel/rootpath.py); DEVPTS names it in errors."""
    if libc.fstatfs_type(dirfd) != DEVPTS_SUPER_MAGIC:
        raise OSError(errno.ENODEV, "not a devpts mount", devpts)
    flags = os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC
    try:
        master = _openat2(dirfd, "ptmx", flags,
                          resolve=_RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_XDEV)
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
        master = os.open("ptmx", flags | os.O_NOFOLLOW, dir_fd=dirfd)
    try:
        if libc.fstatfs_type(master) != DEVPTS_SUPER_MAGIC:  # something mounted over ptmx
            raise OSError(errno.ENODEV, "ptmx is not on the devpts", devpts)
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    try:
        if libc.fstatfs_type(slave) != DEVPTS_SUPER_MAGIC or not os.isatty(slave):
            raise OSError(errno.ENOTTY, "the pty's slave is no terminal", devpts)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    return master, slave


def slave_of(master):
    """A new fd of MASTER's slave, opened through the master itself (TIOCGPTPEER): no path in
    anyone's devpts is looked up."""
    return fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)


def is_master(fd):
    """Whether FD is the master side of a pty on a devpts (what the relay may trust)."""
    try:
        if libc.fstatfs_type(fd) != DEVPTS_SUPER_MAGIC:
            return False
        fcntl.ioctl(fd, TIOCGPTN, b"\0" * 4)  # masters answer, slaves and the rest do not
    except OSError:
        return False
    return True
