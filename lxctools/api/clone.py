"""The lxc-copy transaction (liblxc's clone): checks, storage, config rewrite, bookkeeping.

Order: every refusal (origin undefined or running, target taken, storage combination) comes
before the disk is touched. Then the new container directory with a locked `partial` marker
(api/partial.py, as lxc-create), the rootfs copy or overlay snapshot, the rewritten config
(config/clone.py) and the files it names (hook scripts, fstab), the reverse-dependency files,
the clone hooks and /etc/hostname (with the clone's rootfs mounted in a private mount
namespace for overlays), and only then the origin's `lxc_snapshots` entry and the marker's
removal. A failure or signal removes what was made; a kill -9 leaves an unlocked marker that
the next lookup of the new name removes, and the origin has not been written to yet.
"""

import os

from .. import log
from ..errors import LxcError, NotDefined
from . import partial
from ..storage import clone as store
from .names import check_new_name, valid_name
from .transaction import Rollback, interrupts_unwind, read_lines as _lines, makedirs, settle_partial


def _pairs(path):
    lines = _lines(path)
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]


def copy_file(old, new):
    """LXC's copy_file: the mode comes along, the owner does not; an existing target is an error."""
    if os.path.lexists(new):
        raise LxcError(f"copy destination {new} exists")
    st = os.stat(old)
    with open(old, "rb") as src:
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as dst:
            while chunk := src.read(1 << 16):
                dst.write(chunk)
            os.fchmod(dst.fileno(), st.st_mode & 0o7777)


def add_snapshot_entry(origin_dir, lxcpath, name):
    """Append LXCPATH\\nNAME\\n to ORIGIN_DIR/lxc_snapshots (the origin cannot be destroyed now)."""
    path = os.path.join(origin_dir, "lxc_snapshots")
    lines = _lines(path)
    if len(lines) == 1 and lines[0].strip().isdigit():
        from ..atomic import atomic_write
        atomic_write(path, f"{int(lines[0]) + 1}\n", 0o644)  # LXC's old count format stays a count
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, f"{lxcpath}\n{name}\n".encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def in_rootfs(spec, work, target):
    """Call WORK(mounted_root) with the rootfs SPEC mounted on TARGET (the container's
    rootfs directory, as LXC mounts it) in a private mount namespace: a child process, so
    nothing stays mounted whatever happens (a loop device goes with the mount). A dir or
    btrfs rootfs needs no mount. Returns what WORK returns (pickled back from the child)."""
    kind, where = store.parse(spec)
    if kind in ("dir", "btrfs"):
        return work(where)
    import pickle
    from ..kernel import libc
    from ..spawn.mounts import mount_rootfs

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        error = None
        try:
            import signal
            libc.set_pdeathsig(signal.SIGKILL)  # a kill -9 of lxc-copy ends this work too
            libc.unshare(0x00020000)  # CLONE_NEWNS
            libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
            os.makedirs(target, 0o755, exist_ok=True)
            mount_rootfs(spec, target)
            result = work(target)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            error = exc if isinstance(exc, LxcError) else LxcError(f"{type(exc).__name__}: {exc}")
            result = None
        try:
            import sys
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            try:
                data = pickle.dumps((error, result))
            except Exception as exc:  # noqa: BLE001 - an unpicklable result
                data = pickle.dumps((LxcError(f"returning from the mounted rootfs: {exc}"), None))
            with os.fdopen(write_end, "wb") as handle:
                handle.write(data)
        finally:
            os._exit(0 if error is None else 1)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as handle:
        data = handle.read()
    os.waitpid(pid, 0)
    error, result = pickle.loads(data) if data else \
        (LxcError(f"mounting the rootfs {spec} failed (the helper died)"), None)
    if error is not None:
        raise error
    return result


def _fill(kind, where, spec, rootfs, origin):
    """rsync the origin's rootfs into the new ROOTFS (mounted first when it is an overlay)."""
    if kind in ("dir", "btrfs"):
        store.rsync(where, rootfs)
    else:
        in_rootfs(spec, lambda mounted: store.rsync(mounted, rootfs),
                  os.path.join(origin.dir, "rootfs"))


