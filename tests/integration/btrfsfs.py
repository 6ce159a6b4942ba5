"""A btrfs filesystem for a test: a sparse image under the test's tmp dir, mkfs.btrfs, a loop
device, mounted; torn down (umount, losetup -d, image removed) whatever the test did."""

import contextlib
import os
import subprocess

import pytest

from lxcenv import World


def _run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


@contextlib.contextmanager
def btrfs_mounted(where, size=1 << 30):
    """Mount a fresh btrfs filesystem on WHERE (made); yields WHERE."""
    if not os.path.exists("/usr/bin/mkfs.btrfs") and not os.path.exists("/sbin/mkfs.btrfs"):
        pytest.fail("mkfs.btrfs is missing: ./setup test installs btrfs-progs")
    image = where.rstrip("/") + ".btrfs.img"
    with open(image, "wb") as handle:
        handle.truncate(size)
    loop = None
    mounted = False
    try:
        _run("mkfs.btrfs", "-q", "-f", image)
        loop = _run("losetup", "--find", "--show", image)
        os.makedirs(where, exist_ok=True)
        _run("mount", "-t", "btrfs", loop, where)
        mounted = True
        yield where
    finally:
        if mounted:
            # Whatever a failed test left mounted below first, then the filesystem itself.
            with open("/proc/self/mountinfo") as handle:
                points = [line.split()[4] for line in handle]
            for point in sorted((p for p in points if p.startswith(where + "/")), reverse=True):
                subprocess.run(["umount", "-l", point], check=False)
            subprocess.run(["umount", where], check=False)
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)
        os.unlink(image)


def subvolumes(mountpoint):
    """Paths (relative to the filesystem's top) of every subvolume, as `btrfs subvolume list`."""
    out = _run("btrfs", "subvolume", "list", mountpoint)
    return sorted(line.split(" path ", 1)[1] for line in out.splitlines() if " path " in line)


def subvolume_info(path):
    """{key: value} of `btrfs subvolume show PATH` (UUID, Parent UUID, ...)."""
    out = _run("btrfs", "subvolume", "show", path)
    info = {}
    for line in out.splitlines()[1:]:
        key, sep, value = line.strip().partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def _stop_all(w):
    from lxctools.monitor.commands import active_names
    for lp, runner in ((w.lp, w.ours), (w.real_lp, w.real)):
        if not os.path.isdir(lp):
            continue
        names = active_names(lp) if runner == w.ours else os.listdir(lp)
        for name in names:
            runner("lxc-stop", "-n", name, "-k", lxcpath=lp)


@pytest.fixture
def bworld(tmp_path):
    """lxcenv's World (our lxcpath and real LXC's) living on a btrfs filesystem of its own."""
    from conftest import require_root
    require_root()
    with btrfs_mounted(str(tmp_path / "bt-fs")) as where:
        w = World(where)
        w.fs = where
        try:
            yield w
        finally:
            _stop_all(w)


BT_USER = "bt-unpriv"  # this file's own user (others' tests use their own names)


@pytest.fixture
def bt_user():
    """An ordinary user with subordinate ids and a default config mapping them."""
    from conftest import ordinary_user

    with ordinary_user(BT_USER, 700000) as made:
        yield made


def as_bt_user(tool, *args):
    """Our TOOL run by BT_USER through a login shell."""
    import shlex
    from conftest import ours_for_anyone

    command = " ".join(shlex.quote(a) for a in [ours_for_anyone(tool), *args])
    return subprocess.run(["su", "-", BT_USER, "-c", command], capture_output=True, text=True,
                          cwd="/", timeout=120)
