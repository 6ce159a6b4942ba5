"""The container's filesystem view, built inside its new mount namespace before pivot_root:
rootfs, lxc.mount.auto, lxc.mount.fstab / lxc.mount.entry, /dev (autodev), devpts, console
and tty binds (lxc-behaviour.md 4.4).

Every target is resolved inside the rootfs without following a symlink out of it, so a
container cannot make us mount over the host's files.
"""

import errno
import os
import stat

from ..errors import LxcError
from ..kernel import libc
from .rootpath import inside  # noqa: F401 - re-exported: mount targets resolve through it
from ..kernel.libc import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC,
                           MS_REMOUNT, MS_SLAVE, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME,
                           MS_NOATIME, MS_NODIRATIME, MS_SHARED, MS_UNBINDABLE, MS_DIRSYNC,
                           MS_SYNCHRONOUS, MS_MANDLOCK, MS_LAZYTIME, MS_NOSYMFOLLOW, MNT_DETACH)

DEFAULT_ROOTFS_MOUNT = "/usr/lib/x86_64-linux-gnu/lxc/rootfs"

# mount(8) option words -> (flags to set, flags to clear)
_FLAG_WORDS = {
    "defaults": (0, 0), "rw": (0, MS_RDONLY), "ro": (MS_RDONLY, 0),
    "suid": (0, MS_NOSUID), "nosuid": (MS_NOSUID, 0), "dev": (0, MS_NODEV), "nodev": (MS_NODEV, 0),
    "exec": (0, MS_NOEXEC), "noexec": (MS_NOEXEC, 0), "sync": (MS_SYNCHRONOUS, 0),
    "async": (0, MS_SYNCHRONOUS), "dirsync": (MS_DIRSYNC, 0), "mand": (MS_MANDLOCK, 0),
    "nomand": (0, MS_MANDLOCK), "atime": (0, MS_NOATIME), "noatime": (MS_NOATIME, 0),
    "diratime": (0, MS_NODIRATIME), "nodiratime": (MS_NODIRATIME, 0),
    "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0), "lazytime": (MS_LAZYTIME, 0),
    "nosymfollow": (MS_NOSYMFOLLOW, 0), "bind": (MS_BIND, 0), "rbind": (MS_BIND | MS_REC, 0),
    "auto": (0, 0), "noauto": (0, 0), "nouser": (0, 0), "user": (0, 0), "users": (0, 0),
}
_PROPAGATION = {"private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "slave": MS_SLAVE,
                "rslave": MS_SLAVE | MS_REC, "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
                "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC}
_LXC_WORDS = ("create=dir", "create=file", "optional", "relative")

DEVICES = (("full", 1, 7), ("null", 1, 3), ("random", 1, 8), ("tty", 5, 0), ("urandom", 1, 9),
           ("zero", 1, 5))


class MountError(LxcError):
    """A mount the config asks for could not be made."""


def parse_options(text):
    """mount(8) options -> (flags, propagation flags, data string, lxc words)."""
    flags = 0
    propagation = 0
    data = []
    lxc = set()
    for word in (w for w in (text or "").split(",") if w):
        if word in _FLAG_WORDS:
            on, off = _FLAG_WORDS[word]
            flags = (flags | on) & ~off
        elif word in _PROPAGATION:
            propagation |= _PROPAGATION[word]
        elif word in _LXC_WORDS:
            lxc.add(word)
        else:
            data.append(word)
    return flags, propagation, ",".join(data) or None, lxc


def mount_entry(line, root, where="lxc.mount.entry"):
    """One fstab-format line; targets are taken inside ROOT (absolute ones too, as LXC 3+)."""
    fields = line.split()
    if len(fields) < 4:
        fields += ["defaults"] * (4 - len(fields)) if len(fields) >= 3 else []
    if len(fields) < 3:
        raise MountError(f"{where}: {line!r} needs at least SOURCE TARGET FSTYPE", key=where,
                         hint="e.g. lxc.mount.entry = /srv srv none bind,create=dir 0 0")
    source, target, fstype, options = fields[0], fields[1], fields[2], fields[3]
    source = source.replace("\\040", " ")
    target = target.replace("\\040", " ")
    if any(w.startswith("idmap=") for w in options.split(",")):
        # LXC's idmapped bind mounts: without them the mount would quietly keep host ids
        raise MountError(f"{where}: {line!r}: the idmap= option is not supported by lxctools",
                         key=where, hint="drop idmap= (and shift the source's owners), or "
                                         "start this container with LXC")
    flags, propagation, data, lxc = parse_options(options)
    path = inside(root, target)
    optional = "optional" in lxc
    if flags & MS_BIND and not os.path.exists(source):
        if optional:
            return
        raise MountError(f"{where}: source {source} does not exist", key=where,
                         hint="create it on the host, or add ,optional to the mount options")
    try:
        if "create=dir" in lxc:
            os.makedirs(path, exist_ok=True)
        elif "create=file" in lxc and not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "a"):
                pass
        if not os.path.exists(path):
            if optional:
                return
            raise MountError(f"{where}: target {target} does not exist in the container",
                             key=where, hint="add create=dir (or create=file) to the options")
        if flags & MS_BIND:
            libc.mount(source, path, None, MS_BIND | (flags & MS_REC))
            if flags & ~(MS_BIND | MS_REC):
                # bind ignores other flags: they need a remount of the new mount.
                libc.mount(None, path, None, MS_REMOUNT | MS_BIND | (flags & ~MS_REC))
        else:
            libc.mount(source, path, None if fstype == "none" else fstype, flags, data)
        if propagation:
            libc.mount(None, path, None, propagation)
    except OSError as exc:
        if optional:
            return
        raise MountError(f"{where}: cannot mount {source} on {target}: {exc.strerror}",
                         key=where) from None


