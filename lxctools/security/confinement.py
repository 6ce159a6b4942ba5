"""What confines a privileged container, judged from its config before a start.

Root in a privileged container is the host's root, held back only by device rules (else it
can mknod the host's disks and read them, or read /dev/kmsg), a seccomp filter (else
open_by_handle_at opens host files past its root: the "Shocker" attack) and an LSM
(AppArmor's profile also stops it remounting cgroups to lift the device rules). LXC starts
such a container without a word; lxc-start warns, naming what is missing and the fix.
Pure: the host's LSM state is passed in (see `host_lsm`).
"""

import os

FIX = ("lxc.include = {common} (as the busybox template and images do), or "
       "lxctools.unconfined = 1 to run it so on purpose")


def missing(conf, lsm=None):
    """The confinements CONF lacks ([] for an unprivileged container, whose user namespace
    confines it, or when lxctools.unconfined = 1 says the user chose so). LSM: the host's
    enabled LSM ("apparmor", "selinux") or None, as `host_lsm` tells."""
    if conf.value("lxc.idmap") or conf.value("lxctools.unconfined") == "1":
        return []
    lacking = []
    # without a deny rule the devices cgroup allows everything: allow lines alone add nothing
    if not (conf.value("lxc.cgroup.devices.deny") or conf.value("lxc.cgroup2.devices.deny")):
        lacking.append("device rules")
    if not conf.value("lxc.seccomp.profile"):
        lacking.append("seccomp")
    if lsm == "apparmor" and (conf.value("lxc.apparmor.profile") or "") in ("unconfined",
                                                                          "unchanged"):
        lacking.append("AppArmor")
    return lacking


def warning(conf, lsm=None):
    """(message, fix) when CONF lacks device rules or seccomp, else None."""
    lacking = missing(conf, lsm)
    if not lacking:
        return None
    what = " and no ".join(lacking)
    harm = []
    if "device rules" in lacking:
        harm.append("mknod and read the host's disks")
    if "seccomp" in lacking:
        harm.append("open host files by handle")
    if "AppArmor" in lacking:
        harm.append("remount cgroups")
    from ..paths import template_config_dir

    return (f"privileged container with no {what}: its root can " + " and ".join(harm),
            FIX.format(common=os.path.join(template_config_dir(), "common.conf")))


def lsm_ignored(conf, lsm=None):
    """(message, fix) when CONF names an AppArmor profile this host cannot apply (no
    AppArmor: LXC then runs the container unconfined, saying so in its log only)."""
    profile = conf.value("lxc.apparmor.profile") or ""
    if lsm == "apparmor" or profile in ("", "unconfined", "unchanged"):
        return None
    return (f"lxc.apparmor.profile = {profile}: this host has no AppArmor, the container "
            "runs without it (as with LXC)",
            "boot with AppArmor (apparmor=1 security=apparmor), or remove the line")


def host_lsm(sys_root="/sys"):
    """The LSM confining containers on this host: "apparmor" when AppArmor is enabled,
    "selinux" when SELinux is, else None."""
    try:
        with open(os.path.join(sys_root, "module/apparmor/parameters/enabled")) as handle:
            if handle.read().strip() == "Y":
                return "apparmor"
    except OSError:
        pass
    if os.path.isdir(os.path.join(sys_root, "fs/selinux")):
        return "selinux"
    return None


SELINUX_KEYS = ("lxc.selinux.context", "lxc.selinux.context.keyring")


def refuse_selinux(conf):
    """lxctools applies no SELinux context: a config that asks for one is refused before the
    start, rather than run without the confinement it names (LXC applies it where SELinux is
    enabled). Raises LxcError naming the key."""
    from ..errors import LxcError

    for key in SELINUX_KEYS:
        value = conf.value(key)
        if value:
            raise LxcError(f"{key} = {value}: lxctools does not apply SELinux contexts, so "
                           "the container would not run in the one asked for", key=key,
                           hint=f"remove {key} to start it without (AppArmor keys and "
                                "seccomp are applied), or start it with LXC")
