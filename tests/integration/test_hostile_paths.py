"""A privileged container's root is hostile: each place where lxctools, as host root, opens,
makes or mounts something below a container's rootfs or /proc/PID/root is attacked here
with symlinks (absolute, and ../../ climbing out; planted before the start, or swapped in
while the container runs) towards a host file or directory of the test's own. The host
target must stay untouched (docs/SECURITY.md, "Paths below a container's root")."""

import os
import shutil
import stat
import subprocess
import sys
import threading
import time

import pytest

from lxcenv import busybox, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True, params=["openat2", "walk"])
def resolver(request, world):
    """Every attack twice: with openat2, and with the O_NOFOLLOW walk that replaces it on
    kernels without (forced in our tools, the supervisor and the setup process alike)."""
    if request.param == "walk":
        world.env["LXCTOOLS_RESOLVE_FALLBACK"] = "1"
    return request.param


PRECIOUS = "host file: must not change\n"


def host_dir(tmp_path):
    """A host directory of the test's own with one file in it."""
    path = tmp_path / "host-target"
    path.mkdir()
    (path / "precious").write_text(PRECIOUS)
    return path


def untouched(path):
    assert sorted(os.listdir(path)) == ["precious"], sorted(os.listdir(path))
    assert (path / "precious").read_text() == PRECIOUS
    assert stat.S_IMODE(os.stat(path / "precious").st_mode) == 0o644


def link_text(target, how):
    """A symlink's text that reaches the host's TARGET from anywhere in a rootfs."""
    target = str(target)
    return target if how == "absolute" else "../" * 24 + target.lstrip("/")


def plant(path, target, how):
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    os.symlink(link_text(target, how), path)


def init_pid(world, name):
    proc = world.ours("lxc-info", "-n", name, "-pH")
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


def inside(pid, script):
    """A shell command in the container (nsenter: the container's own busybox, as its root)."""
    return subprocess.run(["nsenter", "-t", str(pid), "-a", "/bin/sh", "-c", script],
                          capture_output=True, text=True, timeout=30)


# -- the container's setup, before pivot_root (spawn/mounts.py) ----------------------------
@pytest.mark.parametrize("how", ["absolute", "relative"])
@pytest.mark.parametrize("place, extra", [
    ("dev", "lxc.autodev = 0\n"),   # /dev/pts, /dev/ptmx, /dev/console, /dev/ttyN made there
    ("dev", ""),                    # lxc.autodev's tmpfs
    ("proc", ""),                   # lxc.mount.auto proc:mixed
    ("sys", ""),                    # lxc.mount.auto sys:ro
])
def test_fixed_mount_places_are_never_links(world, tmp_path, place, extra, how):
    """On main a /dev link made lxc-start create pts/, ptmx, console and tty1..5 (chmod
    0600) in the host's directory; /proc, /sys and an autodev /dev got mounted over it in
    the container's namespace. No link is legitimate there: the start is refused."""
    host = host_dir(tmp_path)
    rootfs = busybox(world, "paths-fx", extra)
    plant(os.path.join(rootfs, place), host, how)
    start = world.ours("lxc-start", "-n", "paths-fx")
    try:
        untouched(host)
        assert start.returncode == 1, start.stderr
        # (/dev/pts names it for a /dev link without autodev: the first place reached)
        assert f": /{place}" in start.stderr, start.stderr
        assert "in the rootfs is a symlink" in start.stderr
        assert "Traceback" not in start.stderr
    finally:
        world.ours("lxc-stop", "-n", "paths-fx", "-k")


