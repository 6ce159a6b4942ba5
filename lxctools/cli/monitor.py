"""lxc-monitor: print the state changes of the containers whose names match a regex."""

import re
import sys

from ._common import make_parser, parse, run_tool

DESCRIPTION = """Monitor container state changes.

lxc-monitor [-n REGEX] [-P LXCPATH]...

Prints "'NAME' changed state to [STATE]" and "'NAME' exited with status [N]" until killed."""


def build_parser():
    parser = make_parser("lxc-monitor", DESCRIPTION, name_required=False, lxcpath=False,
                         rcfile=False)
    parser.add_argument("-P", "--lxcpath", dest="lxcpaths", action="append", default=[],
                        metavar="PATH",
                        help="watch containers of PATH (repeatable)")
    parser.add_argument("-Q", "--quit", action="store_true",
                        help="accepted for LXC compatibility (there is no lxc-monitord to stop)")
    return parser


def body(argv):
    args = parse(build_parser(), argv, positional_name=True)
    if args.quit:
        return 0
    from ..errors import LxcError
    from ..paths import default_lxcpath, normalize_lxcpath

    pattern = args.name or ".*"
    try:
        wanted = re.compile(f"^(?:{pattern})$")
    except re.error as exc:
        raise LxcError(f"invalid regular expression {pattern!r}: {exc}") from None
    lxcpaths = [normalize_lxcpath(p) for p in args.lxcpaths] or [default_lxcpath()]
    Watcher(lxcpaths, wanted).run()
    return 0


class Watcher:
    """Listens to each lxcpath's supervisor (every background container, STARTING included)
    and subscribes to foreground containers' own supervisors, found by polling the active
    records every 200 ms."""

    def __init__(self, lxcpaths, wanted):
        import selectors

        self.lxcpaths = lxcpaths
        self.wanted = wanted
        self.selector = selectors.DefaultSelector()
        self.daemons = {}  # lxcpath -> channel
        self.daemon_names = {}  # lxcpath -> names the daemon reports on
        self.watching = {}  # (lxcpath, name) -> channel

    def say(self, name, message):
        if not self.wanted.match(name):
            return
        if "state" in message:
            sys.stdout.write(f"'{name}' changed state to [{message['state']}]\n")
        if "exited" in message:
            sys.stdout.write(f"'{name}' exited with status [{message['exited']}]\n")
        sys.stdout.flush()

    def watch(self, channel, data):
        import selectors
        self.selector.register(channel.sock, selectors.EVENT_READ, data)

    def discover(self):
        from ..errors import LxcError
        from ..api import monitor

        for lxcpath in self.lxcpaths:
            if lxcpath not in self.daemons:
                # spawning the lxcpath's supervisor keeps it alive while we listen, so the
                # next background start is seen from STARTING on
                channel, names = monitor.subscribe_lxcpath(lxcpath)
                self.daemons[lxcpath] = channel
                self.daemon_names[lxcpath] = names
                self.watch(channel, ("daemon", lxcpath))
            for name in monitor.running_names(lxcpath):
                key = (lxcpath, name)
                if key in self.watching or not self.wanted.match(name):
                    continue
                if name in self.daemon_names.get(lxcpath, ()):
                    continue
                try:
                    channel, info = monitor.watch_container(lxcpath, name)
                    if lxcpath in self.daemons and info.get("monitor_pid") == self.daemon_pid(lxcpath):
                        channel.close()
                        self.daemon_names.setdefault(lxcpath, set()).add(name)
                        continue
                    monitor.start_watch(channel)
                except (LxcError, OSError):
                    continue
                self.watching[key] = channel
                self.watch(channel, ("container", key))

    def daemon_pid(self, lxcpath):
        import socket
        sock = self.daemons[lxcpath].sock
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        return int.from_bytes(creds[:4], sys.byteorder)

    def run(self):
        while True:
            self.discover()
            for selected, _mask in self.selector.select(timeout=0.2):
                kind, key = selected.data
                channel = self.daemons[key] if kind == "daemon" else self.watching[key]
                try:
                    message = channel.receive()
                except (OSError, ValueError):
                    message = None
                if message is None:
                    self.selector.unregister(channel.sock)
                    channel.close()
                    if kind == "daemon":
                        del self.daemons[key]
                        self.daemon_names.pop(key, None)
                    else:
                        del self.watching[key]
                    continue
                if kind == "daemon":
                    self.daemon_names.setdefault(key, set()).add(message.get("name"))
                    self.say(message.get("name", "?"), message)
                else:
                    self.say(key[1], message)


def main(argv=None):
    return run_tool("lxc-monitor", body, argv)