def mount_rootfs(spec, target, options=None):
    """lxc.rootfs.path at TARGET: `dir:PATH` / `PATH` (a bind), `overlay:LOWER:UPPER` (the
    work dir beside UPPER, as LXC's overlay clones lay it out), `loop:FILE` / an image file
    (a loop device with autoclear) / a block device."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind.startswith("/"):
        kind, rest = "dir", spec
    flags, _prop, data, _lxc = parse_options(options)
    if kind in ("overlay", "overlayfs"):
        lower, sep, upper = rest.rpartition(":")
        if not sep:
            raise MountError(f"lxc.rootfs.path = {spec}: expected overlay:LOWER:UPPER",
                             key="lxc.rootfs.path")
        work = os.path.join(os.path.dirname(upper), "work")
        for path in (upper, work):
            os.makedirs(path, mode=0o755, exist_ok=True)
        overlay = f"lowerdir={lower},upperdir={upper},workdir={work}"
        libc.mount("overlay", target, "overlay", flags, f"{overlay},{data}" if data else overlay)
        return
    if kind == "dir" or os.path.isdir(rest):
        if not os.path.isdir(rest):
            raise MountError(f"rootfs {rest} does not exist", key="lxc.rootfs.path",
                             hint="check lxc.rootfs.path in the container's config")
        libc.mount(rest, target, None, MS_BIND | MS_REC)
        if flags & MS_RDONLY:
            libc.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        return
    source = rest if kind in ("loop", "block") or kind.startswith("/") else spec
    if not os.path.exists(source):
        raise MountError(f"rootfs {source} does not exist", key="lxc.rootfs.path")
    loop_fd = None
    if stat.S_ISREG(os.stat(source).st_mode):
        from ..kernel import loop
        try:
            # autoclear: once mounted, the device lives as long as this mount (the
            # container's mount namespace), whatever way the container ends.
            loop_fd, device = loop.attach(source, readonly=bool(flags & MS_RDONLY))
        except OSError as exc:
            raise MountError(f"lxc.rootfs.path = {spec}: cannot attach a loop device: "
                             f"{exc.strerror}", key="lxc.rootfs.path",
                             hint="loop rootfs need root and /dev/loop-control") from None
        image, source = source, device
    try:
        errors = []
        for fstype in ("ext4", "xfs", "btrfs", "ext3", "ext2"):
            try:
                libc.mount(source, target, fstype, flags, data)
                return
            except OSError as exc:
                errors.append(exc)
                continue
        what = f"{image} (via {source})" if loop_fd is not None else source
        other = [exc for exc in errors if exc.errno != errno.EINVAL]
        if other:
            raise MountError(f"cannot mount the rootfs {what}: {other[0].strerror}",
                             key="lxc.rootfs.path", hint="the kernel log (dmesg) says more")
        # EINVAL from every type: none is there, or the kernel refused the one that is (xfs
        # does so for a copy whose UUID a mounted filesystem has); only its log tells which.
        raise MountError(f"cannot mount the rootfs {what}: no ext4, xfs, btrfs, ext3 or ext2 "
                         "filesystem found, or the kernel refused the one there",
                         key="lxc.rootfs.path",
                         hint="`dmesg | tail` says which (e.g. xfs: duplicate UUID, when a "
                              "copied image's origin is mounted)")
    finally:
        if loop_fd is not None:
            os.close(loop_fd)


LXCFS = "/var/lib/lxcfs"


def lxcfs_running(mountinfo="/proc/self/mountinfo"):
    """Is an lxcfs FUSE file system mounted at /var/lib/lxcfs?"""
    try:
        with open(mountinfo) as handle:
            return any(line.split(" - ")[1].startswith("fuse.lxcfs ") and
                       line.split()[4] == LXCFS for line in handle if " - " in line)
    except OSError:
        return False


def bind_lxcfs(root):
    """What LXC's lxcfs mount hook does, natively: lxcfs's per-container views of /proc files
    and of /sys/devices/system/cpu over the container's own."""
    proc = os.path.join(LXCFS, "proc")
    for name in sorted(os.listdir(proc)) if os.path.isdir(proc) else []:
        target = os.path.join(root, "proc", name)
        if os.path.exists(target):
            libc.mount(os.path.join(proc, name), target, None, MS_BIND)
    cpu = os.path.join(LXCFS, "sys/devices/system/cpu")
    target = os.path.join(root, "sys/devices/system/cpu")
    if os.path.isdir(cpu) and os.path.isdir(target):
        if os.path.exists(os.path.join(cpu, "uevent")):
            libc.mount(cpu, target, None, MS_BIND)
        else:
            for name in sorted(os.listdir(cpu)):
                if os.path.exists(os.path.join(target, name)):
                    libc.mount(os.path.join(cpu, name), os.path.join(target, name), None,
                               MS_BIND)


