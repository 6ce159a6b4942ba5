"""Value grammars of lxc.* keys: each takes the raw text and returns the stored form or raises
BadValue with the expected format named (the message the user sees).

Size: a table of small grammars, one per kind of value keys.py names; split, they would
only be harder to find from the key table.
"""

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
# the names people write for them, pointing at LXC's (for "did you mean")
_NS_ALIASES = {"mount": "mnt", "network": "net", "hostname": "uts", "cgroups": "cgroup",
               "users": "user", "newuser": "user", "newns": "mnt", "newnet": "net"}

CAPABILITIES = (
    "chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap "
    "linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner "
    "sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice "
    "sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap "
    "mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon bpf "
    "checkpoint_restore").split()

PRLIMITS = ("as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime "
            "sigpending stack").split()

_CAP_NUMBERS = {name: number for number, name in enumerate(CAPABILITIES)}

MOUNT_AUTO_TOKENS = {
    "proc": "proc:mixed", "proc:mixed": "proc:mixed", "proc:rw": "proc:rw",
    "sys": "sys:mixed", "sys:ro": "sys:ro", "sys:mixed": "sys:mixed", "sys:rw": "sys:rw",
}
# every token LXC's set_config_mount_auto knows (shmounts: takes a path), for "did you mean"
MOUNT_AUTO_ALL = list(MOUNT_AUTO_TOKENS) + [
    f"{base}{mode}{force}" for base in ("cgroup", "cgroup-full")
    for mode in ("", ":mixed", ":ro", ":rw") for force in ("", ":force")] + [
    "cgroup2", "cgroup2:ro", "cgroup2:force", "cgroup2:ro:force", "shmounts:"]


UINT_MAX = 2 ** 32 - 1
# the kernel's devpts limit (NR_UNIX98_PTY_MAX): a larger lxc.pty.max or lxc.tty.max can
# never be mounted (LXC fails at start: "Failed to set max on filesystem context")
PTY_LIMIT = 1 << 20


class BadValue(ValueError):
    """The value does not match the key's grammar; the message names the expected format,
    the hint (optional) the way out."""

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.hint = hint


def closest(word, choices, cutoff=0.6):
    """The member of CHOICES WORD was most likely meant to be (for "did you mean"), or None.
    A case-only difference wins over any other near miss."""
    for choice in choices:
        if choice.lower() == word.lower():
            return choice
    import difflib  # only on the error path: ~2 ms

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(word, choices, cutoff=0.6):
    """' (did you mean "X"?)' for the closest choice, or ''."""
    guess = closest(word, choices, cutoff)
    return f' (did you mean "{guess}"?)' if guess else ""


def c_ulong(text, limit=2 ** 64 - 1):
    """TEXT read as LXC's lxc_safe_uint/ulong read it (strtoul base 0: leading blanks and a
    "+" allowed, 0x hex, a leading 0 octal, no "-"), or None; None above LIMIT too."""
    text = text.lstrip(" \t\n\v\f\r")
    if text.startswith("+"):
        text = text[1:]
    if len(text.lstrip("0")) > 24:
        return None  # past 2^64 in any base (and int() refuses 4300 digits and more)
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        number = int(text, 16)
    elif re.fullmatch(r"0[0-7]*", text):
        number = int(text, 8)
    elif re.fullmatch(r"[1-9][0-9]*", text):
        number = int(text)
    else:
        return None
    return number if number <= limit else None


def text(value):
    return value


def boolean(value):
    if value not in ("0", "1"):
        raise BadValue(f'expected 0 or 1, got "{value}"')
    return value


def uint(value):
    number = c_ulong(value, UINT_MAX)
    if number is None:
        if c_ulong(value) is not None or re.fullmatch(r"\+?[0-9]+", value.strip()):
            raise BadValue(f'"{value}" is too large: at most {UINT_MAX}')
        raise BadValue(f'expected an unsigned integer, got "{value}"')
    return str(number)


def pty_count(value):
    """an unsigned number up to 1048576 (the kernel's devpts limit)

    lxc.pty.max / lxc.tty.max: LXC takes up to 2^32-1 and fails at start above the limit."""
    number = int(uint(value))
    if number > PTY_LIMIT:
        raise BadValue(f"{number} is more than the kernel allows ({PTY_LIMIT}, its devpts "
                       "limit): the container could not start", hint="e.g. 1024")
    return str(number)


