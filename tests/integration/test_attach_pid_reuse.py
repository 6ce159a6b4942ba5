"""lxc-attach (and lxc-device) and a reused init pid: attach reads the container through /proc/INIT_PID
(its namespaces, maps, status, AppArmor label). Once init has exited, a host process may
take that pid; attaching by the bare pid would then run the command in the host's
namespaces, as root. Attach holds the monitor's pidfd of init and checks that it still
names INIT_PID before and after reading (attach/attach.py still_init).

The reuse is staged: the container's pidfd is taken, the container stopped, and a host
process's pid handed to attach with that pidfd, as if the host process had taken init's
pid. The command would create a file on the host if the attack worked; lxc-device's node
would be made in the host's /dev.
"""

import os
import subprocess
import sys
import uuid

import pytest

from lxcenv import World, world  # noqa: F401  (fixture)

SCRIPT = r"""
import os, subprocess, sys
from lxctools.api.container import Container
from lxctools.attach import attach, device
from lxctools.monitor import lxcsocket

lxcpath, name, marker, case, action = sys.argv[1:6]
c = Container(name, lxcpath)
info, conf, local, cgroups = c._attach_context()
init_pid = info["init_pid"]
pidfd = lxcsocket.init_pidfd(lxcpath, name)
assert pidfd is not None, "the monitor served no pidfd"
if case == "exited":
    print("READY", flush=True)
    sys.stdin.readline()  # the test stops the container meanwhile
host = subprocess.Popen(["sleep", "60"])  # the process that "took" init's pid
try:
    try:
        if action == "attach":
            opts = attach.Options(command=["touch", marker])
            code = attach.attach(host.pid, conf, None, opts, local_conf=local, pidfd=pidfd)
        else:  # lxc-device add: a node made in the namespaces of "init"
            code = device.add_node(host.pid, "/dev/null", marker, pidfd)
    except (attach.AttachError, device.DeviceError) as exc:
        print("REFUSED", exc.message, flush=True)
    else:
        print("RAN", code, flush=True)
finally:
    host.kill()
    host.wait()
"""


def _start(world):
    name = "reuse-" + uuid.uuid4().hex[:6]
    assert world.ours("lxc-create", "-n", name, "-t", "busybox").returncode == 0
    started = world.ours("lxc-start", "-n", name)
    assert started.returncode == 0, started.stderr
    return name


@pytest.mark.parametrize("action", ["attach", "device"])
def test_attach_refuses_a_pid_its_pidfd_no_longer_names(world, tmp_path, action):
    """init exited (the pidfd names no process) and a host process holds the pid."""
    name = _start(world)
    marker = str(tmp_path / "ran-on-the-host")
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, world.lp, name, marker, "exited",
                             action],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=world.env)
    try:
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
        stopped = world.ours("lxc-stop", "-n", name, "-k")
        assert stopped.returncode == 0, stopped.stderr
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        world.ours("lxc-stop", "-n", name, "-k")
    assert out.startswith("REFUSED") and "exited while attaching" in out, (out, err)
    assert not os.path.exists(marker), "the command ran in the host process's namespaces"


@pytest.mark.parametrize("action", ["attach", "device"])
def test_attach_refuses_a_pid_that_is_not_the_pidfds(world, tmp_path, action):
    """init runs, but the pid handed to attach is another process's (a stale answer)."""
    name = _start(world)
    marker = str(tmp_path / "ran-on-the-host")
    try:
        done = subprocess.run([sys.executable, "-c", SCRIPT, world.lp, name, marker, "live",
                               action],
                              capture_output=True, text=True, env=world.env, timeout=60)
    finally:
        world.ours("lxc-stop", "-n", name, "-k")
    assert done.stdout.startswith("REFUSED"), (done.stdout, done.stderr)
    assert not os.path.exists(marker), "the command ran in the host process's namespaces"


def test_attach_with_the_pidfd_of_init_still_enters(world):
    """The check lets the real init through: the CLI attach holds its pidfd."""
    name = _start(world)
    try:
        done = world.ours("lxc-attach", "-n", name, "--", "hostname")
    finally:
        world.ours("lxc-stop", "-n", name, "-k")
    assert done.returncode == 0 and done.stdout.strip() == name, done.stderr
