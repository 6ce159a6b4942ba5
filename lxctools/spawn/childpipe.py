"""How a forked child tells its parent why it failed: one message through a pipe, written
just before the child exits (attach, unshare and device helpers share it)."""

import os

from ..errors import LxcError


def describe(exc):
    """The text sent for EXC: an LxcError keeps its hint after a NUL."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, LxcError):
        return f"{exc}\0{exc.hint or ''}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"{type(exc).__name__}: {exc}"


def report(fd, exc):
    try:
        os.write(fd, describe(exc).encode())
    except OSError:
        pass  # the parent is gone: nobody to tell


def read_all(fd):
    """Everything until EOF, then close FD."""
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return data
