"""The local template, native: a container from a rootfs tarball and an image metadata
tarball on disk, as LXC's lxc-local (lxc-behaviour.md 3.3), with safe extraction.

    lxc-create -n NAME -t local -- -m META.tar.xz -f ROOTFS.tar.xz [--no-dev]

Differences from LXC 5.0.2's script, on purpose: any compression (xz, gzip, zstd, bzip2,
none) for both tarballs, found from the content; `--no-dev` takes no argument (LXC's getopt
spec made it swallow the next word); no metadata is a warning, not an error (the container
gets the default config plus lxc.uts.name); hostile members are refused (images/
extract.py); placeholder files reached through a symlink are not rewritten.
"""

import os

from ..errors import LxcError

COMPAT_LEVEL = 5

USAGE = """LXC container image from local tarballs (lxctools native)

Special arguments:
[ -h | --help ]: Print this help message and exit.
[ -m | --metadata <file> ]: Path to the metadata tarball of the image.
[ -f | --fstree <file> ]: Path to the rootfs tarball of the image.
[ --no-dev ]: Do not unpack the image's /dev (device nodes and all).
[ --flush-cache ]: Unpack from the tarball again, dropping its copy in the image cache.

LXC internal arguments (do not pass manually!):
[ --name <name> ]: The container name
[ --path <path> ]: The path to the container
[ --rootfs <rootfs> ]: The path to the container's rootfs
[ --mapped-uid <map> ]: A uid map (user namespaces)
[ --mapped-gid <map> ]: A gid map (user namespaces)
"""


def usage():
    return USAGE


LONG = ["help", "metadata=", "fstree=", "no-dev", "flush-cache", "name=", "path=", "rootfs=", "mapped-uid=",
        "mapped-gid="]


def parse_args(argv, short, long, template):
    """GNU getopt as LXC's scripts use it (permutation, unique long prefixes, --opt=value)."""
    import getopt

    try:
        opts, rest = getopt.gnu_getopt(argv, short, long)
    except getopt.GetoptError as exc:
        meant = ""
        if exc.opt and len(exc.opt) > 1:
            from ..config.values import did_you_mean
            meant = did_you_mean("--" + exc.opt, ["--" + o.rstrip("=") for o in long])
        raise LxcError(f"{template} template: {exc.msg}{meant}",
                       hint=f"lxc-create -t {template} -h lists the template's arguments") from None
    return opts, rest


def create(ctx, argv):
    from ..images import extract, meta

    opts, _rest = parse_args(argv, "hm:f:", LONG, "local")
    metadata = fstree = None
    no_dev = flush = False
    rootfs = ctx.rootfs
    for key, value in opts:
        if key in ("-h", "--help"):
            ctx.say(USAGE)
            raise LxcError("template help shown: nothing was created")
        if key in ("-m", "--metadata"):
            metadata = value
        elif key in ("-f", "--fstree"):
            fstree = value
        elif key == "--no-dev":
            no_dev = True
        elif key == "--flush-cache":
            flush = True
        elif key == "--rootfs":
            rootfs = value
    if not fstree:
        raise LxcError("ERROR: Rootfs file was not passed",
                       hint="lxc-create -t local -- -m META.tar.xz -f ROOTFS.tar.xz")
    if not os.path.isfile(fstree):
        raise LxcError(f"ERROR: Rootfs file {fstree} does not exist")
    if metadata and not os.path.isfile(metadata):
        raise LxcError(f"ERROR: Metadata file {metadata} does not exist")
    ctx.rootfs = rootfs
    mode = meta.image_mode(ctx.config.conf)
    if flush:
        from ..images import rootcache

        rootcache.flush(source=fstree)
    ctx.say("Unpacking the rootfs")
    with _tempdir(ctx) as metadir:
        if metadata:
            try:
                extract.extract(metadata, metadir, devices="refuse", owners=False)
            except extract.Refused:
                raise
            except LxcError as exc:
                raise LxcError("ERROR: Invalid metadata file", hint=exc.message) from None
        else:
            from .. import log

            log.warn("no metadata tarball (-m): the container gets only the default config")
            if not ctx.quiet:
                print("WARNING: no metadata tarball (-m): using the default config only",
                      flush=True)
        if metadata and not os.path.exists(meta.relevant_file(metadir, "config", mode,
                                                               COMPAT_LEVEL)):
            raise LxcError("ERROR: meta tarball is missing the configuration file",
                           hint="the metadata tarball needs a file named config")
        excludes = meta.excludes(metadir, mode, COMPAT_LEVEL)
        if no_dev:
            excludes.append("./dev/*")
        unpack_rootfs(ctx, fstree, rootfs, excludes, mode)
        message = meta.apply(ctx, metadir, COMPAT_LEVEL, required=bool(metadata))
    meta.show_create_message(ctx, message)


