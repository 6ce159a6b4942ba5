"""Device rules (`devices.allow` / `devices.deny`) for a cgroup2 host: LXC's reading of a
rule, LXC's list, and the BPF_PROG_TYPE_CGROUP_DEVICE program made from it. Pure: the kernel
side (load, attach, replace) is devprog.py; which control a container gets is plan().

What LXC 5.0 does (src/lxc/cgroups/cgroup2_devices.c, cgfsng.c), kept here:
- a rule is `a` alone, or `TYPE MAJOR:MINOR ACCESS` with TYPE a|b|c, `*` for any number and
  ACCESS up to three of r w m; `devices.allow = /dev/PATH ACCESS` names the node's numbers;
- the list starts as an allow-list (everything not allowed is denied); the rule `a` alone
  switches the mode and empties the list: `deny = a` -> allow-list, `allow = a` -> deny-list
  (everything not denied is allowed);
- a rule whose verdict is the list's default only undoes an earlier rule written exactly the
  same way (same type, numbers and access letters): `deny = c 1:3 rwm` takes back
  `allow = c 1:3 rwm`, but not `allow = c 1:3 rw`, and never narrows `allow = c *:* rwm`;
- an access is allowed by an allow rule when every right asked for is in the rule.
Deliberately stricter than LXC:
- in a deny-list a deny rule denies an access that asks for any of its rights (LXC's
  program lets `open(O_RDWR)` through a `deny = c 1:11 r`, since r|w is not within r);
- a list that ends up empty still gets its program: `deny = a` alone denies everything (LXC
  attaches no program for an empty list, so there every device stays allowed).
v1-style rules (`lxc.cgroup.devices.*`) on a host without the v1 devices controller are read
the same way but start as a deny-list, which is what they meant under cgroup v1 (a new v1
cgroup inherits `a *:* rwm`): `deny = c 1:11 rwm` alone takes kmsg away and nothing else,
and LXC's usual `deny = a` + allows reads the same in both.
"""

import os
import stat
import sys

from ..errors import LxcError

# struct bpf_cgroup_dev_ctx: access_type = (access << 16) | type, then major, minor (u32 each)
ACCESS_BITS = {"m": 1, "r": 2, "w": 4}   # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
ALL_ACCESS = 7
TYPE_CODES = {"b": 1, "c": 2}            # BPF_DEVCG_DEV_BLOCK, _CHAR
ANY = -1


class DeviceRuleError(LxcError):
    """A device rule that cannot be read."""


class Rule:
    """One rule: allow or deny, type a|b|c, major and minor (ANY for `*`), access letters."""

    __slots__ = ("allow", "type", "major", "minor", "access")

    def __init__(self, allow, type_, major=ANY, minor=ANY, access=""):
        self.allow = bool(allow)
        self.type = type_
        self.major = major
        self.minor = minor
        self.access = access

    def __repr__(self):
        return f"Rule({'allow' if self.allow else 'deny'} {self.text()})"

    def __eq__(self, other):
        return isinstance(other, Rule) and self.to_json() == other.to_json()

    def same_device_rule(self, other):
        """LXC compares rules by type, numbers and the access letters as written."""
        return (self.type, self.major, self.minor, self.access) == \
               (other.type, other.major, other.minor, other.access)

    def is_mode_switch(self):
        """`a` alone (LXC: type a, both numbers any, no access letters)."""
        return self.type == "a" and self.major == ANY and self.minor == ANY and not self.access

    def mask(self):
        bits = 0
        for letter in self.access:
            bits |= ACCESS_BITS[letter]
        return bits

    def text(self):
        if self.is_mode_switch():
            return "a"
        number = lambda n: "*" if n == ANY else str(n)  # noqa: E731
        return f"{self.type} {number(self.major)}:{number(self.minor)} {self.access}".rstrip()

    def overlaps(self, other):
        """Whether some access to some device is named by both rules."""
        def fits(a, b):
            return a == ANY or b == ANY or a == b
        types = self.type == "a" or other.type == "a" or self.type == other.type
        return (types and fits(self.major, other.major) and fits(self.minor, other.minor)
                and bool(self.mask() & other.mask()))

    def to_json(self):
        return [int(self.allow), self.type, self.major, self.minor, self.access]

    @classmethod
    def from_json(cls, data):
        allow, type_, major, minor, access = data
        return cls(bool(allow), type_, major, minor, access)


