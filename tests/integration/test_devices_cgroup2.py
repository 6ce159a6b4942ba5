"""Device control on cgroup2 (issue 17, item 3), checked from inside real busybox containers.

A cgroup2-only host (Debian 12, Ubuntu 22.04+, Fedora) has no v1 devices controller: device
rules become a BPF_CGROUP_DEVICE program on the container's cgroup, as LXC builds it. On this
hybrid host a container gets that layout for real: lxc-start runs in a private mount
namespace where the v1 hierarchies are unmounted, so the supervisor (which stays in that
namespace) sees only the cgroup2 tree, exactly as on a cgroup2-only host, and the kernel runs
the program for the container's processes. No test-only switch is needed in the code, and on
a cgroup2-only host (the VM tier) the same tests run with nothing to unmount.

Each attack here -- mknod + read of the disk behind /, a read of /dev/kmsg -- is performed
inside and must fail with EPERM; before the program existed these containers were refused
(or ran with no device control at all)."""

import os
import subprocess

import pytest

from conftest import ours, real_lxc
from lxcenv import SANE_PATH, world  # noqa: F401  (fixture)

LXC_COMMON = "/usr/share/lxc/config/common.conf"
OUR_COMMON = os.path.join(os.path.dirname(__file__), "..", "..", "lxctools", "data",
                          "templates", "config", "common.conf")
# the v1 half of LXC's common.conf alone, as a user's own config may carry it
V1_LIST = "".join(f"lxc.cgroup.devices.{line}\n" for line in (
    "deny = a", "allow = c *:* m", "allow = b *:* m", "allow = c 1:3 rwm", "allow = c 1:5 rwm",
    "allow = c 1:7 rwm", "allow = c 5:0 rwm", "allow = c 5:1 rwm", "allow = c 5:2 rwm",
    "allow = c 1:8 rwm", "allow = c 1:9 rwm", "allow = c 136:* rwm", "allow = c 10:229 rwm"))
V2_LIST = V1_LIST.replace("lxc.cgroup.", "lxc.cgroup2.")

# what a cgroup2-only host has: no v1 hierarchy mounted (a no-op where there is none)
UNMOUNT_V1 = "for m in $(grep ' - cgroup ' /proc/self/mountinfo | cut -d' ' -f5); do umount $m; done; "


def v1_devices_here():
    with open("/proc/self/mountinfo") as handle:
        return any(" - cgroup " in line and "devices" in line.split(" - ")[1] for line in handle)


def busybox(world, name, extra):
    """A busybox container with LXC's template lines only and EXTRA: our template's own
    confinement (common.conf) is taken out, so each test sets the device list it checks."""
    made = world.ours("lxc-create", "-n", name, "-t", "busybox")
    assert made.returncode == 0, made.stderr
    path = os.path.join(world.cdir(name), "config")
    with open(path) as handle:
        lines = [line for line in handle.read().splitlines(True)
                 if ".lxctools-include" not in line and "lxctools: confined" not in line]
    with open(path, "w") as handle:
        handle.write("".join(lines) + extra)


def in_cgroup2_only_layout(command, env):
    """Run COMMAND (argv) in a private mount namespace without the v1 hierarchies."""
    script = UNMOUNT_V1 + "exec \"$@\""
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *command],
                          capture_output=True, text=True, env=env, timeout=120)


def start_cgroup2_only(world, name, lxcpath=None):
    """lxc-start of ours as on a cgroup2-only host. It must be the first command that
    starts a supervisor for the lxcpath: the supervisor stays in that namespace."""
    return in_cgroup2_only_layout([ours("lxc-start"), "-P", lxcpath or world.lp, "-n", name],
                                  world.env)


def inside(world, name, script, lxcpath=None):
    return world.ours("lxc-attach", "-n", name, "--", "sh", "-c", script,
                      lxcpath=lxcpath)


@pytest.fixture
def disk(tmp_path):
    """(major, minor, md5 of the first sector) of a real block device of the host that host
    root can read: the one behind / when it can (on this machine even root may not open
    it), else a loop device over a file holding a secret, made here and detached after."""
    import hashlib

    st = os.stat("/")
    if os.major(st.st_dev) != 0:
        node = os.path.join(str(tmp_path), "root-disk")
        os.mknod(node, 0o60600, st.st_dev)
        try:
            with open(node, "rb") as handle:
                sector = handle.read(512)
        except OSError:
            sector = None
        finally:
            os.unlink(node)
        if sector:
            yield os.major(st.st_dev), os.minor(st.st_dev), hashlib.md5(sector).hexdigest()
            return
    image = os.path.join(str(tmp_path), "secret.img")
    sector = (b"host secret " * 64)[:512]
    with open(image, "wb") as handle:
        handle.write(sector * 8)
    loop = subprocess.run(["losetup", "--find", "--show", image], capture_output=True,
                          text=True, check=True).stdout.strip()
    try:
        rdev = os.stat(loop).st_rdev
        yield os.major(rdev), os.minor(rdev), hashlib.md5(sector).hexdigest()
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)


