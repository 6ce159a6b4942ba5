"""Mount points as this process sees them (/proc/self/mountinfo).

A bind mount of a directory from the same filesystem has the same st_dev as its parent, so
stat() alone cannot tell that a path is a mount point; mountinfo can.
"""

import os
import re

_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field):
    # The kernel writes space, tab, newline and backslash in paths as \ooo.
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def mount_points(proc="/proc"):
    """Every mount point path of this mount namespace, in mount order (may repeat)."""
    try:
        with open(os.path.join(proc, "self/mountinfo"), encoding="utf-8",
                  errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    points = []
    for line in lines:
        fields = line.split(" ", 5)
        if len(fields) >= 5:
            points.append(_unescape(fields[4]))
    return points


def mounts_under(path, proc="/proc"):
    """Mount points at PATH or below it (PATH must be canonical: realpath)."""
    path = path.rstrip("/") or "/"
    prefix = path + "/" if path != "/" else "/"
    found = []
    for point in mount_points(proc):
        if (point == path or point.startswith(prefix)) and point not in found:
            found.append(point)
    return found


def mount_of(path, proc="/proc"):
    """(mount point, fstype, source) of the mount holding PATH (canonical), the innermost
    (last mounted) one when several stack on the same point; None if mountinfo is unreadable."""
    try:
        with open(os.path.join(proc, "self/mountinfo"), encoding="utf-8",
                  errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        head, sep, tail = line.partition(" - ")
        fields = head.split(" ")
        extra = tail.split(" ")
        if not sep or len(fields) < 5 or len(extra) < 2:
            continue
        point = _unescape(fields[4])
        inside = path == point or point == "/" or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, extra[0], _unescape(extra[1]))
    return best
