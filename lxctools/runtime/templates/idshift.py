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


def shift_tree(root, idmap):
    """Re-own every file below ROOT (ROOT included) through IDMAP; ids outside it stay.

    Each inode is shifted once: a hard-linked file seen under a second name already carries
    its host id, which the map could shift again.
    """
    dev = os.lstat(root).st_dev
    seen = set()
    _shift(root, idmap, seen)
    for top, dirs, files in os.walk(root):
        keep = []
        for name in dirs:
            path = os.path.join(top, name)
            st = os.lstat(path)
            _shift(path, idmap, seen, st)
            if st.st_dev == dev and not stat.S_ISLNK(st.st_mode):
                keep.append(name)
        dirs[:] = keep
        for name in files:
            _shift(os.path.join(top, name), idmap, seen)


def _shift(path, idmap, seen, st=None):
    st = st or os.lstat(path)
    if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
    uid, gid = idmap.host_uid(st.st_uid), idmap.host_gid(st.st_gid)
    if uid is None and gid is None:
        return
    os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid, follow_symlinks=False)
    # chown() clears setuid/setgid bits; the container's passwd/su need them back.
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o6000:
        os.chmod(path, stat.S_IMODE(st.st_mode))
