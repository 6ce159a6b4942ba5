"""The config engine: every key in the table parses, renders and clears; syntax; includes;
legacy keys; errors that name the file, line and a fix; saving keeps comments and order."""

import os

import pytest

from lxctools.config import keys as K
from lxctools.config.document import ConfigDocument
from lxctools.config.model import Conf
from lxctools.config.parser import load, loads
from lxctools.errors import ConfigError


def concrete_examples():
    for row in K.KEYS:
        if row.name in ("lxc.include", "lxc.net"):
            continue
        for example in row.examples:
            name = row.name
            if row.family:
                name = {"lxc.cgroup2": "lxc.cgroup2.memory.max", "lxc.cgroup": "lxc.cgroup.memory.limit_in_bytes",
                        "lxc.sysctl": "lxc.sysctl.net.ipv4.ip_forward", "lxc.proc": "lxc.proc.oom_score_adj",
                        "lxc.prlimit": "lxc.prlimit.nofile", "lxc.namespace.share": "lxc.namespace.share.net"}[name]
            yield name, example
    for row in K.NET_KEYS:
        for example in row.examples:
            yield f"lxc.net.0.{row.name}", example


@pytest.mark.parametrize("key,example", list(concrete_examples()))
def test_every_key_parses_renders_and_clears(key, example):
    from lxctools.config.model import GETTER_DEFAULTS, NO_GETTER

    conf = Conf()
    row = K.lookup(key)
    if row.net_types:
        conf.apply("lxc.net.0.type", row.net_types[0])
    conf.apply(key, example)
    if key in NO_GETTER:
        # liblxc has no getter for these: lxc-info -c says "invalid"; the value is stored
        assert conf.value(key)
        with pytest.raises(ConfigError):
            conf.get(key)
        return
    assert conf.get(key) != ""
    again = Conf()
    if row.net_types:
        again.apply("lxc.net.0.type", row.net_types[0])
    for line in conf.get(key).split("\n"):
        again.apply(key, line)
    assert again.get(key) == conf.get(key)
    if not row.empty_is_error:
        conf.apply(key, "")
        assert conf.get(key) == GETTER_DEFAULTS.get(key, "")


def test_every_row_has_an_example_or_is_structural():
    missing = [k.name for k in K.KEYS if not k.examples and k.name not in ("lxc.include", "lxc.net")]
    assert missing == []


@pytest.mark.parametrize("key,value,expected", [
    ("lxc.signal.halt", "SIGPWR", "30"),
    ("lxc.signal.halt", "sigrtmin+3", "37"),
    ("lxc.signal.stop", "9", "9"),
    ("lxc.log.level", "debug", "DEBUG"),
    ("lxc.mount.auto", "proc sys cgroup", "proc:mixed sys:mixed cgroup"),
])
def test_getter_formats(key, value, expected):
    conf = Conf()
    conf.apply(key, value)
    assert conf.get(key) == expected


@pytest.mark.parametrize("key,value,needle", [
    ("lxc.signal.halt", "PWR", "SIGPWR"),
    ("lxc.ephemeral", "yes", "0 or 1"),
    ("lxc.idmap", "u 0 100000", "u|g NSID HOSTID RANGE"),
    ("lxc.mount.auto", "proc:bogus", "proc[:mixed|rw]"),
    ("lxc.arch", "z80", "unknown architecture"),
    ("lxc.net.0.ipv4.address", "10.0.0.300/24", "A.B.C.D"),
    ("lxc.tty.max", "-1", "unsigned integer"),
])
def test_invalid_values_name_the_expected_format(key, value, needle):
    with pytest.raises(ConfigError) as err:
        Conf().apply(key, value)
    assert needle in str(err.value)
    assert err.value.key == key


def test_syntax_comments_quotes_and_non_lxc_lines():
    conf = loads('# comment\n  lxc.uts.name = "quoted"\nfoo = bar\n\nlxc.init.cmd = /bin/sh # not a comment\n')
    assert conf.get("lxc.uts.name") == "quoted"
    assert conf.get("lxc.init.cmd") == "/bin/sh # not a comment"


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    path = tmp_path / "config"
    path.write_text("lxc.net.0.type = veth\nlxc.net.0.lnk = br0\n")
    with pytest.raises(ConfigError) as err:
        load(str(path))
    assert str(err.value) == f'{path}:2: unknown key "lxc.net.0.lnk" (did you mean "lxc.net.0.link"?)'


def test_line_without_equals_is_named(tmp_path):
    path = tmp_path / "config"
    path.write_text("lxc.uts.name = a\nlxc.tty.max 4\n")
    with pytest.raises(ConfigError) as err:
        load(str(path))
    assert err.value.line == 2 and "lxc.tty.max 4" in err.value.message


