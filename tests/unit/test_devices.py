"""Device rules for cgroup2 (cgroups/devices.py): LXC's reading of a rule, LXC's list
(allow-list / deny-list modes), the plan (v1 controller, BPF program or none) and the BPF
program itself, run here in a small interpreter of the instructions it uses (decoded from
the bytes the kernel gets). tests/integration/test_device_program.py loads the same programs
into the kernel and opens real devices under them."""

import itertools
import os
import random
import struct
import sys

import pytest

from lxctools.config.model import Conf
from lxctools.cgroups import devices as D
from conftest import conf_lines, COMMON_DEVICES

COMMON = COMMON_DEVICES


# -- a tiny BPF interpreter (the opcodes devices.py emits, nothing else) ----------------------
def decode(code):
    little = sys.byteorder == "little"
    out = []
    for i in range(0, len(code), 8):
        op, regs, off, imm = struct.unpack("<BBhi" if little else ">BBhi", code[i:i + 8])
        dst, src = (regs & 15, regs >> 4) if little else (regs >> 4, regs & 15)
        out.append((op, dst, src, off, imm))
    return out


def run(code, type_, major, minor, access):
    """The program's verdict (0 deny, 1 allow) for one access; access is letters of rwm."""
    asked = sum(D.ACCESS_BITS[a] for a in set(access))
    ctx = struct.pack("=III", asked << 16 | D.TYPE_CODES[type_], major, minor)
    regs = [0] * 11
    regs[1] = "ctx"
    insns = decode(code)
    pc = 0
    u64 = (1 << 64) - 1
    for _step in range(10000):
        op, dst, src, off, imm = insns[pc]
        pc += 1
        if op == D.LDX_W:
            assert regs[src] == "ctx" and off in (0, 4, 8)
            regs[dst] = struct.unpack_from("=I", ctx, off)[0]
        elif op == D.AND32_K:
            regs[dst] = regs[dst] & imm & 0xFFFFFFFF
        elif op == D.RSH32_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif op == D.MOV32_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif op == D.MOV64_K:
            regs[dst] = imm & u64
        elif op == D.JNE_K:
            pc += off if regs[dst] != imm & u64 else 0
        elif op == D.JEQ_K:
            pc += off if regs[dst] == imm & u64 else 0
        elif op == D.JNE_X:
            pc += off if regs[dst] != regs[src] else 0
        elif op == D.EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
        assert 0 <= pc < len(insns), "jumped out of the program"
    raise AssertionError("no exit")


def reachable(code):
    """Every instruction can be reached (the kernel's verifier refuses dead code)."""
    insns = decode(code)
    seen, todo = set(), [0]
    while todo:
        pc = todo.pop()
        if pc in seen:
            continue
        seen.add(pc)
        op, _dst, _src, off, _imm = insns[pc]
        if op == D.EXIT:
            continue
        todo.append(pc + 1)
        if op in (D.JNE_K, D.JEQ_K, D.JNE_X):
            todo.append(pc + 1 + off)
    return len(seen) == len(insns)


def verdict(devices, device, access):
    type_, major, minor = device
    return run(D.encode(devices.program()), type_, major, minor, access)


# -- reading rules ------------------------------------------------------------------------------
@pytest.mark.parametrize("key,value,expected", [
    ("devices.allow", "a", [1, "a", -1, -1, ""]),
    ("devices.deny", "a", [0, "a", -1, -1, ""]),
    ("devices.allow", "c 1:3 rwm", [1, "c", 1, 3, "rwm"]),
    ("devices.allow", "c *:* m", [1, "c", -1, -1, "m"]),
    ("devices.deny", "b 8:* r", [0, "b", 8, -1, "r"]),
    ("devices.allow", "a 1:3 rw", [1, "a", 1, 3, "rw"]),       # type a with numbers: any type
    ("devices.allow", "c\t136:*\tw", [1, "c", 136, -1, "w"]),   # any blank, as isspace()
    ("devices.allow", "c 1:3 ", [1, "c", 1, 3, ""]),            # no access: matches nothing
    ("devices.allow", "c 1:3 rwmx", [1, "c", 1, 3, "rwm"]),     # LXC reads three letters
    ("devices.allow", "/dev/null rwm", [1, "c", 1, 3, "rwm"]),
])
def test_rules_read_as_lxc_reads_them(key, value, expected):
    assert D.parse(key, value).to_json() == expected


@pytest.mark.parametrize("value", ["x 1:3 rwm", "c 1:3", "c 1-3 rwm", "c 1:3 rwx", "c  1:3 r",
                                   "c 2147483648:1 r", "c a:1 r", "ab", "", "c 1:3 r m",
                                   "/etc/passwd r", "/dev/null", "/nonexistent/dev rwm"])
def test_bad_rules_are_errors_with_a_hint(value):
    with pytest.raises(D.DeviceRuleError) as info:
        D.parse("devices.allow", value)
    assert info.value.hint


