"""A container's config file as text: what set_config_item edits and save_config writes.

Like liblxc's "unexpanded config": comments, unknown lines and includes are kept verbatim;
setting a key appends a line, clearing a key removes its lines. The expanded view (Conf) is
kept in step so that every edit is validated before anything is written.
"""

import os
import re

from ..atomic import atomic_write
from ..errors import ConfigError
from .model import Conf
from .parser import Loader, NotAFile, read_text, split_line

# Clearing one of these also removes every line of keys below it (lxc.net clears all NICs).
_PREFIX_KEYS = ("lxc.net", "lxc.hook", "lxc.cgroup", "lxc.cgroup2", "lxc.network", "lxc.sysctl",
                "lxc.prlimit", "lxc.proc")
_NET_ROOT = re.compile(r"lxc\.net\.\d+$")


# read_again's parses, by path: (signature, paths seen, lines, items, device lines,
# warnings); at most _READ_AGAIN_MAX, the least recently used dropped first
_READ_AGAIN = {}
_READ_AGAIN_MAX = 128
# only files whose ctime is this much older than the read are kept (api/verdict.py's rule)
_SETTLED_NS = 1_000_000_000


def _signature(paths):
    """How each of PATHS stats now: (mode, dev, ino, size, mtime_ns, ctime_ns) or the errno."""
    found = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            found.append(("error", exc.errno))
            continue
        found.append((st.st_mode, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                      st.st_ctime_ns))
    return found


def _copied(value):
    """A copy of a Conf's items (str, numbers, lists and dicts of them) sharing nothing
    mutable."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


class _Given(str):
    """A line that is in no file (`lxc-start -s KEY=VALUE`): LABEL is what a message about
    it names instead of FILE:LINE. A str, so the document's list and text stay plain."""

    label = None


def _given(text, label):
    line = _Given(text)
    line.label = label
    return line


