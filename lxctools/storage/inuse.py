"""Who runs from a container's root filesystem: processes whose root directory is on it.

The last word before a rootfs is deleted (lxc-destroy) or a second init is started on it
(a start that finds the container's cgroup taken): records and sockets say what a supervisor
knows, /proc says what runs. A process counts when its root directory is the rootfs
directory itself (same device and inode: dir, btrfs and zfs backends, any bind of it), or
when the mount at its root comes from the container's directory (an overlay whose layers, or
a loop device whose image, lie there). Reads /proc only; nothing below a container's root is
opened (stat of /proc/PID/root and the text of /proc/PID/mountinfo).
"""

import os


def rootfs_dir(spec):
    """The directory of an lxc.rootfs.path value ("dir:/x", "/x"), or None (not a directory
    backend: overlay, loop, block devices)."""
    if not spec:
        return None
    kind, sep, rest = spec.partition(":")
    if sep and kind == "dir":
        spec = rest
    elif sep and not spec.startswith("/"):
        return None
    return spec if os.path.isdir(spec) else None


def processes_on(rootfs_spec, container_dir, pids=None):
    """PIDs (sorted) of live processes running from the rootfs RootFS_SPEC of the container
    whose directory is CONTAINER_DIR; PIDS limits the look to those (a cgroup's members)."""
    target = None
    directory = rootfs_dir(rootfs_spec)
    if directory is not None:
        try:
            st = os.stat(directory)
            target = (st.st_dev, st.st_ino)
        except OSError:
            pass
    inside = os.path.realpath(container_dir) + "/" if container_dir else None
    try:
        host = os.stat("/")
        host_root = (host.st_dev, host.st_ino)
    except OSError:
        host_root = None
    if pids is None:
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    me = os.getpid()
    verdicts = {}  # root identity -> is it the container's: one mountinfo read per root
    found = []
    for pid in pids:
        if pid == me:
            continue
        try:
            st = os.stat(f"/proc/{pid}/root")
        except OSError:
            continue  # gone, or a kernel thread
        key = (st.st_dev, st.st_ino)
        if key == host_root:
            continue
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = key == target or (inside is not None and root_mount_from(pid, inside))
            verdicts[key] = verdict
        if verdict:
            found.append(pid)
    return sorted(found)


def root_mount_from(pid, inside):
    """Is the mount at PID's root made from something under the directory INSIDE (ending in
    /): an overlay layer or a loop device's backing file?"""
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return False
    root_line = None
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/":
            root_line = fields  # the last one is on top
    if root_line is None or "-" not in root_line:
        return False
    dash = root_line.index("-")
    fstype = root_line[dash + 1] if len(root_line) > dash + 1 else ""
    options = root_line[dash + 3] if len(root_line) > dash + 3 else ""
    if fstype == "overlay":
        for option in options.split(","):
            key, _, value = option.partition("=")
            if key in ("upperdir", "lowerdir", "workdir"):
                for layer in value.split(":"):
                    if (_unescape(layer).rstrip("/") + "/").startswith(inside):
                        return True
        return False
    major_minor = root_line[2]
    try:
        with open(f"/sys/dev/block/{major_minor}/loop/backing_file", encoding="utf-8",
                  errors="surrogateescape") as handle:
            backing = handle.read().strip()
    except OSError:
        return False
    return backing.startswith(inside)


def _unescape(text):
    """mountinfo's octal escapes (\\040 for a space...)."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 3 < len(text) and text[i + 1:i + 4].isdigit():
            out.append(chr(int(text[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def describe(pids):
    """'1234 (init), 1240 (sh)' for a message."""
    parts = []
    for pid in pids[:5]:
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
                parts.append(f"{pid} ({handle.read().strip()})")
        except OSError:
            parts.append(str(pid))
    more = f" and {len(pids) - 5} more" if len(pids) > 5 else ""
    return ", ".join(parts) + more
