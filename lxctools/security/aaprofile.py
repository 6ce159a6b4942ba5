"""The AppArmor profile lxc.apparmor.profile = generated loads (pure: text only).

What it allows and denies follows LXC 5.0's generated profile, rule for rule in effect (the
tests in the VM run the same attacks under both): everything a system container needs
(files, network, capabilities the bounding set leaves, tmpfs/proc/sysfs/cgroup mounts at
their places, bind mounts and read-only remounts of the container's own paths), and none of
what lets a privileged container's root reach the host through the kernel's interfaces:
writes to /proc/sysrq-trigger, /proc/kcore, /proc/sys outside the namespaced parts, /sys
outside cgroups and network devices, /sys/kernel (securityfs, debugfs, uevent_helper), and
a fresh proc or sysfs outside its place, binds and moves whose source is in /proc or /sys
(AppArmor let a bind of /proc/sys through in the VM, LXC's profile alike: the copy stays
read-only), or a read-write remount of a bind mount (which would lift a
read-only mount the host set up), or of the cgroup tree (which would lift device rules).

AppArmor's `deny` always wins over an allow, so "deny writes below DIR except these trees"
cannot be written with an allow for the exceptions: it is a set of deny globs that together
match every path below DIR except those trees (`outside`), as LXC's profile spells it.
"""

import itertools

# kinds of excepted entry in `outside`
TREE = "tree"      # the path and everything below it
PREFIX = "prefix"  # every name that starts so, and everything below
EXACT = "exact"    # only the path itself (what is below it may be listed as well)


def outside(base, entries):
    """Globs matching every path below BASE (which ends with "/") except ENTRIES, a dict of
    path (relative to BASE) -> TREE | PREFIX | EXACT. Built on the trie of the entries'
    characters: at each node, the paths that leave it by a character no entry continues
    with; past a TREE entry, only longer names (`?*`: `?` never matches "/")."""
    trie = {}
    for path, kind in entries.items():
        node = trie
        for char in path:
            node = node.setdefault(char, {})
        node[""] = kind
    globs = []

    def walk(node, text):
        kind = node.get("")
        if kind == PREFIX:
            return
        if kind == TREE:
            globs.append(f"{base}{text}?*{{,/**}}")
            return
        chars = sorted(c for c in node if c)
        if kind == EXACT and chars == ["/"]:
            globs.append(f"{base}{text}?*{{,/**}}")
        elif chars:
            globs.append(f"{base}{text}[^{''.join(_class_char(c) for c in chars)}]*{{,/**}}")
        for char in chars:
            walk(node[char], text + char)

    walk(trie, "")
    return globs


def _class_char(char):
    return "\\" + char if char in "]\\^-" else char


# What a bind mount or a move may not take (its source) and a read-only remount may not
# name (its target), as LXC's profile: /proc and /sys
# (and what is below), /dev itself and LXC's /dev/.lxc (where LXC keeps what nesting needs)
PROTECTED = {"proc": TREE, "sys": TREE, "dev": EXACT, "dev/.lxc": TREE}

# /proc/sys entries a container may write: the ones its namespaces make its own
PROC_SYS_WRITABLE = {"kernel/shm": PREFIX, "kernel/msg": PREFIX, "kernel/sem": PREFIX,
                     "kernel/hostname": TREE, "kernel/domainname": TREE, "net": TREE}

# /sys entries a container may write: its cgroups and its network devices
SYS_WRITABLE = {"fs/cgroup": TREE, "class/net": TREE, "devices/virtual/net": TREE}

# read-only remounts of a bind mount: "ro,remount,bind" with any of these flags (but never
# without "ro": a read-write remount would undo a read-only bind the host made)
RO_REMOUNT_EXTRA = ("nodev", "nosuid", "noexec")
RO_REMOUNT_ATIME = ("", "noatime", "strictatime")


