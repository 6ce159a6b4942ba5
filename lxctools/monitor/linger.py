"""The lxcpath's supervisor lingering after its last container: how long (idle_time), and
whether it may still serve: its lxcpath still the directory its socket is named after
(LxcpathWatch), its code still the files on disk (code_identity).

The lxcpath's supervisor (daemon.py) may stay a while after its last container stops (its
idle time), so that the next `lxc-start -d` finds it warm. Its socket is named from the
lxcpath's device and inode (paths.lxcpath_key), and it knows the lxcpath by the path it was
spawned for. Neither may outlive the directory: once the lxcpath is deleted its inode
number can be given to a new directory elsewhere on the same filesystem (ext4 does so at
once), whose key is then the same; once it is renamed, or a parent is, or a symlink in its
path points elsewhere, the path the supervisor knows names another directory, or none.
Either way a client of the new directory would reach a supervisor that starts containers
from the old path.

So while it lingers the supervisor watches the directory with inotify (deleted, moved, its
filesystem unmounted) and checks, before it serves any connection, that no such event came
and that its path still stats to the device and inode it was keyed on. A watch holds the
inode, so the number cannot be reused before the deletion's event is queued (the kernel
queues it in rmdir itself, before the inode is freed): a client that connects after a new
directory got the number finds the event waiting. An inotify watch does not keep the
filesystem busy: umount removes it (IN_UNMOUNT), and the supervisor holds no descriptor,
cwd or mount below the lxcpath.
"""

import os

from ..paths import fnv64, lxcpath_key

# how long the lxcpath's supervisor stays after its last container stopped, in seconds (the
# environment of the command that spawned it; 0: it leaves at once, as before); and the
# default: long enough for a user's or Ansible's stop-then-start, short enough that a host
# whose containers are all stopped has no supervisor for long (docs/ARCHITECTURE.md)
IDLE_ENV = "LXCTOOLS_SUPERVISOR_IDLE"
DEFAULT_IDLE = 60.0
# a supervisor spawned for a start that then found nothing to supervise (the start failed)
FIRST_REQUEST_WAIT = 5.0


def idle_time():
    """The idle time IDLE_ENV asks for (the default when unset or not a number; at most a
    day)."""
    text = os.environ.get(IDLE_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_IDLE
    except ValueError:
        value = DEFAULT_IDLE
    if not value > 0:  # 0, negative, nan
        return 0.0
    return min(value, 86400.0)


def code_identity():
    """What says lxctools' files are the ones this process started with: the package
    directory's and __init__.py's inode and mtime (an upgrade or a removal changes them; a
    supervisor imports lazily, so one that lingered past an upgrade must not serve)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = []
    for path in (package, os.path.join(package, "__init__.py")):
        try:
            st = os.stat(path)
            found.append((st.st_dev, st.st_ino, st.st_mtime_ns))
        except OSError:
            found.append(None)
    return found


class LxcpathWatch:
    """LXCPATH watched from now on; `fd` (or -1) is readable when an event came."""

    def __init__(self, lxcpath):
        self.lxcpath = lxcpath
        self.fd = -1
        self.identity = None
        self.gone = False
        # here, not at the top: lxc-start's client imports daemon.py, and libc is ctypes
        from ..kernel import libc
        mask = libc.IN_DELETE_SELF | libc.IN_MOVE_SELF | libc.IN_UNMOUNT | libc.IN_ONLYDIR
        try:
            self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            libc.inotify_add_watch(self.fd, lxcpath, mask)
            st = os.stat(lxcpath)  # after the watch: whatever changes from here on is seen
        except OSError:
            self.close()
            raise
        self.identity = (st.st_dev, st.st_ino)
        if fnv64(f"dir:{st.st_dev}:{st.st_ino}") != lxcpath_key(lxcpath):
            self.gone = True  # the path already names another directory than the key's

    def still_ours(self):
        """False once the lxcpath was deleted, moved or unmounted, or its path stats to
        another directory than the one the socket is named after (for good: never True
        again)."""
        if self.gone:
            return False
        try:
            if os.read(self.fd, 4096):
                self.gone = True  # any event of the watch (its IN_IGNORED too) is an end
        except BlockingIOError:
            pass
        except OSError:
            self.gone = True
        if not self.gone:
            try:
                st = os.stat(self.lxcpath)
                self.gone = (st.st_dev, st.st_ino) != self.identity
            except OSError:
                self.gone = True
        return not self.gone

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Lingering:
    """The lingering side of the lxcpath's supervisor (daemon.Daemon, a mixin: its listener,
    loop, supervisors, monitors, idle_after, watch and code are the Daemon's)."""

    def idle(self):
        """Exit once no container is left: its idle time after the last stops (at once when
        that is 0, when spawned to settle records, or when the lxcpath is no longer the
        directory it serves), a few seconds after a start-up that found nothing to adopt and
        got no request. Judged on what is supervised now, never on a flag set earlier in the
        same round of events: a start served after the last stop, in the same round, keeps
        this process (leaving would orphan that container)."""
        import time

        if self.supervisors or self.monitors:
            self.idle_since = None
            self.served = True
            if self.watch is not None and not self.watch.still_ours():
                self.retire()  # no new client; it leaves with its last container
            return False
        if self.listener is None:
            return True  # retired
        if self.watch is not None and not self.watch.still_ours():
            return True
        wait = self.idle_after if self.served else max(FIRST_REQUEST_WAIT, self.idle_after)
        if wait <= 0:
            return True
        if self.idle_since is None:
            self.idle_since = time.monotonic()
        return time.monotonic() - self.idle_since > wait

    def retire(self):
        """The lxcpath is not the directory this supervisor's socket is named after any more
        (deleted, moved, unmounted: linger.py): stop listening at once, so that its
        next client spawns the supervisor of whatever directory that is now; what runs
        here stays supervised until it stops."""
        if self.listener is not None:
            self.loop.unregister(self.listener)
            self.listener.close()
            self.listener = None
        if self.watch is not None:
            self.loop.unregister(self.watch.fd)
            self.watch.close()

    def watch_lxcpath(self):
        """Lingering needs the lxcpath watched (linger.py); without a watch (an lxcpath
        that does not exist, no inotify instance left) this supervisor does not linger."""
        try:
            self.watch = LxcpathWatch(self.lxcpath)
        except OSError:
            self.idle_after = 0.0
            return
        self.loop.register(self.watch.fd, self.on_lxcpath_event)

    def on_lxcpath_event(self, _mask):
        if self.watch is not None and not self.watch.still_ours():
            self.retire()  # idle() lets the process go once nothing runs here

    def refuses(self):
        """Before serving a connection: True (and retired) when it is another directory's
        client (the lxcpath deleted and its inode reused, or renamed), or lxctools was
        upgraded or removed while this one lingered (its later imports would mix versions).
        The connection is closed unanswered; its client finds no socket when it tries again,
        and spawns a supervisor of today's lxcpath and code."""
        if ((self.watch is not None and not self.watch.still_ours())
                or (not self.supervisors and code_identity() != self.code)):
            self.retire()
            return True
        return False
