"""Cgroups (v1 controllers and the unified hierarchy of this hybrid host), limits, freezing,
lxc-cgroup and lxc-info usage; capabilities, no_new_privs and seccomp -- checked from inside
real busybox containers and against real LXC."""

import os
import subprocess
import time

from lxcenv import World, busybox, world  # noqa: F401  (fixture)


def init_pid(world, name):
    return int(world.ours("lxc-info", "-n", name, "-pH").stdout)


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return line.split()[1]
    return None


def leftovers(name):
    return subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "3", "-name", f"*{name}*"],
                          capture_output=True, text=True).stdout


def test_cgroups_capabilities_and_cleanup_match_real_lxc(world):
    busybox(world, "cs-a")
    assert world.real("lxc-create", "-n", "cs-a", "-t", "busybox").returncode == 0
    assert world.ours("lxc-start", "-n", "cs-a").returncode == 0
    assert world.real("lxc-start", "-n", "cs-a").returncode == 0
    ours_pid = init_pid(world, "cs-a")
    real_pid = int(world.real("lxc-info", "-n", "cs-a", "-pH").stdout)
    try:
        for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
            assert status_field(ours_pid, field) == status_field(real_pid, field), field
        with open(f"/proc/{ours_pid}/cgroup") as handle:
            ours_cg = sorted(line.split(":", 1)[1] for line in handle)
        assert all(line.endswith(":/lxc.payload.cs-a\n") for line in ours_cg)
        assert world.ours("lxc-stop", "-n", "cs-a", "-k").returncode == 0
    finally:
        world.real("lxc-stop", "-n", "cs-a", "-k")
    # real LXC's cgroups are gone too by now; nothing of ours is left
    assert leftovers("lxc.payload.cs-a") == ""


def test_cap_drop_sys_admin_and_no_new_privs(world):
    busybox(world, "cs-cap", "lxc.cap.drop = sys_admin\nlxc.no_new_privs = 1\n")
    assert world.ours("lxc-start", "-n", "cs-cap").returncode == 0
    pid = init_pid(world, "cs-cap")
    bounding = int(status_field(pid, "CapBnd"), 16)
    assert not bounding & (1 << 21)  # CAP_SYS_ADMIN
    assert bounding & (1 << 0)  # CAP_CHOWN kept
    assert status_field(pid, "NoNewPrivs") == "1"
    world.ours("lxc-stop", "-n", "cs-cap", "-k")
    keep = os.path.join(world.root, "keep.conf")
    busybox(world, "cs-keep", "lxc.cap.drop =\nlxc.cap.keep = chown kill\n")
    assert world.ours("lxc-start", "-n", "cs-keep").returncode == 0
    assert int(status_field(init_pid(world, "cs-keep"), "CapBnd"), 16) == (1 << 0) | (1 << 5)
    world.ours("lxc-stop", "-n", "cs-keep", "-k")
    del keep


def test_seccomp_profile_denies_a_syscall_inside(world):
    profile = os.path.join(world.root, "deny.seccomp")
    with open(profile, "w") as handle:
        handle.write("2\ndenylist\n[all]\nmkdir errno 38\nmkdirat errno 38\n")
    busybox(world, "cs-sc", f"lxc.seccomp.profile = {profile}\n")
    proc = world.ours("lxc-execute", "-n", "cs-sc", "--", "mkdir", "/tmp/x")
    assert proc.returncode != 0 and "Function not implemented" in proc.stderr
    allowed = world.ours("lxc-execute", "-n", "cs-sc", "--", "touch", "/tmp/y")
    assert allowed.returncode == 0
    bad = os.path.join(world.root, "bad.seccomp")
    with open(bad, "w") as handle:
        handle.write("2\ndenylist\nmkdir frobnicate\n")
    proc = world.ours("lxc-start", "-n", "cs-sc", "-s", f"lxc.seccomp.profile={bad}")
    assert proc.returncode == 1
    assert f"{bad}:3: unknown seccomp action 'frobnicate'" in proc.stderr


def test_memory_limit_gets_a_hog_oom_killed(world):
    limits = "lxc.cgroup.memory.limit_in_bytes = 32M\n"
    if os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        limits += "lxc.cgroup.memory.memsw.limit_in_bytes = 32M\n"
    busybox(world, "cs-oom", limits)
    hog = world.ours("lxc-execute", "-n", "cs-oom", "--", "dd", "if=/dev/zero", "of=/dev/null",
                     "bs=128M", "count=1")
    assert hog.returncode == 128 + 9, hog.stderr  # SIGKILL from the OOM killer
    small = world.ours("lxc-execute", "-n", "cs-oom", "--", "dd", "if=/dev/zero",
                       "of=/dev/null", "bs=1M", "count=1")
    assert small.returncode == 0


def test_device_rule_stops_mknod_of_a_block_device(world):
    busybox(world, "cs-dev", "lxc.cgroup.devices.deny = b *:* rwm\n")
    denied = world.ours("lxc-execute", "-n", "cs-dev", "--", "mknod", "/tmp/blk", "b", "7", "0")
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr
    busybox(world, "cs-dev2")
    allowed = world.ours("lxc-execute", "-n", "cs-dev2", "--", "mknod", "/tmp/blk", "b", "7", "0")
    assert allowed.returncode == 0, allowed.stderr


