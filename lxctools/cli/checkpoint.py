"""lxc-checkpoint: checkpoint a running container with CRIU, or restore it (-r)."""

from ._common import make_parser, parse, run_tool, lxcpath_of

DESCRIPTION = """Checkpoint and restore a container.

lxc-checkpoint -n NAME -D DIR [-s] [-v] [-p] [--predump-dir DIR]
lxc-checkpoint -n NAME -D DIR -r [-d|-F] [-v]
lxc-checkpoint -n NAME -D DIR --migrate DEST [-v]

Serializes a container's running state to disk (with CRIU) to allow restoring it in its
running state at a later time. Checks that CRIU is installed and works on this kernel
(criu check) before anything is frozen."""


def build_parser():
    parser = make_parser("lxc-checkpoint", DESCRIPTION)
    parser.add_argument("-r", "--restore", action="store_true", help="restore the container")
    parser.add_argument("-D", "--checkpoint-dir", metavar="DIR",
                        help="directory to save the checkpoint in")
    parser.add_argument("-v", "--verbose", action="store_true", help="verbose criu logs")
    parser.add_argument("-A", "--action-script", metavar="PATH", help="criu action script")
    group = parser.add_argument_group("checkpoint options")
    group.add_argument("-s", "--stop", action="store_true",
                       help="stop the container after checkpointing")
    group.add_argument("-p", "--pre-dump", action="store_true",
                       help="only pre-dump the memory of the container: it keeps running, "
                            "and following checkpoints only dump the changes")
    group.add_argument("--predump-dir", metavar="DIR",
                       help="path to images from a previous pre-dump (relative to -D)")
    group.add_argument("--migrate", metavar="DEST",
                       help="lxctools: move the container to DEST, an lxcpath here or "
                            "HOST:LXCPATH (rsync): pre-dump into DIR/pre, copy it live, "
                            "dump and stop, copy the rootfs and what changed; prints the "
                            "restore command for the target")
    group = parser.add_argument_group("restore options")
    group.add_argument("-d", "--daemon", action="store_true",
                       help="daemonize the container (default)")
    group.add_argument("-F", "--foreground", action="store_true",
                       help="stay in the foreground, this terminal as the console")
    return parser


def body(argv):
    import sys
    args = parse(build_parser(), argv)
    # LXC's checker, its messages and order (usage errors exit 1)
    problem = None
    if args.restore and args.stop:
        problem = "-s not compatible with -r"
    elif not args.restore and (args.daemon or args.foreground):
        problem = "-d/-F not compatible with -r"
    elif not args.checkpoint_dir:
        problem = "-D is required"
    elif args.pre_dump and args.restore:
        problem = "-p not compatible with -r"
    elif args.daemon and args.foreground:
        problem = "-d and -F cannot be used together"
    elif args.migrate is not None and (args.restore or args.pre_dump or args.predump_dir):
        problem = "--migrate not compatible with -r, -p or --predump-dir"
    if problem:
        sys.stderr.write(f"lxc-checkpoint: {problem}\nlxc-checkpoint: could not parse command "
                         "line\n")
        return 1
    from ..api.container import Container
    from ..errors import LxcError

    container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
    if not container.defined:
        raise LxcError(f"{args.name} is not defined",
                       hint=f"no container {args.name} in {container.lxcpath}")
    if args.migrate is not None:
        container.migrate_to(args.checkpoint_dir, args.migrate, verbose=args.verbose,
                             action_script=args.action_script)
    elif args.restore:
        container.restore(args.checkpoint_dir, verbose=args.verbose,
                          foreground=args.foreground, action_script=args.action_script)
    else:
        container.checkpoint(args.checkpoint_dir, stop=args.stop, verbose=args.verbose,
                             pre_dump=args.pre_dump, predump_dir=args.predump_dir,
                             action_script=args.action_script)
    return 0


def main(argv=None):
    return run_tool("lxc-checkpoint", body, argv)
