"""A systemd guest on the systemd host, in the VM: Debian 12 as the VM itself is (its own
root as the lower layer of an overlay: nothing to copy, nothing to download in a VM without
network), with LXC's common.conf as a download image has it (device rules through the BPF
program, cgroup:mixed), booted by ours and by real LXC side by side to systemd's `running`,
then halted cleanly by lxc-stop. The boot-to-running times are printed as a ratio (TCG
makes the absolute times meaningless; within one boot the ratio holds: bench/RESULTS.md).
And the guest's whole life under ours with lxc.cgroup2.* limits: stats, lxc-cgroup, freeze
and thaw of a running systemd, the device program refusing a block device."""

import os
import re

from guestkit import boot, failed_units, guest, halt, inside, layers, usage  # noqa: F401
from lxcenv import world  # noqa: F401  (fixture)

CG = "/sys/fs/cgroup"


def read(path):
    with open(path) as handle:
        return handle.read()


def test_a_systemd_guest_boots_to_running_and_halts_cleanly_under_both(world, layers, capsys):
    took, states = {}, {}
    for which in ("ours", "real"):
        name = f"vm-sd-{which}"
        run, console = guest(world, layers, name, real=which == "real")
        try:
            state, took[which], pid = boot(run, name)
            # ours must reach running; real LXC is the reference, whatever it reaches
            wanted = ("running",) if which == "ours" else ("running", "degraded")
            assert state in wanted, f"{which}: {state}; failed units:\n{failed_units(pid)}"
            states[which] = state
            assert inside(pid, "systemd-detect-virt").stdout.strip() == "lxc"
            # systemd's own cgroups below the container's, which cgroup:mixed lets it make
            assert inside(pid, "cat", "/proc/1/cgroup").stdout.strip() == "0::/init.scope"
            halt(run, name, console)  # no SIGKILL needed
        finally:
            run("lxc-stop", "-n", name, "-k")
        assert run("lxc-destroy", "-n", name).returncode == 0
    with capsys.disabled():  # for bench/RESULTS.md's VM row, in the tier's output
        print(f"\nVM row: systemd guest lxc-start to running: ours {took['ours']:.1f} s, "
              f"LXC {took['real']:.1f} s ({states['real']}), "
              f"ratio {took['ours'] / took['real']:.2f}")


def test_a_systemd_guests_whole_life_with_limits_freeze_stats_and_devices(world, layers):
    """Issue 18 item 3's first bullet for the systemd (Debian) guest, as for busybox in
    test_systemd_lifecycle.py: lxc.cgroup2.* limits on the payload that holds systemd's own
    cgroups, lxc-info's stats, lxc-cgroup, freeze and thaw of a running systemd (it is still
    `running` after), the BPF device program of common.conf refusing a block device the
    guest makes, then a clean halt and no cgroup left."""
    name = "vm-sd-life"
    run, console = guest(world, layers, name, extra="lxc.cgroup2.memory.max = 512M\n"
                                                    "lxc.cgroup2.pids.max = 400\n"
                                                    "lxc.cgroup2.cpu.weight = 50\n")
    try:
        state, _took, pid = boot(run, name)
        assert state == "running", f"{state}; failed units:\n{failed_units(pid)}"
        payload = f"{CG}/lxc.payload.{name}"
        assert read(f"/proc/{pid}/cgroup") == f"0::/lxc.payload.{name}/init.scope\n"
        assert read(f"{payload}/memory.max") == f"{512 << 20}\n"
        assert read(f"{payload}/pids.max") == "400\n"
        assert read(f"{payload}/cpu.weight") == "50\n"
        # the limits cover systemd's own tree below the payload: its services count
        assert os.path.isdir(f"{payload}/system.slice")
        assert int(read(f"{payload}/pids.current")) >= 3

        usage(run, name)
        assert run("lxc-cgroup", "-n", name, "pids.max").stdout.strip() == "400"
        assert run("lxc-cgroup", "-n", name, "pids.max", "300").returncode == 0
        assert read(f"{payload}/pids.max") == "300\n"

        assert run("lxc-freeze", "-n", name).returncode == 0
        assert run("lxc-info", "-n", name, "-sH").stdout.strip() == "FROZEN"
        assert "frozen 1" in read(f"{payload}/cgroup.events")
        assert "frozen 1" in read(f"{payload}/init.scope/cgroup.events")  # the whole subtree
        assert run("lxc-unfreeze", "-n", name).returncode == 0
        assert run("lxc-info", "-n", name, "-sH").stdout.strip() == "RUNNING"
        assert "frozen 0" in read(f"{payload}/cgroup.events")
        assert inside(pid, "systemctl", "is-system-running").stdout.strip() == "running"

        shown = run("lxc-info", "-n", name, "--devices")
        assert re.search(r"^Devices:\s+cgroup2 program \d+ on ", shown.stdout, re.M), shown
        ok = run("lxc-attach", "-n", name, "--", "sh", "-c",
                 "echo x > /dev/null && head -c 1 /dev/zero | wc -c")
        assert ok.returncode == 0 and ok.stdout.strip() == "1", ok.stderr
        disk = os.stat("/dev/vda").st_rdev
        denied = run("lxc-attach", "-n", name, "--", "sh", "-c",
                     f"mknod /tmp/disk b {os.major(disk)} {os.minor(disk)} && "
                     "head -c 512 /tmp/disk > /dev/null")
        assert denied.returncode != 0, denied.stdout
        assert "Operation not permitted" in denied.stderr, denied.stderr

        halt(run, name, console)
        assert run("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"
        assert not os.path.exists(payload)
        assert not os.path.exists(f"{CG}/lxc.monitor.{name}")
    finally:
        run("lxc-stop", "-n", name, "-k")
    assert run("lxc-destroy", "-n", name).returncode == 0
