"""Security settings applied in the container's init just before exec (and by attach).

Order as LXC: the AppArmor label (lxc.apparmor.*, apparmor.py: switched to at exec), then
capabilities (lxc.cap.drop / lxc.cap.keep), then lxc.no_new_privs, then the seccomp filter
(lxc.seccomp.profile).

`prepare(conf)` runs in the supervisor (or attach's parent) before anything is cloned: it
reads and compiles the profile, so a bad profile is one clear line naming its file and line,
and decides everything that needs a file (cap_last_cap, whether we already run under a
seccomp filter). `Prepared.apply()` then only makes syscalls: it runs after pivot_root, where
neither the host's profile nor a /proc may be at hand. `check(conf)` is prepare() for
validation; `apply(conf)` does both in one process.

May import config/, kernel/ and the shared modules; not the packages beside it (cgroups/,
network/, storage/, templates/).
"""

import fcntl
import os
import time

from .. import log
from ..errors import ConfigError, LxcError


class SecurityError(LxcError):
    """A security setting could not be applied."""


class Prepared:
    """What apply() does, decided before the fork."""

    def __init__(self, conf):
        from ..kernel import caps
        from . import capabilities

        self.drop = capabilities.plan(conf, caps.last_cap())
        self.touch_caps = bool(self.drop) or conf.has("lxc.cap.keep")
        self.no_new_privs = (conf.value("lxc.no_new_privs") or "0") == "1"
        self.program = None  # the seccomp filter as BPF, made here: before a start's fork
        # AppArmor (apparmor.py): the label init execs under, set by the supervisor once
        # it is decided (and the profile loaded); the attr fd is opened by the setup
        # process while the host's /proc is still in view (open_lsm)
        self.lsm_label = None
        self.lsm_fd = None
        # switch at once instead of at exec: lxc-execute's Python init, which never execs
        self.lsm_now = False
        self.profile = conf.value("lxc.seccomp.profile") or None
        if self.profile:
            _policy, filt = compile_profile(self.profile, conf)
            if _seccomp_wanted(conf):
                self.program = filt.export_bpf()

    def apply_caps(self):
        """The capability part alone (lxc-attach -u/-g: before the switch of user, while
        CAP_SETPCAP is still there); apply() then skips it."""
        from . import capabilities

        if self.touch_caps:
            capabilities.drop(self.drop)
            self.touch_caps = False

    def cut_caps(self):
        """After apply() and any switch of user: no capability outside the bounding set
        (lxc-attach's command process, until its exec)."""
        from . import capabilities

        capabilities.cut_to_bounding()

    def drop_mask(self):
        mask = 0
        for cap in self.drop:
            mask |= 1 << cap
        return mask

    def open_lsm(self):
        """Before pivot_root: the fd apply() switches the AppArmor label through."""
        if self.lsm_label and self.lsm_fd is None:
            from .apparmor import open_current_attr, open_exec_attr
            fd = open_current_attr() if self.lsm_now else open_exec_attr()
            # above stdio, which the setup process replaces later (stdio_on_console)
            self.lsm_fd = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
            os.close(fd)

    def apply(self):
        from . import capabilities

        if self.lsm_label:
            # first, while nothing else is confined: from unconfined any change is allowed
            from .apparmor import change_now, write_exec
            self.open_lsm()
            if self.lsm_now:
                change_now(self.lsm_fd, self.lsm_label)  # closes it
            else:
                write_exec(self.lsm_fd, self.lsm_label)
                os.close(self.lsm_fd)
            self.lsm_fd = None
            self.lsm_label = None  # once
        if self.touch_caps:
            capabilities.drop(self.drop)
            self.touch_caps = False
        if self.no_new_privs:
            from ..kernel import libc
            libc.set_no_new_privs()
        if self.program is not None:
            try:
                from ..kernel.seccomp import load_bpf
                load_bpf(self.program)
            except OSError as exc:
                raise SecurityError(f"cannot load the seccomp policy {self.profile}: "
                                    f"{exc.strerror or exc}", key="lxc.seccomp.profile") from None
            self.program = None  # loaded once; a second apply() must not stack it again


def prepare(conf):
    """Validate CONF's security settings and compile them; ConfigError names file:line."""
    from . import capabilities

    unknown = capabilities.unknown_names(conf)
    if unknown:
        log.warn(f"lxc.cap: unknown capabilities ignored (as LXC does): {' '.join(unknown)}")
    return Prepared(conf)


def check(conf):
    """prepare() for validation only (lxc-start --explain, tests)."""
    prepare(conf)
    return True


def _seccomp_wanted(conf):
    """LXC loads no filter into an already seccomp-confined process unless
    lxc.seccomp.allow_nesting = 1, nor where the kernel has no seccomp. A fork inherits the
    filters, so the caller's state is the container's."""
    from ..kernel import seccomp as kseccomp

    state = kseccomp.active()
    if state is None:
        log.info("seccomp is not enabled in the kernel, profile not loaded")
        return False
    if state != 0 and (conf.value("lxc.seccomp.allow_nesting") or "0") != "1":
        log.info("already seccomp-confined, not loading a new policy")
        return False
    return True


