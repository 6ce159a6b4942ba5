"""Where the host's cgroup hierarchies are and which cgroup a process sits in.

Everything reads from a `proc` root passed in, so unit tests describe a whole fake host with a
mountinfo file and a cgroup file in a tmp dir.
"""

import os

UNIFIED = "unified"  # the key of the cgroup2 hierarchy, as /proc/PID/cgroup's "0::" line


class Hierarchy:
    """One mounted hierarchy: v1 (one or more controllers, or a name=X) or the cgroup2 one.
    (A plain class: importing dataclasses costs a command 5 ms.)"""

    def __init__(self, key, version, mountpoint, mount_root="/", controllers=None):
        self.key = key                  # "memory", "cpu,cpuacct", "name=systemd", "unified"
        self.version = version          # 1 or 2
        self.mountpoint = mountpoint    # where it is mounted here
        self.mount_root = mount_root    # the part of the hierarchy the mount shows
        self.controllers = list(controllers or [])  # v1: mount options; v2: enabled ones

    def __repr__(self):
        return f"Hierarchy({self.key!r}, v{self.version}, {self.mountpoint!r})"

    def dir_of(self, cgroup_path):
        """The directory of CGROUP_PATH (as /proc/PID/cgroup spells it) under our mount."""
        rel = cgroup_path
        if self.mount_root != "/" and (rel == self.mount_root or rel.startswith(self.mount_root + "/")):
            rel = rel[len(self.mount_root):]
        return os.path.join(self.mountpoint, rel.lstrip("/")).rstrip("/") or "/"


def read_mountinfo(proc="/proc"):
    """The cgroup and cgroup2 mounts of this mount namespace, one Hierarchy per hierarchy
    (the first mount wins; a hierarchy can be mounted several times)."""
    found = {}
    with open(os.path.join(proc, "self/mountinfo"), encoding="utf-8") as handle:
        for line in handle:
            left, sep, right = line.partition(" - ")
            if not sep:
                continue
            fields = left.split()
            fstype, _source, superopts = (right.split() + ["", "", ""])[:3]
            if fstype not in ("cgroup", "cgroup2"):
                continue
            root = _unescape(fields[3])
            mountpoint = _unescape(fields[4])
            if fstype == "cgroup2":
                key, version = UNIFIED, 2
                controllers = _v2_controllers(mountpoint)
            else:
                opts = superopts.split(",")
                controllers = [o for o in opts if o in V1_CONTROLLERS or o.startswith("name=")]
                if not controllers:
                    continue
                key, version = ",".join(controllers), 1
            found.setdefault(key, Hierarchy(key, version, mountpoint, root, controllers))
    return list(found.values())


# controllers a v1 mount can carry (its superblock options name them)
V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                  "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"}


def _v2_controllers(mountpoint):
    try:
        with open(os.path.join(mountpoint, "cgroup.controllers"), encoding="ascii") as handle:
            return handle.read().split()
    except OSError:
        return []


def _unescape(text):
    # mountinfo escapes space, tab, newline and backslash as octal
    return (text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def read_proc_cgroup(pid="self", proc="/proc"):
    """{hierarchy key: cgroup path} from /proc/PID/cgroup."""
    out = {}
    with open(os.path.join(proc, str(pid), "cgroup"), encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line:
                continue
            _num, controllers, path = line.split(":", 2)
            out[controllers or UNIFIED] = path
    return out


def layout(hierarchies):
    """LXC's names: "unified" (cgroup2 only), "hybrid" (v1 + cgroup2), "legacy" (v1 only)."""
    versions = {h.version for h in hierarchies}
    if versions == {2}:
        return "unified"
    if versions == {1, 2}:
        return "hybrid"
    return "legacy" if versions else "none"


def prune_init_scope(path):
    """LXC: a root-started container escapes to PID 1's cgroup, minus systemd's /init.scope."""
    if path.endswith("/init.scope"):
        path = path[: -len("/init.scope")] or "/"
    return path
