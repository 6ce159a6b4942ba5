"""lxc.cgroup.* (v1) and lxc.cgroup2.* (v2) limits, written before the container's init runs.

As LXC 5.0: v1 keys go to the hierarchy of their controller, in config order except that
`memory.memsw.limit_in_bytes` follows `memory.limit_in_bytes` (the kernel refuses a memsw limit
below the memory limit); a device rule the kernel refuses with EPERM/EACCES is a warning
(nested containers). Unlike LXC, which ignores v1 keys on a pure cgroup2 host and v2 keys on a
v1/hybrid host with a warning, a key this host cannot take is an error naming it with the
other spelling as the hint (a limit that silently does nothing is worse than a refused
start). Device rules are the exception, decided by devices.plan(): the v1 controller where
the host has one and the config gives v1 rules (LXC's choice on a hybrid host), else a
cgroup2 BPF program (devprog.py) from lxc.cgroup2.devices.*, or from the v1 rules when the
config gives only those; the other family's list is then the copy LXC's common.conf
carries, and is skipped.
"""

import errno
import os
import stat

from .. import log
from ..errors import LxcError

NOT_LIMITS = ("dir", "relative")  # lxc.cgroup.dir*, lxc.cgroup.relative are not files


class LimitError(LxcError):
    """A cgroup limit could not be applied."""


def v1_settings(conf):
    items = [(k, v) for k, v in conf.family("lxc.cgroup")
             if k.split(".", 1)[0] not in NOT_LIMITS and k != "dir" and not k.startswith("dir.")]
    return sort_memsw(items)


def v2_settings(conf):
    return list(conf.family("lxc.cgroup2"))


def sort_memsw(items):
    """Move each memory.memsw.limit_in_bytes after the last memory.limit_in_bytes."""
    out = list(items)
    last_mem = max((i for i, (k, _v) in enumerate(out) if k == "memory.limit_in_bytes"),
                   default=-1)
    if last_mem < 0:
        return out
    memsw = [(k, v) for i, (k, v) in enumerate(out)
             if k == "memory.memsw.limit_in_bytes" and i < last_mem]
    if not memsw:
        return out
    rest = [(k, v) for i, (k, v) in enumerate(out)
            if not (k == "memory.memsw.limit_in_bytes" and i < last_mem)]
    pos = max(i for i, (k, _v) in enumerate(rest) if k == "memory.limit_in_bytes") + 1
    return rest[:pos] + memsw + rest[pos:]


def device_value(value, key="devices.allow"):
    """`/dev/PATH PERMS` -> `c|b MAJOR:MINOR PERMS` (LXC converts paths for devices.allow)."""
    value = value.strip()
    if not value.startswith("/"):
        return value
    path, _, perms = value.partition(" ")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise LimitError(f"{key} = {value}: cannot stat {path}: {os.strerror(exc.errno)}",
                         key=f"lxc.cgroup.{key}",
                         hint="name an existing device node, or give TYPE MAJOR:MINOR PERMS") from None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise LimitError(f"{key} = {value}: {path} is not a device node",
                         key=f"lxc.cgroup.{key}", hint="give TYPE MAJOR:MINOR PERMS, e.g. c 1:3 rwm")
    return f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {perms.strip() or 'rwm'}"


def device_plan(conf, cgroups):
    """How CONF's device rules are enforced for CGROUPS (devices.Plan); raises for a rule
    that cannot be read or enforced, before anything is written."""
    from .devices import plan
    v1 = any(p.h.version == 1 and "devices" in p.h.controllers for p in cgroups.placed)
    return plan(conf, v1_devices=v1, unified=cgroups.unified() is not None,
                root=os.geteuid() == 0)


def device_warnings(conf):
    """What the start should tell about CONF's device rules on this host (rules that cannot
    do what they look meant to do); the caller prints them. A rule that cannot be read is
    the start's error later, naming its key."""
    from . import host
    from .devices import plan
    hierarchies = host.read_mountinfo()
    try:
        return plan(conf, v1_devices=any(h.version == 1 and "devices" in h.controllers
                                         for h in hierarchies),
                    unified=any(h.version == 2 for h in hierarchies),
                    root=os.geteuid() == 0).warnings
    except LxcError:
        return []


def check(conf, cgroups):
    """What can be refused before anything is made (no cgroup needed)."""
    return device_plan(conf, cgroups)


def apply(cgroups, conf, devices=True, others=True):
    plan = check(conf, cgroups)
    if others:
        for key, value in v1_settings(conf):
            if not key.startswith("devices."):
                _set_v1(cgroups, key, value)
        _apply_v2(cgroups, conf)
    if devices:
        apply_devices(cgroups, plan)


