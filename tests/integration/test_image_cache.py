"""The unpacked-image cache (issue 11, beyond LXC): the local and download templates keep each
reused image's unpacked tree and make later containers of the same image from it, without
opening the tarball again (watched with inotify); the copy is exact (owners, modes, hard links,
file capabilities, device nodes, fifos, sparse files), the placeholders are each container's
own, the bound evicts least recently used trees, --flush-cache unpacks again. The first create
of an image that would be copied unpacks into the container alone (issue 22.6: as fast as
tar); the second fills the cache; an overlay over the tree fills it at once."""

import ctypes
import os
import select
import struct
import subprocess

import pytest

from imagekit import add_image, busybox_rootfs, standard_meta, write_index
from lxcenv import tree, world  # noqa: F401  (fixture)

IN_OPEN = 0x20
IN_ACCESS = 0x01


class OpenWatch:
    """inotify on one file: did anybody open or read it while the watch was on?"""

    def __init__(self, path):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        wd = libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS)
        assert wd >= 0, os.strerror(ctypes.get_errno())

    def events(self):
        masks = []
        while select.select([self.fd], [], [], 0.2)[0]:
            data = os.read(self.fd, 65536)
            while data:
                _, mask, _, size = struct.unpack_from("iIII", data)
                masks.append(mask)
                data = data[16 + size:]
        return masks

    def close(self):
        os.close(self.fd)


def source_tree(world, name="src"):
    """A busybox rootfs with everything a copy can get wrong, as a tarball."""
    return busybox_rootfs(world, os.path.join(world.root, "rootfs.tar.xz"), name=name,
                          prepare=add_hard_cases)


