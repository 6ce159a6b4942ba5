"""Safe extraction of rootfs and metadata tarballs (xz, gzip, zstd, bzip2 or plain).

Every member is created relative to an open directory fd of the destination, one path
component at a time with O_NOFOLLOW, so nothing can be written outside the destination:

- member names that are absolute or contain `..` are refused;
- a member whose path goes through a symlink is refused (a tarball that plants a link to /etc
  and then writes `etc-link/shadow`), and so is a member that would turn an existing
  directory into a file or link;
- relative symlink targets that climb above the root are refused (absolute targets are paths
  inside the container, where they cannot leave it); hard links must name an earlier member
  inside the tree;
- device nodes only below dev/ and FIFOs only when the caller allows them (`devices`).

A refusal raises Refused naming the member and the reason; what was already extracted stays
for the caller to remove (lxc-create's rollback removes the whole rootfs). Numeric owners
(shifted through an lxc.idmap when given), modes, mtimes and xattrs (GNU tar's SCHILY.xattr
and libarchive's LIBARCHIVE.xattr pax records) are restored; owners only when we are root.

Size: a security boundary (a hostile tarball), kept in one file so that its checks are
reviewed together.
"""

import errno
import os
import stat
import tarfile

from ..errors import LxcError
from . import tarread

XZ, GZIP, ZSTD, BZIP2, PLAIN = "xz", "gzip", "zstd", "bzip2", "tar"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FD_CACHE = 256
_WRITERS = 3                  # threads creating small files
_SMALL_FILE = 1 << 20         # larger files are written by the reading thread itself
_INFLIGHT_BYTES = 32 << 20    # file data held for the writers at most
_INFLIGHT_FILES = 256
_BATCH_FILES = 16             # small files handed to a writer at once (one task, not 16)
_BATCH_BYTES = 1 << 20


class Refused(LxcError):
    """An unsafe or unsupported member: the archive is not extracted."""


class WriteFailed(LxcError):
    """The destination could not be written (full, read-only...): not the archive's fault."""


