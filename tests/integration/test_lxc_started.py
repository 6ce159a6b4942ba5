"""Containers that real LXC started, in the lxcpath our tools use: a user who switches with
containers running (started before, or by lxc.service at boot) sees them running, cannot
start a second init on the same rootfs, and can wait for, enter and stop them with ours."""

import os

import pytest

from lxcenv import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle


def test_ours_see_wait_for_enter_and_stop_what_lxc_started(world):
    lp = world.lp
    made = world.real("lxc-create", "-n", "ls-r", "-t", "busybox", lxcpath=lp)
    assert made.returncode == 0, made.stderr
    assert world.real("lxc-start", "-n", "ls-r", lxcpath=lp).returncode == 0
    try:
        pid = world.real("lxc-info", "-n", "ls-r", "-pH", lxcpath=lp).stdout.strip()
        assert pid.isdigit()
        listed = world.ours("lxc-ls", "-f").stdout.splitlines()
        assert listed[1].split()[:2] == ["ls-r", "RUNNING"]
        assert world.ours("lxc-ls", "--running").stdout.split() == ["ls-r"]
        info = world.ours("lxc-info", "-n", "ls-r", "-s", "-p")
        assert info.stdout == f"State:          RUNNING\nPID:            {pid}\n", info.stderr
        # no second init: ours refuses as for its own running containers, LXC's stays
        again = world.ours("lxc-start", "-n", "ls-r")
        assert again.returncode == 0 and "Container is already running" in again.stderr
        assert world.real("lxc-info", "-n", "ls-r", "-pH", lxcpath=lp).stdout.strip() == pid
        assert world.ours("lxc-wait", "-n", "ls-r", "-s", "RUNNING", "-t", "5").returncode == 0
        inside = world.ours("lxc-attach", "-n", "ls-r", "--", "hostname")
        assert (inside.returncode, inside.stdout) == (0, "ls-r\n"), inside.stderr
        refused = world.ours("lxc-freeze", "-n", "ls-r")
        assert refused.returncode == 1 and "real LXC's monitor" in refused.stderr
        # a clean stop (busybox's init halts on LXC's SIGPWR) and, after a new start, a kill
        stop = world.ours("lxc-stop", "-n", "ls-r", "-t", "20")
        assert stop.returncode == 0, stop.stderr
        assert world.real("lxc-info", "-n", "ls-r", "-sH", lxcpath=lp).stdout == "STOPPED\n"
        assert not os.path.exists(f"/proc/{pid}")
        assert world.real("lxc-start", "-n", "ls-r", lxcpath=lp).returncode == 0
        kill = world.ours("lxc-stop", "-n", "ls-r", "-k")
        assert kill.returncode == 0, kill.stderr
        assert world.real("lxc-info", "-n", "ls-r", "-sH", lxcpath=lp).stdout == "STOPPED\n"
        assert world.ours("lxc-info", "-n", "ls-r", "-sH").stdout == "STOPPED\n"
        assert world.ours("lxc-stop", "-n", "ls-r").returncode == 2
    finally:
        world.real("lxc-stop", "-n", "ls-r", "-k", lxcpath=lp)
    assert world.ours("lxc-destroy", "-n", "ls-r").returncode == 0
