"""What the container's init gives up just before exec: capabilities (`lxc.cap.drop` /
`lxc.cap.keep`), `lxc.no_new_privs`, and the seccomp filter of `lxc.seccomp.profile` (LXC's
policy formats 1 and 2, compiled with libseccomp through pyseccomp).

`check(conf)` parses everything up front, so that a bad profile is an error naming its file
and line before any namespace exists; `apply(conf)` runs in the container.
"""

import platform

from .. import log
from ..errors import ConfigError
from ..kernel import libc

CAPABILITIES = ["chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
                "setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service",
                "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module",
                "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot",
                "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease",
                "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin",
                "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
                "checkpoint_restore"]

ARCH_SECTIONS = {"x86_64": {"all", "x86_64", "amd64"}, "aarch64": {"all", "arm64", "aarch64"},
                 "i686": {"all", "i386", "x86"}, "ppc64le": {"all", "ppc64le"},
                 "s390x": {"all", "s390x"}, "riscv64": {"all", "riscv64"}}
KNOWN_SECTIONS = {"all", "x86_64", "amd64", "i386", "x86", "x32", "arm", "armel", "armhf",
                  "arm64", "aarch64", "mips", "mipsel", "mips64", "mips64el", "ppc", "ppc64",
                  "ppc64le", "s390", "s390x", "riscv64"}


def cap_number(name):
    try:
        return CAPABILITIES.index(name.lower().removeprefix("cap_"))
    except ValueError:
        return None


def last_cap():
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return len(CAPABILITIES) - 1


def dropped_caps(conf):
    """Capability numbers to drop: lxc.cap.drop, or everything not in lxc.cap.keep."""
    if conf.has("lxc.cap.keep"):
        wanted = {cap_number(n) for n in conf.value("lxc.cap.keep") or []}
        return [c for c in range(last_cap() + 1) if c not in wanted]
    found = []
    for name in conf.value("lxc.cap.drop") or []:
        number = cap_number(name)
        if number is None:
            log.info(f"lxc.cap.drop: unknown capability {name!r} ignored")
            continue
        found.append(number)
    return found


class Rule:
    def __init__(self, syscall, action, line):
        self.syscall = syscall
        self.action = action
        self.line = line


class Policy:
    def __init__(self, default, rules, reject_force_umount=False):
        self.default = default
        self.rules = rules
        self.reject_force_umount = reject_force_umount


def parse_action(words, path, number):
    """("kill"|"allow"|"trap"|"log"|"notify", None) or ("errno"|"trace", N)."""
    if not words:
        return None
    word = words[0].lower()
    if word in ("kill", "allow", "trap", "log", "notify"):
        if word == "notify":
            raise ConfigError("seccomp notify is not supported yet", path=path, line=number,
                              key="lxc.seccomp.profile", hint="use errno N or kill")
        return (word, None)
    if word in ("errno", "trace"):
        if len(words) < 2 or not words[1].lstrip("-").isdigit():
            raise ConfigError(f"{word} needs a number, e.g. {word} 1", path=path, line=number,
                              key="lxc.seccomp.profile")
        return (word, int(words[1]))
    raise ConfigError(f"unknown seccomp action {words[0]!r}", path=path, line=number,
                      key="lxc.seccomp.profile",
                      hint="one of kill, errno N, trap, trace N, log, allow")


