"""lxc-attach on real busybox containers: ours into ours side by side with real LXC into
its own, exit codes, environment, namespaces, users, and an interactive pty."""

import os
import signal
import subprocess
import time

import pytest

from lxcenv import World, world  # noqa: F401  (fixture)


@pytest.fixture
def pair(world):
    """The same busybox container run by us and by real LXC."""
    assert world.ours("lxc-create", "-n", "att-a", "-t", "busybox").returncode == 0
    assert world.real("lxc-create", "-n", "att-a", "-t", "busybox").returncode == 0
    assert world.ours("lxc-start", "-n", "att-a").returncode == 0
    assert world.real("lxc-start", "-n", "att-a").returncode == 0
    yield world
    world.ours("lxc-stop", "-n", "att-a", "-k")
    world.real("lxc-stop", "-n", "att-a", "-k")


def both(world, *args, env=None, name="att-a"):
    ours = world.ours("lxc-attach", "-n", name, *args)
    real = world.real("lxc-attach", "-n", name, *args)
    return ours, real


def both_from(world, cwd, *args):
    """Both lxc-attach runs started in directory CWD (LXC keeps the caller's directory)."""
    from conftest import ours, real_lxc
    from lxcenv import SANE_PATH

    mine = subprocess.run([ours("lxc-attach"), "-P", world.lp, "-n", "att-a", *args],
                          capture_output=True, text=True, env=world.env, cwd=cwd, timeout=60)
    theirs = subprocess.run([real_lxc("lxc-attach"), "-P", world.real_lp, "-n", "att-a", *args],
                            capture_output=True, text=True, cwd=cwd, timeout=60,
                            env=dict(os.environ, LANG="C", PATH=SANE_PATH))
    return mine, theirs


@pytest.mark.parametrize("command", [
    ["id"], ["hostname"], ["cat", "/proc/1/cmdline"], ["ls", "/"], ["ls", "/dev"],
    ["sh", "-c", "ps -o pid,comm | head -4"], ["cat", "/proc/self/status"],
    ["sh", "-c", "cat /proc/1/cgroup"], ["readlink", "/proc/self/ns/net"],
    ["cat", "/proc/self/cgroup"], ["-e", "--", "cat", "/proc/self/cgroup"],
])
def test_same_view_as_real_lxc(pair, command):
    args = [*([] if command[0] == "-e" else ["--"]), *command]
    ours, real = both(pair, *args)
    if command[0] == "sh" and "ps" in command[2]:
        # busybox init forks its gettys and syslogd as the container starts: one not yet
        # exec'd shows as "init" (seen under load). Both views once neither shows one.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
                line.split()[1:] == ["init"] and line.split()[0] != "1"
                for line in (ours.stdout + real.stdout).splitlines()[1:]):
            time.sleep(0.2)
            ours, real = both(pair, *args)
    assert ours.returncode == real.returncode == 0, ours.stderr + real.stderr
    if command[0] == "readlink":
        assert ours.stdout != os.readlink("/proc/self/ns/net") + "\n"
        return
    if command == ["cat", "/proc/self/status"]:
        pick = lambda text: [l for l in text.splitlines()  # noqa: E731
                             if l.startswith(("Cap", "NoNewPrivs", "Seccomp", "Uid", "Gid"))]
        assert pick(ours.stdout) == pick(real.stdout)
        return
    assert ours.stdout == real.stdout


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exit_codes(pair, code):
    ours, real = both(pair, "--", "sh", "-c", f"exit {code}")
    assert ours.returncode == real.returncode == code


def test_killed_and_missing_commands(pair):
    ours, real = both(pair, "--", "sh", "-c", "kill -9 $$")
    assert ours.returncode == real.returncode == 128 + 9
    ours, real = both(pair, "--", "/nonexistent")
    assert ours.returncode == real.returncode == 127
    assert 'Failed to exec "/nonexistent"' in ours.stderr


