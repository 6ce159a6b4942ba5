"""Values that name a member of a set (capabilities, namespaces, signals, mount options and
lxc.mount.auto tokens, prlimit resources), numbers past what LXC or the kernel takes, and
bytes no config line may hold: refused when the config is read, naming the file, the line,
the key and the member meant (issue 24.3, 24.5). Real LXC's answers to the same lines are
compared in tests/integration/test_strict_values.py."""

import pytest

from lxctools.config.document import ConfigDocument
from lxctools.config.model import Conf
from lxctools.config.parser import loads
from lxctools.errors import ConfigError


def refused(text, *, line=2):
    """Load TEXT after one good line; the ConfigError, checked to name <t>:LINE."""
    with pytest.raises(ConfigError) as info:
        loads("lxc.uts.name = c1\n" + text, path="/c/config")
    assert (info.value.path, info.value.line) == ("/c/config", line), str(info.value)
    return info.value


def read(text):
    return loads(text, path="/c/config")


# -- capabilities ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["lxc.cap.drop", "lxc.cap.keep"])
@pytest.mark.parametrize("token,guess", [
    ("sys_modul", "sys_module"), ("SYS_MODULE", "sys_module"), ("CAP_SYS_MODULE", "sys_module"),
    ("Sys_Module", "sys_module"), ("mac_admn", "mac_admin"), ("cap_net_raw", "net_raw"),
])
def test_unknown_capability_is_refused_with_the_name_meant(key, token, guess):
    exc = refused(f"{key} = mac_override {token} sys_time\n")
    assert exc.key == key
    assert f'unknown capability "{token}" (did you mean "{guess}"?)' in exc.message
    assert "capabilities(7)" in exc.hint


@pytest.mark.parametrize("token", ["41", "99", "-1", "1e", "4294967296", "0x29"])
def test_capability_numbers_above_the_kernels_last_are_refused(token, monkeypatch):
    from lxctools.config import values
    monkeypatch.setattr(values, "cap_last_cap", lambda: 40)
    exc = refused(f"lxc.cap.drop = {token}\n")
    assert token in exc.message


def test_capability_numbers_as_lxc_reads_them(monkeypatch):
    from lxctools.config import values
    from lxctools.security import capabilities
    monkeypatch.setattr(values, "cap_last_cap", lambda: 40)
    conf = read("lxc.cap.drop = 40 0x10 010 +5 sys_admin\n")
    # kept as written (LXC's getter prints them so), dropped by number
    assert conf.get("lxc.cap.drop") == "40\n0x10\n010\n+5\nsys_admin"
    assert capabilities.plan(conf, 40) == [40, 16, 8, 5, 21]


def test_none_only_in_keep_and_in_order():
    exc = refused("lxc.cap.drop = none\n")
    assert "only valid in lxc.cap.keep" in exc.message
    assert read("lxc.cap.keep = sys_admin none\n").get("lxc.cap.keep") == ""
    assert read("lxc.cap.keep = none sys_admin\n").get("lxc.cap.keep") == "sys_admin"


def test_a_misspelt_drop_never_reaches_the_runtime():
    """The security hole of issue 24.3: sys_module stayed in the bounding set."""
    from lxctools.security import capabilities
    with pytest.raises(ConfigError):
        read("lxc.cap.drop = sys_modul mac_admin\n")
    assert 16 in capabilities.plan(read("lxc.cap.drop = sys_module mac_admin\n"), 40)


# -- namespaces -----------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["lxc.namespace.clone", "lxc.namespace.keep"])
@pytest.mark.parametrize("token,guess", [("pdi", "pid"), ("mount", "mnt"), ("network", "net"),
                                         ("cgroups", "cgroup")])
def test_unknown_namespace_is_refused(key, token, guess):
    exc = refused(f"{key} = uts {token}\n")
    assert exc.key == key and f'(did you mean "{guess}"?)' in exc.message


