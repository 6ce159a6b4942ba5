"""Where init makes its mounts: while the supervisor makes its cgroups, for root's container
with nothing among the mounts that could tell (startplan.setup_before_cgroups), else once in
its cgroups (LXC's order). Either way the cgroup namespace and lxc.mount.auto's cgroup word
come after the move, a hook among the mounts runs in the container's cgroups, and a mount
that fails reaches lxc-start as its own error."""

import os
import subprocess

import pytest

from lxcenv import busybox, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="root's containers (no spawner)")


def explained(world, name):
    proc = world.ours("lxc-start", "-n", name, "--explain")
    assert proc.returncode == 0, proc.stderr
    return [line.split("  ")[-1].strip() for line in proc.stdout.splitlines()]


def early(world, name):
    """Whether --explain puts init's mounts before it sends its pid (and so before its move
    into the cgroups, or, born there, before the supervisor's next step)."""
    steps = explained(world, name)
    return steps.index("devpts, console and ttys") < \
        steps.index("init without a spawner: send its pid")


def init_pid(world, name):
    proc = world.ours("lxc-info", "-n", name, "-pH")
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


def test_mounts_made_early_still_see_the_containers_cgroups(world):
    # cgroup:mixed:force: mounted by us even though the container keeps CAP_SYS_ADMIN
    busybox(world, "so-early", "lxc.mount.auto = cgroup:mixed:force proc:mixed sys:mixed\n")
    assert early(world, "so-early")
    proc = world.ours("lxc-start", "-n", "so-early", "-d")
    assert proc.returncode == 0, proc.stderr
    try:
        pid = init_pid(world, "so-early")
        with open(f"/proc/{pid}/cgroup") as handle:
            assert "pids:/lxc.payload" in handle.read().replace(".so-early", "")
        # the hierarchy mounted at /sys/fs/cgroup/pids is the container's own cgroup as its
        # namespace shows it (made after the move): its processes, init first; mounted
        # before that namespace, it would be the host's root cgroup
        seen = subprocess.run(["nsenter", "-t", str(pid), "-a", "cat",
                               "/sys/fs/cgroup/pids/cgroup.procs"],
                              capture_output=True, text=True, timeout=30)
        assert seen.returncode == 0, seen.stderr
        pids = [int(p) for p in seen.stdout.split()]
        assert 1 in pids and max(pids) < 100, pids
        # and init's mounts are all there (the busybox template's entries, devpts, the ttys)
        with open(f"/proc/{pid}/mounts") as handle:
            targets = {line.split()[1] for line in handle}
        assert {"/dev", "/dev/pts", "/dev/console", "/dev/shm", "/proc", "/sys", "/lib",
                "/sys/fs/cgroup", "/sys/fs/cgroup/pids"} <= targets, targets
    finally:
        world.ours("lxc-stop", "-n", "so-early", "-k")


def test_a_mount_hook_keeps_lxcs_order_and_runs_in_the_cgroups(world, tmp_path):
    said = tmp_path / "hook"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\nreadlink /proc/self/ns/cgroup > {said}\n"
                    f"cat /proc/self/cgroup >> {said}\n")
    hook.chmod(0o755)
    busybox(world, "so-hook", f"lxc.hook.mount = {hook}\n")
    assert not early(world, "so-hook")
    proc = world.ours("lxc-start", "-n", "so-hook", "-d")
    assert proc.returncode == 0, proc.stderr
    try:
        pid = init_pid(world, "so-hook")
        lines = said.read_text().splitlines()
        # the hook ran in init's cgroup namespace: made once init was in its cgroups
        assert lines[0] == os.readlink(f"/proc/{pid}/ns/cgroup"), lines
        assert os.readlink("/proc/self/ns/cgroup") != lines[0]
    finally:
        world.ours("lxc-stop", "-n", "so-hook", "-k")


def test_a_mount_that_fails_early_is_the_starts_error(world):
    busybox(world, "so-fail", "lxc.mount.entry = /no/such/source mnt none bind,create=dir 0 0\n")
    assert early(world, "so-fail")
    proc = world.ours("lxc-start", "-n", "so-fail", "-d")
    assert proc.returncode == 1
    assert "/no/such/source" in proc.stderr, proc.stderr
    assert "Connection reset" not in proc.stderr and "Broken pipe" not in proc.stderr
    info = world.ours("lxc-info", "-n", "so-fail", "-s")
    assert "STOPPED" in info.stdout, info.stdout
    # nothing left of the start: no cgroup of its name in any hierarchy
    left = subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "3", "-name", "*so-fail*"],
                          capture_output=True, text=True)
    assert left.stdout == "", left.stdout


def test_init_is_born_in_its_cgroups(world, tmp_path):
    """Root's init forked by the supervisor is born in its cgroups (kernel/clone3.py): in
    the cgroup2 one by clone3, in the v1 ones by its own first step; so no move of it waits
    out the kernel's grace period. The start's log says which; init ends up in its payload
    cgroup in every hierarchy, and no descriptor of a cgroup reaches the container."""
    from lxctools.kernel import clone3

    if not clone3.supported():
        pytest.skip("this kernel's clone3 (or a seccomp filter around these tests) refuses "
                    "CLONE_INTO_CGROUP: init is moved, as before")
    busybox(world, "so-born")
    assert explained(world, "so-born").index("cgroups made, limits written") < \
        explained(world, "so-born").index(
            "born in its cgroups, init or the spawner (in v1 ones it moves itself)")
    log = tmp_path / "start.log"
    proc = world.ours("lxc-start", "-n", "so-born", "-d", "-l", "DEBUG", "-o", str(log))
    assert proc.returncode == 0, proc.stderr
    try:
        assert "init born in its cgroups (clone3)" in log.read_text()
        pid = init_pid(world, "so-born")
        with open(f"/proc/{pid}/cgroup") as handle:
            lines = handle.read().splitlines()
        assert len(lines) > 1 and all(line.endswith("/lxc.payload.so-born") for line in lines), \
            lines
        for fd in os.listdir(f"/proc/{pid}/fd"):
            assert not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/sys/fs/cgroup")
    finally:
        world.ours("lxc-stop", "-n", "so-born", "-k")
