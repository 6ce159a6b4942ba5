"""A container's cgroups on cgroup v1, v2 and hybrid hosts, behind one object.

Layout as LXC 5: the payload cgroup `lxc.payload.NAME` (a `-N` suffix when the name is taken)
in every mounted hierarchy (each v1 controller hierarchy, named ones such as name=systemd,
and the unified one), under `lxc.cgroup.dir.container` / `lxc.cgroup.dir` when set, at the
hierarchy's root for root (or below our own cgroup with `lxc.cgroup.relative = 1`), below
our own cgroup for other users (delegation). One supervisor serves many containers, so
there is no per-container monitor cgroup (LXC's `lxc.monitor.NAME`).

Limits: `lxc.cgroup.KEY` goes to the v1 hierarchy of KEY's controller, `lxc.cgroup2.KEY` to
the unified one; a key the host cannot take is an error naming it, with the other spelling
as the hint. Freeze prefers cgroup2's `cgroup.freeze` (it exists even on a controller-less
unified hierarchy), else the v1 freezer.
"""

import errno
import os
import signal
import time

from ..errors import LxcError

PROC = "/proc"


class CgroupError(LxcError):
    """A cgroup operation failed."""


class Hierarchy:
    def __init__(self, mountpoint, version, controllers, own_path):
        self.mountpoint = mountpoint
        self.version = version          # 1 or 2
        self.controllers = controllers  # set; v1 names, "name=systemd" for named ones
        self.own_path = own_path        # our process's cgroup in it ("/" for root's shell)

    def __repr__(self):
        return f"Hierarchy({self.mountpoint}, v{self.version}, {sorted(self.controllers)})"


def hierarchies(proc=PROC):
    """Every cgroup hierarchy mounted here, with our own cgroup in each."""
    own = {}
    with open(f"{proc}/self/cgroup") as handle:
        for line in handle:
            ident, controllers, path = line.rstrip("\n").split(":", 2)
            key = "" if ident == "0" else controllers
            own[key] = path
    found = []
    seen = set()
    with open(f"{proc}/self/mountinfo") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            fstype, _source, superopts = (right.split() + ["", "", ""])[:3]
            if fstype not in ("cgroup", "cgroup2"):
                continue
            mountpoint = left.split()[4].replace("\\040", " ")
            root = left.split()[3]
            if fstype == "cgroup2":
                key, controllers, version = "", set(_v2_controllers(mountpoint)), 2
            else:
                opts = superopts.split(",")
                controllers = {o for o in opts if o not in ("rw", "ro") and "=" not in o
                               or o.startswith("name=")}
                controllers -= {"clone_children", "noprefix", "xattr", "cpuset_v2_mode",
                                "nsdelegate", "memory_recursiveprot", "favordynmods"}
                key = _match_own_key(own, controllers)
                version = 1
            if key in seen or root != "/":
                continue
            seen.add(key)
            found.append(Hierarchy(mountpoint, version, controllers, own.get(key, "/")))
    return found


def _match_own_key(own, controllers):
    for key in own:
        if key and set(key.split(",")) == controllers:
            return key
    return ",".join(sorted(controllers))


def _v2_controllers(mountpoint):
    try:
        with open(os.path.join(mountpoint, "cgroup.controllers")) as handle:
            return handle.read().split()
    except OSError:
        return []


