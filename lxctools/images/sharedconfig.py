"""LXC_TEMPLATE_CONFIG as a container's config names it: a copy of the includes lxctools
ships, with every relative path in them made absolute, kept in the lxcpath
(`LXCPATH/.lxctools-include/KEY/`).

Why a copy: LXC resolves a relative `lxc.include` (and `lxc.seccomp.profile`) against its
current directory, so a container naming the package's own files, whose includes are
relative, could not be read by real LXC -- a user going back to LXC would find every
image-made container broken -- and the package's files go away with an uninstall. KEY is a
checksum of the shipped files: a new lxctools with other includes makes another copy, and
containers made before keep the files they were made with. The directory name holds no
`config`, so neither LXC nor we take it for a container.
"""

import os
import zlib

from ..paths import template_config_dir

DIRNAME = ".lxctools-include"
_PATH_KEYS = ("lxc.include", "lxc.seccomp.profile")


def _shipped(source):
    """[(relative path, bytes)] of every file of the shipped tree, sorted."""
    found = []
    for root, dirs, files in os.walk(source):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found.append((os.path.relpath(path, source), handle.read()))
    return found


def _absolute(text, here):
    """TEXT with relative include and seccomp profile values joined to HERE; directory
    includes named ([path, ...]) so that they can be made when missing."""
    lines, directories = [], []
    for line in text.split("\n"):
        key, eq, value = line.partition("=")
        value = value.strip()
        if eq and key.strip() in _PATH_KEYS and value and not value.startswith("/"):
            absolute = os.path.join(here, value)
            if value.endswith("/"):
                directories.append(absolute)
            line = f"{key.strip()} = {absolute}"
        lines.append(line)
    return "\n".join(lines), directories


def materialize(lxcpath, source=None):
    """The directory containers of LXCPATH name as LXC_TEMPLATE_CONFIG (made when missing)."""
    source = source or template_config_dir()
    files = _shipped(source)
    key = 0
    for rel, data in files:
        key = zlib.crc32(data, zlib.crc32(rel.encode(), key))
    target = os.path.join(lxcpath, DIRNAME, f"{key:08x}")
    if os.path.isdir(target):
        return target
    parent = os.path.dirname(target)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    import tempfile

    work = tempfile.mkdtemp(prefix=".new-", dir=parent)
    try:
        os.chmod(work, 0o755)
        directories = []
        for rel, data in files:
            path = os.path.join(work, rel)
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            if rel.endswith(".conf"):
                text, wanted = _absolute(data.decode("utf-8", "surrogateescape"),
                                         os.path.dirname(os.path.join(target, rel)))
                data = text.encode("utf-8", "surrogateescape")
                directories += wanted
            with open(path, "wb") as handle:
                handle.write(data)
            os.chmod(path, 0o644)
        for directory in directories:  # an include of a directory LXC needs to exist
            os.makedirs(os.path.join(work, os.path.relpath(directory, target)), mode=0o755,
                        exist_ok=True)
        try:
            os.rename(work, target)
        except OSError:
            if not os.path.isdir(target):  # not another create that got there first
                raise
    finally:
        if os.path.isdir(work):
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    return target


def _named_by(lxcpath):
    """The copies (KEY names) that some config in LXCPATH names: containers' and their
    snapshots' (LXC keeps those in NAME/snaps/SNAP/config)."""
    import glob

    marker = f"/{DIRNAME}/"
    named = set()
    for config in glob.glob(os.path.join(glob.escape(lxcpath), "*", "config")) + glob.glob(
            os.path.join(glob.escape(lxcpath), "*", "snaps", "*", "config")):
        try:
            with open(config, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
        except OSError:
            continue
        start = 0
        while (at := text.find(marker, start)) >= 0:
            start = at + len(marker)
            named.add(text[start:start + 8])
    return named


def collect(lxcpath):
    """Remove the copies in LXCPATH that no config there names any more (after a destroy),
    and the directory when it is left empty: a destroyed last container leaves an empty
    lxcpath, as with LXC. A clone in another lxcpath names a copy of its own (`rehome`)."""
    top = os.path.join(lxcpath, DIRNAME)
    try:
        keys = os.listdir(top)
    except OSError:
        return
    import shutil

    named = _named_by(lxcpath)
    for key in keys:
        if key not in named and not key.startswith(".new-"):
            shutil.rmtree(os.path.join(top, key), ignore_errors=True)
    try:
        os.rmdir(top)
    except OSError:
        pass  # still named, or another create filling it


def rehome(text, new_lxcpath):
    """TEXT (a clone's config) with the copies it names in other lxcpaths replaced by copies
    in NEW_LXCPATH, made when missing: destroying the origin's lxcpath (and `collect`) never
    breaks the clone. A copy keeps its KEY: same files, paths moved."""
    import re

    new_top = os.path.join(new_lxcpath, DIRNAME) + "/"
    found = re.findall(r"(/[^\s\n]*?/" + re.escape(DIRNAME) + r"/)([0-9a-f]{8})\b", text)
    for old_top, key in dict.fromkeys(found):
        if old_top != new_top:
            _copy(os.path.join(old_top, key), os.path.join(new_top, key), old_top, new_top)
            text = text.replace(old_top + key, new_top + key)
    return text


def _copy(source, target, old_top, new_top):
    if os.path.isdir(target) or not os.path.isdir(source):
        return
    import tempfile

    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".new-", dir=os.path.dirname(target))
    try:
        os.chmod(work, 0o755)
        for rel, data in _shipped(source):
            path = os.path.join(work, rel)
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            if rel.endswith(".conf"):
                data = data.replace(old_top.encode(), new_top.encode())
            with open(path, "wb") as handle:
                handle.write(data)
            os.chmod(path, 0o644)
        for root, dirs, _files in os.walk(source):  # empty include directories too
            for name in dirs:
                os.makedirs(os.path.join(work, os.path.relpath(os.path.join(root, name), source)),
                            mode=0o755, exist_ok=True)
        try:
            os.rename(work, target)
        except OSError:
            if not os.path.isdir(target):
                raise
    finally:
        if os.path.isdir(work):
            import shutil

            shutil.rmtree(work, ignore_errors=True)
