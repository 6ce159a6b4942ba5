"""lxc-autostart: start, reboot, stop or kill the containers marked lxc.start.auto."""

import sys

from ._common import make_parser, parse, run_tool, lxcpath_of

DESCRIPTION = """Start (or -r reboot, -s shut down, -k kill) the autostart containers.

lxc-autostart [-L] [-a | -g GROUPS] [-A] [-r|-s|-k] [-t TIMEOUT]

Without -g only containers without lxc.group are taken; "-g onboot," takes the onboot group
and the ungrouped ones. Exits 0 when every action worked, 1 when all failed, 2 when some did."""


def build_parser():
    parser = make_parser("lxc-autostart", DESCRIPTION, name=False)
    parser.add_argument("-k", "--kill", action="store_true", help="kill the containers")
    parser.add_argument("-L", "--list", action="store_true", help="list, do nothing")
    parser.add_argument("-r", "--reboot", action="store_true", help="reboot the containers")
    parser.add_argument("-s", "--shutdown", action="store_true", help="shut the containers down")
    parser.add_argument("-a", "--all", action="store_true", help="ignore lxc.group")
    parser.add_argument("-A", "--ignore-auto", action="store_true", help="ignore lxc.start.auto")
    parser.add_argument("-g", "--groups", action="append", metavar="GROUPS",
                        help="comma-separated groups (repeatable; an empty one is the NULL group)")
    parser.add_argument("-t", "--timeout", type=int, default=60, metavar="T",
                        help="seconds to wait for a shutdown (default 60)")
    return parser


def body(argv):
    args = parse(build_parser(), argv, positional_name=False)
    from ..api import autostart

    action = "kill" if args.kill else "shutdown" if args.shutdown else (
        "reboot" if args.reboot else "start")
    if args.all and args.groups:
        sys.stderr.write("lxc-autostart: warning: -a overrides -g\n")
    candidates = autostart.select(lxcpath_of(args), groups=args.groups, all_groups=args.all,
                                  ignore_auto=args.ignore_auto,
                                  reverse=action in ("shutdown", "kill"))
    attempted, failed = autostart.run(candidates, action, timeout=args.timeout,
                                      listing=args.list)
    if failed and failed == attempted:
        return 1
    return 2 if failed else 0


def main(argv=None):
    return run_tool("lxc-autostart", body, argv)
