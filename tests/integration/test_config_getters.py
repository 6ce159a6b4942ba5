"""lxc-info -c KEY for every key of the table on an (almost) empty config: the same as real
LXC 5.0.2's getters, defaults and "invalid" answers included."""

import os
import subprocess

import pytest

from conftest import ours, real_lxc, require_root
from lxctools.config import keys as K

KEYS = [row.name for row in K.KEYS if not row.family and row.name.startswith("lxc.")] + [
    "lxc.net.0.type", "lxc.net.0.flags", "lxc.net.0.name", "lxc.net.0.mtu", "lxc.net.0.link"]


@pytest.fixture(scope="module")
def lxcpath(tmp_path_factory):
    require_root()
    root = tmp_path_factory.mktemp("getters")
    conf = root / "empty.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    lp = root / "lp"
    made = subprocess.run([real_lxc("lxc-create"), "-P", str(lp), "-n", "g1", "-t", "none",
                           "-f", str(conf)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    return str(lp)


def test_every_getter_matches_real_lxc(lxcpath):
    differ = []
    for key in KEYS:
        real = subprocess.run([real_lxc("lxc-info"), "-P", lxcpath, "-n", "g1", "-c", key],
                              capture_output=True, text=True)
        mine = subprocess.run([ours("lxc-info"), "-P", lxcpath, "-n", "g1", "-c", key],
                              capture_output=True, text=True)
        if (real.stdout, bool(real.stderr.strip())) != (mine.stdout, bool(mine.stderr.strip())):
            differ.append((key, real.stdout, real.stderr, mine.stdout, mine.stderr))
    assert differ == []


SHIPPED = "/usr/share/lxc/config"


def test_lxcs_shipped_configs_read_the_same(tmp_path):
    """Every config LXC ships (common.conf, the distribution and userns files, nesting...),
    included by a container: every key reads back as liblxc reads it."""
    require_root()
    keys = [k for k in KEYS if k not in ("lxc.include", "lxc.environment.runtime",
                                         "lxc.environment.hooks")]
    keys += ["lxc.cgroup", "lxc.cgroup2", "lxc.hook", "lxc.sysctl", "lxc.prlimit", "lxc.proc"]
    files = sorted(f for f in os.listdir(SHIPPED) if f.endswith(".conf"))
    assert len(files) > 20, "Debian's lxc package ships these"
    lp = tmp_path / "lp"
    differ = {}
    for index, name in enumerate(files):
        cdir = lp / f"s{index}"
        cdir.mkdir(parents=True)
        (cdir / "config").write_text(f"lxc.net.0.type = empty\nlxc.include = {SHIPPED}/{name}\n"
                                     f"lxc.rootfs.path = dir:{cdir}/rootfs\n")
        args = [a for k in keys for a in ("-c", k)]
        real = subprocess.run([real_lxc("lxc-info"), "-P", str(lp), "-n", f"s{index}", *args],
                              capture_output=True, text=True,
                              env=dict(os.environ, LXC_GLOBAL_CONF="/dev/null"))
        mine = subprocess.run([ours("lxc-info"), "-P", str(lp), "-n", f"s{index}", *args],
                              capture_output=True, text=True)
        if real.stdout != mine.stdout:
            differ[name] = (real.stdout, mine.stdout)
    assert not differ, sorted(differ)