def integer(value):
    """a signed 32-bit number (LXC's lxc_safe_int)"""
    match = re.fullmatch(r"([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)", value.strip())
    number = c_ulong(match.group(2)) if match else None
    if number is None:
        raise BadValue(f'expected an integer, got "{value}"')
    number = -number if match.group(1) == "-" else number
    if not -2 ** 31 <= number < 2 ** 31:
        raise BadValue(f'{value} is out of range: -2147483648 to 2147483647')
    return str(number)


def signal_number(value):
    """LXC's sig_parse: a number, SIGNAME (must start with SIG), SIGRTMIN+n, SIGRTMAX-n.

    0 is LXC's "unset" (its default applies). Numbers past SIGRTMAX, which LXC takes and
    kill(2) then refuses, are refused here."""
    if value[:1].isdigit():
        num = c_ulong(value)
        if num is None:
            raise BadValue(f'expected a signal number or name such as SIGPWR, got "{value}"')
        if num == 0:
            return "0"
    else:
        upper = value.upper()
        match = re.fullmatch(r"SIGRTMIN(?:\+([0-9]{1,4}))?|SIGRTMAX(?:-([0-9]{1,4}))?", upper)
        if match:
            if upper.startswith("SIGRTMIN"):
                num = SIGRTMIN + int(match.group(1) or 0)
            else:
                num = SIGRTMAX - int(match.group(2) or 0)
        elif upper in SIGNAL_NUMBERS:
            num = SIGNAL_NUMBERS[upper]
        else:
            guess = closest(upper if upper.startswith("SIG") else "SIG" + upper,
                            list(SIGNAL_NUMBERS) + ["SIGRTMIN+N", "SIGRTMAX-N"])
            raise BadValue(f'unknown signal "{value}"'
                           + (f' (did you mean "{guess}"?)' if guess else ""),
                           hint="a number or a name such as SIGPWR, SIGTERM or SIGRTMIN+3")
    if not 0 < num <= SIGRTMAX:
        raise BadValue(f'signal {num} out of range 1..{SIGRTMAX}')
    return str(num)


def signal_name(number):
    """What a signal NUMBER is called, as this host numbers them (signal_number's inverse, for
    messages): SIGPWR, SIGRTMIN+3, or the number itself."""
    import signal  # the host's numbering, not LXC's table above: what kill(2) will send

    if signal.SIGRTMIN < number <= signal.SIGRTMAX:
        return f"SIGRTMIN+{number - signal.SIGRTMIN}"
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def arch(value):
    if value not in ARCHES_32 and value not in ARCHES_64:
        raise BadValue(f'unknown architecture "{value}"' + did_you_mean(value, ARCHES_64 + ARCHES_32)
                       + f' (known: {", ".join(ARCHES_64 + ARCHES_32)})')
    return value


def hostname(value):
    raw = value.encode("utf-8", "surrogateescape")
    if len(raw) > 64:
        raise BadValue(f"a hostname has at most 64 bytes, this one {len(raw)}")
    if raw.decode("utf-8", "replace") != value:
        # the file is read with surrogateescape: bytes that are not UTF-8 show up here
        raise BadValue(f"the hostname is not valid UTF-8: {raw!r}",
                       hint="write the hostname in UTF-8 (letters, digits, -)")
    return value


def log_level(value):
    if re.fullmatch(r"[0-8]", value):
        return LOG_LEVELS[int(value)]
    upper = value.upper()
    if upper == "WARNING":
        upper = "WARN"
    if upper not in LOG_LEVELS:
        raise BadValue(f'expected a level 0-8 or one of {", ".join(LOG_LEVELS)}, got "{value}"'
                       + did_you_mean(upper, LOG_LEVELS))
    return upper


def idmap(value):
    """u or g and three 32-bit numbers; the ranges of one kind may not overlap

    Numbers as LXC reads them (strtoul base 0), stored in decimal. The kernel takes a range only when it fits in 32 bits (first + count < 2^32, count > 0):
    LXC accepts more and fails at start, we refuse here."""
    fields = value.split()
    usage = 'expected "u|g NSID HOSTID RANGE", e.g. "u 0 100000 65536"'
    if len(fields) != 4 or fields[0] not in ("u", "g"):
        raise BadValue(f'{usage}, got "{value}"')
    numbers = [c_ulong(f) for f in fields[1:]]
    for name, text, number in zip(("NSID", "HOSTID", "RANGE"), fields[1:], numbers):
        if number is None:
            if re.fullmatch(r"\+?[0-9]+", text):
                raise BadValue(f'{name} {text} is too large: ids are 32-bit (at most {UINT_MAX - 1})')
            raise BadValue(f'{name} "{text}" is not an unsigned number ({usage})')
    nsid, hostid, count = numbers
    if count == 0:
        raise BadValue("RANGE is 0: a mapping maps at least one id")
    for name, first in (("NSID", nsid), ("HOSTID", hostid)):
        if first + count > UINT_MAX:
            raise BadValue(f"{name} {first} + RANGE {count} goes past the largest id "
                           f"({UINT_MAX - 1}): the kernel refuses such a map",
                           hint="ids are 32-bit; e.g. u 0 100000 65536")
    return f"{fields[0]} {nsid} {hostid} {count}"


