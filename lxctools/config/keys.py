"""The one table of lxc.* keys.

Each row says how a key's value is read (grammar), whether it repeats, how an empty value
clears, and which part of the runtime gives it meaning (subsystem). Everything that reads,
writes, completes or documents keys goes through lookup() and KEYS.
"""

import re

from . import values as v

SINGLE = "single"  # later assignment wins
LIST = "list"      # accumulates; empty value clears


class Key:
    """One row. A plain class: dataclasses costs every command 5 ms to import."""

    __slots__ = ("name", "grammar", "kind", "subsystem", "doc", "family", "empty_is_error",
                 "net_types", "examples", "subkey")

    def __init__(self, name, grammar=v.text, kind=SINGLE, subsystem="container", doc="",
                 family=False, empty_is_error=False, net_types=(), examples=(), subkey=None):
        self.name = name                  # full name, or a family's prefix without the dot
        self.grammar = grammar
        self.kind = kind
        self.subsystem = subsystem        # which runtime part applies it
        self.doc = doc
        self.family = family              # name.<anything> keys (lxc.cgroup2.memory.max)
        self.empty_is_error = empty_is_error  # lxc.mount.fstab: LXC refuses an empty value
        self.net_types = net_types        # lxc.net.N.* rows: the types allowing the key
        self.examples = examples          # a valid sample value for tests and docs
        self.subkey = subkey              # a family's check of the part after its name

    def __repr__(self):
        return f"Key({self.name!r})"


def _k(name, grammar=v.text, kind=SINGLE, subsystem="container", doc="", **kw):
    return Key(name, grammar, kind, subsystem, doc, **kw)


