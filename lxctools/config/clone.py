"""How a clone's config differs from its origin's (lxc-copy, lxc-snapshot), as pure text work.

LXC writes the clone's config from the origin's unexpanded text: blank lines are dropped
(liblxc does not keep them when it reads a config), `lxc.rootfs.path` moves to the end with
the new storage, `lxc.uts.name` is replaced by the new name at the end (unless kept),
`lxc.mount.fstab` moves to the end pointing at the copy in the new container directory, hook
paths inside the old container directory point into the new one, overlay mount entries with
upper/work dirs in the old container directory follow it, and every 17-character hwaddr gets
fresh random bytes under 00:16:3e (unless kept). The caller copies the files named here.
"""

import os
import random
import re
from dataclasses import dataclass, field

from .parser import split_line

_HWADDR = re.compile(r"lxc\.(net\.\d+|network)\.hwaddr$")


def new_hwaddr(rng=None):
    """LXC's clone MAC: the Xen OUI 00:16:3e and three random bytes."""
    rng = rng or random.SystemRandom()
    return "00:16:3e:%02x:%02x:%02x" % (rng.randrange(256), rng.randrange(256), rng.randrange(256))


@dataclass
class CloneText:
    text: str
    # (old path, new path) of files the clone must get copies of (hook scripts, fstab).
    copies: list = field(default_factory=list)


def _key(line):
    try:
        parsed = split_line(line)
    except ValueError:
        return None, None
    return parsed if parsed else (None, None)


def rewrite(text, *, oldpath, oldname, newpath, newname, rootfs, keepname=False,
            keepmac=False, rng=None):
    """The clone's config text for ROOTFS (the new lxc.rootfs.path value)."""
    olddir = f"{oldpath}/{oldname}"
    newdir = f"{newpath}/{newname}"
    lines = []
    copies = []
    fstab = None
    for line in text.split("\n"):
        if not line.strip(" \t\r"):
            continue
        key, value = _key(line)
        if key == "lxc.rootfs.path" or key == "lxc.rootfs":
            continue
        if not keepname and key in ("lxc.uts.name", "lxc.utsname"):
            continue
        if key == "lxc.mount.fstab":
            fstab = value
            continue
        if key and key.startswith("lxc.hook") and value.startswith(olddir):
            if value.startswith(olddir + "/"):
                copies.append((value, os.path.join(newdir, os.path.basename(value))))
            head, eq, tail = line.partition("=")
            line = head + eq + tail.replace(olddir, newdir, 1)
        elif key == "lxc.mount.entry" and " overlay" in value:
            for opt in ("upperdir", "workdir"):
                line = line.replace(f"{opt}={olddir}", f"{opt}={newdir}")
        elif key and _HWADDR.match(key) and not keepmac and len(value.split()[0] if value else "") == 17:
            head, eq, tail = line.partition("=")
            line = head + eq + tail.replace(value.split()[0], new_hwaddr(rng), 1)
        lines.append(line)
    lines.append(f"lxc.rootfs.path = {rootfs}")
    if not keepname:
        lines.append(f"lxc.uts.name = {newname}")
    if fstab:
        target = os.path.join(newdir, os.path.basename(fstab))
        copies.append((fstab, target))
        lines.append(f"lxc.mount.fstab = {target}")
    return CloneText("\n".join(lines) + "\n", copies)
