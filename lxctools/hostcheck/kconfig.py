"""Finding and reading the kernel configuration the way lxc-checkconfig does.

Order: $CONFIG (default /proc/config.gz); if that is not a file, the kernel headers'
/lib/modules/R/build/.config, then /boot/config-R, the latter winning when both exist.
"""

import os
import re
from dataclasses import dataclass, field

from . import NoKernelConfig

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=([ym])\s*$", re.M)
# "# Linux/x86 6.18.44 Kernel Configuration"; LXC's sed wants major.minor.patch.
_HEADER = re.compile(r"^# Linux\S*\s+(\d+)\.(\d+)(?:\.(\d+))?\S*\s+Kernel Configuration", re.M)


@dataclass
class Located:
    path: str
    messages: list = field(default_factory=list)


def locate(roots):
    """The kernel config file to read, with the lines LXC prints while searching for it."""
    config = roots.config_env()
    if os.path.isfile(config):
        return Located(config)
    messages = [f"Kernel configuration not found at {config}; searching..."]
    release = roots.kernel_release()
    headers = os.path.join(roots.modules, release, "build", ".config")
    boot = os.path.join(roots.boot, f"config-{release}")
    found = None
    for candidate in (headers, boot):  # the later one wins, as in LXC
        if os.path.isfile(candidate):
            found = candidate
    if found is None:
        raise NoKernelConfig(messages, [config, headers, boot], _module_file(roots, release))
    messages.append(f"Kernel configuration found at {found}")
    return Located(found, messages)


def _module_file(roots, release):
    """The configs.ko that `modprobe configs` would load, if the kernel ships one (modinfo -n)."""
    base = os.path.join(roots.modules, release)
    try:
        with open(os.path.join(base, "modules.dep"), encoding="utf-8", errors="replace") as handle:
            for line in handle:
                module = line.split(":", 1)[0]
                name = os.path.basename(module).split(".ko", 1)[0]
                if name.replace("-", "_") == roots.modname.replace("-", "_"):
                    path = module if os.path.isabs(module) else os.path.join(base, module)
                    return path if os.path.isfile(path) else None
    except OSError:
        pass
    return None


class KernelConfig:
    """The options set to y or m, and the kernel version from the header."""

    def __init__(self, text):
        self.options = {m.group(1): m.group(2) for m in _SET.finditer(text)}
        header = _HEADER.search(text)
        self.version = (tuple(int(g or 0) for g in header.groups()) if header else None)

    @classmethod
    def read(cls, path):
        with open(path, "rb") as handle:
            data = handle.read()
        if data[:2] == b"\x1f\x8b":
            import gzip
            data = gzip.decompress(data)
        return cls(data.decode("utf-8", errors="replace"))

    def is_set(self, option):
        return option in self.options

    def at_least(self, major, minor):
        """LXC assumes the latest kernel when the header has no version."""
        if self.version is None:
            return True
        return self.version[:2] >= (major, minor)
