"""Giving a freshly made rootfs to an unprivileged container's mapped ids.

LXC runs the template inside a user namespace, so files it creates as ns root belong to the
host uid that ns root maps to (and uid N to host uid map(N)). Running as real root, we get
the same result by creating the files first and shifting every owner through the map.
"""

import os
import stat


class IdMap:
    def __init__(self, uid_ranges, gid_ranges):
        self.uid_ranges = uid_ranges  # [(nsid, hostid, count)]
        self.gid_ranges = gid_ranges

    @classmethod
    def parse(cls, lines):
        """From lxc.idmap values "u|g NSID HOSTID RANGE"."""
        uids, gids = [], []
        for line in lines:
            kind, nsid, hostid, count = line.split()
            (uids if kind == "u" else gids).append((int(nsid), int(hostid), int(count)))
        return cls(uids, gids)

    @staticmethod
    def _map(ranges, value):
        for nsid, hostid, count in ranges:
            if nsid <= value < nsid + count:
                return hostid + value - nsid
        return None

    def host_uid(self, uid):
        return self._map(self.uid_ranges, uid)

    def host_gid(self, gid):
        return self._map(self.gid_ranges, gid)


def walk_tree(top):
    """(dir_fd, name, lstat) of TOP (dir_fd None, name TOP) and of every inode below it on
    its file system, parents first. The walk holds directory fds and works relative to them
    with O_NOFOLLOW, so a symlink (or a directory swapped for one) is never followed: the
    rootfs may come from a hostile image."""
    root_st = os.lstat(top)
    yield None, top, root_st
    if not stat.S_ISDIR(root_st.st_mode):
        return
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(top, flags)
    try:
        yield from _walk_dir(fd, root_st.st_dev, flags)
    finally:
        os.close(fd)


def _walk_dir(fd, dev, flags):
    for name in os.listdir(fd):
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        yield fd, name, st
        if stat.S_ISDIR(st.st_mode) and st.st_dev == dev:
            try:
                child = os.open(name, flags, dir_fd=fd)
            except OSError:
                continue  # gone, or swapped for a link: not followed
            try:
                if os.fstat(child).st_ino == st.st_ino:
                    yield from _walk_dir(child, dev, flags)
            finally:
                os.close(child)


def chown_at(dir_fd, name, uid, gid, st):
    """chown NAME (in DIR_FD, or a path when DIR_FD is None) without following a link, then
    give a regular file back the setuid/setgid bits chown() cleared -- by an fd of exactly
    the inode ST describes, never by following the name again."""
    os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o6000:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            now = os.fstat(fd)
            if stat.S_ISREG(now.st_mode) and now.st_ino == st.st_ino:
                os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(st.st_mode))
        finally:
            os.close(fd)


def shift_tree(root, idmap):
    """Re-own every file below ROOT (ROOT included) through IDMAP; ids outside it stay.

    Each inode is shifted once: a hard-linked file seen under a second name already carries
    its host id, which the map could shift again.
    """
    seen = set()
    for dir_fd, name, st in walk_tree(root):
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        uid, gid = idmap.host_uid(st.st_uid), idmap.host_gid(st.st_gid)
        if uid is None and gid is None:
            continue
        chown_at(dir_fd, name, -1 if uid is None else uid, -1 if gid is None else gid, st)