def _apply_v2(cgroups, conf):
    unified = cgroups.unified()
    for key, value in v2_settings(conf):
        if key.startswith("devices."):
            continue  # the device plan's
        config_key = f"lxc.cgroup2.{key}"
        if unified is None or not unified.limit:
            raise LimitError(f"{config_key}: this host has no cgroup2 hierarchy for the "
                             "container", key=config_key, hint=f"use lxc.cgroup.{v1_name(key)} "
                             "(cgroup v1)" if cgroups.layout == "legacy" else
                             "is cgroup2 delegated to this user?")
        path = os.path.join(unified.limit, key)
        if cgroups.layout != "unified" and not os.path.exists(path):
            raise LimitError(f"{config_key}: the controllers are on cgroup v1 on this host "
                             f"({cgroups.layout} layout); its cgroup2 has no {key}",
                             key=config_key, hint=f"use lxc.cgroup.{v1_name(key)}")
        _write_limit(path, value, config_key)


def apply_devices(cgroups, plan):
    """Enforce PLAN: the v1 controller's files, or the cgroup2 program on the limit cgroup.
    What was done is kept in cgroups.devices (and so in the runtime record)."""
    for warning in plan.warnings:
        log.log("WARN", warning)  # the caller printed it (device_warnings, before the start)
    for note in plan.infos:
        log.info(note)
    if plan.skipped:
        other = "lxc.cgroup2" if plan.family == "lxc.cgroup" else "lxc.cgroup"
        log.info(f"{other}.devices.* skipped: the {plan.family}.devices.* list is enforced "
                 f"({'the v1 devices controller' if plan.mode == 'v1' else 'a cgroup2 program'})")
    if plan.mode == "v1":
        for key, value in plan.rules:
            _set_v1(cgroups, key, value)
        cgroups.devices = {"mode": "v1", "family": plan.family,
                           "dir": cgroups.hierarchy_for("devices").limit}
        return
    if plan.mode != "bpf":
        cgroups.devices = {"mode": "none"}
        return
    from . import devprog
    directory = cgroups.unified().limit
    try:
        prog = devprog.attach(directory, plan.devices)
    except devprog.DeviceProgramError as exc:
        if exc.not_permitted:
            # as v1 rules refused with EPERM: lxctools nested in a container
            log.warn(f"{exc.message} (continuing: {plan.family}.devices.* are not enforced; "
                     f"{exc.hint})")
            cgroups.devices = {"mode": "none"}
            return
        raise LimitError(exc.message, key=f"{plan.family}.{plan.rules[0][0]}",
                         hint=exc.hint) from None
    cgroups.devices = {"mode": "bpf", "family": plan.family, "dir": directory, "prog": prog,
                       "list": plan.devices.to_json()}


# the v1 file closest to a v2 one, for hints
V1_NAMES = {"memory.max": "memory.limit_in_bytes", "memory.high": "memory.soft_limit_in_bytes",
            "memory.swap.max": "memory.memsw.limit_in_bytes", "cpu.max": "cpu.cfs_quota_us",
            "cpu.weight": "cpu.shares", "io.max": "blkio.throttle.read_bps_device",
            "io.weight": "blkio.weight", "cpuset.cpus": "cpuset.cpus",
            "cpuset.mems": "cpuset.mems", "pids.max": "pids.max"}
V2_NAMES = {v: k for k, v in V1_NAMES.items()}


def v1_name(v2_key):
    return V1_NAMES.get(v2_key, v2_key)


def v2_name(v1_key):
    return V2_NAMES.get(v1_key, v1_key)


def _set_v1(cgroups, key, value):
    config_key = f"lxc.cgroup.{key}"
    controller = key.split(".", 1)[0]
    p = cgroups.hierarchy_for(controller)
    if cgroups.layout == "unified":
        raise LimitError(f"{config_key}: this host has only cgroup v2", key=config_key,
                         hint=f"use lxc.cgroup2.{v2_name(key)}")
    if p is None or p.h.version != 1 or not p.limit:
        have = sorted({c for q in cgroups.placed for c in q.h.controllers if q.h.version == 1})
        raise LimitError(f'{config_key}: no "{controller}" controller is mounted (or '
                         f"delegated) here", key=config_key,
                         hint="v1 controllers of this container: " + (" ".join(have) or "none"))
    is_device = key in ("devices.allow", "devices.deny")
    if is_device:
        value = device_value(value, key)
    targets = [p.limit]
    if controller == "cpuset" and p.payload != p.limit:
        targets.insert(0, p.payload)
    for directory in targets:
        try:
            _write_limit(os.path.join(directory, key), value, config_key)
        except LimitError as exc:
            if is_device and exc.errno in (errno.EPERM, errno.EACCES):
                log.warn(f"{exc.message} (continuing: device rules are advisory when nested)")
                continue
            raise


def _write_limit(path, value, config_key):
    from .files import hint_for_file, write
    try:
        write(path, value)
    except OSError as exc:
        err = LimitError(f"{config_key} = {value}: cannot write {path}: {os.strerror(exc.errno)}",
                         key=config_key, hint=hint_for_file(path, exc))
        err.errno = exc.errno
        raise err from None
