"""lxc-wait: wait until a container reaches one of the given states."""

from ._common import make_parser, parse, run_tool, lxcpath_of

DESCRIPTION = """Wait for a container state.

lxc-wait -n NAME -s STATES [-t TIMEOUT]

STATES is a |-separated list of STOPPED STARTING RUNNING STOPPING ABORTING FREEZING FROZEN THAWED."""


def build_parser():
    parser = make_parser("lxc-wait", DESCRIPTION)
    parser.add_argument("-s", "--state", metavar="STATES", help="the states to wait for")
    parser.add_argument("-t", "--timeout", default="-1", metavar="SECS",
                        help="give up after SECS seconds (default: wait forever)")
    return parser


def body(argv):
    args = parse(build_parser(), argv)
    from ..api.container import Container
    from ..errors import LxcError
    from ..api.monitor import STATES

    if not args.state:
        raise LxcError("missing state object", hint="e.g. lxc-wait -n NAME -s RUNNING")
    states = args.state.split("|")
    bad = [s for s in states if s not in STATES]
    if bad:
        from ..config.values import did_you_mean
        raise LxcError(f"invalid state {bad[0]!r}" + did_you_mean(bad[0].upper(), STATES),
                       hint="one of " + " ".join(STATES))
    try:
        timeout = int(args.timeout)
    except ValueError:
        timeout = 0  # atol() of junk is 0, as in LXC
    container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
    reached = container.wait(states, timeout)
    from .. import log
    if reached:
        log.debug(f'Container "{args.name}" is in a state of "{args.state}"', "lxc_wait")
    else:
        log.error(f'Container "{args.name}" did not reach "{args.state}" within {timeout} s',
                  "lxc_wait")
    return 0 if reached else 1


def main(argv=None):
    return run_tool("lxc-wait", body, argv)
