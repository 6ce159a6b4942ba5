"""Working as root of a user namespace, for a non-root caller (LXC does this through
lxc-usernsexec): an unprivileged container's files belong to its root (a subuid on the
host), which the caller can neither chown to nor delete.

A process that creates a user namespace holds every capability inside it. Mapping container
ids 0..N-1 to the caller's subordinate range (through the setuid newuidmap/newgidmap) and one
more inside id to the caller itself lets it act on both the caller's and the container's files.
"""

import os
import subprocess

from ..errors import LxcError
from ..kernel import libc


def parse_idmap(lines):
    maps = {"u": [], "g": []}
    for line in lines:
        kind, inner, outer, count = line.split()
        maps[kind].append((int(inner), int(outer), int(count)))
    return maps


def _with_self(entries, own):
    """The container's map plus the caller's own id right after the highest inside id."""
    top = max(inner + count for inner, _outer, count in entries)
    return entries + [(top, own, 1)], top


def write_maps(pid, maps):
    """MAPS ({"u": [(inside, outside, count)], "g": [...]}) for process PID: root writes
    /proc/PID/{uid,gid}_map itself, anyone else goes through the setuid newuidmap/newgidmap,
    both at once (they write apart files of PID; each is a few ms of a start's wait). Should
    either fail, newuidmap's error is the one said when both do, as when they ran in turn."""
    running = []
    try:
        for kind, tool, name in (("u", "newuidmap", "uid_map"), ("g", "newgidmap", "gid_map")):
            entries = maps.get(kind) or []
            if not entries:
                continue
            if os.geteuid() == 0:
                if kind == "g":
                    with open(f"/proc/{pid}/setgroups", "w") as handle:
                        handle.write("allow")
                with open(f"/proc/{pid}/{name}", "w") as handle:
                    handle.write("".join(f"{a} {b} {c}\n" for a, b, c in entries))
                continue
            running.append((tool, _start_helper([tool, str(pid)]
                                                + [str(x) for e in entries for x in e])))
    finally:
        answers = [(tool, *helper.wait()) for tool, helper in running]
    for tool, code, stderr in answers:
        if code != 0:
            raise LxcError(f"{tool} failed: {stderr.strip()}", key="lxc.idmap",
                           hint="check /etc/subuid and /etc/subgid against lxc.idmap "
                                "(lxc-checkconfig shows what is missing)")


class _Helper:
    """newuidmap or newgidmap running: wait() -> (exit code, its stderr as text)."""

    def __init__(self, pid, stderr_fd):
        self.pid = pid
        self.stderr_fd = stderr_fd

    def wait(self):
        chunks = []
        try:
            while True:  # to its end first: a full pipe would hold the helper up
                chunk = os.read(self.stderr_fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self.stderr_fd)
            _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


class _Popened:
    def __init__(self, proc):
        self.proc = proc

    def wait(self):
        stderr = self.proc.communicate()[1]
        return self.proc.returncode, stderr


def _start_helper(argv):
    """ARGV started with its stdout discarded and its stderr kept for the error message:
    posix_spawn (libc.spawn: no fork of this process, none of subprocess's Python work, each
    start of an unprivileged container runs two), else subprocess."""
    if not libc.can_spawn():
        return _Popened(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True))
    read_end, write_end = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        pid = libc.spawn(argv, stdout=null, stderr=write_end)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(null)
        os.close(write_end)
    return _Helper(pid, read_end)


def run_in_userns(idmap_lines, func, what):
    """Call FUNC(own_uid_inside, own_gid_inside) in a child that is root of a user namespace
    with the container's map plus the caller's own ids. Raises LxcError naming WHAT."""
    maps = parse_idmap(idmap_lines)
    if not maps["u"] or not maps["g"]:
        raise LxcError("lxc.idmap must map both uids (u) and gids (g)", key="lxc.idmap")
    uid_map, own_uid = _with_self(maps["u"], os.getuid())
    gid_map, own_gid = _with_self(maps["g"], os.getgid())
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    error_r, error_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd in (ready_r, go_w, error_r):
                os.close(fd)
            libc.unshare(libc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            if os.read(go_r, 1) == b"1":
                func(own_uid, own_gid)
                code = 0
        except BaseException as exc:  # noqa: BLE001 - reported through the pipe
            try:
                os.write(error_w, str(exc).encode(errors="replace")[:2000])
            except OSError:
                pass
        finally:
            os._exit(code)
    for fd in (ready_w, go_r, error_w):
        os.close(fd)
    try:
        os.read(ready_r, 1)
        write_maps(pid, {"u": uid_map, "g": gid_map})
        os.write(go_w, b"1")
    finally:
        os.close(go_w)
        os.close(ready_r)
        _, status = os.waitpid(pid, 0)
        message = os.read(error_r, 4096).decode(errors="replace")
        os.close(error_r)
    if os.waitstatus_to_exitcode(status) != 0:
        raise LxcError(f"{what} failed in the container's user namespace"
                       + (f": {message}" if message else ""),
                       hint="lxc-checkconfig's readiness section shows what the host lacks")


def chown_to_container_root(idmap_lines, paths, owner_only=()):
    """Every inode under PATHS owned by the caller goes to container root (uid/gid 0 inside);
    the OWNER_ONLY directories get its uid but keep our group (LXC's container dir,
    `drwxrwx--- ROOTUID user`: its root can reach the rootfs, we can still edit the config)."""
    def work(own_uid, own_gid):
        for path in paths:
            _chown_tree(path, own_uid, own_gid)
        for path in owner_only:
            os.lchown(path, 0, -1)
    run_in_userns(idmap_lines, work, "giving the rootfs to the container's root")


def _chown_tree(top, own_uid, own_gid):
    from .idshift import chown_at, walk_tree

    for dir_fd, name, st in walk_tree(top):
        if st.st_uid != own_uid and st.st_gid != own_gid:
            continue
        uid = 0 if st.st_uid == own_uid else -1
        gid = 0 if st.st_gid == own_gid else -1
        chown_at(dir_fd, name, uid, gid, st)


def subordinate_ranges(user, uid, path):
    """(start, count) lines of /etc/subuid or /etc/subgid for USER (by name or number)."""
    found = []
    try:
        with open(path) as handle:
            for line in handle:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[0] in (user, str(uid)):
                    found.append((int(fields[1]), int(fields[2])))
    except OSError:
        pass
    return found


def exec_in_userns(maps, command, uid=0, gid=0):
    """lxc-usernsexec: run COMMAND as UID:GID in a new user and mount namespace with MAPS
    ({"u": [(inside, outside, count)], "g": [...]}); returns its exit status."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(go_w)
            libc.unshare(libc.CLONE_NEWUSER | libc.CLONE_NEWNS)
            os.write(ready_w, b"1")
            if os.read(go_r, 1) != b"1":
                os._exit(1)
            libc.mount(None, "/", None, libc.MS_SLAVE | libc.MS_REC)
            try:
                os.setgroups([])
            except PermissionError:
                pass
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"lxc-usernsexec: {command[0]}: {exc.strerror}\n".encode())
            os._exit(127 if isinstance(exc, FileNotFoundError) else 1)
        os._exit(1)
    os.close(ready_w)
    os.close(go_r)
    try:
        os.read(ready_r, 1)
        write_maps(pid, maps)
        os.write(go_w, b"1")
    except BaseException:
        os.kill(pid, 9)
        raise
    finally:
        os.close(go_w)
        os.close(ready_r)
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)
