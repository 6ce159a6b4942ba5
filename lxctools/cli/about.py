"""lxctools: which lxctools this is.

Every lxc-* tool's --version prints the LXC release whose interface it follows (5.0.2), the
bare number LXC's tools print, because scripts compare it (LXC's own lxc-checkconfig prints
`lxc-start --version` as "LXC version ..."); this command names lxctools' own release."""

import sys

DESCRIPTION = """Show which lxctools this is: its own version and the LXC release it follows.

lxctools [--version]

Every lxc-* tool's --version prints that LXC release alone (e.g. 5.0.2), as LXC's tools do."""


def build_parser():
    import argparse

    from .. import version_line
    parser = argparse.ArgumentParser(prog="lxctools", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=version_line(),
                        help="print lxctools' version and the LXC release it follows")
    return parser


# The commands the compiled front door (native/lxc-front.c) is installed as: it runs
# `lxctools --as TOOL ARGS...` for whatever it leaves to Python (pyproject.toml's
# [tool.lxctools.front-door]; tests/unit/test_packaging.py checks the three agree). Through
# this console script, not an interpreter path compiled in: the wheel is built before pip
# knows which Python it lands in, and pip writes this script's first line for that Python.
FRONT_DOOR = ("lxc-attach", "lxc-info", "lxc-ls", "lxc-start", "lxc-stop", "lxc-wait")


# `lxctools --supervise LXCPATH`: how the compiled lxc-start runs the lxcpath's supervisor
# it spawns when a start finds none (native/lxc-front.c spawn_supervisor; not for people)
SUPERVISE = "--supervise"


def run_as(tool, argv):
    """Run the Python tool TOOL with ARGV as if it had been called by that name."""
    import importlib

    if tool not in FRONT_DOOR:
        sys.stderr.write(f"lxctools: --as takes one of {', '.join(FRONT_DOOR)}, not {tool!r}\n")
        return 1
    sys.argv = [tool, *argv]
    return importlib.import_module("lxctools.cli." + tool[4:].replace("-", "_")).main()


def main(argv=None):
    from .. import version_line
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--as"] and len(argv) > 1:
        return run_as(argv[1], argv[2:])
    if argv[:1] == [SUPERVISE] and len(argv) == 2:
        from ..api.monitor import serve_lxcpath
        return serve_lxcpath(argv[1])
    build_parser().parse_args(argv)
    sys.stdout.write(version_line() + "\n")
    return 0