def test_pts_console_and_tty_dir_are_never_links(world, tmp_path):
    """Without autodev the rootfs's own /dev is used: dev/pts and lxc.tty.dir as links."""
    host = host_dir(tmp_path)
    rootfs = busybox(world, "paths-pt", "lxc.autodev = 0\n")
    plant(os.path.join(rootfs, "dev/pts"), host, "absolute")
    start = world.ours("lxc-start", "-n", "paths-pt")
    world.ours("lxc-stop", "-n", "paths-pt", "-k")
    assert start.returncode == 1 and "/dev/pts in the rootfs" in start.stderr, start.stderr
    os.unlink(os.path.join(rootfs, "dev/pts"))
    rootfs = busybox(world, "paths-td", "lxc.autodev = 0\nlxc.tty.dir = lxc\n")
    plant(os.path.join(rootfs, "dev/lxc"), host, "relative")
    start = world.ours("lxc-start", "-n", "paths-td")
    world.ours("lxc-stop", "-n", "paths-td", "-k")
    assert start.returncode == 1 and "/dev/lxc in the rootfs" in start.stderr, start.stderr
    untouched(host)


def test_console_and_tty_links_in_dev_are_replaced_not_followed(world, tmp_path):
    """Links at /dev/console, /dev/ttyN, /dev/ptmx (no autodev) are the container's to
    replace: they are removed and the ptys bound there, never the host file reached."""
    host = host_dir(tmp_path)
    rootfs = busybox(world, "paths-cn", "lxc.autodev = 0\n")
    for name in ("console", "tty1", "ptmx"):
        plant(os.path.join(rootfs, "dev", name), host / "precious", "absolute")
    assert world.ours("lxc-start", "-n", "paths-cn").returncode == 0
    try:
        pid = init_pid(world, "paths-cn")
        # char devices now (-L: with common.conf's lxc.tty.dir, /dev/tty1 is our link to
        # lxc/tty1, replacing the planted one)
        seen = inside(pid, "ls -lL /dev/console /dev/tty1 /dev/ptmx").stdout
        assert seen.count("\nc") + seen.startswith("c") == 3, seen
        assert "precious" not in inside(pid, "ls -l /dev/tty1").stdout
        untouched(host)
    finally:
        world.ours("lxc-stop", "-n", "paths-cn", "-k")


@pytest.mark.parametrize("how", ["absolute", "relative"])
@pytest.mark.parametrize("create", ["create=dir", "create=file"])
def test_mount_entry_targets_through_links_are_refused(world, tmp_path, how, create):
    """create=dir / create=file through a link to the host: refused, naming the link, and
    nothing made anywhere (main followed such links inside the rootfs with RESOLVE_IN_ROOT;
    LXC's safe_mount refuses any link on the way, issue 19 item 2)."""
    host = host_dir(tmp_path)
    source = tmp_path / ("share" if create == "create=dir" else "share-file")
    if create == "create=dir":
        source.mkdir()
        (source / "shared").write_text("from the host\n")
    else:
        source.write_text("from the host\n")
    rootfs = busybox(world, "paths-me", f"lxc.mount.entry = {source} evil/deep/x none "
                                        f"bind,{create} 0 0\n")
    plant(os.path.join(rootfs, "evil"), host, how)
    start = world.ours("lxc-start", "-n", "paths-me")
    try:
        assert start.returncode == 1, start.stderr
        assert "/evil in the rootfs is a symlink" in start.stderr, start.stderr
        untouched(host)
        assert not os.path.exists(os.path.join(rootfs, str(host).lstrip("/")))
    finally:
        world.ours("lxc-stop", "-n", "paths-me", "-k")


def test_mount_entry_through_a_magic_link_is_refused(world, tmp_path):
    """/proc/self/root in a target would jump to whatever root the setup process has (the
    host's): refused (/proc/self is already a link; RESOLVE_NO_MAGICLINKS would refuse the
    magic link behind it too)."""
    host = host_dir(tmp_path)
    busybox(world, "paths-mg", f"lxc.mount.entry = tmpfs proc/self/root{host} tmpfs "
                               "create=dir 0 0\n")
    start = world.ours("lxc-start", "-n", "paths-mg")
    world.ours("lxc-stop", "-n", "paths-mg", "-k")
    assert start.returncode == 1
    assert "/proc/self in the rootfs is a symlink" in start.stderr, start.stderr
    untouched(host)


