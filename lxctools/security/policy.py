"""LXC's seccomp policy files, parsed into plain rules (pure: no libseccomp here).

Version 1:  line 1 `1`, line 2 `allowlist` (or `whitelist`), then one syscall number a line;
            everything else is killed.
Version 2:  line 1 `2`, line 2 `allowlist|denylist [DEFAULT ACTION]` (or whitelist/blacklist),
            then `[arch]` sections and `SYSCALL [ACTION] [ARGS]` lines; `#` starts a comment
            line. Defaults: allowlist kills unlisted syscalls and allows listed ones; denylist
            allows unlisted ones and kills listed ones. Actions: kill, allow, trap, notify,
            errno N. ARGS: `[index,value,op]` or `[index,value,op,mask]`, op one of
            != < <= == >= > &= or SCMP_CMP_NE ... SCMP_CMP_MASKED_EQ.
            `reject_force_umount` makes umount2(..., MNT_FORCE) fail with EACCES.
"""

import re

from ..errors import ConfigError

# the sections LXC knows; those that are not this host's are skipped
SECTIONS = {"all", "x86", "x32", "x86_64", "arm", "arm64", "ppc64le", "ppc64", "ppc", "mips64",
            "mips64n32", "mips", "mipsel64", "mipsel64n32", "mipsel", "s390x", "s390",
            "loongarch64"}
# a section applies when the host is one of these machines (LXC's native/compat pairs)
SECTION_HOSTS = {"x86": {"x86", "x86_64"}, "x32": {"x86_64"}, "x86_64": {"x86_64"},
                 "arm": {"arm", "arm64"}, "arm64": {"arm64"}, "ppc64le": {"ppc64le"},
                 "ppc64": {"ppc64"}, "ppc": {"ppc", "ppc64"}, "mips64": {"mips64"},
                 "mips64n32": {"mips64"}, "mips": {"mips", "mips64"}, "mipsel64": {"mipsel64"},
                 "mipsel64n32": {"mipsel64"}, "mipsel": {"mipsel", "mipsel64"},
                 "s390x": {"s390x"}, "s390": {"s390"}, "loongarch64": {"loongarch64"}}
OP_NAMES = {"SCMP_CMP_NE": "!=", "SCMP_CMP_LT": "<", "SCMP_CMP_LE": "<=", "SCMP_CMP_EQ": "==",
            "SCMP_CMP_GE": ">=", "SCMP_CMP_GT": ">", "SCMP_CMP_MASKED_EQ": "&="}
_ARG = re.compile(r"\[\s*([^,\]]+)\s*,\s*([^,\]]+)\s*,\s*([^,\]]+?)\s*(?:,\s*([^,\]]+)\s*)?\]")


class Rule:
    def __init__(self, syscall, action, arch=None, args=None, line=0, special=None):
        self.syscall = syscall      # a name (v2) or a native number (v1)
        self.action = action        # ("kill",) ("allow",) ("trap",) ("notify",) ("errno", N)
        self.arch = arch            # None: every arch of this host
        self.args = args or []      # (index, op, datum_a, datum_b) as libseccomp takes them
        self.line = line
        self.special = special      # "reject_force_umount"


class Policy:
    def __init__(self, path, version, default, rules):
        self.path = path
        self.version = version
        self.default = default      # the action for syscalls without a rule
        self.rules = rules