def test_an_error_names_the_config_key():
    with pytest.raises(D.DeviceRuleError) as info:
        D.build("lxc.cgroup2", [("devices.deny", "a"), ("devices.allow", "c 1:3 rwz")])
    assert info.value.key == "lxc.cgroup2.devices.allow"
    assert str(info.value).startswith("lxc.cgroup2.devices.allow = c 1:3 rwz")


# -- LXC's list ----------------------------------------------------------------------------------
def test_common_conf_is_an_allow_list():
    devices = D.build("lxc.cgroup2", COMMON)
    assert not devices.default_allow and len(devices.rules) == len(COMMON) - 1
    for device, access, allowed in [
            (("c", 1, 3), "rw", 1), (("c", 1, 5), "r", 1), (("c", 136, 4), "rw", 1),
            (("c", 5, 2), "rw", 1), (("c", 10, 229), "rw", 1),
            (("b", 254, 0), "m", 1),      # mknod of any node: allowed ...
            (("b", 254, 0), "r", 0),      # ... using a block device: denied
            (("b", 254, 0), "rw", 0), (("c", 1, 11), "r", 0), (("c", 1, 11), "m", 1),
            (("c", 1, 1), "rw", 0), (("c", 4, 1), "w", 0)]:
        assert verdict(devices, device, access) == allowed, (device, access)
        assert devices.decide(*device, access) == bool(allowed)


def test_a_alone_switches_the_mode_and_empties_the_list():
    devices = D.build("lxc.cgroup2", [("devices.allow", "c 1:3 rwm"), ("devices.allow", "a")])
    assert devices.default_allow and devices.rules == []
    devices = D.build("lxc.cgroup2", [("devices.allow", "a"), ("devices.deny", "c 1:11 rwm"),
                                      ("devices.deny", "a"), ("devices.allow", "c 1:3 rw")])
    assert not devices.default_allow and [r.text() for r in devices.rules] == ["c 1:3 rw"]


def test_lxc_starts_cgroup2_lists_as_allow_lists():
    # one allow alone: everything else is denied (unlike cgroup v1, where it changes nothing)
    devices = D.build("lxc.cgroup2", [("devices.allow", "c 1:3 rwm")])
    assert verdict(devices, ("c", 1, 3), "rw") == 1 and verdict(devices, ("c", 1, 5), "r") == 0
    # one deny alone: nothing at all is allowed (LXC's reading, kept)
    devices = D.build("lxc.cgroup2", [("devices.deny", "c 1:11 rwm")])
    assert verdict(devices, ("c", 1, 3), "r") == 0 and verdict(devices, ("c", 1, 11), "r") == 0


def test_v1_rules_translated_keep_their_v1_meaning():
    # under v1 a cgroup starts allowing everything: a lone deny takes that device away only
    devices = D.build("lxc.cgroup", [("devices.deny", "c 1:11 rwm")])
    assert verdict(devices, ("c", 1, 11), "r") == 0 and verdict(devices, ("c", 1, 3), "r") == 1
    # and LXC's usual list reads the same in both families
    assert D.build("lxc.cgroup", COMMON) == D.build("lxc.cgroup2", COMMON)


def test_a_rule_undoes_only_a_rule_written_the_same_way():
    devices = D.build("lxc.cgroup2", COMMON + [("devices.deny", "c 10:229 rwm")])
    assert verdict(devices, ("c", 10, 229), "rw") == 0 and devices.ignored == []
    devices = D.build("lxc.cgroup2", COMMON + [("devices.deny", "c 10:229 rw")])
    assert verdict(devices, ("c", 10, 229), "rw") == 1  # LXC: "rw" is not "rwm"
    assert [(r.text(), m.text()) for r, m in devices.ignored] == [("c 10:229 rw",
                                                                    "c 10:229 rwm")]
    plan = D.plan(conf_lines(*[f"lxc.cgroup2.{k} = {v}" for k, v in COMMON],
                             "lxc.cgroup2.devices.deny = c 10:229 rw"),
                  v1_devices=False, unified=True)
    assert plan.warnings and "does not take back" in plan.warnings[0]


def test_a_deny_list_denies_any_access_that_asks_for_a_denied_right():
    devices = D.build("lxc.cgroup2", [("devices.allow", "a"), ("devices.deny", "c 1:11 r")])
    assert verdict(devices, ("c", 1, 11), "r") == 0
    assert verdict(devices, ("c", 1, 11), "rw") == 0   # LXC's program lets O_RDWR through
    assert verdict(devices, ("c", 1, 11), "w") == 1
    assert verdict(devices, ("b", 1, 11), "r") == 1


def test_a_rule_that_matches_everything_ends_the_program():
    devices = D.build("lxc.cgroup2", [("devices.allow", "a *:* rwm"),
                                      ("devices.allow", "c 1:3 r")])
    code = D.encode(devices.program())
    assert reachable(code)
    assert run(code, "b", 8, 0, "rwm") == 1


