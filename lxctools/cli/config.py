"""lxc-config: print the system configuration (lxc.conf) values LXC tools use."""

import sys

from ._common import run_tool

ITEMS = ["lxc.default_config", "lxc.lxcpath", "lxc.bdev.lvm.vg", "lxc.bdev.lvm.thin_pool",
         "lxc.bdev.zfs.root", "lxc.cgroup.use", "lxc.cgroup.pattern"]
# Ours, asked for by name only: `-l` lists LXC's items as LXC does.
EXTENSION_ITEMS = ["lxctools.image_cache.size"]

USAGE = """Usage: lxc-config -l: list all available configuration items
       lxc-config item: print configuration item
       lxc-config --keys: list every container config key lxctools knows (beyond LXC)
"""


def body(argv):
    # LXC compares by prefix: "-", "--h", even "" ask for the usage, "-l" lists
    if not argv or "-h".startswith(argv[0]) or "--help".startswith(argv[0]) or \
            argv[0] == "--usage":
        sys.stdout.write(USAGE)
        return 0
    if argv[0] == "-l":
        sys.stdout.write("".join(item + "\n" for item in ITEMS))
        return 0
    if argv[0] == "--keys":
        from ..config.keys import all_key_names
        sys.stdout.write("".join(k.replace(".0.", ".N.") + "\n" for k in all_key_names()))
        return 0
    # Like LXC, an argument selects the first item it is a prefix of.
    item = next((i for i in ITEMS + EXTENSION_ITEMS if i.startswith(argv[0])), None)
    if item is None:
        sys.stdout.write(f"Unknown configuration item: {argv[0]}\n")
        return 1
    from ..paths import global_value
    value = global_value(item)
    # (LXC names what was typed, a prefix maybe, in "is not set")
    sys.stdout.write(f"{value}\n" if value is not None else f"{argv[0]} is not set.\n")
    return 0


def main(argv=None):
    return run_tool("lxc-config", body, argv)