def parse(text, path, native_arch):
    """Parse TEXT (the file PATH) for a host whose LXC arch name is NATIVE_ARCH."""
    lines = text.split("\n")

    def fail(lineno, message, hint=None):
        raise ConfigError(message, path=path, line=lineno,
                          key="lxc.seccomp.profile", hint=hint)

    head = lines[0].strip() if lines else ""
    if head not in ("1", "2"):
        fail(1, f"unknown seccomp policy version {head!r}", hint="the first line must be 1 or 2")
    version = int(head)
    if len(lines) < 2 or not lines[1].strip():
        fail(2, "missing policy type", hint="the second line is allowlist or denylist")
    style_line = lines[1].strip()
    if "debug" in style_line:
        fail(2, "debug is not implemented (as in LXC)")
    if version == 1:
        if "allowlist" not in style_line and "whitelist" not in style_line:
            fail(2, f"version 1 supports only allowlist, not {style_line!r}",
                 hint="use version 2 for a denylist")
        rules = []
        for number, raw in enumerate(lines[2:], 3):
            word = raw.strip()
            if not word:
                continue
            if not re.fullmatch(r"-?\d+", word.split()[0]):
                fail(number, f"{word!r} is not a syscall number",
                     hint="version 1 lists numbers; use version 2 for names")
            rules.append(Rule(int(word.split()[0]), ("allow",), line=number))
        return Policy(path, 1, ("kill",), rules)
    style, _, rest = style_line.partition(" ")
    if style.startswith(("denylist", "blacklist")):
        deny = True
    elif style.startswith(("allowlist", "whitelist")):
        deny = False
    else:
        from ..config.values import did_you_mean
        fail(2, f'bad policy style "{style_line}"'
             + did_you_mean(style, ["allowlist", "denylist", "whitelist", "blacklist"]),
             hint="allowlist or denylist")
    default = _action(rest, 2, fail) if rest.strip() else None
    if default is None:
        default = ("allow",) if deny else ("kill",)
    rule_default = ("kill",) if deny else ("allow",)
    rules = []
    arch = None  # [all] until a section says otherwise
    skipping = False
    for number, raw in enumerate(lines[2:], 3):
        line = raw.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]").lower()
            if not line.endswith("]") or section not in SECTIONS:
                from ..config.values import did_you_mean
                fail(number, f'unsupported architecture "{line}"'
                     + did_you_mean(f"[{section}]", [f"[{s}]" for s in sorted(SECTIONS)]),
                     hint="sections: " + " ".join(f"[{s}]" for s in sorted(SECTIONS)))
            if section == "all":
                arch, skipping = None, False
            else:
                skipping = native_arch not in SECTION_HOSTS[section]
                arch = section
            continue
        if skipping:
            continue
        name, _, rest = line.partition(" ")
        if name.startswith("reject_force_umount"):
            rules.append(Rule("umount2", ("errno", 13), arch, line=number,
                              special="reject_force_umount"))
            continue
        args_at = rest.find("[")
        action_text = rest if args_at < 0 else rest[:args_at]
        action_text = action_text.split("#", 1)[0]
        action = _action(action_text, number, fail) if action_text.strip() else None
        rule = Rule(name, action or rule_default, arch, line=number)
        if args_at >= 0:
            rule.args = _args(rest[args_at:].split("#", 1)[0], number, fail)
        if rule.action == ("notify",):
            pass  # refused by the caller unless a proxy is configured
        rules.append(rule)
    return Policy(path, 2, default, rules)


def _action(text, number, fail):
    words = text.split()
    if not words:
        return None
    word = words[0]
    for kind in ("kill", "allow", "trap", "notify"):
        if word.startswith(kind):
            return (kind,)
    if word.startswith("errno"):
        value = word[5:] or (words[1] if len(words) > 1 else "")
        if not re.fullmatch(r"-?\d+", value):
            fail(number, f"errno needs a number, got {text.strip()!r}", hint="e.g. errno 1")
        return ("errno", int(value))
    from ..config.values import did_you_mean
    fail(number, f"unknown seccomp action {word!r}"
         + did_you_mean(word, ["kill", "allow", "trap", "notify", "errno"]),
         hint="one of kill, allow, trap, notify, errno N")
    return None


def _args(text, number, fail):
    out = []
    for match in _ARG.finditer(text):
        index_text, value_text, op_text, mask_text = match.groups()
        try:
            index = int(index_text, 0)
            value = int(value_text, 0)
            mask = int(mask_text, 0) if mask_text else 0
        except ValueError:
            fail(number, f"bad argument {match.group(0)!r}", hint="[index,value,op] or "
                 "[index,value,op,mask], numbers in decimal or 0x hex")
        op = OP_NAMES.get(op_text, op_text)
        if op not in OP_NAMES.values():
            fail(number, f"unknown comparison {op_text!r} in {match.group(0)!r}",
                 hint="one of != < <= == >= > &= (or SCMP_CMP_*)")
        if not 0 <= index < 6:
            fail(number, f"argument index {index} out of range", hint="0 to 5")
        # libseccomp's SCMP_CMP: MASKED_EQ takes (mask, value), the others (value, 0)
        out.append((index, op, mask, value) if op == "&=" else (index, op, value, 0))
    if not out or len(out) > 6:
        fail(number, f"cannot read the arguments {text.strip()!r}",
             hint="[index,value,op] or [index,value,op,mask], at most 6")
    return out