def add_hard_cases(root):
    os.makedirs(os.path.join(root, "srv/data"), exist_ok=True)
    with open(os.path.join(root, "srv/data/one"), "w") as handle:
        handle.write("shared inode\n")
    os.link(os.path.join(root, "srv/data/one"), os.path.join(root, "srv/data/two"))
    os.chown(os.path.join(root, "srv/data/one"), 1234, 5678)
    with open(os.path.join(root, "srv/data/sparse"), "wb") as handle:
        handle.truncate(256 << 20)
        handle.seek(128 << 20)
        handle.write(b"middle")
    os.mkfifo(os.path.join(root, "srv/data/fifo"), 0o640)
    if not os.path.exists(os.path.join(root, "dev/null")):
        os.mknod(os.path.join(root, "dev/null"), 0o666 | 0o020000, os.makedev(1, 3))
    capped = os.path.join(root, "srv/data/capped")
    with open(capped, "wb") as handle:
        handle.write(b"#!/bin/sh\n")
    os.chmod(capped, 0o4755)
    # a version 2 file capability: cap_net_raw (bit 13) permitted and effective
    os.setxattr(capped, "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0))


@pytest.fixture
def image(world):
    rootfs = source_tree(world)
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"))
    return rootfs, meta


def entries(world):
    """{key: info} of the image cache in WORLD's cache dir."""
    from lxctools.images import rootcache

    base = os.path.join(world.root, "cache", "lxctools", "unpacked")
    return {key: info for key, _tree, info, _used in rootcache.entries(base)}


def trees(world):
    from lxctools.images import rootcache

    return rootcache.trees(os.path.join(world.root, "cache", "lxctools", "unpacked"))


def run_inside(world, name, script):
    """Start NAME, run SCRIPT in it, stop it; the script's output."""
    started = world.ours("lxc-start", "-n", name)
    assert started.returncode == 0, started.stderr
    try:
        inside = world.ours("lxc-attach", "-n", name, "--", "sh", "-c", script)
        assert inside.returncode == 0, inside.stderr
        return inside.stdout
    finally:
        world.ours("lxc-stop", "-n", name, "-k")


def create_local(world, name, image, *extra, env=None):
    rootfs, meta = image
    saved = world.env
    if env:
        world.env = dict(world.env, **env)
    try:
        made = world.ours("lxc-create", "-n", name, "-t", "local", "--", "-m", meta, "-f", rootfs,
                          *extra)
    finally:
        world.env = saved
    assert made.returncode == 0, made.stderr
    return made


def comparable(world, name):
    found = tree(os.path.join(world.cdir(name), "rootfs"))
    for placeholder in ("etc/hostname", "etc/hosts"):
        found.pop(placeholder)
    return found


def seen_marks(world):
    base = os.path.join(world.root, "cache", "lxctools", "unpacked")
    return sorted(n for n in os.listdir(base) if n.endswith(".seen")) if os.path.isdir(base) \
        else []


def test_a_reused_image_is_cached_and_copied_without_opening_the_tarball(world, image):
    first = create_local(world, "ic-a", image)
    # the first create unpacked into the container alone, and noted the image
    assert entries(world) == {} and trees(world) == {}
    assert len(seen_marks(world)) == 1
    second = create_local(world, "ic-b", image)  # reused: unpacked into the cache, copied
    cached = entries(world)
    assert len(cached) == 1, cached
    (info,) = cached.values()
    assert info["source"] == os.path.realpath(image[0]) and info["size"] > 0

    watch = OpenWatch(image[0])
    try:
        third = create_local(world, "ic-c", image)
        fourth = create_local(world, "ic-d", image)
        assert watch.events() == [], "the tarball was opened for a cached create"
    finally:
        watch.close()
    # LXC's output is unchanged (scripts compare it)
    assert first.stdout == second.stdout == third.stdout == fourth.stdout
    assert (comparable(world, "ic-a") == comparable(world, "ic-b") == comparable(world, "ic-c")
            == comparable(world, "ic-d"))
    for name in ("ic-a", "ic-b", "ic-c"):
        rootfs = os.path.join(world.cdir(name), "rootfs")
        # placeholders are this container's, not the first one's
        with open(os.path.join(rootfs, "etc/hostname")) as handle:
            assert handle.read() == f"{name}\n"
        one = os.lstat(os.path.join(rootfs, "srv/data/one"))
        assert one.st_nlink == 2 and (one.st_uid, one.st_gid) == (1234, 5678)
        assert one.st_ino == os.lstat(os.path.join(rootfs, "srv/data/two")).st_ino
        sparse = os.lstat(os.path.join(rootfs, "srv/data/sparse"))
        assert sparse.st_size == 256 << 20 and sparse.st_blocks * 512 < (8 << 20)
        capped = os.path.join(rootfs, "srv/data/capped")
        assert os.getxattr(capped, "security.capability")[4:8] == struct.pack("<I", 1 << 13)
        assert os.lstat(capped).st_mode & 0o4000
        null = os.lstat(os.path.join(rootfs, "dev/null"))
        assert os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    # the cached copy runs
    assert run_inside(world, "ic-c", "cat /etc/hostname /srv/data/two") == "ic-c\nshared inode\n"


def test_a_mark_goes_with_its_tarball(world, image):
    create_local(world, "ic-g1", image)
    assert len(seen_marks(world)) == 1
    os.utime(image[0], ns=(0, 1_000_000_000))  # replaced: the mark's key cannot come back
    from lxctools.images import rootcache
    rootcache.collect(os.path.join(world.root, "cache", "lxctools", "unpacked"))
    assert seen_marks(world) == []


def test_flush_cache_unpacks_the_tarball_again(world, image):
    create_local(world, "ic-f0", image)
    create_local(world, "ic-f1", image)
    (key_before,) = entries(world)
    watch = OpenWatch(image[0])
    try:
        create_local(world, "ic-f2", image, "--flush-cache")
        assert watch.events(), "--flush-cache did not read the tarball"
    finally:
        watch.close()
    after = entries(world)
    assert list(after) == [key_before]  # refilled from the fresh unpack
    assert comparable(world, "ic-f1") == comparable(world, "ic-f2")


def test_a_changed_tarball_is_unpacked_again(world, image):
    create_local(world, "ic-m1", image)
    os.utime(image[0], ns=(0, 1_000_000_000))  # e.g. the image was rebuilt
    watch = OpenWatch(image[0])
    try:
        create_local(world, "ic-m2", image)
        assert watch.events(), "a changed tarball was not read"
    finally:
        watch.close()


def test_size_bound_evicts_least_recently_used_and_zero_turns_it_off(world, image):
    for name in ("ic-z", "ic-z2"):
        create_local(world, name, image, env={"LXCTOOLS_IMAGE_CACHE_SIZE": "0"})
    assert entries(world) == {} and seen_marks(world) == []
    rootfs, meta = image
    other = os.path.join(world.root, "rootfs.tar.gz")
    subprocess.run(["sh", "-c", f"xz -dc {rootfs} | gzip -1 > {other}"], check=True)
    create_local(world, "ic-s0", image)
    create_local(world, "ic-s1", image)
    (size,) = [info["size"] for info in entries(world).values()]
    bound = {"LXCTOOLS_IMAGE_CACHE_SIZE": str(int(size * 1.5))}
    create_local(world, "ic-s2", (other, meta), env=bound)
    create_local(world, "ic-s3", (other, meta), env=bound)
    kept = entries(world)
    assert [info["source"] for info in kept.values()] == [os.path.realpath(other)], kept
    assert len(trees(world)) == 1  # the evicted tree is gone from disk
    assert comparable(world, "ic-s1") == comparable(world, "ic-s2")


def test_idmap_container_gets_its_own_shifted_tree(world, image):
    idmap = os.path.join(world.root, "idmap.conf")
    with open(idmap, "w") as handle:
        handle.write("lxc.net.0.type = empty\nlxc.idmap = u 0 300000 65536\n"
                     "lxc.idmap = g 0 300000 65536\n")
    rootfs, meta = image
    for name in ("ic-u1", "ic-u2"):
        made = world.ours("lxc-create", "-n", name, "-f", idmap, "-t", "local", "--", "-m", meta,
                          "-f", rootfs)
        assert made.returncode == 0, made.stderr
    assert len(entries(world)) == 1
    create_local(world, "ic-plain", image)
    create_local(world, "ic-plain2", image)
    assert len(entries(world)) == 2  # the unshifted tree is another entry
    for name in ("ic-u1", "ic-u2"):
        st = os.lstat(os.path.join(world.cdir(name), "rootfs", "srv/data/one"))
        assert (st.st_uid, st.st_gid) == (301234, 305678)
        root = os.lstat(os.path.join(world.cdir(name), "rootfs", "bin"))
        assert (root.st_uid, root.st_gid) == (300000, 300000)
    st = os.lstat(os.path.join(world.cdir("ic-plain"), "rootfs", "srv/data/one"))
    assert (st.st_uid, st.st_gid) == (1234, 5678)


def test_download_reuses_the_unpacked_image_and_flush_drops_it(world, image):
    root = os.path.join(world.root, "mirror")
    entry = add_image(root, *image)
    write_index(root, [entry])
    args = ("-t", "download", "--", "--server", "file://" + root, "-d", "busybox", "-r", "1.36",
            "-a", "amd64", "--no-validate")
    for name in ("ic-d0", "ic-d1"):
        made = world.ours("lxc-create", "-n", name, *args)
        assert made.returncode == 0, made.stderr
    (info,) = entries(world).values()
    assert info["build_id"] == entry[4]
    cached_tar = os.path.join(world.root, "cache/download/busybox/1.36/amd64/default/rootfs.tar.xz")
    watch = OpenWatch(cached_tar)
    try:
        again = world.ours("lxc-create", "-n", "ic-d2", *args)
        assert again.returncode == 0, again.stderr
        assert watch.events() == []
    finally:
        watch.close()
    assert comparable(world, "ic-d0") == comparable(world, "ic-d1") == comparable(world, "ic-d2")
    flushed = world.ours("lxc-create", "-n", "ic-d3", *args, "--flush-cache")
    assert flushed.returncode == 0, flushed.stderr
    # the old tree went with the download cache; the new download is a new image
    assert entries(world) == {}
    again = world.ours("lxc-create", "-n", "ic-d4", *args)
    assert again.returncode == 0, again.stderr
    (refilled,) = entries(world).values()
    assert refilled["created"] > info["created"]


def test_overlay_create_uses_the_cached_tree_as_its_lower_layer(world, image):
    rootfs, meta = image
    create_local(world, "ic-o00", image)
    create_local(world, "ic-o0", image)  # the image is reused: fills the cache
    (tree_dir,) = trees(world)
    before = tree(os.path.join(tree_dir, "rootfs"))

    def overlay(name, *extra):
        made = world.ours("lxc-create", "-n", name, "-B", "overlay", "-t", "local", "--",
                          "-m", meta, "-f", rootfs, *extra)
        assert made.returncode == 0, made.stderr
        return made

    overlay("ic-o1")
    cdir = world.cdir("ic-o1")
    assert (f"lxc.rootfs.path = overlay:{tree_dir}/rootfs:{cdir}/overlay/delta\n"
            in world.config("ic-o1"))
    # only what the template changed is in the container's own layer
    delta = os.path.join(cdir, "overlay", "delta")
    assert sorted(tree(delta)) == ["etc", "etc/hostname", "etc/hosts"]
    with open(os.path.join(delta, "etc/hostname")) as handle:
        assert handle.read() == "ic-o1\n"
    assert os.lstat(os.path.join(delta, "etc")).st_mode == os.lstat(
        os.path.join(tree_dir, "rootfs", "etc")).st_mode
    assert os.listdir(os.path.join(cdir, "rootfs")) == []  # a mount point, as LXC's
    assert os.lstat(os.path.join(tree_dir, "pin")).st_nlink == 2

    assert run_inside(world, "ic-o1", "cat /etc/hostname /srv/data/two && echo new > /srv/data/one"
                      ) == "ic-o1\nshared inode\n"
    assert tree(os.path.join(tree_dir, "rootfs")) == before  # the shared tree never changes
    with open(os.path.join(tree_dir, "rootfs", "srv/data/one")) as handle:
        assert handle.read() == "shared inode\n"

    # a snapshot clone shares the lower layer: the pin travels with it
    clone = world.ours("lxc-copy", "-n", "ic-o1", "-N", "ic-o2", "-s")
    assert clone.returncode == 0, clone.stderr
    assert f"overlay:{tree_dir}/rootfs:" in world.config("ic-o2")
    assert os.lstat(os.path.join(tree_dir, "pin")).st_nlink == 3

    # flushing keeps a tree that containers stand on; new creates get a fresh unpack, which
    # an overlay create keeps as the cache's new tree and stands on
    overlay("ic-o3", "--flush-cache")
    assert tree_dir in trees(world)
    (new_tree,) = [t for t in trees(world) if t != tree_dir]
    assert f"overlay:{new_tree}/rootfs:{world.cdir('ic-o3')}/overlay/delta" in \
        world.config("ic-o3")
    # with the cache off, LXC's layout: the lower layer is the container's own unpack
    saved = world.env
    world.env = dict(world.env, LXCTOOLS_IMAGE_CACHE_SIZE="0")
    try:
        overlay("ic-o4")
    finally:
        world.env = saved
    assert f"overlay:{world.cdir('ic-o4')}/rootfs:" in world.config("ic-o4")
    started = world.ours("lxc-start", "-n", "ic-o2")
    assert started.returncode == 0, started.stderr
    world.ours("lxc-stop", "-n", "ic-o2", "-k")

    for name in ("ic-o1", "ic-o2"):
        gone = world.ours("lxc-destroy", "-n", name)
        assert gone.returncode == 0, gone.stderr
    from lxctools.images import rootcache
    rootcache.collect(os.path.join(world.root, "cache", "lxctools", "unpacked"))
    assert tree_dir not in trees(world)  # its last container is gone: collected
    assert new_tree in trees(world)


def test_overlay_store_is_laid_out_as_lxc_lays_it_out(world):
    """-B overlay without a cached image (busybox): the template fills NAME/rootfs, the lower
    layer; the delta is empty; real LXC's create gives the same config line and tree."""
    for side in ("ours", "real"):
        run = world.ours if side == "ours" else world.real
        made = run("lxc-create", "-n", "ic-ob", "-B", "overlay", "-t", "busybox")
        assert made.returncode == 0, made.stderr
    for real in (False, True):
        cdir = world.cdir("ic-ob", real)
        assert (f"lxc.rootfs.path = overlay:{cdir}/rootfs:{cdir}/overlay/delta\n"
                in world.config("ic-ob", real))
        assert os.listdir(os.path.join(cdir, "overlay", "delta")) == []
    ours_tree = tree(os.path.join(world.cdir("ic-ob"), "rootfs"))
    real_tree = tree(os.path.join(world.cdir("ic-ob", True), "rootfs"))
    assert sorted(ours_tree) == sorted(real_tree)
    started = world.ours("lxc-start", "-n", "ic-ob")
    assert started.returncode == 0, started.stderr
    try:
        wrote = world.ours("lxc-attach", "-n", "ic-ob", "--", "touch", "/written")
        assert wrote.returncode == 0, wrote.stderr
    finally:
        world.ours("lxc-stop", "-n", "ic-ob", "-k")
    assert os.path.exists(os.path.join(world.cdir("ic-ob"), "overlay", "delta", "written"))
    assert not os.path.exists(os.path.join(world.cdir("ic-ob"), "rootfs", "written"))


def test_a_cache_that_cannot_be_filled_costs_a_warning_not_the_create(world, image):
    """The cache on a full filesystem: the create succeeds, says why nothing was kept, and
    leaves no half tree behind."""
    import subprocess as sp

    small = os.path.join(world.root, "cache", "lxctools", "unpacked")
    os.makedirs(small, exist_ok=True)
    sp.run(["mount", "-t", "tmpfs", "-o", "size=256k", "lxctools-test-cache", small], check=True)
    try:
        create_local(world, "ic-full0", image)  # notes the image (a few bytes)
        made = create_local(world, "ic-full", image)
        assert "the image cache was not updated" in made.stderr, made.stderr
        assert entries(world) == {} and trees(world) == {}
        leftovers = os.listdir(os.path.join(small, "trees"))
        assert leftovers == [], leftovers
        again = create_local(world, "ic-full2", image)  # still works, unpacking again
        assert comparable(world, "ic-full") == comparable(world, "ic-full2")
    finally:
        sp.run(["umount", small], check=True)
