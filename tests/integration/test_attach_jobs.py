"""Ctrl-Z and fg with lxc-attach (issue 21 item 4), through the compiled front door and
through LXCTOOLS_PURE_PYTHON=1, side by side with real LXC:
- an interactive attach: the shell inside has the pty as its controlling terminal, so ^Z
  stops its foreground job, fg brings it back, ^C ends it there;
- lxc-attach itself as a job of a host shell (no terminal for the command): ^Z stops the
  tool and what it runs, fg resumes it, and it ends with the command's status."""

import time

import pexpect
import pytest

from conftest import ours, real_lxc
from lxcenv import SANE_PATH, busybox, stop_and_resume, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle


def inside(attach, lp, name, env):
    shown = {}
    child = pexpect.spawn(attach, ["-P", lp, "-n", name, "--", "/bin/sh"], env=env,
                          encoding="utf-8", timeout=20)
    try:
        child.send("PS1='P''# '\r")
        child.expect("P# ")
        shown.update(stop_and_resume(child, "P# "))
        child.send("exit 7\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    shown["exit"] = child.exitstatus
    return shown


def as_a_job(attach, lp, name, env):
    """lxc-attach run by an interactive bash on a terminal, its own stdio not one."""
    shown = {}
    child = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], env=dict(env, PS1="H$ "),
                          encoding="utf-8", timeout=20)
    try:
        child.expect_exact("H$ ")
        child.send(f"{attach} -P {lp} -n {name} -- sh -c 'sleep 2; exit 5' "
                   "</dev/null >/dev/null 2>&1\r")
        time.sleep(0.7)
        child.send("\x1a")
        shown["stopped"] = child.expect(["Stopped", r"H\$ "]) == 0
        child.expect_exact("H$ ")
        child.send("fg >/dev/null; echo status-$?\r")
        child.expect(r"status-(\d+)")
        shown["status"] = child.match.group(1)
        child.expect_exact("H$ ")
        child.send("exit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return shown


WANTED_INSIDE = {"stopped": True, "status after fg and ^C": "130", "jobs left": False,
                 "exit": 7}
WANTED_JOB = {"stopped": True, "status": "5"}


@pytest.mark.parametrize("path", ["front door", "python"])
def test_ctrl_z_and_fg_as_with_lxc(world, path):
    busybox(world, "aj-o")
    made = world.real("lxc-create", "-n", "aj-r", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    assert world.ours("lxc-start", "-n", "aj-o").returncode == 0
    assert world.real("lxc-start", "-n", "aj-r").returncode == 0
    env = dict(world.env)
    with open(ours("lxc-attach"), "rb") as handle:
        assert handle.read(4) == b"\x7fELF", "lxc-attach is not the compiled front door"
    if path == "python":
        env["LXCTOOLS_PURE_PYTHON"] = "1"
    real_env = dict(world.env, PATH=SANE_PATH, LANG="C")
    try:
        assert inside(real_lxc("lxc-attach"), world.real_lp, "aj-r", real_env) == WANTED_INSIDE
        assert inside(ours("lxc-attach"), world.lp, "aj-o", env) == WANTED_INSIDE
        assert as_a_job(real_lxc("lxc-attach"), world.real_lp, "aj-r", real_env) == WANTED_JOB
        assert as_a_job(ours("lxc-attach"), world.lp, "aj-o", env) == WANTED_JOB
    finally:
        world.ours("lxc-stop", "-n", "aj-o", "-k")
        world.real("lxc-stop", "-n", "aj-r", "-k")
