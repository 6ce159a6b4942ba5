"""lxc-device: add a host device node or network interface to a running container, or
take it away again."""

import os

from ._common import (make_parser, parse, run_tool, lxcpath_of, name_prefixed, complete_running,
                      use_completer)

DESCRIPTION = """Add a device node or network interface to a running container, or remove it.

lxc-device -n NAME [--] add|del DEV [DEST]

DEV is a device node of the host (e.g. /dev/loop-control), made at DEST (default: the same
path) inside the container and allowed in its device cgroup; or a network interface of the
caller's network namespace, moved into the container (renamed DEST). del removes the node,
or moves the container's interface DEV back (renamed DEST). add and del may be shortened
(a, ad, d, de). Root only."""


def build_parser():
    parser = make_parser("lxc-device", DESCRIPTION)
    parser.set_defaults(_accept_extra=True)  # add|del DEV [DEST]
    use_completer(parser, "-n", complete_running)
    return parser


def words_of(parser, argv):
    """(args, [command, DEV, DEST...]): LXC's positional words after the name."""
    args = parse(parser, argv)
    known, rest = parser.parse_known_args(argv)
    words = [a for a in rest if a != "--"]
    if known.name is None and words:
        words.pop(0)  # it was the name
    return args, words


def body(argv):
    parser = build_parser()
    args, words = words_of(parser, argv)
    from ..api.container import Container
    from ..errors import LxcError, NotDefined

    if os.geteuid() != 0:
        raise LxcError("lxc-device must be run as root",
                       hint="device nodes and interfaces of the host are root's to give")
    container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
    if not container.running:
        cause = container.not_running()  # LXC's line; the hint says which of the two it is
        raise LxcError(f"{args.name}: Container {args.name} is not running",
                       hint=f"{cause.message}: {cause.hint}" if isinstance(cause, NotDefined)
                       else cause.hint)
    if len(words) < 2:
        raise name_prefixed(LxcError("Error: no command given (Please see --help output)",
                                     hint="lxc-device -n NAME add|del DEV [DEST]"), args.name)
    command, dev = words[0], words[1]
    dest = words[2] if len(words) > 2 else None
    from ..attach import device

    # LXC: any prefix of add or del, the empty word included (it means add)
    if "add".startswith(command):
        verb, where, in_netns = "add", "to", None
        move, node = container.attach_interface, container.add_device_node
    elif "del".startswith(command):
        verb, where, in_netns = "del", "from", container.init_pid
        move, node = container.detach_interface, container.remove_device_node
    else:
        raise name_prefixed(LxcError("Error: Please use add or del (Please see --help output)",
                                     hint="lxc-device -n NAME add|del DEV [DEST]"), args.name)
    try:
        (move if device.is_interface(dev, in_netns) else node)(dev, dest)
    except LxcError as exc:
        raise name_prefixed(LxcError(f"Failed to {verb} {dev} {where} {args.name}",
                                     hint=_reason(exc)), args.name) from None
    return 0


def _reason(exc):
    return str(exc) + (f" ({exc.hint})" if exc.hint else "")


def main(argv=None):
    return run_tool("lxc-device", body, argv)
