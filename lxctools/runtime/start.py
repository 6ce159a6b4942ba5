"""Starting a container: the caller's side of lxc-start / lxc-execute.

Daemon mode (lxc-start's default) forks the supervisor into its own session and returns once
it reports RUNNING, or prints why it did not get there. Foreground mode runs the supervisor
in this very process (lxc-start -F, lxc-execute).
"""

import os

from ..errors import LxcError


class StartRequest:
    """What to start and how (a plain class: dataclasses costs 5 ms to import)."""

    def __init__(self, name, lxcpath, conf, config_file, argv=(), execute=False,
                 foreground=False, pidfile=None, passthrough_stdio=False, after_stop=None):
        self.name = name
        self.lxcpath = lxcpath
        self.conf = conf
        self.config_file = config_file
        self.argv = list(argv)
        self.execute = execute
        self.foreground = foreground
        self.pidfile = pidfile
        self.passthrough_stdio = passthrough_stdio
        self.after_stop = after_stop  # a command run once it has stopped for good (ephemeral)


def launch(request):
    """Start REQUEST; returns the exit code the CLI should return."""
    if request.foreground:
        from .supervisor import Supervisor
        return Supervisor(request).run()
    from .daemon import start_in_daemon
    start_in_daemon(request)
    return 0


def detach():
    """The supervisor leaves the caller's session and terminal; stdio goes to /dev/null."""
    from ..kernel import libc

    os.setsid()
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    try:
        libc.set_process_name("lxc monitor")
    except OSError:
        pass
