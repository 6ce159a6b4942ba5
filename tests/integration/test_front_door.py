"""The compiled front door (native/lxc-front.c) answers exactly as the Python tools: the same
command lines through the installed lxc-info, lxc-wait and lxc-stop (the front door, which
execs Python for what it does not answer) and through LXCTOOLS_PURE_PYTHON=1 give the same
stdout, stderr and exit status, byte for byte (issue 21 items 1 and 4).

Each case also says who must answer it: a copy of the front door whose "Python tool" is a
stub that fails (exit 99) proves that the cases it answers never reach Python, and that
the cases it leaves to Python do reach it -- an equivalence that holds only because
everything fell back would prove nothing.

lxc-attach through the front door (attach/facts.py, native/lxc-front.c lxc_attach): the
same command's output, status and messages through both paths, from the plan the
supervisor keeps, and a config changed since is read again; Ctrl-C and SIGTERM, with and
without a terminal, as through Python.
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import ours, require_root

FRONT = ("lxc-info", "lxc-wait", "lxc-stop", "lxc-ls", "lxc-start", "lxc-attach")
STUB = "#!/bin/sh\necho FALLBACK >&2\nexit 99\n"
# the strict copy's `lxctools`: the supervisor a cold lxc-start spawns (`lxctools --supervise
# LXCPATH`) is the real one; every tool's fallback the stub
STRICT = "#!/bin/sh\n[ \"$1\" = --supervise ] && exec {real} \"$@\"\n" + STUB[len("#!/bin/sh\n"):]
# containers of this module; names apart from other modules' (cgroups are shared by lxcpaths)
RUN, FROZEN, OFF, KILL = "fdoor-run", "fdoor-frozen", "fdoor-off", "fdoor-kill"
FLAT = "fdoor-flat"  # lxc-ls -f's: a running container whose config includes nothing


class Door:
    def __init__(self, root):
        require_root()
        self.root = root
        self.lp = os.path.join(root, "lp")
        net = os.path.join(root, "net.conf")
        with open(net, "w") as handle:
            handle.write("lxc.net.0.type = empty\n")
        conf = os.path.join(root, "lxc.conf")
        with open(conf, "w") as handle:
            handle.write(f"lxc.default_config = {net}\n")
        self.env = dict(os.environ, LXC_GLOBAL_CONF=conf)
        self.env.pop("LXCTOOLS_PURE_PYTHON", None)
        # the strict copy: BINDIR/TOOL is the front door, BINDIR/lxctools (which it runs as
        # `lxctools --as TOOL ARGS` for anything it leaves to Python) a stub that fails
        import lxctools
        binary = os.path.join(os.path.dirname(lxctools.__file__), "libexec", "lxc-front")
        if not os.access(binary, os.X_OK):
            pytest.fail(f"the front door was not built ({binary}): pip install -e . builds it "
                        "(gcc and libc6-dev)")
        self.strict = os.path.join(root, "strict")
        os.makedirs(os.path.join(self.strict, "bin"))
        for tool in FRONT:
            shutil.copy(binary, os.path.join(self.strict, "bin", tool))
        stub = os.path.join(self.strict, "bin", "lxctools")
        with open(stub, "w") as handle:
            handle.write(STRICT.format(real=ours("lxctools")))
        os.chmod(stub, 0o755)

    def run(self, path, args, pure=False, cwd=None, input=None):
        env = dict(self.env, LXCTOOLS_PURE_PYTHON="1") if pure else self.env
        done = subprocess.run([path, *args], capture_output=True, env=env, cwd=cwd,
                              timeout=120, input=input)
        return done.returncode, _counters(done.stdout), done.stderr

    def installed(self, tool, args, **kw):
        return self.run(ours(tool), args, **kw)

    def python(self, tool, args, **kw):
        return self.run(ours(tool), args, pure=True, **kw)

    def front_only(self, tool, args, **kw):
        return self.run(os.path.join(self.strict, "bin", tool), args, **kw)

    def ok(self, tool, *args):
        done = self.python(tool, ["-P", self.lp, *args])
        assert done[0] == 0, done


_COUNTER = re.compile(rb"^((?:CPU|BlkIO|Memory|KMem) use: +)[0-9.]+", re.M)


def _counters(out):
    """lxc-info -S's values are live counters (a frozen container's memory still moves as the
    kernel reclaims): two runs compare on everything but their digits."""
    return _COUNTER.sub(rb"\1#", out)


def flatten(config):
    """Put the files a config includes in place of its lxc.include lines (one level: what
    our busybox template writes), so that lxc-ls reads its keys by the quick scan."""
    with open(config) as handle:
        lines = handle.read().splitlines()
    out = []
    for line in lines:
        if line.startswith("lxc.include"):
            with open(line.partition("=")[2].strip()) as handle:
                out.extend(x for x in handle.read().splitlines()
                           if not x.startswith("lxc.include"))
        else:
            out.append(line)
    with open(config, "w") as handle:
        handle.write("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def door(tmp_path_factory):
    d = Door(str(tmp_path_factory.mktemp("frontdoor")))
    # lxc-ls's own lxcpath: containers without includes, one of them running
    d.ls = os.path.join(d.root, "ls")
    d.empty = os.path.join(d.root, "empty")
    os.makedirs(d.empty)
    for name, template in (("fdoor-a", "none"), ("fdoor-bb", "none"), ("fdoor-c", "none"),
                           ("fdoor-longer-name", "none"), (FLAT, "busybox")):
        done = subprocess.run([ours("lxc-create"), "-P", d.ls, "-n", name, "-t", template],
                              capture_output=True, text=True, env=d.env)
        assert done.returncode == 0, done.stderr
    with open(os.path.join(d.ls, "fdoor-a", "config"), "a") as handle:
        handle.write("lxc.group = web\nlxc.group = db onboot\nlxc.start.auto = 1\n"
                     "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n")
    with open(os.path.join(d.ls, "fdoor-c", "config"), "a") as handle:
        handle.write("  lxc.group = 'web'\nlxc.group =\nlxc.group\t=\tlast\t\n")
    os.makedirs(os.path.join(d.ls, ".hidden"))
    os.makedirs(os.path.join(d.ls, "fdoor-noconfig"))
    flatten(os.path.join(d.ls, FLAT, "config"))
    subprocess.run([ours("lxc-start"), "-P", d.ls, "-n", FLAT], check=True, env=d.env)
    for name in (RUN, FROZEN, OFF, KILL):
        done = subprocess.run([ours("lxc-create"), "-P", d.lp, "-n", name, "-t", "busybox"],
                              capture_output=True, text=True, env=d.env)
        assert done.returncode == 0, done.stderr
    for name in (RUN, FROZEN):
        subprocess.run([ours("lxc-start"), "-P", d.lp, "-n", name], check=True, env=d.env)
    # addresses inside RUN (lxc-info -i): a veth pair, both ends in its network namespace
    # (nothing in the host's); IPv4 twice (listed once), a /32, IPv6 written in short forms.
    # FROZEN gets an IPv4-mapped one, which Python 3.13 writes otherwise than 3.11: Python's
    for name, commands in ((RUN, ["ip link add fd0 type veth peer name fd1",
                                  "ip link set fd0 up", "ip link set fd1 up",
                                  "ip addr add 192.0.2.7/24 dev fd0",
                                  "ip addr add 198.51.100.9/32 dev fd1",
                                  "ip addr add 192.0.2.7/24 dev fd1",
                                  "ip -6 addr add 2001:db8::7/64 dev fd0 nodad",
                                  "ip -6 addr add 2001:db8:0:1::/64 dev fd1 nodad",
                                  "ip -6 addr add 2001:0:0:1:0:0:0:1/128 dev fd1 nodad"]),
                           (FROZEN, ["ip link add fd0 type veth peer name fd1",
                                     "ip link set fd0 up",
                                     "ip -6 addr add ::ffff:0:1/128 dev fd0 nodad"])):
        pid = d.python("lxc-info", ["-P", d.lp, "-n", name, "-pH"])[1].decode().strip()
        for command in commands:
            subprocess.run(["nsenter", "-t", pid, "-n", *command.split()], check=True)
    # frozen: its usage figures hold still between two runs, so -S compares byte for byte
    subprocess.run([ours("lxc-freeze"), "-P", d.lp, "-n", FROZEN], check=True, env=d.env)
    yield d
    for name in (RUN, FROZEN, KILL):
        d.python("lxc-stop", ["-P", d.lp, "-n", name, "-k"])
    d.python("lxc-stop", ["-P", d.ls, "-n", FLAT, "-k"])


def test_installed_tools_are_the_front_door(door):
    for tool in FRONT:
        with open(ours(tool), "rb") as handle:
            assert handle.read(4) == b"\x7fELF", f"{ours(tool)} is not the front door"


# (tool, args after -P LXCPATH, answered by the front door itself)
CASES = [
    ("lxc-info", ["-n", RUN, "-s"], True),
    ("lxc-info", ["-n", RUN, "-p"], True),
    ("lxc-info", ["-n", RUN, "-s", "-p"], True),
    ("lxc-info", ["-n", RUN, "-p", "-s"], True),
    ("lxc-info", ["-n", RUN, "-H", "-s"], True),
    ("lxc-info", ["-n", RUN, "-p", "-H"], True),
    ("lxc-info", ["-n", RUN, "-H", "-s", "-p"], True),
    ("lxc-info", ["--name", RUN, "--state", "--pid"], True),
    ("lxc-info", [f"--name={RUN}", "--state"], True),
    ("lxc-info", [RUN, "-s"], True),
    ("lxc-info", ["-s", RUN], True),
    ("lxc-info", ["-q", "-n", RUN, "-s"], True),
    ("lxc-info", ["-n", RUN, "-s", "-s"], True),
    ("lxc-info", ["-n", FROZEN, "-s"], True),
    ("lxc-info", ["-n", FROZEN, "-S"], True),
    ("lxc-info", ["-n", FROZEN, "-S", "-H"], True),
    ("lxc-info", ["-n", FROZEN, "-s", "-p", "-S"], True),
    ("lxc-info", ["-n", FROZEN, "--stats", "--no-humanize", "-s"], True),
    # left to Python: every fact (addresses), -i, -c, JSON, bundled flags, errors, stopped
    # every fact, and -i: RUN's addresses (the fixture's, in its own network namespace)
    ("lxc-info", ["-n", RUN], True),
    ("lxc-info", ["-n", RUN, "-H"], True),
    ("lxc-info", ["-n", RUN, "-i"], True),
    ("lxc-info", ["-n", RUN, "-i", "-H"], True),
    ("lxc-info", ["-n", RUN, "--ips", "-s", "-p", "-S"], True),
    ("lxc-info", ["-n", FROZEN, "-s", "-i"], False),  # an IPv4-mapped address: Python's
    ("lxc-info", ["-n", FROZEN], False),
    ("lxc-info", ["-n", RUN, "-s", "-c", "lxc.uts.name"], False),
    ("lxc-info", ["-n", RUN, "-s", "--format", "json"], False),
    ("lxc-info", ["-n", RUN, "-sp"], False),
    ("lxc-info", ["-n", RUN, "--sta"], False),
    ("lxc-info", ["-n", RUN, "-s", "-x"], False),
    ("lxc-info", ["-n", RUN, "-s", "extra"], False),
    ("lxc-info", ["-n", RUN, "-s", "-o", "/dev/null"], False),
    ("lxc-info", ["-n", OFF, "-s"], False),
    ("lxc-info", ["-n", OFF, "-s", "-p"], False),
    ("lxc-info", ["-n", "fdoor-nothere", "-s"], False),
    ("lxc-info", ["-n", "a/b", "-s"], False),
    ("lxc-info", ["-n", "..", "-s"], False),
    ("lxc-info", ["-s"], False),
    ("lxc-info", ["-n", RUN, "--usage"], False),
    ("lxc-info", ["--version"], False),
    ("lxc-wait", ["-n", RUN, "-s", "RUNNING"], True),
    ("lxc-wait", ["-n", RUN, "-s", "STOPPED|RUNNING"], True),
    ("lxc-wait", ["-n", RUN, "-s", "RUNNING", "-t", "5"], True),
    ("lxc-wait", ["-n", RUN, "-s", "RUNNING", "-t", "-1"], True),
    ("lxc-wait", ["-n", RUN, "--state=RUNNING", "--timeout=0"], True),
    ("lxc-wait", ["-n", RUN, "-s", "STOPPED", "-t", "0"], True),
    ("lxc-wait", ["-n", RUN, "-s", "FROZEN|STOPPED", "-t", "0"], True),
    ("lxc-wait", ["-n", FROZEN, "-s", "FROZEN"], True),
    ("lxc-wait", [RUN, "-s", "RUNNING"], True),
    ("lxc-wait", ["-n", RUN, "-s", "STOPPED", "-t", "1"], False),  # a real wait: Python's
    ("lxc-wait", ["-n", RUN, "-s", "RUNNING", "-t", "x"], False),
    ("lxc-wait", ["-n", RUN, "-s", "running"], False),
    ("lxc-wait", ["-n", RUN, "-s", "RUNNING|"], False),
    ("lxc-wait", ["-n", RUN], False),
    ("lxc-wait", ["-n", OFF, "-s", "STOPPED"], False),
    ("lxc-wait", ["-n", OFF, "-s", "RUNNING", "-t", "0"], False),
    ("lxc-wait", ["-n", "fdoor-nothere", "-s", "STOPPED"], False),
    ("lxc-stop", ["-n", OFF, "-k"], False),
    ("lxc-stop", ["-n", OFF], False),
    ("lxc-stop", ["-n", RUN, "-k", "-r"], False),
    ("lxc-stop", ["-n", RUN, "-k", "-t", "5"], False),
    ("lxc-stop", ["-n", RUN, "--nolock"], False),
    # lxc-ls in an lxcpath of busybox containers (their configs include common.conf: -f
    # reads them through Python's config engine)
    ("lxc-ls", [], True),
    ("lxc-ls", ["-1"], True),
    ("lxc-ls", ["--line", "-q"], True),
    ("lxc-ls", ["fdoor"], False),
    # LP: RUN running, FROZEN frozen, OFF and KILL stopped
    ("lxc-ls", ["--running"], True),
    ("lxc-ls", ["--frozen", "-1"], True),
    ("lxc-ls", ["--active", "-1"], True),
    ("lxc-ls", ["--stopped", "-1"], True),
    ("lxc-ls", ["--running", "-1", "--defined"], True),
    ("lxc-ls", ["--running", "fdoor"], False),
]

# lxc-ls in its own lxcpath (LS) and an empty one (EMPTY): (args, answered)
LS_CASES = [
    ([], True), (["-1"], True), (["-f"], True), (["--fancy"], True), (["-f", "-1"], True),
    (["-1", "-f"], True), (["-q", "-f"], True),
    # the state filters (LS has one running container, FLAT, among stopped ones)
    (["--running"], True), (["--active", "-1"], True), (["--stopped", "-f"], True),
    (["--defined"], True), (["--frozen"], True), (["--running", "-f"], True),
    (["--stopped", "-1"], True), (["--active", "--defined", "-1"], True),
    (["--frozen", "--active"], True), (["--running", "--stopped"], True),
    (["--defined", "-f", "-q"], True),
    (["-F", "NAME,STATE"], False), (["-f", "-F", "name,pid,ram"], False),
    (["--running", "--nesting"], False), (["-g", "web"], False),
    (["fdoor-(a|c)"], False), (["--filter", "b"], False), (["--format", "json"], False),
    (["--nesting"], False), (["-n", "fdoor-a"], False), (["-x"], False),
]


def _id(case):
    return f"{case[0]} {' '.join(case[1])}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_same_answer_through_both_paths(door, case):
    tool, args, answered = case
    argv = ["-P", door.lp, *args]
    python = door.python(tool, argv)
    assert door.installed(tool, argv) == python
    alone = door.front_only(tool, argv)
    if answered:
        assert alone == python, "the front door must answer this one itself"
    else:
        assert alone == (99, b"", b"FALLBACK\n"), "this one is Python's to answer"


@pytest.mark.parametrize("case", LS_CASES, ids=[" ".join(c[0]) or "plain" for c in LS_CASES])
@pytest.mark.parametrize("where", ["ls", "empty"])
def test_ls_same_answer_through_both_paths(door, case, where):
    args, answered = case
    argv = ["-P", getattr(door, where), *args]
    python = door.python("lxc-ls", argv)
    assert door.installed("lxc-ls", argv) == python
    alone = door.front_only("lxc-ls", argv)
    if answered:
        assert alone == python, "the front door must answer this one itself"
    else:
        assert alone == (99, b"", b"FALLBACK\n"), "this one is Python's to answer"


def test_ls_fancy_shows_the_running_one(door):
    """Not a vacuous table: the running container is there, RUNNING, with its keys."""
    code, out, err = door.front_only("lxc-ls", ["-P", door.ls, "-f"])
    assert code == 0 and not err
    rows = {line.split()[0]: line.split() for line in out.decode().splitlines()[1:]}
    assert rows[FLAT][1] == "RUNNING"
    assert rows["fdoor-a"][1:5] == ["STOPPED", "1", "web,", "db,"]
    assert rows["fdoor-a"][-1] == "true" and rows["fdoor-c"][3] == "last"
    # the state filters: the running one alone, or all but it
    assert door.front_only("lxc-ls", ["-P", door.ls, "--running", "-1"]) == (
        0, FLAT.encode() + b"\n", b"")
    code, out, err = door.front_only("lxc-ls", ["-P", door.ls, "--stopped", "-1"])
    assert code == 0 and not err and b"fdoor-a\n" in out and FLAT.encode() not in out


def settled(paths):
    """Wait until every path's ctime is more than a second old: the engine's verdict is
    saved only then (api/listing.py VERDICT_SETTLED_NS). Not a timing assertion: a wait for
    a condition the code under test states."""
    import time
    newest = max(os.stat(p).st_ctime_ns for p in paths)
    while time.time_ns() < newest + 1_200_000_000:
        time.sleep(0.1)


def test_ls_fancy_with_includes_from_the_saved_verdict(door):
    """lxc-ls -f over configs that include other files (a file, a directory of *.conf): the
    front door answers from the verdict Python's engine saved, and only while every file it
    looked at is unchanged; a change to an included file, a directory that gains a file, a
    verdict not written by this user or cut short: Python answers (and saves a new one).
    Each step compared with LXCTOOLS_PURE_PYTHON=1 byte for byte."""
    from lxctools.api.verdict import verdict_path

    lp = os.path.join(door.root, "inc")
    extra = os.path.join(door.root, "extra.conf")
    confd = os.path.join(door.root, "conf.d")
    os.makedirs(confd)
    with open(extra, "w") as handle:
        handle.write("lxc.group = fromextra\nlxc.start.auto = 1\n")
    with open(os.path.join(confd, "10-a.conf"), "w") as handle:
        handle.write("lxc.group = fromdir\n")
    names = ("fdoor-inc1", "fdoor-inc2")
    for name in names:
        done = subprocess.run([ours("lxc-create"), "-P", lp, "-n", name, "-t", "none"],
                              capture_output=True, text=True, env=door.env)
        assert done.returncode == 0, done.stderr
    with open(os.path.join(lp, names[0], "config"), "a") as handle:
        handle.write(f"lxc.include = {extra}\nlxc.include = {confd}/\n")
    with open(os.path.join(lp, names[1], "config"), "a") as handle:
        handle.write(f"lxc.include = {extra}\nlxc.idmap = u 0 100000 65536\n"
                     f"lxc.idmap = g 0 100000 65536\nlxc.include = {door.root}/missing.d/\n")
    configs = [os.path.join(lp, n, "config") for n in names]
    argv = ["-P", lp, "-f"]
    fallback = (99, b"", b"FALLBACK\n")

    def check(answered):
        # a stale verdict is asked first: Python's run saves a new one as soon as the
        # change is a second old, which on a loaded machine may be before the next command
        alone = None if answered else door.front_only("lxc-ls", argv)
        python = door.python("lxc-ls", argv)
        assert python[0] == 0 and not python[2], python
        assert door.installed("lxc-ls", argv) == python
        if answered:
            alone = door.front_only("lxc-ls", argv)
        assert alone == (python if answered else fallback)
        return python[1].decode()

    assert door.front_only("lxc-ls", argv) == fallback  # no verdict yet
    settled([*configs, extra, confd, os.path.join(confd, "10-a.conf")])
    out = check(True)  # Python saved the verdicts; the front door reads them
    assert "fromextra, fromdir" in out and "true" in out.splitlines()[2]
    # an included file changes
    with open(extra, "a") as handle:
        handle.write("lxc.group = later\n")
    check(False)
    settled([extra])
    assert "fromextra, later, fromdir" in check(True)
    # the included directory gains a file
    with open(os.path.join(confd, "20-b.conf"), "w") as handle:
        handle.write("lxc.group = newfile\n")
    check(False)
    settled([confd, os.path.join(confd, "20-b.conf")])
    assert "newfile" in check(True)
    # the missing directory one config names appears
    os.makedirs(os.path.join(door.root, "missing.d"))
    check(False)
    settled([os.path.join(door.root, "missing.d")])
    check(True)
    # a verdict this user did not write, or one cut short: not trusted
    verdict = verdict_path(lp, names[0])
    os.chown(verdict, 12345, 12345)
    assert door.front_only("lxc-ls", argv) == fallback
    check(True)  # Python wrote it again
    with open(verdict, "r+") as handle:
        handle.truncate(os.path.getsize(verdict) - 3)
    assert door.front_only("lxc-ls", argv) == fallback
    with open(verdict, "a") as handle:
        handle.write("9\n")  # a mode that is not the file's
    assert door.front_only("lxc-ls", argv) == fallback
    # lxc-destroy takes the container's verdict with it
    check(True)
    assert os.path.exists(verdict)
    assert door.python("lxc-destroy", ["-P", lp, "-n", names[0]])[0] == 0
    assert not os.path.exists(verdict)


def test_ls_fancy_leaves_a_line_that_is_no_config_line_to_python(door):
    """A line that is neither a key, a comment nor blank sends the config through the engine
    (api/listing.py quick_keys), which may name a problem on stderr: so the front door may not
    skip it (it did, and printed the table without the problem)."""
    lp = os.path.join(door.root, "odd")
    done = subprocess.run([ours("lxc-create"), "-P", lp, "-n", "fdoor-odd", "-t", "none"],
                          capture_output=True, text=True, env=door.env)
    assert done.returncode == 0, done.stderr
    with open(os.path.join(lp, "fdoor-odd", "config"), "a") as handle:
        handle.write("not a config line\nlxctools.bogus = 1\n")
    argv = ["-P", lp, "-f"]
    python = door.python("lxc-ls", argv)
    assert b"fdoor-odd" in python[2] and b"lxctools.bogus" in python[2], python
    assert door.installed("lxc-ls", argv) == python
    assert door.front_only("lxc-ls", argv) == (99, b"", b"FALLBACK\n")


@pytest.mark.parametrize("cols", [20, 40, 80])
def test_ls_columns_on_a_terminal(door, cols):
    """The plain layout wraps at the terminal's width (TIOCGWINSZ), as Python's."""
    import shlex
    outs = []
    for tool, pure in ((os.path.join(door.strict, "bin", "lxc-ls"), False),
                       (ours("lxc-ls"), True)):
        script = f"stty cols {cols}; {shlex.join([tool, '-P', door.ls])}"
        env = dict(door.env, LXCTOOLS_PURE_PYTHON="1") if pure else door.env
        done = subprocess.run(["script", "-qec", script, "/dev/null"], capture_output=True,
                              env=env, timeout=60)
        assert done.returncode == 0, done
        outs.append(done.stdout)
    assert outs[0] == outs[1]
    assert b"fdoor-a" in outs[0]


def test_lxcpath_spellings(door):
    """-P as a relative path, with trailing slashes, the default lxcpath from lxc.conf: the
    same socket found (paths.lxcpath_key: the directory's device and inode)."""
    python = door.python("lxc-info", ["-P", door.lp, "-n", RUN, "-s", "-p"])
    assert python[0] == 0
    for spelling, cwd in ((door.lp + "//", None), ("lp", door.root), ("./lp", door.root),
                          ("../" + os.path.basename(door.root) + "/lp", door.root)):
        argv = ["-P", spelling, "-n", RUN, "-s", "-p"]
        assert door.installed("lxc-info", argv, cwd=cwd) == python, spelling
        assert door.python("lxc-info", argv, cwd=cwd) == python, spelling
    # the default lxcpath, from lxc.conf
    conf = os.path.join(door.root, "lxc.conf")
    with open(conf) as handle:
        saved = handle.read()
    try:
        with open(conf, "a") as handle:
            handle.write(f"lxc.lxcpath = {door.lp}/\n")
        argv = ["-n", RUN, "-s", "-p"]
        assert door.front_only("lxc-info", argv) == python
        assert door.installed("lxc-info", argv) == door.python("lxc-info", argv) == python
    finally:
        with open(conf, "w") as handle:
            handle.write(saved)


def test_pure_python_forces_python(door):
    argv = ["-P", door.lp, "-n", RUN, "-s"]
    assert door.run(os.path.join(door.strict, "bin", "lxc-info"), argv, pure=True) == \
        (99, b"", b"FALLBACK\n")
    env_zero = dict(door.env, LXCTOOLS_PURE_PYTHON="0")
    done = subprocess.run([os.path.join(door.strict, "bin", "lxc-info"), *argv],
                          capture_output=True, env=env_zero)
    assert done.returncode == 0 and done.stdout.startswith(b"State:")


def test_a_supervisor_that_does_not_answer_goes_to_python(door, tmp_path):
    """A socket that takes the connection and closes it: the front door must not print a
    state of its own (Python decides: not running)."""
    import socket
    from lxctools.monitor.commands import socket_name

    name = "fdoor-mute"
    os.makedirs(os.path.join(door.lp, name), exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_name(door.lp, name))
    listener.listen(8)
    try:
        proc = subprocess.Popen([os.path.join(door.strict, "bin", "lxc-info"), "-P", door.lp,
                                 "-n", name, "-s"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=door.env)
        conn, _ = listener.accept()
        conn.recv(100)
        conn.close()
        out, err = proc.communicate(timeout=30)
        assert (proc.returncode, out, err) == (99, b"", b"FALLBACK\n")
    finally:
        listener.close()


@pytest.mark.parametrize("sig,expected", [("SIGINT", (130, b"", b"lxc-info: interrupted\n")),
                                          ("SIGTERM", (-15, b"", b""))])
def test_signals_while_waiting_for_the_supervisor(door, sig, expected):
    """Ctrl-C while the supervisor has not answered: "interrupted" and 130, as Python's
    run_tool; SIGTERM ends both by that signal. The same through both paths."""
    import signal
    import socket
    from lxctools.monitor.commands import socket_name

    name = "fdoor-slow"
    got = []
    for path, pure in ((os.path.join(door.strict, "bin", "lxc-info"), False),
                       (ours("lxc-info"), True)):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(socket_name(door.lp, name))
        listener.listen(8)
        try:
            env = dict(door.env, LXCTOOLS_PURE_PYTHON="1") if pure else door.env
            proc = subprocess.Popen([path, "-P", door.lp, "-n", name, "-s"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            conn, _ = listener.accept()
            assert b"\n" in conn.recv(1000)  # asked: now waiting for the answer
            proc.send_signal(getattr(signal, sig))
            out, err = proc.communicate(timeout=30)
            conn.close()
            got.append((proc.returncode, out, err))
        finally:
            listener.close()
    assert got[0] == got[1] == expected


def test_a_supervisor_that_dies_without_answering_stop_goes_to_python(door):
    """lxc-stop -k right after the supervisor was SIGKILLed: its socket may still take the
    connection and the request, then close without an answer. The front door must not say
    "not running" (the container runs on, orphaned): it waits until the socket is gone, then
    hands over to Python, which has the orphan adopted and stopped. Here a stand-in takes
    the request and closes; the front door's next probe of the socket shows that it waits."""
    import socket
    from lxctools.monitor.commands import socket_name

    name = "fdoor-dying"
    os.makedirs(os.path.join(door.lp, name), exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_name(door.lp, name))
    listener.listen(64)
    listener.settimeout(60)
    try:
        proc = subprocess.Popen([os.path.join(door.strict, "bin", "lxc-stop"), "-P", door.lp,
                                 "-n", name, "-k"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=door.env)
        conn, _ = listener.accept()
        assert b'"stop"' in conn.recv(1000)
        conn.close()  # dies without answering
        probe, _ = listener.accept()  # the front door looks whether the socket is still there
        probe.close()
    finally:
        listener.close()
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (99, b"", b"FALLBACK\n")


def test_stop_kill_same_through_both_paths(door):
    """lxc-stop -k: the front door asks the supervisor to kill and waits for STOPPED, as
    Python does; then the same on a second start through Python."""
    results = []
    for runner in (door.front_only, door.python):
        door.ok("lxc-start", "-n", KILL)
        door.ok("lxc-wait", "-n", KILL, "-s", "RUNNING", "-t", "30")
        results.append(runner("lxc-stop", ["-P", door.lp, "-n", KILL, "-k"]))
        # stopped when it returns (it waited), as through Python
        assert door.python("lxc-info", ["-P", door.lp, "-n", KILL, "-s"]) == \
            (0, b"State:          STOPPED\n", b"")
    assert results[0] == results[1] == (0, b"", b"")
    # -k -W: asked, not waited for
    door.ok("lxc-start", "-n", KILL)
    door.ok("lxc-wait", "-n", KILL, "-s", "RUNNING", "-t", "30")
    assert door.front_only("lxc-stop", ["-P", door.lp, "-n", KILL, "-k", "-W"]) == (0, b"", b"")
    door.ok("lxc-wait", "-n", KILL, "-s", "STOPPED", "-t", "30")


def peer_pid(conn):
    import socket
    import struct
    return struct.unpack("=i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)[:4])[0]


class FakeSupervisor:
    """A stand-in for an lxcpath's supervisor (monitor/daemon.py's socket): takes one
    connection at a time, keeps the request line, answers ANSWER (None: never answers)."""

    def __init__(self, lxcpath, answer, address=None):
        """ADDRESS: a container's own socket (commands.socket_name) instead of the
        lxcpath's."""
        import socket
        import threading
        from lxctools.monitor.daemon import daemon_socket

        self.answer = answer
        self.requests = []
        self.senders = []  # (SO_PEERCRED's pid, the pid the request's first fd names)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(address or daemon_socket(lxcpath))
        self.listener.listen(8)
        self.asked = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import json
        import socket

        from lxctools.kernel.libc import pidfd_pid
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            data = b""
            fds = []
            while not data.endswith(b"\n"):
                chunk, got, _flags, _addr = socket.recv_fds(conn, 4096, 4)
                fds += got
                if not chunk:
                    break
                data += chunk
            self.requests.append(json.loads(data))
            self.senders.append((peer_pid(conn), pidfd_pid(fds[0]) if fds else None))
            for fd in fds:
                os.close(fd)
            self.asked.set()
            if self.answer is None:
                self.held = conn  # the caller waits
                continue
            conn.sendall(json.dumps(self.answer).encode() + b"\n")
            conn.close()

    def close(self):
        import socket
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept: the thread ends
        except OSError:
            pass
        self.thread.join(30)
        self.listener.close()


START_ANSWERS = [
    {"ok": True, "pid": 4242, "warnings": []},
    {"ok": True, "pid": 4242, "warnings": ["config: \"lxc.utsname\" is deprecated", "two"]},
    {"error": "Container is already running", "exit_code": 0},
    {"error": "the rootfs is missing", "hint": "fix it, then lxc-start -n NAME -F",
     "exit_code": 1},
    {"error": "ValueError: boom", "hint": None},
]


@pytest.mark.parametrize("answer", START_ANSWERS, ids=["ok", "warnings", "running", "error",
                                                       "crash"])
@pytest.mark.parametrize("args", [["-n", "fdoor-st"], ["fdoor-st", "-d"], ["-q", "-n", "fdoor-st"]],
                         ids=["plain", "positional", "quiet"])
def test_start_through_the_supervisor_as_python_does(door, answer, args):
    """lxc-start -d when the lxcpath's supervisor listens: the front door sends the request
    Python sends, takes a plain success as the whole answer (answered alone: the strict
    copy's stub is never reached), and hands any other answer to Python, which says it in
    its words without asking again: the same stdout, stderr and status as
    LXCTOOLS_PURE_PYTHON=1, with the same request on the wire."""
    lp = os.path.join(door.root, "start-" + "-".join(args))
    os.makedirs(lp, exist_ok=True)
    argv = ["-P", lp, *args]
    fake = FakeSupervisor(lp, answer)
    try:
        python = door.python("lxc-start", argv)
        installed = door.installed("lxc-start", argv)
        alone = door.front_only("lxc-start", argv)
    finally:
        fake.close()
    assert installed == python
    plain = answer == START_ANSWERS[0]
    assert alone == (python if plain else (99, b"", b"FALLBACK\n"))
    assert len(fake.requests) == 3  # Python, the front door, the strict copy: once each
    assert fake.requests[0] == fake.requests[1] == fake.requests[2]
    # each carries a pidfd of its sender (protocol.SENDER_PIDFD), C and Python alike
    assert all(pid > 0 and named == pid for pid, named in fake.senders), fake.senders
    assert fake.requests[0]["cmd"] == "start" and fake.requests[0]["name"] == "fdoor-st"
    if "-q" in args:
        assert python[2] == b""
    elif "error" in answer:
        assert python[2].startswith(b"lxc-start: fdoor-st: "), python
    elif answer["warnings"]:
        assert python[2].endswith(b"lxc-start: warning: two\n"), python


@pytest.mark.parametrize("args", [
    ["-n", "fdoor-st", "-F"], ["-n", "fdoor-st", "--", "/bin/sh"], ["-n", "fdoor-st", "-o", "/dev/null"],
    ["-n", "fdoor-st", "-s", "lxc.uts.name=x"], ["-n", "fdoor-st", "-f", "/dev/null"],
    ["-n", "fdoor-st", "-p", "/tmp/x"], ["-n", "fdoor-st", "--explain"], ["-n", "a/b"],
    ["-n", "x" * 244], ["-n", 'fdoor"q'], ["-n", "fdoor-st", "-dF"], ["-n", "fdoor-st", "-x"],
], ids=lambda a: " ".join(a)[:40])
def test_start_leaves_the_rest_to_python(door, args):
    """Anything but a plain background start goes to Python before a word is sent."""
    lp = os.path.join(door.root, "start-rest")
    os.makedirs(lp, exist_ok=True)
    fake = FakeSupervisor(lp, START_ANSWERS[0])
    try:
        assert door.front_only("lxc-start", ["-P", lp, *args]) == (99, b"", b"FALLBACK\n")
    finally:
        fake.close()
    assert fake.requests == []


# ---- a cold start: no supervisor yet (native/lxc-front.c spawn_supervisor) ---------------

COLD = {"LXCTOOLS_SUPERVISOR_IDLE": "0"}  # each supervisor leaves with its last container


def supervisors_of(lp):
    """PIDs of our supervisors of LP: titled "[lxc monitor] LP ..." once serving, or still
    `... lxctools --supervise LP` as the front door spawned it."""
    title = f"[lxc monitor] {lp}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                words = handle.read().rstrip(b"\0")
        except OSError:
            continue
        if (words == title or words.startswith(title + b" ")
                or words.split(b"\0")[-2:] == [b"--supervise", lp.encode()]):
            found.append(int(entry))
    return found


def no_supervisor(lp, timeout=60):
    """Wait until LP has no supervisor of ours; one that stays with nothing to run (a start
    that failed keeps it a few seconds) is told to go."""
    import signal
    import time

    from lxctools.monitor.daemon import connect
    deadline = time.monotonic() + timeout
    while True:
        sock = connect(lp)
        if sock is None and not supervisors_of(lp):
            return
        if sock is not None:
            sock.close()
        for pid in supervisors_of(lp):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    idle = handle.read().rstrip(b"\0") == f"[lxc monitor] {lp}".encode()
                if idle:
                    os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        assert time.monotonic() < deadline, f"a supervisor of {lp} stays: {supervisors_of(lp)}"
        time.sleep(0.05)


def cold_lxcpath(door, tag, names, extra=""):
    lp = os.path.join(door.root, "cold-" + tag)
    for name in names:
        done = subprocess.run([ours("lxc-create"), "-P", lp, "-n", name, "-t", "busybox"],
                              capture_output=True, text=True, env=door.env)
        assert done.returncode == 0, done.stderr
        if extra:
            with open(os.path.join(lp, name, "config"), "a") as handle:
                handle.write(extra)
    return lp


def stopped(door, lp, name):
    door.python("lxc-stop", ["-P", lp, "-n", name, "-k"])
    door.ok("lxc-wait", "-P", lp, "-n", name, "-s", "STOPPED", "-t", "30")


COLD_CASES = {
    "ok": ("fdoor-cold", ""),
    "missing": ("fdoor-nothere", None),
    "warning": ("fdoor-cold", "lxc.utsname = fdoor-legacy\n"),
    "failing": ("fdoor-cold", "lxc.init.cmd = /no/such/init\n"),
}


@pytest.mark.parametrize("case", sorted(COLD_CASES))
def test_cold_start_same_answer_through_both_paths(door, case):
    """No supervisor serves the lxcpath: the front door spawns it itself (`lxctools
    --supervise`, never the Python tool: the strict copy's stub would say FALLBACK) and hands
    it the start; a plain success is its whole answer, anything else goes to Python as in
    the warm path. Stdout, stderr and status are LXCTOOLS_PURE_PYTHON=1's, each run cold."""
    name, extra = COLD_CASES[case]
    lp = cold_lxcpath(door, case, [] if extra is None else [name], extra or "")
    env = dict(door.env, **COLD)
    got = []
    try:
        for path, pure in ((ours("lxc-start"), True), (ours("lxc-start"), False),
                           (os.path.join(door.strict, "bin", "lxc-start"), False)):
            no_supervisor(lp)
            done = subprocess.run([path, "-P", lp, "-n", name],
                                  capture_output=True, timeout=120,
                                  env=dict(env, LXCTOOLS_PURE_PYTHON="1") if pure else env)
            got.append((done.returncode, done.stdout, done.stderr))
            if done.returncode == 0 and extra is not None:
                assert door.front_only("lxc-info", ["-P", lp, "-n", name, "-s"])[1] == \
                    b"State:          RUNNING\n"
                stopped(door, lp, name)
    finally:
        if extra is not None:
            door.python("lxc-stop", ["-P", lp, "-n", name, "-k"])
        no_supervisor(lp)
    python, installed, alone = got
    assert installed == python
    if case == "ok":
        assert python == (0, b"", b"")
        assert alone == python  # answered without the Python tool
    else:
        assert python != (0, b"", b""), python
        assert alone == (99, b"", b"FALLBACK\n")  # the answer handed to Python, as warm


def supervisor_facts(pid, marker):
    """What a supervisor took from whoever spawned it."""
    import re

    with open(f"/proc/{pid}/stat") as handle:
        stat = handle.read().rsplit(")", 1)[1].split()  # state ppid pgrp session tty_nr ...
    status = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    fds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    with open(f"/proc/{pid}/environ", "rb") as handle:
        environ = sorted(handle.read().split(b"\0"))
    with open(f"/proc/{pid}/limits") as handle:
        limits = handle.read()
    with open(f"/proc/{pid}/cgroup") as handle:
        cgroup = handle.read()
    return {
        "own session": int(stat[3]) == pid, "own group": int(stat[2]) == pid,
        "tty": int(stat[4]), "cwd": os.readlink(f"/proc/{pid}/cwd"),
        "stdio": [fds.get(fd) for fd in (0, 1, 2)],
        "caller's fd": [fd for fd, target in fds.items() if target == marker],
        "fds": sorted(re.sub(r"\[\d+\]$", "", target) for fd, target in fds.items() if fd > 2),
        "environ": environ, "limits": limits, "cgroup": cgroup,
        **{key: status[key] for key in ("Name", "Umask", "Uid", "Gid", "Groups", "SigBlk",
                                        "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff",
                                        "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
                                        "Threads")},
    }


def test_cold_start_supervisor_is_spawned_as_python_spawns_it(door, tmp_path):
    """The supervisor the front door spawns takes from its caller what the one the Python
    tool forks takes, and no more: a caller in a session of its own on a terminal, with an
    extra descriptor, SIGQUIT and SIGINT ignored, a core limit, a umask, its own cwd and
    environment. Both supervisors: in their own session without a terminal, in /, stdio on
    /dev/null, none of the caller's descriptors, the caller's environment and limits, in
    lxc.monitor.lxctools-KEY, one thread; everything compared equal between the two."""
    import fcntl
    import pty
    import resource
    import signal
    import sys
    import termios

    lp = cold_lxcpath(door, "facts", ["fdoor-facts"])
    marker = str(tmp_path / "callers-file")
    with open(marker, "w") as handle:
        handle.write("the caller's\n")
    # the strict copy's tools, whose `lxctools` runs the real one for --supervise only (a
    # Python stub here: a shell may rewrite PWD in the environment it passes on)
    bindir = tmp_path / "strict"
    bindir.mkdir()
    shutil.copy(os.path.join(door.strict, "bin", "lxc-start"), bindir / "lxc-start")
    (bindir / "lxctools").write_text(
        f"#!{sys.executable}\nimport os, sys\nif sys.argv[1:2] == ['--supervise']:\n"
        f"    os.execv({ours('lxctools')!r}, [{ours('lxctools')!r}, *sys.argv[1:]])\n"
        "sys.stderr.write('FALLBACK\\n')\nsys.exit(99)\n")
    os.chmod(bindir / "lxctools", 0o755)
    # and with pip's launcher as BINDIR/lxctools, which the front door runs as its
    # interpreter with -S and SUPERVISE_PROGRAM (cli/about.py): its "#!" names a wrapper that
    # notes its first argument ("-S" then, the launcher's path for the script) and execs
    # this venv's Python (the launcher's own interpreter, as pip wrote it)
    launcher = tmp_path / "launcher"
    launcher.mkdir()
    shutil.copy(os.path.join(door.strict, "bin", "lxc-start"), launcher / "lxc-start")
    with open(ours("lxctools")) as handle:
        real, _, pip_text = handle.read().partition("\n")
    taken = tmp_path / "taken"
    (launcher / "python").write_text(
        f"#!{real[2:]} -S\nimport os, sys\nwith open({str(taken)!r}, 'a') as handle:\n"
        "    handle.write(sys.argv[1] + '\\n')\n"
        f"os.execv({real[2:]!r}, [{real[2:]!r}, *sys.argv[1:]])\n")
    os.chmod(launcher / "python", 0o755)
    (launcher / "lxctools").write_text(f"#!{launcher / 'python'}\n{pip_text}")
    os.chmod(launcher / "lxctools", 0o755)
    env = dict(door.env, LXCTOOLS_COLD_FACTS="caller's", **COLD)
    facts = {}
    try:
        for how, argv in (("python", [ours("lxctools"), "--as", "lxc-start"]),
                          ("front door", [str(bindir / "lxc-start")]),
                          ("pip's launcher", [str(launcher / "lxc-start")])):
            no_supervisor(lp)
            master, slave = pty.openpty()
            held = os.open(marker, os.O_RDONLY)

            def caller():
                os.setsid()
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
                signal.signal(signal.SIGQUIT, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_CORE,
                                   (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
                os.umask(0o027)

            try:
                done = subprocess.run([*argv, "-P", lp, "-n", "fdoor-facts"], stdin=slave,
                                      stdout=slave, stderr=slave, env=env, cwd=str(tmp_path),
                                      pass_fds=(held,), preexec_fn=caller, timeout=120)
            finally:
                os.close(held)
                os.close(slave)
                os.close(master)
            assert done.returncode == 0, how
            [pid] = supervisors_of(lp)
            facts[how] = supervisor_facts(pid, marker)
            stopped(door, lp, "fdoor-facts")
    finally:
        door.python("lxc-stop", ["-P", lp, "-n", "fdoor-facts", "-k"])
        no_supervisor(lp)
    python = facts["python"]
    assert facts["front door"] == python
    assert facts["pip's launcher"] == python
    assert taken.read_text() == "-S\n"  # the supervisor run without site, nothing else
    assert python["own session"] and python["own group"] and python["tty"] == 0
    assert python["cwd"] == "/" and python["stdio"] == ["/dev/null"] * 3
    assert python["caller's fd"] == [] and python["Threads"] == "1"
    assert b"LXCTOOLS_COLD_FACTS=caller's" in python["environ"]
    assert int(python["SigIgn"], 16) & (1 << (signal.SIGQUIT - 1))
    assert re.search(r"Max core file size +0 ", python["limits"])
    for line in python["cgroup"].splitlines():
        assert re.search(r"/lxc\.monitor\.lxctools-[0-9a-f]{16}$", line), line


@pytest.mark.parametrize("paths", ["front-front", "front-python"])
def test_two_cold_starts_race_to_one_supervisor(door, paths):
    """Two lxc-start -d at once in an lxcpath without a supervisor (through the front door,
    or one through Python): each spawns one, one wins the lxcpath, the other's leaves at
    once; both starts are served by the winner: both containers run, one supervisor."""
    names = ["fdoor-race-a", "fdoor-race-b"]
    lp = cold_lxcpath(door, "race-" + paths, names)
    env = dict(door.env, **COLD)
    try:
        for _round in range(4):
            no_supervisor(lp)
            procs = [subprocess.Popen([ours("lxc-start"), "-P", lp, "-n", name],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=dict(env, LXCTOOLS_PURE_PYTHON="1")
                                      if (paths == "front-python" and name == names[1])
                                      else env)
                     for name in names]
            done = [(proc.wait(120), proc.stdout.read(), proc.stderr.read()) for proc in procs]
            for proc in procs:
                proc.stdout.close()
                proc.stderr.close()
            assert done == [(0, b"", b"")] * 2
            for name in names:
                assert door.front_only("lxc-info", ["-P", lp, "-n", name, "-s"])[1] == \
                    b"State:          RUNNING\n"
            [pid] = supervisors_of(lp)
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                assert handle.read().rstrip(b"\0") == \
                    f"[lxc monitor] {lp} {' '.join(names)}".encode()
            for name in names:
                stopped(door, lp, name)
    finally:
        for name in names:
            door.python("lxc-stop", ["-P", lp, "-n", name, "-k"])
        no_supervisor(lp)


def test_start_of_a_real_container_through_the_front_door(door):
    """The door's lxcpath has running containers (its supervisor is warm): the compiled
    lxc-start starts OFF by itself, and a second start says it runs, as Python's."""
    argv = ["-P", door.lp, "-n", OFF]
    try:
        assert door.front_only("lxc-start", argv) == (0, b"", b"")
        assert door.front_only("lxc-info", [*argv, "-s"])[1] == b"State:          RUNNING\n"
        python = door.python("lxc-start", argv)
        assert python == (0, b"", b"lxc-start: fdoor-off: Container is already running\n")
        assert door.installed("lxc-start", argv) == python
        assert door.front_only("lxc-start", argv) == (99, b"", b"FALLBACK\n")
    finally:
        door.python("lxc-stop", [*argv, "-k"])
    door.ok("lxc-wait", "-n", OFF, "-s", "STOPPED", "-t", "30")


@pytest.mark.parametrize("sig,expected", [("SIGINT", (130, b"", b"lxc-start: interrupted\n")),
                                          ("SIGTERM", (-15, b"", b""))])
def test_start_signals_while_waiting_for_the_supervisor(door, sig, expected):
    """Ctrl-C while the supervisor has not answered the start: the same through both paths."""
    import signal

    lp = os.path.join(door.root, "start-sig")
    os.makedirs(lp, exist_ok=True)
    got = []
    for path, pure in ((os.path.join(door.strict, "bin", "lxc-start"), False),
                       (ours("lxc-start"), True)):
        fake = FakeSupervisor(lp, None)
        try:
            env = dict(door.env, LXCTOOLS_PURE_PYTHON="1") if pure else door.env
            proc = subprocess.Popen([path, "-P", lp, "-n", "fdoor-st"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
            assert fake.asked.wait(60)  # asked: now waiting for the answer
            proc.send_signal(getattr(signal, sig))
            out, err = proc.communicate(timeout=30)
            got.append((proc.returncode, out, err))
        finally:
            fake.close()
    assert got[0] == got[1] == expected


REUSED_ADDRESS = "10.251.38.9"


@pytest.mark.parametrize("honest", [False, True], ids=["reused", "control"])
def test_ls_fancy_never_shows_a_reused_pids_addresses(door, honest):
    """lxc-ls -f reads a running container's addresses through /proc/INIT_PID: held by fd and
    checked against the start time the supervisor tells (kernel/procdir.py, lxc-front.c
    proc_dir). A stand-in supervisor answers with the pid of a process in a network
    namespace of the test's own (as if it had taken the pid of an init that exited) and a
    start time that is not that process's: the front door shows no address (and answers
    alone). The control tells the process's true start time: its address shows, so the
    staging reaches the reader and the test can fail."""
    import json
    import uuid

    from lxctools.monitor.commands import socket_name
    from lxctools.monitor.wire import process_start_time, state_dir

    lp = os.path.join(door.root, "reuse-" + ("control" if honest else "staged"))
    name = "fdoor-reuse"
    done = subprocess.run([ours("lxc-create"), "-P", lp, "-n", name, "-t", "none"],
                          capture_output=True, text=True, env=door.env)
    assert done.returncode == 0, done.stderr
    ns = "fdoor-" + uuid.uuid4().hex[:6]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    host = fake = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{REUSED_ADDRESS}/32", "dev", "lo"],
                       check=True)
        host = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "120"])
        for _ in range(100):  # until ip has exec'd sleep in the namespace
            if os.readlink(f"/proc/{host.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            import time
            time.sleep(0.05)
        start = process_start_time(host.pid)
        answer = {"state": "RUNNING", "init_pid": host.pid, "monitor_pid": os.getpid(),
                  "cgroups": None, "network": [], "config_file": None, "started_at": None,
                  "halt_signal": None, "conf": {}, "reboot_signal": None, "clone_flags": 0,
                  "init_start": start if honest else start + 1}
        fake = FakeSupervisor(lp, answer, address=socket_name(lp, name))
        record = os.path.join(state_dir(lp), name)  # what a supervisor writes beside its socket
        os.makedirs(os.path.dirname(record), exist_ok=True)
        with open(record, "w") as handle:
            json.dump({"name": name, "lxcpath": lp, "monitor_pid": os.getpid(),
                       "init_pid": host.pid, "state": "RUNNING"}, handle)
        code, out, err = door.front_only("lxc-ls", ["-P", lp, "-f"])
    finally:
        if fake is not None:
            fake.close()
        try:
            os.unlink(os.path.join(state_dir(lp), name))
        except OSError:
            pass
        if host is not None:
            host.kill()
            host.wait()
        subprocess.run(["ip", "netns", "del", ns])
    assert (code, err) == (0, b""), (code, out, err)
    row = [line.split() for line in out.decode().splitlines() if line.startswith(name)]
    assert row and row[0][1] == "RUNNING", out
    if honest:
        assert REUSED_ADDRESS in out.decode(), ("the staging did not reach the reader", out)
    else:
        assert REUSED_ADDRESS not in out.decode(), "a host process's address listed"


# ---- lxc-attach ---------------------------------------------------------------------------

# what the command sees of its environment: all of it, but the variable that forces Python
ENV = ["sh", "-c", "env | grep -v '^LXCTOOLS_PURE_PYTHON='"]
ATTACH_CASES = [
    (["-n", RUN, "--", "/bin/true"], True),
    (["-n", RUN, "--", "sh", "-c", "echo out; echo err >&2; exit 3"], True),
    (["-n", RUN, "--", "/nonexistent"], True),        # 127, LXC's message
    (["-n", RUN, "--", "/etc/passwd"], True),         # 126
    (["-n", RUN, "--", "nosuchcommand"], True),
    (["-n", RUN, "--", *ENV], True),
    (["-n", RUN, "--clear-env", "--", *ENV], True),
    (["-n", RUN, "--clear-env", "--keep-var", "HOME", "--keep-var=LANG", "-v", "FOO=bar",
      "-v", "HOME", "--", *ENV], True),
    (["-n", RUN, "--keep-env", "-v", "A=1", "--set-var=B=2", "-v", "A=3", "-v", "PATH", "--",
      *ENV], True),
    (["-n", RUN, "-u", "1000", "-g", "1000", "--", "id"], True),
    (["-n", RUN, "--uid=7", "--", "id"], True),
    (["-n", RUN, "-e", "--", "grep", "-E", "^(Cap|Seccomp|NoNewPrivs)", "/proc/self/status"],
     True),
    (["-n", RUN, "-eCAP|LSM", "--", "grep", "-E", "^(Cap|Seccomp)", "/proc/self/status"], True),
    (["-n", RUN, "--elevated-privileges=CGROUP", "--", "cat", "/proc/self/cgroup"], True),
    (["-n", RUN, "--", "grep", "-E", "^(Cap|Seccomp|NoNewPrivs)", "/proc/self/status"], True),
    (["-n", RUN, "--", "cat", "/proc/self/cgroup"], True),
    (["-n", RUN, "--", "cat"], True),                 # stdin passes through
    (["-n", RUN, "--", "pwd"], True),
    (["-n", RUN, "--", "sh", "-c", "kill -TERM $$"], True),  # 143
    (["-n", RUN, "echo", "no", "dashes"], True),
    (["-n", RUN, "echo", "--", "-n", "x"], True),
    (["--name", RUN, "--lxcpath-is-not-here"], False),
    # left to Python: other options, errors, a stopped or unknown container
    (["-n", OFF, "--", "true"], False),
    (["-n", "fdoor-nothere", "--", "true"], False),
    ([RUN, "--", "true"], False),
    (["-n", RUN, "-s", "UTSNAME", "--", "hostname"], False),
    (["-n", RUN, "-R", "--", "true"], False),
    (["-n", RUN, "-a", "i686", "--", "uname", "-m"], False),
    (["-n", RUN, "-q", "--", "true"], False),
    (["-n", RUN, "-eFOO", "--", "true"], False),
    (["-n", RUN, "-u", "x", "--", "true"], False),
    (["-n", RUN, "-u", "-1", "--", "true"], False),
    (["-n", RUN, "--clear", "--", "true"], False),
    (["-n", RUN, "echo", "-n", "x"], False),
    (["-n", RUN, "-L", "/dev/null", "--", "true"], False),
]


@pytest.mark.parametrize("case", ATTACH_CASES, ids=[" ".join(c[0]) for c in ATTACH_CASES])
def test_attach_same_answer_through_both_paths(door, case, tmp_path):
    args, answered = case
    argv = ["-P", door.lp, *args]
    kw = {"input": b"line one\nline two\n", "cwd": str(tmp_path)}
    python = door.python("lxc-attach", argv, **kw)
    assert door.installed("lxc-attach", argv, **kw) == python
    alone = door.front_only("lxc-attach", argv, **kw)
    if answered:
        assert alone == python, "the front door must answer this one itself"
    else:
        assert alone == (99, b"", b"FALLBACK\n"), "this one is Python's to answer"


def test_attach_directories(door):
    """The caller's directory when the container has it (/tmp, /), else the container's
    root; through both paths."""
    for cwd in ("/tmp", "/", "/usr/lib", os.path.dirname(door.lp)):
        argv = ["-P", door.lp, "-n", RUN, "--", "pwd"]
        python = door.python("lxc-attach", argv, cwd=cwd, input=b"")
        assert python[0] == 0
        assert door.front_only("lxc-attach", argv, cwd=cwd, input=b"") == python


def test_attach_environment_in_other_locales(door):
    """Python sets LC_CTYPE=C.UTF-8 in its environment when the locale is C (PEP 538): the
    command sees what it would see through Python."""
    argv = ["-P", door.lp, "-n", RUN, "--", *ENV]
    base = {k: v for k, v in door.env.items() if not k.startswith("LC_") and k != "LANG"}
    for extra in ({}, {"LANG": "C"}, {"LC_ALL": "C"}, {"LC_CTYPE": "POSIX", "LANG": "C.UTF-8"},
                  {"LC_CTYPE": "xx_YY.UTF-8"}, {"LANG": "C.UTF-8"}, {"LC_ALL": "C.UTF-8"}):
        saved = door.env
        door.env = dict(base, **extra)
        try:
            python = door.python("lxc-attach", argv, input=b"")
            assert python[0] == 0, python
            assert door.front_only("lxc-attach", argv, input=b"") == python, extra
        finally:
            door.env = saved


def test_attach_reads_a_changed_config_again(door, tmp_path):
    """LXC reads the container's config at each attach: the supervisor's kept answer is used
    only while the config and every file it includes stat as they did; a change is read
    again (the front door still answers), through the include too."""
    config = os.path.join(door.lp, RUN, "config")
    extra = str(tmp_path / "extra.conf")
    with open(extra, "w") as handle:
        handle.write("lxc.environment = FDOOR_INCLUDED=one\n")
    with open(config) as handle:
        original = handle.read()
    show = ["-P", door.lp, "-n", RUN, "--", "sh", "-c",
            "echo ${FDOOR_ADDED-unset} ${FDOOR_INCLUDED-unset}"]
    try:
        assert door.front_only("lxc-attach", show, input=b"") == (0, b"unset unset\n", b"")
        with open(config, "a") as handle:
            handle.write("lxc.environment = FDOOR_ADDED=1\n")
        assert door.front_only("lxc-attach", show, input=b"") == (0, b"1 unset\n", b"")
        settled([config])  # now kept by the supervisor
        assert door.front_only("lxc-attach", show, input=b"") == (0, b"1 unset\n", b"")
        with open(config, "a") as handle:
            handle.write(f"lxc.include = {extra}\n")
        assert door.front_only("lxc-attach", show, input=b"") == (0, b"1 one\n", b"")
        settled([config, extra])
        assert door.front_only("lxc-attach", show, input=b"") == (0, b"1 one\n", b"")
        with open(extra, "w") as handle:
            handle.write("lxc.environment = FDOOR_INCLUDED=two\n")
        assert door.front_only("lxc-attach", show, input=b"") == (0, b"1 two\n", b"")
        assert door.python("lxc-attach", show, input=b"") == (0, b"1 two\n", b"")
        # a config the engine warns about: Python says the warning
        with open(extra, "a") as handle:
            handle.write("lxc.network.type = empty\n")
        python = door.python("lxc-attach", show, input=b"")
        assert door.installed("lxc-attach", show, input=b"") == python
        if python[2]:
            assert door.front_only("lxc-attach", show, input=b"")[0] == 99
    finally:
        with open(config, "w") as handle:
            handle.write(original)


@pytest.mark.parametrize("pure", [False, True], ids=["front", "python"])
def test_attach_signals_without_a_terminal(door, pure):
    """No terminal: Ctrl-C reaches the whole process group, the command dies of it, and
    lxc-attach (which ignores it) exits 130; SIGTERM ends lxc-attach itself by that signal;
    SIGINT to lxc-attach alone leaves the command running to its end."""
    import signal

    path = ours("lxc-attach") if pure else os.path.join(door.strict, "bin", "lxc-attach")
    env = dict(door.env, LXCTOOLS_PURE_PYTHON="1") if pure else door.env

    def started(seconds):
        proc = subprocess.Popen([path, "-P", door.lp, "-n", RUN, "--", "sh", "-c",
                                 f"echo started; exec sleep {seconds}"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        assert proc.stdout.readline() == b"started\n", proc.stderr.read()
        return proc

    proc = started(30)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's ^C, to the foreground group
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (130, b"", b"")
    proc = started(30)
    proc.send_signal(signal.SIGTERM)
    # the command runs on (it holds our pipes: no communicate() until it is gone)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    subprocess.run([ours("lxc-attach"), "-P", door.lp, "-n", RUN, "--", "killall", "sleep"],
                   env=door.env, capture_output=True)
    out, err = proc.communicate(timeout=30)
    assert (out, err) == (b"", b"")
    proc = started(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (0, b"", b"")
    subprocess.run([ours("lxc-attach"), "-P", door.lp, "-n", RUN, "--", "killall", "sleep"],
                   env=door.env, capture_output=True)


@pytest.mark.parametrize("pure", [False, True], ids=["front", "python"])
def test_attach_on_a_terminal(door, pure):
    """On a terminal: a pty from the container's devpts, the caller's size, raw mode for
    the relay and the terminal given back as it was; ^C kills the command (130)."""
    import pexpect

    path = ours("lxc-attach") if pure else os.path.join(door.strict, "bin", "lxc-attach")
    env = dict(door.env, LXCTOOLS_PURE_PYTHON="1") if pure else door.env
    child = pexpect.spawn(path, ["-P", door.lp, "-n", RUN, "--", "sh", "-c",
                                 "tty; test -t 0 && echo IN-TTY; read x; "
                                 "echo got-$x; stty size; exit 5"],
                          env=env, timeout=30, dimensions=(33, 101))
    try:
        child.expect(r"/dev/pts/\d+")
        child.expect("IN-TTY")
        child.sendline("typed")
        child.expect("got-typed")
        # the size once the relay runs (a command that asks at once may see 0 0, through
        # either path: the relay copies it when it starts)
        child.expect("33 101")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 5
    child = pexpect.spawn(path, ["-P", door.lp, "-n", RUN, "--", "sh", "-c",
                                 "echo ready; exec sleep 30"], env=env, timeout=30)
    try:
        child.expect("ready")
        child.sendcontrol("c")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 130
    # a shell at the terminal, and the terminal's settings after
    child = pexpect.spawn("sh", ["-c", f"stty -a > {door.root}/before; "
                                       f"'{path}' -P '{door.lp}' -n {RUN}; "
                                       f"echo status=$?; stty -a > {door.root}/after"],
                          env=env, timeout=30)
    try:
        child.expect("# ")
        child.sendline("exit 4")
        child.expect("status=4")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    with open(f"{door.root}/before") as before, open(f"{door.root}/after") as after:
        assert before.read() == after.read()


@pytest.mark.parametrize("answer", [None, b'{"error": "unknown command \'attach\'", "hint": null}\n',
                                    b'{"version": 1, "init_pid": 1, "records": "", "nfds": 0, '
                                    b'"mnt": false}\n'],
                         ids=["closes", "an older supervisor", "another plan version"])
def test_attach_leaves_a_supervisor_it_cannot_use_to_python(door, answer):
    """A supervisor that closes without an answer, one that does not know the request, one
    whose plan is of another version: Python attaches (or says why not)."""
    import socket
    from lxctools.monitor.commands import socket_name

    name = "fdoor-mute-attach"
    os.makedirs(os.path.join(door.lp, name), exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_name(door.lp, name))
    listener.listen(8)
    try:
        proc = subprocess.Popen([os.path.join(door.strict, "bin", "lxc-attach"), "-P", door.lp,
                                 "-n", name, "--", "true"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=door.env)
        conn, _ = listener.accept()
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
        assert len(fds) == 1  # the caller's pidfd
        for fd in fds:
            os.close(fd)
        if answer:
            conn.sendall(answer)
        conn.close()
        out, err = proc.communicate(timeout=30)
        assert (proc.returncode, out, err) == (99, b"", b"FALLBACK\n")
    finally:
        listener.close()


def test_attach_with_a_closed_stdio_goes_to_python(door):
    argv = [os.path.join(door.strict, "bin", "lxc-attach"), "-P", door.lp, "-n", RUN, "--",
            "true"]
    done = subprocess.run(["sh", "-c", '"$@" <&-', "sh", *argv], capture_output=True,
                          env=door.env, timeout=60)
    assert (done.returncode, done.stderr) == (99, b"FALLBACK\n")


@pytest.mark.parametrize("tool, args", [("lxc-info", ["-s"]), ("lxc-stop", ["-k"]),
                                        ("lxc-wait", ["-s", "RUNNING"])])
def test_every_request_carries_the_senders_pidfd(door, tool, args):
    """The compiled front door's requests to a container's supervisor carry a pidfd of the
    sender first among their fds (protocol.SENDER_PIDFD: the supervisor's proof of who
    asks on a kernel without SO_PEERPIDFD), as Python's do: a stand-in supervisor on the
    container's socket finds it naming the pid SO_PEERCRED gives."""
    from lxctools.monitor.wire import socket_name

    lp = os.path.join(door.root, "senders-" + tool)
    os.makedirs(lp, exist_ok=True)
    name = "fdoor-sender"
    answer = {"state": "RUNNING"} if tool != "lxc-stop" else {"ok": True}
    fake = FakeSupervisor(lp, answer, address=socket_name(lp, name))
    try:
        door.front_only(tool, ["-P", lp, "-n", name, *args])
        door.python(tool, ["-P", lp, "-n", name, *args])
    finally:
        fake.close()
    assert fake.requests, "nothing asked"
    assert {request["cmd"] for request in fake.requests} >= {
        {"lxc-info": "state", "lxc-stop": "stop", "lxc-wait": "wait"}[tool]}
    assert all(pid > 0 and named == pid for pid, named in fake.senders), fake.senders


def test_info_lists_every_address_once(door):
    """Not a vacuous equivalence: the front door itself lists RUN's addresses, in Python's
    order and forms (IPv4 each once, loopback and link-local left out, IPv6 compressed)."""
    code, out, err = door.front_only("lxc-info", ["-P", door.lp, "-n", RUN, "-i"])
    assert (code, err) == (0, b"")
    lines = out.decode().split("\n")
    assert lines[:2] == ["IP:             192.0.2.7", "IP:             198.51.100.9"]
    # IPv6 in the kernel's if_inet6 order (a hash's)
    assert sorted(lines[2:]) == ["", "IP:             2001:0:0:1::1",
                                 "IP:             2001:db8:0:1::", "IP:             2001:db8::7"]


_LINK_COUNTER = re.compile(rb"^( (?:TX|RX|Total) bytes: +).*$", re.M)


def test_info_link_rows_of_a_veth_through_both_paths(door):
    """lxc-info's Link, TX, RX and Total rows (a veth's host side, counted in the caller's
    network namespace), through the front door and Python: the supervisor, the veth's host
    side and both lxc-info runs in a network namespace of the test's own (nothing is made in
    the host's). Counters aside (they move), byte for byte."""
    ns = "lxct-fdoor"
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    lp = os.path.join(door.root, "veth")
    name = "fdoor-veth"
    # nsenter, not `ip netns exec`: that one mounts a new /sys, without the cgroup mounts
    inside = ["nsenter", f"--net=/run/netns/{ns}"]

    def run(tool_path, args, pure=False):
        env = dict(door.env, LXCTOOLS_PURE_PYTHON="1") if pure else door.env
        done = subprocess.run([*inside, tool_path, "-P", lp, "-n", name, *args],
                              capture_output=True, env=env, timeout=120)
        return done.returncode, _LINK_COUNTER.sub(rb"\1#", _counters(done.stdout)), done.stderr

    try:
        done = subprocess.run([ours("lxc-create"), "-P", lp, "-n", name, "-t", "busybox"],
                              capture_output=True, text=True, env=door.env)
        assert done.returncode == 0, done.stderr
        with open(os.path.join(lp, name, "config"), "a") as handle:
            handle.write("lxc.net.0.type = veth\nlxc.net.0.flags = up\n")
        started = subprocess.run([*inside, ours("lxc-start"), "-P", lp, "-n", name],
                                 capture_output=True, text=True, env=door.env, timeout=120)
        assert started.returncode == 0, started.stderr
        for args in ([], ["-S"], ["-S", "-H"], ["-H"]):
            python = run(ours("lxc-info"), args, pure=True)
            assert python[0] == 0 and b"Link:" in python[1], python
            assert run(ours("lxc-info"), args) == python
            assert run(os.path.join(door.strict, "bin", "lxc-info"), args) == python
    finally:
        subprocess.run([*inside, ours("lxc-stop"), "-P", lp, "-n", name, "-k"],
                       capture_output=True, env=door.env)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