KEYS = [
    # identity and general
    # lxctools extensions: lines real LXC ignores (it reads only lxc.* lines)
    _k("lxctools.net.usermode", v.one_of("slirp4netns"), subsystem="network",
       doc="user-mode network through slirp4netns (10.0.2.100/24, gateway 10.0.2.2 = the "
           "host's loopback, DNS 10.0.2.3): networking for unprivileged containers without "
           "a bridge", examples=("slirp4netns",)),
    _k("lxctools.journal.link", v.one_of("no", "host", "try-host", "guest", "try-guest", "auto"),
       subsystem="mounts",
       doc="the guest's systemd journal (/var/log/journal/MACHINE-ID) linked with the host's, "
           "as systemd-nspawn --link-journal: host (files on the host, bound into the guest), "
           "guest (files in the guest, a symlink on the host), try-host, try-guest (only when "
           "the host keeps /var/log/journal), auto (bind when the host has the directory), "
           "no (default); privileged containers", examples=("try-host",)),
    _k("lxctools.unconfined", v.boolean, subsystem="security",
       doc="1: this privileged container runs without device rules or seccomp on purpose, so "
           "lxc-start does not warn about it (the busybox template and images include "
           "common.conf, which confines them)", examples=("1",)),
    _k("lxc.arch", v.arch, doc="architecture personality", examples=("x86_64",)),
    _k("lxc.uts.name", v.hostname, subsystem="uts", doc="hostname", examples=("c1",)),
    _k("lxc.ephemeral", v.boolean, doc="destroy the container when it stops", examples=("1",)),
    _k("lxc.no_new_privs", v.boolean, subsystem="security", examples=("1",)),
    _k("lxc.sched.core", v.boolean, subsystem="security", examples=("1",)),
    _k("lxc.keyring.session", v.boolean, subsystem="security", examples=("0",)),
    _k("lxc.group", v.groups, LIST, subsystem="autostart", doc="autostart groups", examples=("onboot web",)),
    _k("lxc.monitor.unshare", v.uint, subsystem="monitor", examples=("1",)),
    _k("lxc.monitor.signal.pdeath", v.signal_number, subsystem="monitor", examples=("SIGKILL",)),
    _k("lxc.time.offset.boot", v.time_offset, subsystem="namespaces", examples=("10s",)),
    _k("lxc.time.offset.monotonic", v.time_offset, subsystem="namespaces", examples=("-5ms",)),
    # signals
    _k("lxc.signal.halt", v.signal_number, subsystem="stop", doc="clean shutdown signal", examples=("SIGPWR",)),
    _k("lxc.signal.reboot", v.signal_number, subsystem="stop", examples=("SIGINT",)),
    _k("lxc.signal.stop", v.signal_number, subsystem="stop", examples=("SIGKILL",)),
    # init / execute
    _k("lxc.init.cmd", v.command, subsystem="init", doc="command run as PID 1", examples=("/sbin/init",)),
    _k("lxc.execute.cmd", v.command, subsystem="init", examples=("/bin/sh -c true",)),
    _k("lxc.init.cwd", v.absolute_path, subsystem="init", examples=("/root",)),
    _k("lxc.init.uid", v.uint, subsystem="init", examples=("0",)),
    _k("lxc.init.gid", v.uint, subsystem="init", examples=("0",)),
    _k("lxc.init.groups", v.gid_list, LIST, subsystem="init", examples=("4,24",)),
    # environment
    _k("lxc.environment", v.environment, LIST, subsystem="init", examples=("FOO=bar",)),
    _k("lxc.environment.runtime", v.environment, LIST, subsystem="init", examples=("FOO=bar",)),
    _k("lxc.environment.hooks", v.environment, LIST, subsystem="hooks", examples=("FOO=bar",)),
    # idmap
    _k("lxc.idmap", v.idmap, LIST, subsystem="userns", doc="u|g NSID HOSTID RANGE",
       examples=("u 0 100000 65536",)),
    # rootfs
    _k("lxc.rootfs.path", v.text, subsystem="rootfs", examples=("dir:/var/lib/lxc/c1/rootfs",)),
    _k("lxc.rootfs.mount", v.absolute_path, subsystem="rootfs", examples=("/usr/lib/lxc/rootfs",)),
    _k("lxc.rootfs.options", v.text, subsystem="rootfs", examples=("ro",)),
    _k("lxc.rootfs.managed", v.boolean, subsystem="rootfs", examples=("0",)),
    # mounts
    _k("lxc.mount.fstab", v.text, subsystem="mounts", empty_is_error=True, examples=("/var/lib/lxc/c1/fstab",)),
    _k("lxc.mount.entry", v.mount_entry, LIST, subsystem="mounts",
       examples=("/srv srv none bind,create=dir 0 0",)),
    _k("lxc.mount.auto", v.mount_auto, subsystem="mounts", examples=("proc:mixed sys:ro cgroup:mixed",)),
    # cgroups
    _k("lxc.cgroup.dir", v.relative_path, subsystem="cgroups", examples=("lxc/c1",)),
    _k("lxc.cgroup.dir.container", v.relative_path, subsystem="cgroups", examples=("lxc.payload.c1",)),
    _k("lxc.cgroup.dir.monitor", v.relative_path, subsystem="cgroups", examples=("lxc.monitor.c1",)),
    _k("lxc.cgroup.dir.monitor.pivot", v.relative_path, subsystem="cgroups", examples=("lxc.pivot",)),
    _k("lxc.cgroup.dir.container.inner", v.tty_dir, subsystem="cgroups", examples=("inner",)),
    _k("lxc.cgroup.relative", v.boolean, subsystem="cgroups", examples=("1",)),
    _k("lxc.cgroup2", v.text, LIST, subsystem="cgroups", family=True, examples=("max",)),
    _k("lxc.cgroup", v.text, LIST, subsystem="cgroups", family=True, examples=("1000",)),
    # capabilities
    _k("lxc.cap.drop", v.cap_drop, LIST, subsystem="security", examples=("sys_module mac_admin",)),
    _k("lxc.cap.keep", v.cap_keep, LIST, subsystem="security", examples=("sys_admin",)),
    # LSM / seccomp
    _k("lxc.apparmor.profile", v.text, subsystem="security", examples=("unconfined",)),
    _k("lxc.apparmor.allow_incomplete", v.boolean, subsystem="security", examples=("1",)),
    _k("lxc.apparmor.allow_nesting", v.boolean, subsystem="security", examples=("1",)),
    _k("lxc.apparmor.raw", v.text, LIST, subsystem="security", examples=("mount,",)),
    _k("lxc.selinux.context", v.text, subsystem="security", examples=("system_u:system_r:lxc_t:s0",)),
    _k("lxc.selinux.context.keyring", v.text, subsystem="security", examples=("system_u:system_r:lxc_t:s0",)),
    _k("lxc.seccomp.profile", v.text, subsystem="seccomp", examples=("/usr/share/lxc/config/common.seccomp",)),
    _k("lxc.seccomp.allow_nesting", v.boolean, subsystem="seccomp", examples=("1",)),
    _k("lxc.seccomp.notify.proxy", v.text, subsystem="seccomp", examples=("unix:/run/proxy.sock",)),
    _k("lxc.seccomp.notify.cookie", v.text, subsystem="seccomp", examples=("cookie",)),
    # console / tty / dev
    _k("lxc.console.path", v.text, subsystem="console", examples=("none",)),
    _k("lxc.console.logfile", v.text, subsystem="console", examples=("/var/log/c1.console",)),
    _k("lxc.console.rotate", v.boolean, subsystem="console", examples=("1",)),
    _k("lxc.console.buffer.size", v.size, subsystem="console", examples=("auto",)),
    _k("lxc.console.size", v.size, subsystem="console", examples=("1MB",)),
    _k("lxc.tty.max", v.pty_count, subsystem="dev", examples=("4",)),
    _k("lxc.tty.dir", v.tty_dir, subsystem="dev", examples=("lxc",)),
    _k("lxc.pty.max", v.pty_count, subsystem="dev", examples=("1024",)),
    _k("lxc.autodev", v.boolean, subsystem="dev", examples=("1",)),
    _k("lxc.autodev.tmpfs.size", v.uint, subsystem="dev", examples=("500000",)),
    # hooks
    _k("lxc.hook.version", v.boolean, subsystem="hooks", examples=("1",)),
    *[_k(f"lxc.hook.{t}", v.command, LIST, subsystem="hooks", examples=("/bin/true",))
      for t in ("pre-start", "pre-mount", "mount", "autodev", "start-host", "start", "stop",
                "post-stop", "clone", "destroy")],
    # logging
    _k("lxc.log.level", v.log_level, subsystem="log", examples=("DEBUG",)),
    _k("lxc.log.file", v.text, subsystem="log", examples=("/var/log/lxc/c1.log",)),
    _k("lxc.log.syslog", v.syslog_facility, subsystem="log", examples=("daemon",)),
    # autostart
    _k("lxc.start.auto", v.boolean, subsystem="autostart", examples=("1",)),
    _k("lxc.start.delay", v.uint, subsystem="autostart", examples=("5",)),
    _k("lxc.start.order", v.integer, subsystem="autostart", examples=("-1",)),
    # namespaces, sysctl, proc, prlimit
    _k("lxc.namespace.clone", v.namespace_list, subsystem="namespaces", examples=("mnt pid",)),
    _k("lxc.namespace.keep", v.namespace_list, subsystem="namespaces", examples=("net",)),
    _k("lxc.namespace.share", v.text, subsystem="namespaces", family=True, examples=("1",),
       subkey=v.namespace_name),
    _k("lxc.sysctl", v.text, subsystem="sysctl", family=True, examples=("1",)),
    _k("lxc.proc", v.text, LIST, subsystem="proc", family=True, examples=("0",)),
    _k("lxc.prlimit", v.prlimit, subsystem="prlimit", family=True, examples=("1024:2048",),
       subkey=v.prlimit_name),
    # the include itself is handled by the parser; it has a row so lookup() knows it
    _k("lxc.include", v.text, LIST, subsystem="parser", examples=()),
    # lxc.net with an empty value clears every NIC
    _k("lxc.net", v.text, subsystem="network", family=True, examples=()),
]

