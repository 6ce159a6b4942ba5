"""The unpacked-image cache (beyond LXC): each image's rootfs, unpacked and checked once, from
which later containers are made without reading the tarball again.

LXC unpacks `rootfs.tar.xz` on every `lxc-create -t download` (seconds of xz for a 240 MB
Debian tree). We keep the tree our safe extractor produced, before the template's
placeholders touch it, and copy it into each new container by the fastest means the
filesystem offers:

  snapshot   the cached tree is a btrfs subvolume on the container's filesystem: one ioctl
  reflink    same filesystem with shared extents (btrfs, xfs): `cp --reflink=auto` clones
             extents instead of data
  copy       anything else: `cp -a` (in-kernel copy_file_range, owners, modes, hard links,
             xattrs incl. file capabilities, device nodes, sparse files)

  overlay    `lxc-create -B overlay` (root): the cached tree itself is the container's lower
             layer and only its changes live in NAME/overlay/delta -- milliseconds, and the
             image's disk space is shared (what LXC's own -B overlay cannot do, its lower
             layer being a fresh unpack in NAME/rootfs)

An entry is keyed by the tarball's identity (path, device, inode, size, mtime: a download
that replaces `rootfs.tar.xz` renames a new inode into place) and by everything that changes
what extraction produces (excludes, device handling, the id map owners went through, the
caller). Layout under `cache_dir()/lxctools/unpacked/`:

  KEY              symlink to trees/ID: the tree a new create of this unpack uses
  KEY.lock         flock: shared while a create copies from KEY, exclusive to fill or drop it
  trees/ID/rootfs  the tree (a btrfs subvolume when the cache lives on btrfs); never changed
  trees/ID/info.json  key, source, build id, size, skipped devices; its mtime = last use
  trees/ID/pin     hard-linked as NAME/overlay/image-pin by each container using the tree
                   as its lower layer: a link count above 1 means "in use"

Trees appear by rename of a finished `trees/.new.ID`, KEY by an atomic symlink swap, so a
killed fill leaves only a temp directory that a later fill removes. The cache is bounded
(`lxctools.image_cache.size` in lxc.conf, default 4G, `0` turns it off;
`LXCTOOLS_IMAGE_CACHE_SIZE` overrides): after a fill, least recently used keys are dropped
until the total fits, never one a create is copying from. Dropping a key (eviction,
--flush-cache) removes its tree unless containers still use it as their lower layer; such a
tree stays, unreachable for new creates, until its last container is destroyed (the next
fill or flush collects it). Copies made from a tree never depend on it.

Size: one module, because the cache's rules (keys, locks, pins, eviction) hold only
together: a change to one is checked against the others here.
"""

import errno
import fcntl
import json
import os
import shutil
import subprocess
import time

from ..errors import LxcError

FORMAT = 1
DEFAULT_SIZE = "4G"


def size_limit():
    """The cache's bound in bytes (0 = no cache)."""
    value = os.environ.get("LXCTOOLS_IMAGE_CACHE_SIZE")
    if value is None:
        from ..paths import global_value

        value = global_value("lxctools.image_cache.size") or DEFAULT_SIZE
    return parse_size(value)


