"""-o FILE / -l LEVEL as LXC's tools honour them (issue 19, item 8: Ansible's container_log
runs `lxc-create --quiet --logfile FILE --logpriority LEVEL` and the log is where a failure
shows): side by side with real LXC, each step of a container's life writes to the file
when LXC's does, an ERROR line when LXC's does (also with -q), in LXC's line format, and
nothing below the level asked for."""

import os
import re

import pytest

from lxcenv import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.root

LINE = re.compile(r"^(?P<prog>lxc-[a-z-]+) (?P<name>\S*) \d{14}\.\d{3} "
                  r"(?P<level>TRACE|DEBUG|INFO|NOTICE|WARN|ERROR|CRIT|ALERT|FATAL) +\S+ - .+$")

# (tool, arguments after -n NAME); NAME is "lg" on both sides
STEPS = [
    ("lxc-create", ["-t", "busybox", "-q"]),
    ("lxc-start", []),
    ("lxc-wait", ["-s", "RUNNING", "-t", "10"]),
    ("lxc-info", []),
    ("lxc-cgroup", ["pids.current"]),
    ("lxc-freeze", []),
    ("lxc-unfreeze", []),
    ("lxc-attach", ["-l", "DEBUG", "--", "true"]),
    ("lxc-stop", ["-k"]),
    ("lxc-stop", ["-k"]),                        # not running: an error
    ("lxc-copy", ["-N", "lg2"]),
    ("lxc-destroy", []),
    ("lxc-start", ["-q"]),                       # no such container: an error, quiet
    ("lxc-create", ["-t", "nosuchtemplate", "-q"]),  # an error, quiet (Ansible's way)
]


def new_lines(path, seen):
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        lines = []
    return lines[seen:], len(lines)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "ERROR"])
def test_each_tool_logs_where_lxcs_does(world, tmp_path, level):
    logs = {True: str(tmp_path / "real.log"), False: str(tmp_path / "ours.log")}
    seen = {True: 0, False: 0}
    for tool, args in STEPS:
        wrote = {}
        for real in (True, False):
            run = world.real if real else world.ours
            if args[:1] == ["-l"]:  # lxc-attach: the options before "--"
                argv = ["-n", "lg", "-o", logs[real], "-l", level, *args[2:]]
            else:
                argv = ["-n", "lg", *args, "-o", logs[real], "-l", level]
            if tool == "lxc-cgroup" and not os.path.exists("/sys/fs/cgroup/pids"):
                argv = [a if a != "pids.current" else "cgroup.procs" for a in argv]
            run(tool, *argv)
            wrote[real], seen[real] = new_lines(logs[real], seen[real])
        step = f"{tool} {' '.join(args)} at {level}"
        for line in wrote[False]:
            match = LINE.match(line)
            assert match, f"{step}: not LXC's format: {line!r}"
            assert match["prog"] == tool and match["name"] == "lg", line
            assert LEVELS.index(match["level"]) >= LEVELS.index(level), f"{step}: {line}"
        if wrote[True]:
            assert wrote[False], f"{step}: real LXC logged {wrote[True]}, ours nothing"
        if any(LINE.match(x)["level"] == "ERROR" for x in wrote[True]):
            assert any(LINE.match(x)["level"] == "ERROR" for x in wrote[False]), \
                f"{step}: real LXC logged an error ({wrote[True]}), ours {wrote[False]}"
    world.ours("lxc-destroy", "-n", "lg2")
    world.real("lxc-destroy", "-n", "lg2")


LEVELS = ["TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "CRIT", "ALERT", "FATAL"]


def test_a_background_start_logs_the_start_itself(world, tmp_path):
    """lxc-start's -o file gets what the supervisor does for that start (as LXC's monitor
    writes it), not only the tool's own last line."""
    log = tmp_path / "start.log"
    assert world.ours("lxc-create", "-n", "lg-s", "-t", "busybox").returncode == 0
    try:
        assert world.ours("lxc-start", "-n", "lg-s", "-o", str(log), "-l", "INFO").returncode == 0
        text = log.read_text()
        assert "state RUNNING" in text and 'Container "lg-s" started' in text, text
        assert all(LINE.match(x) for x in text.splitlines()), text
    finally:
        world.ours("lxc-stop", "-n", "lg-s", "-k")
