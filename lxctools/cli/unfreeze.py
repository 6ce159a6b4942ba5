"""lxc-unfreeze: thaw a frozen container."""

from ._common import run_tool
from .freeze import body as freeze_body


def body(argv):
    return freeze_body(argv, prog="lxc-unfreeze", command="unfreeze")


def main(argv=None):
    return run_tool("lxc-unfreeze", body, argv)
