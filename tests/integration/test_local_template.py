"""lxc-create -t local, ours (native) side by side with real LXC 5.0.2's lxc-local: the same
config (sections, moved lines, fstab, uts name, placeholders), the same rootfs tree, the same
create-message; errors leave nothing behind."""

import os
import shutil
import subprocess

import pytest

from imagekit import busybox_rootfs, standard_meta, meta_tarball
from lxcenv import World, tree, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle


def normalise(text, world, name, real):
    lp = world.real_lp if real else world.lp
    out = []
    for line in text.replace(os.path.join(lp, name), "@DIR@").splitlines():
        if line.startswith("# Template used to create this container:"):
            line = "# Template used to create this container: @TEMPLATE@"
        if line.startswith("#lxc.include = ") and line.endswith("/nesting.conf"):
            line = "#lxc.include = @CONFIG@/nesting.conf"
        out.append(line)
    return out


@pytest.fixture
def images(world):
    rootfs = busybox_rootfs(world, os.path.join(world.root, "rootfs.tar.xz"))
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"))
    return rootfs, meta


def test_local_matches_real_lxc(world, images):
    rootfs, meta = images
    args = ("-n", "img-l1", "-t", "local", "--", "-m", meta, "-f", rootfs)
    mine = world.ours("lxc-create", *args)
    theirs = world.real("lxc-create", *args)
    assert mine.returncode == 0, mine.stderr
    assert theirs.returncode == 0, theirs.stderr
    # LXC's template prints the message raw: no placeholder substitution in it.
    assert mine.stdout == theirs.stdout == "Unpacking the rootfs\n\n---\nWelcome to LXC_NAME\n"
    assert (normalise(world.config("img-l1"), world, "img-l1", False)
            == normalise(world.config("img-l1", True), world, "img-l1", True))
    config = world.config("img-l1")
    assert "\n# Distribution configuration\nlxc.mount.auto = proc:mixed sys:ro cgroup:mixed\n" in config
    assert "# img-l1 in a comment" in config
    assert f"lxc.mount.fstab = {world.cdir('img-l1')}/fstab\nlxc.uts.name = img-l1\n" in config
    assert config.endswith("\n# Network configuration\nlxc.net.0.type = empty\n")
    mine_tree, real_tree = tree(world.cdir("img-l1")), tree(world.cdir("img-l1", True))
    assert mine_tree.pop("config")[0] == real_tree.pop("config")[0]  # sizes: paths differ
    assert mine_tree.pop("fstab")[:4] == real_tree.pop("fstab")[:4]
    assert "rootfs/var/log" not in mine_tree  # the image's excludes
    assert mine_tree == real_tree
    for rel in ("rootfs/etc/hostname", "rootfs/etc/hosts", "rootfs/bin/busybox"):
        with open(os.path.join(world.cdir("img-l1"), rel), "rb") as a, \
                open(os.path.join(world.cdir("img-l1", True), rel), "rb") as b:
            assert a.read() == b.read(), rel
    with open(os.path.join(world.cdir("img-l1"), "rootfs/etc/hostname")) as handle:
        assert handle.read() == "img-l1\n"
    with open(os.path.join(world.cdir("img-l1"), "fstab")) as handle:
        assert handle.read() == f"proc proc proc nodev 0 0\n# {world.cdir('img-l1')}/rootfs\n"
    # mtimes come from the tarball, as tar -p sets them
    busybox = os.path.join("rootfs", "bin", "busybox")
    assert (os.lstat(os.path.join(world.cdir("img-l1"), busybox)).st_mtime
            == os.lstat(os.path.join(world.cdir("img-l1", True), busybox)).st_mtime)
    # real LXC reads our config
    info = world.real("lxc-info", "-n", "img-l1", "-c", "lxc.uts.name", lxcpath=world.lp)
    assert info.stdout.strip() == "lxc.uts.name = img-l1", info.stderr


