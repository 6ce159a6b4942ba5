"""Paths inside a container's rootfs, resolved as if the rootfs were `/`: a symlink in a
rootfs can never lead out of it. Import-light (preflight checks run in the caller)."""

import os
import stat

from ..errors import LxcError


def inside(root, path):
    """ROOT/PATH with every symlink resolved as if ROOT were /, so a link cannot lead out."""
    parts = [p for p in path.split("/") if p and p != "."]
    current = root
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if current != root:
                current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            current = candidate
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise LxcError(f"too many symlinks resolving {path} in the container")
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = root
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        current = candidate
    return current