NET_TYPES = ("veth", "macvlan", "ipvlan", "vlan", "phys", "empty", "none")

NET_KEYS = [
    _k("type", v.one_of(*NET_TYPES), subsystem="network", examples=("veth",)),
    _k("flags", v.one_of("up"), subsystem="network", examples=("up",)),
    _k("link", v.text, subsystem="network", examples=("br0",)),
    _k("l2proxy", v.boolean, subsystem="network", examples=("1",)),
    _k("mtu", v.uint, subsystem="network", examples=("1500",)),
    _k("name", v.text, subsystem="network", examples=("eth0",)),
    _k("hwaddr", v.hwaddr, subsystem="network", examples=("00:16:3e:12:34:56",)),
    _k("ipv4.address", v.ipv4_address, LIST, subsystem="network", examples=("10.0.3.5/24",)),
    _k("ipv4.gateway", v.gateway("IPv4"), subsystem="network", examples=("10.0.3.1",)),
    _k("ipv6.address", v.ipv6_address, LIST, subsystem="network", examples=("fd00::5/64",)),
    _k("ipv6.gateway", v.gateway("IPv6"), subsystem="network", examples=("fd00::1",)),
    _k("script.up", v.command, subsystem="network", examples=("/bin/true",)),
    _k("script.down", v.command, subsystem="network", examples=("/bin/true",)),
    _k("macvlan.mode", v.one_of("private", "vepa", "bridge", "passthru"), subsystem="network",
       net_types=("macvlan",), examples=("bridge",)),
    _k("ipvlan.mode", v.one_of("l3", "l3s", "l2"), subsystem="network", net_types=("ipvlan",),
       examples=("l2",)),
    _k("ipvlan.isolation", v.one_of("bridge", "private", "vepa"), subsystem="network",
       net_types=("ipvlan",), examples=("private",)),
    _k("vlan.id", v.u16, subsystem="network", net_types=("vlan",), examples=("10",)),
    _k("veth.mode", v.one_of("bridge", "router"), subsystem="network", net_types=("veth",),
       examples=("router",)),
    _k("veth.pair", v.text, subsystem="network", net_types=("veth",), examples=("vethc1",)),
    _k("veth.ipv4.route", v.route, LIST, subsystem="network", net_types=("veth",),
       examples=("10.0.4.0/24",)),
    _k("veth.ipv6.route", v.route, LIST, subsystem="network", net_types=("veth",),
       examples=("fd01::/64",)),
    _k("veth.vlan.id", v.vlan_id, subsystem="network", net_types=("veth",), examples=("10",)),
    _k("veth.vlan.tagged.id", v.vlan_id, LIST, subsystem="network", net_types=("veth",),
       examples=("20",)),
    _k("veth.n_rxqueues", v.positive, subsystem="network", net_types=("veth",), examples=("2",)),
    _k("veth.n_txqueues", v.positive, subsystem="network", net_types=("veth",), examples=("2",)),
]

