"""Before a start: what init the guest has, and whether it can work on this host. Findings
are warnings with the reason and the fix; the start goes on (the user may know better).

The rootfs is the container's: every look into it goes through kernel/rootpath.py (openat2
RESOLVE_IN_ROOT), files are read only when fstat says they are regular."""

import os
import re
import stat

from ..kernel import rootpath


def guest_init(root, argv):
    """(family, version) of the program that will run as PID 1: systemd, sysvinit, openrc,
    busybox or unknown; version only for systemd."""
    if not root or not argv:
        return "unknown", None
    try:
        top = rootpath.Root(root)
    except OSError:
        return "unknown", None
    with top:
        return _guest_init(top, argv[0])


def _guest_init(top, program):
    try:
        fd = top.open(program)
    except OSError:
        fd = None
    try:
        # where the links inside the guest lead (/sbin/init -> /lib/systemd/systemd)
        relative = (rootpath.path_in_root(top.fd, fd) if fd is not None else None) or program
        name = os.path.basename(relative)
        if "systemd" in relative:
            return "systemd", systemd_version(top)
        if name == "busybox" or (fd is not None and _same_file(top, "/bin/busybox", fd)):
            return "busybox", None  # LXC's template hard-links /sbin/init to busybox
    finally:
        if fd is not None:
            os.close(fd)
    if name == "openrc-init" or top.exists("/sbin/openrc"):
        return "openrc", None
    if name == "init" and top.exists("/etc/inittab"):
        return "sysvinit", None
    return "unknown", None


def _same_file(top, path, fd):
    try:
        other = top.open(path)
    except OSError:
        return False
    try:
        a, b = os.fstat(other), os.fstat(fd)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) and stat.S_ISREG(a.st_mode)
    finally:
        os.close(other)


def systemd_version(root):
    """ROOT: a path or rootpath.Root."""
    data = rootpath.read_regular(root, "/var/lib/dpkg/status")
    text = (data or b"").decode("utf-8", "replace")
    match = re.search(r"^Package: systemd\n(?:[^\n]+\n)*?Version: (\d+)", text, re.M)
    if match:
        return int(match.group(1))
    for lib in ("/usr/lib/systemd", "/lib/systemd"):
        try:
            fd = rootpath.open_in_root(root, lib, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            for entry in os.listdir(fd):
                found = re.match(r"libsystemd-shared-(\d+)", entry)
                if found:
                    return int(found.group(1))
        finally:
            os.close(fd)
    return None


def host_cgroup_mode():
    with open("/proc/self/mounts") as handle:
        mounts = handle.read()
    if " /sys/fs/cgroup cgroup2 " in mounts:
        return "v2"
    return "hybrid" if " cgroup2 " in mounts else "v1"


def named_systemd_mounted():
    with open("/proc/self/mountinfo") as handle:
        return any(" cgroup " in line and "name=systemd" in line.split(" - ", 1)[-1]
                   for line in handle)


def warnings(conf, argv, root):
    family, version = guest_init(root, argv)
    found = []
    if family == "systemd":
        drop = conf.value("lxc.cap.drop") or []
        keep = conf.value("lxc.cap.keep")
        no_admin = "sys_admin" in drop or (keep is not None and conf.has("lxc.cap.keep")
                                           and "sys_admin" not in keep)
        auto = conf.value("lxc.mount.auto") or ""
        if no_admin and "cgroup" not in auto:
            found.append(("systemd cannot mount its cgroups: CAP_SYS_ADMIN is dropped and "
                          "lxc.mount.auto has no cgroup entry",
                          "add cgroup:mixed to lxc.mount.auto, or keep sys_admin"))
        if "proc" not in auto:
            found.append(("systemd needs /proc: lxc.mount.auto has no proc entry",
                          "add proc:mixed to lxc.mount.auto"))
        mode = host_cgroup_mode()
        if mode == "v2" and version is not None and version < 230:
            found.append((f"systemd {version} predates cgroup v2 support (230); this host "
                          "has only cgroup v2", "boot the host with "
                          "systemd.unified_cgroup_hierarchy=0, or use a newer guest"))
        if mode != "v2" and os.geteuid() != 0 and not named_systemd_mounted():
            # root gets one made for the container (cgroups/systemd_v1.py)
            found.append(("systemd needs a name=systemd cgroup hierarchy and this host has none",
                          "as root: mount -t cgroup -o none,name=systemd cgroup "
                          "/sys/fs/cgroup/systemd"))
    if family == "sysvinit" and not (conf.value("lxc.signal.halt")):
        pass  # lxc-stop asks sysvinit over initctl: nothing to warn about
    return family, version, found
