"""lxctools: the LXC command suite, written in Python with a native runtime."""

__version__ = "0.1.0"
# The LXC release whose interface (options, keys, exit codes) we follow.
LXC_COMPAT_VERSION = "5.0.2"


def version_line():
    """lxctools' own version, and the LXC release it follows (`lxctools --version`, the first
    line of lxc-checkconfig). Every lxc-* tool's --version prints LXC_COMPAT_VERSION alone,
    as LXC's tools print theirs: scripts read it (LXC's own lxc-checkconfig runs
    `lxc-start --version`)."""
    return f"lxctools {__version__} (LXC {LXC_COMPAT_VERSION} compatible)"
