"""The start's fork (spawn/startplan.py): without lxc.idmap or shared namespaces the
supervisor forks the container's PID 1 itself, straight into a new PID namespace
(unshare(CLONE_NEWPID) for the forking thread's next children, set back at once), and init
unshares the rest once the supervisor has put it in its cgroups. What must hold, checked on
real containers from the host and from inside: every init is PID 1 of a PID namespace of
its own, a child of the host's (never nested in an earlier container's: that would make the
supervisor's next children, hooks included, visible to that container's root); the
supervisor's own namespaces are the host's, and so is the namespace its next children are
born in; init's cgroup namespace is rooted at its payload cgroup."""

import os

import pytest

from conftest import require_root
from lxcenv import busybox, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.root

NAMESPACES = ("pid", "mnt", "uts", "ipc", "net", "cgroup")


def ns(pid, kind):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def nspid(pid):
    with open(f"/proc/{pid}/status") as handle:
        return next(line.split()[1:] for line in handle if line.startswith("NSpid:"))


def supervisor_pid(world, name):
    from lxctools.monitor.commands import request
    return request(world.lp, name, "info")["monitor_pid"]


def init_pid(world, name):
    proc = world.ours("lxc-info", "-n", name, "-p", "-H")
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


def test_each_init_is_pid_1_of_its_own_namespace_and_the_supervisor_stays_the_hosts(world):
    require_root()
    busybox(world, "fk-a")
    busybox(world, "fk-b")
    try:
        inits = {}
        for name in ("fk-a", "fk-b"):  # the second one is forked after the first set back
            proc = world.ours("lxc-start", "-n", name)
            assert proc.returncode == 0, proc.stderr
            inits[name] = init_pid(world, name)
        sup = supervisor_pid(world, "fk-a")
        assert supervisor_pid(world, "fk-b") == sup  # one supervisor forked both
        for kind in NAMESPACES:
            assert ns(sup, kind) == ns("self", kind), f"the supervisor left the host's {kind}"
        # where its next children are born (hooks, apparmor_parser, the next init's fork)
        assert ns(sup, "pid_for_children") == ns("self", "pid")
        for name, pid in inits.items():
            # [host pid, 1]: PID 1 one level below the host's, not nested in the other's
            assert nspid(pid)[1:] == ["1"], (name, nspid(pid))
            for kind in NAMESPACES:
                assert ns(pid, kind) != ns(sup, kind), f"{name}'s init shares the host's {kind}"
        assert ns(inits["fk-a"], "pid") != ns(inits["fk-b"], "pid")
        for name in ("fk-a", "fk-b"):
            seen = world.ours("lxc-attach", "-n", name, "--", "/bin/sh", "-c",
                              "cat /proc/1/cgroup; ls /proc | grep -c '^[0-9]'")
            assert seen.returncode == 0, seen.stderr
            lines = seen.stdout.split()
            # the cgroup namespace was made once init was in its payload cgroups
            assert lines[:-1] and all(line.endswith(":/") for line in lines[:-1]), lines
            # its own processes only (init, its children, this attach): not the other's
            assert int(lines[-1]) < 10, seen.stdout
    finally:
        for name in ("fk-a", "fk-b"):
            world.ours("lxc-stop", "-n", name, "-k")


def test_a_container_keeping_the_hosts_pid_namespace_starts_without_one(world):
    """lxc.namespace.keep = pid: init forked with no PID namespace made (nothing to set
    back), the other namespaces still its own. (busybox's init wants to be PID 1: a sleep.)"""
    require_root()
    busybox(world, "fk-keep", "lxc.namespace.keep = pid\nlxc.init.cmd = /bin/sleep 600\n")
    try:
        proc = world.ours("lxc-start", "-n", "fk-keep")
        assert proc.returncode == 0, proc.stderr
        pid = init_pid(world, "fk-keep")
        sup = supervisor_pid(world, "fk-keep")
        assert ns(pid, "pid") == ns(sup, "pid") == ns(sup, "pid_for_children")
        assert nspid(pid) == [str(pid)]
        assert ns(pid, "mnt") != ns(sup, "mnt")
    finally:
        world.ours("lxc-stop", "-n", "fk-keep", "-k")