def _as_container_root(conf, work, what):
    """WORK() as the container's root for a non-root caller of an unprivileged container
    (LXC's userns_exec_1): the kernel lets only the owner of a subvolume, mapped root here,
    snapshot it. Root, or a container without lxc.idmap, calls it directly."""
    lines = conf.value("lxc.idmap") or []
    if os.geteuid() == 0 or not lines:
        return work()
    from ..idmap.userns import run_in_userns
    return run_in_userns(lines, lambda _uid, _gid: work(), what)


def _has_hostname(spec):
    """Whether the rootfs SPEC has an etc/hostname to rewrite, looked up without mounting
    (an overlay mount is most of a snapshot clone's time): the upper layer decides (a
    whiteout is a 0:0 character device), else the lower one. Symlinks count as present so
    that _write_hostname can refuse them with a message."""
    kind, where = store.parse(spec)
    if kind not in ("dir", "btrfs", "overlay"):
        return True  # an image: only a mount tells
    layers = [where] if kind in ("dir", "btrfs") else [where[1], where[0]]
    for layer in layers:
        try:
            st = os.lstat(os.path.join(layer, "etc", "hostname"))
        except OSError:
            continue
        import stat as st_mod
        return not (st_mod.S_ISCHR(st.st_mode) and st.st_rdev == 0)
    return False


