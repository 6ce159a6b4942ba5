"""Seccomp policy parsing (LXC's formats 1 and 2) and the capability plan; no root needed."""

import time

import pytest

from lxctools.config.model import Conf
from lxctools.errors import ConfigError
from lxctools.security import capabilities, compile_profile
from lxctools.security.policy import parse

COMMON = """2
denylist
reject_force_umount  # comment this to allow umount -f;  not recommended
[all]
kexec_load errno 1
open_by_handle_at errno 1
init_module errno 1
finit_module errno 1
delete_module errno 1
"""


def test_lxc_common_seccomp():
    policy = parse(COMMON, "common.seccomp", "x86_64")
    assert policy.version == 2 and policy.default == ("allow",)
    assert policy.rules[0].special == "reject_force_umount"
    assert [(r.syscall, r.action, r.line) for r in policy.rules[1:3]] == [
        ("kexec_load", ("errno", 1), 5), ("open_by_handle_at", ("errno", 1), 6)]


def test_allowlist_defaults_sections_and_args():
    text = ("2\nallowlist errno 38\nread\nwrite kill\n[x86]\nsocketcall\n[arm64]\nfoo\n"
            "[all]\n# comment\nmknod errno 1 [1,0x2000,SCMP_CMP_MASKED_EQ,0xf000] [0,5,!=]\n")
    policy = parse(text, "p", "x86_64")
    assert policy.default == ("errno", 38)
    got = [(r.syscall, r.action, r.arch) for r in policy.rules]
    assert got == [("read", ("allow",), None), ("write", ("kill",), None),
                   ("socketcall", ("allow",), "x86"), ("mknod", ("errno", 1), None)]
    assert policy.rules[-1].args == [(1, "&=", 0xF000, 0x2000), (0, "!=", 5, 0)]


def test_denylist_default_rule_action_is_kill():
    policy = parse("2\nblacklist\nsethostname\n", "p", "x86_64")
    assert policy.default == ("allow",) and policy.rules[0].action == ("kill",)


def test_version_1_numbers():
    policy = parse("1\nwhitelist\n0\n1\n60\n", "p", "x86_64")
    assert policy.default == ("kill",)
    assert [r.syscall for r in policy.rules] == [0, 1, 60]


@pytest.mark.parametrize("text, line, match", [
    ("3\nallowlist\n", 1, "policy version"),
    ("1\ndenylist\n", 2, "only allowlist"),
    ("1\nallowlist\nread\n", 3, "not a syscall number"),
    ("2\ngraylist\n", 2, "bad policy style"),
    ("2\ndenylist\nmount bogus\n", 3, "unknown seccomp action"),
    ("2\ndenylist\n\n[sparc]\nmount\n", 4, "unsupported architecture"),
    ("2\ndenylist\nmount errno x\n", 3, "errno needs a number"),
    ("2\ndenylist\nmount errno 1 [9,1,==]\n", 3, "out of range"),
    ("2\ndenylist\nmount errno 1 [1,1,~~]\n", 3, "unknown comparison"),
    ("2\nallowlist debug\n", 2, "debug"),
])
def test_parse_errors_name_file_and_line(text, line, match):
    with pytest.raises(ConfigError, match=match) as info:
        parse(text, "/etc/x.seccomp", "x86_64")
    assert info.value.path == "/etc/x.seccomp" and info.value.line == line
    assert info.value.key == "lxc.seccomp.profile"


def test_compile_refuses_notify_without_proxy(tmp_path):
    profile = tmp_path / "p"
    profile.write_text("2\ndenylist\nmknod notify\n")
    conf = Conf()
    conf.apply("lxc.seccomp.profile", str(profile))
    with pytest.raises(ConfigError, match="notify") as info:
        compile_profile(str(profile), conf)
    assert info.value.line == 3


def test_compile_missing_file():
    with pytest.raises(ConfigError, match="cannot read the seccomp profile"):
        compile_profile("/nonexistent/cg-profile")