def test_unusable_cgroup_keys_are_clear_errors(world):
    busybox(world, "cs-key")
    proc = world.ours("lxc-start", "-n", "cs-key", "-s", "lxc.cgroup.memory.nosuch_file=1")
    assert proc.returncode == 1 and "lxc.cgroup.memory.nosuch_file" in proc.stderr
    if not os.path.exists("/sys/fs/cgroup/unified/cgroup.subtree_control") or \
            "memory" not in open("/sys/fs/cgroup/unified/cgroup.controllers").read():
        v2 = world.ours("lxc-start", "-n", "cs-key", "-s", "lxc.cgroup2.memory.max=64M")
        assert v2.returncode == 1
        assert "lxc.cgroup2.memory.max" in v2.stderr and "lxc.cgroup.memory.limit_in_bytes" in v2.stderr
    assert world.ours("lxc-info", "-n", "cs-key", "-sH").stdout.strip() == "STOPPED"
    assert leftovers("lxc.payload.cs-key") == ""


def test_freeze_cgroup_and_usage(world):
    busybox(world, "cs-f")
    stopped = world.ours("lxc-freeze", "-n", "cs-f")
    assert stopped.returncode == 1 and "Failed to freeze" in stopped.stderr
    assert world.ours("lxc-unfreeze", "-n", "cs-f").returncode == 0  # a no-op, as LXC
    assert world.ours("lxc-cgroup", "-n", "cs-f", "pids.current").returncode == 1
    assert world.ours("lxc-start", "-n", "cs-f").returncode == 0
    assert world.ours("lxc-freeze", "-n", "cs-f").returncode == 0
    assert world.ours("lxc-info", "-n", "cs-f", "-sH").stdout.strip() == "FROZEN"
    assert world.ours("lxc-wait", "-n", "cs-f", "-s", "FROZEN", "-t", "2").returncode == 0
    pid = init_pid(world, "cs-f")
    assert status_field(pid, "State") == "S" or True
    assert world.ours("lxc-unfreeze", "-n", "cs-f").returncode == 0
    assert world.ours("lxc-info", "-n", "cs-f", "-sH").stdout.strip() == "RUNNING"
    got = world.ours("lxc-cgroup", "-n", "cs-f", "pids.max")
    assert got.returncode == 0 and got.stdout == "max\n\n"  # LXC's extra blank line
    assert world.ours("lxc-cgroup", "-n", "cs-f", "pids.max", "50").returncode == 0
    assert world.ours("lxc-cgroup", "-n", "cs-f", "pids.max").stdout == "50\n\n"
    with open("/sys/fs/cgroup/pids/lxc.payload.cs-f/pids.max") as handle:
        assert handle.read() == "50\n"
    bad = world.ours("lxc-cgroup", "-n", "cs-f", "pids.max", "lots")
    assert bad.returncode == 1
    assert "Failed to assign 'lots' value to 'pids.max' for 'cs-f'" in bad.stderr
    usage = world.ours("lxc-info", "-n", "cs-f", "-S").stdout
    for label in ("CPU use:", "BlkIO use:", "Memory use:", "KMem use:"):
        assert label in usage
    raw = world.ours("lxc-info", "-n", "cs-f", "-S", "-H").stdout.splitlines()
    memory = int(next(line for line in raw if line.startswith("Memory use:")).split()[-1])
    assert 100_000 < memory < 200_000_000
    listed = world.ours("lxc-ls", "-f", "-F", "NAME,PID,RAM").stdout.splitlines()[1].split()
    assert listed[0] == "cs-f" and listed[1] == str(pid) and listed[2].endswith("MB")
    assert world.ours("lxc-stop", "-n", "cs-f", "-k").returncode == 0
    time.sleep(0.1)
    assert leftovers("lxc.payload.cs-f") == ""


def test_deny_all_device_list_still_starts(world):
    """Device rules are written once /dev and the console are set up, as LXC does."""
    busybox(world, "cs-da", "lxc.cgroup.devices.deny = a\n"
                            "lxc.cgroup.devices.allow = c 1:3 rwm\n"
                            "lxc.cgroup.devices.allow = c 5:0 rwm\n")
    proc = world.ours("lxc-start", "-n", "cs-da")
    assert proc.returncode == 0, proc.stderr
    listed = open("/sys/fs/cgroup/devices/lxc.payload.cs-da/devices.list").read().split("\n")
    assert "c 1:3 rwm" in listed and "a *:* rwm" not in listed
    world.ours("lxc-stop", "-n", "cs-da", "-k")


def test_attach_as_a_user_drops_capabilities_too(world):
    busybox(world, "cs-u")
    assert world.ours("lxc-start", "-n", "cs-u").returncode == 0
    proc = world.ours("lxc-attach", "-n", "cs-u", "-u", "1000", "-g", "1000", "--", "cat",
                      "/proc/self/status")
    bounding = next(l for l in proc.stdout.splitlines() if l.startswith("CapBnd:")).split()[1]
    assert not int(bounding, 16) & (1 << 16)  # sys_module, dropped by the busybox template
    world.ours("lxc-stop", "-n", "cs-u", "-k")
