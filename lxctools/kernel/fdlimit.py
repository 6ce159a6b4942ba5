"""The open-file limit of an lxcpath's supervisor, and waiting on descriptors of any number.

One supervisor serves every container of its lxcpath and keeps a few descriptors open for
each (docs/ARCHITECTURE.md, "Descriptors"): under the usual soft limit of 1024 it would run
out near a hundred containers. So it raises its soft RLIMIT_NOFILE to the hard limit when it
starts, as systemd and most daemons do. What it runs for someone else (the containers, host
hooks) gets back the soft limit the supervisor was started with: a program that still uses
select() must not be handed descriptors above 1023, which select() cannot take.

For the same reason nothing in the supervisor (or the API, which runs in callers' processes
of any size) waits with select.select(): `readable` and `wait_writable` use poll().
"""

# What a supervisor holds for each running container: its command socket and LXC's (real
# LXC's tools and python3-lxc see it: monitor/lxcsocket.py), a pidfd on its init, the
# console's master and slave (when it has a console), the master of each tty. Connected
# clients (lxc-console, lxc-wait, lxc-monitor) come on top while they last.
def per_container(ttys, console=True):
    return 3 + (2 if console else 0) + ttys


SUPERVISOR_OWN = 32  # its stdio, epoll, signal pipe, listener, and room for a few clients

_started_with = None  # the soft limit before raise_soft_limit() raised it, else None


def raise_soft_limit():
    """Soft RLIMIT_NOFILE := hard. Returns (soft, hard) now in force."""
    global _started_with
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft, hard  # a hard limit above fs.nr_open (set after we got it): keep ours
    if _started_with is None:
        _started_with = soft
    return hard, hard


def restore_soft_limit():
    """In a child about to run someone else's program: the soft limit this process was
    started with (nothing to do when it was never raised)."""
    if _started_with is None:
        return
    import resource

    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(_started_with, hard), hard))
    except (ValueError, OSError):
        pass


def raised():
    return _started_with is not None


def ceiling():
    """One above the highest descriptor number this process can hold: the bound for a
    closerange() that must close everything (the hard limit can be far above 65536)."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return 1 << 20
    return max(65536, hard)


def readable(fds, timeout=None):
    """The FDS that are readable, hung up or in error within TIMEOUT seconds (None: wait)."""
    import select

    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    ready = poller.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999)))
    return [fd for fd, _events in ready]


def wait_writable(fd, timeout):
    import select

    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return bool(poller.poll(max(0, int(timeout * 1000))))