def read_block(major, minor):
    """A shell line: make a node of the host's disk and read its first sector."""
    return (f"rm -f /tmp/disk; mknod /tmp/disk b {major} {minor} && echo MKNOD-OK; "
            "dd if=/tmp/disk bs=512 count=1 2>/dev/null | md5sum; "
            "dd if=/tmp/disk of=/dev/null bs=512 count=1 2>&1 && echo READ-OK")


READ_KMSG = ("rm -f /tmp/kmsg; mknod /tmp/kmsg c 1 11 2>&1; "
             "dd if=/tmp/kmsg of=/dev/null bs=8192 count=1 2>&1 && echo KMSG-OK")
BASICS = ("echo x > /dev/null && echo NULL-OK; for d in zero full random urandom; do "
          "head -c 8 /dev/$d | wc -c; done; exec 3<>/dev/ptmx && echo PTMX-OK")
BASICS_OUT = ["NULL-OK", "8", "8", "8", "8", "PTMX-OK"]


def devices_of(world, name, lxcpath=None):
    return world.ours("lxc-info", "-n", name, "--devices", lxcpath=lxcpath).stdout


def test_lxcs_common_conf_on_a_cgroup2_only_host_keeps_host_devices_out(world, disk):
    """LXC's common.conf (every download image names it) was refused on a cgroup2-only
    host; now its cgroup2 list is a device program: the container cannot read the host's
    disk or kernel log, and what a userland needs works -- from init's processes, from
    lxc-attach, on the attach pty."""
    import pexpect

    busybox(world, "dv-lxc", f"lxc.include = {LXC_COMMON}\n")
    started = start_cgroup2_only(world, "dv-lxc")
    assert started.returncode == 0, started.stderr
    major, minor, secret = disk
    attack = inside(world, "dv-lxc", read_block(major, minor) + "; " + READ_KMSG)
    assert "MKNOD-OK" in attack.stdout  # c *:* m, b *:* m: nodes may be made ...
    assert "READ-OK" not in attack.stdout and "KMSG-OK" not in attack.stdout  # ... not used
    assert secret not in attack.stdout
    assert attack.stdout.count("Operation not permitted") == 2, attack.stdout
    basics = inside(world, "dv-lxc", BASICS)
    assert basics.stdout.split() == BASICS_OUT and basics.stderr == "", basics
    # init's own processes (busybox's getty on the /dev/lxc ttys) run under the program too
    pid = world.ours("lxc-info", "-n", "dv-lxc", "-pH").stdout.strip()
    with open(f"/proc/{pid}/cgroup") as handle:
        assert any(line.startswith("0::/lxc.payload.dv-lxc") for line in handle)
    # the attach pty, /dev/tty and the console: ptys of the container's devpts (c 136:*)
    child = pexpect.spawn(ours("lxc-attach"), ["-P", world.lp, "-n", "dv-lxc"],
                          env=world.env, encoding="utf-8", timeout=20)
    child.expect("# ")
    child.sendline("echo a > $(tty) && echo PTS-$((1+1)); echo b > /dev/tty && echo TTY-$((2+1)); "
                   "echo c > /dev/console && echo CONSOLE-$((3+1))")
    child.expect("PTS-2")
    child.expect("TTY-3")
    child.expect("CONSOLE-4")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    info = devices_of(world, "dv-lxc")
    assert "cgroup2 program" in info and "allow-list" in info and "c 136:* rwm" in info, info


