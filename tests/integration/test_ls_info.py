"""lxc-ls and lxc-info on stopped containers, compared with real /usr/bin/lxc-ls and lxc-info
reading the very same lxcpath (real LXC lists containers we create)."""

import json
import os
import shlex
import subprocess

import pytest

from conftest import ours, real_lxc
from lxcenv import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle


@pytest.fixture
def populated(world):
    for name in ("crt-a", "crt-b1", "crt-c", "crt-longername-x"):
        assert world.ours("lxc-create", "-n", name, "-t", "none").returncode == 0
    assert world.ours("lxc-create", "-n", "crt-bb", "-t", "busybox").returncode == 0
    with open(os.path.join(world.cdir("crt-a"), "config"), "a") as handle:
        handle.write("lxc.group = web\nlxc.group = db\nlxc.start.auto = 1\n"
                     "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n")
    with open(os.path.join(world.cdir("crt-c"), "config"), "a") as handle:
        handle.write("lxc.group = web\n")
    os.makedirs(os.path.join(world.lp, ".hidden"))
    os.makedirs(os.path.join(world.lp, "crt-noconfig"))
    return world


def both(world, tool, *args):
    mine = world.ours(tool, *args)
    theirs = world.real(tool, *args, lxcpath=world.lp)
    return mine, theirs


@pytest.mark.parametrize("args", [
    [], ["-1"], ["-f"], ["-F", "NAME,STATE,AUTOSTART,GROUPS"], ["-f", "-F", "NAME,STATE,AUTOSTART,GROUPS"],
    ["-f", "-F", "name,pid,ram,swap,interface,unprivileged"], ["-g", "web"], ["-g", "web,db", "-f"],
    ["-g", "we"], ["crt-(a|c)"], ["--filter", "b"], ["-1", "a", "b"], ["--stopped", "-f"],
    ["--running"], ["--active"], ["--frozen", "-1"], ["--defined", "-1"], ["-f", "nomatch"],
])
def test_ls_matches_real_lxc(populated, args):
    mine, theirs = both(populated, "lxc-ls", *args)
    assert theirs.returncode == 0
    assert (mine.returncode, mine.stdout) == (theirs.returncode, theirs.stdout)


def test_ls_invalid_fancy_column_like_lxc(populated):
    mine, theirs = both(populated, "lxc-ls", "-f", "-F", "NAME,BAD")
    assert (mine.returncode, mine.stdout, mine.stderr) == (0, "", "Invalid key: BAD\n")
    assert (theirs.returncode, theirs.stdout) == (0, "")
    assert "Invalid key: BAD" in theirs.stderr


def _on_tty(cmd, cols):
    script = f"stty cols {cols}; {shlex.join(cmd)}"
    proc = subprocess.run(["script", "-qec", script, "/dev/null"], capture_output=True, text=True,
                          timeout=60)
    return proc.stdout.replace("\r\n", "\n")


@pytest.mark.parametrize("cols", [60, 34, 17])
def test_ls_columns_on_a_terminal_like_lxc(populated, cols):
    for i in range(8):
        assert populated.ours("lxc-create", "-n", f"crt-t{i}", "-t", "none").returncode == 0
    mine = _on_tty(["env", f"LXC_GLOBAL_CONF={populated.lxc_conf}", ours("lxc-ls"), "-P", populated.lp], cols)
    theirs = _on_tty([real_lxc("lxc-ls"), "-P", populated.lp], cols)
    assert mine == theirs
    assert len(mine.splitlines()) < 13 or cols < 34


def test_ls_json(populated):
    proc = populated.ours("lxc-ls", "--format", "json")
    data = json.loads(proc.stdout)
    assert [d["name"] for d in data] == ["crt-a", "crt-b1", "crt-bb", "crt-c", "crt-longername-x"]
    a = data[0]
    assert a["groups"] == ["web", "db"] and a["autostart"] is True and a["unprivileged"] is True
    assert a["state"] == "STOPPED" and a["pid"] is None


