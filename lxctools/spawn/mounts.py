"""The container's filesystem view, built inside its new mount namespace before pivot_root:
rootfs, lxc.mount.auto, lxc.mount.fstab / lxc.mount.entry, /dev (autodev), devpts, console
and tty binds (lxc-behaviour.md 4.4).

This runs in the container's new mount namespace but *before* pivot_root: as root, with the
host's whole file system in view. The rootfs is the container's, hence hostile, so no path
below it is walked as a string: every target is opened through kernel/rootpath.py (openat2
RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS: no link is followed on the way
to a mount target -- /proc, /sys, /dev, /dev/pts, ptmx, console, ttys, lxc.mount.entry --
as LXC's safe_mount refuses them), made with *at()
calls in its parent's fd, and mounted onto /proc/self/fd/N of that fd. A flag change of a
mount just made (bind remount, propagation) looks it up again from the root: an fd taken
before the mount holds what the mount covers.

Size: LXC's mount sequence, one function per step in the order they run; the safe path
walk they all use is rootpath.py's.
"""

import errno
import os
import stat

from ..errors import LxcError
from ..kernel import libc, pty
from ..kernel.openat2 import DEVPTS_SUPER_MAGIC, TMPFS_MAGIC
from ..kernel.rootpath import IN_ROOT, NO_LINKS, fd_path
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


def _mount(source, target_fd, fstype=None, flags=0, data=None, name=None):
    """mount(2) onto the object TARGET_FD holds (its /proc/self/fd/N names exactly it);
    errors name NAME, the place as the container sees it."""
    try:
        libc.mount(source, fd_path(target_fd), fstype, flags, data)
    except OSError as exc:
        raise OSError(exc.errno, os.strerror(exc.errno), name) from None


def _on_top(root, rel, flags, data=None, resolve=IN_ROOT):
    """A flag change (bind remount, propagation) of the mount just made at REL, looked up
    again from the root: the fd it was mounted through still holds what it covers. Only
    per-mount changes come here (MS_BIND remounts), never a superblock's."""
    fd = root.open(rel, resolve=resolve)
    try:
        _mount(None, fd, None, flags, data, rel)
    finally:
        os.close(fd)


