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