def _write_hostname(root, name):
    """ROOT/etc/hostname := NAME, if it exists; never through a symlink (it could point at
    the host). Opened with openat2 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS: the origin may be
    running (lxc-copy -a) and swap its /etc while we look; only a regular file is written."""
    import errno
    import stat

    from ..kernel.rootpath import NO_LINKS, open_in_root, reopen

    path = os.path.join(root, "etc", "hostname")
    try:
        fd = open_in_root(root, "etc/hostname", resolve=NO_LINKS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            log.warn(f"{path} is a symlink: hostname not updated")
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        out = reopen(fd, os.O_WRONLY | os.O_TRUNC | os.O_NOCTTY)
    finally:
        os.close(fd)
    with os.fdopen(out, "w") as handle:
        handle.write(name)


def _own_for_idmap(conf, newdir, new_kind):
    """With lxc.idmap the clone's dir and overlay dirs belong to the mapped root, as LXC's
    chown_mapped_root: else the container's root cannot reach its rootfs or write its delta.
    A copied rootfs keeps the owners rsync gave it."""
    lines = conf.value("lxc.idmap") or []
    if not lines:
        return
    overlay = [os.path.join(newdir, p) for p in ("rootfs", "overlay", "overlay/delta", "overlay/work")]
    if os.geteuid() != 0:
        from ..idmap.userns import chown_to_container_root
        chown_to_container_root(lines, overlay if new_kind == "overlay" else [],
                                owner_only=[newdir])
        return
    from ..idmap.idshift import IdMap

    idmap = IdMap.parse(lines)
    uid, gid = idmap.host_uid(0), idmap.host_gid(0)
    if uid is None or gid is None:
        raise LxcError("lxc.idmap does not map container root (uid and gid 0)",
                       hint="add lines like lxc.idmap = u 0 100000 65536 and g 0 100000 65536")
    os.chown(newdir, uid, gid)
    if new_kind == "overlay":
        for path in overlay:
            os.chown(path, uid, gid)


def clone(origin, newname=None, newpath=None, *, snapshot=False, bdevtype=None, keepname=False,
          keepmac=False, allow_running=False, hookargs=(), rename=False, made_dir=False,
          newsize=0):
    """Clone Container ORIGIN as NEWNAME in NEWPATH; return the new config path.

    newsize (bytes, lxc-copy -L): a loop clone gets a new ext4 image of that size with the
    rootfs copied in, instead of a copy of the origin's image.

    made_dir: NEWPATH/NEWNAME was made by the caller (lxc-copy -e's random name) and goes
    on failure too."""
    from ..config.clone import rewrite
    from ..config.document import ConfigDocument
    from ..spawn.hooks import run_hooks
    from ..templates.runner import config_mode
    from .locking import container_lock

    if not origin.defined:
        raise NotDefined(f"Container {origin.name} is not defined")
    if not allow_running and origin.running:
        raise LxcError(f"error: Original container ({origin.name}) is running. Use --allowrunning "
                       "if you want to force a snapshot of the running container.",
                       hint=f"stop it first (lxc-stop -n {origin.name}), or copy with -s -a")
    newname = newname or origin.name
    newpath = os.path.abspath(newpath) if newpath else origin.lxcpath
    newpath = newpath.rstrip("/") or "/"
    if newname == origin.name and newpath == origin.lxcpath:
        raise LxcError(f"clone: {newname} is the origin itself", hint="give another -N or -p")
    check_new_name(newname)
    if not valid_name(newname):
        raise LxcError(f'invalid container name "{newname}"')
    newdir = os.path.join(newpath, newname)
    config_path = os.path.join(newdir, "config")
    text = "\n".join(origin.document.lines) + "\n"
    spec = origin.conf.value("lxc.rootfs.path") or ""
    kind, where = store.parse(spec)
    new_kind = store.plan(spec, oldname=origin.name, oldpath=origin.lxcpath, newpath=newpath,
                          snapshot=snapshot, bdevtype=bdevtype)
    if newsize and new_kind != "loop":
        raise LxcError(f"-L/--fssize only sizes a new loop image; this clone is {new_kind}",
                       hint="add -B loop, or drop -L")
    if "loop" in (kind, new_kind) and os.geteuid() != 0:
        raise LxcError("loop containers need root: cloning one mounts its image through a "
                       "loop device", hint="as a user, use dir, overlay or btrfs containers")
    if new_kind == "loop" and (kind != "loop" or newsize):
        from ..storage import loop
        loop.mkfs_tool(loop.DEFAULT_FSTYPE)
    method = None
    if new_kind == "btrfs":
        method = store.btrfs_method(spec, os.path.join(newdir, "rootfs"), snapshot)
    rollback = Rollback()
    if made_dir:
        rollback.made(newdir)
    marker = None
    with interrupts_unwind():
        try:
            makedirs(newpath)
            with container_lock(newpath, newname):
                partial.remove_stale_temps(newdir)
                state = settle_partial(newdir)
                if state == partial.ONGOING or os.path.exists(config_path):
                    raise LxcError(f"error: clone: {config_path} exists",
                                   hint="choose another new name (-N) or path (-p)")
                try:
                    os.mkdir(newdir, 0o770)
                    rollback.made(newdir)
                except FileExistsError:
                    if os.path.islink(newdir) or not os.path.isdir(newdir):
                        raise LxcError(f"{newdir} exists and is not a directory") from None
                if os.stat(newdir).st_mode & 0o7777 != 0o770:
                    # (a restore over a user's unprivileged container: the directory is
                    # container root's, already 0770, and not ours to chmod)
                    os.chmod(newdir, 0o770)
                marker = partial.Marker(newdir)
                if not rollback.trees:
                    rollback.made(marker.path)
            rootfs = os.path.join(newdir, "rootfs")
            if new_kind == "overlay":
                if not rollback.trees or rollback.trees[0] != newdir:
                    rollback.made(os.path.join(newdir, "overlay"))
                    rollback.made(rootfs)
                new_spec = store.snapshot_overlay(spec, newdir)
            elif new_kind == "btrfs":
                from ..storage import btrfs
                if method == "snapshot":
                    _as_container_root(origin.conf, lambda: btrfs.snapshot(where, rootfs),
                                       "snapshotting the btrfs rootfs")
                    rollback.made(rootfs)
                else:
                    btrfs.create(rootfs)
                    rollback.made(rootfs)
                    _fill(kind, where, spec, rootfs, origin)
                new_spec = "btrfs:" + rootfs
            elif new_kind == "loop":
                from ..storage import loop
                os.mkdir(rootfs, 0o755)
                rollback.made(rootfs)
                image = os.path.join(newdir, loop.IMAGE)
                new_spec = loop.PREFIX + image
                if kind == "loop" and not newsize:
                    renewal = loop.uuid_renewal(where)
                    loop.copy_image(where, image)
                    rollback.made(image)
                    if renewal:
                        loop.renew_uuid(image, renewal)
                else:
                    # As LXC: a new ext4 filesystem (-L size, else the default), the rootfs
                    # rsynced in; a loop origin is mounted too, on its own rootfs dir, in a
                    # namespace of its own inside the new image's.
                    loop.create_image(image, newsize or loop.DEFAULT_SIZE, loop.DEFAULT_FSTYPE)
                    rollback.made(image)
                    if kind == "loop":
                        origin_root = os.path.join(origin.dir, "rootfs")
                        in_rootfs(new_spec, lambda mounted: in_rootfs(
                            spec, lambda src: store.rsync(src, mounted), origin_root), rootfs)
                    else:
                        in_rootfs(new_spec, lambda mounted: store.rsync(where, mounted), rootfs)
            else:
                os.mkdir(rootfs, 0o755)
                rollback.made(rootfs)
                _fill(kind, where, spec, rootfs, origin)
                new_spec = "dir:" + rootfs
            _own_for_idmap(origin.conf, newdir, new_kind)
            result = rewrite(text, oldpath=origin.lxcpath, oldname=origin.name, newpath=newpath,
                             newname=newname, rootfs=new_spec, keepname=keepname, keepmac=keepmac)
            for old, new in result.copies:
                if rollback.trees[0] != newdir:
                    rollback.made(new)
                copy_file(old, new)
            from ..images.sharedconfig import rehome

            text = result.text
            if not newpath.startswith(origin.lxcpath + "/"):
                # another lxcpath gets its own include copy; a snapshot (NAME/snaps, below
                # the origin's lxcpath) keeps naming the lxcpath's: LXC would take a copy
                # in snaps/ for a snapshot
                text = rehome(text, newpath)
            doc = ConfigDocument(config_path, text, warn=log.warn)
            doc.save(config_path, mode=config_mode())
            if rollback.trees[0] != newdir:
                rollback.made(config_path)
            # Reverse dependencies: who this clone's storage leans on.
            rdeps = os.path.join(newdir, "lxc_rdepends")
            entries = []
            if snapshot and not rename:
                entries += _pairs(os.path.join(origin.dir, "lxc_rdepends"))
            elif rename:
                entries += _pairs(os.path.join(origin.dir, "lxc_rdepends"))
            if new_kind == "overlay" and kind == "dir" and not rename:
                entries.append((origin.lxcpath, origin.name))
            if entries:
                from ..atomic import atomic_write
                atomic_write(rdeps, "".join(f"{a}\n{b}\n" for a, b in entries), 0o644)

            def update(root):
                if doc.conf.value("lxc.hook.clone"):
                    run_hooks("clone", newname, doc.conf, config_path,
                              extra_env={"LXC_SRC_NAME": origin.name, "LXC_ROOTFS_MOUNT": root,
                                         "LXC_ROOTFS_PATH": new_spec},
                              args=list(hookargs), die_with_parent=True)
                if not keepname:
                    _write_hostname(root, newname)

            if doc.conf.value("lxc.hook.clone") or (not keepname and _has_hostname(new_spec)):
                in_rootfs(new_spec, update, rootfs)
            for lxcpath, name in entries:
                add_snapshot_entry(os.path.join(lxcpath, name), newpath, newname)
            marker.finish()
            marker = None
            return config_path
        except BaseException as exc:
            rollback.run()
            if isinstance(exc, OSError):  # the environment's (read-only, full): say where
                from ..errors import os_error
                raise os_error(exc, "cannot create", exc.filename or newdir) from None
            raise
        finally:
            if marker is not None:
                marker.release()


def rename(origin, newname):
    """LXC's rename: a clone in the same lxcpath keeping the MACs, then the origin destroyed."""
    from .destroy import clones_of, snapshots_of

    if not origin.defined:
        raise NotDefined(f"Container {origin.name} is not defined")
    if clones_of(origin.dir) or snapshots_of(origin.dir):
        raise LxcError("Renaming a container with snapshots is not supported",
                       hint="destroy its snapshots and clones first, or copy it (lxc-copy -N)")
    kind, _ = store.parse(origin.conf.value("lxc.rootfs.path") or "")
    # An overlay container stays one: its delta is copied over the same lower layer.
    clone(origin, newname, origin.lxcpath, snapshot=kind == "overlay", keepmac=True, rename=True)
    origin._doc = None
    origin.destroy()
