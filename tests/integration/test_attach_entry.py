"""The compiled entry helper (native/lxc-entry.c, spawn/entry.py) and the Python path it
replaces where no compiler was at hand: both confine an attached command the same way
(seccomp, no_new_privs, -R's fresh /proc), and the helper is what runs."""

import fcntl
import os
import subprocess
import sys

import pytest

from lxcenv import World, world  # noqa: F401  (fixture)


def test_the_helper_is_built_and_sealed_when_copied():
    """pip install built it (this machine has a C compiler and static libc, as CI), and each
    attach runs it from a memfd sealed against any change."""
    from lxctools.spawn import entry

    path = entry.helper_path()
    assert path, "lxctools/libexec/lxc-entry was not built by pip install (see setup.py)"
    with open(path, "rb") as handle:
        head = handle.read(4)
    assert head == b"\x7fELF"
    program_headers = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True)
    if program_headers.returncode == 0:  # binutils: no interpreter, so no host library
        assert "INTERP" not in program_headers.stdout
    fd = entry.sealed_copy(path)
    try:
        assert fd > 3
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        want = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        assert seals & want == want
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"x", 0)
        assert os.readlink(f"/proc/self/fd/{fd}") == "/memfd:lxc-attach (deleted)"
    finally:
        os.close(fd)


@pytest.fixture
def confined(world):
    """A running container with a seccomp profile and no_new_privs."""
    profile = os.path.join(world.root, "deny.seccomp")
    with open(profile, "w") as handle:
        handle.write("2\ndenylist\nreject_force_umount\n[all]\nsethostname errno 38\n")
    assert world.ours("lxc-create", "-n", "ent-c", "-t", "busybox").returncode == 0
    # after the template's lines: its common.conf names a seccomp profile of its own
    with open(os.path.join(world.cdir("ent-c"), "config"), "a") as handle:
        handle.write(f"lxc.seccomp.profile = {profile}\n"
                     "lxc.no_new_privs = 1\nlxc.cap.drop = sys_time\n")
    start = world.ours("lxc-start", "-n", "ent-c")
    assert start.returncode == 0, start.stderr
    yield world
    world.ours("lxc-stop", "-n", "ent-c", "-k")


@pytest.mark.parametrize("path,door", [("helper", "front"), ("helper", "python"),
                                       ("python", "python")])
def test_confinement_is_the_containers(confined, path, door):
    confined.attach_door(door)
    env = dict(confined.env)
    if path == "python":
        env["LXCTOOLS_ENTRY"] = "python"
    confined.env = env
    status = ("grep -E '^(Seccomp|NoNewPrivs|CapBnd|CapEff):' /proc/self/status; "
              "hostname changed; echo rc=$?")
    proc = confined.ours("lxc-attach", "-n", "ent-c", "--", "sh", "-c", status)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "Seccomp:\t2" in lines and "NoNewPrivs:\t1" in lines, proc.stdout
    bounding = [l for l in lines if l.startswith("CapBnd")][0].split()[1]
    assert not int(bounding, 16) & (1 << 25)  # sys_time gone
    assert "rc=1" in lines and "Function not implemented" in proc.stderr  # errno 38
    # as another user: seccomp and no_new_privs still there, no capability left
    proc = confined.ours("lxc-attach", "-n", "ent-c", "-u", "1000", "-g", "1000", "--", "sh",
                         "-c", status)
    assert "Seccomp:\t2" in proc.stdout and "CapEff:\t0000000000000000" in proc.stdout
    # -R without the mount namespace: a /proc of the container's pid namespace, mounted
    # from inside it (lxc-attach's -s implies -e, as LXC: nothing of the container's
    # confinement)
    tools, confined.tools = confined.tools, {}  # -s and -R: the front door hands them on
    proc = confined.ours("lxc-attach", "-n", "ent-c", "-s", "PID", "-R", "--",
                         "sh", "-c", "ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline")
    confined.tools = tools
    assert proc.returncode == 0, proc.stderr
    count, init = proc.stdout.splitlines()
    assert init.startswith("init") and int(count) < 10, proc.stdout  # the container's
    # python-lxc's API confines and remounts at once: the remount comes first (the filter
    # could refuse mount), then the filter
    script = (
        "import os, sys\n"
        "from lxctools.api import attach as lxc\n"
        "from lxctools.api.container import Container\n"
        "r, w = os.pipe()\n"
        "c = Container('ent-c', sys.argv[1])\n"
        "status = c.attach_wait(lxc.attach_run_command, ['sh', '-c', "
        "'cat /proc/1/cmdline; echo; grep -E \"^(Seccomp|NoNewPrivs):\" /proc/self/status'],"
        " namespaces=lxc.CLONE_NEWPID, stdout=w,"
        " attach_flags=lxc.LXC_ATTACH_DEFAULT | lxc.LXC_ATTACH_REMOUNT_PROC_SYS)\n"
        "os.close(w)\n"
        "print(status, os.read(r, 4096).decode())\n")
    proc = subprocess.run([sys.executable, "-c", script, confined.lp], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.replace("\0", "").split("\n")
    assert lines[0].strip() == "0 init", proc.stdout + proc.stderr  # the container's init
    assert set(lines[1:3]) == {"Seccomp:\t2", "NoNewPrivs:\t1"}, proc.stdout + proc.stderr
    # exec failures: LXC's messages and codes, from the helper as from Python
    missing = confined.ours("lxc-attach", "-n", "ent-c", "--", "/nonexistent")
    assert missing.returncode == 127
    assert 'No such file or directory - Failed to exec "/nonexistent"' in missing.stderr


def test_the_python_path_is_announced_once(tmp_path):
    """Where the helper was not built, lxctools says so once (per boot: a stamp in the
    runtime dir), not on every attach."""
    script = ("from lxctools.spawn import entry\n"
              "entry.helper_path = lambda: None\n"
              "assert entry.chosen() is None and entry.chosen() is None\n")
    env = dict(os.environ, LXCTOOLS_RUNDIR=str(tmp_path))
    env.pop("LXCTOOLS_ENTRY", None)
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env)
    second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stderr.count("entering containers through Python") == 1, first.stderr
    assert "docs/SECURITY.md" in first.stderr
    assert second.stderr == ""
    assert oct(os.stat(tmp_path / "lxctools").st_mode & 0o777) == "0o700"
