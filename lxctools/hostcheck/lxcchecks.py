"""LXC's own checks, in its order and with its labels (lxc-behaviour.md section 7).

Deliberate differences, all invisible on a normal kernel config: options are matched as whole
`CONFIG_X=y|m` lines (LXC greps for a substring, so a string value mentioning one counts),
and a module counts as loaded only when /proc/modules lists that very name.
"""

import os

from . import ENABLED, LIST, MISSING, NOTE, REQUIRED, Section
from . import host


def _verdict(config, option, mandatory):
    if config.is_set(option):
        return ENABLED
    return REQUIRED if mandatory else MISSING


def _option(section, config, label, option, *, mandatory=False, module=None, modules=None):
    state = _verdict(config, option, mandatory)
    value = None
    # LXC reports the module only for enabled options and only when /proc/modules exists.
    if module and state == ENABLED and modules is not None:
        value = "loaded" if module.replace("-", "_") in modules else "not loaded"
    return section.add(label, state, value=value, required=mandatory, option=option)


def _uidmap_notes(section, roots):
    for tool in ("newuidmap", "newgidmap"):
        explicit = roots.newuidmap if tool == "newuidmap" else roots.newgidmap
        path = host.find_program(tool, roots, explicit)
        if path is None:
            section.add(tool, NOTE, value="not installed", text=f"{tool} is not installed",
                        fix="apt-get install uidmap")
        elif not host.is_setuid_root(path):
            section.add(tool, NOTE, value="not setuid-root",
                        text=f"Warning: {tool} is not setuid-root", fix=f"chmod u+s {path}")


def namespaces(config, roots):
    s = Section("Namespaces")
    _option(s, config, "Namespaces", "CONFIG_NAMESPACES", mandatory=True)
    _option(s, config, "Utsname namespace", "CONFIG_UTS_NS")
    _option(s, config, "Ipc namespace", "CONFIG_IPC_NS", mandatory=True)
    _option(s, config, "Pid namespace", "CONFIG_PID_NS", mandatory=True)
    _option(s, config, "User namespace", "CONFIG_USER_NS")
    if config.is_set("CONFIG_USER_NS"):
        _uidmap_notes(s, roots)
    _option(s, config, "Network namespace", "CONFIG_NET_NS")
    if not config.at_least(4, 7):
        _option(s, config, "Multiple /dev/pts instances", "CONFIG_DEVPTS_MULTIPLE_INSTANCES")
    return s


def control_groups(config, roots):
    s = Section("Control groups")
    _option(s, config, "Cgroups", "CONFIG_CGROUPS")
    has_ns = os.path.exists(roots.in_proc("self", "ns", "cgroup"))
    s.add("Cgroup namespace", ENABLED if has_ns else MISSING)
    v1 = [m.target for m in host.cgroup_mounts(roots, "cgroup")]
    v2 = [m.target for m in host.cgroup_mounts(roots, "cgroup2")]
    s.add("Cgroup v1 mount points", LIST, items=v1)
    s.add("Cgroup v2 mount points", LIST, items=v2)
    if v2 != ["/sys/fs/cgroup"]:
        if not any("/systemd" in m for m in v1):
            s.add("Cgroup v1 systemd controller", MISSING, required=True,
                  fix="mkdir -p /sys/fs/cgroup/systemd && "
                      "mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd")
        if not any("/freezer" in m for m in v1):
            s.add("Cgroup v1 freezer controller", MISSING, required=True,
                  fix="mkdir -p /sys/fs/cgroup/freezer && "
                      "mount -t cgroup -o freezer cgroup /sys/fs/cgroup/freezer")
        if v1 and os.path.isfile(os.path.join(roots.host_path(v1[0]), "cgroup.clone_children")):
            s.add("Cgroup v1 clone_children flag", ENABLED)
    _option(s, config, "Cgroup device", "CONFIG_CGROUP_DEVICE")
    _option(s, config, "Cgroup sched", "CONFIG_CGROUP_SCHED")
    _option(s, config, "Cgroup cpu account", "CONFIG_CGROUP_CPUACCT")
    if config.at_least(3, 6):
        _option(s, config, "Cgroup memory controller", "CONFIG_MEMCG")
    else:
        _option(s, config, "Cgroup memory controller", "CONFIG_CGROUP_MEM_RES_CTLR")
    if config.is_set("CONFIG_SMP"):
        _option(s, config, "Cgroup cpuset", "CONFIG_CPUSETS")
    return s


def misc(config, roots):
    s = Section("Misc")
    modules = host.loaded_modules(roots)
    _option(s, config, "Veth pair device", "CONFIG_VETH", module="veth", modules=modules)
    _option(s, config, "Macvlan", "CONFIG_MACVLAN", module="macvlan", modules=modules)
    _option(s, config, "Vlan", "CONFIG_VLAN_8021Q", module="8021q", modules=modules)
    _option(s, config, "Bridges", "CONFIG_BRIDGE", module="bridge", modules=modules)
    _option(s, config, "Advanced netfilter", "CONFIG_NETFILTER_ADVANCED", module="nf_tables",
            modules=modules)
    version = config.version
    # LXC's test is "major > 3 && minor > 6 && major < 5": only 4.7 to 4.x. Kept as is.
    if version is not None and version[0] == 4 and version[1] > 6:
        _option(s, config, "CONFIG_NF_NAT_IPV4", "CONFIG_NF_NAT_IPV4", module="nf_nat_ipv4",
                modules=modules)
        _option(s, config, "CONFIG_NF_NAT_IPV6", "CONFIG_NF_NAT_IPV6", module="nf_nat_ipv6",
                modules=modules)
    for option, module in (("CONFIG_IP_NF_TARGET_MASQUERADE", "nf_nat_masquerade_ipv4"),
                           ("CONFIG_IP6_NF_TARGET_MASQUERADE", "nf_nat_masquerade_ipv6"),
                           ("CONFIG_NETFILTER_XT_TARGET_CHECKSUM", "xt_CHECKSUM"),
                           ("CONFIG_NETFILTER_XT_MATCH_COMMENT", "xt_comment")):
        _option(s, config, option, option, module=module, modules=modules)
    _option(s, config, "FUSE (for use with lxcfs)", "CONFIG_FUSE_FS", module="fuse",
            modules=modules)
    return s


def checkpoint_restore(config, roots):
    s = Section("Checkpoint/Restore")
    _option(s, config, "checkpoint restore", "CONFIG_CHECKPOINT_RESTORE")
    for option in ("CONFIG_FHANDLE", "CONFIG_EVENTFD", "CONFIG_EPOLL", "CONFIG_UNIX_DIAG",
                   "CONFIG_INET_DIAG", "CONFIG_PACKET_DIAG", "CONFIG_NETLINK_DIAG"):
        _option(s, config, option, option)
    version = config.version
    if version is not None and version[0] == 2 and version[2] < 33:
        _option(s, config, "File capabilities", "CONFIG_SECURITY_FILE_CAPABILITIES")
    else:
        s.add("File capabilities", ENABLED)
    return s


def sections(config, roots):
    return [namespaces(config, roots), control_groups(config, roots), misc(config, roots),
            checkpoint_restore(config, roots)]
