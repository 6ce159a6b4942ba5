"""lxc-copy: copy, snapshot-clone (-s), rename (-R) or start an ephemeral clone (-e)."""

from ._common import make_parser, parse, run_tool, lxcpath_of, name_prefixed

DESCRIPTION = """Copy an existing container.

lxc-copy -n NAME [-P LXCPATH] -N NEWNAME [-p NEWPATH] [-s] [-B dir|overlay] [-K] [-M] [-a]
lxc-copy -n NAME [-P LXCPATH] -N NEWNAME -R
lxc-copy -n NAME [-P LXCPATH] -e [-N NEWNAME] [-p NEWPATH] [-D] [-K] [-M] [-d|-F]
         [-m bind=SRC[:DST][:ro|rw],overlay=SRC[:DST]] [-- COMMAND]"""


def build_parser():
    parser = make_parser("lxc-copy", DESCRIPTION)
    parser.add_argument("-N", "--newname", metavar="NEWNAME", help="name of the copy")
    parser.add_argument("-p", "--newpath", metavar="NEWPATH", help="lxcpath of the copy")
    parser.add_argument("-R", "--rename", action="store_true", help="rename the container")
    parser.add_argument("-s", "--snapshot", action="store_true",
                        help="copy-on-write clone (overlay over the origin's rootfs)")
    parser.add_argument("-a", "--allowrunning", action="store_true",
                        help="allow snapshotting a running container")
    parser.add_argument("-F", "--foreground", action="store_true", help="with -e: start in the foreground")
    parser.add_argument("-d", "--daemon", action="store_true", help="with -e: start daemonized (default)")
    parser.add_argument("-e", "--ephemeral", action="store_true",
                        help="start an ephemeral clone (removed when it stops)")
    parser.add_argument("-m", "--mount", action="append", default=[], metavar="MOUNT",
                        help="with -e: bind=SRC[:DST][:ro|rw] or overlay=SRC[:DST], comma separated")
    parser.add_argument("-B", "--backingstorage", metavar="TYPE",
                        help="dir, overlay, btrfs or loop")
    parser.add_argument("-t", "--tmpfs", action="store_true", help="with -e: place the clone on tmpfs")
    parser.add_argument("-L", "--fssize", metavar="SIZE",
                        help="size of a new loop image (SIZE[bkmgt], no unit = MiB)")
    parser.add_argument("-D", "--keepdata", action="store_true",
                        help="with -e: keep the clone after it stops")
    parser.add_argument("-K", "--keepname", action="store_true", help="keep the hostname")
    parser.add_argument("-M", "--keepmac", action="store_true", help="keep the MAC addresses")
    parser.set_defaults(_accept_extra=True)
    return parser


def body(argv):
    command = []
    if "--" in (argv or []):
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1:]
    args = parse(build_parser(), argv)
    from ..api.container import Container
    from ..errors import LxcError, UsageError

    if not args.newname and not args.ephemeral:
        raise UsageError("You must provide a NEWNAME for the clone")
    if args.tmpfs:
        raise UsageError("-t/--tmpfs is not supported by lxctools",
                         hint="use -e without -t (the clone's delta lives on disk)")
    newsize = 0
    if args.fssize:
        from ..storage.loop import parse_size
        newsize = parse_size(args.fssize)
    try:
        container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
        if args.ephemeral:
            from ..api.ephemeral import run_ephemeral
            return run_ephemeral(container, args, command)
        if args.rename:
            container.rename(args.newname)
            return 0
        from ..api.clone import clone
        clone(container, args.newname, args.newpath, snapshot=args.snapshot,
              bdevtype=args.backingstorage, keepname=args.keepname, keepmac=args.keepmac,
              allow_running=args.allowrunning, hookargs=command, newsize=newsize)
    except LxcError as exc:
        raise name_prefixed(exc, args.name)
    from .. import log
    log.info(f'Created "{args.newname}" as a ' + ("snapshot" if args.snapshot else "copy")
             + f' of "{args.name}"', "lxc_copy")
    return 0


def main(argv=None):
    return run_tool("lxc-copy", body, argv)