# profiles compiled in this process: (path, notify proxy) -> (stat, Policy, Filter)
_COMPILED = {}


def _profile_stat(path):
    """What says the profile at PATH is the one compiled: its identity and its contents'
    stat (a write changes ctime, a replacement the inode); None when not a regular file."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not (st.st_mode & 0o170000 == 0o100000):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def compile_profile(path, conf=None):
    """Read, parse and compile the profile at PATH: (Policy, Filter). The lxcpath's
    supervisor starts its containers with the same few profiles: one compiled without a word
    to say (no syscall skipped or left unfiltered) is kept, and given again while the file
    stats the same (libseccomp's rules cost ~1-4 ms a start). The Filter is only loaded
    (after a fork) or exported: it is never changed after it is compiled."""
    proxy = None if conf is None else (conf.value("lxc.seccomp.notify.proxy") or "")
    before = _profile_stat(path)
    kept = _COMPILED.get((path, proxy))
    if before is not None and kept is not None and kept[0] == before:
        return kept[1], kept[2]
    policy, filt, quiet = _compile_profile(path, conf)
    # kept only once the file is a second old: a write within one coarse timestamp tick
    # of the read would keep every field of its stat (as api/verdict.py)
    if (before is not None and quiet and _profile_stat(path) == before
            and time.time_ns() - max(before[3], before[4]) > 1_000_000_000):
        _COMPILED[(path, proxy)] = (before, policy, filt)
    return policy, filt


def _compile_profile(path, conf):
    """compile_profile's work: (Policy, Filter, whether nothing was said)."""
    from ..kernel import seccomp as kseccomp
    from .policy import parse

    from ..config.parser import NotAFile, read_text

    try:
        # bytes that are not UTF-8 become U+FFFD: a name is handed to libseccomp as UTF-8
        text = read_text(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except NotAFile as exc:
        raise ConfigError(f"the seccomp profile {path} {exc}", key="lxc.seccomp.profile",
                          hint="fix lxc.seccomp.profile (a policy file on the host)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the seccomp profile {path}: {exc.strerror}",
                          key="lxc.seccomp.profile",
                          hint="fix lxc.seccomp.profile (an absolute path on the host)") from None
    native, _compat = kseccomp.host_arches()
    policy = parse(text, path, native)
    if conf is not None and not (conf.value("lxc.seccomp.notify.proxy") or ""):
        for rule in policy.rules:
            if rule.action == ("notify",):
                raise ConfigError(
                    f"seccomp profile: {rule.syscall} notify: the notify action needs "
                    "lxc.seccomp.notify.proxy", path=path, line=rule.line,
                    key="lxc.seccomp.profile",
                    hint="use errno N instead; lxctools has no seccomp notify proxy")
    if policy.default == ("notify",) or any(r.action == ("notify",) for r in policy.rules):
        raise ConfigError("seccomp profile: the notify action is not supported by lxctools",
                          path=path, key="lxc.seccomp.profile",
                          hint="use errno N (e.g. errno 38 for ENOSYS) instead")
    filt = kseccomp.Filter(*policy.default)
    quiet = True
    try:
        for rule in policy.rules:
            if rule.special == "reject_force_umount":
                filt.reject_force_umount()
            elif isinstance(rule.syscall, int):
                filt.add_number(rule.action[0], rule.syscall)
            else:
                value = rule.action[1] if len(rule.action) > 1 else 0
                if kseccomp.resolve(None, rule.syscall) is None:
                    _unknown_syscall(path, rule)
                    quiet = False
                elif not filt.add(rule.arch, rule.action[0], value, rule.syscall, rule.args):
                    log.info(f"{path}:{rule.line}: syscall {rule.syscall} does not exist on "
                             "this host's architectures, skipped (as LXC)")
                    quiet = False
    except OSError as exc:
        raise ConfigError(f"seccomp profile: libseccomp refused the rule: {exc.strerror or exc}",
                          path=path, line=rule.line, key="lxc.seccomp.profile",
                          hint="a rule for the same syscall with another action, or bad "
                               "arguments") from None
    return policy, filt, quiet


def _unknown_syscall(path, rule):
    """A name libseccomp does not know. LXC skips it silently, which turns a misspelt
    denylist line into a syscall left allowed: refused here, unless it is a real syscall
    newer than this host's libseccomp (skipped with a warning: nothing here can filter it)."""
    from ..config.values import did_you_mean
    from ..kernel import seccomp as kseccomp

    if rule.syscall in kseccomp.NEWER_SYSCALLS:
        log.warn(f"{path}:{rule.line}: syscall {rule.syscall} is newer than this host's "
                 "libseccomp: not filtered")
        return
    raise ConfigError(f"seccomp profile: unknown syscall {rule.syscall!r}"
                      + did_you_mean(rule.syscall, kseccomp.known_names(), cutoff=0.7),
                      path=path, line=rule.line, key="lxc.seccomp.profile",
                      hint="syscall names as in syscalls(2), e.g. init_module")


def apply(conf):
    """prepare() and apply() in one go (a process that can still read the host's files)."""
    prepare(conf).apply()
