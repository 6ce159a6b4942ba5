"""Backing store types lxc-create accepts (-B), and the one lxctools creates so far: dir.

LXC's -B takes one type, `best`, or a comma list meaning "the first that works". Other types
are recognised so that the refusal can say they are known but not built yet.
"""

import os

from ..errors import LxcError

LXC_TYPES = ("dir", "btrfs", "zfs", "lvm", "rbd", "overlay", "overlayfs", "loop", "nbd")
CREATABLE = ("dir",)


def choose(bdev):
    """The storage type to create for -B BDEV (None = dir), or raise a clear refusal."""
    if bdev in (None, "", "none", "dir", "best"):
        # "best" tries btrfs, zfs, lvm, dir, rbd in turn; dir is the only one we can make.
        return "dir"
    wanted = [t.strip() for t in bdev.split(",") if t.strip()]
    for kind in wanted:
        if kind not in LXC_TYPES and kind not in ("best", "none"):
            raise LxcError(f'invalid backing store type "{kind}"',
                           hint="one of: " + ", ".join(LXC_TYPES + ("best",)), exit_code=1)
    for kind in wanted:
        if kind in CREATABLE or kind in ("best", "none"):
            return "dir"
    raise LxcError(f"storage type {wanted[0]} lands with lxc-copy/backing stores",
                   hint="use -B dir (the default) for now")


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