def cap_last_cap():
    """The running kernel's highest capability number (LXC reads the same file at parse
    time, so a number above it is refused), else the highest we know by name."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return len(CAPABILITIES) - 1


def cap_number(token):
    """A capability token of lxc.cap.drop/keep (LXC's parse_cap: a lowercase name without
    CAP_, or a number up to the kernel's cap_last_cap) -> its number, or None."""
    if token in _CAP_NUMBERS:
        return _CAP_NUMBERS[token]
    number = c_ulong(token)
    if number is None or number > cap_last_cap():
        return None
    return number


def _cap_tokens(value, key, allow_none):
    out = []
    for token in value.split():
        if token == "none":
            if not allow_none:
                raise BadValue('"none" is only valid in lxc.cap.keep (it keeps no capability)',
                               hint="lxc.cap.keep = none drops every capability; to drop none, "
                                    "remove the lxc.cap.drop lines")
            out.append(token)
            continue
        if cap_number(token) is None:
            # LXC refuses the whole line too ("Invalid capability specified"); silently
            # ignoring a misspelt name would leave that capability in the container
            bare = token.lower()[4:] if token.lower().startswith("cap_") else token
            if c_ulong(token) is not None:
                raise BadValue(f'capability number {token} is above this kernel\'s last '
                               f'capability ({cap_last_cap()})',
                               hint="use a name from capabilities(7) without CAP_, e.g. sys_admin")
            raise BadValue(f'unknown capability "{token}"' + did_you_mean(bare, CAPABILITIES),
                           hint="names from capabilities(7) in lowercase without CAP_ "
                                "(e.g. sys_module), or numbers")
        out.append(token)
    return out


def cap_drop(value):
    """capability names (lowercase, without CAP_) or numbers

    lxc.cap.drop: as LXC spells them, kept as written (its getter prints them so)."""
    return _cap_tokens(value, "lxc.cap.drop", False)


def cap_keep(value):
    """capability names (lowercase, without CAP_) or numbers, or none

    lxc.cap.keep: as cap_drop, plus "none" (forgets what was kept so far)."""
    return _cap_tokens(value, "lxc.cap.keep", True)


def mount_auto(value):
    out = []
    for token in value.split():
        canon = MOUNT_AUTO_TOKENS.get(token)
        if canon is None:
            canon = _cgroup_auto_token(token) or _shmounts_token(token)
        if canon is None:
            raise BadValue(f'unknown lxc.mount.auto token "{token}"'
                           + did_you_mean(token, MOUNT_AUTO_ALL) + " (known: proc[:mixed|rw], "
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
            raise BadValue(f'unknown namespace "{name}"' + _ns_guess(name)
                           + f' (known: {" ".join(NAMESPACES)})')
        out.append(name.lower())
    return " ".join(out)


def _ns_guess(name):
    guess = _NS_ALIASES.get(name.lower()) or closest(name, NAMESPACES)
    return f' (did you mean "{guess}"?)' if guess else ""


def namespace_name(name):
    """The NS of lxc.namespace.share.NS: as LXC, exactly one of NAMESPACES (lowercase)."""
    if name not in NAMESPACES:
        raise BadValue(f'unknown namespace "{name}"' + _ns_guess(name)
                       + f' (known: {" ".join(NAMESPACES)})')
    return name


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
    if not re.fullmatch(r"[0-9]{1,19}\s*([kKmMgG][bB])?", value):
        raise BadValue(f'expected "auto" or a size such as 128kB, got "{value}"')
    return value


RLIM_INFINITY = 2 ** 64 - 1


def prlimit_number(text):
    """One side of SOFT[:HARD]: "unlimited" or a number as LXC reads it; None if neither."""
    return RLIM_INFINITY if text == "unlimited" else c_ulong(text)


def prlimit(value):
    parts = value.split(":")
    numbers = [prlimit_number(p) for p in parts]
    if len(parts) > 2 or None in numbers:
        raise BadValue(f'expected SOFT[:HARD], each a number or "unlimited", got "{value}"')
    if len(numbers) == 2 and numbers[0] > numbers[1]:
        # setrlimit(2) refuses it (LXC fails at start)
        raise BadValue(f'the soft limit {parts[0]} is above the hard limit {parts[1]}',
                       hint="SOFT:HARD with SOFT <= HARD")
    return value


def prlimit_name(name):
    """The RESOURCE of lxc.prlimit.RESOURCE: a name of setrlimit(2) in lowercase without
    RLIMIT_, or its number (LXC's parse_resource; it refuses others only at start)."""
    if name in PRLIMITS:
        return name
    number = c_ulong(name)
    if number is not None and number < len(PRLIMITS):
        return name
    bare = name.lower()[7:] if name.lower().startswith("rlimit_") else name
    raise BadValue(f'unknown resource "{name}"' + did_you_mean(bare, PRLIMITS),
                   hint="one of " + " ".join(PRLIMITS) + " (setrlimit(2) names in lowercase)")


def time_offset(value):
    if not re.fullmatch(r"[+-]?[0-9]{1,18}(h|m|s|ms|us|ns)", value):
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


# mount(8) words the kernel's mount flags stand for (LXC's mount_opt and propagation_opt)
MOUNT_FLAG_WORDS = (
    "defaults rw ro suid nosuid dev nodev exec noexec sync async dirsync mand nomand atime "
    "noatime diratime nodiratime relatime norelatime strictatime nostrictatime lazytime "
    "nosymfollow bind rbind remount move private rprivate slave rslave shared rshared "
    "unbindable runbindable").split()
# LXC's own words (lxc_mount_options_info), and mount(8)'s userspace-only ones
MOUNT_LXC_WORDS = ("create=dir", "create=file", "optional", "relative")
MOUNT_USERSPACE_WORDS = ("auto", "noauto", "user", "users", "nouser", "owner", "group",
                         "nofail", "_netdev")


def mount_options(options):
    """Refuse the option words a mount would silently drop: an LXC create= other than dir or
    file, and on a bind mount (where the kernel ignores filesystem options) any word that is
    not a mount flag: "bind,ro,nosiud" must not quietly give a mount without nosuid."""
    words = [w for w in options.split(",") if w]
    for word in words:
        if word.startswith("create=") and word not in MOUNT_LXC_WORDS:
            raise BadValue(f'unknown mount option "{word}"'
                           + did_you_mean(word, ["create=dir", "create=file"]),
                           hint="create=dir or create=file makes the target when missing")
    if "bind" not in words and "rbind" not in words:
        return  # filesystem options: the kernel judges them at mount time
    known = MOUNT_FLAG_WORDS + list(MOUNT_LXC_WORDS) + list(MOUNT_USERSPACE_WORDS)
    for word in words:
        if word in known or word.startswith(("idmap=", "x-", "comment=")):
            continue
        raise BadValue(f'mount option "{word}" means nothing on a bind mount (the kernel '
                       "would ignore it)" + did_you_mean(word, known),
                       hint="bind mounts take mount flags (ro, nosuid, nodev, noexec, ...) "
                            "and LXC's create=dir|file, optional, relative")


def mount_entry(value):
    fields = value.split()
    if len(fields) < 3:
        raise BadValue(f'expected an fstab line "SOURCE TARGET FSTYPE [OPTIONS [DUMP [PASS]]]", got "{value}"')
    if len(fields) > 3:
        mount_options(fields[3])
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
            raise BadValue(f'expected one of {", ".join(choices)}, got "{value}"'
                           + did_you_mean(value, choices))
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


def _small_number(value):
    """ASCII digits, not too many to convert (str.isdigit also takes "²", which int refuses)."""
    return re.fullmatch(r"[0-9]{1,12}", value) is not None


def vlan_id(value):
    if value == "none":
        return value
    if not _small_number(value) or int(value) > 4094:
        raise BadValue(f'expected a VLAN id 0..4094, got "{value}"')
    return value


def u16(value):
    if not _small_number(value) or int(value) > 65535:
        raise BadValue(f'expected a number 0..65535, got "{value}"')
    return value


def positive(value):
    if not _small_number(value) or int(value) < 1:
        raise BadValue(f'expected a number greater than 0, got "{value}"')
    return value
