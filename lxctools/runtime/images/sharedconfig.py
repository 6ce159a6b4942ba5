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

from ...paths import template_config_dir

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