_BY_NAME = {k.name: k for k in KEYS if not k.family}
_FAMILIES = sorted((k for k in KEYS if k.family), key=lambda k: -len(k.name))
_NET_BY_SUB = {k.name: k for k in NET_KEYS}
_NET_RE = re.compile(r"lxc\.net\.([0-9]+)(?:\.(.+))?$")


def lookup(name):
    """The row for a full key name, or None. lxc.net.N.SUB returns the NET_KEYS row."""
    row = _BY_NAME.get(name)
    if row is not None:
        return row
    match = _NET_RE.match(name)
    if match:
        if match.group(2) is None:
            return _BY_NAME.get("lxc.net.N") or Key("lxc.net.N", subsystem="network", family=True)
        return _NET_BY_SUB.get(match.group(2))
    if name == "lxc.net":
        return next(k for k in _FAMILIES if k.name == "lxc.net")
    for fam in _FAMILIES:
        if fam.name == "lxc.net":
            continue
        if name == fam.name or name.startswith(fam.name + "."):
            return fam
    return None


def all_key_names(net_index=0):
    """Every concrete key name (families as FAMILY.*), for completion and "did you mean"."""
    names = [k.name for k in KEYS if not k.family]
    names += [f"{k.name}.*" for k in _FAMILIES if k.name != "lxc.net"]
    names += [f"lxc.net.{net_index}.{k.name}" for k in NET_KEYS]
    return names


def suggest(name):
    """The closest known key to a mistyped one, keeping the NIC index the user wrote."""
    import difflib

    match = re.match(r"lxc\.net\.([0-9]{1,9})\.", name)
    candidates = all_key_names(int(match.group(1)) if match else 0)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return close[0] if close else None