def test_namespace_names_are_read_as_lxc():
    assert read("lxc.namespace.clone = MNT pid\n").get("lxc.namespace.clone") == "mnt pid"


@pytest.mark.parametrize("sub,guess", [("NET", "net"), ("foo", None), ("network", "net"),
                                       ("pdi", "pid")])
def test_namespace_share_names_a_namespace(sub, guess):
    exc = refused(f"lxc.namespace.share.{sub} = 1\n")
    assert exc.key == f"lxc.namespace.share.{sub}"
    assert f'unknown namespace "{sub}"' in exc.message
    if guess:
        assert f'(did you mean "{guess}"?)' in exc.message
    # an empty value is checked too (LXC: Invalid namespace name)
    refused(f"lxc.namespace.share.{sub} =\n")


def test_namespace_share_of_every_namespace():
    from lxctools.config.values import NAMESPACES
    conf = read("".join(f"lxc.namespace.share.{ns} = 1\n" for ns in NAMESPACES))
    assert [k for k, _ in conf.family("lxc.namespace.share")] == NAMESPACES


# -- signals --------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["lxc.signal.halt", "lxc.signal.reboot", "lxc.signal.stop",
                                 "lxc.monitor.signal.pdeath"])
@pytest.mark.parametrize("value,guess", [("SIGPWRR", "SIGPWR"), ("PWR", "SIGPWR"),
                                         ("SIGTREM", "SIGTERM"), ("sigkil", "SIGKILL")])
def test_unknown_signal_is_refused(key, value, guess):
    exc = refused(f"{key} = {value}\n")
    assert exc.key == key and f'unknown signal "{value}" (did you mean "{guess}"?)' in exc.message


@pytest.mark.parametrize("value,stored", [("0", "0"), ("0x1e", "30"), ("sigpwr", "30"),
                                          ("SIGRTMAX-2", "62"), ("64", "64")])
def test_signals_read_as_lxc(value, stored):
    assert read(f"lxc.signal.halt = {value}\n").get("lxc.signal.halt") == stored


@pytest.mark.parametrize("value", ["65", "1000", "SIGRTMIN+31", "9x"])
def test_signals_no_kernel_has_are_refused(value):
    refused(f"lxc.signal.stop = {value}\n")


# -- lxc.mount.auto and mount options -------------------------------------------------------

@pytest.mark.parametrize("token,guess", [("proc:mixd", "proc:mixed"), ("sys:mixd", "sys:mixed"),
                                         ("cgroup:mixed:forse", "cgroup:mixed:force"),
                                         ("cgruop", "cgroup")])
def test_unknown_mount_auto_token(token, guess):
    exc = refused(f"lxc.mount.auto = proc {token}\n")
    assert exc.key == "lxc.mount.auto" and f'(did you mean "{guess}"?)' in exc.message


@pytest.mark.parametrize("options,word,guess", [
    ("bind,ro,nosiud", "nosiud", "nosuid"), ("rbind,noexce", "noexce", "noexec"),
    ("bind,optinal", "optinal", "optional"), ("bind,nodve,create=dir", "nodve", "nodev"),
])
def test_bind_mount_options_the_kernel_would_ignore(options, word, guess):
    exc = refused(f"lxc.mount.entry = /srv srv none {options} 0 0\n")
    assert exc.key == "lxc.mount.entry"
    assert f'"{word}" means nothing on a bind mount' in exc.message
    assert f'(did you mean "{guess}"?)' in exc.message


def test_create_takes_dir_or_file():
    exc = refused("lxc.mount.entry = tmpfs tmp tmpfs create=dri 0 0\n")
    assert '"create=dri" (did you mean "create=dir"?)' in exc.message


