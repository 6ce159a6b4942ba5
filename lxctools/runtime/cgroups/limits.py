"""lxc.cgroup.* (v1) and lxc.cgroup2.* (v2) limits, written before the container's init runs.

As LXC 5.0: v1 keys go to the hierarchy of their controller, in config order except that
`memory.memsw.limit_in_bytes` follows `memory.limit_in_bytes` (the kernel refuses a memsw limit
below the memory limit); a device rule the kernel refuses with EPERM/EACCES is a warning
(nested containers); v1 keys on a pure cgroup2 host and v2 keys on a v1/hybrid host are ignored
with a warning. Unlike LXC, lxc.cgroup2.devices.* is refused where it cannot be enforced:
ignoring a device restriction silently would leave the container with every device.
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


def check(conf, layout):
    """What can be refused before anything is made (no cgroup needed)."""
    v2 = v2_settings(conf)
    devices = [k for k, _v in v2 if k.startswith("devices.")]
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


def apply(cgroups, conf):
    check(conf, cgroups.layout)
    v1 = v1_settings(conf)
    v2 = v2_settings(conf)
    if v1 and cgroups.layout == "unified":
        log.warn("Ignoring legacy cgroup limits on pure cgroup2 system (lxc.cgroup.*; "
                 "use lxc.cgroup2.*)")
        v1 = []
    if v2 and cgroups.layout != "unified":
        log.warn("Ignoring cgroup2 limits on legacy cgroup system (lxc.cgroup2.*; "
                 "use lxc.cgroup.*)")
        v2 = []
    for key, value in v1:
        _set_v1(cgroups, key, value)
    unified = cgroups.unified()
    for key, value in v2:
        if unified is None or not unified.limit:
            raise LimitError(f"lxc.cgroup2.{key}: the container has no cgroup2 cgroup",
                             key=f"lxc.cgroup2.{key}", hint="is cgroup2 delegated to this user?")
        _write_limit(os.path.join(unified.limit, key), value, f"lxc.cgroup2.{key}")


def _set_v1(cgroups, key, value):
    config_key = f"lxc.cgroup.{key}"
    controller = key.split(".", 1)[0]
    p = cgroups.hierarchy_for(controller)
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
