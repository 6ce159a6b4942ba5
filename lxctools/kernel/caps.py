"""Capabilities through ctypes: names, the bounding set, capget/capset, ambient caps."""

import ctypes

from . import libc
from .syscalls import number as _nr  # per architecture

# capability(7) numbers, names as LXC spells them in lxc.cap.drop/keep (lowercase, no CAP_)
NAMES = ["chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
         "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
         "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
         "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
         "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
         "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
         "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"]
NUMBERS = {name: number for number, name in enumerate(NAMES)}

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def number(name):
    """A capability's number from its name (sys_admin, CAP_SYS_ADMIN) or digits; None if unknown."""
    name = name.strip().lower()
    if name.startswith("cap_"):
        name = name[4:]
    if name.isdigit():
        return int(name)
    return NUMBERS.get(name)


def last_cap():
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return len(NAMES) - 1


def drop_bounding(cap):
    libc.prctl(libc.PR_CAPBSET_DROP, cap)


def in_bounding(cap):
    return libc.prctl(libc.PR_CAPBSET_READ, cap) == 1


def clear_ambient():
    try:
        libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass  # kernels before 4.3 have no ambient set


def raise_ambient(cap):
    libc.prctl(libc.PR_CAP_AMBIENT, 2, cap)  # PR_CAP_AMBIENT_RAISE


def get_sets(pid=0):
    """(effective, permitted, inheritable) of PID (0 = this thread) as integers."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_Data * 2)()
    libc._check(libc._libc.syscall(_nr("capget"), ctypes.byref(header), data), "capget")
    return tuple(getattr(data[0], f) | (getattr(data[1], f) << 32)
                 for f in ("effective", "permitted", "inheritable"))


def set_sets(effective, permitted, inheritable):
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    libc._check(libc._libc.syscall(_nr("capset"), ctypes.byref(header), data), "capset")
