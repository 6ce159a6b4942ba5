"""A systemd guest for the VM tier: Debian 12 with systemd, as the debian-systemd image's own
root is (no download, no debootstrap in a VM without network), under an overlay whose upper
layer masks the image's own services, with LXC's common.conf as a download image has it.
Used on the systemd host (its own / is the lower layer) and on the OpenRC host (the
debian-systemd image's disk attached as /dev/vdb, mounted, is)."""

import os
import subprocess
import time

import pytest

# the image's own units that have no business in a container of it: the harness's runner
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


def guest(world, layers, name, real=False, lower="/", extra=""):
    """Create NAME (ours, or real LXC's when REAL) on an overlay of LOWER: (run, console log).
    EXTRA: more config lines."""
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
                     f"lxc.rootfs.path = overlay:{lower}:{upper}\n"
                     f"lxc.uts.name = {name}\nlxc.net.0.type = empty\n"
                     f"lxc.console.logfile = {console}\n")
        # both sides unconfined, for a like-for-like boot time: under LXC's default profile
        # (lxc-container-default-cgns, which ours applies too now) this guest ends degraded
        # under real LXC (logind, sysctl, sysusers, tmpfiles fail)
        handle.write("lxc.apparmor.profile = unconfined\n")
        handle.write(extra)
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


def failed_units(pid):
    return inside(pid, "systemctl", "--failed", "--no-legend").stdout


def halt(run, name, console):
    """Stop NAME as lxc-stop does by default (SIGRTMIN+3 to systemd), with no SIGKILL after:
    systemd must power the guest off by itself."""
    stop = run("lxc-stop", "-n", name, "--nokill", "-t", "120")
    assert stop.returncode == 0, stop.stderr
    with open(console, errors="replace") as handle:
        text = handle.read()
    assert "Powering off." in text or "Halting system." in text, text[-2000:]
