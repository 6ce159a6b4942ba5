"""Host readiness for the calling user: what LXC's script does not tell you.

Each check ends in ok/warning/failed/info; every warning and failure carries a fix that can
be pasted into a root shell (or the user's, when the user can do it alone).

Size: one independent function per check, in the order they are shown: a list, not a
design to split.
"""

import os

from . import FAILED, INFO, OK, WARNING, Section
from . import host

SUBID_MIN, SUBID_COUNT = 100000, 65536  # Debian's login.defs SUB_UID_MIN / SUB_UID_COUNT


# -- subordinate ids ---------------------------------------------------------------------------
def read_subids(path):
    """[(owner, start, count)] from /etc/subuid or /etc/subgid; [] when missing."""
    out = []
    for line in (host.read_text(path, "") or "").splitlines():
        fields = line.strip().split(":")
        if len(fields) != 3 or line.lstrip().startswith("#"):
            continue
        try:
            out.append((fields[0], int(fields[1]), int(fields[2])))
        except ValueError:
            continue
    return out


def ranges_of(entries, user):
    """The user's ranges, matched by name or by numeric uid as shadow does."""
    return sorted((start, count) for owner, start, count in entries
                  if owner == user.name or owner == str(user.uid))


def covered(ranges, start, count):
    """Whether [start, start+count) lies in the union of RANGES (newuidmap joins adjacent ones)."""
    end = start + count
    position = start
    progressed = True
    while position < end and progressed:
        progressed = False
        for rstart, rcount in ranges:
            if rstart <= position < rstart + rcount:
                position = rstart + rcount
                progressed = True
    return position >= end


def free_range(entries, count=SUBID_COUNT):
    """Where usermod --add-subuids would not collide with anybody: after the highest range."""
    start = max([SUBID_MIN] + [s + c for _, s, c in entries])
    return start, count


def _fmt_ranges(ranges):
    return ", ".join(f"{s}-{s + c - 1} ({c} ids)" for s, c in ranges)


# -- the section ---------------------------------------------------------------------------------
class _Ctx:
    def __init__(self, roots, user, kconfig):
        self.roots, self.user, self.kconfig = roots, user, kconfig
        self.section = Section("Host readiness")
        # Root's own containers need none of the user-namespace plumbing unless it asks for
        # an idmap; a shortfall there is only a warning for root.
        self.bad = WARNING if user.is_root else FAILED

    def add(self, label, state, *, value=None, fix=None, by_user=False):
        """FIX lines are root's unless BY_USER; for a non-root caller they say so."""
        if fix and not by_user and not self.user.is_root:
            fix = "\n".join(line if "#" in line else f"{line}   # as root"
                            for line in fix.splitlines())
        return self.section.add(label, state, value=value, fix=fix)


def section(roots, user, kconfig=None):
    ctx = _Ctx(roots, user, kconfig)
    ctx.add("User", INFO, value=f"{user.name} (uid {user.uid})")
    _uidmap_tools(ctx)
    subuid, subgid = _subids(ctx)
    _idmap(ctx, subuid, subgid)
    _userns_sysctls(ctx)
    layout = _cgroup_layout(ctx)
    _cgroup_delegation(ctx, layout)
    _systemd_guests(ctx, layout)
    if user.is_root:
        _confinement(ctx, layout)
    else:
        _user_networks(ctx)
    _open_files(ctx)
    _ptys(ctx)
    _busybox(ctx)
    return ctx.section


def _uidmap_tools(ctx):
    for tool in ("newuidmap", "newgidmap"):
        explicit = ctx.roots.newuidmap if tool == "newuidmap" else ctx.roots.newgidmap
        path = host.find_program(tool, ctx.roots, explicit)
        if path is None:
            ctx.add(tool, ctx.bad, value="not installed (unprivileged containers need it)",
                    fix="apt-get install uidmap")
        elif not host.is_setuid_root(path):
            ctx.add(tool, ctx.bad, value=f"{path} is not setuid-root", fix=f"chmod u+s {path}")
        else:
            ctx.add(tool, OK, value=f"{path}, setuid-root")


