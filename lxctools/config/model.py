"""The expanded configuration: every key's current value after includes and clears.

Values are stored normalised by the key's grammar; get() renders them the way liblxc's
getters do (what lxc-info -c and python-lxc's get_config_item print).
"""

import re

from ..errors import ConfigError
from . import keys as K
from .values import BadValue

_NET_RE = re.compile(r"lxc\.net\.([0-9]+)(?:\.(.+))?$")

# Family roots whose empty value clears every key below them.
_PREFIX_CLEARS = ("lxc.net", "lxc.hook", "lxc.cgroup2", "lxc.sysctl", "lxc.prlimit", "lxc.proc",
                  "lxc.namespace.share")
_CGROUP_V1_NOT_LIMITS = ("lxc.cgroup.dir", "lxc.cgroup.relative")
# device rules, whose order across allow and deny decides what is allowed (a deny after an
# allow of the same device takes it back): kept in line order besides the per-key lists
DEVICE_KEYS = ("lxc.cgroup.devices.allow", "lxc.cgroup.devices.deny",
               "lxc.cgroup2.devices.allow", "lxc.cgroup2.devices.deny")


# What liblxc's getters print for a key nobody set (checked with real LXC 5.0.2's lxc-info -c
# on an empty config, tests/integration/test_config_getters.py): zeros, LXC's defaults, and
# "(null)" where its getter prints a NULL string.
GETTER_DEFAULTS = {
    "lxc.ephemeral": "0", "lxc.no_new_privs": "0", "lxc.sched.core": "0",
    "lxc.keyring.session": "0", "lxc.monitor.unshare": "0", "lxc.monitor.signal.pdeath": "9",
    "lxc.time.offset.boot": "0 ns", "lxc.time.offset.monotonic": "0ns",
    "lxc.signal.halt": "0", "lxc.signal.reboot": "0", "lxc.signal.stop": "0",
    "lxc.init.uid": "0", "lxc.init.gid": "0",
    "lxc.rootfs.mount": "/usr/lib/x86_64-linux-gnu/lxc/rootfs", "lxc.rootfs.managed": "1",
    "lxc.cgroup.dir": "(null)", "lxc.cgroup.dir.container": "(null)",
    "lxc.cgroup.dir.monitor": "(null)", "lxc.cgroup.dir.monitor.pivot": "(null)",
    "lxc.cgroup.dir.container.inner": "(null)", "lxc.cgroup.relative": "0",
    "lxc.apparmor.allow_incomplete": "0", "lxc.apparmor.allow_nesting": "0",
    "lxc.seccomp.allow_nesting": "0", "lxc.console.rotate": "0",
    "lxc.console.buffer.size": "0", "lxc.console.size": "0", "lxc.tty.max": "0",
    "lxc.pty.max": "0", "lxc.autodev": "1", "lxc.autodev.tmpfs.size": "0",
    "lxc.hook.version": "0", "lxc.log.level": "NOTSET", "lxc.start.auto": "0",
    "lxc.start.delay": "0", "lxc.start.order": "0",
}
# the kernel's limit of lines in one uid_map or gid_map (UID_GID_MAP_MAX_EXTENTS)
IDMAP_LINES = 340
# keys liblxc can set but has no getter for: lxc-info -c says "KEY invalid"
NO_GETTER = ("lxc.environment.runtime", "lxc.environment.hooks", "lxc.include")


