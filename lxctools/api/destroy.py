"""lxc-destroy's work on a stopped container: checks, destroy hooks, removal, origin bookkeeping.

Only the container's own directory is removed (storage/remove.py: no symlink followed, no
mount point crossed, a mount inside refuses the whole destroy). A rootfs that lives outside
the container directory (lxc-create --dir) is left in place with a note: removing a path
named only by a config file is how LXC has deleted host data (lxc#3123).
"""

import os

from .. import log
from ..errors import LxcError
from ..storage.remove import canonical, check_no_mounts, remove_tree
from ..spawn.hooks import rootfs_path, run_hooks
from .transaction import forget_origin, read_lines, remove, settle_partials


def _remove_marked(container_dir):
    """The container's tree removed under a locked `partial` marker (api/partial.py),
    the marker last: a destroy killed midway leaves a half container the next lookup of the
    name finishes removing -- not a directory without config that nothing lists, destroys
    or creates over (LXC's killed destroy leaves a listed container whose start aborts)."""
    from .partial import PARTIAL, Marker

    marker = Marker(container_dir)
    try:
        removed = [container_dir]
        for entry in sorted(os.listdir(container_dir), key=lambda e: e == PARTIAL):
            removed += remove_tree(os.path.join(container_dir, entry))
        os.rmdir(container_dir)
    finally:
        marker.release()
    return removed


def snapshots_of(container_dir):
    """Names of snapshots under DIR/snaps (lxc-snapshot's layout); a half-made one left by a
    killed lxc-snapshot is removed on the way."""
    try:
        settle_partials(os.path.join(container_dir, "snaps"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        return sorted(os.listdir(os.path.join(container_dir, "snaps")))
    except (FileNotFoundError, NotADirectoryError):
        return []


def clones_of(container_dir):
    """(lxcpath, name) of copy-on-write clones that depend on this container (lxc_snapshots)."""
    found = read_lines(os.path.join(container_dir, "lxc_snapshots"))
    if len(found) == 1 and found[0].strip().isdigit():
        # The pre-2.0 format was a bare count.
        return [("?", "?")] * int(found[0].strip())
    return [(found[i], found[i + 1]) for i in range(0, len(found) - 1, 2)]


def refuse_if_in_use(name, conf, container_dir):
    """No removal while anything runs from the rootfs. The supervisor's word (lxc-destroy
    asked it first) covers what it knows; /proc covers what nobody recorded -- an init left
    by a crash, a chroot, real LXC's monitor of another lxcpath on the same rootfs."""
    from ..paths import command
    from ..storage.inuse import describe, processes_on

    users = processes_on(conf.value("lxc.rootfs.path"), container_dir)
    if users:
        raise LxcError(f"its rootfs is in use by process {describe(users)}: not removing",
                       hint=f"stop the container ("
                            f"{command('lxc-stop -k', name, os.path.dirname(container_dir))}); "
                            "if it is not running, "
                            f"end those processes (kill {' '.join(map(str, users[:5]))})")


def _origin_file(container_dir):
    rdeps = read_lines(os.path.join(container_dir, "lxc_rdepends"))
    return os.path.join(rdeps[0], rdeps[1], "lxc_snapshots") if len(rdeps) >= 2 else None


def _kept(conf, container_dir):
    """[(path, why)]: what the container uses that its destroy leaves in place."""
    spec = conf.value("lxc.rootfs.path") or ""
    kept = []
    kind, _, rest = spec.partition(":")
    if kind in ("overlay", "overlayfs"):
        layers = rest.split(":")[:-1]  # the last is the container's own upper layer
        for lower in layers:
            if not (canonical(lower) + "/").startswith(container_dir + "/"):
                kept.append((lower, "the overlay's lower layer: its origin's rootfs or a "
                                    "cached image, shared"))
    else:
        rootfs = rootfs_path(conf)
        if rootfs and os.path.isabs(rootfs) and not (
                canonical(rootfs) + "/").startswith(container_dir + "/"):
            kept.append((rootfs, "the rootfs, outside the container directory"))
    return kept


def _destroy_snapshots(container_dir, snaps, opener):
    """lxc-destroy -s: each snapshot destroyed as a container first, so an overlay snapshot's
    entry in its origin's lxc_snapshots goes with it. OPENER is the caller's Container class
    (this module is below container.py: api/transaction.py)."""
    snapdir = os.path.join(container_dir, "snaps")
    for snap in snaps:
        found = opener(snap, snapdir)
        if found.defined:
            found.destroy()


def destroy(name, lxcpath, config_file, document, *, snapshots=False, dry_run=False,
            plan=None, opener=None):
    """Remove container NAME (stopped, locked by the caller); return the paths removed.
    OPENER (the Container class) opens its snapshots, destroyed first with SNAPSHOTS.
    PLAN, a dict, receives what a dry run found for lxc-destroy's summary: "usage" (files,
    dirs, bytes), "kept" ([(path, why)]: what is not removed with it), "snapshots", "hooks"
    (the lxc.hook.destroy commands that would run), "origin" (the lxc_snapshots file an
    overlay clone would drop its entry from)."""
    container_dir = canonical(os.path.join(lxcpath, name))
    conf = document.conf
    clones = clones_of(container_dir)
    if clones:
        named = ", ".join(f"{clone} (in {path})" if path != lxcpath else clone
                          for path, clone in clones)
        raise LxcError(f"Container {name} has clones that depend on it: not removing "
                       f"({named})",
                       hint=f"destroy those first (they are listed in {container_dir}/lxc_snapshots)")
    snaps = snapshots_of(container_dir)
    if snaps and not snapshots:
        raise LxcError(f"Container {name} has snapshots: not removing",
                       hint="lxc-destroy -n NAME -s destroys the container with its snapshots")
    check_no_mounts(container_dir)
    refuse_if_in_use(name, conf, container_dir)
    rootfs = rootfs_path(conf)
    outside = rootfs and os.path.isabs(rootfs) and not (
        canonical(rootfs) + "/").startswith(container_dir + "/")
    if dry_run:
        usage = {}
        removed = remove_tree(container_dir, dry_run=True, usage=usage)
        if plan is not None:
            plan.update(usage=usage, snapshots=snaps, kept=_kept(conf, container_dir),
                        hooks=list(conf.value("lxc.hook.destroy") or []),
                        origin=_origin_file(container_dir))
    else:
        if snaps:
            _destroy_snapshots(container_dir, snaps, opener)
        run_hooks("destroy", name, conf, config_file)
        forget_origin(container_dir)
        if os.geteuid() == 0 or not conf.value("lxc.idmap"):
            removed = _remove_marked(container_dir)
        else:
            removed = remove(container_dir, conf)
        from ..images.sharedconfig import collect

        collect(lxcpath)  # the include copy its config named, when no other names it
    if outside and os.path.lexists(rootfs):
        log.warn(f"{name}: rootfs {rootfs} is outside {container_dir}: left in place "
                 "(remove it yourself if it is no longer needed)")
    return removed