class Cgroups:
    def __init__(self, name, paths, unified=None):
        self.name = name
        self.paths = paths      # mountpoint -> absolute payload dir
        self.unified = unified  # the payload dir in the unified hierarchy, if any
        self.controllers = {}   # v1 controller -> payload dir

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def for_container(cls, name, lxcpath, conf, proc=PROC):
        base = (conf.value("lxc.cgroup.dir.container") or conf.value("lxc.cgroup.dir") or "")
        relative = (conf.value("lxc.cgroup.relative") or "0") == "1" or os.geteuid() != 0
        found = hierarchies(proc)
        if not found:
            raise CgroupError("no cgroup hierarchy is mounted on this host",
                              hint="mount cgroup2 on /sys/fs/cgroup (lxc-checkconfig tells more)")
        leaf = f"lxc.payload.{name}"
        # a free name in every hierarchy: lxc.payload.NAME, then -1, -2, ... as LXC
        for suffix in [""] + [f"-{i}" for i in range(1, 100)]:
            candidate = leaf + suffix
            paths = {}
            for hierarchy in found:
                start = hierarchy.own_path if relative else "/"
                paths[hierarchy.mountpoint] = os.path.normpath(os.path.join(
                    hierarchy.mountpoint + "/" + start.strip("/"), base.strip("/"), candidate))
            if not any(os.path.exists(p) for p in paths.values()):
                break
        else:
            raise CgroupError(f"no free cgroup name for {name}")
        unified = None
        result = cls(name, paths)
        for hierarchy in found:
            path = paths[hierarchy.mountpoint]
            if hierarchy.version == 2:
                unified = path
            else:
                for controller in hierarchy.controllers:
                    result.controllers[controller] = path
        result.unified = unified
        result.conf = conf
        return result

    def to_json(self):
        return {"name": self.name, "paths": self.paths, "unified": self.unified,
                "controllers": self.controllers}

    @classmethod
    def from_json(cls, data):
        result = cls(data["name"], data["paths"], data.get("unified"))
        result.controllers = data.get("controllers", {})
        result.conf = None
        return result

    # -- lifecycle ----------------------------------------------------------------------------
    def create(self):
        made = []
        try:
            for path in self.paths.values():
                os.makedirs(path, exist_ok=False)
                made.append(path)
            cpuset = self.controllers.get("cpuset")
            if cpuset:
                for item in ("cpuset.cpus", "cpuset.mems"):
                    copy_from_parent(cpuset, item)
        except OSError as exc:
            for path in reversed(made):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            raise CgroupError(f"cannot create cgroup {exc.filename}: {exc.strerror}",
                              hint="as a user, the cgroup you run in must be delegated to you "
                                   "(lxc-checkconfig shows it)") from None

    def enter(self, pid):
        for path in self.paths.values():
            write(os.path.join(path, "cgroup.procs"), str(pid))

    def apply_limits(self, conf=None):
        conf = conf or self.conf
        if conf is None:
            return
        for key, value in conf.family("lxc.cgroup"):
            if key.startswith("dir") or key == "relative":
                continue
            self._write_v1(key, value, f"lxc.cgroup.{key}")
        for key, value in conf.family("lxc.cgroup2"):
            self._write_v2(key, value, f"lxc.cgroup2.{key}")

    def _write_v1(self, key, value, config_key):
        controller = key.split(".", 1)[0]
        path = self.controllers.get(controller)
        if path is None:
            hint = (f"this host has cgroup v2: use lxc.cgroup2.{key}" if self.unified
                    else f"the {controller} controller is not mounted")
            raise CgroupError(f"{config_key}: no cgroup v1 {controller} controller here",
                              key=config_key, hint=hint)
        self._write_file(path, key, value, config_key)

    def _write_v2(self, key, value, config_key):
        if self.unified is None:
            raise CgroupError(f"{config_key}: this host has no cgroup v2 hierarchy",
                              key=config_key, hint=f"use lxc.cgroup.{key} (cgroup v1)")
        if key.startswith("devices."):
            raise CgroupError(f"{config_key}: cgroup v2 device rules (a BPF program) are not "
                              "supported yet", key=config_key,
                              hint="on a v1 or hybrid host use lxc.cgroup.devices.allow/deny")
        if not os.path.exists(os.path.join(self.unified, key)):
            raise CgroupError(f"{config_key}: the unified hierarchy has no {key} here",
                              key=config_key,
                              hint=f"controllers are on cgroup v1 on this host: use "
                                   f"lxc.cgroup.{v1_name(key)}" if self.controllers else
                                   "enable the controller in the parent's cgroup.subtree_control")
        self._write_file(self.unified, key, value, config_key)

    def _write_file(self, directory, key, value, config_key):
        path = os.path.join(directory, key)
        try:
            write(path, value)
        except OSError as exc:
            raise CgroupError(f"{config_key} = {value}: writing {path} failed: "
                              f"{exc.strerror}", key=config_key,
                              hint="check the value's format in the kernel's cgroup "
                                   "documentation") from None

    # -- runtime operations --------------------------------------------------------------------
    def pids(self):
        for path in ([self.unified] if self.unified else []) + list(self.paths.values()):
            try:
                return read_procs_recursive(path)
            except OSError:
                continue
        return []

    def kill_all(self, sig=signal.SIGKILL):
        if self.unified and os.path.exists(os.path.join(self.unified, "cgroup.kill")) \
                and sig == signal.SIGKILL:
            try:
                write(os.path.join(self.unified, "cgroup.kill"), "1")
                return
            except OSError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def destroy(self, timeout=2.0):
        """Remove every payload cgroup, sub-cgroups the container made included (systemd
        makes many). Retries while the last processes are still leaving."""
        deadline = time.monotonic() + timeout
        remaining = list(self.paths.values())
        while remaining:
            still = []
            for path in remaining:
                if not remove_tree(path):
                    still.append(path)
            remaining = still
            if not remaining:
                return
            if time.monotonic() > deadline:
                raise CgroupError(f"cgroup {remaining[0]} is still busy",
                                  hint="a process is left in it: kill it, then rmdir the cgroup")
            self.kill_all(signal.SIGKILL)
            time.sleep(0.02)

    def freeze(self, timeout=10.0):
        if self._v2_freeze_file():
            write(self._v2_freeze_file(), "1")
        elif "freezer" in self.controllers:
            write(os.path.join(self.controllers["freezer"], "freezer.state"), "FROZEN")
        else:
            raise CgroupError("no freezer: neither cgroup.freeze (v2) nor the v1 freezer")
        deadline = time.monotonic() + timeout
        while self.freezer_state() != "FROZEN":
            if time.monotonic() > deadline:
                raise CgroupError("the container did not freeze in time")
            time.sleep(0.01)

    def unfreeze(self):
        if self._v2_freeze_file():
            write(self._v2_freeze_file(), "0")
        if "freezer" in self.controllers:
            write(os.path.join(self.controllers["freezer"], "freezer.state"), "THAWED")

    def freezer_state(self):
        v2 = self._v2_freeze_file()
        if v2:
            events = read_keyed(os.path.join(self.unified, "cgroup.events"))
            if events.get("frozen") == "1":
                return "FROZEN"
            if read(v2).strip() == "1":
                return "FREEZING"
        if "freezer" in self.controllers:
            state = read(os.path.join(self.controllers["freezer"], "freezer.state")).strip()
            return state
        return "THAWED"

    def _v2_freeze_file(self):
        if self.unified:
            path = os.path.join(self.unified, "cgroup.freeze")
            if os.path.exists(path):
                return path
        return None

    def file_for(self, key):
        """lxc-cgroup KEY: the v1 hierarchy of its controller, else the unified one."""
        controller = key.split(".", 1)[0]
        if controller in self.controllers and os.path.exists(
                os.path.join(self.controllers[controller], key)):
            return os.path.join(self.controllers[controller], key)
        if self.unified and os.path.exists(os.path.join(self.unified, key)):
            return os.path.join(self.unified, key)
        return None

    def get(self, key):
        path = self.file_for(key)
        if path is None:
            raise CgroupError(f"no cgroup file {key} for {self.name}")
        return read(path)

    def set(self, key, value):
        path = self.file_for(key)
        if path is None:
            raise CgroupError(f"no cgroup file {key} for {self.name}")
        write(path, value)

    def stats(self):
        """lxc-info's usage figures in bytes and nanoseconds; None where the host has none."""
        out = {"cpu_ns": None, "blkio_bytes": None, "memory_bytes": None, "kmem_bytes": None,
               "swap_bytes": None}
        cpuacct = self.controllers.get("cpuacct")
        memory = self.controllers.get("memory")
        blkio = self.controllers.get("blkio")
        if cpuacct:
            out["cpu_ns"] = read_int(os.path.join(cpuacct, "cpuacct.usage"))
        elif self.unified and os.path.exists(os.path.join(self.unified, "cpu.stat")):
            usec = read_keyed(os.path.join(self.unified, "cpu.stat")).get("usage_usec")
            out["cpu_ns"] = int(usec) * 1000 if usec else None
        if memory:
            out["memory_bytes"] = read_int(os.path.join(memory, "memory.usage_in_bytes"))
            out["kmem_bytes"] = read_int(os.path.join(memory, "memory.kmem.usage_in_bytes"))
            memsw = read_int(os.path.join(memory, "memory.memsw.usage_in_bytes"))
            if memsw is not None and out["memory_bytes"] is not None:
                out["swap_bytes"] = max(0, memsw - out["memory_bytes"])
        elif self.unified and os.path.exists(os.path.join(self.unified, "memory.current")):
            out["memory_bytes"] = read_int(os.path.join(self.unified, "memory.current"))
            out["swap_bytes"] = read_int(os.path.join(self.unified, "memory.swap.current"))
        if blkio:
            total = 0
            try:
                for line in read(os.path.join(blkio, "blkio.throttle.io_service_bytes")).splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == "Total":
                        total = int(parts[1])
            except OSError:
                total = None
            out["blkio_bytes"] = total
        elif self.unified and os.path.exists(os.path.join(self.unified, "io.stat")):
            total = 0
            for line in read(os.path.join(self.unified, "io.stat")).splitlines():
                for field in line.split()[1:]:
                    name, _, value = field.partition("=")
                    if name in ("rbytes", "wbytes"):
                        total += int(value)
            out["blkio_bytes"] = total
        return out


