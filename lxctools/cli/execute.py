"""lxc-execute: run one command in a container, under a minimal init, in the foreground."""

from ._common import make_parser, parse, run_tool, lxcpath_of, name_prefixed
from .start import add_share_options, shares, split_command

DESCRIPTION = """Run a command in a container.

lxc-execute -n NAME [-f CONFIG] [-s KEY=VAL]... [-u UID] [-g GID] -- COMMAND...

Exits with the command's status."""


def build_parser():
    parser = make_parser("lxc-execute", DESCRIPTION, rcfile=False)
    parser.add_argument("-d", "--daemon", action="store_true", help="run in the background")
    parser.add_argument("-f", "--rcfile", metavar="FILE",
                        help="load the configuration from FILE (the container need not exist)")
    parser.add_argument("-s", "--define", action="append", default=[], metavar="KEY=VAL",
                        help="set a config key (repeatable)")
    parser.add_argument("-u", "--uid", type=int, help="run the command as UID (lxc.init.uid)")
    parser.add_argument("-g", "--gid", type=int, help="run the command as GID (lxc.init.gid)")
    add_share_options(parser)
    return parser


def body(argv):
    own, command = split_command(argv)
    args = parse(build_parser(), own)
    from ..api.container import Container
    from ..errors import LxcError

    try:
        container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
        return container.start(command or None, foreground=not args.daemon, execute=True,
                               defines=args.define,
                               share=shares(args), uid=args.uid, gid=args.gid)
    except LxcError as exc:
        raise name_prefixed(exc, args.name)


def main(argv=None):
    return run_tool("lxc-execute", body, argv)
