"""A container's cgroups in every hierarchy of the host, v1 and v2 behind one object.

The supervisor makes it (`for_container`, `create`, `apply_limits`, `enter`), stores
`to_json()` in the container's runtime record, and any other process (lxc-cgroup, lxc-freeze,
an adopting supervisor) rebuilds it with `from_json`. Only absolute directories are stored, so
the rebuilt object does not depend on the caller's own cgroup.

Size: one class over v1, hybrid and unified hosts; what stands alone is apart (host.py,
naming.py, files.py, limits.py, devices.py, devprog.py, stats.py).
"""

import errno
import os
import signal
import time

from .. import log
from ..errors import LxcError
from . import host as H
from .files import (cpuset_inherit as _cpuset_inherit, hint_for_file as _hint_for_file,
                    read as _read, write as _write)
from . import naming

FREEZE_POLL = 0.01


class CgroupError(LxcError):
    """A cgroup could not be made, written, read or removed."""


class Placed:
    """One hierarchy and this container's directories in it (absolute paths)."""

    def __init__(self, hierarchy, base, limit=None, payload=None, monitor=None, made=()):
        self.h = hierarchy
        self.base = base          # the cgroup everything is created under
        self.limit = limit        # limits are written here
        self.payload = payload    # the container's processes live here (== limit without .inner)
        self.monitor = monitor
        self.made = list(made)    # intermediate dirs we created (lxc.cgroup.dir = a/b)

    def to_json(self):
        h = self.h
        return {"key": h.key, "version": h.version, "mountpoint": h.mountpoint,
                "mount_root": h.mount_root, "controllers": h.controllers, "base": self.base,
                "limit": self.limit, "payload": self.payload, "monitor": self.monitor,
                "made": self.made}

    @classmethod
    def from_json(cls, data):
        h = H.Hierarchy(data["key"], data["version"], data["mountpoint"],
                        data.get("mount_root", "/"), list(data.get("controllers") or []))
        return cls(h, data["base"], data.get("limit"), data.get("payload"), data.get("monitor"),
                   data.get("made") or ())


