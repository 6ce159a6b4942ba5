"""A `name=systemd` v1 hierarchy for systemd guests on v1/hybrid hosts that have none.

systemd in a container on a v1 or hybrid host wants its own cgroup in a `name=systemd`
hierarchy. A host whose PID 1 is not systemd may have no such hierarchy mounted; the guest's
systemd then mounts (or creates) it itself and, since the container was placed in no cgroup of
it, finds itself at that hierarchy's root: it would build init.scope and system.slice at the
top, shared with anything else on the host. So, before the container's cgroups are planned,
the supervisor mounts the hierarchy in an lxctools place (RUNDIR/lxctools/cgroup/systemd) and
plans it like any other: the container gets lxc.payload.NAME there, its cgroup namespace
starts below it, and `lxc.mount.auto = cgroup` binds it at /sys/fs/cgroup/systemd inside.

A host that already has the hierarchy mounted anywhere is never touched. The mount stays after
the container stops (as a host set-up step would; unmounting an empty named hierarchy
destroys it, and the next systemd guest would make it again). Root only: mounting a cgroup
hierarchy takes CAP_SYS_ADMIN on the host.
"""

import os

from . import host as H

NAME = "name=systemd"


def mount_dir():
    from ..paths import runtime_dir
    return os.path.join(runtime_dir(), "lxctools", "cgroup", "systemd")


def has_named_systemd(hierarchies):
    return any(NAME in h.controllers for h in hierarchies)


def missing(hierarchies):
    """True when this host is v1/hybrid and shows no name=systemd hierarchy."""
    return H.layout(hierarchies) in ("legacy", "hybrid") and not has_named_systemd(hierarchies)


def ensure(hierarchies=None, proc="/proc"):
    """Mount the hierarchy when it is missing and we may; returns the hierarchies to plan
    with (re-read after a mount) and whether this call mounted it."""
    if hierarchies is None:
        hierarchies = H.read_mountinfo(proc)
    if not missing(hierarchies) or os.geteuid() != 0:
        return hierarchies, False
    from ..kernel import libc
    from ..kernel.libc import MS_NODEV, MS_NOEXEC, MS_NOSUID

    target = mount_dir()
    try:
        os.makedirs(target, mode=0o755, exist_ok=True)
        # "none": no controller; xattr as systemd mounts it (it keeps markers on cgroups). When
        # the kernel already has the hierarchy (mounted in another namespace), this attaches
        # to it.
        libc.mount("cgroup", target, "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "none,name=systemd,xattr")
    except OSError as exc:
        from .. import log
        log.warn(f"cannot mount a name=systemd cgroup hierarchy at {target}: "
                 f"{os.strerror(exc.errno)}; the systemd guest will manage that hierarchy's "
                 "root itself")
        return hierarchies, False
    return H.read_mountinfo(proc), True
