"""lxc-attach: run a command (default: the user's shell) inside a running container."""

from ._common import (make_parser, parse, run_tool, lxcpath_of, name_prefixed, complete_running,
                      use_completer)

DESCRIPTION = """Run a command inside a running container.

lxc-attach -n NAME [-e[CAP|CGROUP|LSM]] [-s NAMESPACES] [--clear-env] [-v VAR=VAL]...
           [-u UID] [-g GID] [-a ARCH] [-R] [-L FILE] [-- COMMAND...]

Exits with the command's status (128+N when a signal N killed it)."""


def build_parser():
    parser = make_parser("lxc-attach", DESCRIPTION, rcfile=False)
    parser.add_argument("-f", "--rcfile", metavar="FILE",
                        help="load the configuration from FILE (environment, prlimits)")
    parser.set_defaults(_accept_extra=True)  # a command without `--`, as LXC
    parser.add_argument("-e", "--elevated-privileges", nargs="?", const="", default=None,
                        metavar="LIST", help="keep privileges: CAP|CGROUP|LSM (default all)")
    parser.add_argument("-a", "--arch", metavar="ARCH", help="architecture personality (e.g. i686)")
    parser.add_argument("-s", "--namespaces", metavar="LIST",
                        help="namespaces to join, e.g. 'NETWORK|PID' (implies -e)")
    parser.add_argument("-R", "--remount-sys-proc", action="store_true",
                        help="remount /proc and /sys (when -s leaves out MOUNT)")
    parser.add_argument("--clear-env", action="store_true", help="start with an empty environment")
    parser.add_argument("--keep-env", action="store_true", help="keep the environment (default)")
    parser.add_argument("--keep-var", action="append", default=[], metavar="NAME",
                        help="with --clear-env, keep NAME (repeatable)")
    parser.add_argument("-v", "--set-var", action="append", default=[], metavar="VAR=VAL",
                        help="set VAR in the command's environment (repeatable)")
    parser.add_argument("-u", "--uid", type=int, help="run as UID")
    parser.add_argument("-g", "--gid", type=int, help="run as GID")
    parser.add_argument("-L", "--pty-log", metavar="FILE", help="log the terminal's output to FILE")
    parser.add_argument("-c", "--context", metavar="CTX", help="SELinux context (not supported here)")
    use_completer(parser, "-n", complete_running)
    return parser


def optional_attached(argv):
    """getopt's optional argument: -e takes a list only when attached (-eCAP,
    --elevated-privileges=CAP); `-e CAP` is -e followed by the word CAP."""
    return ["--elevated-privileges=" if a in ("-e", "--elevated-privileges") else a
            for a in argv]


def body(argv):
    from .start import split_command
    own, command = split_command(argv)
    parser = build_parser()
    args, extra = parse_with_command(parser, optional_attached(own))
    command = extra + command
    from ..api.container import Container
    from ..errors import LxcError
    from ..attach.attach import Options, parse_elevated, parse_namespaces

    if args.context:
        raise LxcError("SELinux contexts are not supported", hint="drop -c")
    try:
        options = Options(
            command=command or None,
            namespaces=parse_namespaces(args.namespaces) if args.namespaces else None,
            # -s implies -e (lxc_attach.c; liblxc's API does not)
            elevated=parse_elevated("") if args.namespaces else
            parse_elevated(args.elevated_privileges)
            if args.elevated_privileges is not None else (),
            clear_env=args.clear_env, keep_vars=args.keep_var, set_vars=args.set_var,
            uid=args.uid, gid=args.gid, arch=args.arch, remount=args.remount_sys_proc,
            pty_log=args.pty_log)
        container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
        code = container.attach_command(options)
        from .. import log
        log.info(f'Attached to "{args.name}": exit status {code}', "lxc_attach")
        return code
    except LxcError as exc:
        raise name_prefixed(exc, args.name)


def parse_with_command(parser, argv):
    """(args, the non-option words that are not the name): LXC's command without `--`."""
    args = parse(parser, argv)
    known, rest = parser.parse_known_args(argv)
    words = [a for a in rest if not a.startswith("-")]
    if known.name is None and words:
        words = words[1:]  # parse() took it as the name
    return args, words


def main(argv=None):
    code = run_tool("lxc-attach", body, argv)
    if argv is None:
        # run as the command: skip the interpreter's teardown (~6 ms of finalizing modules,
        # a tenth of an attach); stdio is all there is to flush (the log is line-buffered)
        import os
        import sys
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code & 0xFF)
    return code
