"""kernel/syscalls.py: the numbers of the calls made through syscall(2), per architecture,
checked against the kernel's headers and libseccomp's resolver (issue 20, item 5)."""

import ast
import errno
import glob
import os
import re

import pytest

from lxctools.kernel import syscalls

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "lxctools")

# libseccomp's name of each architecture of the table (loongarch64 is newer than
# libseccomp 2.5: its column is checked against asm-generic alone)
SECCOMP_ARCH = {"x86_64": "X86_64", "i386": "X86", "aarch64": "AARCH64", "arm": "ARM",
                "ppc64le": "PPC64LE", "ppc64": "PPC64", "s390x": "S390X",
                "riscv64": "RISCV64", "mips64": "MIPS64"}


def header_numbers(path):
    """{name: number} of a unistd header's `#define __NR_name N` lines; asm-generic's
    `__NR3264_name` form (the 64-bit name of a call with two widths) is not among ours."""
    found = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"#define\s+__NR_(\w+)\s+(\d+)\s*$", line)
            if match:
                found[match.group(1)] = int(match.group(2))
    return found


def one_header(pattern):
    found = sorted(glob.glob(pattern))
    assert found, f"no {pattern}: install linux-libc-dev (gcc's libc6-dev brings it)"
    return found[0]


@pytest.mark.parametrize("arch", sorted(SECCOMP_ARCH))
def test_every_column_is_libseccomps(arch):
    import pyseccomp

    wanted = getattr(pyseccomp.Arch, SECCOMP_ARCH[arch])
    assert syscalls.table(arch) == {name: pyseccomp.resolve_syscall(wanted, name)
                                    for name in syscalls.NAMES}


@pytest.mark.parametrize("arch, header", [
    ("x86_64", "/usr/include/*/asm/unistd_64.h"),
    ("i386", "/usr/include/*/asm/unistd_32.h"),
    # aarch64, riscv64 and loongarch64 use the kernel's generic table
    ("aarch64", "/usr/include/asm-generic/unistd.h"),
    ("riscv64", "/usr/include/asm-generic/unistd.h"),
    ("loongarch64", "/usr/include/asm-generic/unistd.h"),
])
def test_columns_match_the_kernel_headers(arch, header):
    numbers = header_numbers(one_header(header))
    assert syscalls.table(arch) == {name: numbers[name] for name in syscalls.NAMES}


def test_this_machine_has_a_column_and_it_is_the_kernels():
    """The numbers this process uses are those of the headers it was built against."""
    assert syscalls.ARCH is not None
    assert os.uname().machine == "x86_64", "the header check below is written for x86_64 CI"
    numbers = header_numbers(one_header("/usr/include/*/asm/unistd_64.h"))
    for name in syscalls.NAMES:
        assert syscalls.number(name) == numbers[name], name


@pytest.mark.parametrize("machine, bits, arch", [
    ("x86_64", 64, "x86_64"), ("x86_64", 32, "i386"), ("i686", 32, "i386"),
    ("aarch64", 64, "aarch64"), ("aarch64", 32, "arm"), ("armv7l", 32, "arm"),
    ("ppc64le", 64, "ppc64le"), ("s390x", 64, "s390x"), ("riscv64", 64, "riscv64"),
    ("sparc64", 64, None),
])
def test_architecture_follows_the_process_not_only_the_kernel(machine, bits, arch):
    assert syscalls.architecture(machine, bits) == arch


def test_an_unknown_architecture_fails_at_the_call_naming_the_table(monkeypatch):
    monkeypatch.setattr(syscalls, "_NATIVE", {})
    with pytest.raises(OSError) as info:
        syscalls.number("pivot_root")
    assert info.value.errno == errno.ENOSYS
    assert "lxctools/kernel/syscalls.py" in str(info.value)


def test_no_syscall_number_is_written_elsewhere():
    """Every syscall(2) call in lxctools takes its number from the table, not a literal or a
    module's own constant (how x86_64's numbers once ended up used on every machine)."""
    offenders = []
    for path in glob.glob(os.path.join(ROOT, "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "syscall" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Call) and getattr(first.func, "id", None) == "c_long" \
                        or isinstance(first, ast.Call) and getattr(first.func, "attr", None) == "c_long":
                    first = first.args[0]
                # `_nr`: kernel/ imports syscalls.number under that name everywhere (a
                # module's own `number` may be something else: caps.number is a capability's)
                uses_table = isinstance(first, ast.Call) and getattr(first.func, "id", "") == "_nr"
                if not uses_table and not (isinstance(first, ast.Name) and first.id == "nr"):
                    offenders.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_each_wrapper_reaches_its_call():
    """Each call made by number, made here for real: a wrong number fails (EBADF, EINVAL,
    ENOSYS) or does something else entirely."""
    from lxctools.kernel import caps, libc, openat2

    pidfd = libc.pidfd_open(os.getpid())
    try:
        libc.pidfd_send_signal(pidfd, 0)  # signal 0: the check only
    finally:
        os.close(pidfd)
    effective, permitted, inheritable = caps.get_sets()
    caps.set_sets(effective, permitted, inheritable)  # the same sets: a no-op that must succeed
    assert caps.get_sets() == (effective, permitted, inheritable)
    fd = openat2.openat2(-100, "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        assert os.path.samestat(os.fstat(fd), os.stat("/"))
    finally:
        os.close(fd)
    os.close(libc.open_tree("/proc"))  # a detached copy of the mount, never attached
