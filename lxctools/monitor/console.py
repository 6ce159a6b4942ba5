"""A supervisor's console and ttys: the pty masters the container made, the console's log,
and what init wrote last drained at its stop.

Console is a part of Supervisor (supervisor.py), the concern of the container's ptys while
nobody holds them; lxc-console's handing out of a master is a command (serve.py).
"""

import os

from ..errors import LxcError


class Console:
    """The ptys' side of a Supervisor (a mixin: its state is the Supervisor's)."""

    def open_ttys(self, plan):
        """The console log; the ptys themselves arrive with "ready" (take_ptys)."""
        logfile = self.conf.value("lxc.console.logfile")
        if plan.want_console and logfile:
            # 0600 as LXC's terminal.c, whatever the umask: the console carries what the
            # container prints, passwords typed at its getty included; a link planted at
            # the path is not followed
            try:
                fd = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise LxcError(f"lxc.console.logfile {logfile}: {exc.strerror}",
                               key="lxc.console.logfile",
                               hint="it is a symlink: give the real path" if exc.errno == 40
                               else None) from None
            self.console_log = open(fd, "ab", buffering=0)

    def take_ptys(self, plan, fds):
        """The masters the container made in its devpts, console first, then tty1..N, and
        the console's slave last. The console master is watched (drained into the log), and
        a master whose slave nobody holds reads as hung up (epoll would report it without
        end): so the console's slave stays open here. A tty's slave is opened from its
        master only while an lxc-console holds that tty (tty_peers): one descriptor less
        per tty while nobody looks, where LXC's monitor keeps both ends of every tty."""
        fds = list(fds or [])
        for fd in fds:
            os.set_inheritable(fd, False)
        self.pty_slaves = []
        if plan.want_console and plan.rootfs and fds:
            self.pty_slaves = [fds.pop()]
            self.console_master = fds.pop(0)
            if not self.foreground_tty:
                self.watch_console()
        self.tty_masters = fds

    def watch_console(self):
        self.loop.register(self.console_master, self.on_console)

    def unwatch_console(self):
        self.loop.unregister(self.console_master)

    def on_console(self, _mask):
        try:
            data = os.read(self.console_master, 65536)
        except OSError:
            data = b""
        if not data:
            self.unwatch_console()
            return
        self.console_output(data)

    def drain_console(self):
        """What init wrote last (systemd's "Powering off.") is still in the pty: read it."""
        from ..kernel.fdlimit import readable
        for _ in range(64):
            try:
                if not readable([self.console_master], 0):
                    return
                data = os.read(self.console_master, 65536)
            except OSError:
                return
            if not data:
                return
            if self.relay is not None or self.foreground_tty:
                from ..attach.terminal import write_all
                write_all(1, data)
            self.console_output(data)

    def console_output(self, data):
        if self.console_log is not None:
            self.console_log.write(data)