def _fixed_dir(root, rel, key):
    """The directory REL that lxctools mounts on (/proc, /sys, /dev, /dev/pts), made when
    missing; a link there is refused, not followed."""
    try:
        return root.makedirs(rel, resolve=NO_LINKS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            found = first_link(root, rel)
            what = ("{} in the rootfs is a symlink (to {})".format(*found) if found
                    else f"/{rel} in the rootfs is (or goes through) a symlink")
            raise MountError(f"{key}: {what}: refusing to mount there", key=key,
                             hint=f"make /{rel} a plain directory in the rootfs") from None
        raise MountError(f"{key}: cannot make /{rel} in the rootfs: {exc.strerror}",
                         key=key) from None


def _same_fs(fd, magic, what):
    """What we just mounted is what we look at (not something planted over or beside it)."""
    if libc.fstatfs_type(fd) != magic:
        raise MountError(f"{what} in the container is not the file system just mounted there",
                         hint="something in the rootfs raced the container's setup")


def _target_in_root(target, prefixes):
    """The place in the container an entry's TARGET names. A relative target is taken from
    the root. An absolute one that starts with the rootfs's host path (PREFIXES: LXC allows
    LXCPATH/NAME/rootfs of the global lxcpath and the rootfs path itself) is the rest of it,
    as LXC's mount_entry_on_absolute_rootfs reads it; any other absolute target is a path in
    the container (LXC 5.0.2 ignores it with a warning: ours mounts where it says)."""
    if target.startswith("/"):
        for prefix in prefixes:
            prefix = prefix.rstrip("/")
            if prefix and (target == prefix or target.startswith(prefix + "/")):
                return target[len(prefix):].lstrip("/") or "."
    return target


def first_link(root, rel):
    """(the first component of REL inside ROOT that is a symlink, its text), or None: what
    a refusal names. Each prefix is looked up from the root with links refused, so the
    answer is the link the walk stopped at (a magic link included)."""
    parts = [p for p in rel.split("/") if p and p != "."]
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        try:
            os.close(root.open(prefix, resolve=NO_LINKS))
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                return None
            parent = root.open("/".join(parts[:i - 1]) or ".", os.O_PATH | os.O_DIRECTORY,
                               resolve=NO_LINKS)
            try:
                text = os.readlink(parts[i - 1], dir_fd=parent)
            except OSError:
                text = "?"
            finally:
                os.close(parent)
            return "/" + prefix, text
    return None


def _refuse_link(root, rel, where, target, role="target"):
    found = first_link(root, rel)
    place = f"/{rel.lstrip('/')}"
    if found:
        what = "{} in the rootfs is a symlink (to {})".format(*found)
    else:
        what = f"{place} in the rootfs is (or goes through) a symlink"
    return MountError(f"{where}: {role} {target}: {what}: refusing to mount through it",
                      key=where,
                      hint="make each component of the target a real directory (or file) in "
                           "the rootfs, or name where the link points in the entry")


def mount_entry(line, root, where="lxc.mount.entry", prefixes=()):
    """One fstab-format line. The target is taken inside ROOT (a rootpath.Root) and no
    component of it may be a symlink, as LXC's safe_mount refuses one (CVE-2015-1335): a link
    the container planted could otherwise steer a mount (or create=dir) elsewhere, and one
    swapped in between a check and the mount would not be seen. create=dir|file make what is
    missing through the same walk, so nothing is made through a link either."""
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
    optional = "optional" in lxc
    rel = _target_in_root(target, prefixes)
    source_fd = -1
    try:
        if "relative" in lxc:
            # the source is the container's too (LXC: ROOTFS/SOURCE): by fd, no links
            try:
                source_fd = root.open(source, resolve=NO_LINKS)
            except OSError as exc:
                if optional:
                    return
                if exc.errno == errno.ELOOP:
                    raise _refuse_link(root, source, where, source, "source") from None
                raise MountError(f"{where}: source {source} (relative to the rootfs): "
                                 f"{exc.strerror}", key=where) from None
            source = fd_path(source_fd)
        elif flags & MS_BIND and not os.path.exists(source):
            if optional:
                return
            raise MountError(f"{where}: source {source} does not exist", key=where,
                             hint="create it on the host, or add ,optional to the mount options")
        try:
            if "create=dir" in lxc:
                fd = root.makedirs(rel, resolve=NO_LINKS)
            elif "create=file" in lxc:
                fd = root.create_file(rel, resolve=NO_LINKS)
            else:
                fd = root.open(rel, resolve=NO_LINKS)
        except OSError as exc:
            if optional:
                return
            if exc.errno == errno.ELOOP:
                raise _refuse_link(root, rel, where, target) from None
            if exc.errno == errno.ENOENT:
                raise MountError(f"{where}: target {target} does not exist in the container",
                                 key=where, hint="add create=dir (or create=file) to the "
                                                 "options") from None
            raise MountError(f"{where}: cannot mount {source} on {target}: {exc.strerror}",
                             key=where) from None
        try:
            if flags & MS_BIND:
                _mount(source, fd, None, MS_BIND | (flags & MS_REC), name=target)
                if flags & ~(MS_BIND | MS_REC):
                    # bind ignores other flags: they need a remount of the new mount.
                    _on_top(root, rel, MS_REMOUNT | MS_BIND | (flags & ~MS_REC),
                            resolve=NO_LINKS)
            else:
                _mount(source, fd, None if fstype == "none" else fstype, flags, data, target)
            if propagation:
                _on_top(root, rel, propagation, resolve=NO_LINKS)
        except OSError as exc:
            if optional:
                return
            if exc.errno == errno.ELOOP:
                # a link swapped in over what we just mounted (the remount's lookup saw it)
                raise _refuse_link(root, rel, where, target) from None
            raise MountError(f"{where}: cannot mount {source} on {target}: {exc.strerror}",
                             key=where) from None
        finally:
            os.close(fd)
    finally:
        if source_fd >= 0:
            os.close(source_fd)


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
    and of /sys/devices/system/cpu over the container's own (the sources are the host's,
    the targets taken inside ROOT, never through a link)."""
    proc = os.path.join(LXCFS, "proc")
    for name in sorted(os.listdir(proc)) if os.path.isdir(proc) else []:
        try:
            fd = root.open(f"proc/{name}", resolve=NO_LINKS)
        except OSError:
            continue
        try:
            _mount(os.path.join(proc, name), fd, None, MS_BIND, name=f"/proc/{name}")
        finally:
            os.close(fd)
    cpu = os.path.join(LXCFS, "sys/devices/system/cpu")
    if not os.path.isdir(cpu):
        return
    try:
        target = root.open("sys/devices/system/cpu", os.O_PATH | os.O_DIRECTORY,
                           resolve=NO_LINKS)
    except OSError:
        return
    try:
        if os.path.exists(os.path.join(cpu, "uevent")):
            _mount(cpu, target, None, MS_BIND, name="/sys/devices/system/cpu")
            return
        for name in sorted(os.listdir(cpu)):
            try:
                fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=target)
            except OSError:
                continue
            try:
                if not stat.S_ISLNK(os.fstat(fd).st_mode):
                    _mount(os.path.join(cpu, name), fd, None, MS_BIND,
                           name=f"/sys/devices/system/cpu/{name}")
            finally:
                os.close(fd)
    finally:
        os.close(target)


def read_fstab(path):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return [ln.strip() for ln in handle if ln.strip() and not ln.lstrip().startswith("#")]
    except OSError as exc:
        raise MountError(f"cannot read lxc.mount.fstab {path}: {exc.strerror}",
                         key="lxc.mount.fstab") from None


def _auto_word(conf, kind):
    """lxc.mount.auto's word for KIND (proc, sys, cgroup), or None. The last word of each
    kind wins, as in LXC (each word clears its kind's flags first): common.conf's sys:mixed
    followed by a template's sys:ro is sys:ro."""
    words = (conf.value("lxc.mount.auto") or "").split()[::-1]
    return next((w for w in words if w.startswith(kind)), None)


def mount_auto(conf, root):
    """lxc.mount.auto's proc and sys (words as LXC's); its cgroup word is mount_auto_cgroup's,
    after lxc.mount.entry, as LXC mounts it."""
    proc = _auto_word(conf, "proc")
    sys_ = _auto_word(conf, "sys")
    if proc:
        fd = _fixed_dir(root, "proc", "lxc.mount.auto")
        try:
            _mount("proc", fd, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, name="/proc")
        finally:
            os.close(fd)
        if proc in ("proc", "proc:mixed"):
            # /proc/sys read-only except /proc/sys/net: bind net on itself, then a
            # recursive bind of sys (carrying the net mount along) remounted ro on top.
            _bind_on_itself(root, "proc/sys/net", optional=True)
            _bind_on_itself(root, "proc/sys", MS_REC)
            _on_top(root, "proc/sys", MS_REMOUNT | MS_BIND | MS_RDONLY, resolve=NO_LINKS)
            if _bind_on_itself(root, "proc/sysrq-trigger", optional=True):
                _on_top(root, "proc/sysrq-trigger", MS_REMOUNT | MS_BIND | MS_RDONLY,
                        resolve=NO_LINKS)
    if sys_:
        fd = _fixed_dir(root, "sys", "lxc.mount.auto")
        mode = sys_.partition(":")[2] or "mixed"
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        if mode in ("ro", "mixed"):
            flags |= MS_RDONLY
        try:
            _mount("sysfs", fd, "sysfs", flags, name="/sys")
        finally:
            os.close(fd)


def mount_auto_cgroup(conf, root, keeps_sys_admin, cgroup_ns):
    """lxc.mount.auto's cgroup word: the hierarchies as the container's cgroup namespace
    shows them (so only once init is in its cgroups and has made that namespace). Left to
    the container when it keeps CAP_SYS_ADMIN in a cgroup namespace, unless ":force"."""
    cgroup = _auto_word(conf, "cgroup")
    if cgroup and not (keeps_sys_admin and cgroup_ns and ":force" not in cgroup):
        mount_cgroups(root, cgroup)


def _bind_on_itself(root, rel, extra=0, optional=False):
    """Bind REL (in the proc we just mounted) on itself; False when it is not there."""
    try:
        fd = root.open(rel, resolve=NO_LINKS)
    except OSError:
        if optional:
            return False
        raise
    try:
        _mount(fd_path(fd), fd, None, MS_BIND | extra, name="/" + rel)
    finally:
        os.close(fd)
    return True


def mount_cgroups(root, word):
    """A tmpfs at /sys/fs/cgroup with the host's hierarchies (seen through the cgroup ns)."""
    try:
        fd = root.open("sys/fs/cgroup", os.O_PATH | os.O_DIRECTORY, resolve=NO_LINKS)
    except OSError:
        return
    try:
        _mount("tmpfs", fd, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755",
               name="/sys/fs/cgroup")
    finally:
        os.close(fd)
    base = root.open("sys/fs/cgroup", os.O_PATH | os.O_DIRECTORY, resolve=NO_LINKS)
    try:
        _same_fs(base, TMPFS_MAGIC, "/sys/fs/cgroup")
        _fill_cgroups(base, ":ro" in word)
        # the tmpfs itself is read-only whatever the mode: only the hierarchies may be
        # written (BASE is that mount's root: the remount reaches exactly it)
        _mount(None, base, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
               | MS_NOEXEC, name="/sys/fs/cgroup")
    finally:
        os.close(base)


def _fill_cgroups(base, read_only):
    """The host's hierarchies in the tmpfs BASE (an fd), and its links (cpu -> cpu,cpuacct)."""
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
        if "/" in sub or sub in done or sub in ("", ".", ".."):
            continue
        done.add(sub)
        os.mkdir(sub, 0o755, dir_fd=base)
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (MS_RDONLY if read_only else 0)
        options = None
        if fstype == "cgroup":
            options = ",".join(o for o in superopts.split(",") if o not in ("rw", "ro"))
        target = os.open(sub, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=base)
        try:
            _mount("cgroup", target, fstype, flags, options, name=f"/sys/fs/cgroup/{sub}")
        except OSError:
            os.rmdir(sub, dir_fd=base)
        finally:
            os.close(target)
    for link in os.listdir("/sys/fs/cgroup"):
        full = os.path.join("/sys/fs/cgroup", link)
        if os.path.islink(full):
            try:
                os.symlink(os.readlink(full), link, dir_fd=base)
            except FileExistsError:
                pass


def mount_dev(conf, root):
    """lxc.autodev, first half: a small tmpfs on /dev, mounted before the mount entries so
    that entries below /dev (shm, mqueue) land on it."""
    fd = _fixed_dir(root, "dev", "lxc.autodev")
    size = conf.value("lxc.autodev.tmpfs.size") or "500000"
    try:
        _mount("none", fd, "tmpfs", MS_NOSUID | MS_NOEXEC, f"size={size},mode=0755",
               name="/dev")
    finally:
        os.close(fd)
    dev = root.open("dev", os.O_PATH | os.O_DIRECTORY, resolve=NO_LINKS)
    try:
        _same_fs(dev, TMPFS_MAGIC, "/dev")
        os.mkdir("pts", 0o755, dir_fd=dev)
    finally:
        os.close(dev)


def fill_dev(root):
    """lxc.autodev, second half (after the autodev hooks): LXC's six nodes and fd links, in
    the tmpfs mount_dev made (by its fd: a link planted by a hook is not followed)."""
    dev = root.open("dev", os.O_PATH | os.O_DIRECTORY, resolve=NO_LINKS)
    old = os.umask(0)
    try:
        _same_fs(dev, TMPFS_MAGIC, "/dev")
        for name, major, minor in DEVICES:
            try:
                os.mknod(name, 0o666 | stat.S_IFCHR, os.makedev(major, minor), dir_fd=dev)
            except PermissionError:
                # in a user namespace mknod is refused: bind the host's node instead.
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                 | os.O_CLOEXEC, 0o666, dir_fd=dev))
                target = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev)
                try:
                    _mount(f"/dev/{name}", target, None, MS_BIND, name=f"/dev/{name}")
                finally:
                    os.close(target)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            os.symlink(target, name, dir_fd=dev)
    finally:
        os.umask(old)
        os.close(dev)


