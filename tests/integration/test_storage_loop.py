"""The loop backing store beside real LXC 5.0.2: lxc-create -B loop (a sparse image formatted
by mkfs, filled by the template through a loop mount), lxc-start attaching a loop device with
autoclear that is gone when the container stops or is killed, lxc-copy and lxc-snapshot as
image copies, refusals before anything is written, kill -9 in the middle of a create."""

import os
import re
import signal
import subprocess
import time

import pytest

from lxcenv import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle

SIZE = 300 << 20


def normal(text, lp):
    text = text.replace(lp, "@LP@")
    text = re.sub(r"^# Template used.*\n", "", text, flags=re.M)
    return re.sub(r"^#lxc\.include = .*nesting\.conf\n", "", text, flags=re.M)


def devices_of(image):
    """[(device, autoclear)] of the loop devices backed by IMAGE."""
    out = subprocess.run(["losetup", "--list", "--noheadings", "--raw", "-O",
                          "NAME,AUTOCLEAR,BACK-FILE"], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        name, autoclear, back = line.split(" ", 2)
        if back.replace("\\x20", " ").split(" (deleted)")[0] == image:
            found.append((name, autoclear == "1"))
    return found


def wait_detached(image, timeout=10):
    deadline = time.monotonic() + timeout
    while devices_of(image):
        assert time.monotonic() < deadline, f"{image} is still attached: {devices_of(image)}"
        time.sleep(0.05)


def create(w, name, real=False, *extra):
    runner = w.real if real else w.ours
    proc = runner("lxc-create", "-n", name, "-t", "busybox", "-B", "loop", "--fssize", "300M",
                  *extra)
    assert proc.returncode == 0, proc.stderr
    return w.cdir(name, real)


def test_create_start_stop_and_crash_detach_the_device(world):
    w = world
    mine, theirs = create(w, "lo-a"), create(w, "lo-a", True)
    assert f"lxc.rootfs.path = loop:{w.lp}/lo-a/rootdev\n" in w.config("lo-a")
    assert normal(w.config("lo-a"), w.lp) == normal(w.config("lo-a", True), w.real_lp)
    for d in (mine, theirs):
        image = os.path.join(d, "rootdev")
        st = os.stat(image)
        assert oct(st.st_mode) == "0o100600" and st.st_size == SIZE + 1  # LXC writes 1 byte at SIZE
        assert st.st_blocks * 512 < SIZE // 4  # sparse
        fstype = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", image],
                                capture_output=True, text=True).stdout.strip()
        assert fstype == "ext4"
        assert os.listdir(os.path.join(d, "rootfs")) == []  # filled through a mount, now gone
        assert devices_of(image) == []
    # The template's files are in the image: mount it read-only and compare with LXC's.
    listings = []
    for d in (mine, theirs):
        point = os.path.join(w.root, "look")
        os.makedirs(point, exist_ok=True)
        subprocess.run(["mount", "-o", "loop,ro", os.path.join(d, "rootdev"), point], check=True)
        try:
            listings.append(sorted(os.listdir(point)))
            assert os.path.exists(os.path.join(point, "bin", "busybox"))
        finally:
            subprocess.run(["umount", point], check=True)
    assert listings[0] == listings[1]
    image = os.path.join(mine, "rootdev")
    wait_detached(image)
    # Started: one loop device, with autoclear; the rootfs is its ext4.
    assert w.ours("lxc-start", "-n", "lo-a").returncode == 0
    try:
        assert [auto for _, auto in devices_of(image)] == [True]
        out = w.ours("lxc-attach", "-n", "lo-a", "--", "sh", "-c", "hostname; head -1 /proc/mounts")
        assert out.returncode == 0, out.stderr
        host, mount = out.stdout.splitlines()
        assert host == "lo-a" and mount.split()[1:3] == ["/", "ext4"]
        assert mount.split()[0] == devices_of(image)[0][0]
        # The host does not see the mount (it lives in the container's namespace only).
        with open("/proc/self/mountinfo") as handle:
            assert image not in handle.read() and os.listdir(os.path.join(mine, "rootfs")) == []
    finally:
        assert w.ours("lxc-stop", "-n", "lo-a", "-k").returncode == 0
    wait_detached(image)
    # A crash: supervisor and init killed with SIGKILL; the device still goes.
    assert w.ours("lxc-start", "-n", "lo-a").returncode == 0
    pid = int(w.ours("lxc-info", "-n", "lo-a", "-pH").stdout)
    supervisor = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    assert devices_of(image)
    os.kill(supervisor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_detached(image)
    assert w.ours("lxc-info", "-n", "lo-a", "-sH").stdout.strip() == "STOPPED"
    # Destroy removes the image with the rest.
    assert w.ours("lxc-destroy", "-n", "lo-a").returncode == 0
    assert not os.path.exists(mine)


def test_copy_snapshot_restore_destroy(world):
    w = world
    origin = create(w, "lo-o")
    image = os.path.join(origin, "rootdev")
    # A copy is the image copied (sparse, same bytes); it starts under its own name.
    proc = w.ours("lxc-copy", "-n", "lo-o", "-N", "lo-c")
    assert proc.returncode == 0, proc.stderr
    copy = os.path.join(w.cdir("lo-c"), "rootdev")
    assert f"lxc.rootfs.path = loop:{copy}\n" in w.config("lo-c")
    assert "lxc.uts.name = lo-c\n" in w.config("lo-c")
    st = os.stat(copy)
    assert oct(st.st_mode) == "0o100600" and st.st_size == os.stat(image).st_size
    assert st.st_blocks <= os.stat(image).st_blocks
    assert sorted(os.listdir(w.cdir("lo-c"))) == ["config", "rootdev", "rootfs"]
    assert w.ours("lxc-start", "-n", "lo-c").returncode == 0
    try:
        out = w.ours("lxc-attach", "-n", "lo-c", "--", "sh", "-c", "hostname; echo c > /mark")
        assert out.stdout.strip() == "lo-c", out.stderr
    finally:
        w.ours("lxc-stop", "-n", "lo-c", "-k")
    wait_detached(copy)
    # -s is refused before anything is written, as LXC refuses it.
    create(w, "lo-o", True)
    before = sorted(os.listdir(w.lp))
    mine = w.ours("lxc-copy", "-n", "lo-o", "-N", "lo-s", "-s")
    theirs = w.real("lxc-copy", "-n", "lo-o", "-N", "lo-s", "-s")
    assert mine.returncode == theirs.returncode == 1
    assert "The loop storage driver does not support snapshots" in mine.stderr
    assert sorted(os.listdir(w.lp)) == before
    # -B dir: a dir container with the image's files.
    assert w.ours("lxc-copy", "-n", "lo-o", "-N", "lo-d", "-B", "dir").returncode == 0
    assert f"lxc.rootfs.path = dir:{w.lp}/lo-d/rootfs\n" in w.config("lo-d")
    assert os.path.exists(os.path.join(w.cdir("lo-d"), "rootfs", "bin", "busybox"))
    wait_detached(image)
    # lxc-snapshot: a copy of the image in snaps/snap0 (LXC copies stores it cannot snapshot).
    assert w.ours("lxc-snapshot", "-n", "lo-c").returncode == 0
    snap = os.path.join(w.cdir("lo-c"), "snaps", "snap0")
    assert sorted(os.listdir(snap)) == ["config", "rootdev", "rootfs", "ts"]
    with open(os.path.join(snap, "config")) as handle:
        assert f"lxc.rootfs.path = loop:{snap}/rootdev\n" in handle.read()
    assert w.ours("lxc-snapshot", "-n", "lo-c", "-r", "snap0", "-N", "lo-r").returncode == 0
    assert w.ours("lxc-start", "-n", "lo-r").returncode == 0
    try:
        out = w.ours("lxc-attach", "-n", "lo-r", "--", "cat", "/mark")
        assert out.stdout == "c\n", out.stderr
    finally:
        w.ours("lxc-stop", "-n", "lo-r", "-k")
    assert w.ours("lxc-destroy", "-n", "lo-c").returncode == 1  # has snapshots
    assert w.ours("lxc-destroy", "-n", "lo-c", "-s").returncode == 0
    for name in ("lo-o", "lo-d", "lo-r"):
        assert w.ours("lxc-destroy", "-n", name).returncode == 0
    assert os.listdir(w.lp) == []
    for name in ("lo-o", "lo-c", "lo-r"):
        wait_detached(os.path.join(w.lp, name, "rootdev"))


def uuid_of(image):
    return subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", image],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("fstype", ["xfs", "btrfs"])
def test_copies_of_xfs_and_btrfs_images_run_beside_their_origin(world, fstype):
    """A copied image gets a UUID of its own: xfs refuses to mount a second filesystem with a
    mounted one's UUID, so origin and copy could not run at once (nor could lxc-copy write the
    copy's hostname while the origin ran)."""
    w = world
    origin = os.path.join(create(w, "lo-u", False, "--fstype", fstype), "rootdev")
    before = uuid_of(origin)
    proc = w.ours("lxc-copy", "-n", "lo-u", "-N", "lo-v")
    assert proc.returncode == 0, proc.stderr
    copy = os.path.join(w.cdir("lo-v"), "rootdev")
    assert uuid_of(origin) == before and uuid_of(copy) not in ("", before)
    try:
        for name in ("lo-u", "lo-v"):
            started = w.ours("lxc-start", "-n", name)
            assert started.returncode == 0, (name, started.stderr)
        for name in ("lo-u", "lo-v"):
            out = w.ours("lxc-attach", "-n", name, "--", "hostname")
            assert out.stdout == f"{name}\n", out.stderr
        if fstype == "xfs":
            # An image copied by hand keeps the UUID: the kernel refuses it (EINVAL, as for a
            # missing filesystem), and lxc-start points at the kernel log that says why.
            twin = os.path.join(w.root, "twin.img")
            subprocess.run(["cp", "--sparse=always", origin, twin], check=True)
            os.makedirs(w.cdir("lo-w"))
            with open(os.path.join(w.cdir("lo-w"), "config"), "w") as handle:
                handle.write(w.config("lo-u").replace(origin, twin).replace("lo-u", "lo-w"))
            proc = w.ours("lxc-start", "-n", "lo-w")
            assert proc.returncode == 1 and "dmesg | tail" in proc.stderr, proc.stderr
            wait_detached(twin)
    finally:
        for name in ("lo-u", "lo-v"):
            w.ours("lxc-stop", "-n", name, "-k")
    for image in (origin, copy):
        wait_detached(image)
    for name in ("lo-u", "lo-v") + (("lo-w",) if fstype == "xfs" else ()):
        assert w.ours("lxc-destroy", "-n", name).returncode == 0


def test_refusals_before_anything_is_written(world, tmp_path):
    w = world
    lp = str(tmp_path / "nothing")
    cases = [
        (["-B", "loop", "--fstype", "bt-nosuchfs"], "mkfs.bt-nosuchfs is not installed"),
        (["--fssize", "1G"], "Filesystem type and size are only valid with block devices"),
        (["-B", "dir", "--fstype", "ext4"], "Filesystem type and size are only valid with block devices"),
        (["-B", "loop", "--fssize", "12Q"], 'invalid --fssize "12Q"'),
        (["-B", "loop", "--fssize", "0"], "must be positive"),
    ]
    for extra, message in cases:
        proc = w.ours("lxc-create", "-n", "lo-x", "-t", "busybox", *extra, lxcpath=lp)
        assert proc.returncode == 1 and message in proc.stderr, (extra, proc.stderr)
        assert not os.path.exists(lp)
    # Clones: -B loop of an overlay container, -s -B overlay of a loop one.
    assert w.ours("lxc-create", "-n", "lo-dir", "-t", "busybox").returncode == 0
    assert w.ours("lxc-copy", "-n", "lo-dir", "-N", "lo-ovl", "-s").returncode == 0
    create(w, "lo-img")
    before = sorted(os.listdir(w.lp))
    for args, message in ((["-n", "lo-ovl", "-N", "lo-x", "-B", "loop"],
                           "a loop clone of a overlay container is not supported"),
                          (["-n", "lo-img", "-N", "lo-x", "-s", "-B", "overlay"],
                           "an overlay snapshot of a loop container is not supported")):
        proc = w.ours("lxc-copy", *args)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
        assert sorted(os.listdir(w.lp)) == before
    # A filesystem too small for the template: the create fails and leaves nothing.
    proc = w.ours("lxc-create", "-n", "lo-tiny", "-t", "busybox", "-B", "loop", "--fssize", "1")
    assert proc.returncode == 1
    assert sorted(os.listdir(w.lp)) == before


def test_kill_9_mid_create_leaves_no_half_container_nor_device(world):
    from conftest import ours

    w = world
    flag = os.path.join(w.root, "template-ran")
    template = os.path.join(w.root, "lxc-slow")
    with open(template, "w") as handle:
        handle.write("#!/bin/sh\nfor a; do case $a in --rootfs=*) r=${a#--rootfs=};; esac; done\n"
                     f"mkdir -p $r/etc; echo $$ > {flag}.tmp; mv {flag}.tmp {flag}\nexec sleep 60\n")
    os.chmod(template, 0o755)
    proc = subprocess.Popen([ours("lxc-create"), "-P", w.lp, "-n", "lo-k", "-t", template,
                             "-B", "loop", "--fssize", "64M"], env=w.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.path.exists(flag):
        assert time.monotonic() < deadline and proc.poll() is None, "the template never ran"
        time.sleep(0.02)
    image = os.path.join(w.cdir("lo-k"), "rootdev")
    assert [auto for _, auto in devices_of(image)] == [True]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_detached(image)  # the template and the mount helper died with lxc-create
    assert os.path.exists(os.path.join(w.cdir("lo-k"), "partial"))
    assert w.ours("lxc-ls", "-1").stdout == ""
    assert not os.path.exists(w.cdir("lo-k"))


def test_each_starts_the_others_loop_container(world):
    """Real LXC starts and destroys our loop container, ours starts and destroys real LXC's."""
    w = world
    create(w, "lo-ours")
    create(w, "lo-real", True)
    theirs_in_ours = os.path.join(w.lp, "lo-real")
    subprocess.run(["cp", "-a", w.cdir("lo-real", True), theirs_in_ours], check=True)
    with open(os.path.join(theirs_in_ours, "config")) as handle:
        text = handle.read().replace(w.real_lp, w.lp)
    with open(os.path.join(theirs_in_ours, "config"), "w") as handle:
        handle.write(text)
    ours_in_real = os.path.join(w.real_lp, "lo-ours")
    subprocess.run(["cp", "-a", w.cdir("lo-ours"), ours_in_real], check=True)
    with open(os.path.join(ours_in_real, "config")) as handle:
        text = handle.read().replace(w.lp, w.real_lp)
    with open(os.path.join(ours_in_real, "config"), "w") as handle:
        handle.write(text)
    for runner, name, lp in ((w.ours, "lo-real", w.lp), (w.real, "lo-ours", w.real_lp)):
        image = os.path.join(lp, name, "rootdev")
        assert runner("lxc-start", "-n", name).returncode == 0
        try:
            out = runner("lxc-attach", "-n", name, "--", "hostname")
            assert out.returncode == 0, out.stderr
        finally:
            runner("lxc-stop", "-n", name, "-k")
        wait_detached(image)
        assert runner("lxc-destroy", "-n", name).returncode == 0
        assert not os.path.exists(os.path.join(lp, name))


def test_loop_copy_of_a_dir_container_like_lxc(world):
    """-B loop from a dir container: a new 1 GiB ext4 image with the rootfs copied in, as LXC."""
    w = world
    for runner in (w.ours, w.real):
        assert runner("lxc-create", "-n", "lo-src", "-t", "busybox").returncode == 0
        proc = runner("lxc-copy", "-n", "lo-src", "-N", "lo-new", "-B", "loop")
        assert proc.returncode == 0, proc.stderr
    assert normal(w.config("lo-new"), w.lp) == normal(w.config("lo-new", True), w.real_lp)
    image = os.path.join(w.cdir("lo-new"), "rootdev")
    for d in (w.cdir("lo-new"), w.cdir("lo-new", True)):
        st = os.stat(os.path.join(d, "rootdev"))
        assert st.st_size == (1 << 30) + 1 and oct(st.st_mode) == "0o100600"
    assert w.ours("lxc-start", "-n", "lo-new").returncode == 0
    try:
        out = w.ours("lxc-attach", "-n", "lo-new", "--", "sh", "-c", "hostname; ls /bin/busybox")
        assert out.stdout.split() == ["lo-new", "/bin/busybox"], out.stderr
    finally:
        w.ours("lxc-stop", "-n", "lo-new", "-k")
    wait_detached(image)


def test_copy_with_a_new_size(world):
    """lxc-copy -L SIZE: a new ext4 image of that size with the origin's files (as LXC makes
    loop clones); -L for a clone that is no loop is refused before anything is written."""
    w = world
    origin = create(w, "lo-small")
    assert w.ours("lxc-start", "-n", "lo-small").returncode == 0
    try:
        w.ours("lxc-attach", "-n", "lo-small", "--", "sh", "-c", "echo kept > /mark")
    finally:
        w.ours("lxc-stop", "-n", "lo-small", "-k")
    wait_detached(os.path.join(origin, "rootdev"))
    proc = w.ours("lxc-copy", "-n", "lo-small", "-N", "lo-big", "-L", "600M")
    assert proc.returncode == 0, proc.stderr
    image = os.path.join(w.cdir("lo-big"), "rootdev")
    assert os.stat(image).st_size == (600 << 20) + 1
    assert w.ours("lxc-start", "-n", "lo-big").returncode == 0
    try:
        out = w.ours("lxc-attach", "-n", "lo-big", "--", "sh", "-c", "cat /mark; hostname")
        assert out.stdout.split() == ["kept", "lo-big"], out.stderr
    finally:
        w.ours("lxc-stop", "-n", "lo-big", "-k")
    for image in (os.path.join(origin, "rootdev"), image):
        wait_detached(image)
    before = sorted(os.listdir(w.lp))
    proc = w.ours("lxc-copy", "-n", "lo-small", "-N", "lo-x", "-L", "600M", "-B", "dir")
    assert proc.returncode == 1 and "only sizes a new loop image" in proc.stderr
    assert sorted(os.listdir(w.lp)) == before