@pytest.mark.parametrize("entry", [
    "/srv srv none bind,ro,nosuid,nodev,noexec,create=dir,optional 0 0",
    "/srv srv none rbind,rslave,relative,x-systemd.automount,nofail 0 0",
    "tmpfs tmp tmpfs size=10m,mode=1777,create=dir 0 0",  # filesystem options: the kernel's
    "proc dev/.lxc/proc proc create=dir,optional 0 0",
    "/srv srv none bind",
])
def test_good_mount_entries(entry):
    assert read(f"lxc.mount.entry = {entry}\n").get("lxc.mount.entry") == entry


# -- prlimit --------------------------------------------------------------------------------

def test_prlimit_names_a_resource():
    exc = refused("lxc.prlimit.nofle = 10\n")
    assert exc.key == "lxc.prlimit.nofle" and '(did you mean "nofile"?)' in exc.message
    exc = refused("lxc.prlimit.RLIMIT_NOFILE = 10\n")
    assert '(did you mean "nofile"?)' in exc.message
    conf = read("lxc.prlimit.locks = 10\nlxc.prlimit.7 = 0x400:unlimited\n")
    assert conf.get("lxc.prlimit.7") == "0x400:unlimited"


def test_prlimit_soft_above_hard():
    exc = refused("lxc.prlimit.nofile = 10:5\n")
    assert "soft limit 10 is above the hard limit 5" in exc.message


# -- idmap ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,needle", [
    ("u 99999999999999999999 0 1", "NSID 99999999999999999999 is too large"),
    ("u 0 4294967296 1", "goes past the largest id"),
    ("u 0 100000 0", "RANGE is 0"),
    ("g 4294967295 0 1", "goes past"),
    ("u 0 -1 1", 'HOSTID "-1" is not an unsigned number'),
    ("x 0 100000 65536", "u|g NSID HOSTID RANGE"),
])
def test_idmap_numbers(value, needle):
    exc = refused(f"lxc.idmap = {value}\n")
    assert exc.key == "lxc.idmap" and needle in exc.message


def test_idmap_read_as_lxc():
    assert read("lxc.idmap = u 0x10 100000 65536\n").get("lxc.idmap") == "u 16 100000 65536"


@pytest.mark.parametrize("second,needle", [
    ("u 0 100000 65536", "repeats an earlier line"),
    ("u 1000 300000 10", "on the container side"),
    ("u 70000 165535 10", "on the host side"),
])
def test_idmap_overlaps_are_refused(second, needle):
    exc = refused(f"lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n"
                  f"lxc.idmap = {second}\n", line=4)
    assert needle in exc.message


def test_idmap_disjoint_ranges_and_a_clear():
    conf = read("lxc.idmap = u 0 100000 1000\nlxc.idmap = u 1000 1000 1\n"
                "lxc.idmap = u 1001 101001 64535\nlxc.idmap = g 0 100000 65536\n")
    assert len(conf.value("lxc.idmap")) == 4
    read("lxc.idmap = u 0 100000 65536\nlxc.idmap =\nlxc.idmap = u 0 100000 65536\n")


# -- numbers, bytes, lines ------------------------------------------------------------------

@pytest.mark.parametrize("key", ["lxc.pty.max", "lxc.tty.max"])
def test_pty_counts(key):
    assert "too large" in refused(f"{key} = 99999999999999999999\n").message
    assert "devpts limit" in refused(f"{key} = 4294967295\n").message
    assert read(f"{key} = 0x400\n").get(key) == "1024"


@pytest.mark.parametrize("key", ["lxc.init.uid", "lxc.start.delay", "lxc.autodev.tmpfs.size"])
def test_unsigned_numbers_past_32_bits(key):
    exc = refused(f"{key} = 4294967296\n")
    assert "at most 4294967295" in exc.message and exc.key == key


def test_a_nul_byte_names_its_line_and_key():
    exc = refused("lxc.mount.entry = /a b\0c none bind 0 0\nlxc.uts.name = x\n")
    assert "NUL byte" in exc.message and exc.key == "lxc.mount.entry"
    exc = refused("# a comment\0\n", line=2)
    assert "NUL byte" in exc.message


