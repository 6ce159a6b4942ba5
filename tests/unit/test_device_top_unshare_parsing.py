"""lxc-device, lxc-top and lxc-unshare: the pure parts (words, sizes, rows, order, namespace
names, LXC's refusals)."""

import os
import types

import pytest

from lxctools.cli import device, top, unshare as unshare_cli
from lxctools.errors import LxcError
from lxctools.kernel import libc
from lxctools.spawn import unshare
from lxctools.cgroups import stats


# -- lxc-device -------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, name, words", [
    (["-n", "c1", "add", "/dev/loop-control"], "c1", ["add", "/dev/loop-control"]),
    (["-n", "c1", "--", "del", "eth0", "eth1"], "c1", ["del", "eth0", "eth1"]),
    (["c1", "a", "/dev/null", "/dev/x"], "c1", ["a", "/dev/null", "/dev/x"]),
    (["-P", "/tmp/lp/", "c1", "add"], "c1", ["add"]),
])
def test_device_words(argv, name, words):
    args, found = device.words_of(device.build_parser(), argv)
    assert (args.name, found) == (name, words)


def test_device_command_prefixes_as_lxc():
    assert all("add".startswith(w) for w in ("", "a", "ad", "add"))
    assert all("del".startswith(w) for w in ("d", "de", "del"))
    assert not any("add".startswith(w) or "del".startswith(w) for w in ("x", "adds", "delete"))


def test_device_cgroup_rule():
    from lxctools.attach.device import cgroup_rule
    import stat
    assert cgroup_rule(stat.S_IFCHR | 0o600, os.makedev(10, 237)) == "c 10:237 rwm"
    assert cgroup_rule(stat.S_IFBLK | 0o660, os.makedev(7, 0)) == "b 7:0 rwm"


def test_device_host_node_refuses_files(tmp_path):
    from lxctools.attach.device import DeviceError, host_node
    plain = tmp_path / "f"
    plain.write_text("")
    with pytest.raises(DeviceError, match="is not a device node"):
        host_node(str(plain))
    with pytest.raises(DeviceError, match="No such file"):
        host_node(str(tmp_path / "missing"))
    assert host_node("/dev/null").st_rdev == os.makedev(1, 3)


def test_device_interface_names():
    from lxctools.attach.device import is_interface
    # paths and names longer than IFNAMSIZ are never interfaces (no netlink asked)
    assert not is_interface("/dev/null")
    assert not is_interface("x" * 16)
    assert not is_interface("")


# -- lxc-top ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value, text", [
    (0, "  0.00   "), (1024, "1024.00   "), (1025, "1.00 KiB"), (589824, "576.00 KiB"),
    (1205862, "1.15 MiB"), ((1 << 20) + 1, "1.00 MiB"),
    (3 * (1 << 30) + (1 << 29), "3.49 GiB"),  # LXC truncates hundredths of a GiB
])
def test_top_sizes_as_lxc(value, text):
    assert top.size_humanize(value) == text


def figures(**values):
    return {key: values.get(key, 0) for key in top.FIGURES}


ROWS = [("b", figures(cpu_ns=5, memory_bytes=10)), ("a", figures(cpu_ns=9, memory_bytes=1)),
        ("c", figures(cpu_ns=1, memory_bytes=30))]


@pytest.mark.parametrize("key, reverse, order", [
    ("n", False, "abc"), ("n", True, "cba"), ("c", False, "abc"), ("c", True, "cba"),
    ("m", False, "cba"), ("m", True, "abc"), ("?", False, "abc"),
])
def test_top_order(key, reverse, order):
    assert "".join(n for n, _ in top.ordered(ROWS, key, reverse)) == order


def test_top_csv_row():
    row = top.csv_row("c1", figures(cpu_ns=7, cpu_sys_hz=2, cpu_user_hz=3, blkio_bytes=4,
                                    blkio_iops=5, memory_bytes=6, memsw_bytes=8, kmem_bytes=9),
                      1234)
    assert row == "1234,c1,7,2,3,4,5,6,8,9"
    assert len(row.split(",")) == len(top.CSV_HEADER.split(","))


def test_top_screen():
    rows = [("a-very-long-container-name", figures(cpu_ns=1500000000, cpu_sys_hz=250,
                                                    memory_bytes=2048, kmem_bytes=1025))]
    text = top.screen(rows, "n", False, 25)
    assert text.startswith(top.CLEAR + top.REVERSE + top.BOLD + "Container ")
    lines = text.split("\n")
    assert lines[0].endswith(" KMem") and "MemSw" not in lines[0]  # only figures in use
    assert lines[2].startswith(top.NORMAL)  # the header's attributes end before the rows
    row = lines[2][len(top.NORMAL):]
    assert row.startswith("a-very-long-contai ")  # %-18.18s
    assert "        1.50         2.50         0.00" in row
    assert row.endswith(" " * 3 + "2.00 KiB" + " " * 3 + "1.00 KiB")  # %10s each
    assert lines[3].startswith("TOTAL 1 of 1")
    assert not text.endswith("\n")  # the TOTAL row ends the screen, as LXC's
    # a small terminal shows what fits and says how many there are
    many = [(f"c{i}", figures()) for i in range(10)]
    assert "TOTAL 2 of 10" in top.screen(many, "n", False, 5)


