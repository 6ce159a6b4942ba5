"""lxc-unshare: run a command in new namespaces (lxc-behaviour.md 2.21).

The caller forks a child that unshares the namespaces and reports back over a pipe; the
caller then writes its uid map (-u with USER), moves -i interfaces into its network
namespace (netlink, pyroute2) and lets it go on. With PID or TIME the child forks once more,
so that the command is PID 1 of the new PID namespace (and in the new time namespace), and
ends as that process ended. Inside: / made recursively private (MOUNT), with -M a fresh
/proc, /dev/shm and /dev/mqueue (and /sys when NETWORK is new too, as `ip netns exec` does),
the hostname (-H), the uid (-u), then exec.

Unlike LXC 5.0.2: -M really mounts (LXC mounts only when the umount fails, so its /proc is
gone), the command's exit code is passed on (LXC: 0 or 1), -u without USER is a plain
setuid (LXC writes a uid map and fails), an -i interface that cannot be moved stops before
the command runs (LXC runs it anyway).
"""

import errno
import os
import pwd
import signal
import sys

from ..errors import LxcError
from ..kernel import libc
from . import childpipe

# exec failures as lxc-attach reports them
EXEC_CODES = {errno.ENOENT: 127, errno.EACCES: 126, errno.ENOEXEC: 126}


class UnshareError(LxcError):
    """lxc-unshare could not set up the namespaces or run the command."""


def namespace_flags(text):
    """clone flags of LXC's -s list (MOUNT|PID|UTSNAME|IPC|USER|NETWORK|CGROUP|TIME, or the
    /proc/PID/ns names in any case)."""
    # attach.parse_namespaces' rule (a unit test keeps them equal), here without importing
    # attach (~7 ms of terminal and security modules lxc-unshare never uses)
    flags = 0
    for token in text.split("|"):
        token = {"MOUNT": "mnt", "NETWORK": "net", "UTSNAME": "uts"}.get(token, token)
        if token.lower() not in libc.NAMESPACE_FLAGS:
            raise UnshareError(f"invalid namespace name {token!r}",
                               hint="use MOUNT|PID|UTSNAME|IPC|USER|NETWORK|CGROUP|TIME "
                                    "(upper case for MOUNT, NETWORK and UTSNAME)")
        flags |= libc.NAMESPACE_FLAGS[token.lower()]
    return flags


def lookup_user(text):
    """uid of -u: a number (which must have a passwd entry, as LXC) or a user name."""
    digits = ""
    for char in text:
        if not char.isdigit():
            break
        digits += char
    try:
        if digits:
            return pwd.getpwuid(int(digits)).pw_uid
        return pwd.getpwnam(text).pw_uid
    except (KeyError, OverflowError):
        what = f"uid : {digits}" if digits else f'username "{text}"'
        raise UnshareError(f"Invalid {what}", hint="no such user in /etc/passwd") from None


class Options:
    def __init__(self, flags, command, uid=None, hostname=None, ifnames=(), daemon=False,
                 remount=False):
        self.flags = flags
        self.command = list(command)
        self.uid = uid
        self.hostname = hostname
        self.ifnames = list(ifnames)
        self.daemon = daemon
        self.remount = remount

    def check(self):
        """LXC's refusals, in its order."""
        if not self.command:
            raise UnshareError("A command to execute in the new namespace is required",
                               hint="lxc-unshare -s NAMESPACES -- COMMAND")
        if not self.flags:
            raise UnshareError("A namespace to execute command is required",
                               hint="-s 'MOUNT|PID|UTSNAME|IPC|USER|NETWORK'")
        if self.ifnames and not self.flags & libc.CLONE_NEWNET:
            raise UnshareError("-i <interfacename> needs -s NETWORK option")
        if self.hostname is not None and not self.flags & libc.CLONE_NEWUTS:
            raise UnshareError("-H <hostname> needs -s UTSNAME option")
        if self.remount and not self.flags & libc.CLONE_NEWNS:
            raise UnshareError("-M needs -s MOUNT option")


def run(options):
    """Run OPTIONS.command in new namespaces; its exit code (128+N for a signal N), or 0 at
    once with OPTIONS.daemon."""
    options.check()
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    error_r, error_w = os.pipe2(os.O_CLOEXEC)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write the caller's pending output again
    child = os.fork()
    if child == 0:
        os.close(ready_r)
        os.close(go_w)
        os.close(error_r)
        try:
            _child(options, ready_w, go_r, error_w)
        except BaseException as exc:  # noqa: BLE001 - tell the caller, then leave
            childpipe.report(error_w, exc)
        os._exit(1)
    os.close(ready_w)
    os.close(go_r)
    os.close(error_w)
    ready = os.read(ready_r, 1)
    os.close(ready_r)
    if ready != b"1":
        return _failed(child, error_r)
    try:
        if options.flags & libc.CLONE_NEWUSER and options.uid is not None:
            _write_map(child, f"{options.uid} {os.getuid()} 1\n")
        for ifname in options.ifnames:
            _move_link(ifname, child)
    except BaseException:
        os.close(go_w)  # the child sees EOF and leaves without running anything
        _wait(child)
        raise
    os.write(go_w, b"1")
    os.close(go_w)
    if options.daemon:
        os.close(error_r)
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the command's; its status is ours
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    code = _wait(child)
    message = childpipe.read_all(error_r)
    if message:
        text, _, hint = message.decode(errors="replace").partition("\0")
        raise UnshareError(text, hint=hint or None, exit_code=code or 1)
    return code