def test_environment_policies(pair):
    ours, real = both(pair, "--clear-env", "--", "env")
    assert sorted(ours.stdout.split()) == sorted(real.stdout.split())
    ours, real = both(pair, "--clear-env", "-v", "FOO=bar", "--", "env")
    assert sorted(ours.stdout.split()) == sorted(real.stdout.split())
    kept = pair.ours("lxc-attach", "-n", "att-a", "--", "env")
    assert "container=lxc" in kept.stdout.split() and "LXC_GLOBAL_CONF=" in kept.stdout


def test_users_and_namespace_selection(pair):
    ours, real = both(pair, "-u", "1000", "-g", "1000", "--", "id")
    assert ours.returncode == real.returncode == 0 and ours.stdout == real.stdout
    ours, real = both(pair, "-s", "NETWORK", "--", "cat", "/etc/hostname")
    assert ours.returncode == real.returncode == 0
    assert ours.stdout == real.stdout  # still the host's filesystem
    ours, real = both(pair, "-s", "UTSNAME", "--", "hostname")
    assert ours.stdout.strip() == "att-a" == real.stdout.strip()
    bad = pair.ours("lxc-attach", "-n", "att-a", "-s", "network", "--", "true")
    assert bad.returncode == 1 and "invalid namespace name" in bad.stderr


def test_stdin_passes_through(pair):
    proc = pair.ours("lxc-attach", "-n", "att-a", "--", "sh", "-c", "cat > /tmp/in; cat /tmp/in",
                     input="from the host\n")
    assert proc.returncode == 0 and proc.stdout == "from the host\n"


def test_not_running(world):
    assert world.ours("lxc-create", "-n", "att-s", "-t", "busybox").returncode == 0
    proc = world.ours("lxc-attach", "-n", "att-s", "--", "true")
    assert proc.returncode == 1 and "att-s is not running" in proc.stderr


def test_interactive_shell_on_a_pty(pair):
    import pexpect
    from conftest import ours

    log = os.path.join(pair.root, "pty.log")
    child = pexpect.spawn(ours("lxc-attach"), ["-P", pair.lp, "-n", "att-a", "-L", log],
                          env=pair.env, encoding="utf-8", timeout=20, dimensions=(33, 101))
    child.expect("# ")
    child.sendline("stty size; tty; echo DONE-$((40+2))")
    child.expect("33 101")
    child.expect("/dev/pts/")
    child.expect("DONE-42")
    child.sendline("exit 5")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5
    with open(log, errors="replace") as handle:
        assert "DONE-42" in handle.read()
    assert os.stat(log).st_mode & 0o777 == 0o600  # as real LXC's -L file


def test_working_directory_is_the_callers_when_the_container_has_it(pair, tmp_path):
    for cwd, expected in (("/tmp", "/tmp\n"), ("/etc", "/etc\n"), (str(tmp_path), "/\n")):
        ours, real = both_from(pair, cwd, "--", "pwd")
        assert ours.returncode == real.returncode == 0, ours.stderr
        assert ours.stdout == real.stdout == expected


def test_exec_failures_as_lxc(pair):
    ours, real = both(pair, "--", "/etc/passwd")  # not executable
    assert ours.returncode == real.returncode == 126
    assert 'Permission denied - Failed to exec "/etc/passwd"' in ours.stderr
    ours, real = both(pair, "--", "nosuchcommand")
    assert ours.returncode == real.returncode == 127


def test_other_user_loses_the_bounding_set_too(pair):
    pick = lambda text: [l for l in text.splitlines() if l.startswith("Cap")]  # noqa: E731
    ours, real = both(pair, "-u", "1000", "-g", "1000", "--", "cat", "/proc/self/status")
    assert ours.returncode == real.returncode == 0
    assert pick(ours.stdout) == pick(real.stdout)
    # sys_module, sys_time, mac_* (the template) and sys_rawio (common.conf) dropped
    assert "CapBnd:\t000001fcfcfcffff" in ours.stdout
    ours, real = both(pair, "-u", "1000", "--", "sh", "-c", "id; cat /proc/self/status")
    assert ours.stdout.splitlines()[0] == real.stdout.splitlines()[0]
    assert [l for l in ours.stdout.splitlines() if l.startswith("Groups")] == \
        [l for l in real.stdout.splitlines() if l.startswith("Groups")]


