"""lxc-execute's init (native/lxc-execinit.c; spawn/payload.py exec_init, minimal_init where
it is not built) against a hostile container, and as lxc-execute always behaved.

The init is PID 1 of the container for its whole life. The container's root looks at it
(a watcher compiled in the test, attack/exec_watcher.c): its exe and map_files must name
nothing of the host, nothing may be opened for writing, and tracing it may give no more
than the container's own capabilities and seccomp (the CVE-2019-5736 class, issue 17 item
2, which lxc-attach's entry helper closed for attach). Then: what nothing may do before the
init runs (start hooks unconfined, an attach into the setup process), what the init must
never do (kill -1 outside its own pid namespace), and exit codes, signals and orphans.
"""

import os
import signal
import subprocess
import time
import uuid

import pytest

from lxcenv import World, world  # noqa: F401  (fixture)
from test_attach_hostile import WATCHER, _host_files, _report

PATHS = ["helper", "python"]


def _use(world, path):
    if path == "python":
        world.env = dict(world.env, LXCTOOLS_ENTRY="python")


def _busybox(world, prefix, extra=""):
    name = prefix + "-" + uuid.uuid4().hex[:6]
    conf = os.path.join(world.root, name + ".conf")
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\n" + extra)
    made = world.ours("lxc-create", "-n", name, "-t", "busybox", "-f", conf)
    assert made.returncode == 0, made.stderr
    return name, os.path.join(world.cdir(name), "rootfs")


def test_the_init_is_built_and_sealed_when_copied():
    """pip install built it beside lxc-entry; the supervisor runs it from a sealed memfd."""
    import fcntl

    from lxctools.spawn import entry, payload

    path = entry.init_path()
    assert path, "lxctools/libexec/lxc-execinit was not built by pip install (see setup.py)"
    readelf = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True)
    if readelf.returncode == 0:
        assert "INTERP" not in readelf.stdout  # static: no host library mapped
    fd = payload.init_copy()
    try:
        assert fd > 4
        want = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & want == want
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"x", 0)
        assert os.readlink(f"/proc/self/fd/{fd}") == "/memfd:lxc-init (deleted)"
    finally:
        os.close(fd)


@pytest.mark.parametrize("path,config", [
    ("helper", "privileged"), ("helper", "no-ptrace"),
    # where no compiler built the init, Python stays PID 1: confined, non-dumpable, no
    # capability outside the bounding set. Against a root that keeps sys_ptrace that is not
    # enough, which docs/SECURITY.md says; without it, nothing of the host shows.
    ("python", "no-ptrace")])
def test_the_init_exposes_nothing_of_the_host(world, path, config):
    _use(world, path)
    name, rootfs = _busybox(world, "xi", "lxc.cap.drop = sys_ptrace\n"
                            if config == "no-ptrace" else "")
    built = subprocess.run(["gcc", "-static", "-O1", "-o", os.path.join(rootfs, "watcher"),
                            WATCHER], capture_output=True, text=True)
    assert built.returncode == 0, "the watcher needs gcc with static glibc: " + built.stderr
    run = world.ours("lxc-execute", "-n", name, "--", "/watcher", "--pid", "1")
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert "done" in text.split() and "error" not in text, text
    own, procs = _report(text)
    facts = procs[1]
    where = f"PID 1: {facts}"
    host = _host_files()
    for value in facts.get("exe-id", []):
        if value[0] != "ERR":
            assert (int(value[0]), int(value[1])) not in host, "exe is a host file: " + where
    for value in facts.get("map", []):
        if value[-2] != "ERR":
            assert (int(value[-2]), int(value[-1])) not in host, "a host file is mapped: " + where
    for value in facts.get("exe-write", []) + facts.get("map-write", []):
        assert value[-1] != "ok", "opened for writing: " + where
    for value in facts.get("later-write", []):
        assert value[-1] != "ok", "reopened for writing later: " + where
    eff, bnd, seccomp, nnp = facts["status"][0]
    # confined as the command is: the container's bounding set, its seccomp filter
    assert int(bnd, 16) == own[0] and int(seccomp) == own[1], where
    if facts["ptrace"][0] == ["ok"]:
        # traced (a root that keeps sys_ptrace): then it holds no more than that root
        assert int(eff, 16) & ~own[0] == 0, "host capabilities: " + where
        # ... and nothing but its stdio and a pidfd of its command: no socket to the
        # supervisor, no file of the host
        extra = [v for v in facts["fd"] if int(v[0]) > 2]
        assert sorted(int(v[0]) for v in facts["fd"])[:3] == [0, 1, 2], where
        assert [v[1] for v in extra] in ([], ["anon_inode:[pidfd]"]), where
    if config == "no-ptrace":
        # non-dumpable: without CAP_SYS_PTRACE nothing inside may trace it or read its links
        assert facts["ptrace"][0] != ["ok"], where
        assert facts["exe"][0] == ["-"], where
        assert all(v[0] == "-" and v[1] == "ERR" for v in facts.get("map", [])), where
    if path == "helper":
        # the compiled init, from its sealed memfd: nobody's file
        if facts["exe"][0] != ["-"]:
            assert facts["exe"][0][0] == "/memfd:lxc-init", where
        assert facts["ptrace"][0] == ["ok"] or config == "no-ptrace", where


