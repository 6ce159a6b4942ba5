"""lxc-freeze: freeze every process of a running container."""

from ._common import make_parser, parse, run_tool, lxcpath_of


def build_parser(prog="lxc-freeze", what="Freeze"):
    return make_parser(prog, f"{what} a container.\n\n{prog} -n NAME")


def body(argv, prog="lxc-freeze", command="freeze"):
    args = parse(build_parser(prog, command.capitalize()), argv)
    from ..errors import LxcError, NotRunning
    from ..api import monitor

    lxcpath = lxcpath_of(args)
    try:
        answer = monitor.ask(lxcpath, args.name, command)
    except NotRunning:
        from ..api.container import Container
        defined = Container(args.name, lxcpath).defined
        if command == "unfreeze" and defined:
            return 0  # LXC: unfreezing a stopped container is a no-op success
        raise LxcError(f"Failed to {command} {lxcpath}:{args.name}",
                       hint=f"{args.name} is not running" if defined else
                       f"no container {args.name} in {lxcpath}") from None
    if "error" in answer:
        raise LxcError(answer["error"], hint=answer.get("hint"))
    from .. import log
    log.info(f'Container "{args.name}" is ' + ("FROZEN" if command == "freeze" else "THAWED"),
             prog.replace("-", "_"))
    return 0


def main(argv=None):
    return run_tool("lxc-freeze", body, argv)
