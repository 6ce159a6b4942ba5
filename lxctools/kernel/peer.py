"""Who is at the other end of a supervisor's socket: proof that a peer lives in the
supervisor's own pid namespace (and, for a root supervisor, its user namespace).

SO_PEERCRED's uid alone does not tell a host's root from a privileged container's: the
supervisors' sockets are abstract, so every process in the host's network namespace reaches
them -- root in a container with `lxc.net.0.type = none` among them, uid 0 too. What tells
them apart is the pid namespace, read from /proc/PID/ns/pid -- by a pid, which a peer that
exits may hand to another process before it is read. So the peer is named by a pidfd, which
cannot come to name another process:

- the kernel's own (SO_PEERPIDFD, Linux 6.5): the process that connected, taken at connect()
  by the kernel; nothing the peer sends can change it;
- on an older kernel, the pidfd of itself the client sends first among a request's fds
  (protocol.SENDER_PIDFD), which must name the pid SO_PEERCRED gives.

A pidfd sent is checked on every kernel: one that does not name the peer is refused (a
caller in another pid namespace holding a pidfd of a host process proves nothing). Then:
the pidfd names SO_PEERCRED's pid; /proc/PID/ns/pid (and ns/user) are read; the pidfd still
names PID, so what was read was the peer's, not a successor's. A peer the supervisor's pid
namespace cannot see at all has pid 0 in SO_PEERCRED and is refused before any of it.
"""

import _socket  # not socket.py: its imports are ~2 ms of a supervisor's cold start
import errno
import os
import struct

from . import libc

SO_PEERPIDFD = 77  # <asm-generic/socket.h>, Linux 6.5
HINT = ("a supervisor takes commands only from its own pid namespace (the host's), not from "
        "inside a container (docs/SECURITY.md)")


class Refused(Exception):
    """The peer may not command this supervisor; str() says why (for its error and log)."""


def kernel_pidfd(sock):
    """The kernel's pidfd of SOCK's peer (the caller closes it), None on a kernel without
    SO_PEERPIDFD; Refused when the kernel has one but the peer is gone."""
    try:
        return sock.getsockopt(_socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError as exc:
        if exc.errno in (errno.ENOPROTOOPT, errno.EINVAL):
            return None
        raise Refused("the caller is gone") from None


def _ns(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _own_ns(kind, cache={}):  # noqa: B006 - per process: a fork keeps them, its pid tells
    key = (os.getpid(), kind)
    if key not in cache:
        cache[key] = _ns(f"/proc/self/ns/{kind}")
    return cache[key]


def check(sock, sent=(), use_kernel=True, by_pid=False):
    """(pid, uid) of SOCK's peer when it may command this process: root or this process's
    user, in this process's pid namespace (and user namespace when this process is root).
    SENT: the fds the request carried (a pidfd of the sender first, when it sent one).
    USE_KERNEL=False proves with SENT alone, as on a kernel without SO_PEERPIDFD. BY_PID:
    for LXC's own protocol, whose clients send no pidfd: on a kernel without SO_PEERPIDFD,
    a pidfd opened from SO_PEERCRED's pid (a peer that exited between its connect and this
    open could lend its pid to another process: docs/SECURITY.md says so). Refused
    otherwise."""
    pid, uid, _gid = struct.unpack("=iII", sock.getsockopt(_socket.SOL_SOCKET,
                                                           _socket.SO_PEERCRED, 12))
    own_uid = os.geteuid()
    if uid not in (0, own_uid):
        raise Refused("not root nor the supervisor's user")
    if pid <= 0:
        raise Refused("the caller is in a pid namespace the supervisor cannot see")
    try:
        if sent and libc.pidfd_pid(sent[0]) != pid:
            raise Refused("the pidfd is not the caller's")
    except OSError:
        raise Refused("no pidfd of the caller") from None
    pidfd = kernel_pidfd(sock) if use_kernel else None
    owned = pidfd is not None
    if pidfd is None:
        if sent:
            pidfd = sent[0]
        elif by_pid:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                raise Refused("the caller is gone") from None
            owned = True
        else:
            raise Refused("no pidfd of the caller (this kernel has no SO_PEERPIDFD, and the "
                          "request carried none)")
    try:
        # the pidfd names PID now: the kernel's (or one opened by PID) by its making, a
        # sent one read just above; so the namespaces read next are the peer's if it
        # still does after
        kinds = ("pid", "user") if own_uid == 0 else ("pid",)
        for kind in kinds:
            if _ns(f"/proc/{pid}/ns/{kind}") != _own_ns(kind):
                raise Refused(f"the caller is in another {kind} namespace")
        # the pidfd still names PID: what was read of /proc/PID was the peer's
        if libc.pidfd_pid(pidfd) != pid:
            raise Refused("the caller is gone")
    except OSError as exc:
        raise Refused(f"the caller's namespaces cannot be read ({exc.strerror or exc})") \
            from None
    finally:
        if owned:
            os.close(pidfd)
    return pid, uid


def report(message):
    """Say a refusal where the host's admin sees it whatever the supervisor's log: the
    kernel's log (/dev/kmsg, as "lxctools: MESSAGE" at warning level; dmesg and a journal
    read it). The kernel rate-limits what is written there, so a flood of refused callers
    fills no disk. Never fails: a supervisor that cannot write it (not root) goes on."""
    line = f"<4>lxctools[{os.getpid()}]: {message}"[:900]
    try:
        fd = os.open("/dev/kmsg", os.O_WRONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, line.encode("utf-8", "replace"))
    except OSError:
        pass
    finally:
        os.close(fd)
