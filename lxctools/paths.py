"""Where things live: lxcpath, system config, default config, cache, runtime dirs.

Resolved exactly as LXC does (lxc-behaviour.md 1.6, 4.2): root uses /etc and /var, any other
euid uses hard-coded places under $HOME (LXC ignores XDG_CONFIG_HOME and friends; so do we),
except the runtime dir, which honours XDG_RUNTIME_DIR.
"""

import os
from functools import lru_cache

from .errors import ConfigError

# Install-time directories of LXC itself; templates and config includes we ship live beside the
# package and are found through template_dirs()/template_config_dir().
SYSTEM_LXCPATH = "/var/lib/lxc"
SYSTEM_CONF = "/etc/lxc/lxc.conf"
SYSTEM_DEFAULT_CONFIG = "/etc/lxc/default.conf"
SYSTEM_CACHE = "/var/cache/lxc"
SYSTEM_LOGDIR = "/var/log/lxc"
LXC_TEMPLATE_DIR = "/usr/share/lxc/templates"
LXC_HOOK_DIR = "/usr/share/lxc/hooks"
ROOTFS_MOUNT = "/usr/lib/x86_64-linux-gnu/lxc/rootfs"

# Keys of lxc.conf and their defaults; None means "unset".
GLOBAL_DEFAULTS = {
    "lxc.lxcpath": None,  # computed: depends on who is asking
    "lxc.default_config": None,
    "lxc.bdev.lvm.vg": "lxc",
    "lxc.bdev.lvm.thin_pool": "lxc",
    "lxc.bdev.zfs.root": "lxc",
    "lxc.bdev.rbd.rbdpool": "lxc",
    "lxc.bdev.rbd.rbduser": None,
    "lxc.cgroup.use": None,
    "lxc.cgroup.pattern": None,
    # lxctools' own (real LXC ignores it): the unpacked-image cache's bound, 0 = off.
    "lxctools.image_cache.size": "4G",
}


def is_root():
    return os.geteuid() == 0


def home():
    return os.environ.get("HOME") or "/"


def system_conf_path():
    """lxc.conf for this caller: LXC_GLOBAL_CONF overrides (used by tests and by us)."""
    override = os.environ.get("LXC_GLOBAL_CONF")
    if override:
        return override
    if is_root():
        return SYSTEM_CONF
    return os.path.join(home(), ".config/lxc/lxc.conf")