def compression(path):
    """Which decompressor the file needs, from its first bytes (not its name)."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head.startswith(b"\xfd7zXZ\x00"):
        return XZ
    if head.startswith(b"\x1f\x8b"):
        return GZIP
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return ZSTD
    if head.startswith(b"BZh"):
        return BZIP2
    return PLAIN


_PROGRAMS = {XZ: ("xz", "-dcq", "-T0"), ZSTD: ("zstd", "-dcq"), GZIP: ("gzip", "-dcq"),
             BZIP2: ("bzip2", "-dcq")}


class _Counting:
    """The compressed file, telling the progress bar how far into it the reader is."""

    def __init__(self, raw, progress):
        self.raw = raw
        self.progress = progress

    def read(self, size=-1):
        data = self.raw.read(size)
        if self.progress is not None:
            self.progress.update(self.raw.tell())
        return data

    def readinto(self, buffer):
        n = self.raw.readinto(buffer)
        if self.progress is not None:
            self.progress.update(self.raw.tell())
        return n

    def readable(self):
        return True

    def close(self):
        self.raw.close()


class _Piped:
    """Decompressed bytes from an external decompressor reading the file itself; progress is
    the file offset, shared with the child through the open file description."""

    def __init__(self, argv, raw, progress):
        import subprocess

        self.raw = raw
        self.progress = progress
        self.proc = subprocess.Popen(argv, stdin=raw.fileno(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.argv = argv
        self.status = None
        self.err = ""

    def read(self, size=-1):
        data = self.proc.stdout.read(size)
        if self.progress is not None:
            self.progress.update(os.lseek(self.raw.fileno(), 0, os.SEEK_CUR))
        return data

    def close(self):
        if self.status is None:
            self.proc.stdout.close()
            err = self.proc.stderr.read()
            self.proc.stderr.close()
            self.status = self.proc.wait()
            self.err = err.decode(errors="replace").strip()
            self.raw.close()
        return self.status, self.err

    def failure(self, drain=False):
        """The decompressor's complaint when it failed on its own (damaged data), else None.
        DRAIN reads what it still writes after tar's end marker, so that its verdict covers
        the whole file (as tar's does); otherwise our end is closed and a decompressor still
        writing gets SIGPIPE, which is not a failure."""
        if drain and self.status is None:
            while self.proc.stdout.read(1 << 20):
                pass
        status, err = self.close()
        if status > 0:
            return f"{os.path.basename(self.argv[0])}: {err or f'exit status {status}'}"
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()


def open_stream(path, progress=None):
    """(readable stream of the decompressed tar, closer) for PATH."""
    kind = compression(path)
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise LxcError(f"cannot open {path}: {exc.strerror}") from None
    if progress is not None and progress.total is None:
        progress.total = os.fstat(raw.fileno()).st_size
    if kind in _PROGRAMS:
        # A decompressor process runs on another core while we create files (and xz
        # decompresses multi-block archives with several threads): faster than in-process.
        import shutil

        binary = shutil.which(_PROGRAMS[kind][0])
        if binary is not None:
            piped = _Piped([binary, *_PROGRAMS[kind][1:]], raw, progress)
            return piped, piped
    if kind == ZSTD:
        try:
            import zstandard
        except ImportError:
            raise LxcError(f"{path} is zstd-compressed and neither the zstd program nor the "
                           "zstandard module is available", hint="apt-get install zstd") from None
        stream = zstandard.ZstdDecompressor().stream_reader(_Counting(raw, progress))
        return stream, stream
    counted = _Counting(raw, progress)
    if kind == XZ:
        import lzma

        stream = lzma.LZMAFile(counted)
    elif kind == GZIP:
        import gzip

        stream = gzip.GzipFile(fileobj=counted, mode="rb")
    elif kind == BZIP2:
        import bz2

        stream = bz2.BZ2File(counted)
    else:
        stream = counted
    return stream, stream


class Summary:
    def __init__(self):
        self.members = 0
        self.excluded = 0
        self.skipped_devices = []
        self.xattr_failures = 0


class _Batch:
    """Small files for one writer task: (dir fd, leaf, data, plan) each, and their names."""

    __slots__ = ("jobs", "names", "size", "future")

    def __init__(self):
        self.jobs = []
        self.names = []
        self.size = 0
        self.future = None


class _Extractor:
    def __init__(self, archive, dest, *, excludes, devices, owners, idmap, summary, umask=0o022):
        self.archive = archive
        self.dest = dest
        self.excludes = [_norm_pattern(p) for p in excludes if p.strip()]
        self.devices = devices
        self.owners = owners
        self.idmap = idmap
        self.summary = summary
        self.root = os.open(dest, _DIR_FLAGS)
        self.dirs = {(): self.root}
        # Every syscall per member counts (a rootfs has thousands; tar makes 4-5 per file):
        # - into an empty destination, a name not made before cannot be taken, so it needs no
        #   lstat first (`made` holds the hashes of the names made: a collision only costs
        #   that lstat); O_EXCL|O_NOFOLLOW still refuses anything that would be there;
        # - the owner a file gets by being created (ours; the directories we make are not
        #   setgid until their attributes are set, last) needs no fchown;
        # - a mode the umask leaves alone and without setuid/setgid/sticky bits is given at
        #   creation and needs no fchmod.
        root = os.fstat(self.root)
        with os.scandir(self.root) as listing:
            self.fresh = next(listing, None) is None
        self.made = set()
        # (a directory that was there may be setgid: its files get its group, not ours)
        self.creator = ((os.geteuid(), os.getegid())
                        if self.fresh and not root.st_mode & stat.S_ISGID else None)
        self.umask = umask
        self.pool = None
        self.pending = {}            # parts -> the _Batch writing that file
        self.batch = None            # the _Batch being filled (not handed to a writer yet)
        import collections

        self.inflight = collections.deque()  # _Batches handed over, oldest first
        self.inflight_bytes = self.inflight_files = 0
        self.delayed = []  # directories' attributes, applied last (children change mtimes)

    # -- errors ----------------------------------------------------------------------------
    def refuse(self, member, reason):
        raise Refused(f"refusing {self.archive}: member {member.name!r}: {reason}",
                      hint="the archive is unsafe or damaged; nothing of it is kept")

    # -- paths -------------------------------------------------------------------------------
    def parts(self, member, name):
        if name.startswith("/"):
            self.refuse(member, "absolute path" if name == member.name else
                        f"link to the absolute path {name!r}")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            self.refuse(member, "'..' in the path" if name == member.name else
                        f"link target {name!r} contains '..'")
        return tuple(parts)

    def dir_fd(self, member, parts):
        """An fd of directory PARTS, made if missing (as tar does), never through a symlink."""
        fd = self.dirs.get(parts)
        if fd is not None:
            return fd
        parent = self.dir_fd(member, parts[:-1])
        leaf = parts[-1]
        if self.pending:
            self.wait_for(parts)
        try:
            fd = os.open(leaf, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            os.mkdir(leaf, 0o755, dir_fd=parent)
            self.made.add(hash(parts))
            fd = os.open(leaf, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.lstat(leaf, dir_fd=parent)
            where = "/".join(parts)
            if stat.S_ISLNK(st.st_mode):
                self.refuse(member, f"its path goes through the symlink {where!r}")
            self.refuse(member, f"its path goes through {where!r}, which is not a directory")
        if len(self.dirs) >= _FD_CACHE:
            # writers use the cached fds themselves: none may be closed under a write
            self.drain()
            self.close_dirs()
        self.dirs[parts] = fd
        return fd

    def close_dirs(self):
        for key, fd in list(self.dirs.items()):
            if key:
                os.close(fd)
                del self.dirs[key]

    def close(self):
        if self.pool is not None:
            # On a refusal too: no writer may still be creating files once we return (the
            # caller's rollback removes the tree). Queued writes run (at most a few hundred
            # small files): each owns a dup'd dir fd that only the write closes.
            self.pool.shutdown(wait=True)
            for batch in self.inflight:
                batch.future.exception()  # retrieved: an error here is moot after a refusal
        self.close_dirs()
        os.close(self.root)

    def excluded(self, parts):
        if not self.excludes:
            return False
        import fnmatch

        name = "/".join(parts)
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        for pattern in self.excludes:
            if fnmatch.fnmatchcase(name, pattern):
                return True
            # GNU tar: an excluded directory takes everything below it along.
            if any(fnmatch.fnmatchcase(p, pattern) for p in prefixes[:-1]):
                return True
        return False

    def clear_place(self, member, parent, leaf, kind, parts=None):
        """Remove a non-directory already at LEAF (a later member replaces it, as in tar).
        PARTS: LEAF's path, to skip the lstat where nothing can be (see __init__)."""
        if parts is not None:
            key = hash(parts)
            if self.fresh and key not in self.made:
                self.made.add(key)
                return
            self.made.add(key)
        try:
            st = os.lstat(leaf, dir_fd=parent)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            self.refuse(member, f"it would replace a directory with a {kind}")
        os.unlink(leaf, dir_fd=parent)

    # -- ownership and attributes -----------------------------------------------------------------
    def ids(self, member):
        uid, gid = member.uid, member.gid
        if self.idmap is not None:
            host_uid, host_gid = self.idmap.host_uid(uid), self.idmap.host_gid(gid)
            if host_uid is None or host_gid is None:
                self.refuse(member, f"owner {uid}:{gid} is outside the container's lxc.idmap")
            return host_uid, host_gid
        return uid, gid

    def plan_attributes(self, member, creating=False):
        """(owner or None, mode or None, xattrs, mtime ns, mode to create with): computed (and
        refused) up front, so a writer thread only applies them. CREATING: for a file this
        creates, whose owner and mode may come with its creation (see __init__)."""
        pairs = member.xattrs
        if pairs and self.idmap is not None:
            root_uid = self.idmap.host_uid(0)
            pairs = [(n, _caps_for_userns(v, root_uid) if n == "security.capability" else v)
                     for n, v in pairs]
        owner = self.ids(member) if self.owners else None
        mode = stat.S_IMODE(member.mode)
        create_mode = 0o600
        if creating:
            if owner == self.creator:
                owner = None
            if not mode & 0o7000 and not mode & self.umask:
                create_mode, mode = mode, None
        return owner, mode, pairs, member.mtime_ns, create_mode

    def apply_attributes(self, fd, plan):
        """Owner, mode, xattrs, mtime on an open file or directory, in the order that keeps
        setuid bits and file capabilities (chown clears both)."""
        owner, mode, pairs, mtime, _ = plan
        if owner is not None:
            os.fchown(fd, *owner)
        if mode is not None:
            os.fchmod(fd, mode)
        for name, value in pairs:
            try:
                os.setxattr(fd, name, value)
            except OSError:
                self.summary.xattr_failures += 1
        os.utime(fd, ns=(mtime, mtime))

    def attributes(self, member, fd):
        self.apply_attributes(fd, self.plan_attributes(member))

    # -- writer threads ----------------------------------------------------------------------
    def wait_for(self, parts):
        """Finish a pending write at PARTS before anything else touches that name."""
        batch = self.pending.pop(parts, None)
        if batch is not None:
            if batch.future is None:
                self.hand_over()
            batch.future.result()

    def submit(self, parts, parent, leaf, data, plan):
        """Create a small file on a writer thread: creating an inode costs ~0.5 ms of waiting
        in the kernel on this kind of host, and several can wait at once (tar makes them one
        by one). Files go in batches (_BATCH_FILES): a task per file cost more in hand-overs
        between threads (futex calls, the GIL) than its write. The thread uses the checked
        parent dir fd itself: the cache closes none before every write is done (dir_fd)."""
        batch = self.batch
        if batch is None:
            batch = self.batch = _Batch()
        batch.jobs.append((parent, leaf, data, plan))
        batch.names.append(parts)
        batch.size += len(data)
        self.pending[parts] = batch
        if len(batch.jobs) >= _BATCH_FILES or batch.size >= _BATCH_BYTES:
            self.hand_over()

    def hand_over(self):
        """The batch being filled to a writer thread."""
        batch, self.batch = self.batch, None
        if batch is None:
            return
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=_WRITERS)
        batch.future = self.pool.submit(self.write_files, batch.jobs)
        self.inflight.append(batch)
        self.inflight_bytes += batch.size
        self.inflight_files += len(batch.jobs)
        while self.inflight and (self.inflight_bytes > _INFLIGHT_BYTES
                                 or self.inflight_files > _INFLIGHT_FILES
                                 or self.inflight[0].future.done()):
            done = self.inflight.popleft()
            self.inflight_bytes -= done.size
            self.inflight_files -= len(done.jobs)
            done.future.result()  # a writer's error surfaces here, early
            for name in done.names:
                if self.pending.get(name) is done:
                    del self.pending[name]

    def write_files(self, jobs):
        """A writer thread's task: create each file, write its data, set its attributes."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        for dirfd, leaf, data, plan in jobs:
            fd = os.open(leaf, flags, plan[4], dir_fd=dirfd)
            try:
                if data:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                self.apply_attributes(fd, plan)
            finally:
                os.close(fd)

    def drain(self):
        """Wait for every writer; the first error is raised."""
        self.hand_over()
        error = None
        for batch in self.inflight:
            try:
                batch.future.result()
            except BaseException as exc:  # noqa: B902 - re-raised below
                error = error or exc
        self.inflight.clear()
        self.inflight_bytes = self.inflight_files = 0
        self.pending.clear()
        if error is not None:
            raise error

    # -- members -----------------------------------------------------------------------------
    def member(self, member):
        parts = self.parts(member, member.name)
        if parts and self.excluded(parts):
            self.summary.excluded += 1
            return
        self.summary.members += 1
        if self.pending:
            self.wait_for(parts)
        kind = member.kind
        if kind == tarread.DIR:
            self.directory(member, parts)
            return
        if not parts:
            self.refuse(member, "the archive's root is not a directory")
        parent = self.dir_fd(member, parts[:-1])
        leaf = parts[-1]
        if kind == tarread.REG:
            self.regular(member, parts, parent, leaf)
        elif kind == tarread.SYM:
            self.symlink(member, parts, parent, leaf)
        elif kind == tarread.LNK:
            self.hardlink(member, parts, parent, leaf)
        elif kind in (tarread.CHR, tarread.BLK, tarread.FIFO):
            self.special(member, parts, parent, leaf)
        else:
            self.refuse(member, f"unsupported member type ({kind})")

    def directory(self, member, parts):
        if parts:
            parent = self.dir_fd(member, parts[:-1])
            leaf = parts[-1]
            try:
                # mkdir never follows a link at LEAF: EEXIST, then look at what is there
                os.mkdir(leaf, 0o700, dir_fd=parent)
            except FileExistsError:
                st = os.lstat(leaf, dir_fd=parent)
                if stat.S_ISLNK(st.st_mode):
                    self.refuse(member, "a symlink of that name is already there (a link, "
                                        "then a directory through it)")
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(leaf, dir_fd=parent)
                    os.mkdir(leaf, 0o700, dir_fd=parent)
            self.made.add(hash(parts))
        self.delayed.append((parts, member))

    def regular(self, member, parts, parent, leaf):
        self.clear_place(member, parent, leaf, "file", parts)
        plan = self.plan_attributes(member, creating=True)
        if not member.sparse and member.size <= _SMALL_FILE:
            data = member.data() if member.size else b""
            if len(data) != member.size:
                raise tarfile.ReadError("unexpected end of data")
            self.submit(parts, parent, leaf, data, plan)
            return
        fd = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     plan[4], dir_fd=parent)
        try:
            # Only the data is written: the holes of a sparse file stay holes.
            written = 0
            for offset, chunk in member.chunks():
                view = memoryview(chunk)
                while view:
                    done = os.pwrite(fd, view, offset)
                    view, offset = view[done:], offset + done
                written += len(chunk)
            if member.sparse:
                os.ftruncate(fd, member.size)
            elif written != member.size:
                raise tarfile.ReadError("unexpected end of data")
            self.apply_attributes(fd, plan)
        finally:
            os.close(fd)

    def symlink(self, member, parts, parent, leaf):
        target = member.linkname
        if not target:
            self.refuse(member, "symlink with an empty target")
        if not target.startswith("/"):
            depth = len(parts) - 1
            for comp in target.split("/"):
                if comp == "..":
                    depth -= 1
                    if depth < 0:
                        self.refuse(member, f"symlink target {target!r} leaves the rootfs")
                elif comp not in ("", "."):
                    depth += 1
        self.clear_place(member, parent, leaf, "symlink", parts)
        os.symlink(target, leaf, dir_fd=parent)
        if self.owners and self.ids(member) != self.creator:
            os.chown(leaf, *self.ids(member), dir_fd=parent, follow_symlinks=False)
        mtime = member.mtime_ns
        os.utime(leaf, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)

    def hardlink(self, member, parts, parent, leaf):
        tparts = self.parts(member, member.linkname)
        if not tparts:
            self.refuse(member, "hard link to the archive's root")
        tparent = self.dir_fd(member, tparts[:-1])
        self.wait_for(tparts)
        try:
            st = os.lstat(tparts[-1], dir_fd=tparent)
        except FileNotFoundError:
            self.refuse(member, f"hard link to {member.linkname!r}, which is not in the "
                                "archive before it")
        if stat.S_ISDIR(st.st_mode):
            self.refuse(member, f"hard link to the directory {member.linkname!r}")
        # The same inode under two names already in place: nothing to do (tar agrees).
        self.clear_place(member, parent, leaf, "hard link", parts)
        os.link(tparts[-1], leaf, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)

    def special(self, member, parts, parent, leaf):
        fifo = member.kind == tarread.FIFO
        kind = "FIFO" if fifo else "device node"
        if self.devices == "refuse":
            self.refuse(member, f"{kind} (not allowed in this archive)")
        if not fifo and parts[0] != "dev":
            self.refuse(member, "device node outside /dev")
        if self.devices == "skip":
            self.summary.skipped_devices.append("/".join(parts))
            return
        self.clear_place(member, parent, leaf, kind, parts)
        if fifo:
            os.mkfifo(leaf, 0o600, dir_fd=parent)
        else:
            flag = stat.S_IFCHR if member.kind == tarread.CHR else stat.S_IFBLK
            os.mknod(leaf, 0o600 | flag, os.makedev(member.devmajor, member.devminor),
                     dir_fd=parent)
        fd = os.open(leaf, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            # O_PATH fds take no fchown/fchmod: go through /proc/self/fd (never a symlink).
            path = f"/proc/self/fd/{fd}"
            if self.owners:
                os.chown(path, *self.ids(member))
            os.chmod(path, stat.S_IMODE(member.mode))
            mtime = member.mtime_ns
            os.utime(path, ns=(mtime, mtime))
        finally:
            os.close(fd)

    def finish(self):
        self.drain()
        # Deepest first, so a read-only parent is made read-only after its children.
        for parts, member in sorted(self.delayed, key=lambda item: len(item[0]), reverse=True):
            fd = self.dir_fd(member, parts)
            self.attributes(member, fd)


def _caps_for_userns(value, root_uid):
    """A file capability as a tar run inside the container's user namespace would store it:
    version 3, owned by the host uid of container root (a v2 capability written by host
    root would only be honoured for host root, never inside the container)."""
    import struct

    if root_uid is None or len(value) < 20:
        return value
    magic = struct.unpack_from("<I", value)[0]
    version, flags = magic & 0xFF000000, magic & 0x00FFFFFF
    if version not in (0x02000000, 0x03000000):
        return value
    return struct.pack("<I", 0x03000000 | flags) + value[4:20] + struct.pack("<I", root_uid)


def _norm_pattern(pattern):
    pattern = pattern.strip()
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern.lstrip("/").rstrip("/")


def extract(archive, dest, *, excludes=(), devices="refuse", owners=None, idmap=None,
            progress=None):
    """Extract ARCHIVE into the existing directory DEST; returns a Summary.

    devices: "refuse" (any device node or FIFO refuses the archive), "create" (device nodes
    below dev/ and FIFOs anywhere are made), "skip" (they are counted and left out).
    owners: restore numeric owners (default: when we are root). idmap: an idshift.IdMap
    the owners go through (the container's lxc.idmap).
    """
    if owners is None:
        owners = os.geteuid() == 0
    umask = os.umask(0o022)
    os.umask(umask)
    summary = Summary()
    closer, where, reading = _open_reader(archive, progress)
    extractor = reader = None
    try:
        reader = reading()
        extractor = _Extractor(archive, dest, excludes=excludes, devices=devices,
                               owners=owners, idmap=idmap, summary=summary, umask=umask)
        if where is None:
            for member in reader:
                extractor.member(member)
        else:
            # the progress bar follows the offset the decompressor (or libarchive) reads
            # the file at: a clock look per member, the offset at most 10 times a second
            import time

            due = 0.0
            for member in reader:
                extractor.member(member)
                now = time.monotonic()
                if now >= due:
                    due = now + 0.1
                    progress.update(os.lseek(where, 0, os.SEEK_CUR))
        extractor.finish()
        if isinstance(closer, _Piped):
            # A stream cut at a header boundary looks like a short archive to a reader:
            # only the decompressor can tell.
            complaint = closer.failure(drain=True)
            if complaint:
                raise LxcError(f"{archive}: damaged compressed data ({complaint})",
                               hint="download or build the tarball again")
    except LxcError:
        raise
    except OSError as exc:
        if exc.errno is None:  # gzip's and bz2's "not a valid stream"
            raise LxcError(f"{archive}: damaged compressed data ({exc})",
                           hint="download or build the tarball again") from None
        what = f" ({exc.filename})" if exc.filename else ""
        raise WriteFailed(f"cannot extract {archive}: {exc.strerror or exc}{what}") from None
    except Exception as exc:
        complaint = closer.failure() if isinstance(closer, _Piped) else None
        if complaint:
            raise LxcError(f"{archive}: damaged compressed data ({complaint})",
                           hint="download or build the tarball again") from None
        module = type(exc).__module__.split(".")[0]
        if isinstance(exc, (tarfile.TarError, EOFError)) or (
                module == "libarchive" and not _compressed_in_process(closer, exc)):
            raise LxcError(f"{archive}: not a valid tar archive ({_reason(exc)})",
                           hint="the file is damaged, truncated or not a tarball") from None
        if module not in ("lzma", "_lzma", "zlib", "bz2", "_bz2", "zstandard", "libarchive"):
            raise
        raise LxcError(f"{archive}: damaged compressed data ({_reason(exc)})",
                       hint="download or build the tarball again") from None
    finally:
        if extractor is not None:
            extractor.close()
        if reader is not None:
            reader.close()
        if isinstance(closer, _Piped):
            if closer.status is None:
                closer.kill()  # tar's end marker came before the end of the stream
            closer.close()
        else:
            closer.close()
        if progress is not None:
            progress.finish()
    return summary


def _open_reader(archive, progress):
    """(closer, fd whose offset is the progress or None, a function that opens the members)
    for ARCHIVE: libarchive over the decompressor's pipe (or decompressing itself when no
    program is installed), else tarfile over open_stream's stream (tarread.choose)."""
    if tarread.choose() == "tarfile":
        stream, closer = open_stream(archive, progress)
        return closer, None, lambda: tarread.TarfileReader(stream)
    kind = compression(archive)
    try:
        raw = open(archive, "rb")
    except OSError as exc:
        raise LxcError(f"cannot open {archive}: {exc.strerror}") from None
    closer = raw
    fd = raw.fileno()
    if progress is not None and progress.total is None:
        progress.total = os.fstat(fd).st_size
    if kind in _PROGRAMS:
        import shutil

        binary = shutil.which(_PROGRAMS[kind][0])
        if binary is not None:
            closer = _Piped([binary, *_PROGRAMS[kind][1:]], raw, None)
            fd = closer.proc.stdout.fileno()
    return (closer, raw.fileno() if progress is not None else None,
            lambda: tarread.LibarchiveReader(fd))


def _compressed_in_process(closer, exc):
    """A libarchive error while libarchive itself decompressed: bad compressed data, unless
    it says the archive's format is wrong."""
    text = str(exc).lower()
    return not isinstance(closer, _Piped) and not any(
        word in text for word in ("unrecognized archive format", "damaged tar archive",
                                  "truncated tar archive"))


def _reason(exc):
    """An exception's words without libarchive-c's repr noise."""
    text = getattr(exc, "msg", None) or str(exc)
    return text if isinstance(text, str) else repr(text)


def list_names(archive):
    """Member names of a (small) archive, for tests and messages."""
    stream, closer = open_stream(archive)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            return [m.name for m in tar]
    finally:
        closer.close()