def read_fstab(path):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return [ln.strip() for ln in handle if ln.strip() and not ln.lstrip().startswith("#")]
    except OSError as exc:
        raise MountError(f"cannot read lxc.mount.fstab {path}: {exc.strerror}",
                         key="lxc.mount.fstab") from None


def _mkdirs(path):
    os.makedirs(path, exist_ok=True)


def mount_auto(conf, root, keeps_sys_admin, cgroup_ns):
    """lxc.mount.auto: proc, sys, cgroup (words as LXC's)."""
    words = (conf.value("lxc.mount.auto") or "").split()
    proc = next((w for w in words if w.startswith("proc")), None)
    sys_ = next((w for w in words if w.startswith("sys")), None)
    cgroup = next((w for w in words if w.startswith("cgroup")), None)
    if proc:
        target = os.path.join(root, "proc")
        _mkdirs(target)
        libc.mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        if proc in ("proc", "proc:mixed"):
            # /proc/sys read-only except /proc/sys/net: bind net on itself, then a
            # recursive bind of sys (carrying the net mount along) remounted ro on top.
            net = os.path.join(target, "sys/net")
            if os.path.isdir(net):
                libc.mount(net, net, None, MS_BIND)
            sysdir = os.path.join(target, "sys")
            libc.mount(sysdir, sysdir, None, MS_BIND | MS_REC)
            libc.mount(None, sysdir, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            trigger = os.path.join(target, "sysrq-trigger")
            if os.path.exists(trigger):
                libc.mount(trigger, trigger, None, MS_BIND)
                libc.mount(None, trigger, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    if sys_:
        target = os.path.join(root, "sys")
        _mkdirs(target)
        mode = sys_.partition(":")[2] or "mixed"
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        if mode in ("ro", "mixed"):
            flags |= MS_RDONLY
        libc.mount("sysfs", target, "sysfs", flags)
    if cgroup and not (keeps_sys_admin and cgroup_ns and ":force" not in cgroup):
        mount_cgroups(root, cgroup)


def mount_cgroups(root, word):
    """A tmpfs at /sys/fs/cgroup with the host's hierarchies (seen through the cgroup ns)."""
    base = os.path.join(root, "sys/fs/cgroup")
    if not os.path.isdir(base):
        return
    read_only = ":ro" in word
    libc.mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")
    with open("/proc/self/mountinfo") as handle:
        lines = handle.read().splitlines()
    done = set()
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, _src, superopts = (right.split() + ["", "", ""])[:3]
        mountpoint = fields[4]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        if mountpoint.startswith("/sys/fs/cgroup/"):
            sub = mountpoint[len("/sys/fs/cgroup/"):]
        elif "name=systemd" in superopts.split(","):
            # the hierarchy lxctools mounted for a systemd guest on a host without one
            # (cgroups/systemd_v1.py): where systemd looks for it
            sub = "systemd"
        else:
            continue
        if "/" in sub or sub in done:
            continue
        done.add(sub)
        target = os.path.join(base, sub)
        _mkdirs(target)
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (MS_RDONLY if read_only else 0)
        options = None
        if fstype == "cgroup":
            options = ",".join(o for o in superopts.split(",") if o not in ("rw", "ro"))
        try:
            libc.mount("cgroup", target, fstype, flags, options)
        except OSError:
            os.rmdir(target)
    for link in os.listdir("/sys/fs/cgroup"):
        full = os.path.join("/sys/fs/cgroup", link)
        if os.path.islink(full) and not os.path.lexists(os.path.join(base, link)):
            os.symlink(os.readlink(full), os.path.join(base, link))
    # the tmpfs itself is read-only whatever the mode: only the hierarchies may be written.
    libc.mount(None, base, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
               "mode=755")


def mount_dev(conf, root):
    """lxc.autodev, first half: a small tmpfs on /dev, mounted before the mount entries so
    that entries below /dev (shm, mqueue) land on it."""
    dev = os.path.join(root, "dev")
    _mkdirs(dev)
    size = conf.value("lxc.autodev.tmpfs.size") or "500000"
    libc.mount("none", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, f"size={size},mode=0755")
    _mkdirs(os.path.join(dev, "pts"))


def fill_dev(root):
    """lxc.autodev, second half (after the autodev hooks): LXC's six nodes and fd links."""
    dev = os.path.join(root, "dev")
    old = os.umask(0)
    try:
        for name, major, minor in DEVICES:
            path = os.path.join(dev, name)
            try:
                os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            except PermissionError:
                # in a user namespace mknod is refused: bind the host's node instead.
                with open(path, "w"):
                    pass
                libc.mount(f"/dev/{name}", path, None, MS_BIND)
    finally:
        os.umask(old)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))


