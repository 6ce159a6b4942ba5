"""lxc-cgroup, lxc-freeze, lxc-unfreeze side by side with real LXC (lxc-behaviour.md 2.12,
2.14): same cgroup names, values, output bytes, exit codes and messages."""

import os
import subprocess

import pytest

from lxcenv import lxc_messages, world  # noqa: F401  (fixture)

CONFIG = """lxc.cgroup.memory.limit_in_bytes = 64M
lxc.cgroup.pids.max = 77
lxc.cgroup.devices.deny = a
lxc.cgroup.devices.allow = /dev/null rwm
lxc.cgroup.devices.allow = c 1:5 rwm
lxc.cgroup.devices.allow = c 136:* rwm
lxc.cgroup.devices.allow = c *:* m
"""


def both_create(world, ours_name, real_name):
    conf = os.path.join(world.root, "limits.conf")
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\n" + CONFIG)
    assert world.ours("lxc-create", "-n", ours_name, "-t", "busybox", "-f", conf).returncode == 0
    assert world.real("lxc-create", "-n", real_name, "-t", "busybox", "-f", conf).returncode == 0


def init_pid(world, name, real=False):
    run = world.real if real else world.ours
    return int(run("lxc-info", "-n", name, "-pH").stdout)


def cgroup_lines(pid, name):
    with open(f"/proc/{pid}/cgroup") as handle:
        return sorted(line.replace(name, "NAME") for line in handle)


def leftovers(name):
    return subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "3", "-name", f"*{name}*"],
                          capture_output=True, text=True).stdout


def message(proc):
    """The tool's own error line (LXC's last; ours the first, a hint may follow) without the
    tool's prefix and LXC's source location."""
    text = [x for x in lxc_messages(proc.stderr).splitlines() if ": hint: " not in x]
    line = text[-1]
    return line.split(": ", 1)[1].split(": ", 1)[-1]


def test_cgroup_get_set_freeze_like_real_lxc(world):
    both_create(world, "cg-o", "cg-r")
    assert world.ours("lxc-start", "-n", "cg-o").returncode == 0
    assert world.real("lxc-start", "-n", "cg-r").returncode == 0
    try:
        ours_pid, real_pid = init_pid(world, "cg-o"), init_pid(world, "cg-r", real=True)
        # the same cgroup in every hierarchy, v1 controllers, name=systemd and unified
        assert cgroup_lines(ours_pid, "cg-o") == cgroup_lines(real_pid, "cg-r")
        for key in ("memory.limit_in_bytes", "pids.max", "devices.list"):
            ours = world.ours("lxc-cgroup", "-n", "cg-o", key)
            real = world.real("lxc-cgroup", "-n", "cg-r", key)
            assert (ours.returncode, ours.stdout) == (real.returncode, real.stdout), key
        assert world.ours("lxc-cgroup", "-n", "cg-o", "pids.max", "50").returncode == 0
        assert world.ours("lxc-cgroup", "-n", "cg-o", "pids.max").stdout == "50\n\n"
        # failures: same exit code, LXC's line (ours adds the reason as a hint)
        for args in (("pids.max", "lots"), ("nosuch.file",), ("memory.pressure",)):
            ours = world.ours("lxc-cgroup", "-n", "cg-o", *args)
            real = world.real("lxc-cgroup", "-n", "cg-r", *args)
            assert ours.returncode == real.returncode == 1, args
            assert message(ours).replace("cg-o", "NAME").replace(world.lp, "LP") == \
                message(real).replace("cg-r", "NAME").replace(world.real_lp, "LP"), args
        assert "hint:" in world.ours("lxc-cgroup", "-n", "cg-o", "pids.max", "lots").stderr
        # freeze: the v1 freezer on this hybrid host, as LXC 5 (cgroup.freeze stays 0)
        for name, run in (("cg-o", world.ours), ("cg-r", world.real)):
            assert run("lxc-freeze", "-n", name).returncode == 0
            assert run("lxc-freeze", "-n", name).returncode == 0  # already frozen: no-op
            assert run("lxc-info", "-n", name, "-s").stdout == "State:          FROZEN\n"
            with open(f"/sys/fs/cgroup/freezer/lxc.payload.{name}/freezer.state") as handle:
                assert handle.read() == "FROZEN\n"
            freeze2 = f"/sys/fs/cgroup/unified/lxc.payload.{name}/cgroup.freeze"
            if os.path.exists(freeze2):
                with open(freeze2) as handle:
                    assert handle.read() == "0\n"
            assert run("lxc-unfreeze", "-n", name).returncode == 0
            assert run("lxc-unfreeze", "-n", name).returncode == 0
            assert run("lxc-info", "-n", name, "-s").stdout == "State:          RUNNING\n"
        usage = world.ours("lxc-info", "-n", "cg-o", "-S", "-H").stdout
        assert [line.split(":")[0] for line in usage.splitlines()][:4] == \
            [line.split(":")[0] for line in
             world.real("lxc-info", "-n", "cg-r", "-S", "-H").stdout.splitlines()][:4]
    finally:
        world.ours("lxc-stop", "-n", "cg-o", "-k")
        world.real("lxc-stop", "-n", "cg-r", "-k")
    assert leftovers("lxc.payload.cg-o") == ""
    # stopped and undefined containers
    for args in (("lxc-freeze", "-n", "{}"), ("lxc-unfreeze", "-n", "{}"),
                 ("lxc-cgroup", "-n", "{}", "pids.max")):
        for ours_name, real_name in (("cg-o", "cg-r"), ("cg-none", "cg-none")):
            ours = world.ours(*[a.format(ours_name) for a in args])
            real = world.real(*[a.format(real_name) for a in args])
            assert ours.returncode == real.returncode, (args, ours_name, ours.stderr)
            if real.returncode:
                assert message(ours).replace(world.lp, "LP").replace("cg-o", "N") == \
                    message(real).replace(world.real_lp, "LP").replace("cg-r", "N")


