"""LXC's config file syntax: one `lxc.KEY = VALUE` per line, comments, quotes, includes.

Every error names the file and line; includes name the including line when the included
file is missing. Legacy keys are read with a warning naming the new key.
"""

import os
import re

from ..errors import ConfigError
from . import legacy
from .model import Conf

_HWADDR_KEY = re.compile(r"lxc\.net\.\d+\.hwaddr$")


def split_line(line):
    """(key, value) of a config line, or None for blanks, comments and non-lxc lines.

    Raises ValueError when an lxc.* line has no '='.
    """
    stripped = line.lstrip(" \t")
    if not stripped or stripped.startswith("#"):
        return None
    if not stripped.startswith(("lxc.", "lxctools.")):
        return None  # liblxc ignores such lines too: lxctools.* extension keys stay harmless
    if "=" not in stripped:
        raise ValueError("line has no '='")
    key, _, value = stripped.partition("=")
    key = key.rstrip(" \t")
    value = value.strip(" \t\r\n")
    if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]:
        value = value[1:-1]
    return key, value


# LXC recurses through includes until its stack overflows (it segfaults on a loop through
# a directory); nobody nests configs this deep on purpose.
MAX_INCLUDE_DEPTH = 32
# A config, fstab or seccomp profile is text a person wrote: larger is not one (and reading
# it whole would only use up memory).
MAX_FILE_BYTES = 16 << 20


class NotAFile(ValueError):
    """The path names a device, FIFO, socket or directory, or a file too large to be text."""


def read_text(path, limit=MAX_FILE_BYTES):
    """PATH's text (UTF-8, other bytes kept as surrogates). Only a regular file is read:
    /dev/zero or a FIFO named by a config would never end. Raises OSError, NotAFile."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NotAFile("is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile("is not a regular file (a device, FIFO or socket)")
        if info.st_size > limit:
            raise NotAFile(f"is {info.st_size} bytes: more than a config holds ({limit})")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise NotAFile(f"is more than {limit} bytes: more than a config holds")
    return data.decode("utf-8", "surrogateescape")


def _nul_line(line, path, number):
    """A NUL byte: LXC silently stops reading the file there (the lines after it are lost);
    we refuse, naming the line and, when it has one, its key."""
    key = None
    try:
        parsed = split_line(line.replace("\0", ""))
        key = parsed[0] if parsed else None
    except ValueError:
        pass
    raise ConfigError("a NUL byte in the line" + (f" ({key})" if key else ""), path=path,
                      line=number, key=key,
                      hint="the file is damaged or not a config file: remove the NUL bytes")


def random_hwaddr(template, rng=None):
    """Replace every x/X of a MAC template with a random hex digit (as liblxc does on read).
    random is imported here: a start's supervisor reads configs without an x to draw."""
    if rng is None:
        import random as rng
    return "".join(rng.choice("0123456789abcdef") if c in "xX" else c for c in template)