def test_allowed_and_taken_back_live(world, disk):
    """lxc-cgroup and lxc-device change the program of a running container: an allow works
    at once, a deny takes it back, lxc-device del denies the node's device again."""
    busybox(world, "dv-live", f"lxc.include = {LXC_COMMON}\n")
    assert start_cgroup2_only(world, "dv-live").returncode == 0
    major, minor, secret = disk
    first = devices_of(world, "dv-live")
    allow = world.ours("lxc-cgroup", "-n", "dv-live", "devices.allow", f"b {major}:{minor} r")
    assert allow.returncode == 0, allow.stderr
    read = inside(world, "dv-live", read_block(major, minor))
    assert "READ-OK" in read.stdout and secret in read.stdout, read.stdout
    deny = world.ours("lxc-cgroup", "-n", "dv-live", "lxc.cgroup2.devices.deny",
                      f"b {major}:{minor} r")  # a config key's spelling is read too
    assert deny.returncode == 0, deny.stderr
    read = inside(world, "dv-live", read_block(major, minor))
    assert "READ-OK" not in read.stdout and secret not in read.stdout, read.stdout
    # one program at a time, replaced (its id changes), never two left behind
    program = [line for line in devices_of(world, "dv-live").splitlines() if "program" in line]
    assert program and program != [line for line in first.splitlines() if "program" in line]
    assert "Also:" not in devices_of(world, "dv-live")

    added = world.ours("lxc-device", "-n", "dv-live", "add", "/dev/kmsg")
    assert added.returncode == 0, added.stderr
    read = inside(world, "dv-live", "dd if=/dev/kmsg of=/dev/null bs=8192 count=1 2>&1 "
                                    "&& echo KMSG-OK")
    assert "KMSG-OK" in read.stdout, read.stdout
    removed = world.ours("lxc-device", "-n", "dv-live", "del", "/dev/kmsg")
    assert removed.returncode == 0, removed.stderr
    assert "KMSG-OK" not in inside(world, "dv-live", READ_KMSG).stdout
    bad = world.ours("lxc-cgroup", "-n", "dv-live", "devices.allow", "c 1:3 rwz")
    assert bad.returncode == 1 and "not a device rule" in bad.stderr
    cgroup = program[0].split(" on ", 1)[1].split(",", 1)[0]
    stop = world.ours("lxc-stop", "-n", "dv-live", "-k")
    assert stop.returncode == 0, stop.stderr
    assert not os.path.exists(cgroup)  # the program went with it


def test_v1_rules_alone_are_enforced_on_a_cgroup2_only_host(world):
    """A config with only lxc.cgroup.devices.* (LXC ignores those on a cgroup2-only host and
    runs the container with no device control) gets them translated into the program,
    with their v1 meaning: a lone deny takes one device away and leaves the rest."""
    busybox(world, "dv-v1", V1_LIST)
    assert start_cgroup2_only(world, "dv-v1").returncode == 0
    attack = inside(world, "dv-v1", READ_KMSG + "; " + BASICS)
    assert "KMSG-OK" not in attack.stdout and "Operation not permitted" in attack.stdout
    assert attack.stdout.split()[-len(BASICS_OUT):] == BASICS_OUT, attack.stdout
    assert "cgroup2 program" in devices_of(world, "dv-v1")
    busybox(world, "dv-v1b", "lxc.cgroup.devices.deny = c 1:11 rwm\n")
    assert start_cgroup2_only(world, "dv-v1b").returncode == 0
    lone = inside(world, "dv-v1b", READ_KMSG + "; " + BASICS)
    assert "KMSG-OK" not in lone.stdout
    assert "mknod: /tmp/kmsg: Operation not permitted" in lone.stdout  # m is denied too
    assert lone.stdout.split()[-len(BASICS_OUT):] == BASICS_OUT, lone.stdout
    assert "deny-list" in devices_of(world, "dv-v1b")


def test_cgroup2_rules_alone_get_a_program_on_this_hosts_cgroup2_tree(world, disk):
    """A config with only lxc.cgroup2.devices.* was refused on this hybrid host (its v1
    devices controller is LXC's choice there, and LXC ignores cgroup2 rules); the program
    goes on the container's cgroup in the cgroup2 tree, which the kernel runs for it too.
    On a cgroup2-only host this is the ordinary case."""
    busybox(world, "dv-v2", V2_LIST + "lxc.cgroup2.devices.deny = c 10:229 rw\n")
    started = world.ours("lxc-start", "-n", "dv-v2")
    assert started.returncode == 0, started.stderr
    # LXC's reading: that deny does not undo "c 10:229 rwm"; the start says so
    assert "warning: lxc.cgroup2.devices.deny = c 10:229 rw does not take back c 10:229 rwm" \
        in started.stderr
    major, minor, secret = disk
    attack = inside(world, "dv-v2", read_block(major, minor) + "; " + READ_KMSG + "; " + BASICS)
    assert "MKNOD-OK" in attack.stdout and "READ-OK" not in attack.stdout
    assert secret not in attack.stdout
    assert "KMSG-OK" not in attack.stdout
    assert attack.stdout.split()[-len(BASICS_OUT):] == BASICS_OUT, attack.stdout
    assert "cgroup2 program" in devices_of(world, "dv-v2")