def test_compile_common_profile(tmp_path):
    profile = tmp_path / "p"
    # a syscall newer than this libseccomp is skipped, as LXC skips what it cannot resolve
    profile.write_text(COMMON + "mseal errno 1\n")
    policy, filt = compile_profile(str(profile))
    assert len(policy.rules) == 7 and filt.contexts
    # any other unknown name is a mistake: refused at its line (LXC would skip it silently)
    profile.write_text(COMMON + "init_modul errno 1\n")
    with pytest.raises(ConfigError, match='unknown syscall .init_modul. \\(did you mean "init_module"') as info:
        compile_profile(str(profile))
    assert info.value.line == 10 and info.value.path == str(profile)


def test_a_compiled_profile_is_kept_while_it_stats_the_same(tmp_path):
    """The lxcpath's supervisor compiles a profile once (compile_profile's cache): given
    again while the file stats the same, once it is a second old (a write within one coarse
    timestamp tick keeps the stat); compiled anew once it changes; never kept when compiling
    it had something to say (each start says it again)."""
    quiet, noisy = tmp_path / "quiet", tmp_path / "noisy"
    quiet.write_text(COMMON)
    noisy.write_text(COMMON + "mseal errno 1\n")  # newer than libseccomp: a warning
    young = compile_profile(str(quiet))
    assert compile_profile(str(quiet))[1] is not young[1]  # not a second old yet
    time.sleep(1.1)
    first = compile_profile(str(quiet))
    assert compile_profile(str(quiet))[1] is first[1]
    assert compile_profile(str(noisy))[1] is not compile_profile(str(noisy))[1]
    quiet.write_text(COMMON + "kexec_load errno 1\n")
    policy, filt = compile_profile(str(quiet))
    assert filt is not first[1] and len(policy.rules) == len(first[0].rules) + 1


def caps_conf(*lines):
    conf = Conf()
    for line in lines:
        key, _, value = line.partition("=")
        conf.apply(key.strip(), value.strip())
    return conf


def test_cap_drop_plan():
    conf = caps_conf("lxc.cap.drop = sys_module mac_admin mac_override sys_time 0x10 +7")
    assert capabilities.plan(conf, 40) == [16, 33, 32, 25, 7]
    assert capabilities.unknown_names(conf) == []
    # an unknown name is refused when the config is read (issue 24.3), never skipped
    with pytest.raises(ConfigError, match='unknown capability "bogus"'):
        caps_conf("lxc.cap.drop = sys_module bogus")


def test_cap_keep_plan_and_none():
    conf = caps_conf("lxc.cap.keep = sys_admin 0")
    doomed = capabilities.plan(conf, 40)
    assert 21 not in doomed and 0 not in doomed and len(doomed) == 39
    assert capabilities.plan(caps_conf("lxc.cap.keep = none"), 40) == list(range(41))
    assert capabilities.plan(Conf(), 40) == []


def test_the_program_made_before_the_fork_is_the_filter_loaded(tmp_path):
    """A start's init loads the BPF the supervisor made before the fork (Prepared.program,
    kernel/seccomp.load_bpf) instead of libseccomp generating it there: it confines."""
    import os

    from lxctools.kernel.seccomp import load_bpf

    profile = tmp_path / "p"
    profile.write_text("2\ndenylist\nuname errno 13\n")
    _policy, filt = compile_profile(str(profile))
    program = filt.export_bpf()
    with pytest.raises(OSError):
        load_bpf(program[:-1])  # not whole records
    pid = os.fork()
    if pid == 0:
        try:
            from lxctools.kernel import libc
            libc.set_no_new_privs()  # loadable without CAP_SYS_ADMIN too
            load_bpf(program)
            try:
                os.uname()
            except PermissionError:
                os._exit(0)  # errno 13 from the filter
            os._exit(2)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
