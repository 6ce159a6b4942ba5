"""What lxc-monitor shows when a container ends, and what --version prints, beside real
LXC: a clean halt is exit status 0 on both; every lxc-* tool's --version prints LXC's
release (scripts check it: LXC's own lxc-checkconfig prints `lxc-start --version`), and
`lxctools --version` names our own."""

import os
import subprocess
import time

import pytest

from conftest import SCRIPTS, ours, real_lxc
from lxcenv import SANE_PATH, world  # noqa: F401  (fixture)
from lxctools import LXC_COMPAT_VERSION, __version__

pytestmark = pytest.mark.oracle


def monitored(world, name, tool, lxcpath, stops):
    """Lines lxc-monitor (TOOL's set: "ours" or "real") prints while NAME is started and
    stopped with each of STOPS (extra lxc-stop arguments)."""
    run = world.ours if tool == "ours" else world.real
    monitor_bin = ours("lxc-monitor") if tool == "ours" else real_lxc("lxc-monitor")
    out = os.path.join(world.root, f"monitor-{tool}.out")
    env = world.env if tool == "ours" else dict(os.environ, PATH=SANE_PATH, LANG="C")
    with open(out, "w") as handle:
        monitor = subprocess.Popen([monitor_bin, "-P", lxcpath, "-n", name], stdout=handle,
                                   env=env)
    try:
        time.sleep(1)  # real LXC's lxc-monitor spawns lxc-monitord and connects to it
        for extra in stops:
            assert run("lxc-start", "-n", name, lxcpath=lxcpath).returncode == 0
            assert run("lxc-wait", "-n", name, "-s", "RUNNING", "-t", "10",
                       lxcpath=lxcpath).returncode == 0
            stop = run("lxc-stop", "-n", name, *extra, lxcpath=lxcpath)
            assert stop.returncode == 0, stop.stderr
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(out) as handle:
                lines = handle.read().splitlines()
            if lines.count(f"'{name}' changed state to [STOPPED]") == len(stops):
                break
            time.sleep(0.1)
    finally:
        monitor.terminate()
        monitor.wait(timeout=10)
        if tool == "real":
            subprocess.run([real_lxc("lxc-monitor"), "-P", lxcpath, "-Q"], capture_output=True,
                           env=env, timeout=30)
    return [line for line in lines if "exited" in line]


def test_a_clean_halt_is_status_0_as_on_lxc(world):
    made = world.ours("lxc-create", "-n", "mv-o", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    made = world.real("lxc-create", "-n", "mv-r", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    # busybox's init powers off on SIGPWR (both tools' halt signal for it): reboot(2)
    theirs = monitored(world, "mv-r", "real", world.real_lp, [["-t", "30"], ["-k"]])
    mine = monitored(world, "mv-o", "ours", world.lp, [["-t", "30"], ["-k"]])
    assert theirs == ["'mv-r' exited with status [0]"] * 2
    # the halt as LXC; the kill is ours: 128+SIGKILL (LXC says 0 for any signal)
    assert mine == ["'mv-o' exited with status [0]", "'mv-o' exited with status [137]"]


def test_version_is_lxcs_and_lxctools_names_its_own():
    tools = sorted(t for t in os.listdir(SCRIPTS) if t.startswith("lxc-"))
    for tool in tools:
        theirs = subprocess.run([real_lxc(tool), "--version"], capture_output=True, text=True,
                                timeout=30, stdin=subprocess.DEVNULL) \
            if os.path.exists(os.path.join("/usr/bin", tool)) else None
        mine = subprocess.run([ours(tool), "--version"], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
        if theirs is not None and theirs.stdout == "5.0.2\n":
            assert (mine.returncode, mine.stdout) == (0, theirs.stdout), tool
        elif tool in ("lxc-config", "lxc-update-config", "lxc-usernsexec"):
            # no --version in LXC's either: an error, as theirs
            assert mine.returncode != 0 and theirs.returncode != 0, tool
        else:
            # lxc-checkconfig (LXC's is a script with no --version) and Debian's
            # lxc-unpriv-* wrappers: ours answer as every other tool
            assert (mine.returncode, mine.stdout) == (0, LXC_COMPAT_VERSION + "\n"), tool
    own = subprocess.run([ours("lxctools"), "--version"], capture_output=True, text=True)
    assert own.stdout == f"lxctools {__version__} (LXC {LXC_COMPAT_VERSION} compatible)\n"
    # LXC's own lxc-checkconfig, with ours first on PATH, reports the release it expects
    checked = subprocess.run(["/usr/bin/lxc-checkconfig"], capture_output=True, text=True,
                             env=dict(os.environ, PATH=f"{SCRIPTS}:{SANE_PATH}"), timeout=60)
    assert checked.stdout.splitlines()[0] == f"LXC version {LXC_COMPAT_VERSION}"
