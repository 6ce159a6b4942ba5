"""The cgroup of an lxcpath's supervisor: out of its caller's, as LXC's monitor.

LXC's monitor moves itself to `lxc.monitor.NAME` beside the payload; for root that is below
PID 1's cgroup (minus systemd's /init.scope), i.e. outside every systemd unit and session. So
a oneshot unit, a login session or a cron job can start a container with `lxc-start -d` and
end: systemd kills what is left in a unit's cgroup when it ends, and what serves the container
is not there. Our supervisor serves every background container of an lxcpath: as root it goes
to `lxc.monitor.lxctools-KEY` (KEY: `commands.lxcpath_key`, as its socket's) at the same
place, and when it exits back to that place's parent cgroup (`lxc.pivot`, LXC's parking
cgroup, below a non-root base) so that its own can be removed. Everything here is best effort: a host where the move fails
(a read-only cgroupfs, a foreign manager's rules) starts containers as before, in place.
Ordinary users' supervisors stay where they are, as their containers' cgroups do (their base is
their own cgroup).
"""

import errno
import os

from ... import log
from . import host as H

PREFIX = "lxc.monitor.lxctools-"
PIVOT = "lxc.pivot"


def _name(lxcpath):
    from ..commands import lxcpath_key  # what names the supervisor's socket

    return PREFIX + lxcpath_key(lxcpath)


def _bases(proc="/proc"):
    """[(hierarchy, base directory)]: PID 1's cgroups minus /init.scope, where LXC puts root's
    payloads and monitors."""
    where = {k: H.prune_init_scope(p) for k, p in H.read_proc_cgroup(1, proc).items()}
    return [(h, h.dir_of(where[h.key])) for h in H.read_mountinfo(proc) if h.key in where]


def enter(lxcpath):
    """Move this process (the supervisor, before it forks anything) to its monitor cgroup in
    every hierarchy. Returns the directories it now sits in (for `leave`)."""
    if os.geteuid() != 0:
        return []
    from .core import _cpuset_inherit, _write

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


def leave(entered):
    """On the way out: to the parent cgroup (the hierarchy's root takes processes; below it,
    LXC's lxc.pivot), then remove the monitor cgroup, which is empty unless something it ran
    still lives there (then it stays, and the next supervisor of the lxcpath reuses it)."""
    from .core import _cpuset_inherit, _write

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
