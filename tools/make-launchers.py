#!/usr/bin/env python3
"""--fix-installed BINDIR: tidy an environment that an older lxctools was installed into.

pip now installs every command itself (pyproject.toml: [project.scripts], and setup.py for
the front door's commands), so there is nothing left to fix after an install. Before, this
script moved the Python launchers of lxc-info, lxc-wait, lxc-stop and lxc-ls to
PREFIX/libexec/lxctools/ and put the front door in their place; pip does not know those
copies, so they stay behind after an upgrade: they are removed here (only files an lxctools
launcher wrote, and the directory when that leaves it empty). ./setup and the VM tier still
run it after each install; it is safe to run any number of times."""

import os
import sys

OLD_TOOLS = ("lxc-info", "lxc-wait", "lxc-stop", "lxc-ls")


def old_launcher_dir(bindir):
    return os.path.join(os.path.dirname(os.path.abspath(bindir)), "libexec", "lxctools")


def is_old_launcher(path):
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.startswith(b"#!") and b": an lxctools launcher." in head


def remove_old_layout(bindir):
    """Remove PREFIX/libexec/lxctools/TOOL left by an older install; returns what went."""
    pydir = old_launcher_dir(bindir)
    removed = []
    for tool in OLD_TOOLS:
        path = os.path.join(pydir, tool)
        if is_old_launcher(path):
            os.unlink(path)
            removed.append(path)
    try:
        os.rmdir(pydir)
    except OSError:
        pass  # not there, or holds something not ours (lxc-containers: install-etc.py)
    return removed


def main():
    if sys.argv[1:2] != ["--fix-installed"] or len(sys.argv) != 3:
        print("usage: make-launchers.py --fix-installed BINDIR\n"
              "(pip installs the commands: pyproject.toml [project.scripts] and setup.py)",
              file=sys.stderr)
        return 2
    for path in remove_old_layout(sys.argv[2]):
        print(f"removed {path} (an older install's launcher)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
