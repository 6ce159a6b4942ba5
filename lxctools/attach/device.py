"""lxc-device: device nodes and network interfaces into and out of a running container
(lxc-behaviour.md 2.19).

Nodes: the caller stats the host's node, then a child joins the container's mount namespace
(so every path, symlinks included, is resolved inside the container's root; openat2's
RESOLVE_NO_MAGICLINKS keeps /proc/PID/root-style links from leading back out) and makes the
node there with mknodat() in its parent's fd (parent directories 0755, any old file at the
place replaced, the host node's mode kept exactly); the device cgroup is then told
(`devices.allow`/`devices.deny` through the supervisor: the v1 devices controller's file, or
the cgroup2 device program, replaced with the rule added); a container with its own user
namespace gets a bind mount of the host's node instead (see add_node). Removing a node denies its device again, as
LXC: `del` of a second node of /dev/null's numbers cuts off /dev/null too. The numbers are
the removed node's (LXC stats the destination path on the host, and `add A B` makes a node
of B's host numbers; here A's numbers are used, at B).

Interfaces (pyroute2): taken down, then moved into the init's network namespace under the
new name in one message; `del` moves one back into the caller's network namespace.
Wireless (phy) devices are not handled.
"""

import os
import stat

from ..errors import LxcError
from ..kernel import libc
from ..spawn import childpipe
from ..kernel import rootpath  # rootpath: imported here, the helper cannot once inside


class DeviceError(LxcError):
    """A node or interface could not be added or removed."""


# -- interfaces -------------------------------------------------------------------------------
def is_interface(name, init_pid=None):
    """Whether NAME is an interface of the caller's network namespace (or, with INIT_PID, of
    that process's)."""
    if not name or "/" in name or len(name) > 15:
        return False
    from pyroute2 import IPRoute
    from ..network.host import in_netns

    target = f"/proc/{init_pid}/ns/net" if init_pid else None
    try:
        with in_netns(target), IPRoute() as ipr:
            return bool(ipr.link_lookup(ifname=name))
    except OSError:
        return False


def attach_interface(init_pid, ifname, dest=None, pidfd=None):
    """Move the caller's interface IFNAME into the container (renamed DEST)."""
    from pyroute2 import IPRoute

    [theirs] = _open_namespaces(init_pid, pidfd, ["net"])
    try:
        with IPRoute() as ipr:
            _move_link(ipr, ifname, dest, {"net_ns_fd": theirs}, missing="here",
                       where="into the container", check="there? (lxc-attach -- ip link)")
    finally:
        os.close(theirs)


def detach_interface(init_pid, ifname, dest=None, pidfd=None):
    """Move the container's interface IFNAME back to the caller's network namespace."""
    from pyroute2 import IPRoute
    from ..network.host import in_netns

    [theirs] = _open_namespaces(init_pid, pidfd, ["net"])
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with in_netns(theirs), IPRoute() as ipr:
            _move_link(ipr, ifname, dest, {"net_ns_fd": own}, missing="in the container",
                       where="out of the container", check="here? (ip link)")
    finally:
        os.close(own)
        os.close(theirs)


def _move_link(ipr, ifname, dest, target, *, missing, where, check):
    """Take IFNAME down and move it to TARGET's namespace (renamed DEST)."""
    from pyroute2.netlink.exceptions import NetlinkError

    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise DeviceError(f"no interface {ifname} {missing}")
    changes = dict(target)
    if dest and dest != ifname:
        changes["ifname"] = dest
    try:
        ipr.link("set", index=found[0], state="down")
        ipr.link("set", index=found[0], **changes)
    except NetlinkError as exc:
        raise DeviceError(f"cannot move {ifname} {where}"
                          f"{' as ' + dest if 'ifname' in changes else ''}: "
                          f"{os.strerror(exc.code)}",
                          hint=f"is the name taken {check}" if exc.code == 17 else None) from None


# -- device nodes -----------------------------------------------------------------------------
def cgroup_rule(mode, rdev):
    """'c MAJ:MIN rwm' for the device cgroup."""
    kind = "c" if stat.S_ISCHR(mode) else "b"
    return f"{kind} {os.major(rdev)}:{os.minor(rdev)} rwm"


