"""Checks made before anything is cloned, so that the common mistakes are one clear line in
the caller's terminal instead of a dead container: the rootfs exists, the command to run
exists inside it, is executable and is built for this machine."""

import os
import platform

from ..errors import LxcError
from .rootpath import inside

# ELF e_machine values for the architectures a host may run
ELF_MACHINES = {"x86_64": 62, "i686": 3, "i386": 3, "aarch64": 183, "armv7l": 40, "armv6l": 40,
                "ppc64le": 21, "s390x": 22, "riscv64": 243, "mips64": 8, "loongarch64": 258}
ELF_NAMES = {3: "i386", 8: "mips", 21: "ppc64", 22: "s390x", 40: "arm", 62: "x86_64",
             183: "aarch64", 243: "riscv64", 258: "loongarch64"}
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PreflightError(LxcError):
    """The container cannot start as configured."""


def rootfs_dir(spec):
    """The directory to look into for SPEC (lxc.rootfs.path), or None when we cannot tell
    without mounting it (block devices, images)."""
    if not spec:
        return None
    kind, sep, rest = spec.partition(":")
    if not sep or kind.startswith("/"):
        return spec
    if kind == "dir":
        return rest
    if kind in ("overlay", "overlayfs"):
        return None  # lower and upper are merged only when mounted
    return None


def overlay_view(spec):
    """For an overlay rootfs, the lower layer (where a guest's init normally lives)."""
    kind, sep, rest = spec.partition(":")
    if kind in ("overlay", "overlayfs") and sep:
        lower = rest.rpartition(":")[0].split(":")[0]
        return lower if os.path.isdir(lower) else None
    return None


def check(conf, argv, *, execute=False):
    spec = conf.value("lxc.rootfs.path") or ""
    root = rootfs_dir(spec)
    if spec and root is not None and not os.path.isdir(root):
        raise PreflightError(f"rootfs {root} does not exist", key="lxc.rootfs.path",
                             hint="create the container with lxc-create, or fix lxc.rootfs.path")
    if execute or root is None or not argv:
        return  # lxc-execute's command may come from a mount entry; others: cannot look
    program = argv[0]
    found = find_inside(root, program)
    if found is None:
        raise PreflightError(f"{program}: not found in the container's rootfs ({root})",
                             key="lxc.init.cmd",
                             hint="install an init in the rootfs, or start a command: "
                                  "lxc-start -n NAME -- /bin/sh")
    if not os.access(found, os.X_OK):
        raise PreflightError(f"{program}: not executable in the container's rootfs",
                             key="lxc.init.cmd", hint=f"chmod +x {found}")
    check_architecture(program, found, conf)


def find_inside(root, program):
    candidates = [program] if "/" in program else [
        os.path.join(d, program) for d in SEARCH_PATH.split(":")]
    for candidate in candidates:
        path = inside(root, candidate)
        if os.path.isfile(path):
            return path
    return None


def check_architecture(program, path, conf):
    try:
        with open(path, "rb") as handle:
            head = handle.read(20)
    except OSError:
        return
    if head[:2] == b"#!":
        return  # a script: its interpreter is the kernel's business
    if head[:4] != b"\x7fELF" or len(head) < 20:
        return
    little = head[5] == 1
    machine = int.from_bytes(head[18:20], "little" if little else "big")
    host = platform.machine()
    wanted = ELF_MACHINES.get(host)
    compatible = {wanted}
    if host == "x86_64":
        compatible.add(3)  # i386 binaries run on x86_64 kernels
    if host == "aarch64":
        compatible.add(40)
    if wanted is not None and machine not in compatible:
        raise PreflightError(
            f"{program} is built for {ELF_NAMES.get(machine, f'machine {machine}')}, "
            f"this host is {host}", key="lxc.init.cmd",
            hint="use a rootfs for this architecture (lxc-create -t download -- -a "
                 f"{'amd64' if host == 'x86_64' else host})")