def fresh_boot_id(root):
    """A boot id of the container's own over /proc/sys/kernel/random/boot_id (as LXC), kept
    in /dev so it goes with the container."""
    rel = "proc/sys/kernel/random/boot_id"
    try:
        target = root.open(rel, resolve=NO_LINKS)
    except OSError:
        return
    # a random (version 4) uuid, made here: this process may not be able to import anything
    # (a user namespace's root cannot read an interpreter under /root)
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    dev = root.open("dev", os.O_PATH | os.O_DIRECTORY, resolve=NO_LINKS)
    try:
        fd = os.open(".lxc-boot-id", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o444, dir_fd=dev)
        try:
            os.write(fd, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}\n".encode())
            os.fchmod(fd, 0o444)
        finally:
            os.close(fd)
        source = os.open(".lxc-boot-id", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev)
        try:
            _mount(fd_path(source), target, None, MS_BIND, name="/" + rel)
        finally:
            os.close(source)
    finally:
        os.close(dev)
        os.close(target)
    _on_top(root, rel, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            resolve=NO_LINKS)


def allocate_ptys(root, console, count, tty_dir):
    """Pty pairs from the container's devpts, slaves bound over /dev/console and /dev/ttyN
    (or /dev/TTY_DIR/ttyN with a /dev/ttyN link). Returns (masters, slaves), console first;
    the supervisor gets the masters and the console's slave (Supervisor.take_ptys)."""
    masters = []
    slaves = []
    names = (["console"] if console else []) + [f"tty{i}" for i in range(1, count + 1)]
    held = []
    try:
        pts = root.open("dev/pts", os.O_PATH | os.O_DIRECTORY, resolve=NO_LINKS)
        held.append(pts)
        _same_fs(pts, DEVPTS_SUPER_MAGIC, "/dev/pts")
        dev = root.open("dev", os.O_PATH | os.O_DIRECTORY, resolve=NO_LINKS)
        held.append(dev)
        ttys = dev
        if tty_dir and (count or console):
            ttys = _fixed_dir(root, f"dev/{tty_dir}", "lxc.tty.dir")
            held.append(ttys)
        for name in names:
            master, slave = pty.open_pair_at(pts, "/dev/pts")
            masters.append(master)
            slaves.append(slave)
            if name == "console" and tty_dir:
                bind_tty(slave, ttys, name)  # as LXC: at /dev/TTY_DIR/console too
            if name == "console" or not tty_dir:
                bind_tty(slave, dev, name)
            else:
                bind_tty(slave, ttys, name)
                # /dev/ttyN names our tty whatever the rootfs had there (as LXC, which
                # removes it): a planted link or file would leave the name pointing elsewhere
                _drop_link(dev, name, anything=True)
                os.symlink(f"{tty_dir}/{name}", name, dir_fd=dev)
    except BaseException:
        for fd in masters + slaves:
            os.close(fd)
        raise
    finally:
        for fd in held:
            os.close(fd)
    return masters, slaves


