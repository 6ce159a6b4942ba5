"""A clone's storage: which store it gets, and the copy or snapshot of the origin's rootfs.

LXC's rules (storage.c storage_copy): the origin's rootfs path must contain its name; -s on
a dir origin (and every ephemeral clone) makes an overlay `overlay:ORIGIN_ROOTFS:NEW/overlay/delta`
with its work dir beside the delta; an overlay origin's snapshot shares the same lower layer
and gets a copy of the delta; a copy to another lxcpath without -s is a dir; overlay only
exists as a snapshot. A full copy is `rsync -aHXS --delete` as LXC runs it (owners, modes,
hard links, xattrs incl. file capabilities, device nodes, sockets and fifos, sparse files);
--numeric-ids so that a container's own uids never go through the host's user names.
"""

import os
import shutil
import subprocess

from ..errors import LxcError

OVERLAY_TYPES = ("overlay", "overlayfs")


def parse(spec):
    """(kind, path or (lower, upper)) of an lxc.rootfs.path value."""
    kind, sep, rest = (spec or "").partition(":")
    if not sep or kind.startswith("/"):
        return "dir", spec
    if kind in OVERLAY_TYPES:
        lower, sep, upper = rest.rpartition(":")
        if not sep:
            raise LxcError(f"lxc.rootfs.path = {spec}: expected overlay:LOWER:UPPER",
                           key="lxc.rootfs.path")
        return "overlay", (lower, upper)
    return kind, rest


CLONABLE = ("dir", "overlay", "btrfs", "loop")


def plan(spec, *, oldname, oldpath, newpath, snapshot, bdevtype):
    """The store of the clone ('dir', 'overlay', 'btrfs' or 'loop'), or a refusal before
    anything is written. A btrfs clone of a btrfs origin is a snapshot when -s is given or
    both are on one filesystem (the caller checks), else a new subvolume filled by rsync (as
    LXC). A loop clone of a loop origin is a sparse copy of its image; of a dir or btrfs
    origin a new 1 GiB ext4 image the rootfs is rsynced into (LXC's default size)."""
    if not spec:
        raise LxcError("No rootfs specified", hint="the origin's config has no lxc.rootfs.path")
    if oldname not in spec:
        raise LxcError(f'Original rootfs path "{spec}" does not include container name "{oldname}"',
                       hint="LXC derives the clone's paths from the origin's name; "
                            "move the rootfs under the container directory first")
    kind, _ = parse(spec)
    if kind not in CLONABLE:
        raise LxcError(f"cloning a {kind} rootfs is not supported",
                       hint="lxctools clones dir, overlay, btrfs and loop containers")
    if bdevtype in OVERLAY_TYPES:
        if kind not in ("dir", "overlay"):
            # LXC's overlay driver only stacks on dir and overlay rootfs paths.
            raise LxcError(f"an overlay snapshot of a {kind} container is not supported (as LXC)",
                           hint="lxc-copy -s without -B makes a btrfs snapshot" if kind == "btrfs"
                           else "copy it without -s")
        new = "overlay"
    elif bdevtype in (None, "", "best"):
        if snapshot and kind == "dir":
            new = "overlay"
        elif not snapshot and oldpath != newpath:
            new = "dir"
        else:
            new = kind
    elif bdevtype == "dir":
        if snapshot:
            raise LxcError("Directories cannot be snapshotted",
                           hint="-s makes an overlay clone: drop -B dir, or drop -s for a copy")
        new = "dir"
    elif bdevtype == "loop":
        if kind not in ("loop", "dir", "btrfs"):
            raise LxcError(f"a loop clone of a {kind} container is not supported by lxctools",
                           hint="copy it with -B dir (or -B btrfs on btrfs)")
        new = "loop"
    elif bdevtype == "btrfs":
        if snapshot and kind != "btrfs":
            raise LxcError(f"btrfs snapshot from {kind} backing store is not supported",
                           hint="drop -s: the clone is then a new subvolume with a copy of the rootfs")
        new = "btrfs"
    else:
        raise LxcError(f"backing store {bdevtype} is not supported for clones",
                       hint="use -B dir, -B btrfs, -B loop or -B overlay")
    if new == "loop" and snapshot:
        raise LxcError("The loop storage driver does not support snapshots",
                       hint="drop -s: the clone gets a copy of the image")
    if new == "loop" and kind == "loop" and not os.path.isfile(parse(spec)[1]):
        raise LxcError(f"rootfs image {parse(spec)[1]} does not exist", key="lxc.rootfs.path")
    if new == "overlay" and not snapshot:
        raise LxcError("The overlay storage driver can only be used for snapshots",
                       hint="add -s (lxc-copy -s -B overlay)")
    if new in ("dir", "btrfs", "loop") and kind in ("dir", "btrfs") and \
            not os.path.isdir(parse(spec)[1]):
        raise LxcError(f"rootfs {parse(spec)[1]} does not exist", key="lxc.rootfs.path")
    if new == "overlay" and os.geteuid() != 0:
        check_user_overlay()
    return new


