"""The loop backing store: the rootfs is a filesystem in an image file LXCPATH/NAME/rootdev
(LXC's loop.c: `lxc.rootfs.path = loop:PATH/rootdev`, the file made sparse with mode 0600 and
one byte written at offset SIZE, then `mkfs.FSTYPE FILE`; defaults ext4 and 1 GiB). It is
mounted through a loop device with autoclear (kernel/loop.py) by the runtime, inside the
container's mount namespace only, and by lxc-create around the template.

A clone of a loop container is a sparse copy of the image (SEEK_DATA/SEEK_HOLE), where LXC
makes a fresh 1 GiB filesystem and rsyncs into it; snapshots are refused as LXC does. A copy
of an xfs or btrfs image gets a UUID of its own (xfs refuses to mount a second filesystem
with a mounted one's UUID; btrfs takes two alike for devices of one filesystem).
"""

import errno
import os
import shutil
import subprocess

from ..errors import LxcError

PREFIX = "loop:"
IMAGE = "rootdev"
DEFAULT_FSTYPE = "ext4"
DEFAULT_SIZE = 1 << 30
_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text):
    """--fssize as LXC reads it: a number (decimal, 0x hex or 0 octal, as strtoull base 0)
    and an optional unit b, k, m, g, t (either case); no unit = MiB. Refused when invalid
    (LXC then silently uses the default size)."""
    if text is None:
        return DEFAULT_SIZE
    raw = text.strip()
    unit = "m"
    if raw and raw[-1].lower() in _UNITS:
        unit, raw = raw[-1].lower(), raw[:-1].rstrip()
    try:
        number = int(raw, 0)
    except ValueError:
        raise LxcError(f'invalid --fssize "{text}"',
                       hint="a number with an optional unit b, k, m, g or t (default m), e.g. 2G")
    if number <= 0:
        raise LxcError(f'invalid --fssize "{text}": the size must be positive')
    return number * _UNITS[unit]


def mkfs_tool(fstype):
    """The mkfs.FSTYPE program, or a refusal naming it (before anything is written)."""
    name = f"mkfs.{fstype or DEFAULT_FSTYPE}"
    if "/" in name:
        raise LxcError(f'invalid --fstype "{fstype}"')
    for found in (shutil.which(name), f"/usr/sbin/{name}", f"/sbin/{name}"):
        if found and os.access(found, os.X_OK):
            return found
    raise LxcError(f"{name} is not installed: cannot make a {fstype} filesystem for -B loop",
                   hint="install it (e2fsprogs has mkfs.ext4, xfsprogs mkfs.xfs) or choose "
                        "another --fstype")


def create_image(path, size, fstype=None):
    """The sparse image PATH (0600, SIZE+1 bytes as LXC writes it) with a new filesystem."""
    tool = mkfs_tool(fstype)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.lseek(fd, size, os.SEEK_SET)
        os.write(fd, b"1")
    finally:
        os.close(fd)
    from ..kernel.libc import die_with_parent

    try:
        done = subprocess.run([tool, path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, preexec_fn=die_with_parent)
    except BaseException:
        os.unlink(path)
        raise
    if done.returncode != 0:
        os.unlink(path)
        detail = (done.stdout.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise LxcError(f"{os.path.basename(tool)} {path} failed: {detail}",
                       hint="is --fssize big enough for this filesystem?")


def copy_image(src, dst):
    """Copy the image SRC to DST (new, 0600) keeping its holes: only data ranges are copied."""
    fin = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fin).st_size
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fout, size)
            offset = 0
            while offset < size:
                try:
                    start = os.lseek(fin, offset, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:
                        break  # only a hole is left
                    raise
                end = os.lseek(fin, start, os.SEEK_HOLE)
                _copy_range(fin, fout, start, end)
                offset = end
        finally:
            os.close(fout)
    finally:
        os.close(fin)


# Filesystem types whose copies need a fresh UUID, and the program that gives one. ext2/3/4
# mount side by side under one UUID, so their copies keep it (tune2fs would have to add a
# feature to a used filesystem first).
_NEW_UUID = {"xfs": ("xfs_admin", "-U", "generate"), "btrfs": ("btrfstune", "-f", "-u")}


def fs_type(image):
    """The filesystem type in IMAGE as blkid probes it ("ext4", "xfs", ...), or None."""
    done = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", image],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def uuid_renewal(image):
    """The command that gives a copy of IMAGE a UUID of its own, or None when its filesystem
    needs none; refused before the image is copied when that program is missing."""
    fstype = fs_type(image)
    command = _NEW_UUID.get(fstype)
    if command is None:
        return None
    if shutil.which(command[0]) is None:
        package = "xfsprogs" if fstype == "xfs" else "btrfs-progs"
        raise LxcError(f"{command[0]} is not installed: a copy of the {fstype} image {image} "
                       f"needs a UUID of its own ({fstype} cannot mount two filesystems "
                       f"with one UUID)", hint=f"install {package}")
    return command


def renew_uuid(image, command):
    """Run COMMAND (from uuid_renewal) on the copied IMAGE."""
    from ..kernel.libc import die_with_parent

    done = subprocess.run([*command, image], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, preexec_fn=die_with_parent)
    if done.returncode != 0:
        detail = (done.stdout.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise LxcError(f"{command[0]} {image} failed: {detail}",
                       hint="the copy keeps its origin's UUID and cannot run beside it")


def _copy_range(fin, fout, start, end):
    while start < end:
        done = os.copy_file_range(fin, fout, min(end - start, 1 << 30), start, start)
        if done == 0:
            raise LxcError(f"copying an image: unexpected end of file at {start}")
        start += done