def test_command_without_dashes_and_optional_elevated_list(pair):
    ours, real = both(pair, "hostname")
    assert ours.returncode == real.returncode == 0 and ours.stdout == real.stdout == "att-a\n"
    # getopt's optional argument: `-e hostname` is -e (all) and then the command
    ours, real = both(pair, "-e", "hostname")
    assert ours.returncode == real.returncode == 0 and ours.stdout == real.stdout
    ours, real = both(pair, "-eCAP", "--", "grep", "CapBnd", "/proc/self/status")
    assert ours.returncode == real.returncode == 0 and ours.stdout == real.stdout
    bad = pair.ours("lxc-attach", "-n", "att-a", "-eBOGUS", "--", "true")
    assert bad.returncode == 1 and 'invalid elevated privilege "BOGUS"' in bad.stderr


def test_rcfile_gives_the_environment(pair):
    rc = os.path.join(pair.root, "rc.conf")
    with open(rc, "w") as handle:
        handle.write("lxc.environment = FROMRC=yes\n")
    for flag in ("-f", "--rcfile"):
        ours, real = both(pair, flag, rc, "--clear-env", "--", "env")
        assert ours.returncode == real.returncode == 0
        assert sorted(ours.stdout.split()) == sorted(real.stdout.split())
        assert "FROMRC=yes" in ours.stdout.split()
    ours, real = both(pair, "-f", rc + ".missing", "--", "true")
    assert ours.returncode == real.returncode == 1
    assert "Failed to load rcfile" in ours.stderr
    # -v NAME without a value removes NAME (LXC's putenv)
    ours, real = both(pair, "-v", "container", "--", "env")
    assert ("container=lxc" in ours.stdout.split()) == ("container=lxc" in real.stdout.split())


def test_config_limits_arch_and_environment_reach_the_command(world):
    extra = ("lxc.prlimit.nofile = 1234:2345\nlxc.environment = FROMCONF=1\n"
             "lxc.arch = i686\nlxc.proc.oom_score_adj = 17\n")
    conf = os.path.join(world.root, "extra.conf")
    with open(conf, "w") as handle:
        handle.write(open(world.net_conf).read() + extra)
    assert world.ours("lxc-create", "-n", "att-l", "-t", "busybox", "-f", conf).returncode == 0
    assert world.real("lxc-create", "-n", "att-l", "-t", "busybox", "-f", conf).returncode == 0
    try:
        assert world.ours("lxc-start", "-n", "att-l").returncode == 0
        assert world.real("lxc-start", "-n", "att-l").returncode == 0
        script = ("ulimit -n; ulimit -Hn; uname -m; cat /proc/self/oom_score_adj; "
                  "echo $FROMCONF; grep -c . /proc/self/environ >/dev/null; echo done")
        ours, real = both(world, "--clear-env", "--", "sh", "-c", script, name="att-l")
        assert ours.returncode == real.returncode == 0, ours.stderr + real.stderr
        assert ours.stdout == real.stdout == "1234\n2345\ni686\n17\n1\ndone\n"
    finally:
        world.ours("lxc-stop", "-n", "att-l", "-k")
        world.real("lxc-stop", "-n", "att-l", "-k")


