"""python-lxc's attach API (Container.attach / attach_wait, attach_run_command, LXC_ATTACH_*)
on our containers, side by side with python3-lxc on real LXC's: one script, two modules."""

import os
import subprocess
import sys

import pytest

from lxcenv import SANE_PATH, World, world  # noqa: F401  (fixture)

SCRIPT = r'''
import os, sys
if sys.argv[1] == "real":
    import lxc
    Container = lxc.Container
else:
    from lxctools.api import attach as lxc
    from lxctools.api.container import Container

c = Container("att-y", sys.argv[2])
run = lxc.attach_run_command
print("exit3", c.attach_wait(run, ["sh", "-c", "exit 3"]))
print("true", c.attach_wait(run, ["true"]))
print("killed", c.attach_wait(run, ["sh", "-c", "kill -9 $$"]))
print("missing", c.attach_wait(run, ["/nonexistent"]))
print("string", c.attach_wait(run, "true"))

def inside(arg):
    print("inside", arg, os.getuid(), os.readlink("/proc/self/ns/uts") != sys.argv[3],
          open("/proc/self/cgroup").read().count("/"), flush=True)
    return 5

print("function", c.attach_wait(inside, "payload"))
print("raises", c.attach_wait(lambda _: 1 / 0, None))
print("returns None", c.attach_wait(lambda _: None, None))
pid = c.attach(run, ["sh", "-c", "exit 4"])
print("attach", pid > 0, os.waitpid(pid, 0)[1])
print("env", c.attach_wait(run, ["sh", "-c", "echo $FOO $container $HOME"],
                           env_policy=lxc.LXC_ATTACH_CLEAR_ENV, extra_env_vars=["FOO=bar"]))
os.environ["KEEPME"] = "kept"
print("keep", c.attach_wait(run, ["sh", "-c", "echo $KEEPME; echo $PATH"],
                            env_policy=lxc.LXC_ATTACH_CLEAR_ENV, extra_keep_env=["KEEPME"]))
print("uts only", c.attach_wait(run, ["sh", "-c", "hostname; ls / | wc -l"],
                                namespaces=lxc.CLONE_NEWUTS))
print("uid", c.attach_wait(run, ["id"], uid=1000, gid=1000))
print("cwd", c.attach_wait(run, ["pwd"], initial_cwd="/etc"))
r, w = os.pipe()
print("stdout", c.attach_wait(run, ["echo", "to a pipe"], stdout=w))
os.close(w)
print("piped", os.read(r, 100))
print("caps kept", c.attach_wait(run, ["grep", "CapBnd", "/proc/self/status"],
                                 attach_flags=lxc.LXC_ATTACH_DEFAULT & ~lxc.LXC_ATTACH_DROP_CAPABILITIES))
print("caps dropped", c.attach_wait(run, ["grep", "CapBnd", "/proc/self/status"]))
'''


@pytest.fixture
def twins(world):
    if subprocess.run(["/usr/bin/python3", "-c", "import lxc"], capture_output=True).returncode:
        pytest.skip("python3-lxc (Debian's binding, the oracle) is not installed")
    assert world.ours("lxc-create", "-n", "att-y", "-t", "busybox").returncode == 0
    assert world.real("lxc-create", "-n", "att-y", "-t", "busybox").returncode == 0
    assert world.ours("lxc-start", "-n", "att-y").returncode == 0
    assert world.real("lxc-start", "-n", "att-y").returncode == 0
    yield world
    world.ours("lxc-stop", "-n", "att-y", "-k")
    world.real("lxc-stop", "-n", "att-y", "-k")


def test_same_results_as_python_lxc(twins):
    uts = os.readlink("/proc/self/ns/uts")
    real = subprocess.run(["/usr/bin/python3", "-c", SCRIPT, "real", twins.real_lp, uts],
                          capture_output=True, text=True, timeout=120, cwd="/",
                          env=dict(os.environ, PATH=SANE_PATH))
    ours = subprocess.run([sys.executable, "-c", SCRIPT, "ours", twins.lp, uts],
                          capture_output=True, text=True, timeout=120, cwd="/",
                          env=dict(twins.env, PATH=SANE_PATH))
    assert real.returncode == 0, real.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == real.stdout
    lines = dict(line.split(" ", 1) for line in ours.stdout.splitlines() if " " in line)
    assert lines["exit3"] == "768" and lines["killed"] == "9" and lines["missing"] == "32512"
    assert "inside payload 0 True" in ours.stdout
    # a failing function shows its traceback on stderr, as with python-lxc
    assert "ZeroDivisionError" in ours.stderr and "ZeroDivisionError" in real.stderr


def test_not_running_is_minus_one(world):
    assert world.ours("lxc-create", "-n", "att-z", "-t", "busybox").returncode == 0
    from lxctools.api.attach import attach_run_command
    from lxctools.api.container import Container

    c = Container("att-z", world.lp)
    assert c.attach_wait(attach_run_command, ["true"]) == -1
    assert c.attach(attach_run_command, ["true"]) == -1


LEAK_SCRIPT = r'''
import os, socket, sys
from lxctools.api.container import Container

c = Container(sys.argv[1], sys.argv[2])
fd, channel = c.console_getfd(-1)  # a tty held: its channel to the supervisor stays open
held = channel.sock.fileno()

def inside(_):
    found = []
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            continue
        try:
            found.append(f"{fd}:{sock.getpeername()!r}")
        except OSError:
            pass
        finally:
            sock.detach()
    print("peers", " ".join(found) or "none", flush=True)
    return 0

print("status", c.attach_wait(inside, None), flush=True)
# the caller's own connection is untouched: the tty is still ours
print("held", socket.socket(fileno=os.dup(held)).getpeername()[:10] == b"\0lxctools/")
'''


def test_a_function_attached_holds_no_connection_to_a_supervisor(world):
    """Container.attach(FUNCTION) runs Python in the container without an exec: every fd of
    the caller is there, and a privileged container's root with sys_ptrace could take one
    (pidfd_getfd). A connection to the supervisor held by the caller (console_getfd's) would
    then send commands as the proved caller: the attached process must hold none."""
    assert world.ours("lxc-create", "-n", "att-l", "-t", "busybox").returncode == 0
    assert world.ours("lxc-start", "-n", "att-l").returncode == 0
    env = dict(world.env, PATH=SANE_PATH)
    try:
        run = subprocess.run([sys.executable, "-c", LEAK_SCRIPT, "att-l", world.lp],
                             capture_output=True, text=True, timeout=120, cwd="/", env=env)
    finally:
        world.ours("lxc-stop", "-n", "att-l", "-k")
    assert run.returncode == 0, run.stderr
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    assert lines["status"] == "0" and lines["held"] == "True", run.stdout + run.stderr
    assert "lxctools/" not in lines["peers"] and "/command" not in lines["peers"], lines["peers"]
