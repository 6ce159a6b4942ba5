"""lxc-cgroup: read or write a cgroup file of a running container."""

import sys

from ._common import make_parser, parse, run_tool, lxcpath_of

DESCRIPTION = """Get or set a cgroup value of a running container.

lxc-cgroup -n NAME KEY [VALUE]      e.g. lxc-cgroup -n c1 memory.limit_in_bytes 256M"""


def build_parser():
    parser = make_parser("lxc-cgroup", DESCRIPTION)
    parser.add_argument("key", nargs="?", metavar="KEY", help="cgroup file, e.g. memory.max")
    parser.add_argument("value", nargs="?", metavar="VALUE", help="value to write")
    return parser


def body(argv):
    parser = build_parser()
    args = parse(parser, argv, positional_name=False)
    from ..errors import LxcError, NotDefined, NotRunning
    from ..api import monitor

    if not args.name and args.key:
        # LXC: "lxc-cgroup NAME KEY [VALUE]" works too
        args.name, args.key, args.value = args.key, args.value, None
    if not args.key:
        raise LxcError("Missing state object", hint="lxc-cgroup -n NAME KEY [VALUE]")
    lxcpath = lxcpath_of(args)
    try:
        answer = monitor.ask(lxcpath, args.name, "cgroup", key=args.key, value=args.value)
    except NotRunning:
        from ..api.container import Container
        # LXC's line (scripts match it); the hint says which of the two it is
        cause = Container(args.name, lxcpath).not_running()
        raise LxcError(f"'{lxcpath}:{args.name}' is not running",
                       hint=f"{cause.message}: {cause.hint}" if isinstance(cause, NotDefined)
                       else cause.hint) from None
    if "error" in answer:
        # LXC's lines; our reason (file, errno, a close file name) goes in the hint
        detail = answer.get("detail")
        hint = "; ".join(x for x in (detail, answer.get("hint")) if x) or None
        if args.value is not None:
            raise LxcError(f"Failed to assign '{args.value}' value to '{args.key}' for "
                           f"'{args.name}'", hint=hint)
        raise LxcError(f"Failed to retrieve value of '{args.key}' for '{lxcpath}:{args.name}'",
                       hint=hint or "the key is a cgroup file name such as "
                                    "memory.usage_in_bytes or pids.max")
    from .. import log
    if args.value is None:
        sys.stdout.write(answer["value"] + "\n")  # LXC adds a newline after the file's own
        log.debug(f'Read "{args.key}" of "{args.name}"', "lxc_cgroup")
    else:
        log.debug(f'Set "{args.key}" of "{args.name}" to "{args.value}"', "lxc_cgroup")
    return 0


def main(argv=None):
    return run_tool("lxc-cgroup", body, argv)