def test_random_lists_run_as_they_decide():
    """The program and the list's own reading agree, for lists of every shape."""
    rng = random.Random(17)
    types, numbers, accesses = "abc", [-1, 1, 3, 136], ["", "r", "w", "m", "rw", "rwm", "mr"]
    devices_seen = [(t, ma, mi) for t in "bc" for ma in (1, 3, 136) for mi in (1, 3, 7)]
    for _case in range(150):
        rules = []
        for _ in range(rng.randrange(0, 8)):
            if rng.random() < 0.1:
                rules.append(("devices.allow" if rng.random() < 0.5 else "devices.deny", "a"))
                continue
            text = (f"{rng.choice(types)} "
                    f"{'*' if (n := rng.choice(numbers)) < 0 else n}:"
                    f"{'*' if (m := rng.choice(numbers)) < 0 else m} {rng.choice(accesses)}")
            rules.append((rng.choice(["devices.allow", "devices.deny"]), text))
        for family in ("lxc.cgroup", "lxc.cgroup2"):
            devices = D.build(family, rules)
            code = D.encode(devices.program())
            assert reachable(code)
            for (t, ma, mi), access in itertools.product(devices_seen, ["r", "w", "m", "rw"]):
                assert run(code, t, ma, mi, access) == int(devices.decide(t, ma, mi, access)), \
                    (rules, t, ma, mi, access)


def test_the_list_survives_the_runtime_record():
    devices = D.build("lxc.cgroup2", COMMON)
    assert D.DeviceList.from_json(devices.to_json()) == devices
    assert devices.describe()[0].startswith("allow-list")
    assert "allow c 136:* rwm" in devices.describe()


# -- which control --------------------------------------------------------------------------------
def test_device_lines_keep_their_order_across_allow_and_deny():
    conf = conf_lines("lxc.cgroup2.devices.deny = a", "lxc.cgroup2.devices.allow = c 1:3 rwm",
                      "lxc.cgroup2.devices.deny = c 1:3 rwm", "lxc.cgroup2.memory.max = 1G")
    assert conf.device_rules("lxc.cgroup2") == [
        ("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"), ("devices.deny", "c 1:3 rwm")]
    # grouped per key (the model's lists), the deny would come first and 1:3 stay allowed
    assert D.plan(conf, v1_devices=False, unified=True).devices.rules == []
    conf.apply("lxc.cgroup2.devices.deny", "")
    assert conf.device_rules("lxc.cgroup2") == [("devices.allow", "c 1:3 rwm")]
    conf.apply("lxc.cgroup2", "")
    assert conf.device_rules("lxc.cgroup2") == []


def test_a_conf_rebuilt_from_its_items_puts_the_denies_first():
    conf = conf_lines("lxc.cgroup.devices.allow = c 1:3 rwm", "lxc.cgroup.devices.deny = a")
    rebuilt = Conf()
    rebuilt.items = conf.items
    assert rebuilt.device_rules("lxc.cgroup") == [("devices.deny", "a"),
                                                  ("devices.allow", "c 1:3 rwm")]


def test_which_control_a_container_gets():
    v1 = [f"lxc.cgroup.{k} = {v}" for k, v in COMMON]
    v2 = [f"lxc.cgroup2.{k} = {v}" for k, v in COMMON]
    hybrid, unified = dict(v1_devices=True, unified=True), dict(v1_devices=False, unified=True)
    assert D.plan(conf_lines(), **unified).mode == "none"          # as LXC: no rules, no program
    plan = D.plan(conf_lines(*v1), **hybrid)                         # LXC on a hybrid host
    assert (plan.mode, plan.family, plan.rules) == ("v1", "lxc.cgroup", COMMON)
    plan = D.plan(conf_lines(*v1, *v2), **unified)                   # LXC on a cgroup2 host
    assert (plan.mode, plan.family, plan.skipped) == ("bpf", "lxc.cgroup2", COMMON)
    plan = D.plan(conf_lines(*v1), **unified)                        # LXC ignores these
    assert (plan.mode, plan.family) == ("bpf", "lxc.cgroup")
    assert plan.devices == D.build("lxc.cgroup2", COMMON)
    plan = D.plan(conf_lines(*v2), **hybrid)                         # LXC ignores these too
    assert (plan.mode, plan.family) == ("bpf", "lxc.cgroup2")
    plan = D.plan(conf_lines(*v2), **unified, root=False)            # LXC: silently none
    assert plan.mode == "none" and "needs root" in plan.infos[0]
    with pytest.raises(D.DeviceRuleError, match="cannot be enforced"):
        D.plan(conf_lines(*v2), v1_devices=False, unified=False)
    assert D.plan(conf_lines("lxc.cgroup2.devices.deny = a"), **unified).devices.program()[-2:] \
        == [(D.MOV64_K, D.R0, 0, 0, 0), (D.EXIT, 0, 0, 0, 0)]      # denies all (LXC: nothing)


def test_plan_reads_paths_through_stat():
    class Node:
        st_mode = 0o20600  # a character device
        st_rdev = os.makedev(10, 200)

    def stat_path(path):
        assert path == "/dev/thing"
        return Node()
    conf = conf_lines("lxc.cgroup2.devices.deny = a",
                      "lxc.cgroup2.devices.allow = /dev/thing rw")
    plan = D.plan(conf, v1_devices=False, unified=True, stat_path=stat_path)
    assert [r.text() for r in plan.devices.rules] == ["c 10:200 rw"]