def parse_size(text):
    """Bytes of '4G', '512M', '100k', '1.5GiB', '0' or a plain number (binary units)."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise LxcError(f'image cache size "{text}" is not a size',
                       key="lxctools.image_cache.size", hint="write e.g. 4G, 512M or 0 (off)")
    scale = 1 << (10 * " kmgt".index(match.group(2).lower() or " "))
    return int(float(match.group(1)) * scale)


def base_dir():
    from ..paths import cache_dir

    return os.path.join(cache_dir(), "lxctools", "unpacked")


def key_for(tarball, *, excludes, devices, idmap_lines):
    """The entry name for TARBALL unpacked with these settings."""
    import hashlib

    st = os.stat(tarball)
    ident = [FORMAT, os.path.realpath(tarball), st.st_dev, st.st_ino, st.st_size,
             st.st_mtime_ns, sorted(excludes), devices, list(idmap_lines), os.geteuid()]
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32]


class Entry:
    """KEY and the tree it points at; locked shared while a create uses it."""

    def __init__(self, base, key):
        self.base = base
        self.key = key
        self.lock_fd = None
        self.tree_dir = None

    @property
    def tree(self):
        return os.path.join(self.tree_dir, "rootfs")

    def resolve(self):
        """The tree KEY points at, or None."""
        try:
            target = os.readlink(os.path.join(self.base, self.key))
        except OSError:
            return None
        if not target.startswith("trees/") or "/" in target[6:] or target[6:].startswith("."):
            return None
        self.tree_dir = os.path.join(self.base, target)
        return self.tree_dir

    def info(self):
        return _read_info(self.tree_dir) if self.tree_dir else None

    def lock(self, exclusive=False, wait=True):
        """flock KEY.lock; False when WAIT is off and someone else holds it."""
        self.lock_fd = os.open(os.path.join(self.base, self.key + ".lock"),
                               os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(self.lock_fd, flags | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            self.unlock()
            return False
        return True

    def unlock(self):
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def touch(self):
        """Mark as recently used (eviction goes by this mtime)."""
        try:
            os.utime(os.path.join(self.tree_dir, "info.json"))
        except OSError:
            pass


def _read_info(tree_dir):
    try:
        with open(os.path.join(tree_dir, "info.json")) as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        return None
    return info if info.get("format") == FORMAT else None


def lookup(tarball, *, excludes, devices, idmap_lines):
    """A locked (shared) Entry for this unpack, or None: not cached, or the cache is off."""
    if size_limit() == 0:
        return None
    base = base_dir()
    if not os.path.isdir(base):
        return None
    entry = Entry(base, key_for(tarball, excludes=excludes, devices=devices,
                                idmap_lines=idmap_lines))
    if not os.path.islink(os.path.join(base, entry.key)):
        return None
    entry.lock()
    if entry.resolve() is None or entry.info() is None or not os.path.isdir(entry.tree):
        entry.unlock()
        return None
    return entry


def populate(entry, rootfs):
    """Make ROOTFS (an existing, empty directory we created) a copy of ENTRY's tree; returns
    the method used ("snapshot", "reflink" or "copy")."""
    if _try_snapshot(entry.tree, rootfs):
        method = "snapshot"
    else:
        method = _copy_tree(entry.tree, rootfs)
    entry.touch()
    return method


def pin(entry, link):
    """Hard-link ENTRY's pin as LINK (the container uses the tree as its lower layer); False
    when the cache and LINK are on different filesystems (then the caller copies)."""
    try:
        os.link(os.path.join(entry.tree_dir, "pin"), link)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOENT):
            return False
        raise
    entry.touch()
    return True


def users(tree_dir):
    """How many containers use TREE_DIR as their lower layer."""
    try:
        return os.lstat(os.path.join(tree_dir, "pin")).st_nlink - 1
    except OSError:
        return 0


def _try_snapshot(tree, rootfs):
    """Replace the empty ROOTFS by a btrfs snapshot of TREE when both are on one btrfs."""
    try:
        from ..kernel import btrfs
    except ImportError:
        return False
    if not (btrfs.is_subvolume(tree) and btrfs.on_btrfs(os.path.dirname(rootfs))):
        return False
    try:
        os.rmdir(rootfs)
    except OSError:
        return False
    try:
        btrfs.snapshot(tree, rootfs)
        return True
    except OSError:
        os.mkdir(rootfs, 0o755)
        return False


def _copy_tree(src, dst):
    """cp -a SRC/. DST (DST's own owner, mode and times follow SRC's); the method name."""
    method = "reflink" if _same_fs_with_reflink(src, dst) else "copy"
    cmd = ["cp", "-a", "--reflink=auto", "--sparse=auto", "--no-target-directory",
           src + "/.", dst]
    from ..kernel.libc import die_with_parent

    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise LxcError(f"copying the cached image {src} into {dst} failed: {detail}",
                       hint="is there room on the target filesystem? "
                            "--flush-cache unpacks from the tarball again")
    return method


def _same_fs_with_reflink(src, dst):
    try:
        if os.stat(src).st_dev != os.stat(dst).st_dev:
            # btrfs gives each subvolume its own st_dev; the filesystem type still tells.
            return _fs_type(src) == _fs_type(dst) == "btrfs"
        return _fs_type(dst) in ("btrfs", "xfs")
    except OSError:
        return False


def _fs_type(path):
    from ..kernel.mountinfo import mount_of

    found = mount_of(os.path.realpath(path))
    return found[1] if found else None


def worth_filling(tarball, rootfs, *, overlay, excludes, devices, idmap_lines):
    """Should this create (a miss) unpack into the cache and make ROOTFS from the tree?

    Yes when the container is then made without copying (an overlay over the tree, a btrfs
    snapshot of it), or when this unpack was made before (it is reused: later creates copy
    it). No for the first create of an image that would be copied: on a filesystem where
    every inode costs (ext4), unpacking into the cache and copying into the container costs
    1.7 of one unpack, and a first create must cost no more than `tar -xJf` (issue 22.6);
    it unpacks into the container and notes the key as seen."""
    if size_limit() == 0:
        return False
    key = key_for(tarball, excludes=excludes, devices=devices, idmap_lines=idmap_lines)
    base = base_dir()
    if os.path.exists(os.path.join(base, key + ".seen")):
        return True
    anchor = _existing(base)
    target = _existing(os.path.dirname(rootfs))
    try:
        if overlay:
            return os.stat(anchor).st_dev == os.stat(target).st_dev  # the pin is a hard link
        return _fs_type(anchor) == _fs_type(target) == "btrfs" and _same_btrfs(anchor, target)
    except OSError:
        return False


def _existing(path):
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def _same_btrfs(one, two):
    from ..kernel import btrfs

    fds = [btrfs.open_dir(one), btrfs.open_dir(two)]
    try:
        return btrfs.fsid(fds[0]) == btrfs.fsid(fds[1])
    finally:
        for fd in fds:
            os.close(fd)


def mark_seen(tarball, *, excludes, devices, idmap_lines):
    """Note that this unpack was made (into a container, not the cache): the image is
    reused from the next create on, which fills the cache (and so does any create after
    the key is flushed or evicted). Best effort. The mark holds the tarball's identity, so
    that collect() drops it once that file is gone or replaced."""
    if size_limit() == 0:
        return
    base = base_dir()
    try:
        os.makedirs(base, 0o700, exist_ok=True)
        key = key_for(tarball, excludes=excludes, devices=devices, idmap_lines=idmap_lines)
        with open(os.path.join(base, key + ".seen"), "w") as handle:
            json.dump(_identity(tarball), handle)
    except OSError:
        pass


def _identity(tarball):
    st = os.stat(tarball)
    return [os.path.realpath(tarball), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def fill(tarball, extract_into, *, excludes, devices, idmap_lines, build_id=None):
    """Unpack TARBALL into a new tree of this unpack's key (EXTRACT_INTO(tree) returns the
    number of device nodes skipped), keep it, evict down to the size bound, and return the
    key's Entry locked shared for the caller to make its rootfs from. None when the cache
    does not take it -- off, another create filling this key, or the cache cannot be
    written (a warning) -- and the caller unpacks into the container itself. Errors of the
    extraction itself (a refused or damaged archive) are raised, the half tree removed."""
    limit = size_limit()
    if limit == 0:
        return None
    base = base_dir()
    entry = None
    new = None
    try:
        os.makedirs(os.path.join(base, "trees"), 0o700, exist_ok=True)
        entry = Entry(base, key_for(tarball, excludes=excludes, devices=devices,
                                    idmap_lines=idmap_lines))
        if not entry.lock(exclusive=True, wait=False):
            return None  # another create of this image is filling it
        try:
            if entry.resolve() is None or entry.info() is None:
                tree_id = f"{entry.key[:16]}-{time.time_ns():x}"
                new = os.path.join(base, "trees", f".new.{tree_id}.{os.getpid()}")
                os.mkdir(new, 0o700)
                tree = os.path.join(new, "rootfs")
                _make_tree_dir(tree)
                skipped = extract_into(tree)
                info = {"format": FORMAT, "key": entry.key, "source": os.path.realpath(tarball),
                        "build_id": build_id, "size": tree_size(tree),
                        "skipped_devices": skipped, "created": time.time()}
                # No atomic writes needed inside: the whole tree appears by the rename below.
                with open(os.path.join(new, "info.json"), "w") as handle:
                    json.dump(info, handle, indent=1)
                os.close(os.open(os.path.join(new, "pin"), os.O_WRONLY | os.O_CREAT, 0o600))
                final = os.path.join(base, "trees", tree_id)
                os.rename(new, final)
                new = None
                _point(base, entry.key, "trees/" + tree_id)
        finally:
            entry.unlock()
            if new is not None:
                _delete_tree(new)  # a refusal or a full disk leaves no half tree behind
        evict(limit, keep=entry.key)
        return lookup(tarball, excludes=excludes, devices=devices, idmap_lines=idmap_lines)
    except LxcError as exc:
        from .extract import WriteFailed

        if not isinstance(exc, WriteFailed):
            raise  # the archive's fault: the caller's create fails as it would have
        return _not_updated(exc.message)
    except OSError as exc:
        return _not_updated(exc.strerror or str(exc))
    finally:
        try:
            collect(base)
        except OSError:
            pass


def _not_updated(message):
    from .. import log

    log.warn(f"the image cache was not updated: {message}")
    return None


def _point(base, key, target):
    """Make KEY a symlink to TARGET in one step (the old tree is collected later)."""
    tmp = os.path.join(base, f".{key}.{os.getpid()}")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.rename(tmp, os.path.join(base, key))


def _make_tree_dir(tree):
    """The entry's tree: a btrfs subvolume when the cache is on btrfs (later creates on that
    filesystem snapshot it), else a directory."""
    try:
        from ..kernel import btrfs
    except ImportError:
        btrfs = None
    if btrfs is not None and btrfs.on_btrfs(os.path.dirname(tree)):
        try:
            btrfs.create_subvolume(tree)
            return
        except OSError:
            pass
    os.mkdir(tree, 0o755)


def tree_size(tree):
    """Bytes TREE occupies (allocated blocks, hard links once)."""
    seen = set()
    total = 0
    for root, dirs, files in os.walk(tree):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            if st.st_nlink > 1 and not os.path.isdir(os.path.join(root, name)):
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def entries(base=None):
    """(key, tree dir, info, last used) of each key, least recently used first."""
    base = base or base_dir()
    found = []
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith(".") or name.endswith((".lock", ".seen")) or name == "trees":
            continue
        entry = Entry(base, name)
        if entry.resolve() is None:
            continue
        info = entry.info()
        if info is None:
            continue
        used = os.stat(os.path.join(entry.tree_dir, "info.json")).st_mtime
        found.append((name, entry.tree_dir, info, used))
    found.sort(key=lambda item: item[3])
    return found


def trees(base=None):
    """{tree dir: info} of every finished tree, reachable by a key or not."""
    base = base or base_dir()
    out = {}
    try:
        names = os.listdir(os.path.join(base, "trees"))
    except FileNotFoundError:
        return out
    for name in names:
        if not name.startswith("."):
            path = os.path.join(base, "trees", name)
            out[path] = _read_info(path) or {}
    return out


def evict(limit, keep=None, base=None):
    """Drop least recently used keys until the trees fit LIMIT bytes; keys being copied from
    (shared lock held), KEEP, and trees in use as lower layers stay. Returns the keys."""
    base = base or base_dir()
    total = sum(info.get("size", 0) for info in trees(base).values())
    removed = []
    for key, tree_dir, info, _ in entries(base):
        if total <= limit:
            break
        if key == keep or users(tree_dir):
            continue
        if _drop_key(base, key):
            total -= info.get("size", 0)
            removed.append(key)
    collect(base)
    return removed


def flush(source=None, base=None):
    """Drop the keys unpacked from SOURCE (a tarball path), or all. Returns (keys dropped,
    trees kept because containers use them as their lower layer)."""
    base = base or base_dir()
    real = os.path.realpath(source) if source else None
    removed = []
    for key, _tree, info, _ in entries(base):
        if real is None or info.get("source") == real:
            if _drop_key(base, key, wait=True):
                removed.append(key)
    return removed, collect(base)


def _drop_key(base, key, wait=False):
    entry = Entry(base, key)
    if not entry.lock(exclusive=True, wait=wait):
        return False
    try:
        os.unlink(os.path.join(base, key))
        try:
            os.unlink(os.path.join(base, key + ".lock"))
        except FileNotFoundError:
            pass
        return True
    except FileNotFoundError:
        return False
    finally:
        entry.unlock()


def collect(base=None):
    """Delete trees no key points at and no container uses; temp dirs of dead fills. Returns
    the unreachable trees kept for their containers."""
    base = base or base_dir()
    pointed = {entry_tree for _, entry_tree, _, _ in entries(base)}
    kept = []
    _collect_seen(base)
    tree_root = os.path.join(base, "trees")
    try:
        names = os.listdir(tree_root)
    except FileNotFoundError:
        return kept
    for name in names:
        path = os.path.join(tree_root, name)
        if name.startswith(".new."):
            pid = name.rsplit(".", 1)[-1]
            if pid.isdigit() and (int(pid) == os.getpid() or _alive(int(pid))):
                continue
            _delete_tree(path)
        elif name.startswith(".old."):
            _delete_tree(path)
        elif path not in pointed:
            if users(path):
                kept.append(path)
                continue
            trash = os.path.join(tree_root, f".old.{name}")
            try:
                os.rename(path, trash)
            except OSError:
                continue
            _delete_tree(trash)
    return kept


def _collect_seen(base):
    """Drop the marks of unpacks whose tarball is gone or replaced (its key cannot come
    back: the inode and mtime are in it)."""
    try:
        names = [n for n in os.listdir(base) if n.endswith(".seen")]
    except OSError:
        return
    for name in names:
        path = os.path.join(base, name)
        try:
            with open(path) as handle:
                ident = json.load(handle)
            try:
                current = _identity(ident[0])
            except OSError:
                current = None
            if current != ident:
                os.unlink(path)
        except (OSError, ValueError, TypeError, IndexError):
            try:
                os.unlink(path)
            except OSError:
                pass


def _delete_tree(path):
    try:
        from ..kernel import btrfs
    except ImportError:
        btrfs = None
    tree = os.path.join(path, "rootfs")
    if btrfs is not None and os.path.isdir(tree) and btrfs.is_subvolume(tree):
        try:
            btrfs.delete_subvolume(tree)
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def describe(method):
    return {"snapshot": "a btrfs snapshot of", "reflink": "a reflink copy of",
            "copy": "a copy of", "overlay": "an overlay over"}[method]
