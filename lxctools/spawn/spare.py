"""A spare user namespace (and network namespace): made and mapped ahead of the next start
that needs one.

An unprivileged start waits for its user namespace's id maps: newuidmap and newgidmap, two
setuid programs, ~3-5 ms between the spawner's unshare and its "mapped" (bench/RESULTS.md
run 14's per-step table). The lxcpath's supervisor makes the next one once its answer to a
start is sent (Daemon.accept: off everyone's wait): a child of it unshares a user namespace,
the supervisor maps it as lxc.idmap says, the child makes a network namespace in it (owned by
it, made once its root is mapped: its files are that root's), the supervisor keeps an fd of
each and lets the child go. The next start whose lxc.idmap is the same takes them: its
spawner joins the user namespace (setns, which its owner may: it holds every capability in a
user namespace its euid owns) instead of making and mapping one, and the network namespace
when the container gets a new one (else it is closed unused), instead of making it (~0.7 ms).

What keeps this as safe as a fresh namespace:
- one container, one namespace: take() hands the fd over and forgets it (a second
  container in the same user namespace could join the first's namespaces as their owner);
- only for the same maps: the spare is keyed by the parsed lxc.idmap;
- only for the same grant: when /etc/subuid or /etc/subgid changed since it was mapped
  (a range taken away), it is dropped, never used;
- nothing else is in it: no process (its maker exits once the fds are open), no namespace
  but the network one (its loopback only); the spawner makes the container's other
  namespaces after joining, as before.
"""

import os
import signal

from ..kernel import libc

_GRANTS = ("/etc/subuid", "/etc/subgid")

_held = None  # (key, (user fd, network fd or None), grants) of the one spare
_wanted = None  # the lxc.idmap lines of the last start that made a user namespace


def _key(lines):
    return (os.geteuid(), tuple(" ".join(line.split()) for line in lines))


def _grants():
    """What newuidmap and newgidmap decided from: the files' identity and change time."""
    found = []
    for path in _GRANTS:
        try:
            st = os.stat(path)
            found.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        except OSError:
            found.append(None)
    return tuple(found)


def want(lines):
    """A start made a user namespace mapped by LINES (lxc.idmap): the next is made alike."""
    global _wanted
    _wanted = list(lines)


def take(lines):
    """(user namespace fd, network namespace fd or None) of the spare mapped as LINES say,
    now the caller's alone (close them); (None, None) when there is none such (the start
    makes and maps its own)."""
    global _held
    if _held is None:
        return None, None
    key, fds, grants = _held
    _held = None
    if key == _key(lines) and grants == _grants():
        return fds
    _close(fds)  # other maps, or the grant changed since: never used
    return None, None


def _close(fds):
    for fd in fds:
        if fd is not None:
            os.close(fd)


def refill():
    """Make the spare for the last start's maps when none is held (the supervisor, after
    its answer to a start). A failure leaves none: the next start maps its own, and says
    why if it cannot either."""
    global _held
    if _wanted is None or _held is not None:
        return
    lines = _wanted
    try:
        grants = _grants()
        fds = make(lines)
    except Exception as exc:  # noqa: BLE001 - OSError, LxcError of write_maps: a start says it
        from .. import log
        log.debug(f"no spare user namespace: {exc}")
        return
    _held = (_key(lines), fds, grants)


def make(lines):
    """(user fd, network fd or None), close-on-exec: a new user namespace owned by this
    process's euid, mapped as LINES (lxc.idmap) say through idmap.userns.write_maps
    (newuidmap and newgidmap for an ordinary user, as a start does), and a network namespace
    made in it once mapped (None when that could not be made: the start makes its own)."""
    from ..idmap.userns import parse_idmap, write_maps

    maps = parse_idmap(lines)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            # not "lxc monitor": whoever looks for the lxcpath's supervisor (pgrep, a test)
            # must not count this short-lived fork of it as a second one
            libc.set_process_name("lxc spare")
            signal.set_wakeup_fd(-1)  # the supervisor's, not ours (startplan._fork_child)
            os.close(ready_r)
            os.close(go_w)
            libc.set_pdeathsig(signal.SIGKILL)
            libc.unshare(libc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            if os.read(go_r, 1) == b"m":  # mapped: the network namespace now
                try:
                    libc.unshare(libc.CLONE_NEWNET)
                    os.write(ready_w, b"n")
                except OSError:
                    os.write(ready_w, b"-")
                os.read(go_r, 1)  # EOF: the supervisor holds the namespaces, or gave up
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    fds = []
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError("the process making it died")
        write_maps(pid, maps)
        os.write(go_w, b"m")
        net = os.read(ready_r, 1) == b"n"
        own = os.stat("/proc/self/ns/user")
        for kind in ("user", "net") if net else ("user",):
            fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
            fds.append(fd)
        # that process's, not ours: pid PID could only be another one once it was reaped
        if (os.fstat(fds[0]).st_ino, os.fstat(fds[0]).st_dev) == (own.st_ino, own.st_dev):
            raise OSError("the process making it is not in a user namespace of its own")
        return fds[0], (fds[1] if net else None)
    except BaseException:
        _close(fds)
        raise
    finally:
        os.close(go_w)
        os.close(ready_r)
        os.waitpid(pid, 0)
