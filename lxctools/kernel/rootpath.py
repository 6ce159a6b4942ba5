"""Paths below a container's root (its rootfs, or /proc/PID/root), opened by fd so that a
symlink there can never lead to the host's files (docs/SECURITY.md, "Paths below a
container's root").

A privileged container's root is hostile: it plants symlinks (absolute, or ../../ climbing
out) and swaps them while we look. So nothing here hands out a path string to be walked
again: `open_in_root` returns an fd the kernel resolved with openat2(RESOLVE_IN_ROOT |
RESOLVE_NO_MAGICLINKS) (absolute links and ".." stop at the root), and callers act on that
fd -- *at() calls relative to it, a mount onto /proc/self/fd/N of it (the magic link names
exactly the object opened, as LXC's safe_mount does), a re-open through /proc/self/fd/N
after checking with fstat what it is (never an open of a device node or FIFO by path).

Without openat2 (ENOSYS: kernels before 5.6, some seccomp policies) the same semantics come
from a walk one component at a time with O_PATH|O_NOFOLLOW, reading each symlink and
restarting absolute ones at the root; ".." goes back to the fd we came from, never above
the root. Import-light: preflight checks use it in the caller.
"""

import errno
import os
import stat

from . import openat2 as _k
from .openat2 import (RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS,
                              RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV)

__all__ = ["RESOLVE_BENEATH", "RESOLVE_IN_ROOT", "RESOLVE_NO_MAGICLINKS",
           "RESOLVE_NO_SYMLINKS", "RESOLVE_NO_XDEV", "IN_ROOT", "NO_LINKS", "Root",
           "open_root", "open_in_root", "makedirs_in_root", "create_file_in_root", "reopen",
           "fd_path", "real_path", "path_in_root", "read_regular"]

IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
# places where a link is never legitimate (/dev/pts, /proc, /run/initctl, ...)
NO_LINKS = IN_ROOT | RESOLVE_NO_SYMLINKS

_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_MAX_HOPS = 40  # the kernel's MAXSYMLINKS
# procfs symlinks that are ordinary ones (openat2 follows them under RESOLVE_NO_MAGICLINKS);
# every other link on procfs is a magic link (/proc/PID/{fd/N,cwd,root,exe,ns/*,...})
_PROC_PLAIN_LINKS = ("self", "thread-self", "mounts", "net")

# The fallback walk on a kernel that has openat2: for tests (LXCTOOLS_RESOLVE_FALLBACK=1
# reaches the supervisor and the container's setup process too).
force_fallback = os.environ.get("LXCTOOLS_RESOLVE_FALLBACK") == "1"


def open_root(path):
    """An O_PATH fd of the directory PATH, the root below which later opens stay. PATH is
    the host's (lxc.rootfs.path, /proc/PID/root): it is followed as given."""
    return os.open(path, _O_PATH_DIR)


def _components(relpath):
    return [p for p in relpath.split("/") if p and p != "."]


def open_in_root(root, relpath, flags=os.O_PATH, mode=0, resolve=IN_ROOT):
    """The fd of RELPATH taken inside ROOT (an fd or a path), whether or not it starts with
    "/", resolved under RESOLVE (openat2 flags). O_CLOEXEC is always added. OSError as
    open(2) would give (ELOOP for a forbidden link, EXDEV for a forbidden crossing)."""
    fd, owned = _root_fd(root)
    try:
        rel = relpath.lstrip("/") or "."
        if not force_fallback and _k.available():
            return _k.openat2(fd, rel, flags, mode, resolve)
        return _walk(fd, rel, flags, mode, resolve)
    finally:
        if owned:
            os.close(fd)


def _root_fd(root):
    if isinstance(root, Root):
        return root.fd, False
    if isinstance(root, int):
        return root, False
    return open_root(root), True


def _is_magic(link_fd, name, parent_fd):
    from .libc import fstatfs_type

    if fstatfs_type(link_fd) != _k.PROC_SUPER_MAGIC:
        return False
    return not (name in _PROC_PLAIN_LINKS and os.fstat(parent_fd).st_ino == 1)


