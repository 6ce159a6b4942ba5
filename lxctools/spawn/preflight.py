"""Checks made before anything is cloned, so that the common mistakes are one clear line in
the caller's terminal instead of a dead container: the rootfs exists, the command to run
exists inside it, is executable and is built for this machine.

The rootfs is the container's: the program is looked up with openat2 RESOLVE_IN_ROOT
(kernel/rootpath.py), checked with fstat, and read only when it is a regular file."""

import os
import stat

from ..errors import LxcError
from ..kernel import rootpath

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
        if not os.path.isdir(spec) and _is_image(spec):
            return None  # a bare image file or block device: mounted through a loop, as LXC
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


def _is_image(path):
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISBLK(mode)


def check(conf, argv, *, execute=False):
    spec = conf.value("lxc.rootfs.path") or ""
    root = rootfs_dir(spec)
    if spec and root is not None and not os.path.isdir(root):
        if os.path.lexists(root):
            what = "a regular file" if os.path.isfile(root) else "not a directory"
            raise PreflightError(f"rootfs {root} is {what}", key="lxc.rootfs.path",
                                 hint=f"a dir: rootfs is a directory; for an image file write "
                                      f"lxc.rootfs.path = loop:{root}")
        raise PreflightError(f"rootfs {root} does not exist", key="lxc.rootfs.path",
                             hint="create the container with lxc-create, or fix lxc.rootfs.path")
    check_console(conf)
    check_ptys(conf)
    check_fstab(conf)
    if execute or root is None or not argv:
        return  # lxc-execute's command may come from a mount entry; others: cannot look
    program = argv[0]
    found = find_inside(root, program)
    if found is None:
        raise PreflightError(f"{program}: not found in the container's rootfs ({root})",
                             key="lxc.init.cmd",
                             hint="install an init in the rootfs, or start a command: "
                                  "lxc-start -n NAME -- /bin/sh")
    where, st, head = found
    if not st.st_mode & 0o111:
        raise PreflightError(f"{program}: not executable in the container's rootfs",
                             key="lxc.init.cmd",
                             hint=f"chmod +x {os.path.join(root, where.lstrip('/'))}")
    check_architecture(program, head, conf)


def check_console(conf):
    """lxc.console.path names a host file or terminal that the console is opened on: LXC
    fails its start when it cannot be opened (a missing directory), so do we, first."""
    path = conf.value("lxc.console.path") or ""
    if not path or path == "none":
        return
    if not os.path.isabs(path):
        raise PreflightError(f"lxc.console.path {path} is not an absolute path",
                             key="lxc.console.path", hint='an absolute host path, or "none"')
    if os.path.isdir(path):
        raise PreflightError(f"lxc.console.path {path} is a directory", key="lxc.console.path",
                             hint='name a file or terminal in it, or "none"')
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise PreflightError(f"lxc.console.path {path}: directory {parent} does not exist",
                             key="lxc.console.path",
                             hint=f'create it (mkdir -p {parent}) or set lxc.console.path = none')


def check_ptys(conf):
    """The devpts instance holds lxc.pty.max + lxc.tty.max ptys: above the kernel's limit
    the mount fails (each key alone was checked when the config was read)."""
    from ..config.values import PTY_LIMIT

    total = int(conf.value("lxc.pty.max") or 0) + int(conf.value("lxc.tty.max") or 0)
    if total > PTY_LIMIT:
        raise PreflightError(f"lxc.pty.max + lxc.tty.max = {total} ptys, more than the "
                             f"kernel's devpts allows ({PTY_LIMIT})", key="lxc.pty.max",
                             hint="e.g. lxc.pty.max = 1024")


def check_fstab(conf):
    """lxc.mount.fstab: readable, and each line's options as lxc.mount.entry's are checked
    when the config is read, so a bad line names the fstab's file and line."""
    from ..config.parser import NotAFile, read_text
    from ..config.values import BadValue, mount_options

    path = conf.value("lxc.mount.fstab")
    if not path:
        return
    try:
        text = read_text(path)
    except NotAFile as exc:
        raise PreflightError(f"lxc.mount.fstab {path} {exc}", key="lxc.mount.fstab",
                             hint="an fstab is a regular text file") from None
    except OSError as exc:
        raise PreflightError(f"cannot read lxc.mount.fstab {path}: {exc.strerror}",
                             key="lxc.mount.fstab", hint="fix the path, or remove the key") from None
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        problem = hint = None
        if "\0" in line:
            problem = "a NUL byte in the line"
        elif len(fields) < 3:
            problem = f'expected "SOURCE TARGET FSTYPE [OPTIONS [DUMP [PASS]]]", got "{line.strip()}"'
        elif len(fields) > 3:
            try:
                mount_options(fields[3])
            except BadValue as exc:
                problem, hint = str(exc), exc.hint
        if problem:
            raise PreflightError(f"lxc.mount.fstab: {problem}", path=path, line=number,
                                 key="lxc.mount.fstab", hint=hint)


def find_inside(root, program):
    """(path inside the rootfs, stat, first 20 bytes) of the regular file PROGRAM names
    there (searched in PATH when it has no "/"), or None."""
    candidates = [program] if "/" in program else [
        os.path.join(d, program) for d in SEARCH_PATH.split(":")]
    with rootpath.Root(root) as top:
        for candidate in candidates:
            try:
                fd = top.open(candidate)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    continue
                where = rootpath.path_in_root(top.fd, fd) or candidate
                try:
                    data = rootpath.reopen(fd, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
                    try:
                        head = os.read(data, 20)
                    finally:
                        os.close(data)
                except OSError:
                    head = b""
                return where, st, head
            finally:
                os.close(fd)
    return None


def check_architecture(program, head, conf):
    if head[:2] == b"#!":
        return  # a script: its interpreter is the kernel's business
    if head[:4] != b"\x7fELF" or len(head) < 20:
        return
    little = head[5] == 1
    machine = int.from_bytes(head[18:20], "little" if little else "big")
    host = os.uname().machine  # platform.machine(), without importing platform (2 ms)
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
