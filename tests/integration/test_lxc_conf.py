"""lxc.conf read as liblxc reads it (issue 19, item 7): our lxc-config against real
/usr/bin/lxc-config on the same file, byte for byte. Both run as root in a mount namespace
of their own with a tmpfs over /etc/lxc holding the case's lxc.conf (liblxc's path is
built in: LXC_GLOBAL_CONF is ours only), so both read /etc/lxc/lxc.conf."""

import os
import subprocess

import pytest

from conftest import ours, real_lxc, require_root

pytestmark = pytest.mark.root

RUN = r"""
set -e
mount -t tmpfs lxctools-conf /etc/lxc
printf '%s' "$CONF" > /etc/lxc/lxc.conf
exec "$@"
"""

ITEMS = ["lxc.lxcpath", "lxc.default_config", "lxc.bdev.lvm.vg", "lxc.bdev.lvm.thin_pool",
         "lxc.bdev.zfs.root", "lxc.cgroup.use", "lxc.cgroup.pattern"]

CASES = {
    "plain": "lxc.lxcpath = /srv/lxc\nlxc.default_config = /srv/default.conf\n"
             "lxc.bdev.lvm.vg = vg0\nlxc.bdev.lvm.thin_pool = tp\nlxc.bdev.zfs.root = tank/lxc\n"
             "lxc.cgroup.use = @kernel\nlxc.cgroup.pattern = lxc/%n\n",
    "no-blanks": "lxc.lxcpath=/srv/lxc\nlxc.bdev.lvm.vg=vg0\n",
    "leading-blanks": "  \tlxc.lxcpath = /srv/lxc\n\t lxc.cgroup.use\t=\tfreezer,memory\n",
    "hash-in-value": "lxc.lxcpath = /srv/lxc # where they live\nlxc.bdev.lvm.vg = vg#1\n",
    "comment-first-column": "# lxc.lxcpath = /a\nlxc.lxcpath = /b\n",
    "comment-indented": " # lxc.lxcpath = /a\nlxc.lxcpath = /b\n",
    "section": "[global]\nlxc.lxcpath = /srv/lxc\n[other]\nlxc.bdev.lvm.vg = vg0\n",
    "first-wins": "lxc.lxcpath = /a\nlxc.lxcpath = /b\nlxc.bdev.lvm.vg = x\nlxc.bdev.lvm.vg = y\n",
    "quotes": 'lxc.lxcpath = "/srv/lxc"\nlxc.bdev.lvm.vg = \'vg0\'\n',
    "trailing-slashes": "lxc.lxcpath = /srv/lxc///\nlxc.default_config = /srv/d.conf/\n",
    "root-only": "lxc.lxcpath = /\n",
    "empty-then-value": "lxc.lxcpath =\nlxc.lxcpath = /b\nlxc.bdev.lvm.vg =   \nlxc.bdev.lvm.vg = y\n",
    "empty-at-eof": "lxc.bdev.lvm.vg = y\nlxc.lxcpath = ",
    "trailing-blanks": "lxc.lxcpath = /srv/lxc  \t\nlxc.bdev.lvm.vg = vg0 \n",
    "longer-key": "lxc.lxcpathx = /a\nlxc.lxcpath.more = /b\nlxc.cgroup.used = c\n",
    "no-equals": "lxc.lxcpath /a\nlxc.bdev.lvm.vg: vg0\n",
    "crlf": "lxc.lxcpath = /srv/lxc\r\nlxc.bdev.lvm.vg = vg0\r\n",
    "equals-in-value": "lxc.cgroup.use = a=b\nlxc.bdev.zfs.root = x = y\n",
    "key-after-text": "set lxc.lxcpath = /a\nlxc.default_config = lxc.lxcpath = /b\n",
    "key-inside-another": "lxc.bdev.lvm.thin_pool = lxc.bdev.lvm.vg = q\nlxc.bdev.lvm.vg = r\n",
    "no-newline-at-eof": "lxc.lxcpath = /srv/lxc",
    "not-utf8": "lxc.bdev.lvm.vg = v\xe9g\n",
    "unknown-keys": "lxc.foo = bar\nlxc.lxcpath = /srv/lxc\nnonsense line\n=\n",
    "empty-file": "",
}


def lxc_config(tool, conf, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LXC_", "LXCTOOLS_"))}
    env.update(CONF=conf, LANG="C")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", RUN,
                           "conf", tool, *args], capture_output=True, env=env, timeout=60)
    return done.returncode, done.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_lxc_config_reads_lxc_conf_as_liblxc(case):
    require_root()
    conf = CASES[case]
    for item in ITEMS:
        assert lxc_config(ours("lxc-config"), conf, item) == \
            lxc_config(real_lxc("lxc-config"), conf, item), (case, item)


@pytest.mark.parametrize("args", [["lxc.l"], ["lxc.bdev"], ["lxc.cgroup.u"], ["lxc.cgroup"],
                                  ["-l"], ["lxc.nope"], ["-"], ["--he"]])
def test_lxc_config_prefixes_and_unset_items_as_lxc(args):
    require_root()
    conf = "lxc.bdev.lvm.vg = vg0\n"
    got, want = (lxc_config(tool, conf, *args)
                 for tool in (ours("lxc-config"), real_lxc("lxc-config")))
    if args[0] in ("-", "--he"):
        # the usage: LXC's names the program as called and has no --keys line
        assert got[0] == want[0] == 0 and b"-l: list all available" in got[1]
    else:
        assert got == want


def test_our_tools_use_the_lxcpath_liblxc_reads(tmp_path):
    """Not only lxc-config: the lxcpath every tool defaults to is the one liblxc reads (a
    comment after the path is part of it, as for real LXC)."""
    require_root()
    conf = f"[x]\nlxc.lxcpath = {tmp_path}/lp\nlxc.lxcpath = /elsewhere\n"
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", RUN, "conf",
         ours("lxc-create"), "-n", "conf-c", "-t", "none"],
        capture_output=True, text=True, timeout=60,
        env=dict({k: v for k, v in os.environ.items() if not k.startswith("LXC_")}, CONF=conf))
    assert done.returncode == 0, done.stderr
    assert os.path.exists(f"{tmp_path}/lp/conf-c/config")
