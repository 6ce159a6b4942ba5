"""The btrfs backing store: the rootfs is a subvolume, a clone on the same filesystem is a
snapshot of it (LXC's btrfs.c: `btrfs:PATH` in lxc.rootfs.path; lxc-copy and lxc-snapshot
snapshot btrfs to btrfs whether -s is given or not, when both sides are on one filesystem).

What it cannot do is said before anything is written: a btrfs rootfs needs its parent
directory on btrfs (`check_parent`), a snapshot needs the origin's rootfs to be a subvolume
and the clone on the same btrfs filesystem (`check_snapshot`). Removal of subvolumes is in
storage/remove.py (remove_tree deletes them as it meets them, never crossing a mount).
"""

import os

from ..errors import LxcError
from ..kernel import btrfs as kbtrfs
from ..kernel.mountinfo import mount_of

PREFIX = "btrfs:"


def nearest_existing(path):
    """PATH or its closest existing ancestor, resolved (what a mkdir -p there would be on)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return os.path.realpath(path)


def describe_fs(path):
    """'ext4 (mounted on /, from /dev/vda)' for the filesystem holding PATH."""
    found = mount_of(os.path.realpath(path))
    if not found:
        return "not btrfs"
    point, fstype, source = found
    return f"{fstype} (mounted on {point}, from {source})"


def on_btrfs(path):
    return kbtrfs.is_btrfs(nearest_existing(path))


def check_parent(dest, what="the btrfs backing store"):
    """Refuse (before anything is written) unless DEST's parent would be on btrfs."""
    parent = nearest_existing(os.path.dirname(os.path.abspath(dest)))
    if kbtrfs.is_btrfs(parent):
        return
    raise LxcError(f"{what} needs a btrfs filesystem, but {parent} is on {describe_fs(parent)}",
                   hint="put the lxcpath on a btrfs filesystem (lxc-create -P DIR, or "
                        "lxc.lxcpath in lxc.conf), or use -B dir")


def create(path, mode=0o755):
    """Make the subvolume PATH (its parent must exist and be on btrfs)."""
    try:
        kbtrfs.create_subvolume(path)
    except OSError as exc:
        raise LxcError(f"cannot create btrfs subvolume {path}: {exc.strerror}",
                       hint=f"is {os.path.dirname(path)} on btrfs and writable?") from None
    os.chmod(path, mode)


def is_subvolume(path):
    return kbtrfs.is_subvolume(path)


def same_fs(path_a, path_b):
    """Are PATH_A and PATH_B (existing) on one btrfs filesystem (snapshots cannot cross)?"""
    fds = []
    try:
        for path in (path_a, path_b):
            fds.append(kbtrfs.open_dir(nearest_existing(path)))
        return kbtrfs.fsid(fds[0]) == kbtrfs.fsid(fds[1])
    except OSError:
        return False
    finally:
        for fd in fds:
            os.close(fd)


def check_snapshot(source, dest):
    """Refuse a btrfs snapshot of SOURCE at DEST before anything is written."""
    if not os.path.isdir(source):
        raise LxcError(f"rootfs {source} does not exist", key="lxc.rootfs.path")
    if not is_subvolume(source):
        raise LxcError(f"{source} is not a btrfs subvolume: it cannot be snapshotted",
                       hint="copy it without -s (lxc-copy -B dir), or make it a subvolume first")
    check_parent(dest, "a btrfs snapshot")
    if not same_fs(source, os.path.dirname(dest)):
        raise LxcError(f"{source} and {os.path.dirname(dest)} are on different btrfs "
                       "filesystems: a snapshot cannot cross them",
                       hint="copy into the origin's filesystem, or drop -s to get a copy")


def snapshot(source, dest):
    """Make DEST (which must not exist) a writable snapshot of the subvolume SOURCE."""
    try:
        kbtrfs.snapshot(source, dest)
    except OSError as exc:
        raise LxcError(f"cannot snapshot {source} into {dest}: {exc.strerror}") from None
