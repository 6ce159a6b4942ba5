"""Removing a container's files without ever touching anything else.

LXC has wiped host directories through a symlinked rootfs (lxc#1051, lxc#190) and through a
bind mount left inside a rootfs. So: every step is relative to an open directory fd, opened
with O_NOFOLLOW (a symlink is unlinked, never followed); a directory on another filesystem
is never entered; a mount point anywhere below (found in mountinfo, since a bind mount of a
same-filesystem directory has the same st_dev) makes us refuse before removing anything.

btrfs subvolumes (the btrfs store's rootfs, nested ones a container made) have their own
st_dev but are no mount: one on the same btrfs filesystem (same fsid, inode 256) is deleted
with the subvolume ioctl as it is met (after its own nested subvolumes when it has some),
never through a path: always by name in an open parent directory.
"""

import errno
import os
import stat

from ..errors import LxcError
from ..kernel.mountinfo import mounts_under

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class RemoveBlocked(LxcError):
    """Something inside the tree must not be removed (a mount point); nothing was removed."""


def canonical(path):
    """PATH with its parent resolved but its last component kept (it may be a symlink)."""
    if not os.path.isabs(path):
        raise LxcError(f"refusing to remove a relative path: {path}",
                       hint="lxctools only stores and removes absolute paths")
    head, tail = os.path.split(os.path.normpath(path))
    return os.path.join(os.path.realpath(head), tail) if tail else os.path.realpath(path)


def check_no_mounts(path, proc="/proc"):
    """Raise RemoveBlocked naming every mount point at or below PATH."""
    found = mounts_under(path, proc)
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise RemoveBlocked(f"{shown} {'is a mount point' if len(found) == 1 else 'are mount points'} "
                            f"inside {path}: nothing was removed",
                            hint="unmount first (umount " + found[-1] + "), then try again")


