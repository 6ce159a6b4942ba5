"""lxc-info -c KEY for every key of the table on an (almost) empty config: the same as real
LXC 5.0.2's getters, defaults and "invalid" answers included."""

import os
import subprocess

import pytest

from conftest import ours, real_lxc, require_root
from lxctools.config import keys as K

KEYS = [row.name for row in K.KEYS if not row.family] + [
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
