"""The bpf(2) calls of cgroup device programs: load, attach (with BPF_F_ALLOW_MULTI and
BPF_F_REPLACE), detach, query what a cgroup has, and an fd of a program by its id.

`union bpf_attr` is built as bytes: each command reads only its own leading fields, and the
kernel wants every byte past them zero (it refuses a non-zero tail with E2BIG/EINVAL).
Programs are lists of `struct bpf_insn` already encoded (cgroups/devices.py makes
them); nothing here knows what a device rule is.
"""

import ctypes
import os
import struct

from .libc import _libc
from .syscalls import number as _nr  # per architecture

# commands (include/uapi/linux/bpf.h, enum bpf_cmd)
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # enum bpf_attach_type

BPF_F_ALLOW_OVERRIDE = 1
BPF_F_ALLOW_MULTI = 2
BPF_F_REPLACE = 4
BPF_F_QUERY_EFFECTIVE = 1


ATTR_SIZE = 128  # larger than every field used here; the kernel checks the tail is zero
LOG_SIZE = 1 << 16

_libc.syscall.restype = ctypes.c_long


class BpfError(OSError):
    """A bpf(2) call failed; for a refused program, .log holds the verifier's words."""

    def __init__(self, err, message, log=""):
        super().__init__(err, message)
        self.log = log


def _call(cmd, attr, what):
    try:
        nr = _nr("bpf")
    except OSError as exc:
        raise BpfError(exc.errno, f"{what}: {exc.strerror}") from None
    buf = ctypes.create_string_buffer(attr.ljust(ATTR_SIZE, b"\0"), ATTR_SIZE)
    result = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), buf,
                           ctypes.c_uint(ATTR_SIZE))
    if result < 0:
        err = ctypes.get_errno()
        raise BpfError(err, f"{what}: {os.strerror(err)}")
    return result, buf.raw


def _addr(buffer):
    return ctypes.addressof(buffer) if buffer is not None else 0


def prog_load(prog_type, insns, license="GPL", name=""):
    """Load the encoded instructions INSNS; returns the program's fd (close-on-exec, as every
    bpf fd). A refusal is loaded again with the verifier's log asked for, so the error
    says why (LXC asks for it only at trace level)."""
    code = ctypes.create_string_buffer(bytes(insns), len(insns))
    lic = ctypes.create_string_buffer(license.encode() + b"\0")

    def attempt(log):
        # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf, kern_version,
        # prog_flags, prog_name[16]
        attr = struct.pack("=IIQQIIQII16s", prog_type, len(insns) // 8, _addr(code), _addr(lic),
                           1 if log is not None else 0, LOG_SIZE if log is not None else 0,
                           _addr(log), 0, 0, name.encode()[:15])
        return _call(BPF_PROG_LOAD, attr, "load a BPF program")[0]

    try:
        return attempt(None)
    except BpfError as exc:
        if exc.errno not in (13, 22):  # EACCES, EINVAL: the verifier said no
            raise
        log = ctypes.create_string_buffer(LOG_SIZE)
        try:
            return attempt(log)
        except BpfError as again:
            again.log = log.value.decode(errors="replace").strip()
            raise


def prog_attach(cgroup_fd, prog_fd, attach_type, flags=0, replace_fd=None):
    """Attach PROG_FD to the cgroup CGROUP_FD; with REPLACE_FD (BPF_F_REPLACE) in place of
    that program, atomically."""
    if replace_fd is not None:
        flags |= BPF_F_REPLACE
    # target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd
    attr = struct.pack("=IIIII", cgroup_fd, prog_fd, attach_type, flags, replace_fd or 0)
    _call(BPF_PROG_ATTACH, attr, "attach a BPF program to a cgroup")


def prog_detach(cgroup_fd, prog_fd, attach_type):
    attr = struct.pack("=III", cgroup_fd, prog_fd, attach_type)
    _call(BPF_PROG_DETACH, attr, "detach a BPF program from a cgroup")


def prog_query(cgroup_fd, attach_type, effective=False, room=64):
    """(attach flags, [program ids]) of the programs attached to the cgroup itself, or with
    EFFECTIVE those that run for it (its ancestors' included)."""
    ids = (ctypes.c_uint32 * room)()
    # target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt
    attr = struct.pack("=IIIIQI", cgroup_fd, attach_type,
                       BPF_F_QUERY_EFFECTIVE if effective else 0, 0, _addr(ids), room)
    _, out = _call(BPF_PROG_QUERY, attr, "query the BPF programs of a cgroup")
    attach_flags, = struct.unpack_from("=I", out, 12)
    count, = struct.unpack_from("=I", out, 24)
    return attach_flags, list(ids[:min(count, room)])


def prog_fd_by_id(prog_id):
    attr = struct.pack("=I", prog_id)
    return _call(BPF_PROG_GET_FD_BY_ID, attr, f"open BPF program {prog_id}")[0]


def prog_info(prog_fd):
    """{"type", "id", "tag", "name"} of a loaded program (struct bpf_prog_info)."""
    info = ctypes.create_string_buffer(96)
    # bpf_fd, info_len, info
    attr = struct.pack("=IIQ", prog_fd, len(info), _addr(info))
    _call(BPF_OBJ_GET_INFO_BY_FD, attr, "read a BPF program's info")
    raw = info.raw
    prog_type, prog_id = struct.unpack_from("=II", raw, 0)
    tag = raw[8:16].hex()
    name = raw[64:80].split(b"\0", 1)[0].decode(errors="replace")
    return {"type": prog_type, "id": prog_id, "tag": tag, "name": name}
