"""Per-container locks, at LXC's place: <rundir>/lxc/lock/<lxcpath>/.<name>.

flock() on an open file: released by the kernel when the holder dies, so a kill -9 never
leaves a stale lock behind.
"""

import fcntl
import os
from contextlib import contextmanager

from ..errors import LxcError, os_error
from ..paths import runtime_dir


def lock_path(lxcpath, name):
    return os.path.join(runtime_dir(), "lxc", "lock", lxcpath.lstrip("/"), "." + name)


@contextmanager
def container_lock(lxcpath, name, *, wait=True):
    """Hold NAME's lock for the block; with wait=False, fail at once if another command holds it."""
    path = lock_path(lxcpath, name)
    try:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        # a name or lxcpath too long for a file name or path, a read-only or full /run
        raise os_error(exc, f"cannot take {name}'s lock", path) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LxcError(f"{name} is busy: another lxc command is working on it",
                           hint="wait for it to finish and try again") from None
        yield
    finally:
        os.close(fd)
