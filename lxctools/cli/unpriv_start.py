"""lxc-unpriv-start: lxc-start for an ordinary user, in a delegated cgroup where the
host needs one."""

from ._unpriv import relaunch, usage

USAGE = usage("start")


def main(argv=None):
    return relaunch("start", argv)