# -- reading a rule ----------------------------------------------------------------------------
def parse(key, value, stat_path=os.stat):
    """Rule of `devices.allow` / `devices.deny` = VALUE, read as LXC reads it (KEY is the
    cgroup file name; errors name it)."""
    if key not in ("devices.allow", "devices.deny"):
        raise DeviceRuleError(f"{key} is not a device rule (devices.allow or devices.deny)")
    allow = key == "devices.allow"
    text = value if isinstance(value, str) else ""  # as given: LXC trims nothing here
    if text.startswith("/"):
        return _parse_path(allow, key, text, stat_path)
    if text == "a":
        return Rule(allow, "a")
    rule = _parse_numbers(allow, text)
    if rule is None:
        raise DeviceRuleError(
            f"{key} = {value}: not a device rule",
            hint="give `a`, or TYPE MAJOR:MINOR ACCESS with TYPE a, b or c, `*` for any "
                 "number and ACCESS of r, w, m (e.g. c 1:3 rwm), or /dev/PATH ACCESS")
    return rule


def _parse_numbers(allow, text):
    if len(text) < 2 or text[0] not in "abc" or not text[1].isspace():
        return None
    rest = text[2:]
    numbers, sep, access = rest.partition(" ") if " " in rest else rest.partition("\t")
    if not sep:
        return None
    major_text, colon, minor_text = numbers.partition(":")
    if not colon:
        return None
    major, minor = _number(major_text), _number(minor_text)
    if major is None or minor is None:
        return None
    letters = _access(access)
    if letters is None:
        return None
    return Rule(allow, text[0], major, minor, letters)


def _number(text):
    if text == "*":
        return ANY
    if not text.isdigit() or not text.isascii():
        return None
    number = int(text)
    # LXC reads an int; a BPF immediate is signed 32 bits
    return number if number <= 0x7FFFFFFF else None


def _access(text):
    """LXC reads up to three letters of r, w, m, stopping at the end (it ignores anything
    after three); anything else is an error."""
    letters = text[:3].rstrip("\n")
    if any(ch not in ACCESS_BITS for ch in letters):
        return None
    return letters


def _parse_path(allow, key, text, stat_path):
    path, _, access = text.partition(" ")
    access = access.strip().split(" ", 1)[0] if access.strip() else ""
    letters = _access(access)
    if not access or letters is None:
        raise DeviceRuleError(f"{key} = {text}: no access after the path",
                              hint=f"e.g. {key} = {path} rwm")
    try:
        st = stat_path(path)
    except OSError as exc:
        raise DeviceRuleError(f"{key} = {text}: cannot stat {path}: {os.strerror(exc.errno)}",
                              hint="name an existing device node, or give TYPE MAJOR:MINOR "
                                   "ACCESS") from None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise DeviceRuleError(f"{key} = {text}: {path} is not a device node",
                              hint="give TYPE MAJOR:MINOR ACCESS, e.g. c 1:3 rwm")
    return Rule(allow, kind, os.major(st.st_rdev), os.minor(st.st_rdev), letters)


