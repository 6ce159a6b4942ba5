"""The container's half of an attach, worked out by its supervisor for the compiled lxc-attach.

`lxc-attach -n NAME -- CMD` in Python spends ~60 ms of CPU before the command runs: the
interpreter, the config read (5-9 ms), the seccomp profile compiled by libseccomp (~10 ms).
The compiled front door (native/lxc-front.c lxc_attach) skips all of it with one round trip
to the container's supervisor (protocol.AttachRequest), which answers from what it keeps:

- the container's part of the entry helper's plan (spawn/entry.py's records): FLAGS,
  PRLIMIT, PROC, LSM, NS, PERSONA, SETUP_IDS, CAPS, SECCOMP -- exactly what attach.py's
  _Plan and entry.encode give for the same container; the caller adds its part (TTY,
  TARGET_IDS, CWD, ENV, ARG);
- the namespace fds, opened from /proc/INIT/ns while the supervisor's own pidfd of init
  names INIT before and after (attach.still_init: a reused pid never leads elsewhere), for
  the namespaces init does not share with the caller (the caller sends its own inodes);
- lxc.environment of the container's config file, the cgroups to enter (attach_dirs), the
  user namespace's maps, a sealed memfd copy of lxc-entry to exec;
- the stat of every file whose content went into the answer: the config, its includes,
  the seccomp profile. LXC and the Python tool read them at each attach; the cached part is
  used only while each stats as recorded (the supervisor checks, and works it out again
  when one changed; the front door checks again in its own view, and hands the attach to
  Python if one differs). A file changed in the last second is not cached: a change within
  one timestamp tick keeps every field (api/verdict.py).

Anything the supervisor cannot answer exactly as the Python tool would -- a warning of the
config engine, an error (which needs its file:line), a state not attachable, a caller whose
seccomp state differs -- is an ErrorReply, and the front door execs the Python tool, which
says it in its words. Who may ask: docs/SECURITY.md, "The compiled lxc-attach".
"""

import base64
import os
import struct
import time

from ..kernel import libc
from ..spawn import entry

# the states attach enters (api/container.py takes them from here)
ATTACHABLE = ("RUNNING", "FREEZING", "FROZEN", "THAWED", "STOPPING")
ELEVATED = ("CAP", "CGROUP", "LSM")
SETTLED_NS = 1_000_000_000


class Refused(Exception):
    """The supervisor will not answer this attach: the caller asks Python."""


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def stat_line(path):
    """(line, ctime_ns) in the front door's form, lxc-ls's verdict's: "stat MODE DEV INO SIZE
    MTIME_NS CTIME_NS PATH", or "error ERRNO PATH" for an included directory that is not
    there; Refused for a path the line cannot carry."""
    if not (path.isascii() and path.isprintable()):
        raise Refused(f"path {path!r}")
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"error {exc.errno} {path}", 0
    return (f"stat {st.st_mode} {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} "
            f"{st.st_ctime_ns} {path}"), st.st_ctime_ns


class Static:
    """What an attach reads from files: the container's config (lxc-attach reads it anew:
    environment, prlimits, lxc.proc) and the running config's security (the seccomp
    profile read and compiled), for one set of -e privileges."""

    def __init__(self, config_path, running, elevated):
        from .. import log, security
        from ..config.parser import Loader
        from ..spawn.payload import prlimit_values
        from .attach import persona_of

        warnings = []
        with log.collecting() as said:
            loader = Loader(warn=warnings.append)
            loader.seen = []
            local = loader.load_file(config_path, top=True)
            paths = [path for _kind, path in loader.seen]
            if not paths or paths[0] != config_path:
                raise Refused("the config's own path")
            flags = 0
            records = [entry._record(entry.TAG_PRLIMIT, struct.pack(
                "=IQQ", *(v & 0xFFFFFFFFFFFFFFFF for v in limit)))
                for limit in prlimit_values(local)]
            for key, value in local.family("lxc.proc"):
                records.append(entry._record(entry.TAG_PROC, entry._string(
                    key.replace(".", "/")) + entry._string(value)))
            persona = persona_of(running.value("lxc.arch") or "")
            if persona is not None:
                records.append(entry._record(entry.TAG_PERSONA, struct.pack("=I", persona)))
            if "CAP" not in elevated:
                from ..security import capabilities
                if capabilities.unknown_names(running):
                    raise Refused("unknown capabilities (a warning)")
                prepared = security.prepare(running)
                if prepared.profile:
                    paths.append(prepared.profile)
                if prepared.no_new_privs:
                    flags |= entry.F_NO_NEW_PRIVS
                if prepared.touch_caps:
                    flags |= entry.F_DROP_CAPS
                records.append(entry._record(entry.TAG_CAPS,
                                             struct.pack("=Q", prepared.drop_mask())))
                if prepared.program is not None:
                    records.append(entry._record(entry.TAG_SECCOMP,
                                                 prepared.program))
        if warnings or said:
            raise Refused("warnings")
        self.flags = flags
        self.records = b"".join(records)
        self.env = [os.fsencode(e) for e in (local.value("lxc.environment") or [])
                    + (local.value("lxc.environment.runtime") or [])]
        self.paths = paths
        self.lines = []
        newest = 0
        for path in paths:
            line, ctime = stat_line(path)
            self.lines.append(line)
            newest = max(newest, ctime)
        # cached for later attaches only when nothing changed in the last second
        self.settled = newest <= time.time_ns() - SETTLED_NS

    def current(self):
        """Whether every file still stats as recorded."""
        try:
            return [stat_line(path)[0] for path in self.paths] == self.lines
        except (OSError, Refused):
            return False