def test_our_common_conf_uses_one_list_per_host(world):
    """Our common.conf carries the list twice, as LXC's: the v1 devices controller where
    the host has one, the program where it has only cgroup2."""
    busybox(world, "dv-our", f"lxc.include = {os.path.abspath(OUR_COMMON)}\n")
    started = world.ours("lxc-start", "-n", "dv-our")
    assert started.returncode == 0, started.stderr
    expected = "cgroup v1 devices controller" if v1_devices_here() else "cgroup2 program"
    assert expected in devices_of(world, "dv-our")
    assert "KMSG-OK" not in inside(world, "dv-our", READ_KMSG).stdout
    assert world.ours("lxc-stop", "-n", "dv-our", "-k").returncode == 0
    other = os.path.join(world.root, "other")  # a fresh lxcpath: a fresh supervisor
    made = world.ours("lxc-create", "-n", "dv-our2", "-t", "busybox", lxcpath=other)
    assert made.returncode == 0, made.stderr
    with open(os.path.join(other, "dv-our2", "config"), "a") as handle:
        handle.write(f"lxc.include = {os.path.abspath(OUR_COMMON)}\n")
    started = start_cgroup2_only(world, "dv-our2", lxcpath=other)
    try:
        assert started.returncode == 0, started.stderr
        assert "cgroup2 program" in devices_of(world, "dv-our2", lxcpath=other)
        assert "KMSG-OK" not in inside(world, "dv-our2", READ_KMSG, lxcpath=other).stdout
    finally:
        world.ours("lxc-stop", "-n", "dv-our2", "-k", lxcpath=other)


def test_no_device_rules_no_program_and_a_deny_makes_a_deny_list(world):
    """As LXC: a config without device rules gets no program. lxc-cgroup/lxc-device then
    start a deny-list (LXC would start an empty allow-list, taking every other device away
    with the first rule)."""
    busybox(world, "dv-none", "")
    assert start_cgroup2_only(world, "dv-none").returncode == 0
    zero = "head -c 1 /dev/zero >/dev/null 2>&1 || echo ZERO-DENIED; echo x > /dev/null && echo NULL-OK"
    assert inside(world, "dv-none", zero).stdout.split() == ["NULL-OK"]
    deny = world.ours("lxc-cgroup", "-n", "dv-none", "devices.deny", "c 1:5 rwm")
    assert deny.returncode == 0, deny.stderr
    assert inside(world, "dv-none", zero).stdout.split() == ["ZERO-DENIED", "NULL-OK"]
    info = devices_of(world, "dv-none")
    assert "deny-list" in info and " Deny:          c 1:5 rwm" in info, info
    busybox(world, "dv-none2", "")
    assert start_cgroup2_only(world, "dv-none2").returncode == 0
    assert "not restricted" in devices_of(world, "dv-none2")