def _error(code, path):
    return OSError(code, os.strerror(code), path)


def _walk(root_fd, rel, flags, mode, resolve):
    """openat2's RESOLVE_* semantics by hand (see the module's docstring)."""
    parts = _components(rel)
    stack = [os.dup(root_fd)]  # stack[0] is the root: ".." never goes above it
    root_dev = os.fstat(root_fd).st_dev
    hops = 0
    try:
        while parts:
            name = parts.pop(0)
            cur = stack[-1]
            if name == "..":
                if len(stack) == 1:
                    if resolve & RESOLVE_BENEATH:
                        raise _error(errno.EXDEV, rel)
                    continue
                os.close(stack.pop())
                continue
            last = not parts
            try:
                fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
            except FileNotFoundError:
                if last and flags & os.O_CREAT:
                    return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=cur)
                raise _error(errno.ENOENT, rel) from None
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                if last and flags & os.O_NOFOLLOW:
                    if flags & os.O_PATH and not flags & os.O_DIRECTORY:
                        return fd  # the link itself, as open(O_PATH|O_NOFOLLOW)
                    os.close(fd)
                    raise _error(errno.ELOOP, rel)
                try:
                    hops += 1
                    if resolve & RESOLVE_NO_SYMLINKS or hops > _MAX_HOPS or (
                            resolve & RESOLVE_NO_MAGICLINKS and _is_magic(fd, name, cur)):
                        raise _error(errno.ELOOP, rel)
                    target = os.readlink(name, dir_fd=cur)
                finally:
                    os.close(fd)
                if target.startswith("/"):
                    if resolve & RESOLVE_BENEATH:
                        raise _error(errno.EXDEV, rel)
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts[:0] = _components(target)
                continue
            if resolve & RESOLVE_NO_XDEV and st.st_dev != root_dev:
                os.close(fd)
                raise _error(errno.EXDEV, rel)
            if not last:
                if not stat.S_ISDIR(st.st_mode):
                    os.close(fd)
                    raise _error(errno.ENOTDIR, rel)
                stack.append(fd)
                continue
            if flags & os.O_PATH:
                if flags & os.O_DIRECTORY and not stat.S_ISDIR(st.st_mode):
                    os.close(fd)
                    raise _error(errno.ENOTDIR, rel)
                return fd
            os.close(fd)
            # not a link a moment ago; O_NOFOLLOW makes a swap since then fail (ELOOP)
            return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=cur)
        # the path ended on the root or a ".."
        return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def makedirs_in_root(root, relpath, mode=0o755, resolve=IN_ROOT):
    """mkdir -p RELPATH inside ROOT; the O_PATH fd of the directory. Links are followed
    inside the root as RESOLVE allows, and a dangling one gets its target made (inside the
    root, as `mkdir -p` would have done in the container). Each directory is made with
    mkdirat() in an fd of its parent."""
    return _make(root, relpath, resolve, mode, None, 0)


def create_file_in_root(root, relpath, mode=0o666, resolve=IN_ROOT):
    """The O_PATH fd of RELPATH inside ROOT, an empty file made there (parents too) when
    nothing is; whatever is there already is kept as it is and never opened for I/O."""
    return _make(root, relpath, resolve, 0o755, mode, 0)


