"""lxc-snapshot: snapshots are clones named snapN in the container's snapshot directory.

As liblxc: the directory is `<lxcpath>snaps/<name>` when the legacy `<lxcpath>snaps` exists,
else `<lxcpath>/<name>/snaps`; a snapshot is a normal container directory plus `ts` (local
time `YYYY:MM:DD hh:mm:ss`, no newline) and an optional `comment` (a copy of -c FILE). A dir
container's snapshot is a full copy (LXC logs that an overlay clone would be cheaper); an
overlay container's shares its lower layer. Hostname and MACs are kept. Restoring clones the
snapshot back (same name: the current container goes first, its snaps directory stays;
hostname and MACs are rewritten as for any clone, as LXC does).
"""

import os
import time

from .. import log
from ..errors import LxcError, NotDefined

# Stores whose snapshots are native (LXC_CLONE_MAYBE_SNAPSHOT): the others get a full copy.
SNAPSHOTTING = ("overlay", "overlayfs", "btrfs")


def snap_dir(container):
    legacy = container.lxcpath.rstrip("/") + "snaps"
    if os.path.isdir(legacy):
        return os.path.join(legacy, container.name)
    return os.path.join(container.dir, "snaps")


def _settle(path):
    """A snapshot whose lxc-snapshot was killed (stale `partial` marker) is removed here,
    as any lookup of a container name does: it neither takes an index nor gets listed."""
    from .transaction import settle_partials

    try:
        settle_partials(path)
    except (FileNotFoundError, NotADirectoryError):
        pass


def _next_index(path):
    _settle(path)
    i = 0
    while os.path.lexists(os.path.join(path, f"snap{i}")):
        i += 1
    return i


def create(container, comment_file=None):
    """Take a snapshot of CONTAINER; returns its name (snapN)."""
    from .clone import clone, copy_file
    from ..storage.clone import parse

    if not container.defined:
        raise NotDefined(f"Container {container.name} is not defined")
    if comment_file and not os.path.isfile(comment_file):
        raise LxcError(f"comment file {comment_file} does not exist",
                       hint="-c names a file whose text becomes the snapshot's comment")
    path = snap_dir(container)
    kind, _ = parse(container.conf.value("lxc.rootfs.path") or "")
    os.makedirs(path, 0o755, exist_ok=True)
    name = f"snap{_next_index(path)}"
    if kind == "dir":
        log.info(f"Snapshot of directory-backed container {container.name}: making a "
                   "copy-clone. For cheap snapshots, create an overlay clone first "
                   "(lxc-copy -s), snapshot that and keep the original pristine")
    clone(container, name, path, snapshot=kind in SNAPSHOTTING, bdevtype=kind, keepname=True,
          keepmac=True)
    target = os.path.join(path, name)
    with open(os.path.join(target, "ts"), "w") as handle:
        handle.write(time.strftime("%Y:%m:%d %H:%M:%S", time.localtime()))
    if comment_file:
        copy_file(comment_file, os.path.join(target, "comment"))
    return name


def listing(container):
    """[(name, comment path, timestamp or None, snapshot dir)] in directory order, as LXC."""
    if not container.defined:
        raise NotDefined(f"Container {container.name} is not defined")
    path = snap_dir(container)
    _settle(path)
    found = []
    try:
        entries = [e.name for e in os.scandir(path)]
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        if not os.path.exists(os.path.join(path, entry, "config")):
            continue
        try:
            with open(os.path.join(path, entry, "ts"), encoding="utf-8", errors="replace") as handle:
                stamp = handle.read() or None
        except OSError:
            stamp = None
        found.append((entry, os.path.join(path, entry, "comment"), stamp, path))
    return found


def _destroy_keeping_snaps(container):
    """LXC's destroy as restore uses it: everything but the snaps directory goes."""
    from .transaction import forget_origin, remove
    from ..spawn.hooks import run_hooks
    from ..storage.remove import check_no_mounts

    check_no_mounts(container.dir)
    run_hooks("destroy", container.name, container.conf, container.config_file_name)
    forget_origin(container.dir)
    for entry in os.listdir(container.dir):
        if entry != "snaps":
            # as the container's root for a user's unprivileged container (its files are
            # owned by subordinate ids)
            remove(os.path.join(container.dir, entry), container.conf)


def restore(container, snapname, newname=None):
    """Clone snapshot SNAPNAME back as NEWNAME (default: over CONTAINER itself)."""
    from .clone import clone
    from .destroy import clones_of
    from ..storage.clone import parse

    if clones_of(container.dir):
        raise LxcError("container rootfs has dependent snapshots",
                       hint=f"destroy the clones listed in {container.dir}/lxc_snapshots first")
    path = snap_dir(container)
    snap = type(container)(snapname, path)  # a snapshot is a container: opened as its origin
    if not snap.defined:
        raise LxcError(f"Could not open snapshot {snapname}",
                       hint=f"lxc-snapshot -n {container.name} -L lists the snapshots")
    newname = newname or container.name
    kind = "dir"
    if container.defined:
        kind, _ = parse(container.conf.value("lxc.rootfs.path") or "")
        if newname == container.name:
            if container.running:
                raise LxcError(f"{container.name} is running",
                               hint="stop it before restoring a snapshot over it")
            _destroy_keeping_snaps(container)
    clone(snap, newname, container.lxcpath, snapshot=kind in SNAPSHOTTING, bdevtype=kind)


def destroy(container, snapname):
    """Destroy one snapshot, or all of them for ALL (any prefix of it, as LXC compares)."""
    opener = type(container)  # each snapshot is a container, opened as its origin was
    path = snap_dir(container)
    if "ALL".startswith(snapname):
        failed = []
        try:
            entries = sorted(os.listdir(path))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            try:
                opener(entry, path).destroy()
            except LxcError as exc:
                failed.append(f"{entry}: {exc.message}")
        try:
            os.rmdir(path)
        except OSError:
            pass
        if failed:
            raise LxcError(f"Error destroying snapshot {snapname}: " + "; ".join(failed))
        return
    snap = opener(snapname, path)
    if not snap.defined:
        raise LxcError(f"Could not destroy snapshot {snapname}: no such snapshot",
                       hint=f"lxc-snapshot -n {container.name} -L lists the snapshots")
    snap.destroy()
