"""The pty lxc-attach gives a command has the caller's terminal size from the start, as with
LXC: a command that asks at once (`stty size`, an editor, a pager) must not see 0 0 or a
failure. Through the front door (lxc-entry), through LXCTOOLS_PURE_PYTHON=1 (the Python tool,
lxc-entry), and through the Python entry path (LXCTOOLS_ENTRY=python), each beside real LXC.
Before the size went into the entry plan the relay copied it once it started, after the
command's exec, and most of these asked too early."""

import pexpect
import pytest

from conftest import ours, real_lxc
from lxcenv import SANE_PATH, busybox, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle

SIZES = [(33, 101), (7, 211), (120, 40)]


def sizes_seen(attach, lp, name, env):
    seen = []
    for rows, cols in SIZES:
        child = pexpect.spawn(attach, ["-P", lp, "-n", name, "--", "stty", "size"], env=env,
                              dimensions=(rows, cols), timeout=20)
        child.expect(pexpect.EOF)
        child.close()
        seen.append((child.before.decode().strip(), child.exitstatus))
    return seen


def test_the_command_sees_the_callers_size_at_once_as_with_lxc(world):
    busybox(world, "ts-o")
    made = world.real("lxc-create", "-n", "ts-r", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    assert world.ours("lxc-start", "-n", "ts-o").returncode == 0
    assert world.real("lxc-start", "-n", "ts-r").returncode == 0
    with open(ours("lxc-attach"), "rb") as handle:
        assert handle.read(4) == b"\x7fELF", "lxc-attach is not the compiled front door"
    wanted = [(f"{rows} {cols}", 0) for rows, cols in SIZES]
    try:
        real_env = dict(world.env, PATH=SANE_PATH, LANG="C")
        assert sizes_seen(real_lxc("lxc-attach"), world.real_lp, "ts-r", real_env) == wanted
        for extra in ({}, {"LXCTOOLS_PURE_PYTHON": "1"},
                      {"LXCTOOLS_PURE_PYTHON": "1", "LXCTOOLS_ENTRY": "python"}):
            env = dict(world.env, **extra)
            assert sizes_seen(ours("lxc-attach"), world.lp, "ts-o", env) == wanted, extra
    finally:
        world.ours("lxc-stop", "-n", "ts-o", "-k")
        world.real("lxc-stop", "-n", "ts-r", "-k")
