"""The cgroup of an lxcpath's supervisor: out of its caller's, as LXC's monitor.

LXC's monitor moves itself to `lxc.monitor.NAME` beside the payload; for root that is below
PID 1's cgroup (minus systemd's /init.scope), i.e. outside every systemd unit and session. So
a oneshot unit, a login session or a cron job can start a container with `lxc-start -d` and
end: systemd kills what is left in a unit's cgroup when it ends, and what serves the container
is not there. Our supervisor serves every background container of an lxcpath: as root it goes
to `lxc.monitor.lxctools-KEY` (KEY: `paths.lxcpath_key`, as its socket's) at the same
place, and when it exits back to that place's parent cgroup (`lxc.pivot`, LXC's parking
cgroup, below a non-root base) so that its own can be removed. Everything here is best effort: a host where the move fails
(a read-only cgroupfs, a foreign manager's rules) starts containers as before, in place.

An ordinary user's containers go below the user's own cgroup (a scope systemd delegated, as
`systemd-run --user --scope -p Delegate=yes` or lxc-unpriv-start make). On cgroup2 that
cgroup can hand its controllers (memory, pids, ...) to the payloads below it only while no
process sits in it directly: so there, as LXC's monitor does, the supervisor moves to
`lxc.monitor.lxctools-KEY` inside it, and so does the lxc-start that asked for a start when
it sits there too (LXC's "transient pid"). The supervisor's base for its containers stays
that cgroup (`base_of`).
"""

import errno
import os

from .. import log
from . import host as H

PREFIX = "lxc.monitor.lxctools-"
PIVOT = "lxc.pivot"


def _name(lxcpath):
    from ..paths import lxcpath_key  # what names the supervisor's socket too

    return PREFIX + lxcpath_key(lxcpath)


def _bases(proc="/proc"):
    """[(hierarchy, base directory)]: PID 1's cgroups minus /init.scope, where LXC puts root's
    payloads and monitors."""
    where = {k: H.prune_init_scope(p) for k, p in H.read_proc_cgroup(1, proc).items()}
    return [(h, h.dir_of(where[h.key])) for h in H.read_mountinfo(proc) if h.key in where]


def base_of(path):
    """Where containers go for a process in PATH (a cgroup as /proc/PID/cgroup names it): a
    supervisor's own monitor cgroup is not a base, its parent is."""
    if os.path.basename(path).startswith(PREFIX):
        return os.path.dirname(path) or "/"
    return path


def enter(lxcpath):
    """Move this process (the supervisor, before it forks anything) to its monitor cgroup in
    every hierarchy. Returns the directories it now sits in (for `leave`)."""
    if os.geteuid() != 0:
        return _enter_delegated(lxcpath)
    from .files import cpuset_inherit as _cpuset_inherit, write as _write

    entered = []
    try:
        bases = _bases()
    except OSError as exc:
        log.info(f"supervisor stays in its caller's cgroup: {exc}")
        return []
    for h, base in bases:
        target = os.path.join(base, _name(lxcpath))
        for attempt in (1, 2):  # the lxcpath's previous supervisor may remove it meanwhile
            try:
                try:
                    os.mkdir(target, 0o755)
                except FileExistsError:
                    pass
                if h.version == 1 and "cpuset" in h.controllers:
                    _cpuset_inherit(target)
                _write(os.path.join(target, "cgroup.procs"), "0")
                entered.append(target)
                break
            except OSError as exc:
                if attempt == 2 or exc.errno != errno.ENOENT:
                    log.info(f"supervisor stays in its caller's {h.key} cgroup: cannot enter "
                             f"{target}: {os.strerror(exc.errno)}")
                    break
    return entered


def _enter_delegated(lxcpath):
    """An ordinary user's supervisor, on a cgroup2-only host in a cgroup delegated to the
    user: to lxc.monitor.lxctools-KEY inside it (see the module's text)."""
    from .files import write as _write

    try:
        hierarchies = H.read_mountinfo()
        if H.layout(hierarchies) != "unified":
            return []
        [v2] = [h for h in hierarchies if h.key == H.UNIFIED]
        base = v2.dir_of(H.read_proc_cgroup("self").get(H.UNIFIED, "/"))
    except (OSError, ValueError):
        return []
    if not (os.access(base, os.W_OK) and os.access(os.path.join(base, "cgroup.procs"), os.W_OK)):
        return []  # not delegated: the containers get no cgroups there anyway
    target = os.path.join(base, _name(lxcpath))
    try:
        try:
            os.mkdir(target, 0o755)
        except FileExistsError:
            pass
        _write(os.path.join(target, "cgroup.procs"), "0")
    except OSError as exc:
        log.info(f"supervisor stays in {base}: cannot enter {target}: {os.strerror(exc.errno)}")
        return []
    return [target]


def take_client(pid, entered):
    """The process PID asked this supervisor for a start: when it sits in the cgroup the
    supervisor left (the payloads' base, not a hierarchy's root), move it to the
    supervisor's monitor cgroup, so that the base holds no process and can hand its
    controllers down (LXC's transient pid). Best effort: it is about to exit anyway."""
    from .files import write as _write

    if not entered or not pid:
        return
    try:
        theirs = H.read_proc_cgroup(pid).get(H.UNIFIED)
    except (OSError, ValueError):
        return
    unified = [m for m in _safe_mounts() if m.key == H.UNIFIED]  # read once, not per target
    for target in entered:
        h = next((m for m in unified if target.startswith(m.mountpoint + "/")), None)
        if h is None or theirs is None or h.dir_of(theirs) != os.path.dirname(target):
            continue
        if os.path.dirname(target) == h.mountpoint:
            # the hierarchy's root cgroup may hold processes beside its children's
            # controllers: nothing to make room for. A caller moved anyway would keep the
            # monitor cgroup busy as long as it lives (python-lxc's process, a shell
            # loop), and the supervisor could not remove it when it leaves.
            continue
        try:
            _write(os.path.join(target, "cgroup.procs"), str(pid))
        except OSError:
            pass


def leave(entered):
    """On the way out: to the parent cgroup (the hierarchy's root takes processes; below it,
    LXC's lxc.pivot), then remove the monitor cgroup, which is empty unless something it ran
    still lives there (then it stays, and the next supervisor of the lxcpath reuses it)."""
    from .files import cpuset_inherit as _cpuset_inherit, write as _write

    mounts = {h.mountpoint: h for h in _safe_mounts()}
    for target in entered:
        parent = os.path.dirname(target)
        h = next((m for point, m in mounts.items() if target.startswith(point + "/")), None)
        try:
            if h is not None and parent != h.mountpoint:
                parent = os.path.join(parent, PIVOT)
                try:
                    os.mkdir(parent, 0o755)
                except FileExistsError:
                    pass
                if h.version == 1 and "cpuset" in h.controllers:
                    _cpuset_inherit(parent)
            _write(os.path.join(parent, "cgroup.procs"), "0")
            os.rmdir(target)
        except OSError:
            pass


def _safe_mounts():
    try:
        return H.read_mountinfo()
    except OSError:
        return []