@lru_cache(maxsize=None)
def _system_conf_lines(path):
    """lxc.conf's lines as liblxc's getline() loop sees them (bytes up to a NUL, newline
    kept), or () when it cannot be opened: liblxc then uses its defaults without a word."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(1 << 24)
    except OSError:
        return ()
    return tuple(line.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                 for line in data.splitlines(keepends=True))


def read_system_conf_value(lines, key):
    """KEY's value in lxc.conf LINES exactly as liblxc's lxc_global_config_value() reads it,
    or None. The first line that matches wins: a line starting with "#" (in its first column
    only) is skipped; KEY may have spaces or tabs before it, then only spaces or tabs up to
    the first "="; spaces and tabs after "=" are dropped, and the rest of the line less its
    newline is the value (a "#" there, quotes, trailing blanks and a CR are part of it). A
    line with nothing after "=" before the end of the file is skipped; one with only a
    newline gives "". No [sections], no escapes; anything else is skipped."""
    for line in lines:
        if line.startswith("#"):
            continue
        at = line.find(key)
        if at < 0 or line[:at].strip(" \t"):
            continue
        eq = line.find("=", at)
        if eq < 0 or line[at + len(key):eq].strip(" \t"):
            continue
        value = line[eq + 1:].lstrip(" \t")
        if not value:
            continue
        return value[:-1] if value.endswith("\n") else value
    return None


def global_value(key):
    """The value of an lxc.conf key for this caller (lxc-config KEY), as liblxc reads it."""
    if key not in GLOBAL_DEFAULTS:
        raise ConfigError(f'unknown system config key "{key}"',
                          hint="lxc-config -l lists the known keys", exit_code=1)
    value = read_system_conf_value(_system_conf_lines(system_conf_path()), key)
    if key == "lxc.lxcpath":
        if value is None:
            value = SYSTEM_LXCPATH if is_root() else os.path.join(home(), ".local/share/lxc")
        # liblxc's remove_trailing_slashes: "/" and "" both end up ""
        return value.rstrip("/\n")
    if value is not None:
        return value
    if key == "lxc.default_config":
        return SYSTEM_DEFAULT_CONFIG if is_root() else os.path.join(home(), ".config/lxc/default.conf")
    return GLOBAL_DEFAULTS[key]


def default_lxcpath():
    return global_value("lxc.lxcpath")


def normalize_lxcpath(path):
    """Trailing slashes removed and made absolute, as LXC stores it."""
    path = path.rstrip("/") or "/"
    return os.path.abspath(path)


def default_config_path():
    return global_value("lxc.default_config")


def cache_dir():
    if os.environ.get("LXC_CACHE_PATH"):
        return os.environ["LXC_CACHE_PATH"]
    return SYSTEM_CACHE if is_root() else os.path.join(home(), ".cache/lxc")


def runtime_dir():
    """Base for locks and sockets: /run for root, else $XDG_RUNTIME_DIR, else ~/.cache/lxc/run."""
    override = os.environ.get("LXCTOOLS_RUNDIR")
    if override:
        return override
    if is_root():
        return "/run"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return xdg
    return os.path.join(home(), ".cache/lxc/run")


def container_dir(lxcpath, name):
    return os.path.join(lxcpath, name)


def container_config(lxcpath, name):
    return os.path.join(lxcpath, name, "config")


def package_root():
    """The directory holding the lxctools package (and, in a checkout, templates/ beside it)."""
    return os.path.dirname(os.path.abspath(__file__))


def shipped_dir(name):
    """A data directory we ship: inside the package when installed, beside it in a checkout."""
    inside = os.path.join(package_root(), "data", name)
    if os.path.isdir(inside):
        return inside
    return os.path.join(os.path.dirname(package_root()), name)


def template_config_dir():
    """LXC_TEMPLATE_CONFIG: our common.conf, <distro>.common.conf, userns.conf... (never
    LXC's): lxctools/data/templates/config, shipped as package data."""
    return os.environ.get("LXCTOOLS_TEMPLATE_CONFIG") or os.path.join(shipped_dir("templates"), "config")


def template_dirs():
    """Where lxc-create looks for lxc-NAME executables: ours first, then LXC's."""
    return [shipped_dir("templates"), LXC_TEMPLATE_DIR]


def fnv64(text):
    """FNV-1a, 64 bit, as hex: a short stable name for a path (hashlib costs 3 ms to import)."""
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


_KEYS = {}


def lxcpath_key(lxcpath):
    """What names LXCPATH's supervisor, sockets and records: the directory it is (device and
    inode), not its spelling. Two mount namespaces that see different directories at one
    path (a bind mount over it) get apart supervisors and registries; two that see the same
    directory share them, as they share its containers (keyed by the namespace too, a
    `unshare -m` shell would see a running container as STOPPED and start a second init on
    its rootfs). An lxcpath that does not exist keys by its text (nothing runs there).
    Taken once per process: a supervisor keeps its key whatever is mounted later."""
    key = _KEYS.get(lxcpath)
    if key is None:
        try:
            st = os.stat(lxcpath)
            key = fnv64(f"dir:{st.st_dev}:{st.st_ino}")
        except OSError:
            return fnv64(lxcpath)  # not cached: the directory may be made next
        _KEYS[lxcpath] = key
    return key


def command(tool, name=None, lxcpath=None, *rest):
    """The command line a hint tells the user to run, ready to paste: `TOOL -n NAME` plus
    `-P LXCPATH` when that is not the caller's default lxcpath (a hint naming only -n would
    act on another container, or none, for a user who gave -P), then REST. Here, not in
    errors.py, because it reads the default lxcpath (errors.py imports nothing of ours)."""
    import shlex

    words = [tool]
    if name:
        words += ["-n", shlex.quote(name)]
    if lxcpath:
        try:
            default = normalize_lxcpath(default_lxcpath())
        except Exception:  # a broken lxc.conf: name the path rather than fail the hint
            default = None
        if lxcpath.rstrip("/") != default:
            words += ["-P", shlex.quote(lxcpath)]
    return " ".join(words + [str(word) for word in rest])