@pytest.mark.parametrize("path", PATHS)
def test_the_init_behaves_as_lxc_executes_always_did(world, path):
    """Exit codes (128+N for a signal), signals passed on (those lxctools' init passed, and
    the rest as LXC's lxc-init: SIGRTMIN+3, systemd's halt, for one), orphans reaped and, once
    the command is gone, killed."""
    _use(world, path)
    name, _rootfs = _busybox(world, "xb")
    killed = world.ours("lxc-execute", "-n", name, "--", "sh", "-c", "kill -USR2 $$")
    assert killed.returncode == 128 + signal.SIGUSR2, killed.stderr
    for signum, code in ((signal.SIGTERM, 5), (signal.SIGRTMIN + 3, 6), (signal.SIGHUP, 7)):
        script = (f"trap 'echo got-{int(signum)}; exit {code}' {int(signum)}; echo ready; "
                  "while :; do sleep 1; done")
        proc = subprocess.Popen([__import__("conftest").ours("lxc-execute"), "-P", world.lp,
                                 "-n", name, "--", "sh", "-c", script], env=world.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline() == "ready\n"
            init = world.ours("lxc-info", "-n", name, "-pH").stdout.strip()
            os.kill(int(init), signum)  # lxc-stop's way: to the init, from the host
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                world.ours("lxc-stop", "-n", name, "-k")
                proc.wait()
        assert proc.returncode == code and out == f"got-{int(signum)}\n", (signum, out, err)
    # an orphan that exits is reaped (no zombie), one that stays is killed with the command
    orphans = world.ours("lxc-execute", "-n", name, "--", "sh", "-c",
                         "(sh -c 'touch /tmp/orphan-ran' &); sleep 1000 & "
                         "while [ ! -e /tmp/orphan-ran ]; do sleep 0.05; done; i=0; "
                         "while ps -o stat | grep -q Z && [ $i -lt 200 ]; do sleep 0.05; "
                         "i=$((i+1)); done; ps -o pid,ppid,stat,comm | grep Z && "
                         # what the init was doing, if a zombie stayed (seen once, loaded)
                         "{ grep -E '^(State|Sig)' /proc/1/status; cat /proc/1/wchan; echo; } "
                         "|| echo no-zombie",
                         timeout=120)
    assert orphans.returncode == 0 and orphans.stdout == "no-zombie\n", orphans
    assert world.ours("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"


@pytest.mark.parametrize("path", PATHS)
def test_an_init_that_is_not_pid_1_kills_nothing_outside(world, path):
    """With the pid namespace kept (or shared), the init is not its namespace's PID 1: its
    kill -1 would reach every process the host's root may signal. It did (lxctools' Python
    init, after the command ended). The whole thing runs in a pid namespace of its own, so
    that a regression kills the sentinel beside it, never this host."""
    _use(world, path)
    name, _rootfs = _busybox(world, "xk")
    from conftest import ours

    script = (f"sleep 1000 & S=$!; {ours('lxc-execute')} -P {world.lp} -n {name} "
              "-s lxc.namespace.keep=pid -- sh -c 'echo inside; exit 4'; echo rc=$?; "
              "if [ \"$(ps -o stat= -p $S)\" != \"\" ] && [ \"$(ps -o stat= -p $S | cut -c1)\" "
              "!= Z ]; then echo sentinel-alive; fi; kill $S")
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
                          capture_output=True, text=True, env=world.env, timeout=120)
    assert done.stdout.split() == ["inside", "rc=4", "sentinel-alive"], done


@pytest.mark.parametrize("tool", ["lxc-execute", "lxc-start"])
def test_start_hooks_run_confined(world, tool):
    """lxc.hook.start is a program of the container's (found in its rootfs) run before its
    init: it gets the container's confinement, as LXC gives it, not the setup process's
    every capability (sys_module, dropped by the config, included) without seccomp."""
    name, rootfs = _busybox(world, "xh", "lxc.hook.start = /hook.sh\nlxc.no_new_privs = 1\n")
    with open(os.path.join(rootfs, "hook.sh"), "w") as handle:
        handle.write("#!/bin/sh\ngrep -E '^(CapBnd|Seccomp|NoNewPrivs):' /proc/self/status"
                     " > /hook.out\n")
    os.chmod(os.path.join(rootfs, "hook.sh"), 0o755)
    show = "grep -E '^(CapBnd|Seccomp|NoNewPrivs):' /proc/self/status"
    if tool == "lxc-execute":
        run = world.ours("lxc-execute", "-n", name, "--", "sh", "-c", show)
        assert run.returncode == 0, run.stderr
        command = run.stdout
    else:
        assert world.ours("lxc-start", "-n", name).returncode == 0
        try:
            command = world.ours("lxc-attach", "-n", name, "--", "sh", "-c", show).stdout
        finally:
            world.ours("lxc-stop", "-n", name, "-k")
    with open(os.path.join(rootfs, "hook.out")) as handle:
        hook = handle.read()
    lines = dict(line.split(":\t") for line in hook.splitlines())
    assert not int(lines["CapBnd"], 16) & (1 << 16), hook  # sys_module: dropped by the config
    assert lines["Seccomp"] == "2" and lines["NoNewPrivs"] == "1", hook
    assert hook == command, (hook, command)


def _connected_unix_sockets(pid):
    """Inodes of the connected unix sockets process PID holds."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    with open("/proc/net/unix") as handle:
        next(handle)
        return {f[6] for f in (line.split() for line in handle) if f[6] in inodes
                and f[5] == "03"}


@pytest.mark.parametrize("tool", ["lxc-execute", "lxc-start"])
def test_nothing_enters_before_the_init_runs(world, tool):
    """Until the init runs, the container's PID 1 is the setup process (the host's python3,
    its mount namespace not yet pivoted): an lxc-attach asked for meanwhile must wait for
    RUNNING. The start is held in its start-host hook while lxc-attach asks."""
    mark, release = (os.path.join(world.root, n) for n in ("held", "release"))
    hook = os.path.join(world.root, "hold.sh")
    with open(hook, "w") as handle:
        handle.write(f"#!/bin/sh\ntouch {mark}\nwhile [ ! -e {release} ]; do sleep 0.05; done\n")
    os.chmod(hook, 0o755)
    name, _rootfs = _busybox(world, "xw", f"lxc.hook.start-host = {hook}\n")
    from conftest import ours

    if tool == "lxc-execute":
        argv = [ours("lxc-execute"), "-P", world.lp, "-n", name, "--", "sleep", "1000"]
    else:
        argv = [ours("lxc-start"), "-P", world.lp, "-n", name]
    starting = subprocess.Popen(argv, env=world.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    attach = None
    try:
        for _ in range(1200):
            if os.path.exists(mark) or starting.poll() is not None:
                break
            time.sleep(0.05)
        assert os.path.exists(mark), starting.stderr.read() if starting.poll() else "no hook"
        attach = subprocess.Popen([ours("lxc-attach"), "-P", world.lp, "-n", name, "--",
                                   "readlink", "/proc/1/exe"], env=world.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # lxc-attach has asked the supervisor (connected, waiting for its answer)
        for _ in range(1200):
            if _connected_unix_sockets(attach.pid) or attach.poll() is not None:
                break
            time.sleep(0.05)
        waited = attach.poll() is None  # asked, and not answered while the start is held
        open(release, "w").close()
        out, err = attach.communicate(timeout=60)
    finally:
        open(release, "w").close()
        if attach is not None and attach.poll() is None:
            attach.kill()
        world.ours("lxc-stop", "-n", name, "-k")
        starting.wait(timeout=60)
    assert waited and attach.returncode == 0, err
    # what it saw as PID 1 was the container's init, never the host's interpreter
    expected = "/memfd:lxc-init (deleted)" if tool == "lxc-execute" else "/sbin/init"
    assert out.strip() == expected, out


def test_attach_refuses_a_container_still_starting(monkeypatch):
    """The belt under the supervisor's silence while it boots: an answer saying STARTING
    (a setup process as init) is not attached to."""
    from lxctools.api.container import Container
    from lxctools.errors import NotRunning

    container = Container("x", "/nonexistent")
    for state in ("STARTING", "ABORTING"):
        monkeypatch.setattr(Container, "running_info",
                            lambda self, s=state: {"state": s, "init_pid": os.getpid()})
        with pytest.raises(NotRunning):
            container._attach_context()
        assert container.attach(lambda _: 0) == -1


@pytest.mark.parametrize("path", PATHS)
def test_a_users_execute_container_stays_reachable(path):
    """In a user namespace the init is non-dumpable too (the compiled one: its memory was
    made by an exec inside, so the namespace's owner keeps its rights over it; the Python
    one stays dumpable there, see minimal_init): the user who started it still attaches."""
    from conftest import ordinary_user
    from test_unprivileged import USER, as_user

    with ordinary_user(USER, 400000):
        prefix = "LXCTOOLS_ENTRY=python " if path == "python" else ""
        assert as_user("lxc-create", "-n", "ux", "-t", "busybox").returncode == 0
        try:
            started = subprocess.run(
                ["su", "-", USER, "-c", prefix + " ".join(
                    [__import__("conftest").ours_for_anyone("lxc-execute"), "-n", "ux", "-d",
                     "--", "sleep", "1000"])], capture_output=True, text=True, timeout=120)
            assert started.returncode == 0, started.stderr
            inside = as_user("lxc-attach", "-n", "ux", "--", "sh", "-c",
                             "id -u; readlink /proc/1/exe")
            assert inside.returncode == 0, inside.stderr
            uid, exe = inside.stdout.split("\n", 1)
            assert uid == "0"
            if path == "helper":
                assert exe.strip() == "/memfd:lxc-init (deleted)"
        finally:
            as_user("lxc-stop", "-n", "ux", "-k")
            as_user("lxc-destroy", "-n", "ux")


def test_the_init_runs_where_memfds_default_to_noexec(world):
    """vm.memfd_noexec = 1 (kernel 6.3+, per pid namespace; some distributions set it): a
    memfd made without MFD_EXEC cannot be exec'd. The sealed copies say MFD_EXEC. Set in a
    pid namespace of the test's own, where lxc-execute runs."""
    if not os.path.exists("/proc/sys/vm/memfd_noexec"):
        pytest.skip("kernel before 6.3: no vm.memfd_noexec")
    name, _rootfs = _busybox(world, "xn")
    from conftest import ours

    script = ("echo 1 > /proc/sys/vm/memfd_noexec && "
              f"{ours('lxc-execute')} -P {world.lp} -n {name} -- readlink /proc/1/exe && "
              f"{ours('lxc-execute')} -P {world.lp} -n {name} -- sh -c 'echo ok'")
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
                          capture_output=True, text=True, env=world.env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "/memfd:lxc-init (deleted)\nok\n", done
