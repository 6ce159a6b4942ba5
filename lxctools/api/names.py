"""What a container may be called: any lookup (valid_name), and a new one (check_new_name).

Import-light (the Container checks every name it is given, on lxc-info's and lxc-ls's hot
path) and below every other api module, so create, clone and the Container share it.
"""

from ..errors import LxcError

# A name's lock file is .NAME (255 bytes at most, as any file name): longer names can be
# handled by no tool, ours or LXC's.
MAX_NAME = 254
# What a container made or started here may have: its cgroup lxc.payload.NAME and the
# supervisor's record NAME.PID.tmp must fit in 255 bytes too (LXC's start fails past it).
MAX_NEW_NAME = 243


def valid_name(name):
    """LXC refuses names that are empty, contain '/', or are '.' / '..'."""
    return (bool(name) and "/" not in name and name not in (".", "..") and "\0" not in name
            and len(name.encode("utf-8", "surrogateescape")) <= MAX_NAME)


def check_new_name(name):
    """Refuse a name a new (or renamed, or starting) container cannot have."""
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NEW_NAME:
        raise LxcError(f"the container name is {size} bytes long: at most {MAX_NEW_NAME}",
                       hint="its cgroup (lxc.payload.NAME) and run-time files must fit in "
                            "255 bytes: choose a shorter name")
