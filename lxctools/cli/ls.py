"""lxc-ls: list containers, in LXC's layouts (plain columns, -1, -f/-F) or as JSON."""

import os
import sys

from ._common import make_parser, parse, run_tool, lxcpath_of, print_json

DESCRIPTION = """List the containers existing on the system.

lxc-ls [-P PATH] [-1] [-f] [-F COLUMNS] [--active] [--running] [--frozen] [--stopped]
       [--defined] [-g GROUPS] [--filter REGEX | REGEX]"""


def build_parser():
    parser = make_parser("lxc-ls", DESCRIPTION, name=False, rcfile=False)
    parser.add_argument("-1", "--line", action="store_true", help="one container per line")
    parser.add_argument("-f", "--fancy", action="store_true", help="a table with state, groups, addresses")
    parser.add_argument("-F", "--fancy-format", metavar="COLUMNS",
                        help="columns of -f, comma separated: NAME, STATE, PID, RAM, SWAP, "
                             "AUTOSTART, GROUPS, INTERFACE, IPV4, IPV6, UNPRIVILEGED")
    parser.add_argument("--active", action="store_true", help="only active containers")
    parser.add_argument("--running", action="store_true", help="only running containers")
    parser.add_argument("--frozen", action="store_true", help="only frozen containers")
    parser.add_argument("--stopped", action="store_true", help="only stopped containers")
    parser.add_argument("--defined", action="store_true", help="only defined containers")
    parser.add_argument("--nesting", nargs="?", type=int, const=5, metavar="NUM",
                        help="list nested containers up to NUM levels (needs running containers)")
    parser.add_argument("-g", "--groups", metavar="GROUPS",
                        help="only containers in ALL these groups (comma separated)")
    parser.add_argument("--filter", metavar="REGEX", help="only names matching REGEX")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="json: every field of every listed container (beyond LXC)")
    parser.add_argument("patterns", nargs="*", help=argparse_suppress())
    return parser


def argparse_suppress():
    import argparse
    return argparse.SUPPRESS


# -- pure formatting (unit-tested) -------------------------------------------------------------
def cell(entry, column):
    """The text LXC prints for COLUMN of ENTRY ("-" when unknown)."""
    if column == "NAME":
        return entry.name
    if column == "STATE":
        return entry.state or "-"
    if column == "PID":
        return str(entry.pid) if entry.pid else "-"
    if column in ("RAM", "SWAP"):
        value = entry.ram if column == "RAM" else entry.swap
        return "-" if value is None else f"{value / 1048576:.2f}MB"
    if column == "AUTOSTART":
        return entry.autostart or "0"
    if column == "UNPRIVILEGED":
        return "true" if entry.unprivileged else "false"
    values = {"GROUPS": entry.groups, "INTERFACE": entry.interfaces, "IPV4": entry.ipv4,
              "IPV6": entry.ipv6}[column]
    return ", ".join(values) if values else "-"


def format_fancy(rows, columns):
    """LXC's table: each column left-aligned to max(header, longest value) plus one space."""
    table = [list(columns)] + [[cell(e, c) for c in columns] for e in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    # LXC sizes RAM and SWAP from the text of a 0 value, "0.00MB", even when all are "-".
    widths = [max(w, 6) if c in ("RAM", "SWAP") else w for w, c in zip(widths, columns)]
    return "".join("".join(f"{v:<{w}} " for v, w in zip(r, widths)) + "\n" for r in table)


def format_names(names, width, one_per_line):
    """LXC's plain layout: names padded to the longest, wrapped at WIDTH (0 = one per line)."""
    if not names:
        return ""
    if one_per_line:
        return "".join(n + "\n" for n in names)
    pad = max(len(n) for n in names)
    out = []
    used = 0
    for name in names:
        out.append(f"{name:<{pad}}")
        used += pad
        if used + pad >= width:
            out.append("\n")
            used = 0
        else:
            out.append(" ")
            used += 1
    if used:
        out.append("\n")
    return "".join(out)


def parse_columns(spec):
    """-F COLUMNS -> (columns, unknown): case-insensitive names, in the order given."""
    from ..api.listing import COLUMNS

    columns, unknown = [], []
    for item in spec.split(","):
        name = item.strip().upper()
        (columns if name in COLUMNS else unknown).append(name if name in COLUMNS else item)
    return columns, unknown


def terminal_width():
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 0
    except OSError:
        return 0


# -- the tool --------------------------------------------------------------------------------
def body(argv):
    args = parse(build_parser(), argv, positional_name=False)
    from ..api.listing import FANCY_DEFAULT, COLUMNS, list_containers

    columns = list(FANCY_DEFAULT)
    if args.fancy and args.fancy_format:
        columns, unknown = parse_columns(args.fancy_format)
        if unknown:
            # LXC prints this and nothing else, and still exits 0.
            sys.stderr.write("".join(f"Invalid key: {u}\n" for u in unknown))
            return 0
    pattern = args.filter if args.filter is not None else (
        args.patterns[0] if len(args.patterns) == 1 else None)
    regex = None
    if pattern is not None:
        import re
        from ..errors import UsageError
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f'invalid regular expression "{pattern}": {exc}',
                             hint="the filter is an extended regular expression matched anywhere in the name") from None
    groups = [g for g in (args.groups or "").split(",") if g] or None
    json_out = args.format == "json"
    wanted = COLUMNS if json_out else (columns if args.fancy else ("NAME",))
    problems = []
    rows = list_containers(lxcpath_of(args), active=args.active, running=args.running,
                           frozen=args.frozen, stopped=args.stopped, defined=args.defined,
                           groups=groups, regex=regex, wanted=wanted, problems=problems)
    if not args.quiet:
        # what could not be read, named on stderr; the rest is listed as usual (LXC hides
        # such a container, or hangs on a config that is a FIFO)
        for name, reason in sorted(problems):
            if regex is None or regex.search(name):
                sys.stderr.write(f"lxc-ls: {name}: {reason}\n")
    if json_out:
        print_json([e.as_dict() for e in rows])
    elif args.fancy:
        # Like LXC, an empty result prints nothing, not even the header.
        sys.stdout.write(format_fancy(rows, columns) if rows else "")
    else:
        sys.stdout.write(format_names([e.name for e in rows], terminal_width(), args.line))
    return 0


def main(argv=None):
    return run_tool("lxc-ls", body, argv)
