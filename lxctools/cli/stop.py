"""lxc-stop: halt (signal init, wait, then kill), reboot or kill a container."""

from ._common import (complete_running, use_completer, make_parser, parse, run_tool, lxcpath_of,
                      name_prefixed)

DESCRIPTION = """Stop a container.

lxc-stop -n NAME [-t TIMEOUT] [-r|-k|-W] [--nokill]

Sends lxc.signal.halt to init and waits up to TIMEOUT seconds (default 60, -1 forever)
before killing it. Exits 2 when the container is not running."""


def build_parser():
    parser = make_parser("lxc-stop", DESCRIPTION)
    parser.add_argument("-r", "--reboot", action="store_true", help="reboot the container")
    parser.add_argument("-W", "--nowait", action="store_true", help="do not wait for the stop")
    parser.add_argument("-t", "--timeout", type=int, default=None, metavar="T",
                        help="seconds to wait (default 60; -1 forever)")
    parser.add_argument("-k", "--kill", action="store_true", help="kill the container at once")
    parser.add_argument("--nokill", action="store_true", help="never fall back to killing")
    parser.add_argument("--nolock", action="store_true", help="(with -k) do not take the lock")
    use_completer(parser, "-n", complete_running)
    return parser


def body(argv):
    parser = build_parser()
    args = parse(parser, argv)
    from ..api.container import Container
    from ..errors import LxcError, UsageError

    timeout = args.timeout
    if args.kill and args.nokill:
        raise UsageError("-k can't be used with --nokill")
    if args.kill and args.reboot:
        raise UsageError("-k can't be used with -r")
    if args.kill and timeout not in (None, 0):
        raise UsageError("-k doesn't allow timeouts")
    if args.nolock and not args.kill:
        raise UsageError("--nolock may only be used with -k")
    if timeout is not None and timeout < -1:
        raise UsageError("invalid timeout", hint="give seconds, or -1 to wait forever")
    if timeout is None:
        # -k waits (up to 10 s) for the supervisor to finish cleaning up: a script that
        # stops then destroys, or checks cgroups, must not race it (LXC returns at once)
        timeout = 10 if args.kill else 60
    if args.nowait:
        timeout = 0
    try:
        container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
        container.stop(timeout=timeout, kill=args.kill, nokill=args.nokill, reboot=args.reboot)
    except LxcError as exc:
        if exc.exit_code == 2:  # "NAME is not running" / "does not exist": LXC's line as it is
            raise
        raise name_prefixed(exc, args.name)
    from .. import log
    log.info(f'Container "{args.name}" has ' + ("rebooted" if args.reboot else "stopped"),
             "lxc_stop")
    return 0


def main(argv=None):
    return run_tool("lxc-stop", body, argv)
