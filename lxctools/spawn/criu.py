"""lxc-checkpoint's engine: CRIU, driven through its command line as LXC drives it.

The CLI, not pycriu's RPC: Debian's `criu` package is the one dependency (pycriu is a
separate package, not on PyPI, and its RPC service needs the same binary anyway), every
option LXC passes has a CLI spelling, the log CRIU writes into the checkpoint directory
(`dump.log`, `restore.log`) is what a user reads when it fails, and `--restore-sibling`
makes the restored init a child of whoever ran criu -- our supervisor, which then watches it
as it watches an init it started.

What a container needs (the same flags as LXC 5.0's criu.c): its cgroups (`--manage-cgroups`,
`--cgroup-root` per hierarchy, `--freeze-cgroup` on the container's own cgroup), external
mounts (`--ext-mount-map auto`, the bind mounts of lxc.mount.entry by name), its console
and ttys (ptys whose masters the supervisor holds: `--external tty[RDEV:DEV]` and their
bind mounts by name at the dump, new ptys passed with `--inherit-fd` at the restore), veth
pairs re-created on restore as LXC asks for them (`--external veth[NAME]:HOST@BRIDGE`, NAME
as the dump found it), `--tcp-established`.

Before anything is frozen (`preflight`): root, criu on PATH, its version, and `criu check`
on this kernel -- each failure named with what CRIU said.

Here the engine and the restore, which is a start (the supervisor calls restore_into in
place of the fork); the dump's caller, which asks the running container's supervisor, is
api/checkpoint.py.
"""

import json
import os
import re
import subprocess

from ..errors import LxcError

# LXC 5.0's CRIU_VERSION: the oldest criu lxc-checkpoint accepts
MIN_VERSION = "2.0"
# where we keep what the restore needs beside CRIU's images (the ttys' ids and names)
TTYS_FILE = "lxctools-ttys.json"
# network types CRIU can dump and re-create (LXC's criu_ok)
DUMPABLE_NETWORKS = ("veth", "none", "empty", "phys", "macvlan")


class CriuError(LxcError):
    """CRIU is missing, too old, refuses this kernel, or a dump/restore failed."""


def _version_tuple(text):
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def find():
    import shutil
    path = shutil.which("criu")
    if path is None:
        raise CriuError("criu not found: lxc-checkpoint needs CRIU to checkpoint and restore "
                        "(nothing was frozen)",
                        hint="install it (apt-get install criu) or put criu on PATH")
    return path


