"""The one error type every layer raises.

Raise where it fails, naming the object; callers add context; cli._common prints once.
Imports nothing so that any module may use it.
"""


class LxcError(Exception):
    """A failure to report to the user as one line plus an optional hint.

    exit_code is what the CLI returns; LXC's tools use 1 for almost every failure.
    """

    exit_code = 1

    def __init__(self, message, *, hint=None, path=None, line=None, key=None, exit_code=None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path
        self.line = line
        self.key = key
        if exit_code is not None:
            self.exit_code = exit_code

    def where(self):
        """FILE:LINE: prefix when the error belongs to a place in a file."""
        if self.path and self.line:
            return f"{self.path}:{self.line}: "
        if self.path:
            return f"{self.path}: "
        return ""

    def __str__(self):
        return self.where() + self.message


class ConfigError(LxcError):
    """A config file or value is wrong."""


class NotDefined(LxcError):
    """The named container does not exist."""


class NotRunning(LxcError):
    """The container is not running (lxc-stop exits 2 for this)."""


class UsageError(LxcError):
    """Bad command line."""


def os_error(exc, doing=None, path=None):
    """An LxcError for the OSError EXC: "DOING PATH: reason" and, for the errors the
    environment causes (read-only or full filesystem, a name too long, no permission), the
    fix. DOING names the action ("cannot create"); PATH defaults to EXC's file name."""
    import errno as E  # a builtin module: free to import

    path = path or exc.filename
    reason = exc.strerror or str(exc)
    where = " ".join(str(p) for p in (doing, path) if p)
    fix = {
        E.EROFS: "the filesystem is mounted read-only: remount it read-write (mount -o "
                 "remount,rw), or use an lxcpath elsewhere (-P)",
        E.ENOSPC: "the filesystem is full: free some space (df -h; du -sh) or use an "
                  "lxcpath elsewhere (-P)",
        E.EDQUOT: "the disk quota is used up: free some space or raise the quota",
        E.ENAMETOOLONG: "a file name is at most 255 bytes and a path 4095: choose a shorter "
                        "container name or lxcpath",
        E.EACCES: "no permission: run as root, or give this user the right on the path",
        E.EPERM: "not permitted: run as root (or fix the file's attributes: lsattr)",
        E.EMFILE: "too many open files in this process: raise ulimit -n",
        E.ENFILE: "too many open files on the system: raise fs.file-max",
        E.ENOMEM: "out of memory",
        E.ELOOP: "too many symlinks: fix the path",
        E.EIO: "an I/O error: check the disk (dmesg)",
    }.get(exc.errno)
    return LxcError(f"{where}: {reason}" if where else reason, hint=fix)
