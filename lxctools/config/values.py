"""Value grammars of lxc.* keys: each takes the raw text and returns the stored form or raises
BadValue with the expected format named (the message the user sees)."""

import re
import shlex

SIGNAL_NUMBERS = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGIOT": 6,
    "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12,
    "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCLD": 17,
    "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23,
    "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29,
    "SIGPOLL": 29, "SIGPWR": 30, "SIGSYS": 31,
}
SIGRTMIN = 34
SIGRTMAX = 64

ARCHES_32 = ("arm armel armhf armv7l athlon i386 i486 i586 i686 linux32 mips mipsel ppc powerpc "
             "x32 x86").split()
ARCHES_64 = ("aarch64 amd64 arm64 linux64 loongarch64 loong64 mips64 mips64el ppc64 ppc64el "
             "ppc64le powerpc64 riscv64 s390x x86_64").split()

LOG_LEVELS = ["TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "CRIT", "ALERT", "FATAL"]

NAMESPACES = ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup", "time"]

CAPABILITIES = (
    "chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap "
    "linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner "
    "sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice "
    "sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap "
    "mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon bpf "
    "checkpoint_restore").split()

PRLIMITS = ("as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime "
            "sigpending stack").split()

MOUNT_AUTO_TOKENS = {
    "proc": "proc:mixed", "proc:mixed": "proc:mixed", "proc:rw": "proc:rw",
    "sys": "sys:mixed", "sys:ro": "sys:ro", "sys:mixed": "sys:mixed", "sys:rw": "sys:rw",
}


class BadValue(ValueError):
    """The value does not match the key's grammar; the message names the expected format."""


def text(value):
    return value


def boolean(value):
    if value not in ("0", "1"):
        raise BadValue(f'expected 0 or 1, got "{value}"')
    return value


def uint(value):
    if not re.fullmatch(r"\d+", value):
        raise BadValue(f'expected an unsigned integer, got "{value}"')
    return str(int(value))


def integer(value):
    if not re.fullmatch(r"[+-]?\d+", value):
        raise BadValue(f'expected an integer, got "{value}"')
    return str(int(value))


def signal_number(value):
    """LXC's sig_parse: a number, SIGNAME (must start with SIG), SIGRTMIN+n, SIGRTMAX-n."""
    if re.fullmatch(r"\d+", value):
        num = int(value)
    else:
        upper = value.upper()
        match = re.fullmatch(r"SIGRTMIN(?:\+(\d+))?|SIGRTMAX(?:-(\d+))?", upper)
        if match:
            if upper.startswith("SIGRTMIN"):
                num = SIGRTMIN + int(match.group(1) or 0)
            else:
                num = SIGRTMAX - int(match.group(2) or 0)
        elif upper in SIGNAL_NUMBERS:
            num = SIGNAL_NUMBERS[upper]
        else:
            raise BadValue(f'expected a signal number or name such as SIGPWR or SIGRTMIN+3, got "{value}"')
    if not 0 < num <= SIGRTMAX:
        raise BadValue(f'signal {num} out of range 1..{SIGRTMAX}')
    return str(num)


def arch(value):
    if value not in ARCHES_32 and value not in ARCHES_64:
        raise BadValue(f'unknown architecture "{value}" (known: {", ".join(ARCHES_64 + ARCHES_32)})')
    return value


def hostname(value):
    if len(value) > 64:
        raise BadValue("a hostname has at most 64 characters")
    return value


def log_level(value):
    if re.fullmatch(r"\d", value) and int(value) <= 8:
        return LOG_LEVELS[int(value)]
    upper = value.upper()
    if upper == "WARNING":
        upper = "WARN"
    if upper not in LOG_LEVELS:
        raise BadValue(f'expected a level 0-8 or one of {", ".join(LOG_LEVELS)}, got "{value}"')
    return upper


def idmap(value):
    fields = value.split()
    if len(fields) != 4 or fields[0] not in ("u", "g") or not all(f.isdigit() for f in fields[1:]):
        raise BadValue(f'expected "u|g NSID HOSTID RANGE", got "{value}"')
    return " ".join(fields)


def cap_list(value):
    """Space separated capability names without CAP_; unknown names are kept (LXC ignores them)."""
    names = value.split()
    return [n.lower() for n in names]


def mount_auto(value):
    out = []
    for token in value.split():
        canon = MOUNT_AUTO_TOKENS.get(token)
        if canon is None:
            canon = _cgroup_auto_token(token) or _shmounts_token(token)
        if canon is None:
            raise BadValue(f'unknown lxc.mount.auto token "{token}" (known: proc[:mixed|rw], '
                           "sys[:ro|mixed|rw], cgroup[:mixed|ro|rw][:force], cgroup-full[...], "
                           "cgroup2[:ro][:force], shmounts:HOSTPATH[:PATH])")
        out.append(canon)
    return " ".join(out)


def _cgroup_auto_token(token):
    match = re.fullmatch(r"(cgroup|cgroup-full)(?::(mixed|ro|rw))?(:force)?", token)
    if match:
        return token
    if re.fullmatch(r"cgroup2(:ro)?(:force)?", token):
        return token
    return None


def _shmounts_token(token):
    if re.fullmatch(r"shmounts:[^:]+(:[^:]+)?", token):
        return token
    return None


def namespace_list(value):
    out = []
    for name in value.split():
        if name.lower() not in NAMESPACES:
            raise BadValue(f'unknown namespace "{name}" (known: {" ".join(NAMESPACES)})')
        out.append(name.lower())
    return " ".join(out)


def environment(value):
    if "=" not in value:
        # Bare NAME copies the variable from the environment that reads the config.
        import os
        if value not in os.environ:
            raise BadValue(f'"{value}" is not set in this environment; write NAME=VALUE')
        return f"{value}={os.environ[value]}"
    return value


def size(value):
    """auto or a byte size with an optional kB/MB/GB suffix (1024 based)."""
    if value == "auto":
        return value
    if not re.fullmatch(r"\d+\s*([kKmMgG][bB])?", value):
        raise BadValue(f'expected "auto" or a size such as 128kB, got "{value}"')
    return value


def prlimit(value):
    parts = value.split(":")
    if len(parts) > 2 or not all(p == "unlimited" or p.isdigit() for p in parts):
        raise BadValue(f'expected SOFT[:HARD], each a number or "unlimited", got "{value}"')
    return value


def time_offset(value):
    if not re.fullmatch(r"[+-]?\d+(h|m|s|ms|us|ns)", value):
        raise BadValue(f'expected a signed number with a unit h, m, s, ms, us or ns, got "{value}"')
    return value


def command(value):
    try:
        shlex.split(value)
    except ValueError as exc:
        raise BadValue(f"unbalanced quoting in command: {exc}") from exc
    return value


def relative_path(value):
    if value.startswith("/") or ".." in value.split("/"):
        raise BadValue(f'expected a relative path without "..", got "{value}"')
    return value


def absolute_path(value):
    if not value.startswith("/"):
        raise BadValue(f'expected an absolute path, got "{value}"')
    return value


def tty_dir(value):
    if "/" in value or value in (".", ".."):
        raise BadValue(f'expected a single directory name under /dev, got "{value}"')
    return value


def mount_entry(value):
    fields = value.split()
    if len(fields) < 3:
        raise BadValue(f'expected an fstab line "SOURCE TARGET FSTYPE [OPTIONS [DUMP [PASS]]]", got "{value}"')
    return value


def groups(value):
    return value.split()


def gid_list(value):
    out = []
    for gid in value.split(","):
        gid = gid.strip()
        if not gid.isdigit():
            raise BadValue(f'expected comma-separated numeric gids, got "{value}"')
        out.append(gid)
    return out


def one_of(*choices):
    def check(value):
        if value not in choices:
            raise BadValue(f'expected one of {", ".join(choices)}, got "{value}"')
        return value
    check.choices = choices
    return check


def syslog_facility(value):
    return one_of("daemon", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
                  "local7")(value)


def hwaddr(value):
    if not re.fullmatch(r"([0-9a-fA-FxX]{2}:){5}[0-9a-fA-FxX]{2}", value):
        raise BadValue(f'expected a MAC address such as 00:16:3e:xx:xx:xx, got "{value}"')
    return value


def ipv4_address(value):
    import ipaddress
    parts = value.split()
    try:
        iface = ipaddress.IPv4Interface(parts[0])
        if len(parts) > 1:
            ipaddress.IPv4Address(parts[1])
    except (ValueError, IndexError) as exc:
        raise BadValue(f'expected "A.B.C.D[/PREFIX] [BROADCAST]", got "{value}"') from exc
    if "/" not in parts[0]:
        return value
    return " ".join([str(iface)] + parts[1:])


def ipv6_address(value):
    import ipaddress
    try:
        ipaddress.IPv6Interface(value)
    except ValueError as exc:
        raise BadValue(f'expected "ADDR[/PREFIX]" (IPv6), got "{value}"') from exc
    return value


def gateway(family):
    def check(value):
        import ipaddress
        if value in ("auto", "dev"):
            return value
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise BadValue(f'expected an {family} address, "auto" or "dev", got "{value}"') from exc
        return value
    return check


def route(value):
    import ipaddress
    if "/" not in value:
        raise BadValue(f'expected ADDR/PREFIX, got "{value}"')
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise BadValue(f'expected ADDR/PREFIX, got "{value}"') from exc
    return value


def vlan_id(value):
    if value == "none":
        return value
    if not value.isdigit() or int(value) > 4094:
        raise BadValue(f'expected a VLAN id 0..4094, got "{value}"')
    return value


def u16(value):
    if not value.isdigit() or int(value) > 65535:
        raise BadValue(f'expected a number 0..65535, got "{value}"')
    return value


def positive(value):
    if not value.isdigit() or int(value) < 1:
        raise BadValue(f'expected a number greater than 0, got "{value}"')
    return value