def unpack_rootfs(ctx, tarball, rootfs, excludes, mode, build_id=None):
    """Extract the rootfs as LXC's `tar --anchored --exclude... --numeric-owner -xp`, then
    make dev/pts. Device nodes are skipped (one summary line) for an lxc.idmap container,
    which could not create them in its user namespace either.

    Unpacked trees are kept in the image cache (images/rootcache.py) before the
    template's placeholders touch them; a later create of the same image makes its rootfs
    from there (overlay, btrfs snapshot, reflink or plain copy) instead of reading the
    tarball again. The first create of an image that would have to be copied unpacks into
    the container alone (as fast as tar), and the next one fills the cache
    (rootcache.worth_filling)."""
    from ..images import rootcache

    devices = "skip" if mode == "user" else "create"
    idmap = _idmap(ctx)
    # The cached tree's owners went through this map: it is part of the entry's key.
    map_lines = (ctx.config.conf.value("lxc.idmap") or []) if idmap is not None else []
    keyed = {"excludes": excludes, "devices": devices, "idmap_lines": map_lines}

    def unpack(tree):
        found = _extract(ctx, tarball, tree, excludes, devices, idmap)
        _finish_tree(tree, idmap)
        return found

    entry = rootcache.lookup(tarball, **keyed)
    fresh = False
    if entry is None and rootcache.worth_filling(
            tarball, rootfs, overlay=_overlay_upper(ctx, rootfs) is not None, **keyed):
        entry = rootcache.fill(tarball, unpack, build_id=build_id, **keyed)
        fresh = entry is not None
    if entry is not None:
        try:
            method = _over_cached_tree(ctx, entry, rootfs) or rootcache.populate(entry, rootfs)
            skipped = (entry.info() or {}).get("skipped_devices", 0)
        finally:
            entry.unlock()
        if not fresh:
            _say_cached(ctx, tarball, method)
        if "overlay_layers" not in ctx.extra:  # an overlay's lower layer is the tree itself
            _finish_tree(rootfs, idmap)
    else:
        skipped = unpack(rootfs)
        rootcache.mark_seen(tarball, **keyed)
    if idmap is not None:
        # Owners went through the map as they were extracted; the runner must not shift
        # them again.
        ctx.rootfs_shifted = True
    if skipped:
        ctx.say(f"Skipped {skipped} device node(s) under /dev "
                "(an unprivileged container cannot create them)")


def _finish_tree(tree, idmap):
    """What an unpacked tree gets before it is a rootfs or the cache's tree: with an id map,
    its own directory is container root's when the archive had no "./" member; dev/pts."""
    owner = None
    if idmap is not None:
        owner = (idmap.host_uid(0), idmap.host_gid(0))
        st = os.lstat(tree)
        if (st.st_uid, st.st_gid) == (0, 0):
            os.chown(tree, *owner, follow_symlinks=False)
    make_dev_pts(tree, owner)


def _over_cached_tree(ctx, entry, rootfs):
    """For `lxc-create -B overlay` (root): make the cached tree itself the lower layer, in
    place of LXC's fresh unpack into NAME/rootfs, pinned so that eviction keeps it while the
    container exists. "overlay", or None when this create is not such an overlay or the
    cache is on another filesystem (the pin is a hard link)."""
    upper = _overlay_upper(ctx, rootfs)
    if upper is None:
        return None
    from ..images import rootcache

    if not rootcache.pin(entry, os.path.join(os.path.dirname(upper), "image-pin")):
        return None
    ctx.config.replace_item("lxc.rootfs.path", f"overlay:{entry.tree}:{upper}")
    ctx.extra["overlay_layers"] = (entry.tree, upper)
    return "overlay"


def _overlay_upper(ctx, rootfs):
    """The upper layer of this `lxc-create -B overlay` (as root) whose lower layer is ROOTFS,
    or None when this create is no such overlay."""
    spec = ctx.config.conf.value("lxc.rootfs.path") or ""
    kind, _, rest = spec.partition(":")
    lower, _, upper = rest.rpartition(":")
    if kind not in ("overlay", "overlayfs") or os.geteuid() != 0 or not upper \
            or os.path.realpath(lower) != os.path.realpath(rootfs):
        return None
    return upper


def _extract(ctx, tarball, rootfs, excludes, devices, idmap):
    """Unpack TARBALL into ROOTFS; the number of device nodes skipped."""
    from ..images import extract
    from ..images.progress import Progress

    progress = Progress("Unpacking", enabled=ctx.progress) if ctx.progress else None
    summary = extract.extract(tarball, rootfs, excludes=excludes, devices=devices,
                              progress=progress, idmap=idmap)
    return len(summary.skipped_devices)


def _say_cached(ctx, tarball, method):
    """LXC's output stays as it is (scripts compare it); a terminal user is told why this
    was fast, and the log always says it."""
    import sys

    from .. import log
    from ..images import rootcache

    text = (f"the rootfs is {rootcache.describe(method)} the image cache's tree (unpacked "
            f"from {tarball} before; lxc-create ... -- --flush-cache unpacks again)")
    log.info(text)
    if ctx.progress:
        print(f"Unpacking: {text}", file=sys.stderr, flush=True)


def _idmap(ctx):
    """The container's lxc.idmap when we are root (then extraction shifts owners), else None
    (not root: files are ours, and the runner hands them to container root)."""
    lines = ctx.config.conf.value("lxc.idmap") or []
    if not lines or os.geteuid() != 0:
        return None
    from ..idmap.idshift import IdMap

    idmap = IdMap.parse(lines)
    if idmap.host_uid(0) is None or idmap.host_gid(0) is None:
        return None  # the runner refuses this map with its own message
    return idmap


def make_dev_pts(rootfs, owner=None):
    """mkdir -p ROOTFS/dev/pts, never through a symlink the image planted."""
    fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in ("dev", "pts"):
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
                if owner is not None:
                    os.chown(part, *owner, dir_fd=fd, follow_symlinks=False)
            except FileExistsError:
                pass
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=fd)
            except OSError:
                return  # a symlink or a file: the image's business, not ours to follow
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)


class _tempdir:
    """A private temp dir inside the container's directory, removed however the template
    ends: even after a kill -9 the half container's cleanup takes it along."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.path = None

    def __enter__(self):
        import tempfile

        self.path = tempfile.mkdtemp(prefix=".image.", dir=self.ctx.path)
        return self.path

    def __exit__(self, *exc):
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)
        return False
