"""Errors point at the right place (issue 22, item 3): a key given with -s is the command
line's, not a line of the file; hints repeat the user's -n and -P so they can be pasted;
a container that does not exist is not called "not running" (LXC's exit codes kept); a
mistyped option or word gets the one meant; lxc-ls names what it could not read and lists
the rest. Real containers in a private lxcpath, real LXC beside for the exit codes."""

import os
import shlex
import subprocess

import pytest

from lxcenv import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle


@pytest.fixture
def made(world):
    assert world.ours("lxc-create", "-n", "ep-a", "-t", "busybox").returncode == 0
    yield world
    world.ours("lxc-stop", "-n", "ep-a", "-k")


def config_lines(world, name):
    return len(world.config(name).splitlines())


@pytest.mark.parametrize("define, says", [
    ("lxc.net.0.lnk=x", 'unknown key "lxc.net.0.lnk" (did you mean "lxc.net.0.link"?)'),
    ("lxc.log.level=foo", "invalid value for lxc.log.level"),
    ("lxc.cap.drop=sys_modul", '(did you mean "sys_module"?)'),
    ("lxc.include=/nonexistent-ep", 'included file "/nonexistent-ep" does not exist'),
    ("uts=web", "expected lxc.KEY=VALUE"),
])
def test_define_errors_name_the_command_line(made, define, says):
    lines = config_lines(made, "ep-a")
    for tool, extra in (("lxc-start", ["--explain"]), ("lxc-execute", ["--", "true"])):
        proc = made.ours(tool, "-n", "ep-a", "-s", define, *extra)
        assert proc.returncode == 1, proc.stderr
        first = proc.stderr.splitlines()[0]
        assert first.startswith(f"{tool}: ep-a: command line (-s {define}): "), first
        assert says in first
        # never a line of the file, least of all one it does not have
        assert "/config:" not in proc.stderr
    assert config_lines(made, "ep-a") == lines  # and nothing was written


def test_define_warning_names_the_command_line_once(made):
    proc = made.ours("lxc-start", "-n", "ep-a", "--explain", "-s", "lxc.network.0.type=empty",
                     "-s", "lxc.uts.name=ep", "-s", "lxc.uts.name=ep2")
    assert proc.returncode == 0, proc.stderr
    warnings = [x for x in proc.stderr.splitlines() if "deprecated" in x]
    assert warnings == ['lxc-start: warning: command line (-s lxc.network.0.type=empty): '
                        '"lxc.network.0.type" is deprecated, use "lxc.net.0.type"']


def test_a_file_error_still_names_file_and_line(made):
    path = os.path.join(made.cdir("ep-a"), "config")
    with open(path, "a") as handle:
        handle.write("lxc.net.0.lnk = x\n")
    proc = made.ours("lxc-start", "-n", "ep-a", "--explain", "-s", "lxc.uts.name=ep")
    assert f"{path}:{config_lines(made, 'ep-a')}: unknown key" in proc.stderr


def hints(proc):
    return [x.split(": hint: ", 1)[1] for x in proc.stderr.splitlines() if ": hint: " in x]