class ConfigDocument:
    def __init__(self, path=None, text="", warn=None):
        self.path = path
        self.warn = warn
        self._warned = set()  # each set_item re-reads the whole text: say each warning once
        self.lines = text.split("\n") if text else []
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.conf = None
        self._reload()

    @classmethod
    def read(cls, path, warn=None):
        try:
            text = read_text(path)
        except NotAFile as exc:
            raise ConfigError(f"the config {exc}", path=path,
                              hint="a config is a regular text file") from None
        except FileNotFoundError:
            raise ConfigError("config file does not exist", path=path) from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file: {exc.strerror}", path=path) from None
        return cls(path, text, warn=warn)

    @classmethod
    def read_again(cls, path, warn=None):
        """read() for a process that reads the same configs start after start (the lxcpath's
        supervisor: spawn/start.prepare): PATH's parse is kept while PATH and every file and
        directory it included stat exactly as when they were read (mode, device, inode, size,
        mtime and ctime in ns; or the same errno), and handed out as a new document (its own
        lines and Conf: the caller may amend them), its warnings said again. Never kept: a
        parse that drew a random MAC (each read draws anew), one that failed, or one whose
        files changed in the second before the read (a change within the same tick of a
        filesystem's coarse clock would keep every field the same; any later change moves
        the ctime on)."""
        import time

        kept = _READ_AGAIN.get(path)
        if kept is not None and kept[0] == _signature(kept[1]):
            _READ_AGAIN[path] = _READ_AGAIN.pop(path)  # the most recent last
            _signature_, _seen, lines, items, device_lines, warnings = kept
            doc = cls.__new__(cls)
            doc.path = path
            doc.warn = warn
            doc._warned = set()
            doc.lines = list(lines)
            doc.conf = Conf()
            doc.conf.items = _copied(items)
            doc.conf.device_lines = list(device_lines)
            for message in warnings:
                doc._warn_once(message)
            return doc
        _READ_AGAIN.pop(path, None)
        said = []

        def heard(message):
            said.append(message)
            if warn:
                warn(message)
        before = time.time_ns()
        doc = cls.read(path, warn=heard)
        doc.warn = warn
        loader = doc._loader
        if loader.drew:
            return doc
        # the file itself (read() reads it as text) and everything it included
        seen = list(dict.fromkeys([path] + [name for _kind, name in loader.seen]))
        signature = _signature(seen)
        if any(stat[0] != "error" and stat[-1] > before - _SETTLED_NS for stat in signature):
            return doc
        _READ_AGAIN[path] = (signature, seen, list(doc.lines), _copied(doc.conf.items),
                             list(doc.conf.device_lines), said)
        while len(_READ_AGAIN) > _READ_AGAIN_MAX:
            del _READ_AGAIN[next(iter(_READ_AGAIN))]
        return doc

    def _labels(self):
        return {index: line.label for index, line in enumerate(self.lines, start=1)
                if isinstance(line, _Given)}

    def _warn_once(self, message):
        if self.warn and message not in self._warned:
            self._warned.add(message)
            self.warn(message)

    def _reload(self):
        loader = Loader(warn=self._warn_once)
        loader.seen = []  # what read_again checks before it hands this parse out again
        loader.labels = self._labels()
        loader.load_text(self.text(), self.path or "<config>", top=True)
        for index, line in loader.hwaddr_fixes.items():
            if isinstance(self.lines[index], _Given):
                line = _given(line, self.lines[index].label)
            self.lines[index] = line
        self.conf = loader.conf
        self._loader = loader

    def text(self):
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    # -- python-lxc / liblxc item API ----------------------------------------------------
    def get_item(self, key):
        return self.conf.get(key)

    def set_item(self, key, value, source=None):
        """set_config_item: append KEY = VALUE (validated first), or remove KEY's lines if empty.
        SOURCE names where the item came from when that is not this file (e.g. "command line
        (-s lxc.uts.name=web)"): errors and warnings about it name SOURCE, not FILE:LINE."""
        if value == "":
            self.clear_item(key)
            return
        if "\n" in value or "\r" in value or "\0" in value:
            # appended as one line: a newline would smuggle in lines of its own
            raise ConfigError(f"{key}: a value cannot hold a newline or NUL byte: {value!r}",
                              key=key, path=source)
        line = f"{key} = {value}" if source is None else _given(f"{key} = {value}", source)
        trial = Loader(warn=None)
        trial.labels = self._labels()
        if source is not None:
            trial.labels[len(self.lines) + 1] = source
        trial.load_text(self.text() + line + "\n", self.path or "<config>", top=True)
        self.lines.append(line)
        self._reload()

    def append_item(self, key, value):
        self.set_item(key, value)

    def append_lines(self, lines):
        """Append LINES verbatim (comments and blanks too), as a template appends to its config."""
        self._insert(len(self.lines), lines)

    def prepend_lines(self, lines):
        """Put LINES at the top (lxc-create's header)."""
        self._insert(0, lines)

    def _insert(self, index, lines):
        before = list(self.lines)
        self.lines[index:index] = list(lines)
        try:
            self._reload()
        except Exception:
            self.lines = before
            raise

    def clear_item(self, key):
        self.conf.apply(key, "") if key != "lxc.mount.fstab" else None
        prefix = key.startswith(_PREFIX_KEYS) and (key in _PREFIX_KEYS or _NET_ROOT.match(key)
                                                    or key.count(".") == 2)
        kept = []
        for line in self.lines:
            try:
                parsed = split_line(line)
            except ValueError:
                parsed = None
            if parsed:
                k = parsed[0]
                if k == key or (prefix and k.startswith(key + ".")):
                    continue
            kept.append(line)
        self.lines = kept
        self._reload()

    def replace_item(self, key, value):
        """Drop KEY's lines and write one new line in place of the first (used by create/clone)."""
        index = None
        kept = []
        for line in self.lines:
            try:
                parsed = split_line(line)
            except ValueError:
                parsed = None
            if parsed and parsed[0] == key:
                if index is None:
                    index = len(kept)
                    kept.append(f"{key} = {value}")
                continue
            kept.append(line)
        if index is None:
            kept.append(f"{key} = {value}")
        self.lines = kept
        self._reload()

    def save(self, path=None, mode=0o660, uid=None, gid=None):
        target = path or self.path
        if target is None:
            raise ConfigError("no file to save the config to")
        atomic_write(target, self.text(), mode, uid=uid, gid=gid)
        self.path = target
