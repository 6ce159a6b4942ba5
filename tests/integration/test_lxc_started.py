"""Containers that real LXC started, in the lxcpath our tools use: a user who switches with
containers running (started before, or by lxc.service at boot) sees them running, cannot
start a second init on the same rootfs, and can wait for, enter, freeze, measure and stop
them with ours."""

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
        # lxc-info's rows, the cgroups attach enters and lxc-cgroup's files are LXC's own
        mine = world.ours("lxc-info", "-n", "ls-r").stdout.splitlines()
        theirs = world.real("lxc-info", "-n", "ls-r", lxcpath=lp).stdout.splitlines()
        assert [r.split(":")[0] for r in mine] == [r.split(":")[0] for r in theirs]
        assert mine[:3] == theirs[:3]
        ours_cg = world.ours("lxc-attach", "-n", "ls-r", "--", "cat", "/proc/self/cgroup")
        real_cg = world.real("lxc-attach", "-n", "ls-r", "--", "cat", "/proc/self/cgroup",
                             lxcpath=lp)
        assert ours_cg.stdout == real_cg.stdout, ours_cg.stderr
        assert world.ours("lxc-cgroup", "-n", "ls-r", "pids.max", "77").returncode == 0
        pids = world.real("lxc-cgroup", "-n", "ls-r", "pids.max", lxcpath=lp).stdout
        assert pids.split() == ["77"]
        # freezing through either side: both read the same state
        assert world.ours("lxc-freeze", "-n", "ls-r").returncode == 0
        assert world.real("lxc-info", "-n", "ls-r", "-sH", lxcpath=lp).stdout == "FROZEN\n"
        assert world.ours("lxc-info", "-n", "ls-r", "-sH").stdout == "FROZEN\n"
        assert world.ours("lxc-unfreeze", "-n", "ls-r").returncode == 0
        assert world.real("lxc-info", "-n", "ls-r", "-sH", lxcpath=lp).stdout == "RUNNING\n"
        assert world.real("lxc-freeze", "-n", "ls-r", lxcpath=lp).returncode == 0
        assert world.ours("lxc-info", "-n", "ls-r", "-sH").stdout == "FROZEN\n"
        assert world.ours("lxc-unfreeze", "-n", "ls-r").returncode == 0
        # lxc-device works on what the container's init and cgroups are
        added = world.ours("lxc-device", "-n", "ls-r", "add", "/dev/loop-control")
        assert added.returncode == 0, added.stderr
        seen = world.real("lxc-attach", "-n", "ls-r", "--", "ls", "/dev/loop-control",
                          lxcpath=lp)
        assert seen.returncode == 0, seen.stderr
        assert world.ours("lxc-device", "-n", "ls-r", "del", "/dev/loop-control").returncode == 0
        # the console is LXC's monitor's: ours says so
        import pexpect
        from conftest import ours
        console = pexpect.spawn(ours("lxc-console"), ["-P", lp, "-n", "ls-r"], env=world.env,
                                encoding="utf-8", timeout=20)
        console.expect(pexpect.EOF)
        console.close()
        assert console.exitstatus == 1 and "real LXC's monitor" in console.before
        # a reboot: LXC's monitor boots a new init
        reboot = world.ours("lxc-stop", "-n", "ls-r", "-r", "-t", "30")
        assert reboot.returncode == 0, reboot.stderr
        new_pid = world.real("lxc-info", "-n", "ls-r", "-pH", lxcpath=lp).stdout.strip()
        assert new_pid.isdigit() and new_pid != pid
        assert world.ours("lxc-info", "-n", "ls-r", "-sH").stdout == "RUNNING\n"
        pid = new_pid
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