def _failed(child, error_r):
    code = _wait(child)
    message = childpipe.read_all(error_r).decode(errors="replace")
    text, _, hint = message.partition("\0")
    raise UnshareError(text or "the child process died before unsharing", hint=hint or None,
                       exit_code=code or 1)


def _write_map(pid, line):
    try:
        with open(f"/proc/{pid}/uid_map", "w") as handle:
            handle.write(line)
    except OSError as exc:
        raise UnshareError(f"Failed to map uid ({line.strip()}): {exc.strerror}",
                           hint="only root may map another uid than its own") from None


def _move_link(ifname, pid):
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if not found:
            raise UnshareError(f'Could not move interface "{ifname}": no such interface here',
                               hint="ip -br link lists this network namespace's interfaces")
        try:
            ipr.link("set", index=found[0], net_ns_pid=pid)
        except NetlinkError as exc:
            raise UnshareError(f'Could not move interface "{ifname}" into the new network '
                               f"namespace: {os.strerror(exc.code)}") from None


def _child(options, ready_w, go_r, error_w):
    """Unshare, report, wait for the caller, then become (or fork) the command."""
    flags = options.flags
    try:
        libc.unshare(flags)
    except OSError as exc:
        if exc.errno == errno.EPERM and not flags & libc.CLONE_NEWUSER and os.geteuid():
            hint = "an ordinary user may unshare other namespaces only with USER: add it to -s"
        else:
            hint = "is the kernel built with them? (lxc-checkconfig)"
        raise UnshareError(f"Failed to unshare the namespaces: {os.strerror(exc.errno)}",
                           hint=hint) from None
    os.write(ready_w, b"1")
    os.close(ready_w)
    if os.read(go_r, 1) != b"1":
        os._exit(1)  # the caller failed (and said why)
    os.close(go_r)
    if flags & (libc.CLONE_NEWPID | libc.CLONE_NEWTIME):
        pid = os.fork()
        if pid:
            os.close(error_w)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGQUIT, signal.SIG_IGN)
            _mirror(os.waitpid(pid, 0)[1])
    _command(options, error_w)


def _command(options, error_w):
    flags = options.flags
    if flags & libc.CLONE_NEWNS:
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
        if options.remount:
            _fresh("proc", "/proc", "proc")
            _fresh("shmfs", "/dev/shm", "tmpfs", mkdir=0o1777)
            _fresh("mqueue", "/dev/mqueue", "mqueue", mkdir=0o1777, optional=True)
            if flags & libc.CLONE_NEWNET:
                _fresh("sysfs", "/sys", "sysfs")
    if options.hostname is not None:
        libc.sethostname(options.hostname)
    if options.uid is not None:
        try:
            os.setresuid(options.uid, options.uid, options.uid)
        except OSError as exc:
            raise UnshareError(f"Failed to set uid {options.uid}: {exc.strerror}") from None
    for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)
    try:
        os.execvp(options.command[0], options.command)
    except OSError as exc:
        childpipe.report(error_w, UnshareError(f"Failed to exec: '{options.command[0]}': {exc.strerror}"))
        os._exit(EXEC_CODES.get(exc.errno, 1))


def _fresh(source, target, fstype, mkdir=None, optional=False):
    """Mount a new FSTYPE at TARGET in place of what was there. A mount the kernel refuses
    (proc in a new user namespace without its own PID namespace, ...) leaves the old one and
    is a warning: LXC goes on too (without any /proc)."""
    if mkdir is not None and not os.path.isdir(target):
        try:
            os.mkdir(target, mkdir)
        except OSError:
            if optional:
                return
            raise
    flags = libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC
    try:
        libc.mount(source, target, fstype, flags)  # on top first: may we at all?
    except OSError as exc:
        if not optional:
            hint = (" (a new user namespace mounts proc only with a new PID namespace: "
                    "add PID to -s)" if fstype == "proc" else "")
            sys.stderr.write(f"lxc-unshare: warning: -M: {target} left as it was: "
                             f"{exc.strerror}{hint}\n")
            sys.stderr.flush()
        return
    for _ in range(16):  # then every mount there goes (a host may have two on /dev/shm)
        try:
            libc.umount(target, libc.MNT_DETACH)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: nothing (more) mounted there
                raise
            break
    libc.mount(source, target, fstype, flags)


def _wait(pid):
    status = os.waitpid(pid, 0)[1]
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def _mirror(status):
    """End as STATUS says the command ended: its exit code, or death by its signal."""
    if os.WIFSIGNALED(status):
        import resource

        signum = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
        os.kill(os.getpid(), signum)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
