"""Pre-3.0 key names: read with a warning naming the new key, rewritten by lxc-update-config."""

import re

RENAMES = {
    "lxc.id_map": "lxc.idmap",
    "lxc.pts": "lxc.pty.max",
    "lxc.tty": "lxc.tty.max",
    "lxc.devttydir": "lxc.tty.dir",
    "lxc.aa_profile": "lxc.apparmor.profile",
    "lxc.aa_allow_incomplete": "lxc.apparmor.allow_incomplete",
    "lxc.se_context": "lxc.selinux.context",
    "lxc.mount": "lxc.mount.fstab",
    "lxc.utsname": "lxc.uts.name",
    "lxc.seccomp": "lxc.seccomp.profile",
    "lxc.console": "lxc.console.path",
    "lxc.haltsignal": "lxc.signal.halt",
    "lxc.rebootsignal": "lxc.signal.reboot",
    "lxc.stopsignal": "lxc.signal.stop",
    "lxc.syslog": "lxc.log.syslog",
    "lxc.loglevel": "lxc.log.level",
    "lxc.logfile": "lxc.log.file",
    "lxc.init_cmd": "lxc.init.cmd",
    "lxc.init_uid": "lxc.init.uid",
    "lxc.init_gid": "lxc.init.gid",
    "lxc.rootfs": "lxc.rootfs.path",
}
# Keys LXC 3.0 removed without a replacement.
DROPPED = {"lxc.rootfs.backend", "lxc.pivotdir", "lxc.kmsg"}

_NET_INDEXED = re.compile(r"lxc\.network\.(\d+)\.(.+)$")


def modern_name(key, net_counter=0):
    """The current name for a legacy key, or None when KEY is not legacy.

    Unindexed lxc.network.* keys belong to the NIC opened by the last lxc.network.type line;
    the caller keeps that counter (net_counter) as lxc-update-config does.
    """
    if key in RENAMES:
        return RENAMES[key]
    if key.startswith("lxc.limit."):
        return "lxc.prlimit." + key[len("lxc.limit."):]
    if key == "lxc.network":
        return "lxc.net"
    match = _NET_INDEXED.match(key)
    if match:
        return f"lxc.net.{match.group(1)}.{match.group(2)}"
    if key.startswith("lxc.network."):
        sub = key[len("lxc.network."):]
        if sub in ("ipv4", "ipv6"):
            sub += ".address"
        return f"lxc.net.{net_counter}.{sub}"
    return None


def is_legacy(key):
    return key in DROPPED or modern_name(key) is not None
