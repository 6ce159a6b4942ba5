"""lxctools.journal.link: the guest's systemd journal directory linked with the host's
(systemd-nspawn's --link-journal idea; LXC has no such key).

The guest's journald writes /var/log/journal/MACHINE-ID. Modes:
  no        nothing (the default)
  host      the files live on the host in JOURNAL_ROOT/MACHINE-ID (made if missing), bound
            onto the guest's /var/log/journal/MACHINE-ID: `journalctl -m` on the host sees
            them, and they outlive the container
  try-host  host, when the host keeps a persistent journal (JOURNAL_ROOT exists); else nothing
  guest     the files stay in the guest; JOURNAL_ROOT/MACHINE-ID on the host is a symlink to
            the guest's directory (dir or overlay rootfs: the upper layer, where writes land)
  try-guest guest, when JOURNAL_ROOT exists and the rootfs is reachable from the host
  auto      bind JOURNAL_ROOT/MACHINE-ID when the host already has that directory

Everything happens in the container's setup process before pivot_root (it still sees the
host's file system and is root there: privileged containers only), so the guest's side is
reached only through kernel/rootpath.py (openat2 RESOLVE_IN_ROOT): /etc/machine-id is read
only when it is a regular file, the directory is made with mkdirat() and mounted by fd. The bind mount lives in
the container's mount namespace; the host's mount table never changes. The machine id is the
guest's /etc/machine-id, or, when that is empty or "uninitialized", the one its systemd will
derive from $container_uuid (systemd's Container Interface).
"""

import os
import re

from ..errors import LxcError
from ..kernel.rootpath import read_regular

MODES = ("no", "host", "try-host", "guest", "try-guest", "auto")
KEY = "lxctools.journal.link"


def journal_root():
    # LXCTOOLS_JOURNAL_ROOT: for tests, which must not write the host's /var/log/journal
    return os.environ.get("LXCTOOLS_JOURNAL_ROOT") or "/var/log/journal"


class JournalError(LxcError):
    pass


def machine_id(root, env):
    """The guest's machine id (32 hex digits), or None when it has none and no uuid. ROOT:
    a path or rootpath.Root (a FIFO or a link out of the guest reads as no id)."""
    raw = read_regular(root, "/etc/machine-id", limit=4096)
    text = (raw or b"").decode("ascii", "replace").strip().lower()
    if re.fullmatch(r"[0-9a-f]{32}", text):
        return text
    uuid = (env.get("container_uuid") or "").replace("-", "").lower()
    return uuid if re.fullmatch(r"[0-9a-f]{32}", uuid) else None


def guest_base(spec):
    """The host path where the guest's files are written (for `guest` mode), or None."""
    kind, sep, rest = (spec or "").partition(":")
    if not sep or kind.startswith("/"):
        return spec or None
    if kind == "dir":
        return rest
    if kind in ("overlay", "overlayfs"):
        return rest.rpartition(":")[2] or None  # the upper layer
    return None


def plan(conf, rootfs, idmapped):
    """(mode, root, guest base) for the container side, or None. Refuses what cannot work
    before anything is made."""
    mode = conf.value(KEY) or "no"
    if mode == "no" or not rootfs:
        return None
    if idmapped:
        if mode.startswith("try-") or mode == "auto":
            return None
        raise JournalError(f"{KEY} = {mode} needs a privileged container (its setup writes "
                           "the host's journal directory)", key=KEY,
                           hint=f"remove {KEY}, or use try-host")
    base = guest_base(conf.value("lxc.rootfs.path")) if mode.endswith("guest") else None
    if mode == "guest" and base is None:
        raise JournalError(f"{KEY} = guest needs a dir or overlay rootfs the host can reach",
                           key=KEY, hint="use host (the files then live on the host)")
    return mode, journal_root(), base


def link(spec, root, env):
    """In the container's setup process, before pivot_root: link the journal as SPEC says.
    ROOT is the rootpath.Root of the mounted rootfs."""
    mode, host_root, base = spec
    trying = mode.startswith("try-") or mode == "auto"
    ident = machine_id(root, env)
    if ident is None:
        if trying:
            return None
        raise JournalError(f"{KEY} = {mode}: the guest has no machine id (/etc/machine-id) "
                           "and no container_uuid", key=KEY)
    if trying and not os.path.isdir(host_root):
        return None
    host_dir = os.path.join(host_root, ident)
    inner = os.path.join("/var/log/journal", ident)
    if mode in ("host", "try-host", "auto"):
        if mode == "auto" and not os.path.isdir(host_dir):
            return None
        if os.path.islink(host_dir):
            if trying:
                return None
            raise JournalError(f"{host_dir} is a symlink (a guest-mode link): the journal "
                               "would not be on the host", key=KEY,
                               hint=f"remove {host_dir}, or use {KEY} = guest")
        os.makedirs(host_dir, mode=0o755, exist_ok=True)
        target = root.makedirs(inner, 0o755)
        try:
            from ..kernel import libc
            from ..kernel.rootpath import fd_path
            libc.mount(host_dir, fd_path(target), None, libc.MS_BIND)
        finally:
            os.close(target)
        return host_dir
    # guest / try-guest: the directory stays in the guest, the host gets a symlink to it
    made = root.makedirs(inner, 0o755)  # lands in base (upper)
    try:
        from ..kernel.rootpath import path_in_root
        where = path_in_root(root.fd, made)
    finally:
        os.close(made)
    if where is None:
        raise JournalError(f"{KEY} = {mode}: the guest's {inner} is not in its rootfs", key=KEY)
    # the host's link names the directory where it really is (a guest's /var/log may be a
    # link), so that the host never follows the guest's links when it reads the journal
    guest_dir = os.path.join(base, where.lstrip("/"))
    if os.path.lexists(host_dir):
        if os.path.islink(host_dir) and os.readlink(host_dir) == guest_dir:
            return host_dir
        if trying:
            return None
        raise JournalError(f"{host_dir} exists on the host and is not a link to the guest's "
                           "journal", key=KEY, hint=f"move it away, or use {KEY} = host")
    os.makedirs(host_root, mode=0o755, exist_ok=True)
    os.symlink(guest_dir, host_dir)
    return host_dir
