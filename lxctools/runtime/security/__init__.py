"""Security settings applied in the container's init just before exec (and by attach).

Order as LXC: capabilities (lxc.cap.drop / lxc.cap.keep), then lxc.no_new_privs, then the
seccomp filter (lxc.seccomp.profile). `check(conf)` runs first, in the supervisor, before
anything is cloned: it reads and compiles the profile, so a bad profile is one clear line
naming its file and line, and `apply(conf)` needs no file later (it runs after pivot_root,
where the host's profile path no longer exists).
"""

from ... import log
from ...errors import ConfigError, LxcError

_compiled = {}  # profile path -> (Policy, kernel.seccomp.Filter), filled by check()


class SecurityError(LxcError):
    """A security setting could not be applied."""


def check(conf):
    """Validate CONF's security settings and prepare what apply() will load."""
    from . import capabilities

    unknown = capabilities.unknown_names(conf)
    if unknown:
        log.warn(f"lxc.cap: unknown capabilities ignored (as LXC does): {' '.join(unknown)}")
    profile = conf.value("lxc.seccomp.profile")
    if profile:
        _compiled[profile] = compile_profile(profile, conf)
    return True


def compile_profile(path, conf=None):
    """Read, parse and compile the profile at PATH: (Policy, Filter)."""
    from ...kernel import seccomp as kseccomp
    from .policy import parse

    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
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
    try:
        for rule in policy.rules:
            if rule.special == "reject_force_umount":
                filt.reject_force_umount()
            elif isinstance(rule.syscall, int):
                filt.add_number(rule.action[0], rule.syscall)
            else:
                value = rule.action[1] if len(rule.action) > 1 else 0
                if not filt.add(rule.arch, rule.action[0], value, rule.syscall, rule.args):
                    # LXC skips syscalls this host does not know; say so at least
                    log.info(f"{path}:{rule.line}: syscall {rule.syscall} unknown here, skipped")
    except OSError as exc:
        raise ConfigError(f"seccomp profile: libseccomp refused the rule: {exc.strerror or exc}",
                          path=path, line=rule.line, key="lxc.seccomp.profile",
                          hint="a rule for the same syscall with another action, or bad "
                               "arguments") from None
    return policy, filt


def apply(conf):
    """In the container's init (or attach child), just before exec."""
    from . import capabilities

    capabilities.apply(conf)
    if (conf.value("lxc.no_new_privs") or "0") == "1":
        from ...kernel import libc
        libc.set_no_new_privs()
    load_seccomp(conf)


def load_seccomp(conf):
    profile = conf.value("lxc.seccomp.profile")
    if not profile:
        return
    from ...kernel import seccomp as kseccomp

    nesting = (conf.value("lxc.seccomp.allow_nesting") or "0") == "1"
    state = kseccomp.active()
    if state is None:
        log.info("seccomp is not enabled in the kernel, profile not loaded")
        return
    if state != 0 and not nesting:
        # LXC: an already confined process keeps its filter unless allow_nesting = 1
        log.info("already seccomp-confined, not loading a new policy")
        return
    prepared = _compiled.pop(profile, None)
    if prepared is None:
        prepared = compile_profile(profile, conf)
    _policy, filt = prepared
    try:
        filt.load()
    except OSError as exc:
        raise SecurityError(f"cannot load the seccomp policy {profile}: {exc.strerror or exc}",
                            key="lxc.seccomp.profile") from None
