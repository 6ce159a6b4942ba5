"""lxc-attach on real busybox containers: ours into ours side by side with real LXC into
its own, exit codes, environment, namespaces, users, and an interactive pty."""

import os

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


def both(world, *args, env=None):
    ours = world.ours("lxc-attach", "-n", "att-a", *args)
    real = world.real("lxc-attach", "-n", "att-a", *args)
    return ours, real


@pytest.mark.parametrize("command", [
    ["id"], ["hostname"], ["cat", "/proc/1/cmdline"], ["ls", "/"], ["ls", "/dev"],
    ["sh", "-c", "ps -o pid,comm | head -4"], ["cat", "/proc/self/status"],
    ["sh", "-c", "cat /proc/1/cgroup"], ["readlink", "/proc/self/ns/net"],
])
def test_same_view_as_real_lxc(pair, command):
    ours, real = both(pair, "--", *command)
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
