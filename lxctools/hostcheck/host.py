"""Small readers of host facts shared by LXC's checks and ours: mounts, modules, programs."""

import os
import re
import shutil
import stat
import struct
from dataclasses import dataclass

_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(field):
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


@dataclass
class Mount:
    source: str
    target: str
    fstype: str
    options: tuple


def mounts(roots):
    out = []
    try:
        with open(roots.in_proc("self", "mounts"), encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) < 4 or fields[0].startswith("#"):
                    continue
                out.append(Mount(fields[0], _unescape(fields[1]), fields[2],
                                 tuple(fields[3].split(","))))
    except OSError:
        pass
    return out


def cgroup_mounts(roots, fstype):
    return [m for m in mounts(roots) if m.fstype == fstype]


def v1_controllers(mount):
    """Controllers of a v1 hierarchy, named as /proc/self/cgroup names them."""
    known = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
             "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc", "debug")
    return [o for o in mount.options if o in known or o.startswith("name=")]


def loaded_modules(roots):
    """Names in /proc/modules, or None when the kernel has no module support (no file)."""
    path = roots.in_proc("modules")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return {line.split()[0].replace("-", "_") for line in handle if line.strip()}
    except OSError:
        return set()


def find_program(name, roots, explicit=None):
    """EXPLICIT if given (None when it does not exist), else a PATH search."""
    if explicit:
        return explicit if os.path.exists(explicit) else None
    return shutil.which(name, path=roots.search_path())


def is_setuid_root(path):
    try:
        st = os.stat(path)
    except OSError:
        return False
    return bool(st.st_mode & stat.S_ISUID) and st.st_uid == 0


def read_text(path, default=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return default


def is_static_elf(path):
    """True for an ELF without a PT_INTERP segment (statically linked), None if not ELF."""
    try:
        with open(path, "rb") as handle:
            ident = handle.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF":
                return None
            bits64 = ident[4] == 2
            order = "<" if ident[5] == 1 else ">"
            if bits64:
                phoff, = struct.unpack_from(order + "Q", ident, 32)
                phentsize, phnum = struct.unpack_from(order + "HH", ident, 54)
            else:
                phoff, = struct.unpack_from(order + "I", ident, 28)
                phentsize, phnum = struct.unpack_from(order + "HH", ident, 42)
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
    except (OSError, struct.error):
        return None
    for i in range(phnum):
        p_type, = struct.unpack_from(order + "I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP: needs a dynamic loader
            return False
    return True


def writable_by(path, user):
    """Whether USER may write to PATH, judged from its mode bits (so tests can pose as a user)."""
    if user.is_root:
        return os.path.exists(path)
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_uid == user.uid:
        return bool(st.st_mode & stat.S_IWUSR)
    if st.st_gid == user.gid or st.st_gid in user.groups:
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)


def pid1_is_systemd(roots):
    comm = (read_text(roots.in_proc("1", "comm"), "") or "").strip()
    return comm == "systemd"