def _helper_copy(cache={}):  # noqa: B006 - one sealed copy per supervisor process
    """A sealed memfd copy of lxc-entry (entry.sealed_copy), made once per process: sealed
    against every change, it is the same program for every attach."""
    if "fd" not in cache:
        path = entry.helper_path()
        if path is None:
            raise Refused("the entry helper is not built")
        cache["fd"] = entry.sealed_copy(path)
    return cache["fd"]


def _own_seccomp(cache=[]):  # noqa: B006 - nothing here ever confines the supervisor
    """The supervisor's own seccomp mode (security._seccomp_wanted reads the caller's; the
    front door asks only when its own is 0)."""
    if not cache:
        from ..kernel import seccomp as kseccomp
        cache.append(kseccomp.active())
    return cache[0]


def check_peer(sock, fds):
    """The caller may be given namespace fds: root or the supervisor's own user, in the
    supervisor's pid namespace (and user namespace, for a root supervisor), as for every
    command of this socket (kernel/peer.py); here the pidfd of itself the caller sends
    (FDS: exactly that one) is required on every kernel. A root inside a container that
    shares the host's network namespace reaches these abstract sockets, but lives in
    another pid namespace."""
    from ..kernel import peer

    if len(fds) != 1:
        raise Refused("no pidfd of the caller")
    try:
        peer.check(sock, fds)
    except peer.Refused as exc:
        raise Refused(str(exc)) from None


def answer(sup, request, fds):
    """(reply fields, fds to send) for AttachRequest REQUEST to Supervisor SUP; Refused
    when the Python tool must answer. FDS: what came with the request (the caller's pidfd)."""
    from .attach import AttachError, userns_root
    from ..security import apparmor

    elevated = frozenset(request.elevated)
    if not elevated <= set(ELEVATED):
        raise Refused("-e")
    # the stored state: RUNNING's freezer states (current_state) are all attachable too
    if sup.state not in ATTACHABLE:
        raise Refused("not attachable")
    if os.environ.get("LXCTOOLS_ENTRY") == "python":
        raise Refused("LXCTOOLS_ENTRY=python")
    if _own_seccomp() != 0:
        raise Refused("the supervisor is under seccomp")
    config_path = os.path.join(sup.lxcpath, sup.name, "config")
    if not os.path.exists(config_path):
        raise Refused("no config file: Python attaches with the running config")
    cache = sup.__dict__.setdefault("attach_static", {})
    static = cache.get(elevated)
    if static is None or not static.current():
        cache.pop(elevated, None)
        from ..errors import LxcError
        try:
            static = Static(config_path, sup.conf, elevated)
        except (OSError, LxcError) as exc:
            raise Refused(str(exc)) from None
        if static.settled:
            cache[elevated] = static
    init_pid, pidfd = sup.init_pid, sup.init_pidfd
    if pidfd is None or pidfd < 0 or libc.pidfd_pid(pidfd) != init_pid:
        raise Refused("no pidfd of init")
    ns_fds = []
    records = [static.records]
    try:
        names = []
        for name in libc.JOIN_ORDER:
            try:
                theirs = os.readlink(f"/proc/{init_pid}/ns/{name}")
            except FileNotFoundError:
                continue
            mine = request.ns.get(name)
            if mine is None or theirs == f"{name}:[{mine}]":
                continue
            ns_fds.append(os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC))
            names.append(name)
            records.append(entry._record(entry.TAG_NS, struct.pack(
                "=II", len(ns_fds) - 1, libc.NAMESPACE_FLAGS[name])))
        if "LSM" not in elevated and "mnt" in names:
            label = apparmor.label_of(init_pid)
            if label not in (None, apparmor.UNCONFINED):
                records.append(entry._record(entry.TAG_LSM, entry._string(label)))
        setup = None
        maps = b""
        if "user" in names:
            setup = userns_root(init_pid)
            records.append(entry._record(entry.TAG_SETUP_IDS, struct.pack("=II", *setup)))
            for kind, file in (("U", "uid_map"), ("G", "gid_map")):
                with open(f"/proc/{init_pid}/{file}", "rb") as handle:
                    maps += b"".join(kind.encode() + b" " + b" ".join(line.split()) + b"\n"
                                     for line in handle if line.strip())
        cgroups = []
        if "CGROUP" not in elevated and sup.cgroups is not None:
            cgroups = sup.cgroups.attach_dirs()
        if libc.pidfd_pid(pidfd) != init_pid:
            raise Refused("init exited")
        helper = _helper_copy()
    except (OSError, AttachError, Refused) as exc:
        for fd in ns_fds:
            os.close(fd)
        raise Refused(str(exc)) from None
    if static.flags:
        records.insert(0, entry._record(entry.TAG_FLAGS, struct.pack("=I", static.flags)))
    fields = {
        "version": entry.PLAN_VERSION, "init_pid": init_pid,
        "records": _b64(b"".join(records)), "nfds": len(ns_fds),
        "mnt": "mnt" in names, "setup": list(setup) if setup else None,
        "env": _b64(b"".join(e + b"\0" for e in static.env)),
        "files": _b64("".join(line + "\n" for line in static.lines).encode()),
        "cgroups": _b64(b"".join(os.fsencode(d) + b"\0" for d in cgroups)),
        "maps": _b64(maps),
    }
    return fields, ns_fds + [helper], ns_fds
