"""lxc-unshare: run a command in a new set of namespaces."""

import argparse
import sys

from ._common import make_parser, parse, run_tool

DESCRIPTION = """Run COMMAND in new namespaces.

lxc-unshare -s NAMESPACES [-u USER] [-H HOSTNAME] [-i IFNAME]... [-d] [-M] [--] COMMAND...

NAMESPACES: |-separated MOUNT, PID, UTSNAME, IPC, USER, NETWORK, CGROUP, TIME (or the
/proc/PID/ns names: mnt, pid, uts, ipc, user, net, cgroup, time).
Exits with the command's status (128+N when a signal N killed it; LXC: 0 or 1)."""


def build_parser():
    parser = make_parser("lxc-unshare", DESCRIPTION, name_required=False)
    parser.add_argument("-s", "--namespaces", metavar="NAMESPACES",
                        help="namespaces to unshare, e.g. 'MOUNT|PID|UTSNAME'")
    parser.add_argument("-u", "--user", metavar="USER",
                        help="run as USER (name or uid); with USER mapped to the caller's uid")
    parser.add_argument("-H", "--hostname", metavar="HOSTNAME",
                        help="set the hostname (needs UTSNAME)")
    parser.add_argument("-i", "--ifname", action="append", default=[], metavar="IFNAME",
                        help="move interface IFNAME into the new network namespace "
                             "(needs NETWORK; repeatable)")
    parser.add_argument("-d", "--daemon", action="store_true",
                        help="do not wait for the command to exit")
    parser.add_argument("-M", "--remount", action="store_true",
                        help="mount a fresh /proc, /dev/shm and /dev/mqueue (and /sys with "
                             "NETWORK); needs MOUNT")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                        help="the command and its arguments")
    return parser


def body(argv):
    from .start import split_command

    own, after = split_command(argv)
    parser = build_parser()
    args = parse(parser, own, positional_name=False)
    command = list(args.command) + after
    from ..errors import LxcError
    from ..spawn import unshare

    try:
        flags = unshare.namespace_flags(args.namespaces) if args.namespaces is not None else 0
        uid = unshare.lookup_user(args.user) if args.user is not None else None
    except LxcError as exc:
        from ._common import report
        report(parser.prog, exc)
        sys.stderr.write(f"{parser.prog}: could not parse command line\n")
        return 1
    options = unshare.Options(flags, command, uid=uid, hostname=args.hostname,
                              ifnames=args.ifname, daemon=args.daemon, remount=args.remount)
    return unshare.run(options)


def main(argv=None):
    return run_tool("lxc-unshare", body, argv)