def test_a_container_real_lxc_runs_gets_its_rules_through_lxcs_monitor(world):
    """On a cgroup2-only host LXC's monitor owns the container's device program: our
    lxc-cgroup and lxc-device hand the rule to it (LXC_CMD_ADD_BPF_DEVICE_CGROUP), as
    liblxc's tools do; before, lxc-cgroup failed there."""
    made = world.real("lxc-create", "-n", "dv-real", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    with open(os.path.join(world.cdir("dv-real", real=True), "config"), "a") as handle:
        handle.write(f"lxc.include = {LXC_COMMON}\n")
    env = dict(os.environ, LANG="C", PATH=SANE_PATH)
    started = in_cgroup2_only_layout([real_lxc("lxc-start"), "-P", world.real_lp, "-n",
                                      "dv-real"], env)
    assert started.returncode == 0, started.stderr
    denied = world.real("lxc-attach", "-n", "dv-real", "--", "sh", "-c", READ_KMSG)
    assert "KMSG-OK" not in denied.stdout
    # our tool sees the host as LXC's monitor does (on a cgroup2-only host: as it is)
    allow = in_cgroup2_only_layout([ours("lxc-cgroup"), "-P", world.real_lp, "-n", "dv-real",
                                    "devices.allow", "c 1:11 r"], world.env)
    assert allow.returncode == 0, allow.stderr
    allowed = world.real("lxc-attach", "-n", "dv-real", "--", "sh", "-c", READ_KMSG)
    assert "KMSG-OK" in allowed.stdout, allowed.stdout
    info = in_cgroup2_only_layout([ours("lxc-info"), "-P", world.real_lp, "-n", "dv-real",
                                   "--devices"], world.env)
    assert "cgroup2 program" in info.stdout and "made by its monitor" in info.stdout, info


DETACH = r'''
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    if libc.syscall(NR, cmd, buf, 128) < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return buf.raw
cgroup = os.open("/sys/fs/cgroup", os.O_RDONLY | os.O_DIRECTORY)
ids = (ctypes.c_uint32 * 16)()
raw = bpf(16, struct.pack("=IIIIQI", cgroup, 6, 1, 0, ctypes.addressof(ids), 16))
for prog in ids[:struct.unpack_from("=I", raw, 24)[0]]:
    fd = libc.syscall(NR, 13, ctypes.create_string_buffer(struct.pack("=I", prog).ljust(128, b"\0"), 128), 128)
    try:
        bpf(9, struct.pack("=III", cgroup, fd, 6))
        print("DETACHED", prog)
    except OSError as exc:
        print("KEPT", prog, exc.strerror)
'''


def with_python(world, name):
    """The system's python3 in the container (its stdlib comes with the busybox template's
    bind of /usr/lib; a pyenv build would not find its own) and a script that detaches every
    device program it can reach from the container's cgroup."""
    import shutil

    rootfs = os.path.join(world.cdir(name), "rootfs")
    if not os.path.exists("/usr/bin/python3"):
        pytest.fail("the detach attack runs the system's /usr/bin/python3 inside: install it")
    shutil.copy(os.path.realpath("/usr/bin/python3"), os.path.join(rootfs, "bin", "python3"))
    with open(os.path.join(rootfs, "detach.py"), "w") as handle:
        handle.write(DETACH)


def detach_from_inside(world, name):
    # where a container's systemd mounts it (and what LXC's AppArmor profile lets it mount):
    # with CAP_SYS_ADMIN and a cgroup namespace, cgroup:mixed leaves that to the container
    return inside(world, name, "mount -t cgroup2 none /sys/fs/cgroup && python3 /detach.py; "
                               "umount /sys/fs/cgroup")


def test_behind_an_inner_cgroup_the_containers_root_cannot_lift_the_program(world):
    """Root of a privileged container keeps CAP_SYS_ADMIN: from its own cgroup it can
    detach the program with bpf(2) (as under LXC; docs/SECURITY.md). With
    lxc.cgroup.dir.container.inner the program sits on the outer cgroup, which the
    container's cgroup namespace does not show: the detach fails and the rules hold."""
    busybox(world, "dv-out", f"lxc.include = {LXC_COMMON}\n")
    with_python(world, "dv-out")
    assert start_cgroup2_only(world, "dv-out").returncode == 0
    lifted = detach_from_inside(world, "dv-out")
    assert "DETACHED" in lifted.stdout, lifted  # the script works: the limit of no inner
    assert "NOT ATTACHED" in devices_of(world, "dv-out")
    assert "KMSG-OK" in inside(world, "dv-out", READ_KMSG).stdout
    # the next change puts a program back
    assert world.ours("lxc-cgroup", "-n", "dv-out", "devices.allow", "c 1:9 rwm").returncode == 0
    assert "NOT ATTACHED" not in devices_of(world, "dv-out")
    assert "KMSG-OK" not in inside(world, "dv-out", READ_KMSG).stdout

    busybox(world, "dv-in", f"lxc.include = {LXC_COMMON}\n"
                            "lxc.cgroup.dir.container = dv-in.payload\n"
                            "lxc.cgroup.dir.monitor = dv-in.monitor\n"
                            "lxc.cgroup.dir.container.inner = inner\n")
    with_python(world, "dv-in")
    assert start_cgroup2_only(world, "dv-in").returncode == 0
    info = devices_of(world, "dv-in")
    assert "dv-in.payload," in info, info  # on the outer cgroup
    attack = detach_from_inside(world, "dv-in")
    assert "KEPT" in attack.stdout and "DETACHED" not in attack.stdout, attack
    assert "NOT ATTACHED" not in devices_of(world, "dv-in")
    read = inside(world, "dv-in", READ_KMSG)
    assert "KMSG-OK" not in read.stdout and "Operation not permitted" in read.stdout