# -- the list ----------------------------------------------------------------------------------
class DeviceList:
    """LXC's cgroup2 device list, reduced to what decides an access: the default verdict and
    the rules in force (each of which has the other verdict). Rules that LXC keeps but skips
    (a rule with the default verdict that undid nothing) are not kept; `ignored` says which
    of them looked meant to change something."""

    def __init__(self, default_allow=False):
        self.default_allow = default_allow
        self.rules = []
        self.ignored = []  # [(rule, the rule in force it did not undo)]

    def add(self, rule):
        """Apply RULE as LXC does; True when what is allowed changed."""
        if rule.is_mode_switch():
            changed = self.rules or self.default_allow != rule.allow
            self.default_allow = rule.allow
            self.rules = []
            return bool(changed)
        for i, current in enumerate(self.rules):
            if current.same_device_rule(rule):
                if current.allow == rule.allow:
                    return False
                del self.rules[i]  # LXC flips it to the default verdict: it no longer counts
                return True
        if rule.allow != self.default_allow:
            self.rules.append(rule)
            return True
        missed = next((r for r in self.rules if r.overlaps(rule)), None)
        if missed is not None:
            self.ignored.append((rule, missed))
        return False

    def __eq__(self, other):
        return isinstance(other, DeviceList) and self.to_json() == other.to_json()

    def copy(self):
        return DeviceList.from_json(self.to_json())

    def to_json(self):
        return {"default": "allow" if self.default_allow else "deny",
                "rules": [r.to_json() for r in self.rules]}

    @classmethod
    def from_json(cls, data):
        made = cls(data.get("default") == "allow")
        made.rules = [Rule.from_json(r) for r in data.get("rules") or []]
        return made

    def describe(self):
        """Lines for people: the default, then each rule in force."""
        head = ("allow-list: every device not allowed below is denied" if not self.default_allow
                else "deny-list: every device not denied below is allowed")
        return [head] + [f"{'allow' if r.allow else 'deny'} {r.text()}" for r in self.rules]

    def decide(self, type_, major, minor, access):
        """The verdict of this list for one access, without BPF (for messages and tests)."""
        asked = 0
        for letter in access:
            asked |= ACCESS_BITS[letter]
        for rule in self.rules:
            if rule.type != "a" and rule.type != type_:
                continue
            if rule.major not in (ANY, major) or rule.minor not in (ANY, minor):
                continue
            if rule.allow and asked & ~rule.mask():
                continue
            if not rule.allow and not asked & rule.mask():
                continue
            return rule.allow
        return self.default_allow

    # -- the program ---------------------------------------------------------------------------
    def program(self):
        """The BPF instructions, as (opcode, dst, src, off, imm) tuples: read the access into
        registers, one block per rule in force (first match decides), then the default."""
        insns = [
            (LDX_W, R2, R1, 0, 0), (AND32_K, R2, 0, 0, 0xFFFF),   # r2 = device type
            (LDX_W, R3, R1, 0, 0), (RSH32_K, R3, 0, 0, 16),       # r3 = access asked
            (LDX_W, R4, R1, 4, 0),                                 # r4 = major
            (LDX_W, R5, R1, 8, 0),                                 # r5 = minor
        ]
        for rule in self.rules:
            mask = rule.mask()
            if not mask:
                continue  # names no access: matches nothing
            tests = []  # each: (opcode, dst, src, imm) jumping past the block when it holds
            setup = []
            if mask != ALL_ACCESS:
                setup = [(MOV32_X, R1, R3, 0, 0), (AND32_K, R1, 0, 0, mask)]
                if rule.allow:
                    tests.append((JNE_X, R1, R3, 0))    # some right asked for is not in the rule
                else:
                    tests.append((JEQ_K, R1, 0, 0))     # no right asked for is in the rule
            if rule.type != "a":
                tests.append((JNE_K, R2, 0, TYPE_CODES[rule.type]))
            if rule.major != ANY:
                tests.append((JNE_K, R4, 0, rule.major))
            if rule.minor != ANY:
                tests.append((JNE_K, R5, 0, rule.minor))
            verdict = [(MOV64_K, R0, 0, 0, int(rule.allow)), (EXIT, 0, 0, 0, 0)]
            insns += setup
            for n, (code, dst, src, imm) in enumerate(tests):
                # past the remaining tests and the verdict's two instructions
                insns.append((code, dst, src, len(tests) - n - 1 + 2, imm))
            insns += verdict
            if not tests:
                return insns  # matches every access: what follows would be unreachable
        insns += [(MOV64_K, R0, 0, 0, int(self.default_allow)), (EXIT, 0, 0, 0, 0)]
        return insns


# registers and the few opcodes used (include/uapi/linux/bpf.h, bpf_common.h)
R0, R1, R2, R3, R4, R5 = range(6)
LDX_W = 0x61      # BPF_LDX | BPF_MEM | BPF_W
AND32_K = 0x54    # BPF_ALU | BPF_AND | BPF_K
RSH32_K = 0x74    # BPF_ALU | BPF_RSH | BPF_K
MOV32_X = 0xBC    # BPF_ALU | BPF_MOV | BPF_X
MOV64_K = 0xB7    # BPF_ALU64 | BPF_MOV | BPF_K
JNE_K = 0x55      # BPF_JMP | BPF_JNE | BPF_K
JNE_X = 0x5D      # BPF_JMP | BPF_JNE | BPF_X
JEQ_K = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
EXIT = 0x95       # BPF_JMP | BPF_EXIT