def _subids(ctx):
    out = []
    for kind, flag in (("uid", "--add-subuids"), ("gid", "--add-subgids")):
        path = ctx.roots.subid_file(kind)
        entries = read_subids(path)
        mine = ranges_of(entries, ctx.user)
        label = f"Subordinate {kind}s ({path})"
        if mine:
            ctx.add(label, OK, value=f"{ctx.user.name}: {_fmt_ranges(mine)}")
        elif ctx.user.is_root:
            ctx.add(label, INFO, value="none for root (needed only for root-owned "
                                       "unprivileged containers)")
        else:
            start, count = free_range(entries)
            ctx.add(label, FAILED, value=f"no entry for {ctx.user.name} or uid {ctx.user.uid}",
                    fix=f"usermod {flag} {start}-{start + count - 1} {ctx.user.name}")
        out.append((entries, mine))
    return out


def _default_config_path(ctx):
    if ctx.roots.default_config:
        return ctx.roots.default_config
    from ..paths import default_config_path
    return default_config_path()


def _idmap(ctx, subuid, subgid):
    path = _default_config_path(ctx)
    label = f"Default config idmap ({path})"
    user = ctx.user
    if not os.path.exists(path):
        if user.is_root:
            ctx.add(label, INFO, value="no default config: containers are privileged")
        else:
            ctx.add(label, FAILED, value="missing: unprivileged containers need lxc.idmap lines",
                    fix=_idmap_fix(path, subuid, subgid, user, create=True), by_user=True)
        return
    from ..config.parser import load
    from ..errors import LxcError

    try:
        lines = load(path).value("lxc.idmap", []) or []
    except LxcError as exc:
        ctx.add(label, FAILED, value=f"cannot be read: {exc}",
                fix=f"${{EDITOR:-vi}} {path}   # fix the line named above", by_user=True)
        return
    if not lines:
        if user.is_root:
            ctx.add(label, INFO, value="no lxc.idmap: containers are privileged")
        else:
            ctx.add(label, FAILED, value="no lxc.idmap lines: unprivileged containers need them",
                    fix=_idmap_fix(path, subuid, subgid, user), by_user=True)
        return
    maps = [line.split() for line in lines]
    problems, fixes = [], []
    for kind, (entries, mine), own in (("u", subuid, user.uid), ("g", subgid, user.gid)):
        mine_maps = [(int(ns), int(hostid), int(count)) for k, ns, hostid, count in maps if k == kind]
        if not any(ns <= 0 < ns + count for ns, _, count in mine_maps):
            problems.append(f"no {kind} line maps container root (id 0)")
            start, count = (mine[0] if mine else free_range(entries))
            fixes.append(f"echo 'lxc.idmap = {kind} 0 {start} {count}' >> {path}")
        for ns, hostid, count in mine_maps:
            if count == 1 and hostid == own:
                continue  # newuidmap lets anyone map their own id
            if covered(mine, hostid, count):
                continue
            problems.append(f"{kind} {ns} {hostid} {count} is outside {user.name}'s "
                            f"sub{kind}id ranges")
            clash = [o for o, s, c in entries if o not in (user.name, str(user.uid))
                     and s < hostid + count and hostid < s + c]
            flag = "--add-subuids" if kind == "u" else "--add-subgids"
            if not clash:
                fixes.append(_as_root(f"usermod {flag} {hostid}-{hostid + count - 1} {user.name}",
                                      user))
                continue
            # Somebody else owns those ids: point the line at the user's own range instead.
            sed = f"sed -i 's/^lxc.idmap *= *{kind} {ns} {hostid} {count}$/lxc.idmap = {kind} {ns} %d {count}/' {path}"
            if mine and mine[0][1] >= count:
                fixes.append(sed % mine[0][0])
            else:
                start, size = free_range(entries, max(count, SUBID_COUNT))
                fixes.append(_as_root(f"usermod {flag} {start}-{start + size - 1} {user.name}", user))
                fixes.append(sed % start)
    summary = "; ".join(lines)
    if problems:
        ctx.add(label, FAILED if not user.is_root else WARNING,
                value=f"{summary}: " + "; ".join(problems), fix="\n".join(fixes), by_user=True)
    else:
        ctx.add(label, OK, value=f"{summary} (within {user.name}'s subordinate ranges)")