def test_a_name_taken_by_real_lxc_gets_a_suffix(world):
    """Real LXC's container holds lxc.payload.cg-same: ours takes lxc.payload.cg-same-1."""
    both_create(world, "cg-same", "cg-same")
    assert world.real("lxc-start", "-n", "cg-same").returncode == 0
    try:
        assert world.ours("lxc-start", "-n", "cg-same").returncode == 0
        lines = cgroup_lines(init_pid(world, "cg-same"), "cg-same")
        assert all(line.rstrip().endswith("/lxc.payload.NAME-1") for line in lines), lines
        assert world.ours("lxc-cgroup", "-n", "cg-same", "pids.max").stdout == "77\n\n"
        world.ours("lxc-stop", "-n", "cg-same", "-k")
        assert leftovers("lxc.payload.cg-same-1") == ""
    finally:
        world.ours("lxc-stop", "-n", "cg-same", "-k")
        world.real("lxc-stop", "-n", "cg-same", "-k")


def remove_real_lxc_leftovers(top):
    """Real LXC leaves lxc.cgroup.dir's levels (and an lxc.pivot in them) behind."""
    for path in sorted(subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "4", "-type", "d",
                                       "-path", f"*/{top}*"], capture_output=True,
                                      text=True).stdout.split(), key=len, reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            pass


@pytest.mark.parametrize("variant", [
    "lxc.cgroup.dir = {top}/x",
    "lxc.cgroup.dir.container = {top}\nlxc.cgroup.dir.monitor = {top}-mon\n"
    "lxc.cgroup.dir.container.inner = inner"])
def test_cgroup_dir_keys_like_real_lxc(world, variant):
    tops = {"o": "cg-dir-o", "r": "cg-dir-r"}
    try:
        for side, run in (("o", world.ours), ("r", world.real)):
            conf = os.path.join(world.root, f"dir-{side}.conf")
            with open(conf, "w") as handle:
                handle.write("lxc.net.0.type = empty\n" + variant.format(top=tops[side]) + "\n")
            assert run("lxc-create", "-n", f"cg-d{side}", "-t", "busybox", "-f",
                       conf).returncode == 0
            assert run("lxc-start", "-n", f"cg-d{side}").returncode == 0
        ours = cgroup_lines(init_pid(world, "cg-do"), "cg-do")
        real = cgroup_lines(init_pid(world, "cg-dr", real=True), "cg-dr")
        assert [x.replace(tops["o"], "TOP") for x in ours] == \
            [x.replace(tops["r"], "TOP") for x in real]
        assert world.ours("lxc-cgroup", "-n", "cg-do", "pids.max").stdout == "max\n\n"
        world.ours("lxc-stop", "-n", "cg-do", "-k")
        assert leftovers(tops["o"]) == ""  # unlike LXC, the levels we made go too
    finally:
        world.ours("lxc-stop", "-n", "cg-do", "-k")
        world.real("lxc-stop", "-n", "cg-dr", "-k")
        remove_real_lxc_leftovers(tops["r"])
