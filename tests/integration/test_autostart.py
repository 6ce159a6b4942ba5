"""lxc-autostart: LXC's lxc-test-autostart scenario, plus groups, order and exit codes."""

import os
import time

from lxcenv import World, busybox, world  # noqa: F401  (fixture)


def state(world, name):
    return world.ours("lxc-info", "-n", name, "-sH").stdout.strip()


def test_lxc_test_autostart_scenario(world):
    busybox(world, "as-auto")
    assert world.ours("lxc-autostart", "-L").stdout == ""  # not marked yet
    with open(os.path.join(world.cdir("as-auto"), "config"), "a") as handle:
        handle.write("lxc.start.auto = 1\nlxc.group = lxc-auto-test\nlxc.start.delay = 5\n")
    listed = world.ours("lxc-autostart", "-L", "-g", "lxc-auto-test")
    assert listed.returncode == 0 and listed.stdout == "as-auto 5\n"
    assert world.ours("lxc-autostart", "-L").stdout == ""  # only the NULL group by default
    started = time.monotonic()
    assert world.ours("lxc-autostart", "-g", "lxc-auto-test").returncode == 0
    assert time.monotonic() - started >= 5  # lxc.start.delay
    assert state(world, "as-auto") == "RUNNING"
    pid = world.ours("lxc-info", "-n", "as-auto", "-pH").stdout.strip()
    assert world.ours("lxc-autostart", "-r", "-g", "lxc-auto-test", "-t", "30").returncode == 0
    assert state(world, "as-auto") == "RUNNING"
    assert world.ours("lxc-info", "-n", "as-auto", "-pH").stdout.strip() != pid
    assert world.ours("lxc-autostart", "-L", "-s", "-g", "lxc-auto-test").stdout == "as-auto\n"
    assert world.ours("lxc-autostart", "-s", "-g", "lxc-auto-test", "-t", "120").returncode == 0
    assert state(world, "as-auto") == "STOPPED"
    assert world.ours("lxc-autostart", "-g", "lxc-auto-test").returncode == 0
    assert world.ours("lxc-autostart", "-k", "-g", "lxc-auto-test").returncode == 0
    assert state(world, "as-auto") == "STOPPED"


def test_groups_order_and_null_group(world):
    busybox(world, "as-b", "lxc.start.auto = 1\nlxc.start.order = 2\n")
    busybox(world, "as-a", "lxc.start.auto = 1\nlxc.start.order = 2\n")
    busybox(world, "as-first", "lxc.start.auto = 1\nlxc.start.order = 1\n")
    busybox(world, "as-web", "lxc.start.auto = 1\nlxc.group = web\n")
    busybox(world, "as-off", "lxc.group = web\n")
    assert world.ours("lxc-autostart", "-L").stdout.split("\n")[:3] == [
        "as-first 0", "as-a 0", "as-b 0"]
    # LXC's prefix quirk: group "web" is selected by -g webserver
    assert world.ours("lxc-autostart", "-L", "-g", "webserver").stdout == "as-web 0\n"
    both = world.ours("lxc-autostart", "-L", "-g", "web,").stdout.split()
    assert both[::2] == ["as-web", "as-first", "as-a", "as-b"]
    everyone = world.ours("lxc-autostart", "-L", "-a", "-A").stdout.split()[::2]
    assert sorted(everyone) == ["as-a", "as-b", "as-first", "as-off", "as-web"]
    assert world.ours("lxc-autostart", "-a").returncode == 0
    assert all(state(world, n) == "RUNNING" for n in ("as-a", "as-b", "as-first", "as-web"))
    assert state(world, "as-off") == "STOPPED"
    # shutdown goes in reverse order of (lxc.start.order, name)
    assert world.ours("lxc-autostart", "-L", "-k", "-a").stdout.split() == [
        "as-b", "as-a", "as-first", "as-web"]
    assert world.ours("lxc-autostart", "-k", "-a").returncode == 0
    assert all(state(world, n) == "STOPPED" for n in ("as-a", "as-b", "as-first", "as-web"))


def test_exit_code_when_every_start_fails(world):
    busybox(world, "as-bad", "lxc.start.auto = 1\nlxc.init.cmd = /sbin/missing\n")
    proc = world.ours("lxc-autostart")
    assert proc.returncode == 1 and "as-bad" in proc.stderr
    busybox(world, "as-good", "lxc.start.auto = 1\n")
    partial = world.ours("lxc-autostart")
    assert partial.returncode == 2
    assert state(world, "as-good") == "RUNNING"
    world.ours("lxc-stop", "-n", "as-good", "-k")
