"""Atomic file writes (temp file in the same directory + fsync + rename).

A reader sees the old file or the new one, never half of either; a failed write leaves the
old file untouched. Importable from every layer, like errors and paths.
"""

import os


def atomic_write(path, data, mode=0o644, *, uid=None, gid=None):
    """Replace PATH with DATA (str or bytes)."""
    import tempfile  # not at the top: lxc-attach and lxc-stop load this module, rarely write

    directory = os.path.dirname(os.path.abspath(path))
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                   dir=directory)
    except OSError as exc:
        exc.filename = exc.filename or path
        raise
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if uid is not None or gid is not None:
                os.fchown(handle.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not exc.filename:
            # a write that found the disk full names no file: the caller's message should
            exc.filename = path
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
