"""The `partial` marker: a container being created holds a lock on <dir>/partial.

While lxc-create runs, the file exists and is flock()ed. If lxc-create dies (even kill -9)
the kernel drops the lock, and the next lookup of that name finds an unlocked marker: a
half-made container, which it removes. The marker is created under a temporary name, locked,
then renamed into place, so it is never visible unlocked while its creator lives.
"""

import errno
import fcntl
import os
import time

PARTIAL = "partial"

ONGOING = "ongoing"
REMOVED = "removed"
STALE = "stale"

REMOVE_TRIES = 50  # 5 s of "Directory not empty" from a dying writer (remove_if_stale)


class Marker:
    """Held by lxc-create from before the config is written until the container is complete."""

    def __init__(self, container_dir):
        self.path = os.path.join(container_dir, PARTIAL)
        tmp = os.path.join(container_dir, f".{PARTIAL}.{os.getpid()}")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, f"{os.getpid()}\n".encode())
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.fd = fd

    def finish(self):
        """The container is complete: drop the marker, then the lock."""
        try:
            os.unlink(self.path)
        finally:
            self.release()

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def check(container_dir):
    """None (no marker), ONGOING (its creator is alive) or STALE (its creator died)."""
    path = os.path.join(container_dir, PARTIAL)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return STALE
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return ONGOING
    finally:
        os.close(fd)
    return STALE


def remove_if_stale(container_dir, remove_tree):
    """Remove a half-made container left by a dead lxc-create.

    Returns None (nothing there), ONGOING, REMOVED, or STALE (it could not be removed: no
    permission, or something inside blocks removal). The lock is held while removing, so
    two cleaners never race each other and a new creator waits for the cleaner.
    """
    path = os.path.join(container_dir, PARTIAL)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return STALE
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return ONGOING
        if not _same_file(fd, path):
            return check(container_dir)  # replaced meanwhile: judge the new marker
        for attempt in range(REMOVE_TRIES):
            try:
                remove_tree(container_dir)
                return REMOVED
            except Exception as exc:  # noqa: BLE001 - a lookup must not fail because of it
                # A dead creator's helper may still write for a moment: rsync forks its
                # receiver, whom the creator's PR_SET_PDEATHSIG does not reach, and it goes on
                # for up to ~1 s after the kill (measured). "Directory not empty" is that:
                # tried again, briefly. Any other failure (permission, a mount) is final.
                if os.strerror(errno.ENOTEMPTY) not in str(exc) or attempt == REMOVE_TRIES - 1:
                    return STALE
                time.sleep(0.1)
        return STALE
    finally:
        os.close(fd)


def remove_stale_temps(container_dir):
    """Remove `.partial.PID` files whose creator died between making the file and renaming
    it to `partial` (Marker): nobody holds their lock. The caller holds the container's lock
    (api/locking.py), so no live creator is between its open and its flock here."""
    try:
        entries = os.listdir(container_dir)
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(f".{PARTIAL}.") and entry[len(PARTIAL) + 2:].isdigit()):
            continue
        path = os.path.join(container_dir, entry)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(fd, path):
                os.unlink(path)
        except OSError:
            pass  # locked: its creator lives
        finally:
            os.close(fd)


def _same_file(fd, path):
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