def test_hostname_bytes():
    exc = refused("lxc.uts.name = h\udcff\udcfeost\n")  # what surrogateescape makes of \xff\xfe
    assert exc.key == "lxc.uts.name" and "not valid UTF-8" in exc.message
    exc = refused("lxc.uts.name = " + "\u00fc" * 33 + "\n")  # 66 bytes in 33 characters
    assert "at most 64 bytes" in exc.message
    assert read("lxc.uts.name = " + "\u00fc" * 32 + "\n")


def test_invalid_utf8_in_a_file_is_named(tmp_path):
    from lxctools.config.parser import load
    path = tmp_path / "config"
    path.write_bytes(b"lxc.net.0.type = empty\nlxc.uts.name = h\xff\xfeost\n")
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert (info.value.path, info.value.line, info.value.key) == (str(path), 2, "lxc.uts.name")


def test_set_item_cannot_smuggle_lines():
    doc = ConfigDocument(None, "lxc.net.0.type = empty\n")
    for value in ("c1\nlxc.cap.keep = none", "c1\rx", "c1\0"):
        with pytest.raises(ConfigError, match="newline or NUL"):
            doc.set_item("lxc.uts.name", value)
    assert doc.text() == "lxc.net.0.type = empty\n"


def test_every_refusal_goes_through_conf_apply_too():
    """The API (python-lxc's set_config_item) refuses what the file reader refuses."""
    conf = Conf()
    for key, value in (("lxc.cap.drop", "sys_modul"), ("lxc.namespace.share.foo", "1"),
                       ("lxc.signal.halt", "SIGFOO"), ("lxc.prlimit.nofle", "1")):
        with pytest.raises(ConfigError) as info:
            conf.apply(key, value)
        assert info.value.key == key and "did you mean" in info.value.message or key.endswith("foo")


def test_idmap_lines_past_the_kernels_limit():
    lines = "".join(f"lxc.idmap = u {i} {100000 + i} 1\n" for i in range(340))
    conf = read(lines + "lxc.idmap = g 0 100000 65536\n")
    assert len(conf.value("lxc.idmap")) == 341
    exc = refused(lines + "lxc.idmap = u 340 100340 1\n", line=342)
    assert "more than 340 lxc.idmap lines" in exc.message


# -- includes: loops, chains and files that are no config (LXC segfaults on the loops) ------

def load_main(tmp_path, text):
    from lxctools.config.parser import load
    main = tmp_path / "config"
    main.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(str(main))
    return info.value, str(main)


def test_an_include_of_itself(tmp_path):
    exc, main = load_main(tmp_path, f"lxc.uts.name = a\nlxc.include = {tmp_path}/config\n")
    assert "includes itself" in exc.message


def test_an_include_loop_through_two_files(tmp_path):
    (tmp_path / "a.conf").write_text(f"lxc.include = {tmp_path}/b.conf\n")
    (tmp_path / "b.conf").write_text(f"lxc.tty.max = 1\nlxc.include = {tmp_path}/a.conf\n")
    exc, _ = load_main(tmp_path, f"lxc.include = {tmp_path}/a.conf\n")
    assert "includes itself" in exc.message and "a.conf -> " in exc.hint