class Conf:
    """A container's expanded config. items maps full key -> str (single) or list (repeating)."""

    def __init__(self):
        self.items = {}
        self.device_lines = []  # [(key, value)] of DEVICE_KEYS in line order: device_rules()

    # -- writing -------------------------------------------------------------------------
    def apply(self, key, value):
        """Set KEY from one config line's VALUE, as liblxc's setter would."""
        row = K.lookup(key)
        if row is None:
            raise unknown_key(key)
        net = _NET_RE.match(key)
        if net and (len(net.group(1)) > 10 or int(net.group(1)) > 2 ** 32 - 1):
            # LXC reads the index as an unsigned int
            raise ConfigError(f"{key}: the NIC index {net.group(1)} is too large (at most "
                              "4294967295)", key=key, hint="number NICs from 0: lxc.net.0.type")
        if row.subkey is not None and key.startswith(row.name + "."):
            try:
                row.subkey(key[len(row.name) + 1:])
            except BadValue as exc:
                raise ConfigError(f"unknown key {key}: {exc}", key=key, hint=exc.hint) from None
        if value == "":
            if row.empty_is_error:
                raise ConfigError(f"{key} needs a value", key=key,
                                  hint="give the path of an fstab file, or remove the line")
            self.clear(key)
            return
        if key == "lxc.net" or _is_net_root(key):
            raise ConfigError(f'{key} takes no value (only "{key} =" to clear)', key=key)
        if row.family and key in (row.name, row.name + "."):
            raise ConfigError(f"{key} needs a sub-key, e.g. {key}.NAME", key=key)
        if key.startswith("lxc.hook") and key == "lxc.hook":
            raise ConfigError('lxc.hook takes no value (only "lxc.hook =" to clear all hooks)', key=key)
        try:
            stored = row.grammar(value)
        except BadValue as exc:
            raise ConfigError(f"invalid value for {key}: {exc}", key=key, hint=exc.hint) from None
        if stored == "0" and key in ("lxc.signal.halt", "lxc.signal.reboot", "lxc.signal.stop"):
            self.clear(key)  # LXC's 0 is "unset": its default signal applies (getter: 0)
            return
        self._check_exclusive(key, row)
        if row.net_types:
            self._check_net_type(key, row)
        if key == "lxc.idmap":
            self._check_idmap_overlap(stored)
        if row.kind == K.LIST:
            entries = self.items.setdefault(key, [])
            if isinstance(stored, list):
                for item in stored:
                    if key == "lxc.cap.keep" and item == "none":
                        entries.clear()  # as LXC: "none" forgets what was kept before it
                    else:
                        entries.append(item)
            else:
                entries.append(stored)
            if key in DEVICE_KEYS:
                self.device_lines.append((key, stored))
        else:
            self.items[key] = stored

    def clear(self, key):
        """What KEY = (empty) does: drop the key, or every key of the family below it."""
        prefix = key + "."
        if key == "lxc.cgroup":
            doomed = [k for k in self.items if k.startswith(prefix)
                      and not k.startswith(_CGROUP_V1_NOT_LIMITS)]
        elif key.startswith(_PREFIX_CLEARS) or key.startswith("lxc.cgroup.") or _is_net_root(key):
            doomed = [k for k in self.items if k == key or k.startswith(prefix)]
        else:
            doomed = [key] if key in self.items else []
        for k in doomed:
            del self.items[k]
        self.device_lines = [(k, v) for k, v in self.device_lines if k in self.items]

    def _check_exclusive(self, key, row):
        other = {"lxc.cap.drop": "lxc.cap.keep", "lxc.cap.keep": "lxc.cap.drop",
                 "lxc.namespace.clone": "lxc.namespace.keep",
                 "lxc.namespace.keep": "lxc.namespace.clone"}.get(key)
        if other and self.items.get(other):
            raise ConfigError(f"{key} cannot be used together with {other}", key=key,
                              hint=f'clear the other list first with "{other} ="')

    def _check_idmap_overlap(self, line):
        """The kernel refuses a uid_map or gid_map whose ranges overlap on either side (LXC
        takes such lines and fails at start); say so at the line that overlaps."""
        kind, nsid, hostid, count = line.split()
        nsid, hostid, count = int(nsid), int(hostid), int(count)
        same = [e for e in self.items.get("lxc.idmap", []) if e.startswith(kind + " ")]
        if len(same) >= IDMAP_LINES:
            raise ConfigError(f"more than {IDMAP_LINES} lxc.idmap lines of kind {kind}: the "
                              "kernel takes no more in a uid_map or gid_map", key="lxc.idmap",
                              hint="join adjacent ranges into one line")
        for earlier in same:
            other_kind, o_nsid, o_hostid, o_count = earlier.split()
            if other_kind != kind:
                continue
            o_nsid, o_hostid, o_count = int(o_nsid), int(o_hostid), int(o_count)
            if earlier == line:
                raise ConfigError(f'lxc.idmap "{line}" repeats an earlier line', key="lxc.idmap",
                                  hint="delete one of the two lines")
            for side, first, o_first in (("container", nsid, o_nsid), ("host", hostid, o_hostid)):
                if first < o_first + o_count and o_first < first + count:
                    raise ConfigError(
                        f'lxc.idmap "{line}" overlaps "{earlier}" on the {side} side: the '
                        "kernel refuses overlapping ranges", key="lxc.idmap",
                        hint="give each line its own container and host ids")

    def _check_net_type(self, key, row):
        index = _NET_RE.match(key).group(1)
        net_type = self.items.get(f"lxc.net.{index}.type")
        if net_type and net_type not in row.net_types:
            raise ConfigError(f"{key} only applies to lxc.net.{index}.type = "
                              f"{' or '.join(row.net_types)} (this NIC is {net_type})", key=key)

    # -- reading -------------------------------------------------------------------------
    def device_rules(self, family):
        """[(devices.allow|devices.deny, value)] of FAMILY (lxc.cgroup or lxc.cgroup2) in line
        order. A Conf rebuilt from `items` alone (a runtime record) has no line order: then
        the deny list comes first, which is right for a list that starts by denying all."""
        wanted = [k for k in DEVICE_KEYS if k.startswith(family + ".devices.")]
        lines = [(k, v) for k, v in self.device_lines if k in wanted]
        grouped = {k: [v for kk, v in lines if kk == k] for k in wanted}
        if all(grouped[k] == (self.items.get(k) or []) for k in wanted):
            return [(k[len(family) + 1:], v) for k, v in lines]
        ordered = sorted(wanted, key=lambda k: not k.endswith(".deny"))
        return [(k[len(family) + 1:], v) for k in ordered for v in self.items.get(k) or []]

    def has(self, key):
        return key in self.items

    def value(self, key, default=None):
        """The stored value: a string for single keys, a list for repeating ones."""
        return self.items.get(key, default)

    def get(self, key):
        """The getter's text for KEY (lxc-info -c KEY), or raise ConfigError if KEY is unknown."""
        row = K.lookup(key)
        if row is None:
            raise unknown_key(key)
        if key in NO_GETTER:
            raise ConfigError(f"{key} can be set but not read back", key=key)
        if row.family and (key == row.name or _is_net_root(key)):
            # one "KEY = VALUE" line per value, repeating the key, as liblxc's family getters
            return "\n".join(f"{k} = {line}" for k in self.items if k.startswith(key + ".")
                             for line in self._render(k).split("\n"))
        if key in ("lxc.cap.keep", "lxc.cap.drop") and key not in self.items:
            other = "lxc.cap.drop" if key == "lxc.cap.keep" else "lxc.cap.keep"
            if self.items.get(other):
                return self._render(other)
        if key not in self.items:
            match = _NET_RE.match(key)
            if match and match.group(2) == "name" and \
                    self.items.get(f"lxc.net.{match.group(1)}.type") == "empty":
                return "lo"  # an empty NIC is the loopback, as liblxc reports it
            return GETTER_DEFAULTS.get(key, "")
        return self._render(key)

    def _render(self, key):
        val = self.items[key]
        if key == "lxc.mount.auto":
            # liblxc prints its flags back in its own order, and has no text for the force,
            # cgroup2 and shmounts forms (an observed getter quirk, kept for lxc-info parity)
            tokens = val.split()
            shown = [t for prefix in ("proc", "sys", "cgroup") for t in tokens
                     if t.split(":")[0] in (prefix, prefix + "-full") and not t.endswith(":force")]
            return " ".join(shown)
        if key in ("lxc.cap.keep", "lxc.cap.drop"):
            # one list in liblxc, read back through either key
            other = "lxc.cap.drop" if key == "lxc.cap.keep" else "lxc.cap.keep"
            val = val or self.items.get(other) or []
        if isinstance(val, list):
            return "\n".join(val)
        if key == "lxc.rootfs.path":
            # liblxc splits "TYPE:PATH" at the first colon and its getter returns PATH.
            return val.partition(":")[2] if ":" in val else val
        return val

    def nic_indices(self):
        found = set()
        for key in self.items:
            match = _NET_RE.match(key)
            if match:
                found.add(int(match.group(1)))
        return sorted(found)

    def nic(self, index):
        """NIC INDEX as {subkey: value}."""
        prefix = f"lxc.net.{index}."
        return {k[len(prefix):]: v for k, v in self.items.items() if k.startswith(prefix)}

    def family(self, prefix):
        """Every (key suffix, value) under PREFIX, e.g. family("lxc.cgroup2") -> [("memory.max", "1G")]."""
        p = prefix + "."
        out = []
        for k, val in self.items.items():
            if k.startswith(p):
                for one in (val if isinstance(val, list) else [val]):
                    out.append((k[len(p):], one))
        return out