def _make(root, relpath, resolve, dir_mode, file_mode, hops):
    """makedirs (FILE_MODE None) or create_file: made one component at a time, each lookup
    a fresh resolution from the root, each creation relative to a parent's fd."""
    fd, owned = _root_fd(root)
    want = _O_PATH_DIR if file_mode is None else os.O_PATH | os.O_CLOEXEC
    try:
        try:
            return open_in_root(fd, relpath, want, resolve=resolve)
        except FileNotFoundError:
            pass
        parts = _components(relpath)
        for i in range(len(parts)):
            last = i == len(parts) - 1
            if not last:
                try:
                    os.close(open_in_root(fd, "/".join(parts[:i + 1]), _O_PATH_DIR,
                                          resolve=resolve))
                    continue
                except FileNotFoundError:
                    pass
            parent = open_in_root(fd, "/".join(parts[:i]) or ".", _O_PATH_DIR, resolve=resolve)
            try:
                name = parts[i]
                try:
                    if last and file_mode is not None:
                        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                         | os.O_NOFOLLOW | os.O_CLOEXEC, file_mode,
                                         dir_fd=parent))
                    else:
                        os.mkdir(name, dir_mode, dir_fd=parent)
                except FileExistsError:
                    _make_link_target(fd, parent, "/".join(parts[:i]), name, resolve,
                                      dir_mode, file_mode if last else None, hops)
            finally:
                os.close(parent)
        return open_in_root(fd, relpath, want, resolve=resolve)
    finally:
        if owned:
            os.close(fd)


def _make_link_target(root_fd, parent, prefix, name, resolve, dir_mode, file_mode, hops):
    """NAME in PARENT (reached as PREFIX) exists: fine, unless it is a link to nothing,
    whose target (taken inside the root; a relative one from PREFIX, where the link lives,
    as the kernel reads it) is then made."""
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        return
    if resolve & RESOLVE_NO_SYMLINKS or hops >= _MAX_HOPS:
        raise _error(errno.ELOOP, name)
    target = os.readlink(name, dir_fd=parent)
    if not target.startswith("/"):
        target = f"{prefix}/{target}"
    os.close(_make(root_fd, target, resolve, dir_mode, file_mode, hops + 1))


def fd_path(fd):
    """/proc/self/fd/FD: for mount(2) and re-opens, it names exactly the object FD holds."""
    return f"/proc/self/fd/{fd}"


def reopen(fd, flags):
    """Open again the object an O_PATH fd holds, with FLAGS (after fstat said what it is)."""
    return os.open(fd_path(fd), flags | os.O_CLOEXEC)


def real_path(fd):
    """Where FD's object is in our own view (for messages and comparisons, never to open)."""
    return os.readlink(fd_path(fd))


def path_in_root(root_fd, fd):
    """The path of FD's object as the container sees it ("/sbin/init"), or None when it is
    not below ROOT_FD (a mount shadowed it, or it was moved out)."""
    base, here = real_path(root_fd), real_path(fd)
    if base == "/":
        return here
    if here == base:
        return "/"
    if here.startswith(base + "/"):
        return here[len(base):]
    return None


def read_regular(root, relpath, limit=1 << 24, resolve=IN_ROOT):
    """The bytes (at most LIMIT) of the regular file RELPATH inside ROOT; None when it is
    missing, unreachable or not a regular file (a FIFO would block us, a device node could
    act on open)."""
    try:
        fd = open_in_root(root, relpath, os.O_PATH, resolve=resolve)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.open(fd_path(fd), os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        chunks = []
        size = 0
        while size < limit:
            chunk = os.read(data, min(1 << 20, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(data)


class Root:
    """A container's root directory held open: PATH names it in messages and for the few
    host-side consumers of a path (hooks' environment, pivot_root); every lookup goes
    through FD."""

    def __init__(self, path):
        self.path = path
        self.fd = open_root(path)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self, relpath, flags=os.O_PATH, mode=0, resolve=IN_ROOT):
        return open_in_root(self.fd, relpath, flags, mode, resolve)

    def makedirs(self, relpath, mode=0o755, resolve=IN_ROOT):
        return makedirs_in_root(self.fd, relpath, mode, resolve)

    def create_file(self, relpath, mode=0o666, resolve=IN_ROOT):
        return create_file_in_root(self.fd, relpath, mode, resolve)

    def exists(self, relpath, resolve=IN_ROOT):
        try:
            os.close(self.open(relpath, resolve=resolve))
            return True
        except OSError:
            return False
