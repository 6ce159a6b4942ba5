"""lxc-ls's container set and the per-container facts it shows.

Speed matters (lxc-ls -f over 50 containers is measured against LXC's 11 ms), so the few
keys it needs (lxc.start.auto, lxc.group, lxc.idmap) are read by a line scan; a config that
uses lxc.include or a legacy key name goes through the full config engine instead, so the
answer is always the engine's. The state comes from Container.state (the runtime fills it);
running-only facts come from one supervisor request per running container (fill_running).
"""

import errno
import os

from .container import Container

COLUMNS = ("NAME", "STATE", "PID", "RAM", "SWAP", "AUTOSTART", "GROUPS", "INTERFACE", "IPV4",
           "IPV6", "UNPRIVILEGED")
FANCY_DEFAULT = ("NAME", "STATE", "AUTOSTART", "GROUPS", "IPV4", "IPV6", "UNPRIVILEGED")

_LS_KEYS = ("lxc.start.auto", "lxc.group", "lxc.idmap")
_LIST_KEYS = ("lxc.group", "lxc.idmap")


class Entry:
    """One row of lxc-ls. Values are None when unknown (printed as "-")."""

    __slots__ = ("name", "state", "pid", "ram", "swap", "autostart", "groups", "interfaces",
                 "ipv4", "ipv6", "unprivileged", "defined")

    def __init__(self, name):
        self.name = name
        self.state = None
        self.pid = None
        self.ram = None        # bytes
        self.swap = None       # bytes
        self.autostart = None  # "0" / "1"
        self.groups = []
        self.interfaces = []
        self.ipv4 = []
        self.ipv6 = []
        self.unprivileged = None
        self.defined = False

    def as_dict(self):
        return {"name": self.name, "state": self.state, "pid": self.pid, "ram": self.ram,
                "swap": self.swap, "autostart": self.autostart == "1", "groups": self.groups,
                "interfaces": self.interfaces, "ipv4": self.ipv4, "ipv6": self.ipv6,
                "unprivileged": bool(self.unprivileged), "defined": self.defined}


def defined_names(lxcpath, problems=None):
    """Directories of LXCPATH holding a config and no creation in progress, sorted (strcmp).

    A `partial` marker left by a dead lxc-create makes the entry invisible and is cleaned up
    on the way (as any lookup of that name would). PROBLEMS, a list, receives (name, reason)
    for each entry that looks like a container but cannot be read (its config not a regular
    file, no permission): lxc-ls says so on stderr and lists the rest. An lxcpath that
    cannot be listed is (lxcpath, reason); one that does not exist is no problem (LXC).
    """
    import stat

    try:
        entries = os.listdir(lxcpath)
    except OSError as exc:
        if problems is not None and exc.errno != errno.ENOENT:
            problems.append((lxcpath, f"cannot list the lxcpath: {exc.strerror}"))
        return []
    names = []
    for entry in entries:
        if entry.startswith("."):
            continue
        base = os.path.join(lxcpath, entry)
        try:
            mode = os.stat(os.path.join(base, "config")).st_mode
        except OSError as exc:
            mode = 0
            if problems is not None and exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                problems.append((entry, f"cannot read {base}/config: {exc.strerror}"))
        else:
            if problems is not None and not stat.S_ISREG(mode):
                problems.append((entry, f"{base}/config is not a regular file"))
        if not stat.S_ISREG(mode):
            # lxc-copy writes the config after the rootfs: a copy killed mid-rsync has none.
            if os.path.exists(os.path.join(base, "partial")):
                Container(entry, lxcpath)
            continue
        if os.path.exists(os.path.join(base, "partial")):
            Container(entry, lxcpath)  # settles a stale marker
            continue
        names.append(entry)
    names.sort(key=lambda n: n.encode("utf-8", "surrogateescape"))
    return names


def active_names(lxcpath):
    """Names of containers that are running in LXCPATH (their supervisor's socket listens)."""
    from ..monitor.commands import active_names as listening
    return listening(lxcpath)


def quick_keys(config_path, problems=None):
    """{key: value} for lxc-ls's keys by a line scan, or None when the engine must decide."""
    try:
        with open(config_path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        if problems is not None:
            problems.append((os.path.basename(os.path.dirname(config_path)),
                             f"cannot read {config_path}: {exc.strerror}"))
        return {}
    found = {"lxc.start.auto": None, "lxc.group": [], "lxc.idmap": []}
    if b"\0" in data:
        return None  # the engine names the line
    for raw in data.split(b"\n"):
        line = raw.lstrip(b" \t")
        if not line.startswith(b"lxc."):
            if line.strip() and not line.startswith((b"#", b"lxctools.")):
                return None  # not a config line: the engine says what is wrong, and where
            continue
        key, eq, value = line.partition(b"=")
        key = key.rstrip(b" \t")
        if key == b"lxc.include" or key == b"lxc.id_map":
            return None
        if not eq:
            continue
        key = key.decode("utf-8", "surrogateescape")
        if key not in found:
            continue
        value = value.strip(b" \t\r\n").decode("utf-8", "surrogateescape")
        if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]:
            value = value[1:-1]
        if key in _LIST_KEYS:
            if value:
                found[key].extend(value.split() if key == "lxc.group" else [value])
            else:
                found[key] = []
        else:
            found[key] = value or None
    return found


