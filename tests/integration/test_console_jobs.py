"""lxc-console gives a shell with job control, as LXC arranges it: the container's init has
the console as stdio but not as its controlling terminal, so the shell busybox's init starts
on it (askfirst) can take it. Same guest, same keys, on ours and on real LXC; and real
lxc-console on a container ours runs (LXC's GET_TTY_FD, served by our supervisor)."""

import time

import pexpect
import pytest

from conftest import ours, real_lxc
from lxcenv import SANE_PATH, stop_and_resume, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle


def session(console, lp, name, env):
    """Drive the console: returns what each step showed."""
    shown = {}
    child = pexpect.spawn(console, ["-P", lp, "-n", name, "-t", "0"], env=env,
                          encoding="utf-8", timeout=20)
    try:
        child.expect(r"Ctrl\+a q")
        time.sleep(0.3)
        child.send("\r")  # busybox's "Please press Enter to activate this console."
        child.expect("# ")
        child.send("tty\r")
        child.expect(r"(/dev/\S+|not a tty)")
        shown["tty"] = child.match.group(1)
        child.expect("# ")
        # ^C interrupts the foreground job, not the shell
        child.send("sleep 100\r")
        time.sleep(0.5)
        child.send("\x03")
        child.expect("# ")
        child.send("echo status-$?\r")
        child.expect(r"status-(\d+)")
        shown["interrupted"] = child.match.group(1)
        child.expect("# ")
        # ^Z stops it, jobs lists it, fg brings it back and ^C ends it there
        resumed = stop_and_resume(child, "# ")
        shown["stopped"], shown["jobs left"] = resumed["stopped"], resumed["jobs left"]
        child.send("\x01q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return shown


WANTED = {"tty": "/dev/console", "interrupted": "130", "stopped": True, "jobs left": False}


def test_console_shell_has_job_control_as_on_lxc(world):
    made = world.ours("lxc-create", "-n", "cj-o", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    made = world.real("lxc-create", "-n", "cj-r", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    assert world.ours("lxc-start", "-n", "cj-o").returncode == 0
    assert world.real("lxc-start", "-n", "cj-r").returncode == 0
    real_env = dict(world.env, PATH=SANE_PATH, LANG="C")
    try:
        theirs = session(real_lxc("lxc-console"), world.real_lp, "cj-r", real_env)
        mine = session(ours("lxc-console"), world.lp, "cj-o", world.env)
        assert theirs == WANTED
        assert mine == theirs
        # real LXC's lxc-console on the container ours runs: the same console, the same keys
        assert session(real_lxc("lxc-console"), world.lp, "cj-o", real_env) == WANTED
    finally:
        world.ours("lxc-stop", "-n", "cj-o", "-k")
        world.real("lxc-stop", "-n", "cj-r", "-k")


def test_real_lxc_console_on_our_ttys(world):
    """GET_TTY_FD: tty 1 is lent to one real lxc-console at a time and comes back when it
    leaves; a second one is refused as LXC refuses a busy tty."""
    made = world.ours("lxc-create", "-n", "cj-t", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    assert world.ours("lxc-start", "-n", "cj-t").returncode == 0
    env = dict(world.env, PATH=SANE_PATH, LANG="C")
    # busybox's init starts the getty on tty1 late in its boot, and getty hangs the tty up
    # as it starts: a console that came first would see that hang-up (as with LXC's own)
    for _ in range(100):
        ps = world.ours("lxc-attach", "-n", "cj-t", "--", "/bin/ps", "-o", "args")
        if any("getty" in line and "tty1" in line for line in ps.stdout.splitlines()):
            break
        time.sleep(0.1)
    time.sleep(0.5)  # and its open of tty1 (and hang-up) done
    try:
        first = pexpect.spawn(real_lxc("lxc-console"), ["-P", world.lp, "-n", "cj-t", "-t", "1"],
                              env=env, encoding="utf-8", timeout=20)
        first.expect("Connected to tty 1")
        first.send("\r")
        first.expect("login:")  # busybox's getty on tty1
        busy = pexpect.spawn(real_lxc("lxc-console"), ["-P", world.lp, "-n", "cj-t", "-t", "1"],
                             env=env, encoding="utf-8", timeout=20)
        busy.expect(pexpect.EOF)
        busy.close()
        assert busy.exitstatus != 0
        first.send("\x01q")
        first.expect(pexpect.EOF)
        first.close()
        again = pexpect.spawn(real_lxc("lxc-console"), ["-P", world.lp, "-n", "cj-t", "-t", "1"],
                              env=env, encoding="utf-8", timeout=20)
        again.expect("Connected to tty 1")
        again.send("\x01q")
        again.expect(pexpect.EOF)
        again.close()
        # and ours takes it after them
        mine = pexpect.spawn(ours("lxc-console"), ["-P", world.lp, "-n", "cj-t", "-t", "1"],
                             env=world.env, encoding="utf-8", timeout=20)
        mine.expect("Connected to tty 1")
        mine.send("\r")
        mine.expect("login:")
        mine.send("\x01q")
        mine.expect(pexpect.EOF)
        mine.close()
    finally:
        world.ours("lxc-stop", "-n", "cj-t", "-k")
