"""lxc.cgroup.* (v1) and lxc.cgroup2.* (v2) limits, written before the container's init runs.

As LXC 5.0: v1 keys go to the hierarchy of their controller, in config order except that
`memory.memsw.limit_in_bytes` follows `memory.limit_in_bytes` (the kernel refuses a memsw limit
below the memory limit); a device rule the kernel refuses with EPERM/EACCES is a warning
(nested containers). Unlike LXC, which ignores v1 keys on a pure cgroup2 host and v2 keys on a
v1/hybrid host with a warning, a key this host cannot take is an error naming it with the
other spelling as the hint (a limit that silently does nothing is worse than a refused
start), and lxc.cgroup2.devices.* is refused where it cannot be enforced -- except as the
cgroup2 copy of a v1 device list given too (LXC's common.conf), which is skipped.
"""

import errno
import os
import stat

from ... import log
from ...errors import LxcError

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


def v2_device_copy_ignored(conf, layout):
    """True when the config's lxc.cgroup2.devices.* lines are the cgroup2 copy of a device
    list it also gives for v1, on a host whose devices controller is v1: LXC's common.conf
    (which containers made by real LXC include) carries both lists; the v1 one is enforced
    and the copy skipped. A cgroup2 list alone is still refused (it would protect nothing)."""
    return layout != "unified" and any(k.startswith("devices.") for k, _v in v1_settings(conf))


def check(conf, layout):
    """What can be refused before anything is made (no cgroup needed)."""
    v2 = v2_settings(conf)
    devices = [k for k, _v in v2 if k.startswith("devices.")]
    if devices and v2_device_copy_ignored(conf, layout):
        log.info("lxc.cgroup2.devices.* skipped: the lxc.cgroup.devices.* list is enforced "
                 "(this host's devices controller is cgroup v1)")
        devices = []
    if devices:
        if layout != "unified":
            raise LimitError(
                f"lxc.cgroup2.{devices[0]}: this host's cgroup2 hierarchy has no controllers "
                f"({layout} layout), so a device rule there cannot be enforced",
                key=f"lxc.cgroup2.{devices[0]}",
                hint="use lxc.cgroup.devices.allow/deny (cgroup v1) on this host")
        raise LimitError(
            f"lxc.cgroup2.{devices[0]}: cgroup2 device rules need a BPF device program, which "
            "lxctools does not implement", key=f"lxc.cgroup2.{devices[0]}",
            hint="remove the lxc.cgroup2.devices.* lines (or run this container with LXC)")


def apply(cgroups, conf, devices=True, others=True):
    check(conf, cgroups.layout)
    for key, value in v1_settings(conf):
        if (key.startswith("devices.") and devices) or (not key.startswith("devices.") and others):
            _set_v1(cgroups, key, value)
    if not others:
        return
    unified = cgroups.unified()
    skip_devices = v2_device_copy_ignored(conf, cgroups.layout)
    for key, value in v2_settings(conf):
        if skip_devices and key.startswith("devices."):
            continue
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
    from .core import _hint_for_file, _write
    try:
        _write(path, value)
    except OSError as exc:
        err = LimitError(f"{config_key} = {value}: cannot write {path}: {os.strerror(exc.errno)}",
                         key=config_key, hint=_hint_for_file(path, exc))
        err.errno = exc.errno
        raise err from None
