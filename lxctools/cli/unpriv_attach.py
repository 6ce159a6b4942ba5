"""lxc-unpriv-attach: lxc-attach for an ordinary user, in a delegated cgroup where the
host needs one."""

from ._unpriv import relaunch, usage

USAGE = usage("attach")


def main(argv=None):
    return relaunch("attach", argv)
