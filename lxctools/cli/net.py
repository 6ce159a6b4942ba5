"""lxc-net: the default bridge (lxcbr0: DHCP and DNS by dnsmasq, NAT), as Debian's lxc
package's lxc-net service, reading the same /etc/default/lxc-net (network/lxcnet.py)."""

from ._common import Parser, _Formatter, _Usage, run_tool

DESCRIPTION = """Start or stop the default bridge for containers.

lxc-net {start|stop|restart|reload|force-reload|status} [-c FILE]

Reads USE_LXC_BRIDGE, LXC_BRIDGE, LXC_ADDR, LXC_NETMASK, LXC_NETWORK, LXC_DHCP_RANGE,
LXC_DHCP_MAX, LXC_DHCP_CONFILE, LXC_DOMAIN, LXC_IPV6_* from /etc/default/lxc and
/etc/default/lxc-net (or FILE). start makes the bridge with its addresses, NAT and the
DHCP/DNS rules, and runs dnsmasq on it; stop removes all of it (the bridge stays while
interfaces are attached to it). Both are idempotent."""

ACTIONS = ("start", "stop", "restart", "reload", "force-reload", "status")


def build_parser():
    parser = Parser(prog="lxc-net", description=DESCRIPTION, formatter_class=_Formatter)
    parser.add_argument("action", choices=ACTIONS, metavar="ACTION",
                        help="start, stop, restart (= reload, force-reload) or status")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="read the settings from FILE instead of /etc/default/lxc and "
                             "/etc/default/lxc-net")
    from .. import LXC_COMPAT_VERSION
    parser.add_argument("--version", action="version", version=LXC_COMPAT_VERSION,
                        help="print the LXC version whose interface this follows")
    parser.add_argument("--usage", action=_Usage, help="a short usage message")
    return parser


def body(argv):
    import sys
    args = build_parser().parse_args(argv)
    from ..errors import LxcError
    from ..network import lxcnet

    values = lxcnet.load([args.config] if args.config else None)
    if args.action == "status":
        up, text = lxcnet.status(values)
        print(text)
        return 0 if up else 3  # LSB: 3 = not running
    import os
    if os.geteuid() != 0:
        raise LxcError("lxc-net must run as root (it makes a bridge, rules and dnsmasq)")
    message = None
    if args.action in ("stop", "restart", "reload", "force-reload"):
        message = lxcnet.stop(values)
    if args.action != "stop":
        message = lxcnet.start(values)
    if message:
        sys.stderr.write(f"lxc-net: {message}\n")
    return 0


def main(argv=None):
    return run_tool("lxc-net", body, argv)