def remove_tree(path, *, dry_run=False, proc="/proc", usage=None):
    """Remove PATH and everything below it; return the removed paths (pre-order).

    With dry_run, remove nothing and return what would go. A missing PATH is not an error.
    USAGE, a dict, is filled with what would go: "files" (non-directories), "dirs" and
    "bytes" (allocated blocks, each inode once however many links it has).
    """
    path = canonical(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return []
    if usage is not None:
        usage.update(files=0, dirs=0, bytes=0)
        usage["_seen"] = set()
        _count(usage, st)
    if not stat.S_ISDIR(st.st_mode):
        if usage is not None:
            usage.pop("_seen", None)
        if not dry_run:
            os.unlink(path)
        return [path]
    check_no_mounts(path, proc)
    mounts = set(mounts_under(path, proc))
    top = os.open(path, _DIR_FLAGS)
    removed = [path]
    errors = []
    subvol = _is_subvolume(top)
    if subvol and not dry_run:
        parent = os.open(os.path.dirname(path), _DIR_FLAGS)
        try:
            if _destroy_subvolume(parent, os.path.basename(path)):
                os.close(top)
                return removed
        finally:
            os.close(parent)
    try:
        _remove_below(top, path, os.fstat(top).st_dev, mounts, dry_run, removed, errors, usage)
    finally:
        os.close(top)
        if usage is not None:
            usage.pop("_seen", None)
    if not dry_run:
        parent = os.open(os.path.dirname(path), _DIR_FLAGS)
        try:
            _rmdir(parent, os.path.basename(path), path, subvol, errors)
        finally:
            os.close(parent)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        hint = ("fix the cause (chattr -i for immutable files, umount for mounts) and run the "
                "command again")
        if errors[0].endswith(": " + os.strerror(errno.EROFS)):
            hint = ("the filesystem is mounted read-only: remount it read-write (mount -o "
                    "remount,rw) and run the command again")
        raise LxcError(f"could not remove {errors[0]}{more}", hint=hint)
    return removed


def _open_dir(name, dir_fd, dry_run=False):
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        if dry_run:
            raise  # a dry run changes nothing, modes included
        # A directory without search permission (mode 000) inside a rootfs: allow ourselves in.
        os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _is_subvolume(fd):
    try:
        if os.fstat(fd).st_ino != 256:  # a subvolume's root directory is inode 256
            return False
        from ..kernel import btrfs as kbtrfs
        return kbtrfs.is_subvolume_fd(fd)
    except OSError:
        return False


def _subvolume_of(child_fd, parent_fd):
    """Is CHILD_FD (on another st_dev than its parent) a subvolume of the parent's btrfs?"""
    if not _is_subvolume(child_fd):
        return False
    from ..kernel import btrfs as kbtrfs
    try:
        return kbtrfs.fsid(child_fd) == kbtrfs.fsid(parent_fd)
    except OSError:
        return False


def _destroy_subvolume(parent_fd, name):
    """Delete subvolume NAME whole; False when it must be emptied first (nested subvolumes:
    ENOTEMPTY; no right to the ioctl, as a user without user_subvol_rm_allowed: EPERM)."""
    from ..kernel import btrfs as kbtrfs
    try:
        kbtrfs.subvolume_destroy_at(parent_fd, name)
        return True
    except OSError:
        return False


def _rmdir(parent_fd, name, path, subvol, errors):
    if subvol and _destroy_subvolume(parent_fd, name):
        return
    try:
        os.rmdir(name, dir_fd=parent_fd)
    except OSError as exc:
        # Not empty because something below could not go: already reported.
        if not (exc.errno == errno.ENOTEMPTY and errors):
            errors.append(f"{path}: {exc.strerror}")


def _count(usage, st):
    usage["dirs" if stat.S_ISDIR(st.st_mode) else "files"] += 1
    if (st.st_dev, st.st_ino) not in usage["_seen"]:
        usage["_seen"].add((st.st_dev, st.st_ino))
        usage["bytes"] += st.st_blocks * 512


def _remove_below(top_fd, top_path, dev, mounts, dry_run, removed, errors, usage=None):
    # An explicit stack instead of recursion: rootfs trees can be deeper than Python's limit.
    stack = [(top_fd, top_path, _entries(top_fd), None, dev, False)]
    while stack:
        fd, path, entries, name, dev, subvol = stack[-1]
        if not entries:
            stack.pop()
            if fd != top_fd:
                os.close(fd)
                if not dry_run:
                    _rmdir(stack[-1][0], name, path, subvol, errors)
            continue
        entry_name, is_dir = entries.pop()
        child = path + "/" + entry_name
        if child in mounts:
            errors.append(f"{child}: is a mount point")
            continue
        if is_dir:
            try:
                child_fd = _open_dir(entry_name, fd, dry_run)
            except OSError as exc:
                if dry_run and isinstance(exc, PermissionError):
                    # e.g. overlayfs's work/work (mode 000, the container root's) listed from
                    # outside the user namespace: it goes; what is inside cannot be listed.
                    removed.append(child)
                    continue
                errors.append(f"{child}: {exc.strerror}")
                continue
            child_dev = os.fstat(child_fd).st_dev
            subvol = False
            if child_dev != dev:
                if not _subvolume_of(child_fd, fd):
                    os.close(child_fd)
                    errors.append(f"{child}: is on another filesystem")
                    continue
                subvol = True
                if not dry_run and _destroy_subvolume(fd, entry_name):
                    os.close(child_fd)
                    removed.append(child)
                    continue
            removed.append(child)
            if usage is not None:
                _count(usage, os.fstat(child_fd))
            stack.append((child_fd, child, _entries(child_fd), entry_name, child_dev, subvol))
            continue
        removed.append(child)
        if usage is not None:
            try:
                _count(usage, os.stat(entry_name, dir_fd=fd, follow_symlinks=False))
            except OSError:
                pass
        if not dry_run:
            try:
                os.unlink(entry_name, dir_fd=fd)
            except OSError as exc:
                errors.append(f"{child}: {exc.strerror}")


def _entries(fd):
    """(name, is_dir) of a directory, reversed so that pop() yields them in name order."""
    with os.scandir(fd) as it:
        found = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    found.sort(reverse=True)
    return found