def _is_net_root(key):
    match = _NET_RE.match(key)
    return bool(match) and match.group(2) is None


def unknown_key(key):
    from .legacy import is_legacy, modern_name

    if is_legacy(key):
        new = modern_name(key)
        hint = (f'"{key}" is a pre-3.0 key: use "{new}" (lxc-update-config -c FILE converts a file)'
                if new else f'"{key}" was removed in LXC 3.0: delete the line')
        return ConfigError(f'unknown key "{key}"', key=key, hint=hint)
    suggestion = K.suggest(key)
    message = f'unknown key "{key}"'
    if suggestion:
        message += f' (did you mean "{suggestion}"?)'
    return ConfigError(message, key=key, hint="lxc-config --keys lists every key" if not suggestion else None)


# LXC's getters end every item of these keys with a newline, so its lxc-info prints a blank
# line after their values and LXC's command socket sends it (GET_CONFIG_ITEM).
_NEWLINE_KEYS = ("lxc.mount.entry", "lxc.cap.drop", "lxc.cap.keep", "lxc.group",
                 "lxc.environment", "lxc.apparmor.raw", "lxc.namespace.keep",
                 "lxc.namespace.clone", "lxc.sysctl", "lxc.prlimit", "lxc.proc", "lxc.cgroup",
                 "lxc.cgroup2")
_NEWLINE_PREFIXES = ("lxc.hook.", "lxc.environment.", "lxc.cgroup.", "lxc.cgroup2.")


def ends_with_newline(key):
    if key.startswith("lxc.cgroup.dir") or key in ("lxc.cgroup.relative", "lxc.hook.version"):
        return False  # plain string getters, unlike the lxc.cgroup.* limit lists
    return (key in _NEWLINE_KEYS or key.startswith(_NEWLINE_PREFIXES)
            or key.startswith("lxc.time.offset."))


def getter_text(conf, key):
    """liblxc's getter output for KEY, byte for byte: Conf.get's text plus the newline that
    ends every item of a list key (what lxc-info -c and LXC's GET_CONFIG_ITEM print)."""
    value = conf.get(key)
    if value and ends_with_newline(key):
        value += "\n"
    return value