def setup_devpts(conf, root, extra=0):
    fd = _fixed_dir(root, "dev/pts", "lxc.pty.max")
    count = int(conf.value("lxc.pty.max") or 0) + int(conf.value("lxc.tty.max") or 0)
    if count:
        count += extra  # the console's pty comes from here too
    options = "newinstance,ptmxmode=0666,mode=0620,gid=5"
    if count:
        options += f",max={count}"
    try:
        try:
            _mount("devpts", fd, "devpts", MS_NOSUID | MS_NOEXEC, options, name="/dev/pts")
        except OSError:
            _mount("devpts", fd, "devpts", MS_NOSUID | MS_NOEXEC,
                   options.replace(",gid=5", ""), name="/dev/pts")
    finally:
        os.close(fd)
    # /dev/ptmx: a bind of the new instance's ptmx (as LXC), a symlink if that fails
    pts = root.open("dev/pts", os.O_PATH | os.O_DIRECTORY, resolve=NO_LINKS)
    dev = root.open("dev", os.O_PATH | os.O_DIRECTORY, resolve=NO_LINKS)
    try:
        _same_fs(pts, DEVPTS_SUPER_MAGIC, "/dev/pts")
        _drop_link(dev, "ptmx")
        try:
            target = _plain_file(dev, "ptmx", 0o666)
            try:
                source = os.open("ptmx", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pts)
                try:
                    _mount(fd_path(source), target, None, MS_BIND, name="/dev/ptmx")
                finally:
                    os.close(source)
            finally:
                os.close(target)
        except OSError:
            _drop_link(dev, "ptmx", anything=True)
            os.symlink("pts/ptmx", "ptmx", dir_fd=dev)
    finally:
        os.close(pts)
        os.close(dev)


