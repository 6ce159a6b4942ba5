"""Before a start: what init the guest has, and whether it can work on this host. Findings
are warnings with the reason and the fix; the start goes on (the user may know better)."""

import os
import re

from .rootpath import inside


def guest_init(root, argv):
    """(family, version) of the program that will run as PID 1: systemd, sysvinit, openrc,
    busybox or unknown; version only for systemd."""
    if not root or not argv:
        return "unknown", None
    program = inside(root, argv[0])
    target = os.path.realpath(program) if os.path.exists(program) else program
    relative = target[len(root):] if target.startswith(root) else target
    name = os.path.basename(relative)
    if "systemd" in relative:
        return "systemd", systemd_version(root)
    busybox = inside(root, "/bin/busybox")
    if name == "busybox" or (os.path.exists(busybox) and os.path.exists(target)
                             and os.path.samefile(busybox, target)):
        return "busybox", None  # LXC's template hard-links /sbin/init to busybox
    if name == "openrc-init" or os.path.exists(inside(root, "/sbin/openrc")):
        return "openrc", None
    if name == "init" and os.path.exists(inside(root, "/etc/inittab")):
        return "sysvinit", None
    return "unknown", None


def systemd_version(root):
    status = inside(root, "/var/lib/dpkg/status")
    try:
        with open(status, errors="replace") as handle:
            text = handle.read()
    except OSError:
        text = ""
    match = re.search(r"^Package: systemd\n(?:[^\n]+\n)*?Version: (\d+)", text, re.M)
    if match:
        return int(match.group(1))
    for lib in ("/usr/lib/systemd/libsystemd-shared-", "/lib/systemd/libsystemd-shared-"):
        directory = inside(root, os.path.dirname(lib))
        try:
            for entry in os.listdir(directory):
                found = re.match(r"libsystemd-shared-(\d+)", entry)
                if found:
                    return int(found.group(1))
        except OSError:
            continue
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
