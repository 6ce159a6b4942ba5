"""lxctools: the LXC command suite, written in Python with a native runtime."""

__version__ = "0.1.0"
# The LXC release whose interface (options, keys, exit codes) we follow.
LXC_COMPAT_VERSION = "5.0.2"
