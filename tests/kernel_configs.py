"""Crafted kernel configs for lxc-checkconfig tests (unit and against real LXC)."""

# Every option LXC's script looks at on a current kernel.
ALL_OPTIONS = """CONFIG_NAMESPACES CONFIG_UTS_NS CONFIG_IPC_NS CONFIG_PID_NS CONFIG_USER_NS
CONFIG_NET_NS CONFIG_CGROUPS CONFIG_CGROUP_DEVICE CONFIG_CGROUP_SCHED CONFIG_CGROUP_CPUACCT
CONFIG_MEMCG CONFIG_SMP CONFIG_CPUSETS CONFIG_VETH CONFIG_MACVLAN CONFIG_VLAN_8021Q
CONFIG_BRIDGE CONFIG_NETFILTER_ADVANCED CONFIG_IP_NF_TARGET_MASQUERADE
CONFIG_IP6_NF_TARGET_MASQUERADE CONFIG_NETFILTER_XT_TARGET_CHECKSUM
CONFIG_NETFILTER_XT_MATCH_COMMENT CONFIG_FUSE_FS CONFIG_CHECKPOINT_RESTORE CONFIG_FHANDLE
CONFIG_EVENTFD CONFIG_EPOLL CONFIG_UNIX_DIAG CONFIG_INET_DIAG CONFIG_PACKET_DIAG
CONFIG_NETLINK_DIAG CONFIG_DEVPTS_MULTIPLE_INSTANCES CONFIG_NF_NAT_IPV4 CONFIG_NF_NAT_IPV6
CONFIG_CGROUP_MEM_RES_CTLR CONFIG_SECURITY_FILE_CAPABILITIES""".split()


def kernel_config(version="6.1.0", without=(), module=()):
    lines = ["#", "# Automatically generated file; DO NOT EDIT."]
    if version:
        lines.append(f"# Linux/x86 {version} Kernel Configuration")
    lines.append("#")
    for option in ALL_OPTIONS:
        if option in without:
            lines.append(f"# {option} is not set")
        else:
            lines.append(f"{option}={'m' if option in module else 'y'}")
    return "\n".join(lines) + "\n"