def host_node(path):
    """os.stat_result of the host's device node PATH (symlinks followed)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DeviceError(f"{path}: {exc.strerror}",
                          hint="give a device node of the host (e.g. /dev/loop-control) or "
                               "an interface name") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise DeviceError(f"{path} is not a device node",
                          hint="lxc-device adds character and block devices and interfaces")
    return st


def add_node(init_pid, src, dest=None, pidfd=None):
    """Make the host's node SRC at DEST (default: the same path) inside the container;
    returns the device cgroup rule to allow. In a container with its own user namespace the
    host's node is bind-mounted instead: its /dev belongs to that namespace, where host
    root can make no file (EOVERFLOW) and a node made there could not be opened (nodev)."""
    st = host_node(src)
    dest = dest or src
    ids = _userns_ids(init_pid, pidfd)
    if ids is None:
        _in_mount_ns(init_pid, pidfd, None, _make_node, dest, st.st_mode, st.st_rdev)
    else:
        try:
            tree = libc.open_tree(src)
        except OSError as exc:
            raise DeviceError(f"cannot take a bind mount of {src}: {exc.strerror}") from None
        try:
            _in_mount_ns(init_pid, pidfd, ids, _bind_node, dest, tree)
        finally:
            os.close(tree)
    return cgroup_rule(st.st_mode, st.st_rdev)


def remove_node(init_pid, src, dest=None, pidfd=None):
    """Remove the node at DEST (default SRC) inside the container; returns the cgroup rule
    to deny (the removed node's numbers, else those of the host's SRC, as LXC)."""
    dest = dest or src
    found = _in_mount_ns(init_pid, pidfd, _userns_ids(init_pid, pidfd), _remove_node, dest)
    if found is None:
        try:
            st = host_node(src)
        except DeviceError:
            raise DeviceError(f"no device node {dest} in the container",
                              hint="lxc-attach -n NAME -- ls -l " + dest) from None
        return cgroup_rule(st.st_mode, st.st_rdev)
    mode, rdev = found
    return cgroup_rule(mode, rdev)


def _parent(dest, create):
    """(O_PATH fd of DEST's directory, DEST's last name). We run in the container's mount
    namespace, where "/" is its root, so links cannot reach the host's tree -- except a
    magic one (/proc/PID/root of a process entering the container): openat2 resolves with
    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, and the node is then made relative to the fd."""
    head, name = os.path.split(dest.rstrip("/"))
    if name in ("", ".", ".."):
        raise DeviceError(f"{dest} does not name a file")
    if create:
        return rootpath.makedirs_in_root("/", head or "/", 0o755), name
    return rootpath.open_in_root("/", head or "/", os.O_PATH | os.O_DIRECTORY), name


def _clear(parent, name, dest, unmount=False):
    """Make room for a node at NAME: anything but a directory goes (with UNMOUNT, a node
    bind-mounted there is unmounted first)."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise DeviceError(f"{dest} is a directory in the container")
    if unmount:
        _unmount_all(parent, name)
    os.unlink(name, dir_fd=parent)


def _make_node(dest, mode, rdev):
    parent, name = _parent(dest, create=True)
    try:
        _clear(parent, name, dest)
        old = os.umask(0)  # the host node's mode exactly, whatever the umask
        try:
            os.mknod(name, mode, rdev, dir_fd=parent)
        finally:
            os.umask(old)
    finally:
        os.close(parent)
    return True


def _bind_node(dest, tree):
    parent, name = _parent(dest, create=True)
    try:
        _clear(parent, name, dest, unmount=True)
        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644, dir_fd=parent))
        libc.move_mount_at(tree, parent, name)
    finally:
        os.close(parent)
    return True


def _unmount_all(parent, name):
    """Every mount stacked on NAME in PARENT, by a one-component path from PARENT as cwd
    (umount2 takes no directory fd); UMOUNT_NOFOLLOW: a link there is not followed."""
    import errno
    here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    os.fchdir(parent)
    try:
        for _ in range(16):
            try:
                libc.umount(name, libc.MNT_DETACH | libc.UMOUNT_NOFOLLOW)
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: no (more) mount there
                    raise
                return
    finally:
        os.fchdir(here)
        os.close(here)


