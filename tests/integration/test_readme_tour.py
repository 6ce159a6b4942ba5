"""README's tour, run top to bottom as README has it: the command lines of the first code
block under "## A tour" are taken from README, given a private lxcpath (-P) and a container
name of this test's own (cgroup names like lxc.payload.c1 are shared by every lxcpath), and
run in order; the interactive ones (a shell from lxc-attach, lxc-console) on a pty. A line
README adds or changes is run as written, so README and behaviour cannot drift."""

import os
import re
import shlex
import subprocess
import time

import pexpect

from conftest import ours
from lxcenv import world  # noqa: F401  (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "rdtour1"


def tour_commands():
    """[argv] of the first indented block after '## A tour'."""
    with open(os.path.join(ROOT, "README.md")) as handle:
        text = handle.read()
    section = text.split("\n## A tour\n", 1)[1]
    block = []
    for line in section.splitlines():
        if line.startswith("    "):
            block.append(line)
        elif block:
            break
    commands = []
    for line in block:
        argv = shlex.split(line, comments=True)
        if argv:
            commands.append(argv)
    return commands


def localised(argv, lxcpath):
    """ARGV with our tool's path, -P LXCPATH and this test's container name."""
    tool, *args = argv
    args = [NAME if (i and args[i - 1] == "-n") else a for i, a in enumerate(args)]
    return [ours(tool), "-P", lxcpath, *args]


def interactive(argv):
    tool, *args = argv
    return tool == "lxc-console" or (tool == "lxc-attach" and "--" not in args)


def shell_session(argv, env):
    child = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", timeout=30, cwd=ROOT)
    try:
        if os.path.basename(argv[0]) == "lxc-console":
            child.expect(r"Ctrl\+a q")
            time.sleep(0.3)
            child.send("\r")  # busybox's "Please press Enter to activate this console."
        child.expect("# ")
        child.send("echo tour-$((40+2))\r")
        child.expect("tour-42")
        child.expect("# ")
        if os.path.basename(argv[0]) == "lxc-console":
            child.send("\x01q")  # README: Ctrl-a q leaves
        else:
            child.send("exit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return child.exitstatus


def test_readme_tour_runs_top_to_bottom(world):
    commands = tour_commands()
    tools = [argv[0] for argv in commands]
    # the tour's shape: made, started, used, stopped, removed (a new line is run as well)
    assert tools[0] == "lxc-create" and tools[-1] == "lxc-destroy" and "lxc-start" in tools
    try:
        for argv in commands:
            run = localised(argv, world.lp)
            if interactive(argv):
                assert shell_session(run, world.env) == 0, argv
                continue
            done = subprocess.run(run, capture_output=True, text=True, env=world.env, cwd=ROOT,
                                  timeout=120, stdin=subprocess.DEVNULL)
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
            if argv[0] == "lxc-attach":
                assert re.search(r"\binit\b", done.stdout), done.stdout  # ps inside: its init
            if argv[0] == "lxc-info":
                assert re.search(r"^State:\s+RUNNING$", done.stdout, re.M), done.stdout
            if argv[0] == "lxc-stop":
                state = world.ours("lxc-info", "-n", NAME, "-sH").stdout.strip()
                assert state == "STOPPED"
        assert not os.path.exists(os.path.join(world.lp, NAME))
    finally:
        world.ours("lxc-stop", "-n", NAME, "-k")
        world.ours("lxc-destroy", "-n", NAME, "-f")
