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
        sub = match.group(2)
        if sub in ("ipv4", "ipv6"):  # LXC 3 kept only the .address spelling
            sub += ".address"
        return f"lxc.net.{match.group(1)}.{sub}"
    if key.startswith("lxc.network."):
        sub = key[len("lxc.network."):]
        if sub in ("ipv4", "ipv6"):
            sub += ".address"
        return f"lxc.net.{net_counter}.{sub}"
    return None


def is_legacy(key):
    return key in DROPPED or modern_name(key) is not None


# A key where LXC's lxc-update-config sees one: at the start of a line, or after the #s and
# blanks of a commented-out line (those are converted too, as LXC does).
_LINE = re.compile(r"^(\s*(?:#+\s*)?)(lxc\.[A-Za-z0-9_.\-]+)(?=[\s=]|$)(.*)$", re.S)
_ROOTFS_VALUE = re.compile(r"^(\s*=\s*)(.*?)(\s*)$", re.S)
_STORAGE_PREFIXES = ("dir:", "overlay:", "overlayfs:", "aufs:", "btrfs:", "zfs:", "lvm:",
                     "loop:", "nbd:", "rbd:")


def update_text(text):
    """TEXT (a pre-3.0 config) with current key names, as LXC's lxc-update-config rewrites it.

    Formatting, comments and order stay; lxc.rootfs gets its storage type prefix (from
    lxc.rootfs.backend, else dir); unindexed lxc.network.* keys get the index of the NIC
    opened by the last lxc.network.type line; keys LXC 3.0 removed are dropped."""
    lines = text.splitlines(keepends=True)
    backend = "dir"
    for line in lines:
        match = _LINE.match(line)
        if match and match.group(2) == "lxc.rootfs.backend":
            value = match.group(3).strip().lstrip("=").strip()
            if value:
                backend = value
    out = []
    nic = -1
    for line in lines:
        match = _LINE.match(line)
        if not match:
            out.append(line)
            continue
        lead, key, rest = match.groups()
        if key in DROPPED:
            continue
        if key == "lxc.network.type":
            nic += 1
        new = modern_name(key, nic)
        if new is None:
            out.append(line)
            continue
        if key == "lxc.rootfs":
            value = _ROOTFS_VALUE.match(rest)
            if value and value.group(2) and not value.group(2).startswith(_STORAGE_PREFIXES):
                rest = f"{value.group(1)}{backend}:{value.group(2)}{value.group(3)}"
        out.append(f"{lead}{new}{rest}")
    return "".join(out)