def encode(insns):
    """struct bpf_insn[] as bytes: code, dst_reg:4 + src_reg:4 (bitfield order follows the
    byte order), off (s16), imm (s32)."""
    import struct

    little = sys.byteorder == "little"
    pack = struct.Struct("<BBhi" if little else ">BBhi").pack
    out = bytearray()
    for code, dst, src, off, imm in insns:
        regs = (src << 4 | dst) if little else (dst << 4 | src)
        out += pack(code, regs, off, imm)
    return bytes(out)


# -- which control a container gets -------------------------------------------------------------
class Plan:
    """How a container's device rules are enforced: `mode` none, v1 (the v1 devices
    controller's files, `rules` in line order) or bpf (`devices`, a DeviceList, built from
    the keys of `family`); `skipped` the other family's rules, not used; `warnings` and
    `infos` what the start should say."""

    def __init__(self, mode, family=None, rules=(), devices=None, skipped=(), warnings=(),
                 infos=()):
        self.mode = mode
        self.family = family
        self.rules = list(rules)
        self.devices = devices
        self.skipped = list(skipped)
        self.warnings = list(warnings)
        self.infos = list(infos)

    def describe(self, where=None):
        if self.mode == "none":
            return ["no device rules: every device node is usable (as LXC)"]
        if self.mode == "v1":
            return ([f"cgroup v1 devices controller{' ' + where if where else ''}, "
                     f"{self.family}.devices.* in order:"] +
                    [f"  {k} = {v}" for k, v in self.rules])
        head = (f"cgroup2 BPF device program{' on ' + where if where else ''}, from "
                f"{self.family}.devices.*:")
        return [head] + ["  " + line for line in self.devices.describe()]


def plan(conf, *, v1_devices, unified, root=True, stat_path=os.stat):
    """The Plan for CONF on a host with (V1_DEVICES) a v1 devices controller for the
    container and (UNIFIED) a cgroup2 hierarchy. LXC's choice: the v1 controller when there is
    one (a hybrid host), a BPF program on a pure cgroup2 host. Beyond LXC: cgroup2 rules
    alone on a hybrid host get their program on the cgroup2 hierarchy (LXC ignores them),
    and v1 rules on a pure cgroup2 host are translated (LXC ignores those too, with a
    warning: a container whose only device list is v1 would run without any)."""
    v1 = conf.device_rules("lxc.cgroup")
    v2 = conf.device_rules("lxc.cgroup2")
    if not v1 and not v2:
        return Plan("none")
    if v1_devices and v1:
        return Plan("v1", "lxc.cgroup", v1, skipped=v2)
    if not unified:
        key = f"lxc.cgroup2.{v2[0][0]}" if v2 else f"lxc.cgroup.{v1[0][0]}"
        raise DeviceRuleError(f"{key}: this host has neither a v1 devices controller nor a "
                              "cgroup2 hierarchy for the container, so device rules cannot "
                              "be enforced", key=key,
                              hint="use lxc.cgroup.devices.allow/deny where the v1 devices "
                                   "controller is mounted")
    family, rules, skipped = ("lxc.cgroup2", v2, v1) if v2 else ("lxc.cgroup", v1, [])
    devices = build(family, rules, stat_path=stat_path)
    warnings = [f"{family}.{rule_key(r)} = {r.text()} does not take back {missed.text()}: "
                "in a cgroup2 device list a rule only undoes one written the same way"
                for r, missed in devices.ignored]
    if not root:
        # LXC: the device program needs real root; silently none for others. A user's
        # container has its own user namespace: it cannot mknod, and host nodes reach it
        # only through mounts the user may open anyway.
        return Plan("none", family, rules, skipped=skipped, warnings=warnings,
                    infos=[f"{family}.devices.* not enforced: a cgroup2 device program "
                           "needs root (the container's user namespace keeps it from making "
                           "device nodes)"])
    return Plan("bpf", family, rules, devices, skipped, warnings)


def build(family, rules, stat_path=os.stat, start=None):
    """The DeviceList of RULES [(devices.allow|deny, value)] of FAMILY; errors name the
    config key."""
    devices = start.copy() if start is not None else DeviceList(
        default_allow=family == "lxc.cgroup")
    for key, value in rules:
        try:
            devices.add(parse(key, value, stat_path))
        except DeviceRuleError as exc:
            exc.key = f"{family}.{key}"
            exc.message = f"{family}.{exc.message}"
            raise
    return devices


def rule_key(rule):
    return "devices.allow" if rule.allow else "devices.deny"
