"""lxc-attach's terminal: a pty from the container's devpts, relayed to the caller's.

The pty is allocated inside the container's mount namespace by the attach process itself
(never through /proc/PID/root from the host: the container owns every path below its root);
its master comes back to lxc-attach over a socket.

LXC relays between the pty and the caller's controlling terminal (/dev/tty), whatever
stdin and stdout are; the command gets the pty only on those of its stdio fds that were
ttys. The relay ends when the command exits (a pidfd says so at once), after the output
still in the pty has been copied.
"""

import errno
import os
import signal

from ..kernel import libc
from ..kernel.fdlimit import readable


# One message each way over a SOCK_SEQPACKET pair between lxc-attach and its transient child
# (native/entry.c speaks the same): "C" + the container pty's master, or "H" (no usable devpts:
# give me a host pty) answered by "S" + its slave.
INSIDE, WANT_HOST, HOST_SLAVE = b"C", b"H", b"S"


def allocate_inside(chan):
    """In the transient, inside the container's mount namespace: the slave of a pty from the
    container's own devpts (so `tty` inside names a device it can see), its master sent to
    lxc-attach. Without a usable devpts, the slave of a host pty lxc-attach makes (as LXC)."""
    from ..kernel import pty as kpty
    from ..spawn.entry import recv_fds, send_fds

    try:
        master, slave = kpty.open_pair("/dev/pts")
    except OSError:
        chan.send(WANT_HOST)
        _msg, fds = recv_fds(chan, 16, 1)
        if not fds:
            raise OSError(errno.EIO, "lxc-attach sent no terminal") from None
        return fds[0]
    try:
        send_fds(chan, INSIDE, [master])
    finally:
        os.close(master)
    return slave


def host_pty(chan, host_owner=None):
    """In lxc-attach, when the child found no usable devpts inside: a host pty, its slave
    sent to the child (owned by HOST_OWNER, (uid, gid) on the host, for a user namespace's
    root, as LXC); returns its master."""
    from ..spawn.entry import send_fds

    master, slave = os.openpty()
    try:
        if host_owner is not None:
            os.fchown(slave, *host_owner)
        send_fds(chan, HOST_SLAVE, [slave])
    finally:
        os.close(slave)
    return master


def _peer(tty_fds):
    """The caller's terminal: /dev/tty as LXC, else the first of our stdio that is one."""
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC), True
    except OSError:
        return tty_fds[0], False


def relay_until_exit(master, child, tty_fds, log_path=None):
    """Relay the caller's terminal and MASTER until CHILD exits; its exit code (128+N when
    signal N killed it)."""
    from .terminal import RawMode, copy_window_size, write_all

    log = None
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        log = os.fdopen(fd, "ab", buffering=0)
    peer, own = _peer(tty_fds)
    copy_window_size(peer, master)
    old = signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(peer, master))
    # in a background process group (`timeout lxc-attach ...`, `&`) the terminal is not
    # ours to set raw or read: with SIGTTIN/SIGTTOU ignored a read fails instead of stopping us
    old_ttin = signal.signal(signal.SIGTTIN, signal.SIG_IGN)
    old_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        foreground = os.tcgetpgrp(peer) == os.getpgrp()
    except OSError:
        foreground = False
    pidfd = libc.pidfd_open(child)
    readers = [master, peer, pidfd]
    try:
        with RawMode(peer) if foreground else _Nothing():
            while True:
                # poll, not select: the API runs this in callers that may hold fds >= 1024
                ready = readable(readers)
                if master in ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""  # EIO: every slave fd is closed
                    if data:
                        _out(peer, data, log, write_all)
                    else:
                        readers.remove(master)
                if peer in ready:
                    try:
                        data = os.read(peer, 4096)
                    except OSError:
                        data = b""
                    if data:
                        write_all(master, data)
                    else:
                        readers.remove(peer)
                if pidfd in ready:
                    _drain(master, peer, log, write_all)
                    _, status = os.waitpid(child, 0)
                    if os.WIFSIGNALED(status):
                        return 128 + os.WTERMSIG(status)
                    return os.waitstatus_to_exitcode(status)
    finally:
        signal.signal(signal.SIGWINCH, old)
        signal.signal(signal.SIGTTIN, old_ttin)
        signal.signal(signal.SIGTTOU, old_ttou)
        os.close(pidfd)
        os.close(master)
        if own:
            os.close(peer)
        if log is not None:
            log.close()


def _out(peer, data, log, write_all):
    try:
        write_all(peer, data)
    except OSError:
        pass  # the caller's terminal went away; keep the log going
    if log is not None:
        log.write(data)


def _drain(master, peer, log, write_all):
    while readable([master], 0):
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        _out(peer, data, log, write_all)


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