def test_hints_repeat_the_users_lxcpath_and_name(made):
    lp = made.lp
    proc = made.ours("lxc-start", "-n", "ep-none")
    assert hints(proc) == [f"create it first (lxc-create -n ep-none -P {lp} -t busybox), or "
                           "pass a config with -f FILE"]
    proc = made.ours("lxc-start", "-n", "ep-a", "--explain", "-s", "lxc.init.cmd=/no/init")
    assert hints(proc)[0].endswith(f"lxc-start -n ep-a -P {lp} -- /bin/sh")
    assert made.ours("lxc-start", "-n", "ep-a").returncode == 0
    proc = made.ours("lxc-destroy", "-n", "ep-a")
    assert proc.returncode == 1
    assert hints(proc) == [f"stop it first (lxc-stop -n ep-a -P {lp}), or use lxc-destroy "
                           f"-n ep-a -P {lp} -f"]
    # pasted as it is, the hint's command does what it says
    command = hints(proc)[0].split("or use ", 1)[1]
    done = subprocess.run(shlex.split(command.replace("lxc-destroy", made_tool("lxc-destroy"),
                                                      1)),
                          capture_output=True, text=True, env=made.env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not os.path.exists(made.cdir("ep-a"))


def made_tool(tool):
    from conftest import ours
    return ours(tool)


def test_hint_in_the_default_lxcpath_adds_no_P(world):
    """Without -P the hint names no -P (the default is where it acts)."""
    from lxctools.cli._common import pasteable, GIVEN

    GIVEN.update(name="web", lxcpath=None)
    try:
        assert pasteable("stop it first (lxc-stop -n NAME)") == "stop it first (lxc-stop -n web)"
        GIVEN.update(lxcpath="/srv/lxc")
        assert pasteable("lxc-stop -n NAME -k kills it; or lxc-start -n web -P /x") == \
            "lxc-stop -n web -P /srv/lxc -k kills it; or lxc-start -n web -P /x"
        assert pasteable("lxc-config -l lists the keys") == "lxc-config -l lists the keys"
    finally:
        GIVEN.update(name=None, lxcpath=None)


@pytest.mark.parametrize("tool, args", [
    ("lxc-attach", ["--", "true"]),
    ("lxc-console", []),
    ("lxc-stop", []),
    ("lxc-cgroup", ["pids.max"]),
])
def test_a_container_that_does_not_exist_is_said_to_not_exist(made, tool, args):
    """LXC says "not running" for both; we tell them apart, with LXC's exit code."""
    for name, says in (("ep-none", f"ep-none does not exist in {made.lp}"),
                       ("ep-a", "is not running")):
        mine = made.ours(tool, "-n", name, *args, input="")
        real = made.real(tool, "-n", name, *args)
        assert mine.returncode == real.returncode != 0, (tool, name, mine.stderr, real.stderr)
        assert says in mine.stderr, (tool, name, mine.stderr)
        if name == "ep-none":
            assert "is not running" not in mine.stderr.replace(f"'{made.lp}:ep-none' is not "
                                                               "running", "")
            if tool != "lxc-stop":
                assert f"lxc-ls -P {made.lp} lists the containers there" in mine.stderr
        elif tool in ("lxc-attach", "lxc-console"):
            assert hints(mine) == [f"lxc-start -n ep-a -P {made.lp}"]


def test_console_says_not_there_before_not_a_terminal(made):
    proc = made.ours("lxc-console", "-n", "ep-none", input="")
    assert proc.returncode == 1 and "stdin is not a terminal" not in proc.stderr


@pytest.mark.parametrize("args, meant", [
    (["lxc-start", "-n", "ep-a", "--daemn"], "(did you mean --daemon?)"),
    (["lxc-start", "-n", "ep-a", "--forground=1"], "(did you mean --foreground?)"),
    (["lxc-ls", "--fancyy", "--actve"], "(did you mean --fancy for --fancyy, --active for --actve?)"),
    (["lxc-info", "-n", "ep-a", "--pids"], "(did you mean --pid?)"),
    (["lxc-wait", "-n", "ep-a", "-s", "RUNING"], '(did you mean "RUNNING"?)'),
    (["lxc-wait", "-n", "ep-a", "-s", "running"], '(did you mean "RUNNING"?)'),
    (["lxc-create", "-n", "ep-b", "-t", "busybx"], '(did you mean "busybox"?)'),
    (["lxc-create", "-n", "ep-b", "-t", "busybox", "--", "--bsybox-path", "/bin/busybox"],
     '(did you mean "--busybox-path"?)'),
    (["lxc-create", "-n", "ep-b", "-t", "local", "--", "--metdata", "x"],
     '(did you mean "--metadata"?)'),
    (["lxc-create", "-n", "ep-b", "-t", "download", "--", "--relase", "x"],
     '(did you mean "--release"?)'),
    (["lxc-start", "-n", "ep-a", "-s", "lxc.uts.nam=x", "--explain"],
     '(did you mean "lxc.uts.name"?)'),
])
def test_a_mistyped_word_gets_the_one_meant(made, args, meant):
    proc = made.ours(*args)
    assert proc.returncode != 0
    assert meant in proc.stderr, proc.stderr
    assert not os.path.exists(made.cdir("ep-b"))


def test_ls_names_what_it_cannot_read_and_lists_the_rest(world):
    lp = world.lp
    for name in ("ep-good", "ep-fifo", "ep-dir", "ep-incl", "ep-nul"):
        os.makedirs(os.path.join(lp, name))
    with open(os.path.join(lp, "ep-good", "config"), "w") as handle:
        handle.write("lxc.net.0.type = empty\nlxc.group = web\n")
    os.mkfifo(os.path.join(lp, "ep-fifo", "config"))  # real LXC's lxc-ls hangs on it
    os.mkdir(os.path.join(lp, "ep-dir", "config"))
    with open(os.path.join(lp, "ep-incl", "config"), "w") as handle:
        handle.write("lxc.include = /nonexistent-ep\n")
    with open(os.path.join(lp, "ep-nul", "config"), "w") as handle:
        handle.write("lxc.uts.name = a\0b\n")
    plain = world.ours("lxc-ls", "-1")
    assert plain.returncode == 0
    assert plain.stdout.split() == ["ep-good", "ep-incl", "ep-nul"]
    assert plain.stderr.splitlines() == [
        f"lxc-ls: ep-dir: {lp}/ep-dir/config is not a regular file",
        f"lxc-ls: ep-fifo: {lp}/ep-fifo/config is not a regular file"]
    fancy = world.ours("lxc-ls", "-f", "-F", "NAME,GROUPS")
    assert fancy.returncode == 0
    assert [line.split() for line in fancy.stdout.splitlines()] == [
        ["NAME", "GROUPS"], ["ep-good", "web"], ["ep-incl", "-"], ["ep-nul", "-"]]
    assert fancy.stderr.splitlines()[2:] == [
        f'lxc-ls: ep-incl: {lp}/ep-incl/config:1: included file "/nonexistent-ep" does not '
        "exist",
        f"lxc-ls: ep-nul: {lp}/ep-nul/config:1: a NUL byte in the line (lxc.uts.name)"]
    assert world.ours("lxc-ls", "-q").stderr == ""
    # a filter names only what it matches
    assert world.ours("lxc-ls", "--filter", "good").stderr == ""


def test_ls_names_an_lxcpath_it_cannot_list(world):
    os.makedirs(world.lp)
    with open(os.path.join(world.lp, "x"), "w"):
        pass
    proc = world.ours("lxc-ls", lxcpath=os.path.join(world.lp, "x"))
    assert proc.returncode == 0 and proc.stdout == ""
    assert proc.stderr == (f"lxc-ls: {world.lp}/x: cannot list the lxcpath: Not a directory\n")
    assert world.ours("lxc-ls", lxcpath=os.path.join(world.lp, "nothing")).stderr == ""
