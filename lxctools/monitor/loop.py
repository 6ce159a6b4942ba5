"""The monitor's event loop: one select loop for every container a process supervises.

Supervisors register their sockets, pidfds and pty masters here (supervisor.py); the loop
also turns SIGTERM, SIGINT and SIGHUP into its on_terminate callbacks and reaps children.
"""

import os
import select
import signal

from .. import log

EVENT_READ = 1  # selectors.EVENT_READ: the mask every callback is given


class _Key:
    __slots__ = ("fileobj", "fd", "data")

    def __init__(self, fileobj, fd, data):
        self.fileobj, self.fd, self.data = fileobj, fd, data


class _Epoll:
    """The part of selectors.EpollSelector the loop uses (register for reading, unregister,
    select, get_key), with its semantics: selectors (with collections.abc and math) is ~1.5
    ms of a supervisor's cold start (bench RESULTS run 14)."""

    def __init__(self):
        self.epoll = select.epoll()  # close-on-exec
        self.keys = {}  # fd -> _Key

    def _fd(self, fileobj):
        """FILEOBJ's fd; a closed socket's (fileno -1) found by identity, as selectors does."""
        try:
            fd = fileobj if isinstance(fileobj, int) else int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            fd = -1
        if fd >= 0:
            return fd
        for key in self.keys.values():
            if key.fileobj is fileobj:
                return key.fd
        raise ValueError(f"Invalid file object: {fileobj!r}")

    def register(self, fileobj, data):
        fd = self._fd(fileobj)
        if fd in self.keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        key = self.keys[fd] = _Key(fileobj, fd, data)
        try:
            self.epoll.register(fd, select.EPOLLIN)
        except BaseException:
            del self.keys[fd]
            raise
        return key

    def unregister(self, fileobj):
        key = self.keys.pop(self._fd(fileobj))
        try:
            self.epoll.unregister(key.fd)
        except OSError:
            pass  # closed already: the kernel dropped it
        return key

    def get_key(self, fd):
        return self.keys[fd]

    def select(self, timeout):
        ready = []
        for fd, _events in self.epoll.poll(timeout, max(len(self.keys), 1)):
            key = self.keys.get(fd)
            if key is not None:
                ready.append((key, EVENT_READ))
        return ready


class Loop:
    """One select loop for every container a process supervises (one with lxc-start -F and
    lxc-execute, all of an lxcpath in the daemon): fds, signals, and children to reap."""

    def __init__(self):
        self.selector = _Epoll()
        self.children = {}  # pid -> callback(status), for children that are not inits
        self.on_terminate = []
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.register(self._wake_r, self._on_wake)

    def register(self, fd, callback):
        try:
            self.selector.register(fd, callback)
        except (KeyError, ValueError):
            pass

    def unregister(self, fd):
        try:
            self.selector.unregister(fd)
        except (KeyError, ValueError):
            pass

    def run(self, until):
        while not until():
            for key, mask in self.selector.select(timeout=1.0):
                # An earlier callback of this same batch may have unregistered this fd (a
                # container whose init exited closes its listener) or even registered a new
                # one under the same number: such an event is stale, never dispatched.
                if self._registered(key):
                    self.dispatch(key.data, mask)
            self.dispatch(lambda _mask: self.reap(), 0)

    def _registered(self, key):
        try:
            return self.selector.get_key(key.fd) is key
        except (KeyError, ValueError):
            return False

    @staticmethod
    def dispatch(callback, mask):
        """One callback. An exception in it is logged and the loop goes on: in the lxcpath's
        supervisor one container's error must not take every other container's supervision
        down with it (its death used to leave them to be adopted, with wrong answers to
        every command meanwhile)."""
        try:
            callback(mask)
        except Exception:  # noqa: BLE001 - see above
            import traceback
            log.error("supervisor: " + traceback.format_exc().replace("\n", " | "))

    def _on_wake(self, _mask):
        try:
            signums = os.read(self._wake_r, 64)
        except OSError:
            return
        if signal.SIGTERM in signums or signal.SIGINT in signums or signal.SIGHUP in signums:
            for callback in list(self.on_terminate):
                callback()

    def reap(self):
        """Collect exited children: spawners, hooks' strays, and processes that escaped a
        dying container; inits are reaped by their supervisor through its pidfd."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            callback = self.children.pop(pid, None)
            if callback is not None:
                self.dispatch(lambda _mask, c=callback, st=status: c(st), 0)

    def close(self):
        signal.set_wakeup_fd(-1)
        self.unregister(self._wake_r)
        os.close(self._wake_r)
        os.close(self._wake_w)