def test_local_container_starts(world, images):
    rootfs, meta = images
    made = world.ours("lxc-create", "-n", "img-l2", "-t", "local", "--", "-m", meta, "-f", rootfs)
    assert made.returncode == 0, made.stderr
    started = world.ours("lxc-start", "-n", "img-l2")
    assert started.returncode == 0, started.stderr
    try:
        hostname = world.ours("lxc-attach", "-n", "img-l2", "--", "/bin/hostname")
        assert hostname.stdout.strip() == "img-l2", hostname.stderr
    finally:
        world.ours("lxc-stop", "-n", "img-l2", "-k")


def test_gzip_and_zstd_rootfs_and_no_dev(world):
    rootfs_gz = busybox_rootfs(world, os.path.join(world.root, "rootfs.tar.gz"), compress="z")
    plain = os.path.join(world.root, "rootfs.tar")
    subprocess.run(["sh", "-c", f"gzip -dc {rootfs_gz} > {plain}"], check=True)
    zst = plain + ".zst"
    subprocess.run(["zstd", "-q", plain, "-o", zst], check=True)
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"))
    for name, tarball in (("img-gz", rootfs_gz), ("img-zst", zst), ("img-plain", plain)):
        made = world.ours("lxc-create", "-n", name, "-t", "local", "--", "-m", meta,
                          "-f", tarball, "--no-dev")
        assert made.returncode == 0, made.stderr
        root = os.path.join(world.cdir(name), "rootfs")
        assert os.path.isfile(os.path.join(root, "bin/busybox"))
        # --no-dev drops the image's dev/*; dev/pts is made afterwards, as LXC does
        assert os.listdir(os.path.join(root, "dev")) == ["pts"]


def test_metadata_errors_leave_nothing(world, images):
    rootfs, _ = images
    noconf = meta_tarball(os.path.join(world.root, "noconf"), os.path.join(world.root, "nc.tar.xz"),
                          {"create-message": "hi\n"})
    proc = world.ours("lxc-create", "-n", "img-bad", "-t", "local", "--", "-m", noconf,
                      "-f", rootfs)
    assert proc.returncode == 1
    assert "meta tarball is missing the configuration file" in proc.stderr
    real = world.real("lxc-create", "-n", "img-bad", "-t", "local", "--", "-m", noconf,
                      "-f", rootfs)
    assert real.returncode == 1 and "missing the configuration file" in real.stderr
    for args, phrase in (((), "Rootfs file was not passed"),
                         (("-f", "/nonexistent.tar.xz"), "does not exist"),
                         (("-f", rootfs, "-m", "/etc/hostname"), "Invalid metadata file"),
                         (("-f", "/etc/hostname"), "not a valid tar archive"),
                         (("-f", rootfs, "--bogus"), "option --bogus not recognized")):
        proc = world.ours("lxc-create", "-n", "img-bad", "-t", "local", "--", *args)
        assert proc.returncode == 1, args
        assert phrase in proc.stderr, (args, proc.stderr)
    assert os.listdir(world.lp) == []


def test_without_metadata_warns_and_creates(world, images):
    rootfs, _ = images
    proc = world.ours("lxc-create", "-n", "img-nometa", "-t", "local", "--", "-f", rootfs)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: no metadata" in proc.stdout
    config = world.config("img-nometa")
    assert "lxc.uts.name = img-nometa\n" in config
    assert "# Distribution configuration\n\n# Container specific configuration\n" in config