def test_interrupt_without_a_terminal(pair):
    """^C without a terminal: the whole process group gets SIGINT; lxc-attach ignores it and
    returns the command's status, as LXC does (LXC ignores it only once the command runs:
    hence the pause)."""
    from conftest import ours, real_lxc
    from lxcenv import SANE_PATH

    script = "trap 'echo trapped; exit 7' INT; echo ready; while :; do sleep 0.1; done"
    for argv, env in (
            ([ours("lxc-attach"), "-P", pair.lp], pair.env),
            ([real_lxc("lxc-attach"), "-P", pair.real_lp], dict(os.environ, PATH=SANE_PATH))):
        proc = subprocess.Popen([*argv, "-n", "att-a", "--", "sh", "-c", script],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                                stderr=subprocess.PIPE,
                                env=env, start_new_session=True)
        try:
            assert proc.stdout.readline() == "ready\n"
            time.sleep(0.5)
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=20) == 7, argv[0]
            assert proc.stdout.read() == "trapped\n"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _spawn_bash(world, script, log):
    import pexpect
    child = pexpect.spawn("/bin/bash", ["-c", script], env=world.env, encoding="utf-8",
                          timeout=30, dimensions=(24, 80), logfile=log)
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_redirected_stdio_stays_plain_when_a_terminal_is_there(pair):
    """Only the stdio fds that are terminals get the pty: a file gets plain lines, a pipe
    into stdin is read by the command, as with LXC."""
    from conftest import ours, real_lxc
    from lxcenv import SANE_PATH

    outputs = {}
    for side, attach in (("ours", f"{ours('lxc-attach')} -P {pair.lp}"),
                         ("real", f"PATH={SANE_PATH} {real_lxc('lxc-attach')} -P {pair.real_lp}")):
        out = os.path.join(pair.root, f"{side}.out")
        err = os.path.join(pair.root, f"{side}.err")
        piped = os.path.join(pair.root, f"{side}.piped")
        script = (f"{attach} -n att-a -- sh -c 'echo out; echo err >&2; tty' >{out} 2>{err}; "
                  f"echo piped | {attach} -n att-a -- sh -c 'read x; echo got $x; tty' "
                  f"| cat > {piped}; exit 3")
        assert _spawn_bash(pair, script, None) == 3
        outputs[side] = [open(path).read() for path in (out, err, piped)]
    assert outputs["ours"][0].startswith("out\n/dev/pts/")  # stdin alone was the terminal
    assert outputs["ours"][1] == outputs["real"][1] == "err\n"
    assert outputs["ours"][2] == outputs["real"][2] == "got piped\nnot a tty\n"


def test_unprivileged_container(world):
    """A container with lxc.idmap (root writes the maps): attach runs as its root, with the
    capabilities of its user namespace (values as real LXC's in lxc-on-this-host.md 6)."""
    import shutil
    import tempfile

    conf = os.path.join(world.root, "userns.conf")
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\nlxc.idmap = u 0 300000 65536\n"
                     "lxc.idmap = g 0 300000 65536\n")
    # the container's root (host uid 300000) must reach its rootfs: pytest's tmp is 0700
    lp = tempfile.mkdtemp(prefix="att-userns-", dir="/tmp")
    os.chmod(lp, 0o711)
    try:
        assert world.ours("lxc-create", "-n", "att-u", "-t", "busybox", "-f", conf,
                          lxcpath=lp).returncode == 0
        start = world.ours("lxc-start", "-n", "att-u", lxcpath=lp)
        assert start.returncode == 0, start.stderr
        proc = world.ours("lxc-attach", "-n", "att-u", "--", "sh", "-c",
                          "id; cat /proc/self/uid_map; grep -E '^Cap(Eff|Bnd)' /proc/self/status",
                          lxcpath=lp)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0] == "uid=0(root) gid=0(root)"
        assert lines[1].split() == ["0", "300000", "65536"]
        assert lines[2:] == ["CapEff:\t000001fcfdfeffff", "CapBnd:\t000001fcfdfeffff"]
        proc = world.ours("lxc-attach", "-n", "att-u", "-u", "1000", "-g", "1000", "--",
                          "sh", "-c", "id; grep CapEff /proc/self/status", lxcpath=lp)
        assert proc.stdout == "uid=1000 gid=1000\nCapEff:\t0000000000000000\n", proc.stderr
        pid = int(world.ours("lxc-info", "-n", "att-u", "-pH", lxcpath=lp).stdout)
        with open(f"/proc/{pid}/status") as handle:
            assert any(l.split()[1:2] == ["300000"] for l in handle if l.startswith("Uid:"))
        # as LXC: the container's root owns its payload cgroups in every hierarchy (an init
        # such as systemd makes its own below), the limits stay root's
        from lxctools.cgroups import host as H

        where = H.read_proc_cgroup(pid)
        dirs = {h.key: h.dir_of(where[h.key]) for h in H.read_mountinfo() if h.key in where}
        for key, directory in dirs.items():
            st = os.stat(directory)
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (300000, 300000, 0o775), key
            st = os.stat(os.path.join(directory, "cgroup.procs"))
            assert (st.st_uid, st.st_mode & 0o777) == (300000, 0o664), key
        assert {"memory", "unified"} <= set(dirs)
        assert os.stat(os.path.join(dirs["memory"], "memory.limit_in_bytes")).st_uid == 0
    finally:
        world.ours("lxc-stop", "-n", "att-u", "-k", lxcpath=lp)
        world.ours("lxc-destroy", "-n", "att-u", lxcpath=lp)
        shutil.rmtree(lp, ignore_errors=True)


