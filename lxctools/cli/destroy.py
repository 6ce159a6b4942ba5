"""lxc-destroy: remove a stopped container (its directory only; never through a symlink or a
mount point); --dry-run says what would go: a summary, every path with --verbose."""

import sys

from ._common import make_parser, parse, run_tool, lxcpath_of, name_prefixed

DESCRIPTION = """Destroy a container.

lxc-destroy -n NAME [-f] [-s] [--dry-run [--verbose]]

--dry-run removes nothing and says what would go: how many files and directories, how much
space, what is kept (a rootfs outside the container directory, an overlay's lower layer),
the snapshots and destroy hooks. --verbose (or -l DEBUG) lists every path first."""


def build_parser():
    parser = make_parser("lxc-destroy", DESCRIPTION)
    parser.add_argument("-f", "--force", action="store_true", help="stop the container first if it is running")
    parser.add_argument("-s", "--snapshots", action="store_true", help="destroy its snapshots too")
    parser.add_argument("--dry-run", action="store_true",
                        help="remove nothing; say what would be removed (beyond LXC)")
    parser.add_argument("--verbose", action="store_true",
                        help="with --dry-run: list every path that would be removed")
    return parser


def body(argv):
    args = parse(build_parser(), argv)
    from ..api.container import Container
    from ..errors import LxcError

    plan = {}
    try:
        container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
        removed = container.destroy(force=args.force, snapshots=args.snapshots,
                                    dry_run=args.dry_run, plan=plan)
    except LxcError as exc:
        raise name_prefixed(exc, args.name)
    if args.dry_run:
        debug = (args.logpriority or "").upper() in ("TRACE", "DEBUG", "0", "1")
        if args.verbose or debug:
            sys.stdout.write("".join(p + "\n" for p in removed))
        sys.stdout.write(summary(container, removed, plan, listed=args.verbose or debug))
    else:
        from .. import log
        log.info(f"Destroyed container {args.name}", "lxc_destroy")
    return 0


def size(count):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024


def summary(container, removed, plan, *, listed):
    """lxc-destroy --dry-run's few lines: what would go, how much, what stays."""
    usage = plan.get("usage") or {}
    files, dirs = usage.get("files", 0), usage.get("dirs", 0)
    lines = [f"would destroy {container.name}: {container.dir} "
             f"({files} file{'s' if files != 1 else ''}, {dirs} director"
             f"{'ies' if dirs != 1 else 'y'}, {size(usage.get('bytes', 0))})"]
    snaps = plan.get("snapshots") or []
    if snaps:
        lines.append(f"  with its snapshots (-s): {', '.join(snaps)}")
    for command in plan.get("hooks") or []:
        lines.append(f"  runs lxc.hook.destroy first: {command}")
    if plan.get("origin"):
        lines.append(f"  drops its entry from {plan['origin']}")
    for path, why in plan.get("kept") or []:
        lines.append(f"  kept: {path} ({why})")
    if not listed:
        lines.append("  (--verbose lists all of it, path by path)")
    return "".join(line + "\n" for line in lines)


def main(argv=None):
    return run_tool("lxc-destroy", body, argv)