def version(path):
    """CRIU's version as `criu --version` prints it ("Version: 3.17.1")."""
    try:
        proc = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace", timeout=30)
    except OSError as exc:
        raise CriuError(f"cannot run {path} --version: {exc.strerror}",
                        hint="reinstall CRIU (apt-get install --reinstall criu)") from None
    match = re.search(r"^Version:\s*(\S+)", proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        said = (proc.stdout + proc.stderr).strip().splitlines()
        raise CriuError(f"{path} --version did not say its version"
                        + (f" (it said: {said[0]})" if said else f" (exit {proc.returncode})"),
                        hint="is it CRIU? reinstall it (apt-get install --reinstall criu)")
    found = match.group(1)
    if _version_tuple(found) < _version_tuple(MIN_VERSION):
        raise CriuError(f"criu {found} ({path}) is too old: lxc-checkpoint needs CRIU "
                        f"{MIN_VERSION} or newer (nothing was frozen)",
                        hint="install a newer CRIU (apt-get install criu)")
    return found


def errors_of(text, limit=3):
    """The lines of CRIU's output that say what went wrong, without their source places
    ("Error (criu/vdso.c:381): vdso: ..." -> "vdso: ..."), most specific first."""
    found = []
    for line in text.splitlines():
        # "(00.012345) Error (criu/x.c:1): ...", and in a restored task's own lines
        # "(02.815804)      1: Error (criu/mount-v2.c:324): ..."
        match = re.match(r"^\s*(?:\([\d.\s]+\)\s*)?(?:\d+:\s*)?Error\s*\([^)]*\):\s*(.*)$",
                         line)
        if (match and match.group(1) and not match.group(1).startswith("exited, status")
                and match.group(1) not in ("Restoring FAILED.", "Dumping FAILED.")):
            found.append(match.group(1).strip())
    # irmap's misses ("irmap: Can't stat /no-such-path", a hint of its own that a host lacks)
    # are CRIU walking its list of places, not why it failed: last, when there is more
    said = [line for line in found if not line.startswith("irmap: Can't stat")]
    found = said + [line for line in found if line not in said]
    if not found:
        found = [line.strip() for line in text.splitlines() if line.strip()][-limit:]
    return found[:limit]


def check(path):
    """`criu check`: whether CRIU works on this kernel at all. Run before anything is frozen:
    a dump that fails half-way has frozen the container for nothing."""
    try:
        proc = subprocess.run([path, "check"], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", timeout=120)
    except OSError as exc:
        raise CriuError(f"cannot run {path} check: {exc.strerror}") from None
    if proc.returncode != 0:
        said = "; ".join(errors_of(proc.stdout + proc.stderr)) or f"exit {proc.returncode}"
        raise CriuError(f"criu check failed on this kernel ({os.uname().release}): {said} "
                        "(nothing was frozen)",
                        hint="CRIU cannot checkpoint on this kernel; run `criu check` to see "
                             "all it says (a newer criu, or a kernel it supports)")
    return True


def preflight(action="checkpoint"):
    """Root, criu found, new enough, and working here: (path, version) or CriuError."""
    if os.geteuid() != 0:
        raise CriuError(f"Must be root to {action}",
                        hint="CRIU needs root (run lxc-checkpoint with sudo)")
    path = find()
    found = version(path)
    check(path)
    return path, found


def network_lock(path):
    """How CRIU will lock the container's network during the dump: its default (iptables)
    when iptables-restore is installed, else nftables when this criu can; else CriuError
    before anything is frozen (CRIU would find out with the container frozen)."""
    import shutil
    if shutil.which("iptables-restore"):
        return []
    done = subprocess.run([path, "check", "--feature", "network-lock-nftables"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode == 0:
        return ["--network-lock", "nftables"]
    raise CriuError("CRIU locks a container's network with iptables-restore, which is not "
                    "installed (and this criu cannot use nftables): nothing was frozen",
                    hint="apt-get install iptables")


def check_networks(conf):
    """LXC's criu_ok: only networks CRIU can re-create."""
    for index, fields in _nics(conf):
        kind = fields.get("type") or ""
        if kind not in DUMPABLE_NETWORKS:
            raise CriuError(f"Found un-dumpable network: {kind} (lxc.net.{index})",
                            key=f"lxc.net.{index}.type",
                            hint="CRIU re-creates veth, macvlan and phys devices only")


def _nics(conf):
    nics = {}
    for key, value in conf.family("lxc.net"):
        index, _, field = key.partition(".")
        if index.isdigit():
            nics.setdefault(int(index), {})[field] = value
    return sorted(nics.items())


# -- the command lines --------------------------------------------------------------------------
def common_args(path, action, directory, verbose, action_script=None):
    args = [path, action, "--tcp-established", "--file-locks", "--link-remap",
            "--manage-cgroups=full", "--ext-mount-map", "auto", "--enable-external-sharing",
            "--enable-external-masters", "--enable-fs", "hugetlbfs", "--enable-fs", "tracefs",
            "-D", directory, "-o", os.path.join(directory, f"{action}.log")]
    if verbose:
        args.append("-v4")
    if action_script:
        args += ["--action-script", action_script]
    return args


# Where CRIU looks (besides its own hints: /etc, /var/log, dbus's system-services...) for the
# path of an inode a process watches (inotify) when the inode's file handle cannot be opened:
# on an overlayfs rootfs, where the handles of the lower layer's files never open. dbus-daemon
# watches its configuration directories below /usr/share/dbus-1 (system.d), which CRIU's own
# hints miss: a systemd guest on an overlay does not dump without it
# (tests/vm/test_systemd_guest_checkpoint.py). Scanned only for such an inode.
IRMAP_SCAN_PATHS = ("/usr/share/dbus-1",)


def irmap_args():
    args = []
    for path in IRMAP_SCAN_PATHS:
        args += ["--irmap-scan-path", path]
    return args


def cgroup_roots(cgroups_json):
    """--cgroup-root CONTROLLERS:PATH for each hierarchy: the container's limit cgroup as
    /proc/PID/cgroup shows it."""
    args = []
    for h in (cgroups_json or {}).get("hierarchies") or []:
        limit = h.get("limit") or h.get("payload")
        if not limit:
            continue
        rel = "/" + os.path.relpath(limit, h["mountpoint"]).lstrip(".").lstrip("/")
        controllers = ",".join(h.get("controllers") or []) if h.get("version") == 1 else ""
        args += ["--cgroup-root", f"{controllers}:{rel}" if controllers else rel]
    return args


def freezer_dir(cgroups_json):
    """The directory CRIU freezes the container by: cgroup2's, else the v1 freezer's."""
    found = None
    for h in (cgroups_json or {}).get("hierarchies") or []:
        limit = h.get("limit") or h.get("payload")
        if h.get("version") == 2:
            return limit
        if "freezer" in (h.get("controllers") or []):
            found = limit
    return found


def bind_entries(conf):
    """The container-side targets of lxc.mount.entry bind mounts (CRIU's external mounts)."""
    targets = []
    for line in conf.value("lxc.mount.entry") or []:
        fields = line.split()
        if len(fields) >= 4 and "bind" in fields[3].split(","):
            targets.append((fields[0], "/" + fields[1].strip("/")))
    return targets


def tty_id(rdev, dev):
    return f"tty[{rdev:x}:{dev:x}]"


def run(args, directory, action, name, pass_fds=(), preexec=None):
    """Run criu; CriuError naming what it said (from its log) when it fails."""
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", pass_fds=pass_fds, preexec_fn=preexec)
    except OSError as exc:
        raise CriuError(f"cannot run criu {action}: {exc.strerror}") from None
    if proc.returncode != 0:
        logfile = os.path.join(directory, f"{action}.log")
        try:
            with open(logfile, errors="replace") as handle:
                text = handle.read()
        except OSError:
            text = ""
        said = "; ".join(errors_of(text + "\n" + proc.stdout + proc.stderr))
        status = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
                  else f"exited {proc.returncode}")
        what = "Checkpointing" if action in ("dump", "pre-dump") else "Restoring"
        raise CriuError(f"{what} {name} failed: criu {action} {status}: {said}",
                        hint=f"see {logfile} (lxc-checkpoint -v for more)")
    return proc


# -- restore (in the supervisor, which becomes the restored init's parent) --------------------------
def read_ttys(directory):
    try:
        with open(os.path.join(directory, TTYS_FILE)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {"ttys": []}
    except (OSError, ValueError) as exc:
        raise CriuError(f"cannot read {os.path.join(directory, TTYS_FILE)}: {exc}",
                        hint="was this directory made by lxc-checkpoint?") from None


def check_directory(directory):
    if not os.path.exists(os.path.join(directory, "inventory.img")):
        raise CriuError(f"no checkpoint in {directory} (no inventory.img)",
                        hint="give the -D of an lxc-checkpoint that succeeded")


def _pty_path(master):
    """/dev/pts/N of a pty made on the host's devpts (TIOCGPTN): what CRIU binds over the
    container's /dev/console or /dev/ttyN at the restore."""
    import fcntl
    import struct
    number = struct.unpack("I", fcntl.ioctl(master, 0x80045430, b"\0\0\0\0"))[0]  # TIOCGPTN
    return f"/dev/pts/{number}"


def restore_into(sup, plan, options):
    """Supervisor.boot for lxc-checkpoint -r: cgroups as a start makes them, new ptys for the
    console and ttys the dump marked external, then criu restore in a private mount namespace
    with the rootfs mounted as a start mounts it. With --restore-sibling the restored init is
    this process's child: from there on it is supervised as any init we started."""
    from .startplan import make_cgroups, refuse_if_in_use
    from ..kernel import libc
    from ..kernel.pty import open_pair

    directory = os.path.abspath(options["directory"])
    if options.get("checked"):
        criu = find()
    else:
        criu, _version = preflight("restore")
    check_directory(directory)
    check_networks(sup.conf)
    saved = read_ttys(directory)
    sup.cgroups = make_cgroups(sup.name, sup.lxcpath, sup.conf, on_claim=sup.claim_cgroups,
                               on_taken=lambda path: refuse_if_in_use(plan, path))
    sup.open_ttys(plan)
    # new ptys on the host's devpts stand in for the console and ttys the dump left out
    # (their masters were ours, outside the dumped tree): the restored processes get the
    # slaves (--inherit-fd) and CRIU binds them where the old ones were mounted
    pairs = {}
    inherit, mounts_map = [], []
    sup.pty_slaves = []
    console_master, ttys = None, {}
    for tty in saved.get("ttys") or []:
        ident = tty_id(tty["rdev"], tty["dev"])
        if ident not in pairs:
            master, slave = open_pair()
            os.set_inheritable(master, False)
            pairs[ident] = (master, slave, _pty_path(master))
            sup.pty_slaves.append(slave)
            inherit.append((ident, slave))
            if tty["name"].startswith("console"):
                console_master = master
            else:
                ttys[int(tty["name"][3:])] = master
        mounts_map.append((tty["name"], pairs[ident][2]))
    sup.console_master = console_master
    sup.tty_masters = [ttys[i] for i in sorted(ttys)]
    networks, nics = restore_networks(sup.conf, saved.get("networks"))
    pidfile = os.path.join(directory, "restore.pid")
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
    root = plan.rootfs_mount
    args = common_args(criu, "restore", directory, options.get("verbose"),
                       options.get("action_script")) + network_lock(criu)
    args += cgroup_roots(sup.cgroups.to_json() if sup.cgroups is not None else None)
    for source, target in bind_entries(sup.conf):
        # the host path as the kernel bound it: CRIU's mount engine (open_tree, move_mount)
        # takes a symlink (Debian's /lib -> usr/lib) for what it names, and fails (EINVAL)
        args += ["--ext-mount-map", f"{target}:{os.path.realpath(source)}"]
    args += ["--root", root, "--restore-detached", "--restore-sibling", "--pidfile", pidfile]
    for ident, fd in inherit:
        args += ["--inherit-fd", f"fd[{fd}]:{ident}"]
    for key, path in mounts_map:
        args += ["--ext-mount-map", f"{key}:{path}"]
    for external in networks:
        args += ["--external", external]
    spec = sup.conf.value("lxc.rootfs.path")
    rootfs_options = sup.conf.value("lxc.rootfs.options")

    def prepare_root():
        # CRIU wants the container's root to be a mount of its own (LXC's do_restore does
        # the same): mounted in a mount namespace of criu's, gone when criu is
        from .mounts import mount_rootfs
        libc.unshare(libc.CLONE_NEWNS)
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
        os.makedirs(root, exist_ok=True)
        mount_rootfs(spec, root, rootfs_options)

    try:
        try:
            run(args, directory, "restore", sup.name, pass_fds=[fd for _i, fd in inherit],
                preexec=prepare_root)
        except CriuError as exc:
            # criu 3.17's new mount engine (mount-v2) refuses mounts its older one restores:
            # once more with the older one, as criu itself offers
            if "mnt-v2" not in str(exc):
                raise
            from .. import log
            # its log kept beside the second's, which overwrites restore.log
            try:
                os.replace(os.path.join(directory, "restore.log"),
                           os.path.join(directory, "restore-mnt-v2.log"))
            except OSError:
                pass
            log.warn(f"criu restore with its new mount engine failed ({exc}); again with "
                     "--mntns-compat-mode (the first attempt's log: restore-mnt-v2.log)")
            run(args + ["--mntns-compat-mode"], directory, "restore", sup.name,
                pass_fds=[fd for _i, fd in inherit], preexec=prepare_root)
    except subprocess.SubprocessError:
        raise CriuError(f"Restoring {sup.name} failed: its rootfs ({spec}) could not be "
                        "mounted for criu", hint="lxc-start it once to see why") from None
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError) as exc:
        raise CriuError(f"Restoring {sup.name} failed: criu wrote no pid to {pidfile} ({exc})",
                        hint=f"see {os.path.join(directory, 'restore.log')}") from None
    sup.init_pid = pid
    sup.init_pidfd = libc.pidfd_open(pid)
    sup.loop.children[pid] = sup.init_exited
    # the console's slave stays open (a master with no slave reads as hung up); the ttys'
    # slaves are the restored gettys' business now
    keep = [pairs[i][1] for i in pairs if pairs[i][0] == console_master]
    for fd in sup.pty_slaves:
        if fd not in keep:
            os.close(fd)
    sup.pty_slaves = keep
    if console_master is not None and not sup.foreground_tty:
        sup.watch_console()
    if nics:
        from ..network.host import HostState
        sup.network_state = HostState.from_record({"nics": nics}, sup.name, pid)
    sup.record(required=True)
    if sup.cgroups is not None:
        sup.cgroups.apply_devices()


def restore_networks(conf, saved):
    """--external veth[NAME]:HOST[@BRIDGE] for each veth the checkpoint had: CRIU makes the
    pair again with the same names and puts the host end on its bridge."""
    externals = []
    nics = []
    by_index = {n.get("index", i): n for i, n in enumerate(saved or [])}
    for index, fields in _nics(conf):
        if fields.get("type") != "veth":
            continue
        nic = by_index.get(index) or {}
        host = nic.get("host_name") or nic.get("veth_pair") or fields.get("veth.pair")
        # the name the dump saw; else a fixed name ("eth%d" is a pattern, not a name)
        inside = next((n for n in (nic.get("inside_name"), fields.get("name"), nic.get("name"))
                       if n and "%" not in n), f"eth{index}")
        if not host:
            raise CriuError(f"Restoring: the checkpoint does not name the host side of "
                            f"lxc.net.{index} (a veth)", key=f"lxc.net.{index}.veth.pair",
                            hint="set lxc.net.N.veth.pair, checkpoint and restore again")
        link = fields.get("link")
        externals.append(f"veth[{inside}]:{host}" + (f"@{link}" if link else ""))
        nics.append(nic)
    return externals, [n for n in nics if n]