def test_empty_value_clears_lists_and_families():
    conf = loads("lxc.cap.drop = sys_admin mknod\nlxc.cap.drop =\nlxc.cap.drop = sys_time\n"
                 "lxc.net.0.type = veth\nlxc.net.0.link = br0\nlxc.net.1.type = empty\nlxc.net.0 =\n"
                 "lxc.cgroup2.memory.max = 1G\nlxc.cgroup2.pids.max = 10\nlxc.cgroup2.memory =\n")
    assert conf.get("lxc.cap.drop") == "sys_time"
    assert conf.nic_indices() == [1]
    assert conf.family("lxc.cgroup2") == [("pids.max", "10")]


def test_cap_drop_and_keep_are_exclusive():
    with pytest.raises(ConfigError, match="cannot be used together"):
        loads("lxc.cap.drop = sys_admin\nlxc.cap.keep = mknod\n")


def test_net_type_specific_keys_are_checked():
    with pytest.raises(ConfigError, match="only applies to"):
        loads("lxc.net.0.type = veth\nlxc.net.0.macvlan.mode = bridge\n")


def test_include_file_and_directory(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.conf").write_text("lxc.tty.max = 2\n")
    (tmp_path / "d" / "a.conf").write_text("lxc.tty.max = 1\nlxc.uts.name = fromdir\n")
    (tmp_path / "d" / "x.txt").write_text("lxc.bogus = 1\n")
    (tmp_path / "inc").write_text("lxc.pty.max = 7\n")
    main = tmp_path / "config"
    main.write_text(f"lxc.include = {tmp_path}/inc\nlxc.include = {tmp_path}/d/\nlxc.include = {tmp_path}/none/\n")
    conf = load(str(main))
    assert conf.get("lxc.pty.max") == "7"
    assert conf.get("lxc.tty.max") == "2"
    assert conf.get("lxc.uts.name") == "fromdir"


def test_missing_include_names_the_including_line(tmp_path):
    main = tmp_path / "config"
    main.write_text("lxc.uts.name = a\nlxc.include = /nonexistent/file.conf\n")
    with pytest.raises(ConfigError) as err:
        load(str(main))
    assert err.value.path == str(main) and err.value.line == 2
    assert "/nonexistent/file.conf" in err.value.message


def test_legacy_keys_read_with_a_warning():
    warnings = []
    conf = loads("lxc.utsname = old\nlxc.network.type = veth\nlxc.network.link = br0\n"
                 "lxc.network.ipv4 = 10.0.0.2/24\nlxc.id_map = u 0 100000 65536\n", warn=warnings.append)
    assert conf.get("lxc.uts.name") == "old"
    assert conf.get("lxc.net.0.link") == "br0"
    assert conf.get("lxc.net.0.ipv4.address") == "10.0.0.2/24"
    assert conf.get("lxc.idmap") == "u 0 100000 65536"
    assert any('use "lxc.uts.name"' in w for w in warnings)


def test_hwaddr_is_randomised_once_and_saved(tmp_path):
    path = tmp_path / "config"
    path.write_text("# keep me\nlxc.net.0.type = veth\nlxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n")
    doc = ConfigDocument.read(str(path))
    mac = doc.get_item("lxc.net.0.hwaddr")
    assert mac.startswith("00:16:3e:") and "x" not in mac
    doc.save()
    again = ConfigDocument.read(str(path))
    assert again.get_item("lxc.net.0.hwaddr") == mac
    assert path.read_text().startswith("# keep me\n")


def test_set_and_clear_item_keep_comments_and_order(tmp_path):
    path = tmp_path / "config"
    path.write_text("# header\nlxc.uts.name = a\n# middle\nlxc.cap.drop = mknod\nunrelated = 1\n")
    doc = ConfigDocument.read(str(path))
    doc.set_item("lxc.uts.name", "b")
    doc.clear_item("lxc.cap.drop")
    doc.save()
    assert path.read_text() == "# header\nlxc.uts.name = a\n# middle\nunrelated = 1\nlxc.uts.name = b\n"
    assert oct(os.stat(path).st_mode & 0o777) == "0o660"


def test_failed_set_changes_nothing(tmp_path):
    path = tmp_path / "config"
    path.write_text("lxc.uts.name = a\n")
    doc = ConfigDocument.read(str(path))
    with pytest.raises(ConfigError):
        doc.set_item("lxc.tty.max", "many")
    doc.save()
    assert path.read_text() == "lxc.uts.name = a\n"


def test_suggest_keeps_the_nic_index():
    assert K.suggest("lxc.net.3.lnik") == "lxc.net.3.link"
    assert K.suggest("lxc.ut.name") == "lxc.uts.name"