def _drop_link(dir_fd, name, anything=False):
    """Remove NAME in DIR_FD when it is a symlink (or, with ANYTHING, whatever non-directory
    it is): the place is ours to fill."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or (anything and not stat.S_ISDIR(st.st_mode)):
        os.unlink(name, dir_fd=dir_fd)


def _plain_file(dir_fd, name, mode):
    """An O_PATH fd of NAME in DIR_FD, made (MODE) when missing; never a symlink."""
    try:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, mode, dir_fd=dir_fd))
    except FileExistsError:
        pass
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    if stat.S_ISLNK(os.fstat(fd).st_mode) or stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.ELOOP, "a link or directory is in the way", name)
    return fd


def bind_tty(slave, dir_fd, name):
    """Bind the pty SLAVE (an fd) over NAME (console, ttyN) in the container's DIR_FD."""
    _drop_link(dir_fd, name)
    fd = _plain_file(dir_fd, name, 0o600)
    try:
        _mount(fd_path(slave), fd, None, MS_BIND, name=f"/dev/{name}")
    finally:
        os.close(fd)


def pivot_into(root):
    """Make ROOT (a rootpath.Root) the root: pivot_root(".", ".") then detach the old root
    stacked underneath."""
    os.chdir(root.path)
    libc.pivot_root(".", ".")
    libc.umount(".", MNT_DETACH)
    os.chdir("/")
