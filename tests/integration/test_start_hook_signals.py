"""A start hook is a program of the container's (found in its rootfs), run by the container's
PID 1 before the exec of the container's init. It must not reach the supervisor through
anything PID 1 inherited from it: in particular not its signal handling. Python's C-level
handlers write each signal's number to the supervisor's wake-up pipe (signal.set_wakeup_fd),
and PID 1 is a fork of the supervisor: a `kill -TERM 1` from a hook used to arrive in the
supervisor as its own SIGTERM, and it stopped every container of the lxcpath."""

import os
import time

from lxcenv import busybox, world  # noqa: F401  (fixture)

HOOK = """#!/bin/sh
# hostile: signal PID 1 (the container's setup process, not yet exec'd) every way it can
for sig in TERM HUP INT CHLD; do kill -$sig 1; done
echo signalled > /hook-ran
sleep 0.3
exit 0
"""


def state(world, name):
    return world.ours("lxc-info", "-n", name, "-sH").stdout.strip()


def test_a_start_hook_signalling_pid_1_stops_nothing_else(world):
    busybox(world, "hs-victim")
    rootfs = busybox(world, "hs-hostile", "lxc.hook.start = /hostile-hook\n")
    path = os.path.join(rootfs, "hostile-hook")
    with open(path, "w") as handle:
        handle.write(HOOK)
    os.chmod(path, 0o755)
    assert world.ours("lxc-start", "-n", "hs-victim").returncode == 0
    try:
        assert state(world, "hs-victim") == "RUNNING"
        started = world.ours("lxc-start", "-n", "hs-hostile")
        assert started.returncode == 0, started.stderr
        time.sleep(1.5)  # what the supervisor would do on a SIGTERM: stop them all
        assert state(world, "hs-victim") == "RUNNING"
        assert state(world, "hs-hostile") == "RUNNING"
        with open(os.path.join(rootfs, "hook-ran")) as handle:  # the hook did run
            assert handle.read() == "signalled\n"
    finally:
        for name in ("hs-hostile", "hs-victim"):
            world.ours("lxc-stop", "-n", name, "-k")