def test_top_options():
    args = top.build_parser().parse_args(["-P", "/a", "-P", "/b", "-b", "-s", "mem", "-r",
                                          "-d", "0.5", "--iterations", "2"])
    assert (args.lxcpaths, args.batch, args.sort[:1], args.reverse, args.delay,
            args.iterations) == (["/a", "/b"], True, "m", True, 0.5, 2)


def test_stats_figures_for_top(tmp_path):
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "cpuacct.usage").write_text("123\n")
    (v1 / "cpuacct.stat").write_text("user 7\nsystem 3\n")
    (v1 / "blkio.throttle.io_service_bytes").write_text(
        "8:0 Read 100\n8:0 Write 20\n8:0 Sync 0\n8:0 Async 120\n8:0 Total 120\nTotal 120\n")
    (v1 / "blkio.throttle.io_serviced").write_text("8:0 Read 4\n8:0 Write 1\n8:0 Total 5\n"
                                                   "Total 5\n")
    placed = types.SimpleNamespace(h=types.SimpleNamespace(version=1), limit=str(v1))
    cg = types.SimpleNamespace(layout="hybrid", hierarchy_for=lambda c: placed)
    out = stats.collect(cg)
    assert (out["cpu_ns"], out["cpu_user_hz"], out["cpu_sys_hz"], out["blkio_bytes"],
            out["blkio_read_bytes"], out["blkio_write_bytes"], out["blkio_iops"]) == \
        (123, 7, 3, 120, 100, 20, 5)
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.stat").write_text("usage_usec 50000\nuser_usec 30000\nsystem_usec 20000\n")
    (v2 / "io.stat").write_text("8:0 rbytes=10 wbytes=5 rios=2 wios=1 dbytes=0 dios=0\n")
    unified = types.SimpleNamespace(limit=str(v2))
    cg2 = types.SimpleNamespace(layout="unified", unified=lambda: unified)
    out = stats.collect(cg2)
    assert (out["cpu_ns"], out["cpu_user_hz"], out["cpu_sys_hz"], out["blkio_bytes"],
            out["blkio_iops"]) == (50000000, 3, 2, 15, 3)


# -- lxc-unshare ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, flags", [
    ("MOUNT", libc.CLONE_NEWNS), ("UTSNAME|NETWORK", libc.CLONE_NEWUTS | libc.CLONE_NEWNET),
    ("pid|Ipc|USER", libc.CLONE_NEWPID | libc.CLONE_NEWIPC | libc.CLONE_NEWUSER),
    ("mnt|cgroup|time", libc.CLONE_NEWNS | libc.CLONE_NEWCGROUP | libc.CLONE_NEWTIME),
])
def test_unshare_namespace_names(text, flags):
    assert unshare.namespace_flags(text) == flags


@pytest.mark.parametrize("text", ["FOO", "MOUNT|", "mount", "network", "PID,IPC"])
def test_unshare_bad_namespace_names(text):
    with pytest.raises(LxcError, match="invalid namespace name"):
        unshare.namespace_flags(text)


@pytest.mark.parametrize("text", ["MOUNT|PID", "mnt|Uts|NET", "USER|IPC|CGROUP|TIME", "FOO",
                                  "mount", "PID|", "NETWORK|network"])
def test_unshare_names_as_lxc_attach(text):
    """lxc-unshare reads -s with lxc-attach's rule (its own copy, to stay light)."""
    from lxctools.attach.attach import parse_namespaces
    try:
        expected = sum({libc.NAMESPACE_FLAGS[n] for n in parse_namespaces(text)})
    except LxcError:
        expected = None
    try:
        found = unshare.namespace_flags(text)
    except LxcError:
        found = None
    assert found == expected


def test_unshare_users():
    assert unshare.lookup_user("0") == 0
    assert unshare.lookup_user("root") == 0
    assert unshare.lookup_user("0abc") == 0  # LXC's sscanf("%u") reads the digits
    with pytest.raises(LxcError, match='Invalid username "dv-nobody-here"'):
        unshare.lookup_user("dv-nobody-here")


@pytest.mark.parametrize("kwargs, message", [
    ({"flags": libc.CLONE_NEWPID, "command": []},
     "A command to execute in the new namespace is required"),
    ({"flags": 0, "command": ["true"]}, "A namespace to execute command is required"),
    ({"flags": libc.CLONE_NEWPID, "command": ["true"], "ifnames": ["eth0"]},
     "-i <interfacename> needs -s NETWORK option"),
    ({"flags": libc.CLONE_NEWPID, "command": ["true"], "hostname": "h"},
     "-H <hostname> needs -s UTSNAME option"),
    ({"flags": libc.CLONE_NEWPID, "command": ["true"], "remount": True},
     "-M needs -s MOUNT option"),
])
def test_unshare_refusals(kwargs, message):
    with pytest.raises(LxcError) as caught:
        unshare.Options(**kwargs).check()
    assert caught.value.message == message


def test_unshare_command_words():
    parser = unshare_cli.build_parser()
    args = parser.parse_args(["-s", "PID", "-i", "a", "-i", "b", "ls", "-l", "/"])
    assert (args.namespaces, args.ifname, args.command) == ("PID", ["a", "b"], ["ls", "-l", "/"])