def v1_name(v2_key):
    return {"memory.max": "memory.limit_in_bytes", "pids.max": "pids.max",
            "cpu.max": "cpu.cfs_quota_us", "memory.high": "memory.soft_limit_in_bytes"}.get(
                v2_key, v2_key)


def copy_from_parent(path, item):
    parent = os.path.dirname(path)
    value = read(os.path.join(parent, item)).strip()
    if not value:
        copy_from_parent(parent, item)
        value = read(os.path.join(parent, item)).strip()
    write(os.path.join(path, item), value)


def read_procs_recursive(path):
    pids = []
    for top, _dirs, _files in os.walk(path):
        with open(os.path.join(top, "cgroup.procs")) as handle:
            pids.extend(int(p) for p in handle.read().split())
    return pids


def remove_tree(path):
    """rmdir PATH and its sub-cgroups, deepest first. True when gone."""
    if not os.path.exists(path):
        return True
    for top, dirs, _files in os.walk(path, topdown=False):
        for name in dirs:
            try:
                os.rmdir(os.path.join(top, name))
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    return False
    try:
        os.rmdir(path)
    except OSError as exc:
        return exc.errno == errno.ENOENT
    return True


def write(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode() if isinstance(value, str) else value)
    finally:
        os.close(fd)


def read(path):
    with open(path) as handle:
        return handle.read()


def read_int(path):
    try:
        return int(read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def read_keyed(path):
    try:
        return dict(line.split(None, 1) for line in read(path).splitlines() if " " in line)
    except OSError:
        return {}
