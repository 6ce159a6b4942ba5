"""A systemd guest on the systemd host, in the VM: Debian 12 as the VM itself is (its own
root as the lower layer of an overlay: nothing to copy, nothing to download in a VM without
network), with LXC's common.conf as a download image has it (device rules through the BPF
program, cgroup:mixed), booted by ours and by real LXC side by side to systemd's `running`,
then halted cleanly by lxc-stop. The boot-to-running times are printed as a ratio (TCG
makes the absolute times meaningless; within one boot the ratio holds: bench/RESULTS.md)."""

import os
import subprocess
import time

import pytest

from lxcenv import world  # noqa: F401  (fixture)

# the VM's own units that have no business in a container of it: the harness's runner
# (it would mount the control share and run the tests again), Debian's lxc services and
# AppArmor's loader (a container image has neither)
MASKED = ["lxctools-vm.service", "lxc.service", "lxc-net.service", "lxc-monitord.service",
          "apparmor.service"]
BOOT_LIMIT = 300  # seconds, under TCG


def inside(pid, *command):
    return subprocess.run(["nsenter", "-t", str(pid), "-a", *command], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def layers(world):
    """A tmpfs for the overlays' upper and work directories: an upper directory inside the
    lower one (the VM's /) is refused by overlayfs as overlapping."""
    top = os.path.join(world.root, "layers")
    os.makedirs(top)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "layers", top], check=True)
    yield top
    subprocess.run(["umount", "-l", top])


def guest(world, layers, name, real):
    upper = os.path.join(layers, name, "delta")
    units = os.path.join(upper, "etc/systemd/system")
    os.makedirs(units)
    for unit in MASKED:
        os.symlink("/dev/null", os.path.join(units, unit))
    # a container image's fstab: the VM's names its disk as /
    with open(os.path.join(upper, "etc/fstab"), "w") as handle:
        handle.write("# UNCONFIGURED FSTAB FOR BASE SYSTEM\n")
    console = os.path.join(world.root, f"{name}.console")
    run = world.real if real else world.ours
    # the rootfs goes in afterwards: LXC's lxc-create -t none wants an overlay's path to
    # exist as a directory, "/:UPPER" and all
    made = run("lxc-create", "-n", name, "-t", "none", "-f", world.net_conf)
    assert made.returncode == 0, made.stderr
    with open(os.path.join(world.cdir(name, real=real), "config"), "a") as handle:
        handle.write("lxc.include = /usr/share/lxc/config/common.conf\n"
                     f"lxc.rootfs.path = overlay:/:{upper}\n"
                     f"lxc.uts.name = {name}\nlxc.net.0.type = empty\n"
                     f"lxc.console.logfile = {console}\n")
        # both sides unconfined, for a like-for-like boot time: under LXC's default profile
        # (lxc-container-default-cgns, which ours applies too now) this guest ends degraded
        # under real LXC (logind, sysctl, sysusers, tmpfiles fail)
        handle.write("lxc.apparmor.profile = unconfined\n")
    return run, console


def boot(run, name):
    """Start NAME and wait for systemd's verdict: (state, seconds from lxc-start, pid)."""
    started = time.monotonic()
    proc = run("lxc-start", "-n", name)
    assert proc.returncode == 0, proc.stderr
    pid = int(run("lxc-info", "-n", name, "-pH").stdout)
    state = ""
    while time.monotonic() - started < BOOT_LIMIT:
        state = inside(pid, "systemctl", "is-system-running").stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(0.5)
    return state, time.monotonic() - started, pid


def test_a_systemd_guest_boots_to_running_and_halts_cleanly_under_both(world, layers, capsys):
    took, states = {}, {}
    for which in ("ours", "real"):
        name = f"vm-sd-{which}"
        run, console = guest(world, layers, name, real=which == "real")
        try:
            state, took[which], pid = boot(run, name)
            failed = inside(pid, "systemctl", "--failed", "--no-legend").stdout
            # ours must reach running; real LXC is the reference, whatever it reaches
            wanted = ("running",) if which == "ours" else ("running", "degraded")
            assert state in wanted, f"{which}: {state}; failed units:\n{failed}"
            states[which] = state
            assert inside(pid, "systemd-detect-virt").stdout.strip() == "lxc"
            # systemd's own cgroups below the container's, which cgroup:mixed lets it make
            assert inside(pid, "cat", "/proc/1/cgroup").stdout.strip() == "0::/init.scope"
            stop = run("lxc-stop", "-n", name, "--nokill", "-t", "120")
            assert stop.returncode == 0, f"{which}: {stop.stderr}"  # no SIGKILL needed
            with open(console, errors="replace") as handle:
                text = handle.read()
            assert "Powering off." in text or "Halting system." in text, text[-2000:]
        finally:
            run("lxc-stop", "-n", name, "-k")
        assert run("lxc-destroy", "-n", name).returncode == 0
    with capsys.disabled():  # for bench/RESULTS.md's VM row, in the tier's output
        print(f"\nVM row: systemd guest lxc-start to running: ours {took['ours']:.1f} s, "
              f"LXC {took['real']:.1f} s ({states['real']}), "
              f"ratio {took['ours'] / took['real']:.2f}")
