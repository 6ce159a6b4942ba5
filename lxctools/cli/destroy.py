"""lxc-destroy: remove a stopped container (its directory only; never through a symlink or a
mount point); --dry-run lists what would go."""

import sys

from ._common import make_parser, parse, run_tool, lxcpath_of, name_prefixed

DESCRIPTION = """Destroy a container.

lxc-destroy -n NAME [-f] [-s] [--dry-run]"""


def build_parser():
    parser = make_parser("lxc-destroy", DESCRIPTION)
    parser.add_argument("-f", "--force", action="store_true", help="stop the container first if it is running")
    parser.add_argument("-s", "--snapshots", action="store_true", help="destroy its snapshots too")
    parser.add_argument("--dry-run", action="store_true",
                        help="remove nothing; list every path that would be removed (beyond LXC)")
    return parser


def body(argv):
    args = parse(build_parser(), argv)
    from ..api.container import Container
    from ..errors import LxcError

    try:
        container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
        removed = container.destroy(force=args.force, snapshots=args.snapshots,
                                    dry_run=args.dry_run)
    except LxcError as exc:
        raise name_prefixed(exc, args.name)
    if args.dry_run:
        sys.stdout.write("".join(p + "\n" for p in removed))
    else:
        from .. import log
        log.info(f"Destroyed container {args.name}", "lxc_destroy")
    return 0


def main(argv=None):
    return run_tool("lxc-destroy", body, argv)