class Loader:
    """Reads config files into one Conf, following includes.

    warn(message) receives deprecation notes; hwaddr_fixes collects (line index, new line) for
    the top-level file so that a save keeps the random MAC it drew.
    """

    def __init__(self, conf=None, warn=None, expand_env=True):
        self.conf = conf if conf is not None else Conf()
        self.warn = warn or (lambda message: None)
        self.hwaddr_fixes = {}
        # Top-level line number -> where that line really came from, for lines that are in
        # no file: `lxc-start -s KEY=VALUE` is appended to the document for validation, and
        # an error in it must name the command line, not a line the file does not have.
        self.labels = {}
        self._stack = []
        self._legacy_nic = -1
        # When a list: every path this load looked at, in order, ("file", path) for a file
        # read and ("dir", path) for an included directory listed or found missing -- what a
        # saved verdict on the whole load must be checked against (api/listing.py)
        self.seen = None
        self.drew = False  # a random MAC was drawn (random_hwaddr): another read differs

    def load_file(self, path, *, top=False, included_from=None):
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            src, line = included_from or (path, None)
            raise ConfigError(f"includes nested more than {MAX_INCLUDE_DEPTH} deep", path=src,
                              line=line, key="lxc.include",
                              hint=" -> ".join(self._stack[:3] + ["..."] + self._stack[-2:]))
        try:
            text = read_text(path)
        except NotAFile as exc:
            src, line = included_from or (path, None)
            raise ConfigError(f"{path} {exc}", path=src, line=line,
                              key="lxc.include" if included_from else None,
                              hint="a config is a regular text file") from None
        except FileNotFoundError:
            if included_from:
                src, line = included_from
                raise ConfigError(f'included file "{path}" does not exist', path=src, line=line,
                                  key="lxc.include",
                                  hint="fix the path or remove the lxc.include line") from None
            raise ConfigError("config file does not exist", path=path) from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file: {exc.strerror}", path=path) from None
        if self.seen is not None:
            self.seen.append(("file", path))
        real = os.path.realpath(path)
        if real in self._stack:
            raise ConfigError("config includes itself", path=path,
                              hint=" -> ".join(self._stack + [real]))
        self._stack.append(real)
        try:
            self.load_text(text, path, top=top)
        finally:
            self._stack.pop()
        return self.conf

    def place(self, path, number, top=True):
        """(path, line) to name in a message about line NUMBER of PATH."""
        label = self.labels.get(number) if top else None
        return (label, None) if label else (path, number)

    def load_text(self, text, path="<config>", *, top=False):
        for number, line in enumerate(text.split("\n"), start=1):
            if "\0" in line:
                _nul_line(line, *self.place(path, number, top))
            try:
                parsed = split_line(line)
            except ValueError:
                where, at = self.place(path, number, top)
                raise ConfigError(f'invalid line "{line.strip()}": expected "lxc.KEY = VALUE"',
                                  path=where, line=at) from None
            if parsed is None:
                continue
            key, value = parsed
            try:
                self._apply(key, value, path, number, line, top)
            except ConfigError as exc:
                if exc.path is None or (exc.path == path and exc.line == number):
                    exc.path, exc.line = self.place(path, number, top)
                raise
        return self.conf

    def _apply(self, key, value, path, number, line, top):
        if key == "lxc.include":
            if value:
                self._include(value, path, number, top)
            return
        if key.startswith("lxc.network.") and key.endswith(".type") or key == "lxc.network.type":
            if key == "lxc.network.type":
                self._legacy_nic += 1
        if legacy.is_legacy(key) and not self._known(key):
            where, at = self.place(path, number, top)
            where = f"{where}:{at}" if at else where
            if key in legacy.DROPPED:
                self.warn(f"{where}: {key} is obsolete and ignored (remove the line)")
                return
            new = legacy.modern_name(key, max(self._legacy_nic, 0))
            self.warn(f'{where}: "{key}" is deprecated, use "{new}"'
                      + (f" (lxc-update-config -c {path} rewrites the file)" if at else ""))
            if key == "lxc.rootfs" and value and ":" not in value.split("/")[0]:
                value = value  # bare path: storage type detected later, as LXC does
            key = new
        if key == "lxc.seccomp.profile" and value and not top and not os.path.isabs(value):
            # As a relative lxc.include: a profile named by an included file (our shipped
            # common.conf names common.seccomp) is found beside that file. LXC would look in
            # the current directory, which for a container start means nothing useful.
            value = os.path.join(os.path.dirname(os.path.abspath(path)), value)
        if _HWADDR_KEY.match(key) and value and re.search("[xX]", value):
            value = random_hwaddr(value)
            self.drew = True
            if top:
                self.hwaddr_fixes[number - 1] = f"{key} = {value}"
        self.conf.apply(key, value)

    @staticmethod
    def _known(key):
        from .keys import lookup
        return lookup(key) is not None

    def _include(self, value, path, number, top=False):
        source = self.place(path, number, top)
        target = value
        if not os.path.isabs(target):
            target = os.path.join(os.path.dirname(os.path.abspath(path)), target)
        if target.endswith("/") or os.path.isdir(target):
            if self.seen is not None:
                self.seen.append(("dir", target))
            if not os.path.isdir(target):
                return  # a missing directory is fine, as in LXC
            # LXC reads readdir() order; we sort so a container reads the same on every host.
            for entry in sorted(os.listdir(target)):
                if len(entry) >= 6 and entry.endswith(".conf"):
                    self.load_file(os.path.join(target, entry), included_from=source)
            return
        self.load_file(target, included_from=source)


def load(path, *, warn=None, conf=None):
    """Read PATH (and what it includes) into a Conf."""
    return Loader(conf=conf, warn=warn).load_file(path, top=True)


def loads(text, *, path="<config>", warn=None, conf=None):
    return Loader(conf=conf, warn=warn).load_text(text, path, top=True)