def _remove_node(dest):
    try:
        parent, name = _parent(dest, create=False)
    except FileNotFoundError:
        return None
    try:
        try:
            # a lookup by name reaches the top of a mount stack: a bind-mounted node's
            # numbers are the host node's
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise DeviceError(f"{dest} is not a device node in the container")
        _unmount_all(parent, name)  # a bind-mounted node (containers with a user namespace)
        os.unlink(name, dir_fd=parent)
        return [st.st_mode, st.st_rdev]
    finally:
        os.close(parent)


def _checked(init_pid, pidfd, read):
    """READ() of /proc/INIT_PID while PIDFD names INIT_PID before and after: once init has
    exited, a host process may hold its pid, and its namespaces are the host's
    (attach/attach.py still_init). Without PIDFD (a monitor that has none) one is opened."""
    from .attach import AttachError, open_init_pidfd, still_init

    own = pidfd is None
    try:
        if own:
            pidfd = open_init_pidfd(init_pid)
        still_init(pidfd, init_pid)
        result = read()
        still_init(pidfd, init_pid)
        return result
    except AttachError as exc:
        raise DeviceError(exc.message, hint=exc.hint) from None
    finally:
        if own and pidfd is not None:
            os.close(pidfd)


def _userns_ids(init_pid, pidfd=None):
    """(uid, gid) to take on in the init's user namespace (its root, as lxc-attach), or None
    when the container shares ours."""
    from .attach import userns_root

    def read():
        try:
            if os.readlink(f"/proc/{init_pid}/ns/user") == os.readlink("/proc/self/ns/user"):
                return None
        except OSError as exc:
            raise DeviceError(f"cannot read the namespaces of PID {init_pid}: "
                              f"{exc.strerror}", hint="is the container still running? "
                              "(lxc-info)") from None
        return userns_root(init_pid)
    return _checked(init_pid, pidfd, read)


def _open_namespaces(init_pid, pidfd, names):
    """fds of INIT_PID's namespaces NAMES (checked: _checked)."""
    fds = []

    def read():
        for name in names:
            fds.append(os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC))
        return fds
    try:
        return _checked(init_pid, pidfd, read)
    except BaseException as exc:
        for fd in fds:
            os.close(fd)
        if isinstance(exc, OSError):
            raise DeviceError(f"cannot open the namespaces of PID {init_pid}: "
                              f"{exc.strerror}", hint="is the container still running? "
                              "(lxc-info)") from None
        raise


def _in_mount_ns(init_pid, pidfd, ids, function, *args):
    """FUNCTION(*ARGS) in a child inside the container's mount namespace (first its user
    namespace as IDS, when given); its JSON-able result, or its error raised here."""
    import json

    fds = _open_namespaces(init_pid, pidfd, (["user"] if ids is not None else []) + ["mnt"])
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            if ids is not None:
                libc.setns(fds.pop(0), libc.CLONE_NEWUSER)
                os.setgroups([])
                os.setresgid(ids[1], ids[1], ids[1])
                os.setresuid(ids[0], ids[0], ids[0])
            libc.setns(fds[0], libc.CLONE_NEWNS)  # root and cwd become the container's /
            answer = {"result": function(*args)}
        except LxcError as exc:
            answer = {"error": exc.message, "hint": exc.hint}
        except OSError as exc:
            answer = {"error": f"{exc.strerror}" + (f": {exc.filename}" if exc.filename
                                                    else "")}
        except BaseException as exc:  # noqa: BLE001
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            os.write(write_end, json.dumps(answer).encode())
        finally:
            os._exit(0)
    for fd in fds:
        os.close(fd)
    os.close(write_end)
    data = childpipe.read_all(read_end)
    os.waitpid(pid, 0)
    answer = json.loads(data or b'{"error": "the helper process died"}')
    if "error" in answer:
        raise DeviceError(answer["error"], hint=answer.get("hint"))
    return answer["result"]
