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
from ..runtime.hooks import rootfs_path, run_hooks


def _remove(container_dir, conf):
    """remove_tree, as the container's root in its user namespace when we are not root and
    the container is unprivileged: its files belong to a subuid we cannot delete as."""
    idmap = conf.value("lxc.idmap") or []
    if os.geteuid() == 0 or not idmap:
        return remove_tree(container_dir)
    from ..runtime.userns import run_in_userns
    dry = remove_tree(container_dir, dry_run=True)
    run_in_userns(idmap, lambda _uid, _gid: remove_tree(container_dir), "removing the container")
    return dry


def _remove_marked(container_dir):
    """The container's tree removed under a locked `partial` marker (runtime/partial.py),
    the marker last: a destroy killed midway leaves a half container the next lookup of the
    name finishes removing -- not a directory without config that nothing lists, destroys
    or creates over (LXC's killed destroy leaves a listed container whose start aborts)."""
    from ..runtime.partial import PARTIAL, Marker

    marker = Marker(container_dir)
    try:
        removed = [container_dir]
        for entry in sorted(os.listdir(container_dir), key=lambda e: e == PARTIAL):
            removed += remove_tree(os.path.join(container_dir, entry))
        os.rmdir(container_dir)
    finally:
        marker.release()
    return removed


def _lines(path):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return [line.rstrip("\n") for line in handle]
    except FileNotFoundError:
        return []


def snapshots_of(container_dir):
    """Names of snapshots under DIR/snaps (lxc-snapshot's layout); a half-made one left by a
    killed lxc-snapshot is removed on the way."""
    from .container import Container

    snaps = os.path.join(container_dir, "snaps")
    try:
        for entry in os.listdir(snaps):
            if os.path.exists(os.path.join(snaps, entry, "partial")):
                Container(entry, snaps)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        return sorted(os.listdir(os.path.join(container_dir, "snaps")))
    except (FileNotFoundError, NotADirectoryError):
        return []


def clones_of(container_dir):
    """(lxcpath, name) of copy-on-write clones that depend on this container (lxc_snapshots)."""
    lines = _lines(os.path.join(container_dir, "lxc_snapshots"))
    if len(lines) == 1 and lines[0].strip().isdigit():
        # The pre-2.0 format was a bare count.
        return [("?", "?")] * int(lines[0].strip())
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]


def _forget_origin(container_dir):
    """An overlay clone (lxc_rdepends) drops its entry from its origin's lxc_snapshots."""
    from ..atomic import atomic_write

    rdeps = _lines(os.path.join(container_dir, "lxc_rdepends"))
    if len(rdeps) < 2:
        return
    origin_file = os.path.join(rdeps[0], rdeps[1], "lxc_snapshots")
    lines = _lines(origin_file)
    me = (os.path.dirname(container_dir), os.path.basename(container_dir))
    pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
    kept = [p for p in pairs if p != me]
    if len(kept) == len(pairs):
        return
    if kept:
        atomic_write(origin_file, "".join(f"{a}\n{b}\n" for a, b in kept), 0o644)
    else:
        os.unlink(origin_file)


def refuse_if_in_use(name, conf, container_dir):
    """No removal while anything runs from the rootfs. The supervisor's word (lxc-destroy
    asked it first) covers what it knows; /proc covers what nobody recorded -- an init left
    by a crash, a chroot, real LXC's monitor of another lxcpath on the same rootfs."""
    from ..errors import command
    from ..runtime.inuse import describe, processes_on

    users = processes_on(conf.value("lxc.rootfs.path"), container_dir)
    if users:
        raise LxcError(f"its rootfs is in use by process {describe(users)}: not removing",
                       hint=f"stop the container ("
                            f"{command('lxc-stop -k', name, os.path.dirname(container_dir))}); "
                            "if it is not running, "
                            f"end those processes (kill {' '.join(map(str, users[:5]))})")


def _origin_file(container_dir):
    rdeps = _lines(os.path.join(container_dir, "lxc_rdepends"))
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


def _destroy_snapshots(container_dir, snaps):
    """lxc-destroy -s: each snapshot destroyed as a container first, so an overlay snapshot's
    entry in its origin's lxc_snapshots goes with it."""
    from .container import Container

    snapdir = os.path.join(container_dir, "snaps")
    for snap in snaps:
        found = Container(snap, snapdir)
        if found.defined:
            found.destroy()


def destroy(name, lxcpath, config_file, document, *, snapshots=False, dry_run=False,
            plan=None):
    """Remove container NAME (stopped, locked by the caller); return the paths removed.
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
            _destroy_snapshots(container_dir, snaps)
        run_hooks("destroy", name, conf, config_file)
        _forget_origin(container_dir)
        if os.geteuid() == 0 or not conf.value("lxc.idmap"):
            removed = _remove_marked(container_dir)
        else:
            removed = _remove(container_dir, conf)
        from ..runtime.images.sharedconfig import collect

        collect(lxcpath)  # the include copy its config named, when no other names it
    if outside and os.path.lexists(rootfs):
        log.warn(f"{name}: rootfs {rootfs} is outside {container_dir}: left in place "
                 "(remove it yourself if it is no longer needed)")
    return removed
