"""lxc-snapshot: take, list, restore and destroy snapshots (LXCPATH/NAME/snaps/snapN)."""

import sys

from ._common import make_parser, parse, run_tool, lxcpath_of, name_prefixed

DESCRIPTION = """Manage container snapshots.

lxc-snapshot -n NAME [-c COMMENTFILE]
lxc-snapshot -n NAME -L [-C]
lxc-snapshot -n NAME -r SNAPNAME [-N NEWNAME | NEWNAME]
lxc-snapshot -n NAME -d SNAPNAME|ALL"""


def build_parser():
    parser = make_parser("lxc-snapshot", DESCRIPTION)
    parser.add_argument("-c", "--comment", metavar="FILE", help="add FILE's text as the snapshot's comment")
    parser.add_argument("-L", "--list", action="store_true", help="list the snapshots")
    parser.add_argument("-C", "--showcomments", action="store_true", help="with -L: show the comments")
    parser.add_argument("-r", "--restore", metavar="SNAPNAME", help="restore snapshot SNAPNAME")
    parser.add_argument("-N", "--newname", metavar="NEWNAME",
                        help="with -r: restore as NEWNAME instead of over NAME")
    parser.add_argument("-d", "--destroy", metavar="SNAPNAME",
                        help="destroy snapshot SNAPNAME (ALL: every snapshot)")
    parser.set_defaults(_accept_extra=True)
    return parser


def body(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    extra = [a for a in rest if a != "--" and not a.startswith("-")]
    if args.name is None and extra:
        extra.pop(0)
    args = parse(parser, argv)
    from ..api.container import Container
    from ..errors import LxcError, UsageError

    try:
        container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
        if args.destroy is not None:
            container.snapshot_destroy(args.destroy)
        elif args.list:
            found = container.snapshot_list()
            if not found:
                sys.stdout.write("No snapshots\n")
            for name, comment, stamp, path in found:
                sys.stdout.write(f"{name} ({path}) {stamp if stamp is not None else '(null)'}\n")
                if args.showcomments:
                    try:
                        with open(comment, encoding="utf-8", errors="surrogateescape") as handle:
                            sys.stdout.write(handle.read())
                    except OSError:
                        pass
        elif args.restore is not None:
            if not args.newname and len(extra) > 1:
                raise UsageError("Too many arguments")
            container.snapshot_restore(args.restore, args.newname or (extra[0] if extra else None))
        else:
            if extra:
                raise UsageError(f"unexpected argument {extra[0]}")
            container.snapshot(args.comment)
    except LxcError as exc:
        raise name_prefixed(exc, args.name)
    return 0


def main(argv=None):
    return run_tool("lxc-snapshot", body, argv)