def generate(name, conf_flags, raw=()):
    """The profile's text. NAME: the profile's name; CONF_FLAGS: a dict with
    `namespace` (AppArmor namespace for the container's own policy, or None when the
    kernel cannot stack), `nesting` (lxc.apparmor.allow_nesting), `unprivileged`,
    `unix` (the parser knows unix rules), `cgns` (the kernel has cgroup namespaces).
    RAW: lxc.apparmor.raw lines, appended as they are."""
    lines = ["#include <tunables/global>",
             f'profile "{name}" flags=(attach_disconnected,mediate_deleted) {{']
    add = lines.append
    add("  # written by lxctools for this container (lxc.apparmor.profile = generated)")
    for rule in ("capability", "dbus", "file", "network", "umount"):
        add(f"  {rule},")
    add("  signal (receive),")
    add("  signal peer=@{profile_name},")
    add("  ptrace (readby),")
    add("  ptrace (tracedby),")
    add("  ptrace peer=@{profile_name},")
    add("")
    add("  # the kernel's own knobs: never from a container")
    add("  deny @{PROC}/sysrq-trigger rwklx,")
    add("  deny @{PROC}/kcore rwklx,")
    add("  deny @{PROC}/acpi/** rwklx,")
    add("  deny @{PROC}/bus/** wklx,")
    add("  deny @{PROC}/sys/fs/** wklx,")
    add("  deny /sys/firmware/efi/efivars/** rwklx,")
    add("  deny /sys/kernel/debug/{,**} rwklx,")
    add("  # /proc/sys: only what the container's namespaces make its own")
    for glob in outside("/proc/sys/", PROC_SYS_WRITABLE):
        add(f"  deny {glob} wklx,")
    add("  # /sys: only its cgroups and network devices")
    for glob in outside("/sys/", dict(SYS_WRITABLE, kernel=PREFIX)):
        add(f"  deny {glob} wklx,")
    namespace = conf_flags.get("namespace")
    if namespace:
        add("  # /sys/kernel: only the container's own AppArmor namespace's policy")
        for glob in outside("/sys/kernel/", {"security/apparmor": TREE}):
            add(f"  deny {glob} wklx,")
        add(f'  change_profile -> ":{namespace}:*",')
        add(f'  change_profile -> ":{namespace}://*",')
    else:
        add("  deny /sys/k*{,/**} rwklx,")
    add("")
    add("  # file systems a container mounts for itself, where they belong")
    for fstype in ("tmpfs", "hugetlbfs", "mqueue", "fuse", "fuse.*"):
        add(f"  mount fstype={fstype},")
    add("  mount fstype=proc -> /proc/,")
    add("  mount fstype=sysfs -> /sys/,")
    add("  mount fstype=binfmt_misc -> /proc/sys/fs/binfmt_misc/,")
    add("  mount fstype=efivarfs -> /sys/firmware/efi/efivars/,")
    add("  mount fstype=fusectl -> /sys/fs/fuse/connections/,")
    add("  mount fstype=securityfs -> /sys/kernel/security/,")
    add("  mount fstype=debugfs -> /sys/kernel/debug/,")
    if conf_flags.get("cgns", True):
        add("  mount fstype=cgroup -> /sys/fs/cgroup/**,")
        add("  mount fstype=cgroup2 -> /sys/fs/cgroup/**,")
    add("  mount options=(rw, nosuid, nodev, noexec, remount) -> /sys/,")
    add("  mount options=(ro, nosuid, nodev, noexec, remount, strictatime) -> /sys/fs/cgroup/,")
    add("  # an init remounting / read-only at shutdown: refused without a log line")
    add("  deny mount options=(ro, remount) -> /,")
    add("  deny mount options=(ro, remount, silent) -> /,")
    add("  # propagation of / only")
    for kind in ("slave", "rslave", "shared", "rshared", "private", "rprivate",
                 "unbindable", "runbindable"):
        add(f"  mount options=(rw,make-{kind}) -> /,")
    protected = outside("/", PROTECTED)
    add("  # binds and moves of anything but /proc, /sys and /dev")
    for option in ("bind", "rbind", "move"):
        for glob in protected:
            if option == "rbind" and glob.startswith("/dev/"):
                continue  # a recursive bind of /dev's entries would take its mounts along
            add(f"  mount options=(rw,{option}) {glob},")
    add("  # read-only remounts of binds elsewhere (never back to read-write)")
    for extra in _subsets(RO_REMOUNT_EXTRA):
        for atime in RO_REMOUNT_ATIME:
            options = ",".join(("ro", "remount", "bind") + extra + ((atime,) if atime else ()))
            for glob in protected:
                add(f"  mount options=({options}) -> {glob},")
    if conf_flags.get("unix"):
        add("  unix (receive),")
        add("  unix peer=(label=@{profile_name}),")
    if conf_flags.get("nesting"):
        add("")
        add("  # lxc.apparmor.allow_nesting: containers inside")
        add("  pivot_root,")
        add("  ptrace,")
        add("  signal,")
        add("  deny /dev/.lxc/proc/** rw,")
        add("  deny /dev/.lxc/sys/** rw,")
        add("  mount fstype=proc -> /usr/lib/*/lxc/**,")
        add("  mount fstype=sysfs -> /usr/lib/*/lxc/**,")
        add("  # the nested runtime's proc/sys remounts cannot be told apart: any mount")
        add("  mount,")
        if not namespace:
            add(f'  change_profile -> "{name}",')
    if conf_flags.get("unprivileged"):
        add("")
        add("  # unprivileged: the user namespace holds the rest back")
        add("  pivot_root,")
        for kind in ("slave", "rslave", "shared", "rshared", "private", "rprivate",
                     "unbindable", "runbindable"):
            add(f"  mount options=(rw,make-{kind}) -> **,")
        add("  mount options=(rw,bind),")
        add("  mount options=(rw,rbind),")
        add("  mount options=(ro,remount),")
    if raw:
        add("")
        add("  # lxc.apparmor.raw")
        for line in raw:
            add(line)
    add("}")
    return "\n".join(lines) + "\n"


def _subsets(items):
    for size in range(len(items) + 1):
        yield from itertools.combinations(items, size)