class Cgroups:
    def __init__(self, name, placed, layout, names=None, conf=None, devices=None):
        self.name = name
        self.placed = placed
        self.layout = layout
        self.names = names
        self.conf = conf
        # how device rules are enforced, once applied (limits.apply_devices): {"mode": "v1"|
        # "bpf"|"none", ...}; for bpf the cgroup, the program's id and its DeviceList
        self.devices = devices

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def for_container(cls, name, lxcpath, conf, *, hierarchies=None, proc="/proc", euid=None):
        """Plan NAME's cgroups (nothing is made yet). Root without lxc.cgroup.relative = 1
        starts from PID 1's cgroups (LXC: root containers escape the caller's cgroup), everyone
        else from their own."""
        del lxcpath  # LXC's names do not depend on it; kept in the signature for the caller
        names = naming.plan(name, conf)
        if hierarchies is None:
            hierarchies = H.read_mountinfo(proc)
        euid = os.geteuid() if euid is None else euid
        relative = (conf.value("lxc.cgroup.relative") or "0") == "1"
        if euid == 0 and not relative:
            where = {k: H.prune_init_scope(p) for k, p in H.read_proc_cgroup(1, proc).items()}
        else:
            from .monitor import base_of  # a supervisor's own cgroup is not the base

            where = {k: base_of(p) for k, p in H.read_proc_cgroup("self", proc).items()}
        placed = []
        for h in hierarchies:
            path = where.get(h.key)
            if path is None:
                continue
            base = h.dir_of(path)
            if euid != 0 and not _writable(base):
                log.info(f"cgroup {base} is not writable, skipping the {h.key} hierarchy")
                continue
            placed.append(Placed(h, base))
        return cls(name, placed, H.layout(hierarchies), names, conf)

    @classmethod
    def of_process(cls, name, pid, proc="/proc"):
        """The cgroups PID sits in, in every hierarchy: those of a container another manager
        runs (real LXC's monitor, which does not tell them). For an ordinary user only those
        it may write: where nothing was delegated, a user's container stays in the user's
        own cgroup, which is not the container's to enter or limit."""
        hierarchies = H.read_mountinfo(proc)
        where = H.read_proc_cgroup(pid, proc)
        placed = []
        for h in hierarchies:
            path = where.get(h.key)
            if path is not None:
                directory = h.dir_of(path)
                if os.geteuid() != 0 and not os.access(os.path.join(directory, "cgroup.procs"),
                                                       os.W_OK):
                    continue
                placed.append(Placed(h, os.path.dirname(directory), directory, directory))
        return cls(name, placed, H.layout(hierarchies))

    def to_json(self):
        return {"name": self.name, "layout": self.layout,
                "hierarchies": [p.to_json() for p in self.placed],
                **({"devices": self.devices} if self.devices else {})}

    @classmethod
    def from_json(cls, data):
        if "hierarchies" not in data:
            return cls._from_first_format(data)
        return cls(data["name"], [Placed.from_json(p) for p in data["hierarchies"]],
                   data.get("layout", "hybrid"), devices=data.get("devices"))

    @classmethod
    def _from_first_format(cls, data):
        """Records written before this package ({mountpoint: payload dir}, "unified",
        {controller: dir}): containers started then can still be frozen and stopped."""
        placed = []
        by_dir = {}
        for controller, directory in (data.get("controllers") or {}).items():
            by_dir.setdefault(directory, []).append(controller)
        for mountpoint, directory in (data.get("paths") or {}).items():
            version = 2 if directory == data.get("unified") else 1
            controllers = sorted(by_dir.get(directory, []))
            key = H.UNIFIED if version == 2 else ",".join(controllers) or mountpoint
            h = H.Hierarchy(key, version, mountpoint, "/", controllers)
            placed.append(Placed(h, os.path.dirname(directory), directory, directory))
        versions = {p.h.version for p in placed}
        layout = "unified" if versions == {2} else "hybrid" if versions == {1, 2} else "legacy"
        return cls(data["name"], placed, layout)

    # -- what is where -----------------------------------------------------------------------
    @property
    def paths(self):
        """{hierarchy key: the payload cgroup's directory}."""
        return {p.h.key: p.payload for p in self.placed if p.payload}

    @property
    def limit_paths(self):
        return {p.h.key: p.limit for p in self.placed if p.limit}

    def relative_payload(self):
        """The payload cgroup as /proc/PID/cgroup shows it (for lxc-info and tests)."""
        for p in self.placed:
            if p.payload:
                rel = os.path.relpath(p.payload, p.h.mountpoint)
                return "/" + rel if rel != "." else "/"
        return None

    def hierarchy_for(self, controller):
        """The placed hierarchy that carries CONTROLLER (v1), else the unified one (v2)."""
        for p in self.placed:
            if p.h.version == 1 and controller in p.h.controllers:
                return p
        if self.layout == "unified" or controller in ("cgroup", "unified"):
            return self.unified()
        return None

    def unified(self):
        return next((p for p in self.placed if p.h.version == 2), None)

    # -- creation ----------------------------------------------------------------------------
    def create(self, on_claim=None, on_taken=None):
        """mkdir the payload cgroup in every hierarchy, trying NAME-1, NAME-2, ... when the name
        is already used (never with lxc.cgroup.dir.container). ON_CLAIM(json) hears of each
        attempt's directories before they are made, when there is a hierarchy to make them in
        (the supervisor records them: a crash
        between the mkdir and its next record must not leak them); ON_TAKEN(path) of a name
        found taken, before the next is tried (it may raise: the container already runs)."""
        self._create(monitor=False, on_claim=on_claim, on_taken=on_taken)

    def create_monitor(self):
        self._create(monitor=True)

    def _create(self, monitor, on_claim=None, on_taken=None):
        if self.names is None:
            raise CgroupError("cgroups rebuilt from a record cannot be created again")
        for index in range(naming.MAX_SUFFIX):
            if monitor:
                rel = self.names.monitor_with_suffix(index)
                inner = None
            else:
                names = self.names.with_suffix(index)
                rel, inner = names.limit, names.inner
                if on_claim is not None and self.placed:
                    # no hierarchy to make it in (an ordinary user with none delegated): the
                    # claim would name no directory, and nothing made can leak -- no record
                    on_claim(self.claim_json(rel, inner))
            done = []
            try:
                for p in self.placed:
                    self._make(p, rel, inner, monitor)
                    done.append(p)
            except FileExistsError as exc:
                for p in done:
                    self._unmake(p, monitor)
                if on_taken is not None and exc.filename:
                    on_taken(exc.filename)
                if not self.names.retry:
                    what = "monitor" if monitor else "container"
                    raise CgroupError(f"the {what} cgroup {rel} already exists",
                                      key="lxc.cgroup.dir." + ("monitor" if monitor else "container"),
                                      hint="another container uses it: pick another directory, "
                                           "or remove the stale cgroup with rmdir") from None
                continue
            except OSError as exc:
                for p in done:
                    self._unmake(p, monitor)
                raise CgroupError(f"cannot create the cgroup {exc.filename}: "
                                  f"{os.strerror(exc.errno)}",
                                  hint=_hint_for_create(exc)) from None
            return
        raise CgroupError(f"cannot create a cgroup for {self.name}: {rel} and "
                          f"{naming.MAX_SUFFIX - 1} suffixed names are all taken",
                          hint="remove stale lxc.payload.* / lxc.monitor.* cgroups with rmdir")

    def claim_json(self, rel, inner):
        """to_json() of these cgroups as they will be once REL (and INNER below it) are made."""
        hierarchies = []
        for p in self.placed:
            data = p.to_json()
            limit = os.path.join(p.base, rel)
            data["limit"] = limit
            data["payload"] = os.path.join(limit, inner) if inner else limit
            parents = []
            parent = os.path.dirname(limit)
            while parent.startswith(p.base + "/") and parent != p.base:
                parents.append(parent)
                parent = os.path.dirname(parent)
            data["made"] = sorted(set(p.made) | set(parents))
            hierarchies.append(data)
        return {"name": self.name, "layout": self.layout, "hierarchies": hierarchies}

    def release_claim(self, timeout=1.0):
        """Remove what a claim (claim_json) may have made, when a start died between its
        mkdirs and its next record: each directory only if empty -- a claimed name may be one
        another container already had (the mkdir then failed): never walk into it, never
        kill. Its own processes, if any got there, are dying (they lost their supervisor):
        waited for up to TIMEOUT."""
        deadline = time.monotonic() + timeout
        for p in self.placed:
            for directory in dict.fromkeys([p.payload, p.limit]):
                if not directory:
                    continue
                while True:
                    try:
                        os.rmdir(directory)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as exc:
                        if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                            log.info(f"claimed cgroup {directory} left: {exc.strerror}")
                            break
                        time.sleep(0.02)
            for d in sorted(p.made, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    pass

    def _make(self, p, rel, inner, monitor):
        target = os.path.join(p.base, rel)
        made = _makedirs_parents(target, p)
        os.mkdir(target, 0o755)  # the last level must be new: that is how a taken name shows
        if p.h.version == 1 and "cpuset" in p.h.controllers:
            for level in made + [target]:
                _cpuset_inherit(level)
        if p.h.version == 2 and self.layout == "unified":
            _delegate_controllers(p.base, target)
        if monitor:
            p.monitor = target
            p.made = sorted(set(p.made + made))
            return
        p.limit = target
        p.payload = target
        if inner:
            payload = os.path.join(target, inner)
            if p.h.version == 2 and self.layout == "unified":
                _enable_controllers(target)
            if p.h.version == 1 and "devices" in p.h.controllers and self.conf is not None:
                # v1 refuses a rule "a" on a cgroup that has children (EINVAL): the limit
                # cgroup gets its rules before its inner leaf exists, as with LXC, instead of
                # at "ready"; the leaf inherits them and the container cannot widen them
                self.apply_devices()
                self._devices_applied = True
            os.mkdir(payload, 0o755)
            if p.h.version == 1 and "cpuset" in p.h.controllers:
                _cpuset_inherit(payload)
            p.payload = payload
        p.made = sorted(set(p.made + made))

    def _unmake(self, p, monitor):
        if monitor:
            if p.monitor:
                _remove_tree(p.monitor)
            p.monitor = None
        else:
            if p.limit:
                _remove_tree(p.limit)
            p.limit = p.payload = None
        for d in sorted(p.made, reverse=True):
            try:
                os.rmdir(d)
                p.made.remove(d)
            except OSError:
                pass

    def give_to_container_root(self, idmap_lines):
        """As LXC for an lxc.idmap container (chown_cgroup_wrapper): its root may use its
        payload cgroups, so an init such as systemd can make its own inside. Root gives them
        to the host ids of container root. An ordinary user keeps owning them (lxc-attach,
        lxc-cgroup and their removal stay the user's) and gives them the container root's
        group, group-writable: as root of a user namespace with the container's map (LXC's
        userns_exec_1), since only there may it chown to that group."""
        from ..idmap.userns import parse_idmap, run_in_userns

        if not any(p.payload for p in self.placed):
            # none made (an ordinary user with no cgroup delegated: the start goes on
            # without, as LXC's): nothing to give, so no user namespace made for it (a fork
            # and a newuidmap and newgidmap: ~10 ms of every such unprivileged start)
            return
        maps = parse_idmap(idmap_lines)
        ids = [next((outer for inner, outer, _n in maps[kind] if inner == 0), None)
               for kind in ("u", "g")]
        if None in ids:
            return  # container root is not mapped: nothing of it to own
        if os.geteuid() == 0:
            self.chown(*ids)
            return
        run_in_userns(idmap_lines, lambda own_uid, _gid: self.chown(own_uid, 0),
                      "giving the cgroups to the container's root")

    def chown(self, uid, gid):
        """Give the payload cgroups to the container's root (lxc.idmap: the host ids of
        container uid/gid 0), as LXC does, so an init such as systemd can make its own
        cgroups inside: the directories and the files that move tasks or enable controllers."""
        for p in self.placed:
            if not p.payload:
                continue
            dirs = [p.payload] + ([p.limit] if p.limit != p.payload else [])
            for directory in dirs:
                # the modes LXC gives: its group (container root's) may write them too
                os.chown(directory, uid, gid)
                os.chmod(directory, 0o775)
                for name in _DELEGATED + _kernel_delegates():
                    path = os.path.join(directory, name)
                    if os.path.exists(path):
                        os.chown(path, uid, gid)
                        os.chmod(path, 0o664)

    # -- processes ---------------------------------------------------------------------------
    def enter(self, pid):
        """Move PID into the payload cgroup of every hierarchy."""
        for p in self.placed:
            if p.payload:
                _attach(p.payload, pid)

    def birth_fds(self, attach=False):
        """A child born in its cgroups rather than moved there (no global lock, no grace
        period: kernel/clone3.py): (a descriptor of the payload's directory in the cgroup2
        hierarchy -- ATTACH: its `.lxc` leaf, attach_dirs' -- for clone3's
        CLONE_INTO_CGROUP, or None; descriptors of the payload's `tasks` in each v1
        hierarchy, to which the child, single-threaded, writes "0" to move itself). All
        O_CLOEXEC; the caller closes them."""
        unified, tasks = None, []
        try:
            for p in self.placed:
                if not p.payload:
                    continue
                if p.h.version == 2:
                    target = _attach_leaf(p.payload) if attach else p.payload
                    unified = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                else:
                    tasks.append(os.open(os.path.join(p.payload, "tasks"),
                                         os.O_WRONLY | os.O_CLOEXEC))
        except OSError as exc:
            for fd in tasks + ([unified] if unified is not None else []):
                os.close(fd)
            raise CgroupError(f"cannot open the cgroup {exc.filename}: {os.strerror(exc.errno)}",
                              hint=_hint_for_create(exc)) from None
        return unified, tasks

    def enter_attached(self, pid):
        """lxc-attach's placement, as LXC 5 (attach_dirs)."""
        for directory in self.attach_dirs():
            _attach(directory, pid)

    def attach_dirs(self):
        """Where lxc-attach puts its process, as LXC 5: the payload cgroup in v1 hierarchies;
        in a v2 hierarchy its `.lxc` leaf (made on demand), since a v2 cgroup whose controllers
        are delegated to children may hold no process itself. The compiled lxc-attach gets
        this list from the supervisor (attach/facts.py) and writes its pid there itself."""
        return [_attach_leaf(p.payload) if p.h.version == 2 else p.payload
                for p in self.placed if p.payload]

    def enter_monitor(self, pid):
        for p in self.placed:
            if p.monitor:
                _attach(p.monitor, pid)

    def pids(self):
        """Every pid in the container's cgroups (all levels below the limit cgroup)."""
        p = self._counting_hierarchy()
        if p is None:
            return []
        out = []
        for directory, _dirs, _files in os.walk(p.limit):
            out.extend(_read_pids(os.path.join(directory, "cgroup.procs")))
        return out

    def _counting_hierarchy(self):
        prefer = [p for p in self.placed if p.limit and p.h.version == 2]
        prefer += [p for p in self.placed if p.limit and p.h.version == 1]
        return prefer[0] if prefer else None

    def kill_all(self, sig=signal.SIGKILL):
        """Send SIG to every process of the container. SIGKILL uses cgroup.kill when the
        kernel has it (no race with forks); otherwise the tasks are frozen first so none can
        fork away, signalled, then thawed (a frozen v1 task only dies once thawed)."""
        unified = self.unified()
        if sig == signal.SIGKILL and unified and unified.limit and \
                os.path.exists(os.path.join(unified.limit, "cgroup.kill")):
            try:
                _write(os.path.join(unified.limit, "cgroup.kill"), "1")
                return
            except OSError:
                pass
        was = self.freezer_state()
        froze = False
        if was == "THAWED":
            try:
                self.freeze(timeout=1)
                froze = True
            except LxcError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if froze or (sig == signal.SIGKILL and was in ("FROZEN", "FREEZING")):
            self.unfreeze()

    # -- freezer -----------------------------------------------------------------------------
    def _freezer(self):
        """("v1", dir) on a v1/hybrid host with the freezer controller, ("v2", dir) with a
        unified layout (LXC 5 uses the v1 freezer whenever the layout is not unified)."""
        if self.layout != "unified":
            p = self.hierarchy_for("freezer")
            if p is not None and p.h.version == 1 and p.limit:
                return "v1", p.limit
        u = self.unified()
        if u is not None and u.limit and os.path.exists(os.path.join(u.limit, "cgroup.freeze")):
            return "v2", u.limit
        return None, None

    def freezer_state(self):
        """FROZEN, FREEZING or THAWED; None when there is no freezer for this container."""
        kind, directory = self._freezer()
        if kind == "v1":
            return _read(os.path.join(directory, "freezer.state")).strip()
        if kind == "v2":
            wanted = _read(os.path.join(directory, "cgroup.freeze")).strip() == "1"
            frozen = _events(directory).get("frozen") == "1"
            if wanted:
                return "FROZEN" if frozen else "FREEZING"
            return "THAWED"
        return None

    def freeze(self, timeout=10.0):
        """Freeze and wait until every task is frozen (TIMEOUT seconds, None = no limit: LXC
        waits forever, but one supervisor serves many containers and must not hang)."""
        kind, directory = self._freezer()
        if kind is None:
            raise CgroupError(f"{self.name} has no freezer cgroup",
                              hint="the freezer controller is not mounted or not delegated here")
        deadline = None if timeout is None else time.monotonic() + timeout
        if kind == "v1":
            state_file = os.path.join(directory, "freezer.state")
            while True:
                # a FREEZING cgroup needs the request repeated (kernel cgroup-v1/freezer doc)
                _write(state_file, "FROZEN")
                if _read(state_file).strip() == "FROZEN":
                    return
                if deadline is not None and time.monotonic() > deadline:
                    self.unfreeze()
                    raise CgroupError(f"{self.name} did not freeze within {timeout} s",
                                      hint="a task is stuck in the kernel (D state); retry later")
                time.sleep(FREEZE_POLL)
        _write(os.path.join(directory, "cgroup.freeze"), "1")
        while _events(directory).get("frozen") != "1":
            if deadline is not None and time.monotonic() > deadline:
                self.unfreeze()
                raise CgroupError(f"{self.name} did not freeze within {timeout} s",
                                  hint="a task is stuck in the kernel (D state); retry later")
            time.sleep(FREEZE_POLL)

    def unfreeze(self):
        kind, directory = self._freezer()
        if kind == "v1":
            _write(os.path.join(directory, "freezer.state"), "THAWED")
        elif kind == "v2":
            _write(os.path.join(directory, "cgroup.freeze"), "0")

    # -- lxc-cgroup --------------------------------------------------------------------------
    def _file(self, key):
        if "/" in key or key.startswith(".") or not key:
            raise CgroupError(f"invalid cgroup file name {key!r}",
                              hint="give a file of the container's cgroup, e.g. memory.limit_in_bytes")
        controller = key.split(".", 1)[0]
        p = self.hierarchy_for(controller)
        if p is None or not p.limit:
            have = sorted({c for q in self.placed for c in q.h.controllers if q.h.version == 1})
            raise CgroupError(f'no "{controller}" controller for {key}',
                              hint="controllers here: " + (" ".join(have) or "none"))
        return p, os.path.join(p.limit, key)

    def get(self, key):
        """The raw content of cgroup file KEY (with its newline), as lxc-cgroup prints it."""
        key = _file_name(key)
        if key.startswith("devices.") and self._device_program():
            raise CgroupError(f"{key} cannot be read: this container's devices are a cgroup2 "
                              "program, not files", hint=f"lxc-info -n {self.name} --devices "
                                                         "shows its rules")
        p, path = self._file(key)
        if p.h.version == 2 and key.startswith("devices."):
            raise CgroupError(f"{key} cannot be read on cgroup2 (devices are a BPF program)")
        try:
            return _read(path)
        except OSError as exc:
            raise CgroupError(f"cannot read {path}: {os.strerror(exc.errno)}",
                              hint=_hint_for_file(path, exc)) from None

    def set(self, key, value):
        from .limits import device_value
        key = _file_name(key)
        if key in ("devices.allow", "devices.deny") and self._device_program():
            self._set_device_rule(key, value)
            return
        _p, path = self._file(key)
        if key in ("devices.allow", "devices.deny"):
            value = device_value(value, key)
        try:
            _write(path, value)
        except OSError as exc:
            raise CgroupError(f"cannot write {value!r} to {path}: {os.strerror(exc.errno)}",
                              hint=_hint_for_file(path, exc)) from None

    # -- device rules --------------------------------------------------------------------------
    def _device_program(self):
        """Whether device rules go to a cgroup2 program: the container has one, or it has no
        rules yet on a host without a v1 devices controller (LXC: a pure cgroup2 host)."""
        mode = (self.devices or {}).get("mode")
        if mode == "bpf":
            return True
        if mode == "v1":
            return False
        return self.hierarchy_for("devices") is None or \
            self.hierarchy_for("devices").h.version == 2

    def _set_device_rule(self, key, value):
        """lxc-cgroup devices.allow/deny and lxc-device on a program: the rule is added to the
        container's list as LXC adds it, and the program replaced in one step. A container
        started without device rules has a deny-list (everything allowed), where an allow
        changes nothing and a deny takes its device away (LXC would start an empty allow-list
        there: the first lxc-device add would take every other device away)."""
        from . import devices as D, devprog
        try:
            rule = D.parse(key, value)
        except D.DeviceRuleError as exc:
            raise CgroupError(exc.message, hint=exc.hint) from None
        state = dict(self.devices or {})
        if state.get("mode") == "bpf":
            devices = D.DeviceList.from_json(state["list"])
        elif os.geteuid() != 0:
            return  # as at start (devices.plan): no program without root; the container's
            # user namespace is what keeps host devices out
        else:
            devices = D.DeviceList(default_allow=True)
            state = {"mode": "bpf", "family": None, "prog": None}
        changed = devices.add(rule)
        unified = self.unified()
        directory = state.get("dir") or (unified.limit if unified else None)
        if not directory:
            raise CgroupError(f"{self.name} has no cgroup2 cgroup for a device program")
        if not changed and (state.get("prog") is None or
                            state["prog"] in devprog.attached(directory)):
            return  # LXC: "Device bpf program unaltered" (one detached is put back, though)
        try:
            state["prog"] = devprog.replace(directory, devices, state.get("prog"))
        except devprog.DeviceProgramError as exc:
            raise CgroupError(exc.message, hint=exc.hint) from None
        state.update(dir=directory, list=devices.to_json())
        self.devices = state

    def device_rules(self):
        """What restricts this container's devices now, for lxc-info --devices:
        {"control": "bpf"|"v1"|"none", ...} read from the kernel where it can be."""
        state = self.devices or {}
        mode = state.get("mode")
        if mode == "bpf":
            from . import devices as D, devprog
            devices = D.DeviceList.from_json(state["list"])
            here = devprog.attached(state["dir"])
            every = devprog.attached(state["dir"], effective=True)
            return {"control": "bpf", "cgroup": state["dir"], "program": state["prog"],
                    "attached": state["prog"] in here,
                    "others": [i for i in every if i != state["prog"]],
                    "default": "allow" if devices.default_allow else "deny",
                    "rules": [("allow " if r.allow else "deny ") + r.text()
                              for r in devices.rules]}
        p = self.hierarchy_for("devices")
        unified = self.unified()
        if mode is None and unified is not None and unified.limit and \
                (p is None or p.h.version == 2):
            # a container another manager runs (real LXC's monitor): its program, if any
            from . import devprog
            theirs = devprog.attached(unified.limit)
            if theirs:
                return {"control": "bpf", "cgroup": unified.limit, "program": theirs[0],
                        "attached": True, "others": [], "default": None, "rules": [],
                        "owner": "its monitor (the rules are its own)"}
        if mode != "none" and p is not None and p.h.version == 1 and p.limit:
            try:
                listed = _read(os.path.join(p.limit, "devices.list")).split("\n")
            except OSError:
                listed = []
            return {"control": "v1", "cgroup": p.limit,
                    "rules": ["allow " + line for line in listed if line]}
        return {"control": "none"}

    # -- limits and stats ----------------------------------------------------------------------
    def apply_limits(self, conf=None, devices=True):
        """Every lxc.cgroup.* / lxc.cgroup2.* limit. devices=False leaves devices.allow/deny
        for apply_devices(): LXC writes device rules only once the container has set up its
        /dev and console, so a deny-all list cannot lock init out of them."""
        from .limits import apply
        conf = conf or self.conf
        if conf is not None:
            apply(self, conf, devices=devices)

    def apply_devices(self, conf=None):
        from .limits import apply
        if getattr(self, "_devices_applied", False):
            return  # on the limit cgroup already, before the inner leaf was made (_make)
        conf = conf or self.conf
        if conf is not None:
            apply(self, conf, devices=True, others=False)

    def planned(self):
        """{hierarchy key: payload dir} this container would get (nothing is made;
        lxc-start --explain). The -N suffix is decided only by create()."""
        if self.names is None:
            return dict(self.paths)
        return {p.h.key: os.path.join(p.base, self.names.payload()) for p in self.placed}

    def stats(self):
        from .stats import collect
        return collect(self)

    # -- removal -----------------------------------------------------------------------------
    def destroy(self, timeout=2.0):
        """Remove the payload and monitor cgroups everywhere. Processes still inside are
        waited for a short while (they may be exiting), then reported."""
        me = os.getpid()
        failures = []
        for p in self.placed:
            for directory in (p.monitor, p.limit):
                if not directory:
                    continue
                if me in _read_pids(os.path.join(directory, "cgroup.procs")):
                    try:
                        _attach(p.base, me)  # the monitor leaves its own cgroup first
                    except OSError:
                        pass
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        _remove_tree(directory)
                        break
                    except OSError as exc:
                        if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                            failures.append((directory, exc))
                            break
                        time.sleep(0.02)
            p.monitor = None if p.monitor and not os.path.isdir(p.monitor) else p.monitor
            if p.limit and not os.path.isdir(p.limit):
                p.limit = p.payload = None
            for d in sorted(p.made, reverse=True):
                try:
                    os.rmdir(d)  # only when empty: other containers may share lxc.cgroup.dir
                except OSError:
                    pass
        if failures:
            directory, exc = failures[0]
            left = _read_pids(os.path.join(directory, "cgroup.procs"))
            raise CgroupError(f"cannot remove the cgroup {directory}: {os.strerror(exc.errno)}"
                              + (f" (processes still inside: {' '.join(map(str, left))})"
                                 if left else ""),
                              hint="kill what is left (lxc-stop -n NAME -k), then rmdir the directory")


# -- small helpers --------------------------------------------------------------------------------
def _file_name(key):
    """lxc-cgroup takes cgroup file names (LXC); a config key's spelling is read too
    (`lxc.cgroup2.devices.allow` -> `devices.allow`)."""
    for prefix in ("lxc.cgroup2.", "lxc.cgroup."):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _writable(directory):
    return os.access(directory, os.W_OK) and os.access(os.path.join(directory, "cgroup.procs"),
                                                       os.W_OK)


def _makedirs_parents(target, p):
    """Create the missing levels between P's base and TARGET's parent; return those made."""
    made = []
    parent = os.path.dirname(target)
    missing = []
    while parent != p.base and not os.path.isdir(parent) and parent.startswith(p.base):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
            made.append(d)
        except FileExistsError:
            pass
    return made


def _enable_controllers(directory):
    """cgroup2: make every controller this cgroup has available to its children."""
    wanted = _read(os.path.join(directory, "cgroup.controllers")).split()
    if wanted:
        _write(os.path.join(directory, "cgroup.subtree_control"),
               " ".join("+" + c for c in wanted))


def _delegate_controllers(base, target):
    """cgroup2: enable the base's controllers on every level from BASE down to TARGET's parent
    so that TARGET has them (LXC does the same; a level with processes refuses, EBUSY)."""
    levels = []
    d = os.path.dirname(target)
    while True:
        levels.append(d)
        if d == base or len(d) <= len(base):
            break
        d = os.path.dirname(d)
    for level in reversed(levels):
        try:
            _enable_controllers(level)
        except OSError as exc:
            log.warn(f"cannot enable controllers in {level}: {os.strerror(exc.errno)}")


def prewarm():
    """Start, in a thread, a no-op move of this process into the cgroup it is already in.

    Moving a process between cgroups takes the kernel's global cgroup_threadgroup_rwsem for
    writing, which first waits for an RCU grace period (6-15 ms here) when no move happened in
    the last ~20 ms; later moves are fast. A start pays that once, in `enter` -- unless this
    thread has paid it meanwhile, while the supervisor reads the config, plans, makes the
    cgroups and forks the spawner. Join it before the first move (`enter`). The file is found
    here, in the caller's thread; the thread makes only the open, write and close system calls
    (no Python lock held across them, the GIL released), so a fork beside it (apparmor_parser,
    hooks, the spawner) leaves the child nothing half-held. Errors (e.g. a user's cgroup not
    writable) are ignored."""
    import threading

    try:
        where = H.read_proc_cgroup("self")
        path = next((os.path.join(h.dir_of(where[h.key]), "cgroup.procs")
                     for h in H.read_mountinfo() if h.key in where), None)
    except (OSError, ValueError):
        path = None
    if path is None:
        return None

    def move_self():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")  # "0": the writing process itself
            finally:
                os.close(fd)
        except OSError:
            pass

    thread = threading.Thread(target=move_self, name="cgroup-prewarm", daemon=True)
    thread.start()
    return thread


def _attach_leaf(payload):
    """A v2 payload's `.lxc` leaf for attached processes (made on demand), or the payload
    itself where it cannot be made."""
    leaf = os.path.join(payload, ".lxc")
    try:
        os.mkdir(leaf, 0o755)
    except FileExistsError:
        pass
    except OSError:
        return payload
    return leaf


def _attach(directory, pid):
    path = os.path.join(directory, "cgroup.procs")
    try:
        _write(path, str(pid))
    except OSError as exc:
        raise CgroupError(f"cannot move process {pid} into {directory}: {os.strerror(exc.errno)}",
                          hint=_hint_for_create(exc)) from None


_DELEGATED = ("cgroup.procs", "tasks", "cgroup.subtree_control", "cgroup.threads",
              "cgroup.clone_children")


def _kernel_delegates():
    """The files cgroup2 says a delegatee owns (memory.oom.group, memory.reclaim, ...), as
    LXC reads them."""
    try:
        return tuple(_read("/sys/kernel/cgroup/delegate").split())
    except OSError:
        return ()


def _remove_tree(directory):
    """rmdir DIRECTORY and every cgroup below it, deepest first (cgroupfs has no rm -r)."""
    if not os.path.isdir(directory):
        return
    for current, _dirs, _files in os.walk(directory, topdown=False):
        try:
            os.rmdir(current)
        except FileNotFoundError:
            pass


def member_pids(directory):
    """Every pid in the cgroup DIRECTORY and the cgroups below it."""
    out = []
    for current, _dirs, _files in os.walk(directory):
        out.extend(_read_pids(os.path.join(current, "cgroup.procs")))
    return out


def _read_pids(path):
    try:
        return [int(x) for x in _read(path).split()]
    except (OSError, ValueError):
        return []


def _events(directory):
    try:
        text = _read(os.path.join(directory, "cgroup.events"))
    except OSError:
        return {}
    return dict(line.split(None, 1) for line in text.splitlines() if " " in line)


def _hint_for_create(exc):
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ("this user cannot create cgroups there: run as root, or delegate the cgroup "
                "(lxc-checkconfig shows how)")
    if exc.errno == errno.ENOSPC:
        return "cpuset.cpus/cpuset.mems of the parent cgroup are empty"
    return None