# -- checks made before the start, in the caller (preflight, guestcheck, journal) -------------
def test_a_fifo_in_the_guest_does_not_hang_the_start(world, tmp_path):
    """guestcheck reads the guest's dpkg status to find its systemd version: on main a FIFO
    there hung lxc-start for ever. Only regular files are read now."""
    rootfs = busybox(world, "paths-ff")
    os.makedirs(os.path.join(rootfs, "lib/systemd"))
    os.link(os.path.join(rootfs, "bin/busybox"), os.path.join(rootfs, "lib/systemd/systemd"))
    os.makedirs(os.path.join(rootfs, "var/lib/dpkg"))
    os.mkfifo(os.path.join(rootfs, "var/lib/dpkg/status"))
    os.unlink(os.path.join(rootfs, "sbin/init"))
    os.symlink("/lib/systemd/systemd", os.path.join(rootfs, "sbin/init"))
    try:
        start = world.ours("lxc-start", "-n", "paths-ff", "--", "/sbin/init", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("lxc-start hung reading a FIFO of the guest")
    finally:
        world.ours("lxc-stop", "-n", "paths-ff", "-k")
    assert "Traceback" not in start.stderr


def test_journal_machine_id_fifo_does_not_hang_the_setup(world, tmp_path):
    """lxctools.journal.link reads the guest's /etc/machine-id in the container's setup
    process (host root, before pivot_root): a FIFO there hung the start on main."""
    journal = tmp_path / "journal"
    journal.mkdir()
    rootfs = busybox(world, "paths-jf", "lxctools.journal.link = try-host\n")
    os.mkfifo(os.path.join(rootfs, "etc/machine-id"))
    env = dict(world.env, LXCTOOLS_JOURNAL_ROOT=str(journal))
    from conftest import ours
    try:
        start = subprocess.run([ours("lxc-start"), "-P", world.lp, "-n", "paths-jf"],
                               capture_output=True, text=True, env=env, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("lxc-start hung reading the guest's /etc/machine-id FIFO")
    finally:
        world.ours("lxc-stop", "-n", "paths-jf", "-k")
    # the FIFO is not an id: the one systemd derives from container_uuid is used
    assert start.returncode == 0, start.stderr


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_journal_dir_link_stays_in_the_rootfs(world, tmp_path, how):
    journal = tmp_path / "journal"
    journal.mkdir()
    host = host_dir(tmp_path)
    rootfs = busybox(world, "paths-jd", "lxctools.journal.link = host\n")
    with open(os.path.join(rootfs, "etc/machine-id"), "w") as handle:
        handle.write("d755aeea6bdd406ea88d34cfd52b6cad\n")
    os.makedirs(os.path.join(rootfs, "var/log"), exist_ok=True)
    plant(os.path.join(rootfs, "var/log/journal"), host, how)
    env = dict(world.env, LXCTOOLS_JOURNAL_ROOT=str(journal))
    from conftest import ours
    start = subprocess.run([ours("lxc-start"), "-P", world.lp, "-n", "paths-jd"],
                           capture_output=True, text=True, env=env, timeout=60)
    try:
        assert start.returncode == 0, start.stderr
        untouched(host)
        # the guest's journal dir is where its link leads inside the rootfs, bound there
        assert os.path.isdir(os.path.join(rootfs, str(host).lstrip("/"),
                                          "d755aeea6bdd406ea88d34cfd52b6cad"))
    finally:
        world.ours("lxc-stop", "-n", "paths-jd", "-k")


# -- a running container: lxc-stop, lxc-info, lxc-device ---------------------------------------
@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_lxc_stop_never_writes_initctl_requests_to_the_host(world, tmp_path, how):
    """lxc-stop asks a sysvinit over /run/initctl. On main it opened
    /proc/PID/root/run/initctl as host root: a link swapped in there by the running
    container led to the host's FIFO (on a sysvinit host: its own /run/initctl, a shutdown
    of the host)."""
    fifo = tmp_path / "host-initctl"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        busybox(world, "paths-ic", "lxc.signal.halt =\n")
        assert world.ours("lxc-start", "-n", "paths-ic").returncode == 0
        pid = init_pid(world, "paths-ic")
        planted = inside(pid, f"mkdir -p /run && ln -sfn {link_text(fifo, how)} /run/initctl")
        assert planted.returncode == 0, planted.stderr
        stop = world.ours("lxc-stop", "-n", "paths-ic", "-t", "1")
        assert stop.returncode == 0, stop.stderr
        try:
            leaked = os.read(reader, 4096)
        except BlockingIOError:
            leaked = b""
        assert leaked == b"", "lxc-stop wrote an initctl request into the host's FIFO"
    finally:
        os.close(reader)
        world.ours("lxc-stop", "-n", "paths-ic", "-k")


def test_lxc_stop_still_asks_the_containers_own_initctl(world):
    """The safe lookup still finds a real FIFO inside and writes sysvinit's request to it."""
    busybox(world, "paths-i2", "lxc.signal.halt =\n")
    assert world.ours("lxc-start", "-n", "paths-i2").returncode == 0
    try:
        pid = init_pid(world, "paths-i2")
        assert inside(pid, "mkdir -p /run && mkfifo /run/initctl").returncode == 0
        got = {}
        reader = threading.Thread(target=lambda: got.update(r=inside(
            pid, "dd if=/run/initctl bs=384 count=1 2>/dev/null | od -An -tx1 | head -1")))
        reader.start()
        stop = world.ours("lxc-stop", "-n", "paths-i2", "-t", "1")
        reader.join(30)
        assert stop.returncode == 0, stop.stderr
        # struct init_request: magic 0x03091969, little-endian
        assert got["r"].stdout.split()[:4] == ["69", "19", "09", "03"], got["r"]
    finally:
        world.ours("lxc-stop", "-n", "paths-i2", "-k")


def test_initctl_lookup_never_follows_a_reused_pid(tmp_path):
    """lxc-stop learns init's pid, then looks for /run/initctl below /proc/PID/root. If init
    exits in between and a host process gets its pid, that path is the host's root. The
    stand-in for such a process: one in a mount namespace of its own whose /run holds an
    initctl FIFO, its root the host's /. The lookup must find nothing unless the monitor's
    pidfd names that very process while the root is opened."""
    from lxctools.kernel import libc
    from lxctools.monitor import control

    dead = subprocess.Popen(["true"])
    dead_fd = libc.pidfd_open(dead.pid)
    dead.wait()
    host = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                             "mount -t tmpfs none /run && mkfifo /run/initctl && "
                             "touch /run/ready && exec sleep 60"])
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(f"/proc/{host.pid}/root/run/ready"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert control.initctl_fifo(host.pid, None) is None
        assert control.initctl_fifo(host.pid, dead_fd) is None
        live_fd = libc.pidfd_open(host.pid)
        try:
            # the check itself can tell: with the right pidfd the FIFO is found
            assert control.initctl_fifo(host.pid, live_fd) == "run/initctl"
        finally:
            os.close(live_fd)
    finally:
        os.close(dead_fd)
        host.kill()
        host.wait()


FUSE_MOUNT = r"""
import ctypes, os, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
pid, point = sys.argv[1], sys.argv[2]
fuse = os.open("/dev/fuse", os.O_RDWR)
ns = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
if libc.setns(ns, 0x00020000) != 0:
    sys.exit("setns: " + os.strerror(ctypes.get_errno()))
os.makedirs(point, exist_ok=True)
opts = f"fd={fuse},rootmode=40000,user_id=0,group_id=0".encode()
if libc.mount(b"lxcfs", point.encode(), b"fuse.lxcfs", 0, opts) != 0:
    sys.exit("mount: " + os.strerror(ctypes.get_errno()))
"""


def test_lxc_info_lxcfs_check_never_reads_a_host_file(world, tmp_path):
    """lxc-info reads a byte of the container's first fuse.lxcfs mount to tell a dead lxcfs.
    The container covers that mount point with a tmpfs holding a link to a host FIFO: main
    opened /proc/PID/root/POINT as host root and consumed the host's data."""
    fifo = tmp_path / "host-fifo"
    os.mkfifo(fifo)
    holder = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer, so that an open succeeds
    try:
        os.write(holder, b"X")
        busybox(world, "paths-lx")
        assert world.ours("lxc-start", "-n", "paths-lx").returncode == 0
        pid = init_pid(world, "paths-lx")
        mounted = subprocess.run([sys.executable, "-c", FUSE_MOUNT, str(pid), "/lxcfs-test/point"],
                                 capture_output=True, text=True, timeout=30)
        assert mounted.returncode == 0, mounted.stderr
        covered = inside(pid, f"mount -t tmpfs none /lxcfs-test && ln -s {fifo} "
                              "/lxcfs-test/point && grep fuse.lxcfs /proc/1/mountinfo")
        assert covered.returncode == 0 and "/lxcfs-test/point" in covered.stdout, covered
        try:
            info = world.ours("lxc-info", "-n", "paths-lx", timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("lxc-info hung on a host FIFO")
        assert info.returncode == 0, info.stderr
        assert os.read(holder, 1) == b"X", "lxc-info read the host's FIFO"
    finally:
        os.close(holder)
        world.ours("lxc-stop", "-n", "paths-lx", "-k")


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_lxc_device_add_makes_nodes_only_inside(world, tmp_path, how):
    """lxc-device's helper joins the container's mount namespace before it resolves the
    destination (safe by construction; openat2 also refuses magic links there): a /dev
    subdirectory linked towards the host is resolved inside the container."""
    host = host_dir(tmp_path)
    busybox(world, "paths-dv")
    assert world.ours("lxc-start", "-n", "paths-dv").returncode == 0
    try:
        pid = init_pid(world, "paths-dv")
        assert inside(pid, f"ln -s {link_text(host, how)} /dev/evil").returncode == 0
        add = world.ours("lxc-device", "-n", "paths-dv", "add", "/dev/null", "/dev/evil/null2")
        assert add.returncode == 0, add.stderr
        untouched(host)
        seen = inside(pid, f"ls -l {host}/null2")
        assert seen.stdout.startswith("c"), seen
        rm = world.ours("lxc-device", "-n", "paths-dv", "del", "/dev/null", "/dev/evil/null2")
        assert rm.returncode == 0, rm.stderr
        untouched(host)
    finally:
        world.ours("lxc-stop", "-n", "paths-dv", "-k")


# -- storage: lxc-copy's hostname rewrite --------------------------------------------------
@pytest.mark.parametrize("where", ["etc", "etc/hostname"])
def test_lxc_copy_hostname_rewrite_never_writes_the_host(world, tmp_path, where):
    host = host_dir(tmp_path)
    rootfs = busybox(world, "paths-cp")
    if where == "etc":
        shutil.rmtree(os.path.join(rootfs, "etc"))
        os.symlink(str(host), os.path.join(rootfs, "etc"))
        os.rename(host / "precious", host / "hostname")
        (host / "hostname").write_text(PRECIOUS)
    else:
        plant(os.path.join(rootfs, "etc/hostname"), host / "precious", "absolute")
    for snapshot in ([], ["-s", "-B", "overlay"]):
        name = "paths-c2" if not snapshot else "paths-c3"
        copy = world.ours("lxc-copy", "-n", "paths-cp", "-N", name, *snapshot)
        assert copy.returncode == 0, copy.stderr
        assert "symlink: hostname not updated" in copy.stderr
    target = host / ("hostname" if where == "etc" else "precious")
    assert target.read_text() == PRECIOUS
