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

LXC's own clients (liblxc) send no pidfd. On a kernel without SO_PEERPIDFD the supervisor
opens one from SO_PEERCRED's pid -- a number, which names whoever holds it now: the peer may
have exited since its connect (even before the accept: a connection waits in the backlog)
and its pid gone to another process. So that pidfd must also prove it is the peer's: its
process holds the peer's end of this very connection. The kernel tells the peer end's inode
(sock_diag, UDIAG_SHOW_PEER; 0 once every holder closed it); /proc/PID/fd must show
socket:[INODE], and the process's effective uid must pass the rule SO_PEERCRED's uid (the
connector's) passed; the pidfd still names PID after, so what was read was that process's.
A process that took over an exited peer's pid was born after the connect: it holds no end
of the connection unless a holder handed it one (SCM_RIGHTS, or a fork after receiving
it) -- for a container's caller, a process of root (or of the supervisor's user) in the
host's pid and user namespaces that took the connection from the container and gave it on
to a child born at exactly that pid (docs/SECURITY.md, the residual).
"""

import _socket  # not socket.py: its imports are ~2 ms of a supervisor's cold start
import errno
import os
import struct

from . import libc

SO_PEERPIDFD = 77  # <asm-generic/socket.h>, Linux 6.5
# LXCTOOLS_PEER_FALLBACK=1: prove as on a kernel without SO_PEERPIDFD (tests; read once)
force_fallback = os.environ.get("LXCTOOLS_PEER_FALLBACK") == "1"
_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY = 4, 20  # <linux/netlink.h>, <linux/sock_diag.h>
_UDIAG_SHOW_PEER, _UNIX_DIAG_PEER = 0x04, 2       # <linux/unix_diag.h>
_NLMSG_ERROR = 2
HINT = ("a supervisor takes commands only from its own pid namespace (the host's), not from "
        "inside a container (docs/SECURITY.md)")


class Refused(Exception):
    """The peer may not command this supervisor; str() says why (for its error and log)."""


def kernel_pidfd(sock):
    """The kernel's pidfd of SOCK's peer (the caller closes it), None on a kernel without
    SO_PEERPIDFD (or LXCTOOLS_PEER_FALLBACK=1); Refused when the kernel has one but the
    peer is gone."""
    if force_fallback:
        return None
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


def peer_inode(sock):
    """The inode of the other end of SOCK (a connected unix socket) as the kernel's
    sock_diag tells it: 0 once every process that held that end closed it. OSError when it
    cannot be asked (no unix_diag in this kernel)."""
    import socket  # here: only LXC's socket on a kernel without SO_PEERPIDFD comes here
    ino = os.fstat(sock.fileno()).st_ino
    # struct unix_diag_req: family, protocol, pad, states, ino, show, cookie[2] (none)
    body = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, ino, _UDIAG_SHOW_PEER,
                       0xFFFFFFFF, 0xFFFFFFFF)
    header = struct.pack("=IHHII", 16 + len(body), _SOCK_DIAG_BY_FAMILY, 1, 1, 0)  # REQUEST
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC,
                       _NETLINK_SOCK_DIAG) as diag:
        diag.send(header + body)
        # the kernel answers within the send: nothing queued by now is no answer at all
        reply = diag.recv(4096, socket.MSG_DONTWAIT)
    if len(reply) < 20:
        raise OSError(errno.EPROTO, "short sock_diag answer")
    length, kind = struct.unpack_from("=IH", reply)
    if kind == _NLMSG_ERROR:
        code = -struct.unpack_from("=i", reply, 16)[0]
        raise OSError(code, os.strerror(code))
    if kind != _SOCK_DIAG_BY_FAMILY or length > len(reply) or length < 32:
        raise OSError(errno.EPROTO, "unexpected sock_diag answer")
    if struct.unpack_from("=I", reply, 20)[0] != ino:
        raise OSError(errno.EPROTO, "sock_diag answered for another socket")
    at = 32  # nlmsghdr (16), unix_diag_msg (16), then the attributes
    while at + 4 <= length:
        size, attr = struct.unpack_from("=HH", reply, at)
        if size < 4:
            break
        if attr == _UNIX_DIAG_PEER and size >= 8:
            return struct.unpack_from("=I", reply, at + 4)[0]
        at += (size + 3) & ~3
    return 0  # no peer at all (the kernel names none once it is released)


def holds(pid, inode):
    """Whether process PID has socket:[INODE] among its fds: its own table, then (rare: a
    thread that unshared its table, a leader that exited before its threads) its threads'.
    The caller makes sure PID names the same process before and after (a pidfd)."""
    want = f"socket:[{inode}]"
    if _holds_in(f"/proc/{pid}/fd", want):
        return True
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    return any(_holds_in(f"/proc/{pid}/task/{tid}/fd", want) for tid in threads if tid != str(pid))


def _holds_in(directory, want):
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError):
        return False  # (a thread gone meanwhile)
    try:
        for name in os.listdir(fd):
            try:
                if os.readlink(name, dir_fd=fd) == want:
                    return True
            except FileNotFoundError:
                continue  # closed meanwhile
    finally:
        os.close(fd)
    return False


def euid(pid):
    """Process PID's effective uid (/proc/PID/status), as SO_PEERCRED would give it."""
    fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    at = data.find(b"\nUid:")
    if at < 0:
        raise OSError(errno.EPROTO, f"no Uid in /proc/{pid}/status")
    return int(data[at + 5:data.index(b"\n", at + 5)].split()[1])


def check(sock, sent=(), use_kernel=True, by_pid=False):
    """(pid, uid) of SOCK's peer when it may command this process: root or this process's
    user, in this process's pid namespace (and user namespace when this process is root).
    SENT: the fds the request carried (a pidfd of the sender first, when it sent one).
    USE_KERNEL=False proves with SENT alone, as on a kernel without SO_PEERPIDFD. BY_PID:
    for LXC's own protocol, whose clients send no pidfd: on a kernel without SO_PEERPIDFD,
    a pidfd opened from SO_PEERCRED's pid, whose process must hold the peer's end of SOCK
    (a peer that exited before this open may have lent its pid to another process).
    Refused otherwise."""
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
    end = None  # by pid: the inode of the peer's end, which the pidfd's process must hold
    if pidfd is None:
        if sent:
            pidfd = sent[0]
        elif by_pid:
            try:
                end = peer_inode(sock)
            except OSError as exc:
                raise Refused("the caller cannot be told from a process that took its pid "
                              f"(sock_diag: {exc.strerror or exc})") from None
            if not end:
                raise Refused("the caller is gone (its end of the connection is closed)")
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
        if end is not None:
            if not holds(pid, end):
                # PID's process now is not the peer: it exited, and its pid was taken since
                # (or it gave its end away and closed its own)
                raise Refused("the process with the caller's pid holds no end of the "
                              "connection (the caller exited, its pid reused?)")
            # and it passes the rule SO_PEERCRED's uid passed (that was the connector's)
            if euid(pid) not in (0, own_uid):
                raise Refused("the process with the caller's pid is not root nor the "
                              "supervisor's user (the caller exited, its pid reused?)")
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
    # the newline ends the record: without it the kernel holds the record open for a
    # continuation, and readers (dmesg) see it only once the next message is logged
    line = f"<4>lxctools[{os.getpid()}]: {message}"[:900] + "\n"
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
