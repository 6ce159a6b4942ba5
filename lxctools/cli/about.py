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


def main(argv=None):
    from .. import version_line
    build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    sys.stdout.write(version_line() + "\n")
    return 0