def test_ls_empty_or_missing_lxcpath_prints_nothing(world):
    for path in (world.lp, os.path.join(world.root, "nonexistent")):
        proc = world.ours("lxc-ls", "-f", lxcpath=path)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_ls_follows_includes_through_the_engine(world):
    inc = os.path.join(world.root, "groups.conf")
    with open(inc, "w") as handle:
        handle.write("lxc.group = included\nlxc.start.auto = 1\n")
    assert world.ours("lxc-create", "-n", "crt-inc", "-t", "none").returncode == 0
    with open(os.path.join(world.cdir("crt-inc"), "config"), "a") as handle:
        handle.write(f"lxc.include = {inc}\n")
    mine, theirs = both(world, "lxc-ls", "-f", "-F", "NAME,AUTOSTART,GROUPS")
    assert mine.stdout == theirs.stdout
    assert "included" in mine.stdout


def test_ls_bad_regex_is_an_error(world):
    proc = world.ours("lxc-ls", "--filter", "[")
    assert proc.returncode == 1 and "invalid regular expression" in proc.stderr


@pytest.mark.parametrize("args", [
    [], ["-s"], ["-s", "-H"], ["-p"], ["-i"], ["-S"], ["-p", "-H"], ["-s", "-p", "-H"], ["-H"],
    ["-c", "lxc.rootfs.path"], ["-c", "lxc.rootfs.path", "-H"],
    ["-c", "lxc.rootfs.path", "-c", "lxc.uts.name", "-H"],
    ["-c", "lxc.mount.entry", "-c", "lxc.cap.drop", "-c", "lxc.tty.max"],
    ["-c", "lxc.mount.entry", "-H"], ["-c", "lxc.init.cmd"], ["-c", "lxc.init.cmd", "-H"],
    ["-s", "-c", "lxc.uts.name", "-H"], ["-c", "lxc.uts.name", "-c", "lxc.uts.name"],
    ["-c", "lxc.signal.halt"], ["-c", "lxc.net.0.type"],
])
def test_info_matches_real_lxc(populated, args):
    mine, theirs = both(populated, "lxc-info", "-n", "crt-bb", *args)
    assert theirs.returncode == 0, theirs.stderr
    assert (mine.returncode, mine.stdout, mine.stderr) == (0, theirs.stdout, theirs.stderr)


def test_info_unknown_key_and_missing_container(populated):
    mine, theirs = both(populated, "lxc-info", "-n", "crt-bb", "-c", "lxc.bogus", "-c", "lxc.uts.name")
    assert (mine.returncode, mine.stdout) == (theirs.returncode, theirs.stdout) == (0, 'lxc.uts.name = crt-bb\n')
    assert mine.stderr == theirs.stderr == "lxc.bogus invalid\n"
    mine, theirs = both(populated, "lxc-info", "-n", "crt-nosuch")
    assert mine.returncode == theirs.returncode == 1
    assert "crt-nosuch doesn't exist" in mine.stderr and "crt-nosuch doesn't exist" in theirs.stderr


def test_info_list_values_and_groups_like_lxc(populated):
    mine, theirs = both(populated, "lxc-info", "-n", "crt-a", "-c", "lxc.group", "-c", "lxc.idmap",
                        "-c", "lxc.start.auto")
    assert mine.stdout == theirs.stdout


def test_info_json(populated):
    proc = populated.ours("lxc-info", "-n", "crt-bb", "--format", "json", "-c", "lxc.uts.name",
                          "-c", "lxc.bogus")
    assert json.loads(proc.stdout) == {"config": {"lxc.uts.name": "crt-bb", "lxc.bogus": None}}
    proc = populated.ours("lxc-info", "-n", "crt-bb", "--format", "json")
    assert json.loads(proc.stdout) == {"name": "crt-bb", "state": "STOPPED"}


def test_info_broken_config_names_file_and_line(world):
    assert world.ours("lxc-create", "-n", "crt-broken", "-t", "none").returncode == 0
    with open(os.path.join(world.cdir("crt-broken"), "config"), "a") as handle:
        handle.write("lxc.tty.max = lots\n")
    proc = world.ours("lxc-info", "-n", "crt-broken", "-c", "lxc.tty.max")
    assert proc.returncode == 1
    assert "config:2:" in proc.stderr and "lxc.tty.max" in proc.stderr
