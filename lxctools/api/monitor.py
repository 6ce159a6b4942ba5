"""The tools' way to a running container's supervisor: what lxc-cgroup, lxc-freeze,
lxc-console, lxc-info, lxc-top and lxc-monitor ask of it.

The CLI reaches the monitor only through api/: this module puts the requests of
monitor/protocol.py on the wire (monitor/commands.py) and hands back the replies, or the
open connection for the conversations that stay open (a console, lxc-monitor's watch).
Kept import-light: lxc-info and lxc-top load it on their hot path.
"""

from ..monitor import commands

STATES = commands.STATES  # the states a container can be in, as LXC names them


def ask(lxcpath, name, command, **fields):
    """NAME's supervisor's reply (a dict) to COMMAND, one of monitor/protocol.CONTAINER's.
    NotRunning when nothing runs it; an error reply is returned as the supervisor gave it
    (its refusal of this caller raised: commands.refused)."""
    return commands.request(lxcpath, name, command, **fields)


def stats(lxcpath, name):
    """The cgroup figures of NAME (memory, CPU, block I/O...), {} when it has no cgroups."""
    return ask(lxcpath, name, "stats").get("stats") or {}


def running_names(lxcpath, settle=True):
    """Names of the containers of LXCPATH that run now (ours and real LXC's). Without
    SETTLE, a dead supervisor's record is not settled first (nothing is spawned)."""
    return commands.active_names(lxcpath, settle=settle)


def open_console(lxcpath, name, tty):
    """(channel, reply) of a console request for TTY (0 the console, -1 the first free
    one): the pty master is channel.fds[0] and stays this caller's until channel.close().
    NotRunning when our supervisor does not run NAME; reply None when it stopped meanwhile."""
    from ..monitor import protocol

    channel = commands.Channel(commands.connect(lxcpath, name))
    try:
        channel.send(protocol.request(protocol.CONTAINER, "console", tty=tty))
        return channel, commands.refused(channel.receive())
    except BaseException:
        channel.close()
        raise


def subscribe_lxcpath(lxcpath):
    """(channel, names) of lxc-monitor's subscription to LXCPATH's supervisor (spawned when
    there is none, which keeps it alive while the channel is open, so that the next start is
    seen from STARTING on): NAMES are the containers it runs, and every state change and
    exit of each arrives on the channel as {"name", "state"} or {"name", "exited"}."""
    from ..monitor import daemon, protocol

    for attempt in range(3):
        channel = commands.Channel(daemon.connect_or_spawn(lxcpath))
        try:
            channel.send(protocol.request(protocol.DAEMON, "monitor"))
            hello = commands.refused(channel.receive())
        except (ConnectionResetError, BrokenPipeError):
            hello = None
        except BaseException:
            channel.close()
            raise
        if hello is not None or attempt == 2:
            break
        # closed unanswered: it was leaving, or a lingering one refused (monitor/linger.py:
        # its lxcpath is another directory now); the next connect finds today's
        channel.close()
    return channel, set((hello or {}).get("names", []))


def watch_container(lxcpath, name):
    """(channel, info) for a container whose supervisor is not LXCPATH's own (one in the
    foreground): every state of it arrives on the channel as {"state"}. INFO is its info
    reply, taken first (its monitor_pid tells whose it is); the watch is not started when
    INFO shows it is the caller's to decide (see lxc-monitor), so call start_watch."""
    channel = commands.Channel(commands.connect(lxcpath, name, adopt=False))
    try:
        info = ask(lxcpath, name, "info")
    except BaseException:
        channel.close()
        raise
    return channel, info


def start_watch(channel):
    """Ask for every state change on CHANNEL (from watch_container)."""
    from ..monitor import protocol

    channel.send(protocol.request(protocol.CONTAINER, "wait", states=[]))


def serve_lxcpath(lxcpath):
    """`lxctools --supervise LXCPATH`: be the lxcpath's supervisor the compiled lxc-start
    spawned (monitor/daemon.py serve_spawned); returns the exit code."""
    from ..monitor.daemon import serve_spawned

    return serve_spawned(lxcpath)
