"""Backing store types lxc-create accepts (-B), which one a create gets, and the dir store.

LXC's -B takes one type, `best`, or a comma list meaning "the first that works"; `best` tries
btrfs, zfs, lvm, dir, rbd in that order (storage.c). lxctools makes dir, btrfs (when the
lxcpath is on btrfs), overlay and loop (an image file); zfs, lvm, rbd and nbd are recognised
so that the refusal can name them. Every refusal comes before anything is written.
"""

import os

from ..errors import LxcError

LXC_TYPES = ("dir", "btrfs", "zfs", "lvm", "rbd", "overlay", "overlayfs", "loop", "nbd")
CREATABLE = ("dir", "btrfs", "overlay", "loop")
BEST_ORDER = ("btrfs", "zfs", "lvm", "dir", "rbd")


def choose(bdev, lxcpath="/", *, on_btrfs=None):
    """The store to create for -B BDEV in LXCPATH ('dir', 'btrfs', 'overlay' or 'loop'), or
    a refusal.

    ON_BTRFS(path) tells whether a path is on btrfs (storage/btrfs.py's probe by default)."""
    if bdev in (None, "", "none", "dir"):
        return "dir"
    if on_btrfs is None:
        from .btrfs import on_btrfs
    wanted = [t.strip() for t in bdev.split(",") if t.strip()]
    for kind in wanted:
        if kind not in LXC_TYPES and kind not in ("best", "none"):
            raise LxcError(f'invalid backing store type "{kind}"',
                           hint="one of: " + ", ".join(LXC_TYPES + ("best",)), exit_code=1)
    if wanted in (["overlay"], ["overlayfs"]):
        return "overlay"
    if wanted == ["btrfs"]:
        if not on_btrfs(lxcpath):
            from .btrfs import check_parent
            check_parent(os.path.join(lxcpath, "x"))
        return "btrfs"
    for kind in wanted:
        if kind == "best":
            return "btrfs" if on_btrfs(lxcpath) else "dir"
        if kind == "none":
            return "dir"
        if kind == "btrfs" and not on_btrfs(lxcpath):
            continue  # a list: the next one
        if kind in CREATABLE:
            return kind
    if len(wanted) == 1:
        raise LxcError(f"storage type {wanted[0]} is not supported by lxctools",
                       hint="use -B dir, -B btrfs (lxcpath on btrfs), -B overlay or -B loop")
    raise LxcError(f"none of the storage types {bdev} can be created here",
                   hint="lxctools makes dir, btrfs (lxcpath on btrfs), overlay and loop")


def create_dir(path, mode=0o755):
    """The rootfs directory of a dir store; True if we made it (so a rollback may remove it)."""
    try:
        os.mkdir(path, mode)
        made = True
    except FileExistsError:
        if not os.path.isdir(path) or os.path.islink(path):
            raise LxcError(f"rootfs {path} exists and is not a directory",
                           hint="remove it or choose another --dir") from None
        made = False
    os.chmod(path, mode)
    return made
