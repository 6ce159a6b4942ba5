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
"""

import errno
import os
import stat
import tarfile

from ...errors import LxcError

XZ, GZIP, ZSTD, BZIP2, PLAIN = "xz", "gzip", "zstd", "bzip2", "tar"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FD_CACHE = 256
_WRITERS = 3                  # threads creating small files
_SMALL_FILE = 1 << 20         # larger files are written by the reading thread itself
_INFLIGHT_BYTES = 32 << 20    # file data held for the writers at most
_INFLIGHT_FILES = 256


class Refused(LxcError):
    """An unsafe or unsupported member: the archive is not extracted."""


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


class _Extractor:
    def __init__(self, archive, dest, *, excludes, devices, owners, idmap, summary):
        self.archive = archive
        self.dest = dest
        self.excludes = [_norm_pattern(p) for p in excludes if p.strip()]
        self.devices = devices
        self.owners = owners
        self.idmap = idmap
        self.summary = summary
        self.root = os.open(dest, _DIR_FLAGS)
        self.dirs = {(): self.root}
        self.pool = None
        self.pending = {}            # parts -> future of a file being written
        import collections

        self.inflight = collections.deque()
        self.inflight_bytes = 0
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
            for future, _ in self.inflight:
                future.exception()  # retrieved: an error here is moot after a refusal
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

    def clear_place(self, member, parent, leaf, kind):
        """Remove a non-directory already at LEAF (a later member replaces it, as in tar)."""
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

    def xattrs(self, member):
        out = []
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                out.append((key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape")))
            elif key.startswith("LIBARCHIVE.xattr."):
                import base64
                from urllib.parse import unquote

                name = unquote(key[len("LIBARCHIVE.xattr."):])
                try:
                    out.append((name, base64.b64decode(value + "=" * (-len(value) % 4))))
                except ValueError:
                    pass
        return out

    def plan_attributes(self, member):
        """(owner or None, mode, xattrs, mtime ns): computed (and refused) up front, so a
        writer thread only applies them."""
        pairs = self.xattrs(member)
        if pairs and self.idmap is not None:
            root_uid = self.idmap.host_uid(0)
            pairs = [(n, _caps_for_userns(v, root_uid) if n == "security.capability" else v)
                     for n, v in pairs]
        return (self.ids(member) if self.owners else None, stat.S_IMODE(member.mode), pairs,
                _mtime_ns(member))

    def apply_attributes(self, fd, plan):
        """Owner, mode, xattrs, mtime on an open file or directory, in the order that keeps
        setuid bits and file capabilities (chown clears both)."""
        owner, mode, pairs, mtime = plan
        if owner is not None:
            os.fchown(fd, *owner)
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
        future = self.pending.pop(parts, None)
        if future is not None:
            future.result()

    def submit(self, parts, parent, leaf, data, plan):
        """Create a small file on a writer thread: creating an inode costs ~0.5 ms of waiting
        in the kernel on this kind of host, and several can wait at once (tar makes them one
        by one). The thread gets its own dup of the checked parent dir fd."""
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=_WRITERS)
        dirfd = os.dup(parent)
        try:
            future = self.pool.submit(self.write_file, dirfd, leaf, data, plan)
        except BaseException:
            os.close(dirfd)
            raise
        self.pending[parts] = future
        self.inflight.append((future, len(data)))
        self.inflight_bytes += len(data)
        while self.inflight and (self.inflight_bytes > _INFLIGHT_BYTES
                                 or len(self.inflight) > _INFLIGHT_FILES
                                 or self.inflight[0][0].done()):
            done, size = self.inflight.popleft()
            self.inflight_bytes -= size
            done.result()  # a writer's error surfaces here, early

    def write_file(self, dirfd, leaf, data, plan):
        try:
            fd = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=dirfd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                self.apply_attributes(fd, plan)
            finally:
                os.close(fd)
        finally:
            os.close(dirfd)

    def drain(self):
        """Wait for every writer; the first error is raised."""
        error = None
        for future, _ in self.inflight:
            try:
                future.result()
            except BaseException as exc:  # noqa: B902 - re-raised below
                error = error or exc
        self.inflight.clear()
        self.inflight_bytes = 0
        self.pending.clear()
        if error is not None:
            raise error

    # -- members -----------------------------------------------------------------------------
    def member(self, tar, member):
        parts = self.parts(member, member.name)
        if parts and self.excluded(parts):
            self.summary.excluded += 1
            return
        self.summary.members += 1
        if self.pending:
            self.wait_for(parts)
        if member.isdir():
            self.directory(member, parts)
            return
        if not parts:
            self.refuse(member, "the archive's root is not a directory")
        parent = self.dir_fd(member, parts[:-1])
        leaf = parts[-1]
        if member.isreg():
            self.regular(tar, member, parts, parent, leaf)
        elif member.issym():
            self.symlink(member, parts, parent, leaf)
        elif member.islnk():
            self.hardlink(member, parent, leaf)
        elif member.ischr() or member.isblk() or member.isfifo():
            self.special(member, parts, parent, leaf)
        else:
            self.refuse(member, f"unsupported member type {member.type!r}")

    def directory(self, member, parts):
        if parts:
            parent = self.dir_fd(member, parts[:-1])
            leaf = parts[-1]
            try:
                st = os.lstat(leaf, dir_fd=parent)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                self.refuse(member, "a symlink of that name is already there (a link, then "
                                    "a directory through it)")
            if st is not None and not stat.S_ISDIR(st.st_mode):
                os.unlink(leaf, dir_fd=parent)
                st = None
            if st is None:
                os.mkdir(leaf, 0o700, dir_fd=parent)
        self.delayed.append((parts, member))

    def regular(self, tar, member, parts, parent, leaf):
        self.clear_place(member, parent, leaf, "file")
        if not member.sparse and member.size <= _SMALL_FILE:
            source = tar.extractfile(member)
            data = source.read(member.size)
            if len(data) != member.size:
                raise tarfile.ReadError("unexpected end of data")
            self.submit(parts, parent, leaf, data, self.plan_attributes(member))
            return
        fd = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent)
        try:
            source = tar.extractfile(member)
            if member.sparse:
                # Only the data blocks are written: holes stay holes. The unbuffered reader
                # seeks forward over holes without reading them.
                source = source.raw
                for offset, size in member.sparse:
                    source.seek(offset)
                    _copy(source, fd, size, offset)
                os.ftruncate(fd, member.size)
            else:
                _copy(source, fd, member.size, None)
            self.attributes(member, fd)
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
        self.clear_place(member, parent, leaf, "symlink")
        os.symlink(target, leaf, dir_fd=parent)
        if self.owners:
            os.chown(leaf, *self.ids(member), dir_fd=parent, follow_symlinks=False)
        mtime = _mtime_ns(member)
        os.utime(leaf, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)

    def hardlink(self, member, parent, leaf):
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
        self.clear_place(member, parent, leaf, "hard link")
        os.link(tparts[-1], leaf, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)

    def special(self, member, parts, parent, leaf):
        kind = "FIFO" if member.isfifo() else "device node"
        if self.devices == "refuse":
            self.refuse(member, f"{kind} (not allowed in this archive)")
        if not member.isfifo() and parts[0] != "dev":
            self.refuse(member, "device node outside /dev")
        if self.devices == "skip":
            self.summary.skipped_devices.append("/".join(parts))
            return
        self.clear_place(member, parent, leaf, kind)
        if member.isfifo():
            os.mkfifo(leaf, 0o600, dir_fd=parent)
        else:
            flag = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(leaf, 0o600 | flag, os.makedev(member.devmajor, member.devminor),
                     dir_fd=parent)
        fd = os.open(leaf, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            # O_PATH fds take no fchown/fchmod: go through /proc/self/fd (never a symlink).
            path = f"/proc/self/fd/{fd}"
            if self.owners:
                os.chown(path, *self.ids(member))
            os.chmod(path, stat.S_IMODE(member.mode))
            mtime = _mtime_ns(member)
            os.utime(path, ns=(mtime, mtime))
        finally:
            os.close(fd)

    def finish(self):
        self.drain()
        # Deepest first, so a read-only parent is made read-only after its children.
        for parts, member in sorted(self.delayed, key=lambda item: len(item[0]), reverse=True):
            fd = self.dir_fd(member, parts)
            self.attributes(member, fd)


def _mtime_ns(member):
    """The member's mtime in ns, exact for pax's decimal strings (a float loses the last
    digits)."""
    text = member.pax_headers.get("mtime")
    if text:
        from decimal import Decimal, InvalidOperation

        try:
            return int(Decimal(text) * 1_000_000_000)
        except InvalidOperation:
            pass
    return int(member.mtime * 1_000_000_000)


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


def _copy(source, fd, size, offset):
    left = size
    while left > 0:
        chunk = source.read(min(left, 1 << 20))
        if not chunk:
            raise tarfile.ReadError("unexpected end of data")
        if offset is None:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        else:
            os.pwrite(fd, chunk, offset)
            offset += len(chunk)
        left -= len(chunk)


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
    summary = Summary()
    stream, closer = open_stream(archive, progress)
    extractor = None
    try:
        extractor = _Extractor(archive, dest, excludes=excludes, devices=devices,
                               owners=owners, idmap=idmap, summary=summary)
        with tarfile.open(fileobj=stream, mode="r|", bufsize=1 << 18) as tar:
            for member in tar:
                extractor.member(tar, member)
        extractor.finish()
        if isinstance(closer, _Piped):
            # A stream cut at a header boundary looks like a short archive to tarfile:
            # only the decompressor can tell.
            complaint = closer.failure(drain=True)
            if complaint:
                raise LxcError(f"{archive}: damaged compressed data ({complaint})",
                               hint="download or build the tarball again")
    except (tarfile.TarError, EOFError) as exc:
        complaint = closer.failure() if isinstance(closer, _Piped) else None
        if complaint:
            raise LxcError(f"{archive}: damaged compressed data ({complaint})",
                           hint="download or build the tarball again") from None
        raise LxcError(f"{archive}: not a valid tar archive ({exc})",
                       hint="the file is damaged, truncated or not a tarball") from None
    except LxcError:
        raise
    except OSError as exc:
        if exc.errno is None:  # gzip's and bz2's "not a valid stream"
            raise LxcError(f"{archive}: damaged compressed data ({exc})",
                           hint="download or build the tarball again") from None
        what = f" ({exc.filename})" if exc.filename else ""
        raise LxcError(f"cannot extract {archive}: {exc.strerror or exc}{what}") from None
    except Exception as exc:
        if type(exc).__module__ not in ("lzma", "_lzma", "zlib", "bz2", "_bz2", "zstandard"):
            raise
        raise LxcError(f"{archive}: damaged compressed data ({exc})",
                       hint="download or build the tarball again") from None
    finally:
        if extractor is not None:
            extractor.close()
        if isinstance(closer, _Piped):
            if closer.status is None:
                closer.kill()  # tar's end marker came before the end of the stream
            closer.close()
        else:
            closer.close()
        if progress is not None:
            progress.finish()
    return summary


def list_names(archive):
    """Member names of a (small) archive, for tests and messages."""
    stream, closer = open_stream(archive)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            return [m.name for m in tar]
    finally:
        closer.close()