def test_an_include_loop_through_a_directory(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.conf").write_text(f"lxc.include = {tmp_path}/d\n")
    exc, _ = load_main(tmp_path, f"lxc.include = {tmp_path}/d\n")
    assert "includes itself" in exc.message


def test_an_include_chain_too_deep(tmp_path):
    for i in range(40):
        (tmp_path / f"c{i}.conf").write_text(
            f"lxc.environment = C{i}=1\n" + (f"lxc.include = {tmp_path}/c{i + 1}.conf\n"
                                              if i < 39 else ""))
    exc, _ = load_main(tmp_path, f"lxc.include = {tmp_path}/c0.conf\n")
    assert "nested more than 32 deep" in exc.message and exc.key == "lxc.include"
    assert exc.line == 2 and exc.path.endswith("c30.conf")
    # 30 deep is fine
    from lxctools.config.parser import load
    (tmp_path / "config").write_text(f"lxc.include = {tmp_path}/c10.conf\n")
    assert len(load(str(tmp_path / "config")).value("lxc.environment")) == 30


@pytest.mark.parametrize("what", ["/dev/zero", "/dev/urandom", "fifo", "sparse", "dir.conf"])
def test_an_include_of_what_is_no_config_file(tmp_path, what):
    """/dev/zero or a FIFO would never end (a FIFO without a writer never even opens)."""
    import os
    if what == "fifo":
        os.mkfifo(tmp_path / "fifo")
    elif what == "sparse":
        with open(tmp_path / "sparse", "wb") as handle:
            handle.truncate(40 << 20)
    path = what if what.startswith("/") else str(tmp_path / what)
    if what == "dir.conf":
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "dir.conf").mkdir()
        path = str(tmp_path / "d")
    exc, main = load_main(tmp_path, f"lxc.uts.name = a\nlxc.include = {path}\n")
    assert (exc.path, exc.line, exc.key) == (main, 2, "lxc.include"), str(exc)
    assert "regular file" in exc.message or "bytes" in exc.message or "directory" in exc.message


def test_a_seccomp_profile_or_fstab_that_is_no_file(tmp_path):
    import os

    from lxctools.spawn import preflight
    from lxctools.security import compile_profile
    os.mkfifo(tmp_path / "fifo")
    for path in ("/dev/zero", str(tmp_path / "fifo")):
        with pytest.raises(ConfigError, match="not a regular file"):
            compile_profile(path)
        conf = read(f"lxc.mount.fstab = {path}\n")
        with pytest.raises(preflight.PreflightError, match="not a regular file"):
            preflight.check_fstab(conf)


def test_a_nic_index_past_32_bits():
    exc = refused("lxc.net.99999999999999999999.type = veth\n")
    assert "NIC index 99999999999999999999 is too large" in exc.message
    exc = refused("lxc.net.4294967296.type = veth\n")
    assert "too large" in exc.message


@pytest.mark.parametrize("key,value", [
    ("lxc.start.order", "9" * 5000), ("lxc.signal.halt", "SIGRTMIN+" + "9" * 5000),
    ("lxc.signal.halt", "9" * 5000), ("lxc.net.0.vlan.id", "\u00b2"), ("lxc.tty.max", "\u0663"),
    ("lxc.time.offset.boot", "9" * 5000 + "s"), ("lxc.console.size", "9" * 5000),
    ("lxc.idmap", "u 0 " + "9" * 5000 + " 1"), ("lxc.cap.drop", "9" * 5000),
    ("lxc.prlimit.nofile", "9" * 5000),
])
def test_numbers_no_int_can_hold(key, value):
    """Python's int() refuses 4300 digits and more, and "²" that isdigit() calls a digit."""
    text = "lxc.net.0.type = vlan\n" if "vlan" in key else ""
    exc = refused(text + f"{key} = {value}\n", line=3 if text else 2)
    assert exc.key == key


@pytest.mark.parametrize("key,value,guess", [
    ("lxc.net.0.type", "vth", "veth"), ("lxc.net.0.type", "emtpy", "empty"),
    ("lxc.log.level", "DEBGU", "DEBUG"), ("lxc.arch", "x86-64", "x86_64"),
    ("lxc.log.syslog", "deamon", "daemon"), ("lxctools.journal.link", "try_host", "try-host"),
])
def test_other_set_members_say_what_was_meant(key, value, guess):
    exc = refused(f"{key} = {value}\n")
    assert f'(did you mean "{guess}"?)' in exc.message


def test_signal_zero_is_lxcs_unset():
    conf = read("lxc.signal.halt = SIGUSR1\nlxc.signal.halt = 0\n")
    assert not conf.has("lxc.signal.halt") and conf.get("lxc.signal.halt") == "0"
