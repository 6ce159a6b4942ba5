"""A systemd guest for the VM tier: Debian 12 with systemd, as the debian-systemd image's own
root is (no download, no debootstrap in a VM without network), under an overlay whose upper
layer masks the image's own services, with LXC's common.conf as a download image has it.
Used on the systemd host (its own / is the lower layer) and on the OpenRC host (the
debian-systemd image's disk attached as /dev/vdb, mounted, is). And what the VM tests of
busybox containers and of this guest share: busybox(), usage(), real_bind_paths()."""

import os
import re
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


def guest(world, layers, name, real=False, lower="/", extra="",
          network="lxc.net.0.type = empty\n"):
    """Create NAME (ours, or real LXC's when REAL) on an overlay of LOWER: (run, console log).
    EXTRA: more config lines; NETWORK: its lxc.net lines (none by default)."""
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
                     f"lxc.uts.name = {name}\n{network}"
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


# What a Debian 12 systemd guest needs to be checkpointed by criu 3.17, each for what criu
# said without it (tests/vm/test_systemd_guest_checkpoint.py; docs/ARCHITECTURE.md, "lxc-
# checkpoint of a systemd guest"). For every service (a top-level drop-in):
# - no uts namespace of its own (logind's ProtectHostname): "Can't dump nested uts namespace";
# - no BPF programs held by systemd for it (IPAddressDeny's firewall, DeviceAllow's device
#   program): "Can't dump file N of that type [600] (anon anon_inode:bpf-prog)";
# - no mount namespace of its own (logind's PrivateTmp, ProtectSystem...): the restore of the
#   namespace's copy of the console, a file bind mount, fails ("Can't bind-mount at
#   .../dev/lxc/console: Not a directory").
# For systemd itself: no accounting by default, so that it enables no memory controller in
# the container's cgroup nor watches its units' memory.events: criu restores that cgroup's
# cgroup.subtree_control only once the tasks are back (and it cannot be enabled before: criu
# first moves the restored init into that cgroup, which the kernel then refuses, EBUSY), so
# the watch cannot be restored ("Unable to open /sys/fs/cgroup/init.scope/memory.events").
# (pids stays enabled, for the units' TasksMax: nothing watches its files, and it restores.)
CHECKPOINTABLE = {
    "etc/systemd/system/service.d/checkpoint.conf":
        "[Service]\nProtectHostname=no\nIPAddressDeny=\nDevicePolicy=auto\nDeviceAllow=\n"
        "PrivateTmp=no\nProtectSystem=no\nProtectHome=no\nProtectKernelLogs=no\n"
        "ProtectKernelModules=no\nProtectControlGroups=no\nReadWritePaths=\n",
    "etc/systemd/system.conf.d/checkpoint.conf":
        "[Manager]\nDefaultCPUAccounting=no\nDefaultIOAccounting=no\n"
        "DefaultMemoryAccounting=no\nDefaultTasksAccounting=no\n",
}
# on an overlay rootfs: inode numbers and devices as stat() gives them to criu, which finds
# the path of a watched file of the lower layer (systemd's /etc/localtime) by them
CHECKPOINTABLE_OVERLAY = "lxc.rootfs.options = xino=on\n"


def make_checkpointable(layers, name):
    """Put CHECKPOINTABLE in NAME's upper layer (made by guest())."""
    for path, text in CHECKPOINTABLE.items():
        full = os.path.join(layers, name, "delta", path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)


def busybox(world, name, config, real=False):
    """Create a busybox container NAME (ours, or real LXC's when REAL) from CONFIG (config
    lines, as lxc-create -f takes them): the runner of its side."""
    conf = os.path.join(world.root, f"{name}.conf")
    with open(conf, "w") as handle:
        handle.write(config)
    run = world.real if real else world.ours
    made = run("lxc-create", "-n", name, "-t", "busybox", "-f", conf)
    assert made.returncode == 0, made.stderr
    return run


def usage(run, name):
    """lxc-info -S's three usage lines, {name: value}, checked to be there and not zero for
    CPU and memory: a running container's."""
    info = run("lxc-info", "-n", name, "-S").stdout
    used = dict(re.findall(r"^(CPU use|Memory use|BlkIO use):\s+(.*)$", info, re.M))
    assert set(used) == {"CPU use", "Memory use", "BlkIO use"}, info
    assert float(used["CPU use"].split()[0]) > 0
    assert not used["Memory use"].startswith("0 ")
    return used


def real_bind_paths(config):
    """Give the bind mounts of the container config file CONFIG by their real host paths
    (LXC hands criu 3.17 Debian 12's /lib symlink as it is, which its mount-v2 fails on)."""
    with open(config) as handle:
        lines = handle.read().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("lxc.mount.entry") and "bind" in line:
            key, _, value = line.partition("=")
            source, rest = value.split(None, 1)
            lines[i] = f"{key}= {os.path.realpath(source)} {rest}"
    with open(config, "w") as handle:
        handle.write("\n".join(lines))