def engine_keys(config_path, problems=None, lxcpath=None, name=None):
    """The same keys through the full config engine (includes, legacy names). With LXCPATH
    and NAME, the verdict is saved for the compiled lxc-ls (save_verdict)."""
    from ..config.parser import Loader
    from ..errors import LxcError

    loader = Loader()
    loader.seen = []
    try:
        conf = loader.load_file(config_path, top=True)
    except LxcError as exc:
        if problems is not None:
            problems.append((os.path.basename(os.path.dirname(config_path)), str(exc)))
        return {}
    keys = {"lxc.start.auto": conf.value("lxc.start.auto"),
            "lxc.group": list(conf.value("lxc.group") or []),
            "lxc.idmap": list(conf.value("lxc.idmap") or [])}
    if lxcpath is not None:
        from .verdict import save_verdict
        save_verdict(lxcpath, name, config_path, loader.seen, keys)
    return keys


def live_info(lxcpath, name, live, recorded, wanted):
    """The supervisor's info for NAME, or None when it is stopped. A record without a
    listening socket (a crashed supervisor) goes through Container, which adopts it."""
    from ..errors import NotRunning
    from ..monitor.commands import request

    if name not in live and name not in recorded:
        return None
    if name not in live:
        from .container import Container
        if Container(name, lxcpath).state == "STOPPED":
            return None
    try:
        return request(lxcpath, name, "info", stats=bool({"RAM", "SWAP"} & set(wanted)))
    except (NotRunning, OSError):
        return None


def fill_running(entry, info, wanted):
    """PID, RAM, SWAP, INTERFACE, IPV4, IPV6 from one info answer (and /proc)."""
    pid = info.get("init_pid")
    if "PID" in wanted:
        entry.pid = pid if pid and pid > 0 else None
    if {"IPV4", "IPV6", "INTERFACE"} & set(wanted) and pid and pid > 0:
        from ..kernel.procdir import ProcDir
        from ..network import netinfo
        with ProcDir(pid, info.get("init_start")) as proc:
            entry.ipv4, entry.ipv6 = netinfo.addresses(proc)
            entry.interfaces = netinfo.interfaces(proc)
    if {"RAM", "SWAP"} & set(wanted):
        stats = info.get("stats") or {}
        entry.ram = stats.get("memory_bytes")
        entry.swap = stats.get("swap_bytes")


def list_containers(lxcpath, *, active=False, running=False, frozen=False, stopped=False,
                    defined=False, groups=None, regex=None, wanted=(), problems=None):
    """lxc-ls's selection (lxc-behaviour.md 2.8) as Entry rows sorted by name.

    WANTED is the set of column names whose values are needed; NAME alone needs no config
    read and no state query unless a state filter asks for it. PROBLEMS (a list) receives
    (name, reason) for what could not be read (defined_names, the config's keys).
    """
    wanted = set(wanted)
    if active or frozen:
        names = sorted(set(active_names(lxcpath)))
        known = set(defined_names(lxcpath, problems))
    else:
        known = set(defined_names(lxcpath, problems))
        actives = set() if defined else set(active_names(lxcpath))
        names = sorted(known | actives, key=lambda n: n.encode("utf-8", "surrogateescape"))
    rows = []
    need_state = running or stopped or frozen or active or "STATE" in wanted or bool(
        wanted & {"PID", "RAM", "SWAP", "INTERFACE", "IPV4", "IPV6"})
    need_keys = bool(groups) or bool(wanted & {"AUTOSTART", "GROUPS", "UNPRIVILEGED"})
    if need_state:
        # one look at which supervisors listen, then one request per running container
        from ..monitor.commands import active_names as listening, recorded_names
        live = set(listening(lxcpath))
        recorded = set(recorded_names(lxcpath))
    for name in names:
        if regex is not None and not regex.search(name):
            continue
        entry = Entry(name)
        entry.defined = name in known
        if defined and not entry.defined:
            continue
        if need_keys:
            path = os.path.join(lxcpath, name, "config")
            keys = quick_keys(path, problems)
            if keys is None:
                keys = engine_keys(path, problems, lxcpath, name)
            entry.autostart = keys.get("lxc.start.auto") or "0"
            entry.groups = keys.get("lxc.group") or []
            entry.unprivileged = bool(keys.get("lxc.idmap"))
            if groups and not all(g in entry.groups for g in groups):
                continue
        if need_state:
            info = live_info(lxcpath, name, live, recorded, wanted)
            entry.state = info["state"] if info else "STOPPED"
            if stopped and entry.state != "STOPPED":
                continue
            if (running or active) and entry.state == "STOPPED":
                continue
            if frozen and not active and entry.state != "FROZEN":
                continue
            if info and entry.state != "STOPPED":
                fill_running(entry, info, wanted)
        rows.append(entry)
    return rows
