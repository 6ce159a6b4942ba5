"""lxc-console: connect this terminal to a container's console or one of its ttys."""

import os
import sys

from ._common import complete_running, use_completer, make_parser, parse, run_tool, lxcpath_of

DESCRIPTION = """Attach this terminal to a container tty.

lxc-console -n NAME [-t N] [-e PREFIX]

-t 0 is /dev/console; without -t the first free tty (lxc.tty.max) is used.
Type PREFIX q (default Ctrl-a q) to detach."""


def build_parser():
    parser = make_parser("lxc-console", DESCRIPTION)
    parser.add_argument("-t", "--tty", type=int, default=-1, metavar="N", help="tty number (0: console)")
    parser.add_argument("-e", "--escape", default="^a", metavar="PREFIX",
                        help="escape prefix, ^x or x (default ^a)")
    use_completer(parser, "-n", complete_running)
    return parser


def body(argv):
    args = parse(build_parser(), argv)
    from ..errors import LxcError, NotRunning
    from ..api import monitor
    from ..attach import terminal

    lxcpath = lxcpath_of(args)
    try:
        channel, answer = monitor.open_console(lxcpath, args.name, args.tty)
    except NotRunning:
        from ..api.container import Container
        from ..monitor.lxcsocket import check_not_lxcs
        check_not_lxcs(lxcpath, args.name, "attach a console to")  # LXC's monitor holds it
        # as LXC, whether it runs is said before whether stdin is a terminal
        raise Container(args.name, lxcpath, rcfile=args.rcfile).not_running() from None
    if not os.isatty(0):
        channel.close()
        raise LxcError("Failed to add stdin handler: stdin is not a terminal",
                       hint=f"to run commands without a terminal use lxc-attach -n {args.name} -- CMD")
    try:
        if answer is None:
            raise LxcError(f"{args.name} is not running")
        if "error" in answer:
            raise LxcError(answer["error"], hint="lxc-console -n NAME -t 0 is the console; "
                                                 "lxc-info -n NAME shows whether it runs")
        master = channel.fds[0]
        escape = terminal.escape_code(args.escape)
        letter = args.escape[-1:] if escape else "a"
        sys.stderr.write(f"\nConnected to tty {answer['tty']}\n"
                         f"Type <Ctrl+{letter} q> to exit the console, "
                         f"<Ctrl+{letter} Ctrl+{letter}> to enter Ctrl+{letter} itself\n")
        sys.stderr.flush()
        terminal.proxy(master, escape, extra_fds=[channel.sock.fileno()])
        os.close(master)
    finally:
        channel.close()
    return 0


def main(argv=None):
    return run_tool("lxc-console", body, argv)