def _as_root(command, user):
    return command if user.is_root else f"{command}   # as root"


def _idmap_fix(path, subuid, subgid, user, create=False):
    lines = []
    for kind, (entries, mine) in (("u", subuid), ("g", subgid)):
        start, count = mine[0] if mine else free_range(entries)
        lines.append(f"lxc.idmap = {kind} 0 {start} {count}")
    body = "\\n".join(lines)
    prefix = f"mkdir -p {os.path.dirname(path)} && " if create else ""
    return f"{prefix}printf '{body}\\n' >> {path}"


def _userns_sysctls(ctx):
    raw = host.read_text(ctx.roots.in_proc("sys", "user", "max_user_namespaces"))
    label = "user.max_user_namespaces"
    if raw is None:
        if ctx.kconfig is not None and not ctx.kconfig.is_set("CONFIG_USER_NS"):
            ctx.add(label, ctx.bad, value="absent: the kernel has no user namespaces",
                    fix="rebuild the kernel with CONFIG_USER_NS=y")
        else:
            ctx.add(label, INFO, value="not readable")
    elif raw.strip() == "0":
        ctx.add(label, ctx.bad, value="0: user namespaces are disabled",
                fix="sysctl -w user.max_user_namespaces=15000")
    else:
        ctx.add(label, OK, value=raw.strip())
    for name, good, fix_value in (("unprivileged_userns_clone", "1", "1"),
                                  ("apparmor_restrict_unprivileged_userns", "0", "0")):
        raw = host.read_text(ctx.roots.in_proc("sys", "kernel", name))
        if raw is None:
            continue  # upstream kernels have neither knob: nothing restricts user namespaces
        label = f"kernel.{name}"
        if raw.strip() == good:
            ctx.add(label, OK, value=raw.strip())
        else:
            ctx.add(label, ctx.bad, value=f"{raw.strip()}: unprivileged user namespaces are blocked",
                    fix=f"sysctl -w kernel.{name}={fix_value}")


# -- cgroups ----------------------------------------------------------------------------------
class Layout:
    """The host's cgroup mounts: kind is v1, hybrid, v2 or none."""

    def __init__(self, roots):
        self.v1 = host.cgroup_mounts(roots, "cgroup")
        self.v2 = host.cgroup_mounts(roots, "cgroup2")
        self.v2_controllers = []
        if self.v2:
            text = host.read_text(os.path.join(roots.host_path(self.v2[0].target),
                                               "cgroup.controllers"), "") or ""
            self.v2_controllers = text.split()
        if self.v1 and self.v2:
            self.kind = "hybrid"
        elif self.v1:
            self.kind = "v1"
        elif self.v2:
            self.kind = "v2"
        else:
            self.kind = "none"

    def describe(self):
        parts = []
        if self.v1:
            names = [",".join(host.v1_controllers(m)) or m.target for m in self.v1]
            parts.append(f"v1: {' '.join(names)}")
        if self.v2:
            ctrl = " ".join(self.v2_controllers) or "none"
            parts.append(f"cgroup2 at {self.v2[0].target}, controllers: {ctrl}")
        return f"{self.kind} (" + "; ".join(parts) + ")" if parts else "no cgroup mounts"