def test_idmap_container_skips_devices_and_shifts_owners(world, images):
    rootfs, meta = images
    conf = os.path.join(world.root, "idmap.conf")
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\nlxc.idmap = u 0 100000 65536\n"
                     "lxc.idmap = g 0 100000 65536\n")
    devtar = os.path.join(world.root, "dev.tar.xz")
    src = os.path.join(world.root, "devsrc")
    os.makedirs(os.path.join(src, "dev"))
    os.mknod(os.path.join(src, "dev", "null"), 0o666 | 0o020000, os.makedev(1, 3))
    os.makedirs(os.path.join(src, "etc"))
    with open(os.path.join(src, "etc", "owned"), "w") as handle:
        handle.write("x\n")
    os.chown(os.path.join(src, "etc", "owned"), 33, 44)
    cap_v2 = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_raw+ep
    os.setxattr(os.path.join(src, "etc", "owned"), "security.capability", cap_v2)
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-C", src,
                    "-cJf", devtar, "."], check=True)
    proc = world.ours("lxc-create", "-n", "img-un", "-f", conf, "-t", "local", "--",
                      "-m", meta, "-f", devtar)
    assert proc.returncode == 0, proc.stderr
    assert "Skipped 1 device node" in proc.stdout
    root = os.path.join(world.cdir("img-un"), "rootfs")
    assert os.listdir(os.path.join(root, "dev")) == ["pts"]
    st = os.lstat(os.path.join(root, "etc", "owned"))
    assert (st.st_uid, st.st_gid) == (100033, 100044)
    assert os.lstat(root).st_uid == 100000
    assert os.lstat(os.path.join(root, "dev", "pts")).st_uid == 100000
    # The file capability survives, as version 3 owned by container root (what LXC's tar
    # writes inside the user namespace); a v2 one would not work in the container.
    cap = os.getxattr(os.path.join(root, "etc", "owned"), "security.capability")
    assert cap == bytes.fromhex("01000003") + cap_v2[4:] + (100000).to_bytes(4, "little")


def _big_tarball(world):
    """~300 MB of zero-filled (not sparse) files in a small zstd tarball: extraction lasts
    long enough to be interrupted."""
    src = os.path.join(world.root, "big")
    os.makedirs(os.path.join(src, "data"))
    for i in range(30):
        with open(os.path.join(src, "data", f"f{i:02d}"), "wb") as handle:
            handle.write(b"\0" * (10 << 20))
    out = os.path.join(world.root, "big.tar.zst")
    subprocess.run(f"tar --numeric-owner -C {src} -cf - . | zstd -q -1 -o {out}", shell=True,
                   check=True)
    shutil.rmtree(src)
    return out


@pytest.mark.parametrize("sig", ["KILL", "INT"])
def test_interrupted_extraction_leaves_no_container(world, sig):
    import signal
    import time
    from conftest import ours

    big = _big_tarball(world)
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"))
    proc = subprocess.Popen([ours("lxc-create"), "-P", world.lp, "-n", "img-k9", "-t", "local",
                             "--", "-m", meta, "-f", big], env=world.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    data = os.path.join(world.cdir("img-k9"), "rootfs", "data")

    # the decompressor reads the tarball on its stdin; it must not outlive us
    def readers():
        found = []
        for pid in subprocess.run(["pgrep", "-x", "zstd"], capture_output=True,
                                  text=True).stdout.split():
            try:
                if os.readlink(f"/proc/{pid}/fd/0") == big:
                    found.append(int(pid))
            except OSError:
                pass
        return found

    deadline = time.monotonic() + 30
    while not (os.path.isdir(data) and os.listdir(data) and readers()):
        assert time.monotonic() < deadline and proc.poll() is None, "extraction never started"
        time.sleep(0.01)
    # The decompressor stopped: the extraction is certainly under way when the signal comes
    # (however fast it is), and resumes only for the decompressor to find its reader gone.
    stopped = readers()
    assert stopped, "no zstd reading the tarball: the check below would prove nothing"
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        assert world.ours("lxc-ls", "-1").stdout == ""  # being created: not listed
        os.kill(proc.pid, getattr(signal, "SIG" + sig))
        proc.wait(timeout=30)
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    assert proc.returncode != 0
    assert world.ours("lxc-ls", "-1").stdout == ""
    assert world.ours("lxc-info", "-n", "img-k9").returncode == 1
    assert not os.path.exists(world.cdir("img-k9"))
    deadline = time.monotonic() + 5
    while readers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert readers() == []
    again = world.ours("lxc-create", "-n", "img-k9", "-t", "local", "--", "-m", meta, "-f", big)
    assert again.returncode == 0, again.stderr
    assert world.ours("lxc-ls", "-1").stdout == "img-k9\n"