def check_user_overlay(release=None):
    """An ordinary user's overlay clone is mounted in the container's user namespace, which
    Linux allows from 5.11 on: refuse before anything is copied on an older kernel."""
    import platform

    release = release or platform.release()
    numbers = []
    for part in release.split("-")[0].split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit())
        numbers.append(int(digits) if digits else 0)
    if tuple(numbers) < (5, 11):
        raise LxcError(f"an overlay clone of an unprivileged container needs Linux 5.11 or "
                       f"newer (overlayfs in a user namespace); this kernel is {release}",
                       hint="copy it without -s (a full copy), or clone as root")


def btrfs_method(spec, newrootfs, snapshot):
    """How a btrfs clone is made, checked before anything is written: 'snapshot' of a btrfs
    origin (with -s, or on the same filesystem), else 'copy' (a new subvolume, rsync)."""
    from . import btrfs

    kind, where = parse(spec)
    newpath = os.path.dirname(os.path.dirname(newrootfs))
    if kind == "btrfs" and (snapshot or (btrfs.is_subvolume(where) and btrfs.same_fs(where, newpath))):
        btrfs.check_snapshot(where, newrootfs)
        return "snapshot"
    btrfs.check_parent(newrootfs)
    return "copy"


def rsync(src, dst):
    """Copy the tree SRC into DST (both directories) exactly, as LXC's rsync step."""
    tool = shutil.which("rsync") or ("/usr/bin/rsync" if os.path.exists("/usr/bin/rsync") else None)
    if not tool:
        raise LxcError("rsync is needed to copy a rootfs", hint="apt-get install rsync")
    from ..kernel.libc import die_with_parent

    done = subprocess.run([tool, "-aHXS", "--numeric-ids", "--delete", src.rstrip("/") + "/",
                           dst.rstrip("/") + "/"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          preexec_fn=die_with_parent)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]
        raise LxcError(f"copying {src} to {dst} failed: {detail}",
                       hint="is there room on the target filesystem?")


def overlay_dirs(newdir):
    """Make NEWDIR/rootfs, NEWDIR/overlay/{delta,work} (0755) and return the delta."""
    delta = os.path.join(newdir, "overlay", "delta")
    for path in (os.path.join(newdir, "rootfs"), delta, os.path.join(newdir, "overlay", "work")):
        os.makedirs(path, 0o755, exist_ok=True)
    return delta


def snapshot_overlay(spec, newdir):
    """The new overlay rootfs spec for a snapshot of SPEC (dir or overlay) into NEWDIR."""
    kind, where = parse(spec)
    delta = overlay_dirs(newdir)
    if kind == "dir":
        return f"overlay:{where}:{delta}"
    lower, upper = where
    rsync(upper, delta)
    share_image_pin(os.path.dirname(upper), os.path.dirname(delta))
    return f"overlay:{lower}:{delta}"


def share_image_pin(old_overlay, new_overlay):
    """An origin whose lower layer is a tree of the image cache holds a hard link of that
    tree's pin (images/rootcache.py); the clone stands on the same tree, so it links
    the pin too, and the cache keeps the tree until both are gone."""
    pin = os.path.join(old_overlay, "image-pin")
    if not os.path.exists(pin):
        return
    try:
        os.link(pin, os.path.join(new_overlay, "image-pin"))
    except OSError as exc:
        raise LxcError(f"the clone cannot pin the image tree its lower layer is ({exc.strerror})",
                       hint="the image cache and the new lxcpath must be on one filesystem; "
                            "copy without -s for an independent container") from None
