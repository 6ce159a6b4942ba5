"""lxc-start: start a container (in the background by default, as LXC 5)."""

from ._common import complete_define, make_parser, parse, run_tool, lxcpath_of, name_prefixed

DESCRIPTION = """Start a container.

lxc-start -n NAME [-F] [-f CONFIG] [-s KEY=VAL]... [-p PIDFILE] [-- COMMAND...]

Without a command the container runs lxc.init.cmd (default /sbin/init). By default the
command returns once the container is RUNNING; -F keeps it on this terminal as its console."""


def add_share_options(parser):
    for kind in ("net", "ipc", "uts", "pid"):
        parser.add_argument(f"--share-{kind}", metavar="NAME|PID",
                            help=f"share the {kind} namespace of a running container or process")


def shares(args):
    return {k: getattr(args, f"share_{k}") for k in ("net", "ipc", "uts", "pid")
            if getattr(args, f"share_{k}")}


def build_parser():
    parser = make_parser("lxc-start", DESCRIPTION, rcfile=False)
    parser.add_argument("-d", "--daemon", action="store_true", help="run in the background (default)")
    parser.add_argument("-F", "--foreground", action="store_true", help="run in the foreground")
    parser.add_argument("-f", "--rcfile", metavar="FILE",
                        help="load the configuration from FILE (the container need not exist)")
    opt = parser.add_argument("-s", "--define", action="append", default=[], metavar="KEY=VAL",
                              help="set a config key (repeatable), overriding the file")
    opt.completer = complete_define
    parser.add_argument("-c", "--console", metavar="FILE", help="use FILE as the console (lxc.console.path)")
    parser.add_argument("-L", "--console-log", metavar="FILE", help="log the console to FILE")
    parser.add_argument("-C", "--close-all-fds", action="store_true",
                        help="close inherited fds (always done in daemon mode)")
    parser.add_argument("-p", "--pidfile", metavar="FILE", help="write the supervisor's PID to FILE")
    parser.add_argument("--explain", action="store_true",
                        help="print what the start would do, in order, and do nothing (beyond LXC)")
    add_share_options(parser)
    return parser


def split_command(argv):
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1:]
    return argv, []


def body(argv):
    own, command = split_command(argv)
    parser = build_parser()
    args = parse(parser, own)
    from ..api.container import Container
    from ..errors import LxcError

    if args.foreground and args.daemon:
        parser.error("-d and -F cannot be used together")
    import os
    if args.pidfile:
        args.pidfile = os.path.abspath(args.pidfile)
    try:
        container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
        code = container.start(command or None, foreground=args.foreground,
                               pidfile=args.pidfile, defines=args.define,
                               share=shares(args),
                               console_path=args.console, console_log=args.console_log,
                               explain=args.explain)
    except LxcError as exc:
        if exc.exit_code == 0:
            raise name_prefixed(exc, args.name)
        exc = name_prefixed(exc, args.name)
        raise
    if not args.explain:
        from .. import log
        log.info(f'Container "{args.name}" ' + ("ended" if args.foreground else "started"),
                 "lxc_start")
    # LXC's lxc-start -F does not pass the container's exit status on.
    return 0 if code is not None else 0


def main(argv=None):
    return run_tool("lxc-start", body, argv)