def parse_profile(path, machine=None):
    """LXC's seccomp policy file -> Policy, or ConfigError naming the file and line."""
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the seccomp profile: {exc.strerror}", path=path,
                          key="lxc.seccomp.profile") from None
    if not lines:
        raise ConfigError("empty seccomp profile", path=path, key="lxc.seccomp.profile",
                          hint='its first line is the format version, "1" or "2"')
    version = lines[0].strip()
    if version not in ("1", "2"):
        raise ConfigError(f'unknown seccomp policy version "{version}"', path=path, line=1,
                          key="lxc.seccomp.profile", hint='the first line must be "1" or "2"')
    if len(lines) < 2:
        raise ConfigError("the policy type line is missing", path=path, line=2,
                          key="lxc.seccomp.profile", hint="allowlist or denylist")
    words = lines[1].split()
    mode = words[0].lower() if words else ""
    if mode in ("whitelist", "allowlist"):
        allow = True
    elif mode in ("blacklist", "denylist") and version == "2":
        allow = False
    else:
        raise ConfigError(f"unknown policy type {lines[1].strip()!r}", path=path, line=2,
                          key="lxc.seccomp.profile",
                          hint="allowlist (v1, v2) or denylist (v2)")
    default = parse_action(words[1:], path, 2) or (("kill", None) if allow else ("allow", None))
    rule_action = ("allow", None) if allow else ("kill", None)
    sections = ARCH_SECTIONS.get(machine or platform.machine(), {"all"})
    active = True
    rules = []
    reject_force_umount = False
    for number, raw in enumerate(lines[2:], 3):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1].strip().lower()
            if section not in KNOWN_SECTIONS:
                raise ConfigError(f"unknown architecture section [{section}]", path=path,
                                  line=number, key="lxc.seccomp.profile")
            active = section in sections
            continue
        if not active:
            continue
        parts = text.split()
        if parts[0] == "reject_force_umount":
            reject_force_umount = True
            continue
        if version == "1":
            if not parts[0].isdigit():
                raise ConfigError(f"format 1 lists syscall numbers, not {parts[0]!r}", path=path,
                                  line=number, key="lxc.seccomp.profile")
            rules.append(Rule(int(parts[0]), ("allow", None), number))
            continue
        if any(p.startswith("[") for p in parts[1:]):
            raise ConfigError("seccomp argument conditions are not supported yet", path=path,
                              line=number, key="lxc.seccomp.profile",
                              hint="filter the whole syscall, or leave the line out")
        action = parse_action(parts[1:], path, number) or rule_action
        rules.append(Rule(parts[0], action, number))
    return Policy(default, rules, reject_force_umount)


class Prepared:
    """Everything decided before the fork; apply() only makes syscalls (it runs after
    pivot_root, where neither our files nor the host's /proc are at hand)."""

    def __init__(self, conf):
        self.caps = dropped_caps(conf)
        self.no_new_privs = (conf.value("lxc.no_new_privs") or "0") == "1"
        profile = conf.value("lxc.seccomp.profile")
        self.filter = build_filter(parse_profile(profile), profile, load=False) if profile else None

    def apply(self):
        """In the container, just before exec: capabilities, no_new_privs, seccomp (LXC's
        order)."""
        for cap in self.caps:
            try:
                libc.drop_bounding_cap(cap)
            except OSError:
                pass  # a capability this kernel does not know
        try:
            libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
        except OSError:
            pass
        if self.no_new_privs:
            libc.set_no_new_privs()
        if self.filter is not None:
            self.filter.load()


def prepare(conf):
    """Parse and compile everything; a ConfigError names the file and line."""
    return Prepared(conf)


def build_filter(policy, path, load=True):
    import pyseccomp as seccomp

    def action(pair):
        kind, value = pair
        return {"kill": seccomp.KILL, "allow": seccomp.ALLOW, "trap": seccomp.TRAP,
                "log": seccomp.LOG}.get(kind) or (
                    seccomp.ERRNO(value) if kind == "errno" else seccomp.TRACE(value))

    flt = seccomp.SyscallFilter(action(policy.default))
    for rule in policy.rules:
        if rule.action == policy.default:
            continue
        try:
            flt.add_rule(action(rule.action), rule.syscall)
        except (RuntimeError, ValueError, OSError) as exc:
            if isinstance(rule.syscall, str):
                # LXC skips syscalls this architecture does not have
                log.info(f"{path}:{rule.line}: {rule.syscall} skipped ({exc})")
                continue
            raise ConfigError(f"seccomp rule for {rule.syscall} failed: {exc}", path=path,
                              line=rule.line, key="lxc.seccomp.profile") from None
    if policy.reject_force_umount:
        flt.add_rule(seccomp.ERRNO(13), "umount2",
                     seccomp.Arg(1, seccomp.MASKED_EQ, libc.MNT_FORCE, libc.MNT_FORCE))
    if load:
        flt.load()
    return flt
