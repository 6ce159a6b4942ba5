"""lxc-usernsexec: run a command in a new user namespace with the caller's subordinate ids."""

import os
import pwd
import sys

USAGE = """usage: lxc-usernsexec [-m MAP]... [-s] [-u UID] [-g GID] [-h] -- [COMMAND [ARG...]]

  -m u|g|b:NSID:HOSTID:RANGE   map RANGE ids from HOSTID to NSID (b: uids and gids);
                               without -m, the caller's /etc/subuid and /etc/subgid ranges
                               are mapped from 0
  -s                           also map the caller's own uid and gid (after the ranges)
  -u UID, -g GID               run as UID:GID inside (default 0:0)
Default command: /bin/sh. Exits with the command's status.
"""


def build_parser():
    """The options as argparse sees them: for the man page and completion only (parsing is
    getopt's, as LXC's "m:hsu:g:")."""
    from ._common import Parser
    parser = Parser(prog="lxc-usernsexec", description="Run a command in a new user namespace "
                    "mapped to the caller's subordinate ids.")
    parser.add_argument("-m", metavar="MAP", action="append",
                        help="u|g|b:NSID:HOSTID:RANGE; without -m, the caller's /etc/subuid "
                             "and /etc/subgid ranges from 0")
    parser.add_argument("-s", action="store_true", help="also map the caller's own uid and gid")
    parser.add_argument("-u", metavar="UID", type=int, help="run as UID inside (default 0)")
    parser.add_argument("-g", metavar="GID", type=int, help="run as GID inside (default 0)")
    parser.add_argument("command", nargs="*", help="the command (default /bin/sh), after --")
    return parser


def fail(message):
    sys.stderr.write(f"lxc-usernsexec: {message}\n")
    return 1


def main(argv=None):
    import getopt

    argv = sys.argv[1:] if argv is None else argv
    try:
        opts, rest = getopt.getopt(argv, "m:hsu:g:")
    except getopt.GetoptError as exc:
        sys.stderr.write(f"lxc-usernsexec: {exc}\n{USAGE}")
        return 1
    maps = {"u": [], "g": []}
    own = False
    uid = gid = 0
    for opt, value in opts:
        if opt == "-h":
            sys.stdout.write(USAGE)
            return 0
        if opt == "-s":
            own = True
        elif opt == "-u":
            uid = int(value)
        elif opt == "-g":
            gid = int(value)
        elif opt == "-m":
            parts = value.split(":")
            if len(parts) != 4 or parts[0] not in ("u", "g", "b") or not all(
                    p.isdigit() for p in parts[1:]):
                return fail(f"bad map {value!r}: expected u|g|b:NSID:HOSTID:RANGE")
            entry = (int(parts[1]), int(parts[2]), int(parts[3]))
            for kind in ("u", "g") if parts[0] == "b" else (parts[0],):
                maps[kind].append(entry)
    from ..idmap.userns import exec_in_userns, subordinate_ranges

    name = pwd.getpwuid(os.getuid()).pw_name
    if not maps["u"] and not maps["g"]:
        uids = subordinate_ranges(name, os.getuid(), "/etc/subuid")
        gids = subordinate_ranges(name, os.getgid(), "/etc/subgid")
        if not uids or not gids:
            return fail(f"Failed to find subuid or subgid allocation for {name} "
                        "(hint: usermod --add-subuids START-END --add-subgids START-END "
                        f"{name}, as root)")
        maps["u"] = [(0, uids[0][0], uids[0][1])]
        maps["g"] = [(0, gids[0][0], gids[0][1])]
    if own:
        for kind, mine in (("u", os.getuid()), ("g", os.getgid())):
            top = max((i + c for i, _o, c in maps[kind]), default=0)
            maps[kind].append((top, mine, 1))
    command = rest or ["/bin/sh"]
    from ..errors import LxcError
    try:
        return exec_in_userns(maps, command, uid=uid, gid=gid)
    except LxcError as exc:
        return fail(f"{exc}" + (f" (hint: {exc.hint})" if exc.hint else ""))


if __name__ == "__main__":
    sys.exit(main())
