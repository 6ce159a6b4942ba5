"""What the supervisor is (issue 19, item 8, found driving ours with Ansible): its socket and
the /run/lxctools/active registry are keyed by the lxcpath's directory, not its spelling, and
its process title says what it is, as LXC's `[lxc monitor] LXCPATH NAME`."""

import os
import subprocess

import pytest

from conftest import ours, require_root
from lxcenv import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.root

IN_NS = r"""
set -e
mount --bind "$COVER" "$LXCPATH"
for step in "$@"; do eval "$step"; done
"""


def in_namespace(world, cover, *steps):
    """STEPS (shell lines; $T names our tools' directory) run in a mount namespace of their
    own where COVER is bound over our lxcpath."""
    env = dict(world.env, COVER=str(cover), LXCPATH=world.lp,
               T=os.path.dirname(ours("lxc-start")))
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", IN_NS,
                           "ns", *steps], capture_output=True, text=True, env=env, timeout=120)


def test_a_bind_mount_over_the_lxcpath_does_not_mix_containers(world, tmp_path):
    """Ansible's case: ans-a started where a bind mount covers the lxcpath, then in the
    host's view a container of the same lxcpath is created and started. Keyed by the path's
    text, the host's start went to ans-a's supervisor (in the other mount namespace), which
    found no config ("No container config specified"), and lxc-ls listed ans-a as RUNNING."""
    require_root()
    os.makedirs(world.lp)
    cover = tmp_path / "cover"
    cover.mkdir()
    p = f"-P {world.lp}"
    made = in_namespace(world, cover, f"$T/lxc-create {p} -n ans-a -t busybox",
                        f"$T/lxc-start {p} -n ans-a")
    assert made.returncode == 0, made.stderr
    try:
        assert os.path.exists(cover / "ans-a/config")
        assert not os.path.exists(os.path.join(world.lp, "ans-a"))
        assert world.ours("lxc-create", "-n", "ans-b", "-t", "busybox").returncode == 0
        started = world.ours("lxc-start", "-n", "ans-b")
        assert started.returncode == 0, started.stderr
        listed = world.ours("lxc-ls", "-f", "-F", "NAME,STATE")
        assert listed.stdout.split()[2:] == ["ans-b", "RUNNING"], listed.stdout
        # (lxc-info -n ans-a here still answers RUNNING, as real LXC's does: our supervisor
        # also serves LXC's own socket, which LXC names by the path's text)
        # a second namespace that sees the same directory sees the same containers:
        # the key is the directory, not the namespace
        seen = in_namespace(world, cover, f"$T/lxc-ls {p} -f -F NAME,STATE",
                            f"$T/lxc-info {p} -n ans-a -sH")
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout.split() == ["NAME", "STATE", "ans-a", "RUNNING", "RUNNING"], \
            seen.stdout
        assert in_namespace(world, cover,
                            f"$T/lxc-start {p} -n ans-a").stderr.count("already running") == 1
    finally:
        world.ours("lxc-stop", "-n", "ans-b", "-k")
        in_namespace(world, cover, f"$T/lxc-stop {p} -n ans-a -k")
    assert in_namespace(world, cover, f"$T/lxc-info {p} -n ans-a -sH").stdout == "STOPPED\n"


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().rstrip(b"\0").replace(b"\0", b" ").decode()


def wait_for(predicate, seconds=20):
    import time
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_the_supervisor_is_titled_as_lxc_titles_its_monitor(world, tmp_path):
    """`[lxc monitor] LXCPATH NAME` as real LXC's monitor (ours runs every container of the
    lxcpath: each is named), so ps and pkill -f see what it is, not the command line of the
    tool that first started it."""
    require_root()
    for name in ("title-b", "title-a"):
        assert world.ours("lxc-create", "-n", name, "-t", "busybox").returncode == 0
    assert world.real("lxc-create", "-n", "title-r", "-t", "busybox").returncode == 0
    pidfile = tmp_path / "pid"
    try:
        assert world.ours("lxc-start", "-n", "title-b", "-p", str(pidfile)).returncode == 0
        supervisor = int(pidfile.read_text())
        assert cmdline(supervisor) == f"[lxc monitor] {world.lp} title-b"
        assert world.real("lxc-start", "-n", "title-r", "-p", str(pidfile)).returncode == 0
        # real LXC's, for the same shape
        assert cmdline(int(pidfile.read_text())) == f"[lxc monitor] {world.real_lp} title-r"
        assert world.ours("lxc-start", "-n", "title-a").returncode == 0
        assert cmdline(supervisor) == f"[lxc monitor] {world.lp} title-a title-b"
        found = subprocess.run(["pgrep", "-f", rf"^\[lxc monitor\] {world.lp} title-a"],
                               capture_output=True, text=True)
        assert found.stdout.split() == [str(supervisor)]
        with open(f"/proc/{supervisor}/comm") as handle:
            assert handle.read() == "lxc monitor\n"
        assert world.ours("lxc-stop", "-n", "title-b", "-k").returncode == 0
        assert wait_for(lambda: cmdline(supervisor) == f"[lxc monitor] {world.lp} title-a"), \
            cmdline(supervisor)
    finally:
        for name in ("title-a", "title-b"):
            world.ours("lxc-stop", "-n", name, "-k")
        world.real("lxc-stop", "-n", "title-r", "-k")
