"""Every lxc-* tool of Debian's LXC 5.0 has ours, and every long option its --help lists is
one ours accepts (LXC's help is the oracle, so a new LXC option shows up here)."""

import os
import re
import subprocess

import pytest

from conftest import SCRIPTS, ours, real_lxc
from lxcenv import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle

# What we do not ship, and why.
NOT_SHIPPED = {}


def real_tools():
    # lxc-test-*: Debian's lxc-tests package (LXC's own test programs, run against ours by
    # test_lxc_shell_tests.py), not tools
    return sorted(name for name in os.listdir("/usr/bin") if name.startswith("lxc-")
                  and not name.startswith("lxc-test-")
                  and os.path.realpath(os.path.join("/usr/bin", name)).startswith("/usr/"))


def long_options(text):
    found = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]", text))
    # LXC's lxc-start writes its four namespace options as one: --share-[net|ipc|uts|pid]
    for kinds in re.findall(r"--share-\[([a-z|]+)\]", text):
        found |= {f"--share-{kind}" for kind in kinds.split("|")}
    return found - {"--share"}


def test_every_tool_of_lxc_is_ours():
    tools = real_tools()
    assert "lxc-start" in tools and "lxc-unpriv-start" in tools
    missing = [t for t in tools if not os.path.exists(os.path.join(SCRIPTS, t))]
    assert missing == sorted(NOT_SHIPPED)


@pytest.mark.parametrize("tool", [t for t in real_tools() if t not in NOT_SHIPPED
                                  and t not in ("lxc-unpriv-start", "lxc-unpriv-attach")])
def test_each_long_option_of_lxc_is_accepted(tool):
    theirs = subprocess.run([real_lxc(tool), "--help"], capture_output=True, text=True,
                            timeout=30)
    mine = subprocess.run([ours(tool), "--help"], capture_output=True, text=True, timeout=30)
    if theirs.returncode != 0:
        # lxc-usernsexec knows -h only: both answer --help with an error and the usage
        assert mine.returncode == theirs.returncode, mine.stderr
    else:
        assert mine.returncode == 0, mine.stderr
    lacking = (long_options(theirs.stdout + theirs.stderr)
               - long_options(mine.stdout + mine.stderr))
    assert not lacking, f"{tool} lacks {sorted(lacking)}"
    if "--usage" in theirs.stdout + theirs.stderr:
        usage = subprocess.run([ours(tool), "--usage"], capture_output=True, text=True,
                               timeout=30)
        real = subprocess.run([real_lxc(tool), "--usage"], capture_output=True, text=True,
                              timeout=30)
        assert usage.returncode == real.returncode == 0
        assert usage.stdout.lower().startswith(f"usage: {tool} ")


# Failures a script meets every day: the same exit code as LXC's (ours say more).
FAILING = [
    ("lxc-start", "-n", "nosuch"), ("lxc-stop", "-n", "nosuch"), ("lxc-info", "-n", "nosuch"),
    ("lxc-attach", "-n", "nosuch", "--", "true"), ("lxc-destroy", "-n", "nosuch"),
    ("lxc-copy", "-n", "nosuch", "-N", "x"), ("lxc-snapshot", "-n", "nosuch", "-L"),
    ("lxc-freeze", "-n", "nosuch"), ("lxc-unfreeze", "-n", "nosuch"),
    ("lxc-wait", "-n", "nosuch", "-s", "RUNNING", "-t", "0"), ("lxc-console", "-n", "nosuch"),
    ("lxc-cgroup", "-n", "nosuch", "memory.usage_in_bytes"),
    ("lxc-execute", "-n", "nosuch", "--", "true"), ("lxc-create", "-n", "x"),
    ("lxc-create", "-n", "x", "-t", "nosuchtemplate"), ("lxc-start",), ("lxc-ls", "--bogus"),
    ("lxc-device", "-n", "nosuch", "add", "/dev/null"), ("lxc-info", "-n", "nosuch", "-c", "x"),
    ("lxc-checkpoint", "-n", "nosuch", "-D", "/nonexistent/ckpt"),
    ("lxc-checkpoint", "-n", "nosuch"),
]


@pytest.mark.parametrize("argv", FAILING, ids=[" ".join(a) for a in FAILING])
def test_failures_exit_as_lxc_does(world, argv):
    tool, *args = argv
    mine, theirs = world.ours(tool, *args, timeout=30), world.real(tool, *args, timeout=30)
    assert mine.returncode == theirs.returncode != 0, (mine.stderr, theirs.stderr)
    assert not os.path.exists(world.cdir("x")), "a failed create left its container"