def fresh_boot_id(root):
    """A boot id of the container's own over /proc/sys/kernel/random/boot_id (as LXC), kept
    in /dev so it goes with the container."""
    target = os.path.join(root, "proc/sys/kernel/random/boot_id")
    if not os.path.exists(target):
        return
    # a random (version 4) uuid, made here: this process may not be able to import anything
    # (a user namespace's root cannot read an interpreter under /root)
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    source = os.path.join(root, "dev/.lxc-boot-id")
    with open(source, "w") as handle:
        handle.write(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}\n")
    os.chmod(source, 0o444)
    libc.mount(source, target, None, MS_BIND)
    libc.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
               | MS_NOEXEC)


def allocate_ptys(root, console, count, tty_dir):
    """Pty pairs from the container's devpts, slaves bound over /dev/console and /dev/ttyN
    (or /dev/TTY_DIR/ttyN with a /dev/ttyN link). Returns (masters, slaves), console first:
    the supervisor keeps the slaves open, else a tty nobody inside opened reads as hung up."""
    pts = os.path.join(root, "dev/pts")
    masters = []
    slaves = []
    names = (["console"] if console else []) + [f"tty{i}" for i in range(1, count + 1)]
    try:
        for name in names:
            master, slave, number = libc.open_pty_in(pts)
            masters.append(master)
            slaves.append(slave)
            if name == "console" or not tty_dir:
                target = os.path.join(root, "dev", name)
            else:
                os.makedirs(os.path.join(root, "dev", tty_dir), exist_ok=True)
                target = os.path.join(root, "dev", tty_dir, name)
                link = os.path.join(root, "dev", name)
                if not os.path.lexists(link):
                    os.symlink(f"{tty_dir}/{name}", link)
            bind_tty(os.path.join(pts, str(number)), target)
    except BaseException:
        for fd in masters + slaves:
            os.close(fd)
        raise
    return masters, slaves


def setup_devpts(conf, root, extra=0):
    pts = os.path.join(root, "dev/pts")
    _mkdirs(pts)
    count = int(conf.value("lxc.pty.max") or 0) + int(conf.value("lxc.tty.max") or 0)
    if count:
        count += extra  # the console's pty comes from here too
    options = "newinstance,ptmxmode=0666,mode=0620,gid=5"
    if count:
        options += f",max={count}"
    try:
        libc.mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, options)
    except OSError:
        libc.mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
                   options.replace(",gid=5", ""))
    # /dev/ptmx: a bind of the new instance's ptmx (as LXC), a symlink if that fails
    ptmx = os.path.join(root, "dev/ptmx")
    if os.path.islink(ptmx):
        os.unlink(ptmx)
    try:
        if not os.path.exists(ptmx):
            with open(ptmx, "a"):
                pass
        libc.mount(os.path.join(pts, "ptmx"), ptmx, None, MS_BIND)
    except OSError:
        if os.path.lexists(ptmx):
            os.unlink(ptmx)
        os.symlink("pts/ptmx", ptmx)


def bind_tty(slave_path, target):
    """Bind a host pty (console or ttyN) over TARGET inside the container."""
    if os.path.islink(target):
        os.unlink(target)
    if not os.path.exists(target):
        with open(target, "a"):
            pass
        os.chmod(target, 0o600)
    libc.mount(slave_path, target, None, MS_BIND)


def pivot_into(root):
    """Make ROOT the root: pivot_root(".", ".") then detach the old root stacked underneath."""
    os.chdir(root)
    libc.pivot_root(".", ".")
    libc.umount(".", MNT_DETACH)
    os.chdir("/")
