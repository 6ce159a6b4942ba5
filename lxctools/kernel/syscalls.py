"""The numbers of the system calls lxctools makes by number, per architecture.

glibc has no wrapper for pivot_root, pidfd_open, open_tree, openat2, clone3 and the like (or the
Python in use predates it), so kernel/ calls them through syscall(2), and a syscall's number
depends on the architecture: pivot_root is 155 on x86_64, 41 on aarch64, 217 on s390x. The
table is per architecture rather than resolved through libseccomp at run time so that
attach, start and the cgroup device program work without loading libseccomp (only an
lxc.seccomp profile needs it).
tests/unit/test_syscalls.py checks every entry against libseccomp's resolver and the kernel
headers (asm/unistd_64.h for x86_64, asm-generic/unistd.h for aarch64 and the other
architectures that use the generic table).

The calls added since Linux 5.1 (pidfd_*, open_tree, move_mount, clone3, openat2) have one number
on every architecture but MIPS (offset by its ABI's base): the kernel unified them.
"""

import os
import sys

# names in the order of the columns below
NAMES = ("pivot_root", "setns", "capget", "capset", "bpf",
         "pidfd_send_signal", "open_tree", "move_mount", "pidfd_open", "clone3", "openat2")

_TABLE = {
    #             pivot_root setns capget capset  bpf  pidfd_ss open_tree move_mount pidfd_open clone3     openat2
    "x86_64":      (155,     308,  125,   126,    321, 424,     428,      429,       434,       435,       437),
    "i386":        (217,     346,  184,   185,    357, 424,     428,      429,       434,       435,       437),
    "aarch64":     (41,      268,  90,    91,     280, 424,     428,      429,       434,       435,       437),
    "arm":         (218,     375,  184,   185,    386, 424,     428,      429,       434,       435,       437),
    "ppc64le":     (203,     350,  183,   184,    361, 424,     428,      429,       434,       435,       437),
    "ppc64":       (203,     350,  183,   184,    361, 424,     428,      429,       434,       435,       437),
    "s390x":       (217,     339,  184,   185,    351, 424,     428,      429,       434,       435,       437),
    "riscv64":     (41,      268,  90,    91,     280, 424,     428,      429,       434,       435,       437),
    "loongarch64": (41,      268,  90,    91,     280, 424,     428,      429,       434,       435,       437),
    "mips64":      (5151,    5303, 5123,  5124,   5315, 5424,   5428,     5429,      5434,      5435,      5437),
}

# os.uname().machine -> the table's name, for a process of the machine's own word size
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "i386": "i386", "i486": "i386",
             "i586": "i386", "i686": "i386", "aarch64": "aarch64", "arm64": "aarch64",
             "armv6l": "arm", "armv7l": "arm", "armv8l": "arm", "ppc64le": "ppc64le",
             "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
             "loongarch64": "loongarch64", "mips64": "mips64"}
# a 32-bit process on a 64-bit kernel (uname says the kernel's machine) makes the 32-bit
# architecture's calls
_COMPAT = {"x86_64": "i386", "aarch64": "arm"}


def architecture(machine=None, pointer_bits=None):
    """The table's name for this process's system calls; None when it has no column."""
    machine = machine or os.uname().machine
    if pointer_bits is None:
        pointer_bits = 64 if sys.maxsize > 2 ** 32 else 32
    arch = _MACHINES.get(machine)
    if arch is not None and pointer_bits == 32:
        arch = _COMPAT.get(arch, arch)
    return arch


def table(arch):
    """{syscall name: number} of ARCH (a key of the table); KeyError when unknown."""
    return dict(zip(NAMES, _TABLE[arch]))


ARCH = architecture()
_NATIVE = table(ARCH) if ARCH in _TABLE else {}


def number(name):
    """NAME's number on this machine. On an architecture the table lacks, an OSError
    (ENOSYS) that names the way out, raised when the call is made, not at import."""
    try:
        return _NATIVE[name]
    except KeyError:
        raise OSError(38, f"{name}: lxctools has no system call numbers for "
                          f"{os.uname().machine} (add its column to lxctools/kernel/syscalls.py)") from None