def test_attached_leaf_cgroup_goes_with_the_container(world):
    """In the v2 hierarchy attach uses the payload's `.lxc` leaf, as LXC 5; a stop removes it."""
    assert world.ours("lxc-create", "-n", "att-c", "-t", "busybox").returncode == 0
    assert world.ours("lxc-start", "-n", "att-c").returncode == 0
    try:
        proc = world.ours("lxc-attach", "-n", "att-c", "--", "cat", "/proc/self/cgroup")
        assert proc.returncode == 0 and "0::/.lxc" in proc.stdout.splitlines()
    finally:
        assert world.ours("lxc-stop", "-n", "att-c", "-k").returncode == 0
    left = [top for top, _dirs, _files in os.walk("/sys/fs/cgroup") if "att-c" in top]
    assert left == []


@pytest.mark.parametrize("door", ["front", "python"])
def test_attached_process_sits_in_the_containers_cgroups(world, door):
    """Seen from the host: the attached command in the container's payload cgroup of every
    hierarchy (the v2 one's `.lxc` leaf). The compiled front door makes its transient there
    at birth where the kernel can (clone3 into the cgroup2 leaf, the transient's own "0" to
    each v1 `tasks`), the Python tool moves it: the same places either way."""
    assert world.ours("lxc-create", "-n", "att-g", "-t", "busybox").returncode == 0
    assert world.ours("lxc-start", "-n", "att-g").returncode == 0
    world.attach_door(door)
    try:
        # read from the host's /proc: the container's cgroup namespace hides the paths
        started = subprocess.Popen([world.tool("lxc-attach"), "-P", world.lp, "-n", "att-g",
                                    "--", "sleep", "30"], env=world.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            init = int(world.ours("lxc-info", "-n", "att-g", "-pH").stdout)
            sleeper = None
            while sleeper is None and time.monotonic() < deadline:
                found = subprocess.run(["pgrep", "-x", "sleep", "--ns", str(init), "--nslist",
                                        "pid"], capture_output=True, text=True)
                pids = [int(p) for p in found.stdout.split()]
                sleeper = pids[0] if pids else None
                time.sleep(0.05)
            assert sleeper is not None, started.stderr.read() if started.poll() else "no sleep"
            with open(f"/proc/{sleeper}/cgroup") as handle:
                lines = handle.read().splitlines()
        finally:
            started.kill()
            started.wait()
        assert lines, lines
        for line in lines:
            where = line.split(":", 2)[2]
            if line.startswith("0::"):
                assert where.endswith("/lxc.payload.att-g/.lxc"), lines
            else:
                assert where.endswith("/lxc.payload.att-g"), lines
    finally:
        assert world.ours("lxc-stop", "-n", "att-g", "-k").returncode == 0