def _own_cgroups(roots):
    """{hierarchy key: path} from /proc/self/cgroup; key is the v1 controller list or ''."""
    out = {}
    for line in (host.read_text(roots.in_proc("self", "cgroup"), "") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            out[parts[1]] = parts[2]
    return out


def _delegated(roots, user, mount_target, cgroup_path, *, v2=False):
    """Whether USER can make child cgroups where it sits and move its processes there.

    v1 only checks the destination's cgroup.procs, which a child made by the user owns, so a
    writable directory is enough (pam_cgfs chowns just the directory). cgroup2 also wants
    the common ancestor's cgroup.procs: the one of the cgroup the user sits in.
    """
    directory = os.path.join(roots.host_path(mount_target), cgroup_path.lstrip("/"))
    if not host.writable_by(directory, user):
        return False
    return not v2 or host.writable_by(os.path.join(directory, "cgroup.procs"), user)


def _pam_cgfs(roots):
    """The -c list of pam_cgfs in common-session: None if absent, [] if it takes every controller."""
    text = host.read_text(roots.in_etc("pam.d", "common-session"), "") or ""
    for line in text.splitlines():
        fields = line.split()
        if not line.lstrip().startswith("#") and any(f.startswith("pam_cgfs.so") for f in fields):
            if "-c" in fields and fields.index("-c") + 1 < len(fields):
                return fields[fields.index("-c") + 1].split(",")
            return []
    return None


def _cgroup_layout(ctx):
    layout = Layout(ctx.roots)
    if layout.kind == "none":
        ctx.add("Cgroup layout", FAILED, value="no cgroup file systems mounted",
                fix="mount -t cgroup2 cgroup2 /sys/fs/cgroup")
    else:
        ctx.add("Cgroup layout", INFO, value=layout.describe())
    return layout


def _cgroup_delegation(ctx, layout):
    user, roots = ctx.user, ctx.roots
    label = f"Cgroups for {user.name}"
    if layout.kind == "none":
        return
    if user.is_root:
        ctx.add(label, OK, value="root creates cgroups in every hierarchy")
        return
    own = _own_cgroups(roots)
    usable, missing = [], []
    for mount in layout.v1:
        controllers = host.v1_controllers(mount)
        key = ",".join(controllers)
        name = key or mount.target
        path = own.get(key)
        if path is None:  # the kernel lists co-mounted controllers in its own order
            path = next((p for k, p in own.items() if k and set(k.split(",")) == set(controllers)), "/")
        (usable if _delegated(roots, user, mount.target, path) else missing).append(name)
    v2_usable = bool(layout.v2) and _delegated(roots, user, layout.v2[0].target,
                                               own.get("", "/"), v2=True)
    if layout.kind == "v2":
        if v2_usable:
            ctx.add(label, OK, value=f"cgroup2 subtree {own.get('', '/')} is delegated")
        else:
            target = layout.v2[0].target
            value = ("no writable cgroup2 subtree: containers run without cgroup limits and "
                     "cannot be frozen")
            if host.pid1_is_systemd(roots):
                # systemd owns the tree: what LXC's documentation tells users, a scope
                # systemd delegates (needs the user's systemd manager: lingering or a login)
                fix = ("lxc-unpriv-start -n NAME   # or: systemd-run --user --scope "
                       "-p Delegate=yes -- lxc-start -n NAME\n"
                       f"loginctl enable-linger {user.name}   # as root, once: {user.name}'s "
                       "systemd manager, which makes the scope")
                value += " (systemd delegates one to a scope with Delegate=yes)"
            else:
                fix = (f"mkdir -p {target}/user/{user.name} && "
                       f"chown -R {user.name} {target}/user/{user.name} && "
                       f"echo {os.getppid()} > {target}/user/{user.name}/cgroup.procs")
            ctx.add(label, WARNING, value=value, fix=fix)
        return
    detail = (f"delegated: {' '.join(usable) or 'none'}; not delegated: {' '.join(missing)}"
              if missing else f"delegated: {' '.join(usable)}")
    if v2_usable:
        detail += "; cgroup2 subtree delegated"
    if not missing:
        ctx.add(label, OK, value=detail)
        return
    pam = _pam_cgfs(roots)
    if pam is None:
        fix = ("apt-get install libpam-cgfs\n"
               f"su - {user.name}   # log in again through PAM so pam_cgfs delegates cgroups")
    elif not usable:
        fix = (f"su - {user.name}   # not in a PAM session: pam_cgfs delegates cgroups at login"
               + ("" if not pam else
                  "\nsed -i 's/pam_cgfs.so -c [^[:space:]]*/pam_cgfs.so/' "
                  "/etc/pam.d/common-session /etc/pam.d/common-session-noninteractive"))
    else:
        fix = ("sed -i 's/pam_cgfs.so -c [^[:space:]]*/pam_cgfs.so/' "
               "/etc/pam.d/common-session /etc/pam.d/common-session-noninteractive\n"
               f"su - {user.name}   # log in again: pam_cgfs then delegates every controller")
    ctx.add(label, WARNING, value=detail + "; a limit on an undelegated controller makes "
                                            "lxc-start fail, and with none delegated containers "
                                            "get no cgroup", fix=fix)


def _systemd_guests(ctx, layout):
    label = "systemd guests"
    user, roots = ctx.user, ctx.roots
    if host.pid1_is_systemd(roots):
        ctx.add(label, OK, value="the host runs systemd, which delegates cgroups to containers")
        return
    named = next((m for m in layout.v1 if "name=systemd" in m.options), None)
    own = _own_cgroups(roots)
    if named is not None:
        if user.is_root or _delegated(roots, user, named.target, own.get("name=systemd", "/")):
            ctx.add(label, OK, value=f"name=systemd hierarchy at {named.target}")
        else:
            ctx.add(label, WARNING,
                    value=f"name=systemd hierarchy at {named.target} is not delegated to {user.name}",
                    fix=f"su - {user.name}   # pam_cgfs delegates name=systemd at login"
                    if _pam_cgfs(roots) is not None else "apt-get install libpam-cgfs")
        return
    if layout.kind == "v2":
        if user.is_root or _delegated(roots, user, layout.v2[0].target, own.get("", "/"), v2=True):
            ctx.add(label, OK, value=f"writable cgroup2 tree at {layout.v2[0].target}")
        else:
            ctx.add(label, WARNING, value="no writable cgroup2 subtree for this user",
                    fix=f"mkdir -p {layout.v2[0].target}/user/{user.name} && "
                        f"chown -R {user.name} {layout.v2[0].target}/user/{user.name}")
        return
    ctx.add(label, WARNING, value="PID 1 is not systemd and there is no name=systemd hierarchy: "
                                  "a systemd guest cannot set up its cgroups",
            fix="mkdir -p /sys/fs/cgroup/systemd && "
                "mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd")


# -- networks for an unprivileged user -----------------------------------------------------------
def _user_networks(ctx):
    """veth through LXC's lxc-user-nic (and this user's lxc-usernet lines); /dev/net/tun for
    the user-mode network. Optional features: warnings, not failures."""
    import stat

    from ..network import usernic

    user = ctx.user
    helper = ctx.roots.user_nic or usernic.helper_path()
    label = "lxc-user-nic (veth NICs for users)"
    if helper is None or not os.path.exists(helper):
        ctx.add(label, WARNING, value="not installed: veth NICs of unprivileged containers are "
                                      "refused", fix="apt-get install lxc")
    elif not host.is_setuid_root(helper):
        ctx.add(label, WARNING, value=f"{helper} is not setuid-root: it cannot make devices",
                fix=f"chmod u+s {helper}")
    else:
        ctx.add(label, OK, value=f"{helper}, setuid-root")
    usernet = ctx.roots.in_etc("lxc", "lxc-usernet")
    groups = set()
    for gid in (user.gid, *user.groups):
        try:
            import grp
            groups.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            pass
    text = host.read_text(usernet, "") or ""
    links = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "veth":
            links.setdefault(fields[2], None)
    mine = []
    for link in links:
        total, lines = usernic.allowance(text, user.name, groups, link)
        if total > 0:
            mine.append(f"{total} veth on {link} (line{'s' if len(lines) > 1 else ''} "
                        f"{', '.join(str(n) for n, _ in lines)})")
    label = f"Network quota ({usernet})"
    if mine:
        ctx.add(label, OK, value=f"{user.name}: " + "; ".join(mine))
    else:
        ctx.add(label, WARNING, value=f"no line for {user.name}: lxc-user-nic gives no veth"
                                      + ("" if text else f" ({usernet} does not exist)"),
                fix=f"echo '{user.name} veth lxcbr0 10' >> {usernet}")
    tun = os.path.join(ctx.roots.dev, "net", "tun")
    label = f"{tun} (lxctools.net.usermode)"
    try:
        st = os.stat(tun)
    except OSError:
        ctx.add(label, WARNING, value="missing: the user-mode network cannot make its tap device",
                fix=f"mkdir -p {os.path.dirname(tun)} && mknod -m 0666 {tun} c 10 200")
        return
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == user.uid:
        bits = (mode >> 6) & 6
    elif st.st_gid == user.gid or st.st_gid in user.groups:
        bits = (mode >> 3) & 6
    else:
        bits = mode & 6
    if bits == 6:
        ctx.add(label, OK, value=f"mode {mode:04o}, open to {user.name}")
    else:
        ctx.add(label, WARNING, value=f"mode {mode:04o}, closed to {user.name}: slirp4netns "
                                      "cannot make the tap device (udev makes it 0666)",
                fix=f"chmod 0666 {tun}")


def _confinement(ctx, layout):
    """What holds back root in a privileged container on this host (security/
    confinement.py judges each container's config; lxc-start warns per container)."""
    if any("devices" in host.v1_controllers(m) for m in layout.v1):
        ctx.add("Device control", OK, value="cgroup v1 devices controller")
    elif layout.v2:
        ctx.add("Device control", OK, value="BPF device programs on cgroup2")
    else:
        ctx.add("Device control", WARNING, value="no devices controller and no cgroup2: "
                "privileged containers can use every device node")
    status = host.read_text(ctx.roots.in_proc("self", "status"), "") or ""
    if "\nSeccomp:" in status:
        ctx.add("Seccomp", OK, value="common.conf's profile refuses module loading, kexec "
                                     "and open_by_handle_at")
    else:
        ctx.add("Seccomp", WARNING, value="this kernel has no seccomp: lxc.seccomp.profile "
                                          "cannot be applied", fix="a kernel with CONFIG_SECCOMP_FILTER=y")
    from ..security.confinement import host_lsm

    lsm = host_lsm(ctx.roots.host_path("/sys"))
    if lsm:
        ctx.add("LSM", OK, value={"apparmor": "AppArmor", "selinux": "SELinux"}[lsm])
        if lsm == "apparmor":
            _apparmor(ctx)
    else:
        ctx.add("LSM", WARNING, value="none enabled; privileged containers rely on device rules "
                                      "and seccomp alone",
                fix="prefer unprivileged containers (lxc.idmap), or boot with AppArmor "
                    "(apparmor=1 security=apparmor)")


def _apparmor(ctx):
    """What lxc.apparmor.profile can use here (security/apparmor.py applies it)."""
    from ..security import apparmor

    aa = apparmor.Host(ctx.roots.host_path("/sys"))
    if not aa.mounts:
        ctx.add("AppArmor mount mediation", WARNING,
                value="missing: profiles cannot stop mounts; confined containers start only "
                      "with lxc.apparmor.allow_incomplete = 1",
                fix="a kernel whose AppArmor mediates mounts (Debian's and Ubuntu's do)")
    loaded = aa.loaded()
    default = apparmor.DEFAULT_PROFILE_CGNS
    if loaded is None:
        ctx.add("AppArmor default profile", INFO,
                value=f"{default}: the loaded profiles are readable by root only")
    elif default in loaded:
        ctx.add("AppArmor default profile", OK, value=f"{default} loaded (LXC's; what a "
                "container without lxc.apparmor.profile runs under)")
    else:
        ctx.add("AppArmor default profile", WARNING,
                value=f"{default} not loaded: a container without lxc.apparmor.profile does "
                      "not start",
                fix=f"apparmor_parser -r {apparmor.LXC_PROFILES} (Debian/Ubuntu: apt-get "
                    "install lxc), or lxc.apparmor.profile = generated in the containers")
    parser = host.find_program("apparmor_parser", ctx.roots)
    if parser:
        ctx.add("apparmor_parser", OK, value=f"{parser} (lxc.apparmor.profile = generated)")
    else:
        ctx.add("apparmor_parser", WARNING,
                value="not found: lxc.apparmor.profile = generated cannot be used",
                fix="apt-get install apparmor")


def _busybox(ctx):
    path = host.find_program("busybox", ctx.roots, ctx.roots.busybox)
    if path is None and not ctx.roots.busybox:
        # The busybox template adds the usual directories to PATH; so do we.
        import shutil
        path = shutil.which("busybox", path="/usr/sbin:/usr/bin:/sbin:/bin")
    label = "busybox (for the busybox template)"
    if path is None:
        ctx.add(label, FAILED, value="not found", fix="apt-get install busybox-static")
        return
    static = host.is_static_elf(path)
    if static is False:
        ctx.add(label, WARNING, value=f"{path} is dynamically linked: the container lacks its libraries",
                fix="apt-get install busybox-static")
    else:
        ctx.add(label, OK, value=f"{path}" + (", statically linked" if static else ""))


# -- how many containers an lxcpath can hold ---------------------------------------------------
BUSYBOX_TTYS = 5  # the busybox template's lxc.tty.max: the figures below are for it
ENOUGH_FILES = 65536


def read_limit(text, name):
    """(soft, hard) of NAME ("Max open files") in a /proc/PID/limits text; None if absent.
    "unlimited" is returned as None inside the pair."""
    for line in (text or "").splitlines():
        if line.startswith(name):
            fields = line[len(name):].split()
            if len(fields) < 2:
                return None

            def number(word):
                return None if word == "unlimited" else int(word)
            try:
                return number(fields[0]), number(fields[1])
            except ValueError:
                return None
    return None


def _open_files(ctx):
    """The lxcpath's supervisor (forked by the caller's first lxc-start, so with the caller's
    limits) raises its soft open-file limit to the hard one; the hard limit is what caps the
    number of containers of one lxcpath."""
    from ..kernel.fdlimit import SUPERVISOR_OWN, per_container

    limits = read_limit(host.read_text(ctx.roots.in_proc("self", "limits")), "Max open files")
    if limits is None:
        return
    soft, hard = limits
    label = "Open files (RLIMIT_NOFILE)"
    each = per_container(BUSYBOX_TTYS)
    how = (f"the supervisor of an lxcpath raises its soft limit to the hard one and holds "
           f"{per_container(0)} + lxc.tty.max descriptors per container, {each} with the "
           "busybox template's 5 ttys")
    if hard is None or hard >= ENOUGH_FILES:
        room = "no limit" if hard is None else f"~{(hard - SUPERVISOR_OWN) // each} containers"
        ctx.add(label, OK, value=f"soft {soft or 'unlimited'}, hard {hard or 'unlimited'}: "
                                 f"{room} per lxcpath; {how}")
        return
    raw = host.read_text(ctx.roots.in_proc("sys", "fs", "nr_open"))
    try:
        nr_open = int(raw.strip()) if raw else 1048576
    except ValueError:
        nr_open = 1048576
    target = max(ENOUGH_FILES, min(1048576, nr_open))
    fix = []
    if nr_open < target:
        fix.append(f"sysctl -w fs.nr_open={target}")
    if ctx.user.is_root:
        fix.append(f"ulimit -Hn {target}   # in the shell or service (LimitNOFILE=1024:{target})"
                   " that starts containers")
    else:
        fix.append(f"echo '{ctx.user.name} hard nofile {target}' >> "
                   "/etc/security/limits.d/lxc.conf   # as root; then log in again")
    ctx.add(label, WARNING, value=f"hard limit {hard}: ~{max(0, hard - SUPERVISOR_OWN) // each} "
                                  f"containers per lxcpath at most; {how}", fix="\n".join(fix))


def _ptys(ctx):
    """Every container's devpts draws its console and ttys from kernel.pty.max less what the
    host's own devpts keeps (kernel.pty.reserve): a capacity figure, not a fault."""
    raw = host.read_text(ctx.roots.in_proc("sys", "kernel", "pty", "max"))
    if raw is None:
        return
    try:
        total = int(raw.strip())
        reserve = int((host.read_text(ctx.roots.in_proc("sys", "kernel", "pty", "reserve"))
                       or "0").strip())
    except ValueError:
        return
    shared = max(0, total - reserve)
    each = 1 + BUSYBOX_TTYS
    ctx.add("kernel.pty.max", INFO,
            value=f"{total}, {reserve} kept for the host: containers share {shared} ptys; "
                  f"each takes 1 + lxc.tty.max ({each} with the busybox template's 5 ttys) "
                  f"and what is opened inside (lxc-attach, ssh): ~{shared // each} containers"
                  + (f" (sysctl -w kernel.pty.max={reserve + 1000 * each} for 1,000)"
                     if shared // each < 1000 else ""))
