"""The modes of what lxctools writes for a container, whatever the caller's umask: state
records (they hold the running config), -o log files and lxc.console.logfile (as LXC's
log.c and terminal.c), none of them written through a link planted at its path."""

import os
import stat
import subprocess

import pytest

from lxcenv import world  # noqa: F401  (fixture)
from test_hostile_paths import busybox, host_dir, untouched

pytestmark = pytest.mark.root


def test_state_record_is_private(world):
    from lxctools.monitor.commands import state_dir

    busybox(world, "paths-sr", "lxc.environment = SECRET=hunter2\n")
    assert world.ours("lxc-start", "-n", "paths-sr").returncode == 0
    try:
        record = os.path.join(state_dir(world.lp), "paths-sr")
        assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
        listed = world.ours("lxc-ls", "-f")
        assert "RUNNING" in listed.stdout
    finally:
        world.ours("lxc-stop", "-n", "paths-sr", "-k")


def run_with_umask(mask, argv, env):
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120,
                          preexec_fn=lambda: os.umask(mask))


def test_log_files_have_fixed_modes_and_no_link_is_followed(world, tmp_path):
    from conftest import ours

    busybox(world, "paths-lg", f"lxc.console.logfile = {tmp_path}/console.log\n")
    log = tmp_path / "tool.log"
    start = run_with_umask(0, [ours("lxc-start"), "-P", world.lp, "-n", "paths-lg", "-o",
                               str(log), "-l", "DEBUG"], world.env)
    try:
        assert start.returncode == 0, start.stderr
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o640  # as LXC's log.c
        assert stat.S_IMODE(os.stat(tmp_path / "console.log").st_mode) == 0o600  # terminal.c
    finally:
        world.ours("lxc-stop", "-n", "paths-lg", "-k")
    host = host_dir(tmp_path)
    # a link planted where a log goes: not followed (lxc-info -o, then the console log)
    os.symlink(host / "precious", tmp_path / "planted.log")
    info = run_with_umask(0, [ours("lxc-info"), "-P", world.lp, "-n", "paths-lg", "-o",
                              str(tmp_path / "planted.log"), "-l", "DEBUG"], world.env)
    assert info.returncode == 1 and "symlink" in info.stderr, info.stderr
    os.unlink(tmp_path / "console.log")
    os.symlink(host / "precious", tmp_path / "console.log")
    start = run_with_umask(0, [ours("lxc-start"), "-P", world.lp, "-n", "paths-lg"], world.env)
    world.ours("lxc-stop", "-n", "paths-lg", "-k")
    assert start.returncode == 1 and "lxc.console.logfile" in start.stderr, start.stderr
    untouched(host)
