"""The btrfs backing store, side by side with real LXC 5.0.2 on one btrfs filesystem the test
makes (btrfsfs.py: a sparse image, mkfs.btrfs, a loop device): lxc-create -B btrfs/best,
start and attach, lxc-copy (a snapshot, with or without -s, as LXC), lxc-snapshot
create/list/restore/destroy, lxc-destroy deleting subvolumes (nested ones too) without
following a symlink or crossing a bind mount, refusals before anything is written, kill -9."""

import os
import re
import signal
import subprocess
import time

from btrfsfs import bt_user, bworld, subvolume_info, subvolumes  # noqa: F401  (fixtures)
from lxcenv import World

import pytest

pytestmark = pytest.mark.oracle


def normal(text, lp):
    text = text.replace(lp, "@LP@")
    text = re.sub(r"^# Template used.*\n", "", text, flags=re.M)
    return re.sub(r"^#lxc\.include = .*nesting\.conf\n", "", text, flags=re.M)


def create(w, name, real=False, *extra):
    runner = w.real if real else w.ours
    args = ["-n", name, "-t", "busybox", "-B", "btrfs", *extra]
    if not real:
        args += ["-f", w.net_conf]
    proc = runner("lxc-create", *args)
    assert proc.returncode == 0, proc.stderr
    return w.cdir(name, real)


def rel(w, *parts):
    """A path below the btrfs filesystem as `btrfs subvolume list` names it."""
    return os.path.relpath(os.path.join(*parts), w.fs)


def test_create_start_attach_destroy(bworld):
    w = bworld
    mine, theirs = create(w, "bt-a"), create(w, "bt-a", True)
    assert f"lxc.rootfs.path = btrfs:{w.lp}/bt-a/rootfs\n" in w.config("bt-a")
    assert normal(w.config("bt-a"), w.lp) == normal(w.config("bt-a", True), w.real_lp)
    assert subvolumes(w.fs) == sorted([rel(w, mine, "rootfs"), rel(w, theirs, "rootfs")])
    for d in (mine, theirs):
        assert oct(os.stat(os.path.join(d, "rootfs")).st_mode) == "0o40755"
        assert os.stat(os.path.join(d, "rootfs")).st_ino == 256
    assert sorted(os.listdir(os.path.join(mine, "rootfs"))) == \
        sorted(os.listdir(os.path.join(theirs, "rootfs")))
    # It runs: the rootfs is the subvolume.
    assert w.ours("lxc-start", "-n", "bt-a").returncode == 0
    try:
        out = w.ours("lxc-attach", "-n", "bt-a", "--", "sh", "-c", "hostname; echo x > /made")
        assert out.returncode == 0 and out.stdout.strip() == "bt-a", out.stderr
    finally:
        assert w.ours("lxc-stop", "-n", "bt-a", "-k").returncode == 0
    assert os.path.exists(os.path.join(mine, "rootfs", "made"))
    # Destroy deletes nested subvolumes the container made, and never follows a symlink out.
    outside = os.path.join(w.root, "outside")
    os.makedirs(outside)
    with open(os.path.join(outside, "keep"), "w") as handle:
        handle.write("keep")
    subprocess.run(["btrfs", "subvolume", "create", os.path.join(mine, "rootfs", "nested")],
                   check=True, capture_output=True)
    subprocess.run(["btrfs", "subvolume", "create", os.path.join(mine, "rootfs", "nested", "deeper")],
                   check=True, capture_output=True)
    with open(os.path.join(mine, "rootfs", "nested", "deeper", "f"), "w") as handle:
        handle.write("x")
    os.symlink(outside, os.path.join(mine, "rootfs", "nested", "to-outside"))
    proc = w.ours("lxc-destroy", "-n", "bt-a")
    assert proc.returncode == 0, proc.stderr
    assert not os.path.exists(mine)
    assert os.listdir(outside) == ["keep"]
    assert w.real("lxc-destroy", "-n", "bt-a").returncode == 0
    assert subvolumes(w.fs) == []


def test_destroy_refuses_a_bind_mount_inside(bworld):
    w = bworld
    mine = create(w, "bt-m")
    outside = os.path.join(w.root, "outside")
    os.makedirs(outside)
    with open(os.path.join(outside, "keep"), "w") as handle:
        handle.write("keep")
    target = os.path.join(mine, "rootfs", "mnt")
    subprocess.run(["mount", "--bind", outside, target], check=True)
    try:
        proc = w.ours("lxc-destroy", "-n", "bt-m")
        assert proc.returncode == 1 and "mount point" in proc.stderr
        assert os.path.exists(os.path.join(mine, "config"))
        assert subvolumes(w.fs) == [rel(w, mine, "rootfs")]
    finally:
        subprocess.run(["umount", target], check=True)
    assert os.listdir(outside) == ["keep"]
    assert w.ours("lxc-destroy", "-n", "bt-m").returncode == 0
    assert subvolumes(w.fs) == []


def test_best_and_refusal_on_ext4(bworld, tmp_path):
    w = bworld
    # -B best: btrfs on btrfs, as LXC.
    for runner, lp in ((w.ours, w.lp), (w.real, w.real_lp)):
        extra = ["-f", w.net_conf] if runner == w.ours else []
        proc = runner("lxc-create", "-n", "bt-best", "-t", "busybox", "-B", "best", *extra)
        assert proc.returncode == 0, proc.stderr
        with open(os.path.join(lp, "bt-best", "config")) as handle:
            assert f"lxc.rootfs.path = btrfs:{lp}/bt-best/rootfs\n" in handle.read()
    # Off btrfs (the test's tmp dir is on the root filesystem): best = dir, as LXC.
    (tmp_path / "plain").mkdir()
    plain = World(tmp_path / "plain")
    for runner, lp in ((plain.ours, plain.lp), (plain.real, plain.real_lp)):
        extra = ["-f", plain.net_conf] if runner == plain.ours else []
        proc = runner("lxc-create", "-n", "bt-best", "-t", "busybox", "-B", "best", *extra)
        assert proc.returncode == 0, proc.stderr
        with open(os.path.join(lp, "bt-best", "config")) as handle:
            assert f"lxc.rootfs.path = dir:{lp}/bt-best/rootfs\n" in handle.read()
    # -B btrfs off btrfs: refused before anything is written, naming what the fs is.
    fstype = subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True,
                            text=True).stdout.strip()
    assert fstype != "btrfs"
    lp = str(tmp_path / "nolp")
    proc = plain.ours("lxc-create", "-n", "bt-x", "-t", "busybox", "-B", "btrfs", lxcpath=lp)
    assert proc.returncode == 1
    assert "btrfs backing store needs a btrfs filesystem" in proc.stderr
    assert " is on ext" in proc.stderr or fstype in proc.stderr
    assert "hint:" in proc.stderr
    assert not os.path.exists(lp)
    # Real LXC fails later with "Inappropriate ioctl for device" and leaves the directory.
    real = plain.real("lxc-create", "-n", "bt-x", "-t", "busybox", "-B", "btrfs", lxcpath=lp)
    assert real.returncode == 1 and os.path.isdir(os.path.join(lp, "bt-x"))
    # --dir with btrfs: ignored as LXC does, with a warning from us.
    proc = w.ours("lxc-create", "-n", "bt-dir", "-t", "busybox", "-B", "btrfs", "-f", w.net_conf,
                  "--dir", os.path.join(w.root, "elsewhere"))
    assert proc.returncode == 0 and "--dir is ignored" in proc.stderr
    assert not os.path.exists(os.path.join(w.root, "elsewhere"))
    assert f"btrfs:{w.lp}/bt-dir/rootfs" in w.config("bt-dir")


def test_copy_and_snapshot_clone_are_snapshots_like_lxc(bworld):
    w = bworld
    for real in (False, True):
        origin = create(w, "bt-o", real)
        with open(os.path.join(origin, "rootfs", "data"), "w") as handle:
            handle.write("origin")
    before = w.config("bt-o")
    for runner in (w.ours, w.real):
        for args in (["-N", "bt-copy"], ["-N", "bt-snap", "-s"]):
            proc = runner("lxc-copy", "-n", "bt-o", *args)
            assert proc.returncode == 0, proc.stderr
    for name in ("bt-copy", "bt-snap"):
        mine, theirs = w.config(name), w.config(name, True)
        assert f"lxc.rootfs.path = btrfs:{w.lp}/{name}/rootfs\n" in mine
        assert normal(mine, w.lp) == normal(theirs, w.real_lp)
        for real in (False, True):
            d = w.cdir(name, real)
            assert sorted(os.listdir(d)) == ["config", "rootfs"]
            # A snapshot of the origin's subvolume, with or without -s (same filesystem).
            parent = subvolume_info(os.path.join(w.cdir("bt-o", real), "rootfs"))["UUID"]
            assert subvolume_info(os.path.join(d, "rootfs"))["Parent UUID"] == parent
        assert not os.path.exists(os.path.join(w.cdir("bt-o"), "lxc_snapshots"))
    assert w.config("bt-o") == before
    # The snapshot clone starts under its own name; the origin does not see its writes.
    assert w.ours("lxc-start", "-n", "bt-snap").returncode == 0
    try:
        out = w.ours("lxc-attach", "-n", "bt-snap", "--", "sh", "-c", "hostname; echo clone > /data")
        assert out.stdout.strip() == "bt-snap", out.stderr
    finally:
        w.ours("lxc-stop", "-n", "bt-snap", "-k")
    with open(os.path.join(w.cdir("bt-o"), "rootfs", "data")) as handle:
        assert handle.read() == "origin"
    # A copy to another lxcpath is a dir, as LXC.
    other = os.path.join(w.root, "other")
    assert w.ours("lxc-copy", "-n", "bt-o", "-N", "bt-far", "-p", other).returncode == 0
    with open(os.path.join(other, "bt-far", "config")) as handle:
        assert f"lxc.rootfs.path = dir:{other}/bt-far/rootfs\n" in handle.read()
    # -B btrfs from a dir container: a new subvolume with a copy (no parent).
    assert w.ours("lxc-copy", "-n", "bt-far", "-P", other, "-N", "bt-back", "-p", w.lp,
                  "-B", "btrfs").returncode == 0
    assert subvolume_info(os.path.join(w.cdir("bt-back"), "rootfs"))["Parent UUID"] == "-"
    for name in ("bt-copy", "bt-snap", "bt-back"):
        assert w.ours("lxc-destroy", "-n", name).returncode == 0
    assert subvolumes(w.fs) == sorted(rel(w, w.cdir(n, r), "rootfs") for n, r in
                                      (("bt-o", False), ("bt-o", True), ("bt-copy", True),
                                       ("bt-snap", True)))


def test_lxc_snapshot_create_list_restore_destroy(bworld):
    w = bworld
    comment = os.path.join(w.root, "comment")
    with open(comment, "w") as handle:
        handle.write("first\n")
    for real in (False, True):
        runner = w.real if real else w.ours
        d = create(w, "bt-s", real)
        with open(os.path.join(d, "rootfs", "state"), "w") as handle:
            handle.write("one")
        assert runner("lxc-snapshot", "-n", "bt-s", "-c", comment).returncode == 0
        with open(os.path.join(d, "rootfs", "state"), "w") as handle:
            handle.write("two")
        assert runner("lxc-snapshot", "-n", "bt-s").returncode == 0
        snaps = os.path.join(d, "snaps")
        assert sorted(os.listdir(snaps)) == ["snap0", "snap1"]
        assert sorted(os.listdir(os.path.join(snaps, "snap0"))) == ["comment", "config", "rootfs", "ts"]
        listed = runner("lxc-snapshot", "-n", "bt-s", "-L", "-C").stdout
        assert "first" in listed and f"snap0 ({snaps})" in listed
    for snap in ("snap0", "snap1"):
        mine = w.config(f"bt-s/snaps/{snap}")
        assert f"lxc.rootfs.path = btrfs:{w.lp}/bt-s/snaps/{snap}/rootfs\n" in mine
        assert normal(mine, w.lp) == normal(w.config(f"bt-s/snaps/{snap}", True), w.real_lp)
        info = subvolume_info(os.path.join(w.cdir("bt-s"), "snaps", snap, "rootfs"))
        assert info["Parent UUID"] == subvolume_info(os.path.join(w.cdir("bt-s"), "rootfs"))["UUID"]
    # Restore over the original and to a new name.
    for real in (False, True):
        runner = w.real if real else w.ours
        assert runner("lxc-snapshot", "-n", "bt-s", "-r", "snap0").returncode == 0
        assert runner("lxc-snapshot", "-n", "bt-s", "-r", "snap1", "-N", "bt-s2").returncode == 0
        with open(os.path.join(w.cdir("bt-s", real), "rootfs", "state")) as handle:
            assert handle.read() == "one"
        with open(os.path.join(w.cdir("bt-s2", real), "rootfs", "state")) as handle:
            assert handle.read() == "two"
    for name in ("bt-s", "bt-s2"):
        assert normal(w.config(name), w.lp) == normal(w.config(name, True), w.real_lp)
    assert w.ours("lxc-start", "-n", "bt-s2").returncode == 0
    try:
        assert w.ours("lxc-attach", "-n", "bt-s2", "--", "cat", "/state").stdout == "two"
    finally:
        w.ours("lxc-stop", "-n", "bt-s2", "-k")
    # Destroy one, then the container with the rest.
    assert w.ours("lxc-snapshot", "-n", "bt-s", "-d", "snap0").returncode == 0
    assert os.listdir(os.path.join(w.cdir("bt-s"), "snaps")) == ["snap1"]
    assert w.ours("lxc-destroy", "-n", "bt-s").returncode == 1  # has snapshots
    assert w.ours("lxc-destroy", "-n", "bt-s", "-s").returncode == 0
    assert w.ours("lxc-destroy", "-n", "bt-s2").returncode == 0
    for name in ("bt-s", "bt-s2"):
        assert w.real("lxc-destroy", "-n", name, "-s").returncode == 0
    assert subvolumes(w.fs) == []
    assert os.listdir(w.lp) == []


def test_refusals_before_anything_is_written(bworld, tmp_path):
    w = bworld
    proc = w.ours("lxc-create", "-n", "bt-d", "-t", "busybox", "-f", w.net_conf)
    assert proc.returncode == 0, proc.stderr
    create(w, "bt-b")
    listing = sorted(os.listdir(w.lp))
    cases = [
        (["-n", "bt-d", "-N", "bt-x", "-s", "-B", "btrfs"], "btrfs snapshot from dir backing store"),
        (["-n", "bt-b", "-N", "bt-x", "-s", "-B", "overlay"], "overlay snapshot of a btrfs container"),
        (["-n", "bt-b", "-N", "bt-x", "-s", "-B", "dir"], "Directories cannot be snapshotted"),
        (["-n", "bt-b", "-N", "bt-x", "-p", str(tmp_path / "ext"), "-B", "btrfs"],
         "needs a btrfs filesystem"),
        (["-n", "bt-b", "-N", "bt-x", "-s", "-p", str(tmp_path / "ext")], "needs a btrfs filesystem"),
    ]
    for args, message in cases:
        proc = w.ours("lxc-copy", *args)
        assert proc.returncode == 1 and message in proc.stderr, (args, proc.stderr)
        assert sorted(os.listdir(w.lp)) == listing
        assert not os.path.exists(tmp_path / "ext")
    # A btrfs: rootfs that is a plain directory cannot be snapshotted.
    os.rename(os.path.join(w.cdir("bt-d"), "rootfs"), os.path.join(w.cdir("bt-d"), "r"))
    subprocess.run(["cp", "-a", os.path.join(w.cdir("bt-d"), "r"), os.path.join(w.cdir("bt-d"), "rootfs")],
                   check=True)
    with open(os.path.join(w.cdir("bt-d"), "config"), "a") as handle:
        handle.write(f"lxc.rootfs.path = btrfs:{w.cdir('bt-d')}/rootfs\n")
    proc = w.ours("lxc-copy", "-n", "bt-d", "-N", "bt-x", "-s")
    assert proc.returncode == 1 and "is not a btrfs subvolume" in proc.stderr
    assert sorted(os.listdir(w.lp)) == listing
    # Without -s the same container is copied into a new subvolume.
    assert w.ours("lxc-copy", "-n", "bt-d", "-N", "bt-x").returncode == 0
    assert subvolume_info(os.path.join(w.cdir("bt-x"), "rootfs"))["Parent UUID"] == "-"


def _wait_for(path, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("snapshot", [False, True])
def test_kill_9_mid_copy_leaves_no_half_container_nor_subvolume(bworld, snapshot):
    from conftest import ours

    w = bworld
    origin = create(w, "bt-k")
    flag = os.path.join(w.root, "hook-ran")
    hook = os.path.join(w.root, "slow-hook")
    with open(hook, "w") as handle:
        handle.write(f"#!/bin/sh\necho $$ > {flag}.tmp; mv {flag}.tmp {flag}\nexec sleep 60\n")
    os.chmod(hook, 0o755)
    with open(os.path.join(origin, "config"), "a") as handle:
        handle.write(f"lxc.hook.clone = {hook}\n")
    args = [ours("lxc-copy"), "-P", w.lp, "-n", "bt-k", "-N", "bt-k2"] + (["-s"] if snapshot else [])
    proc = subprocess.Popen(args, env=w.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(flag)
    with open(flag) as handle:
        hook_pid = int(handle.read())
    try:
        assert len(subvolumes(w.fs)) == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        os.kill(hook_pid, signal.SIGKILL)
    assert os.path.exists(os.path.join(w.cdir("bt-k2"), "partial"))
    assert w.ours("lxc-ls", "-1").stdout == "bt-k\n"
    assert not os.path.exists(w.cdir("bt-k2"))
    assert subvolumes(w.fs) == [rel(w, origin, "rootfs")]


def test_image_cache_on_btrfs_makes_snapshots(bworld):
    """The image cache (images/rootcache.py) on the same btrfs filesystem: its tree is
    a subvolume and a later -B btrfs create is a snapshot of it; destroy deletes it."""
    from test_image_cache import create_local, source_tree, trees
    from imagekit import standard_meta

    w = bworld
    image = (source_tree(w), standard_meta(w, os.path.join(w.root, "meta.tar.xz")))
    create_local(w, "bt-i1", image, env=None)
    (tree_dir,) = trees(w)
    tree = os.path.join(tree_dir, "rootfs")
    assert subvolume_info(tree)["UUID"]
    for name in ("bt-i2", "bt-i3"):
        made = w.ours("lxc-create", "-n", name, "-t", "local", "-B", "btrfs", "--",
                      "-m", image[1], "-f", image[0])
        assert made.returncode == 0, made.stderr
        rootfs = os.path.join(w.cdir(name), "rootfs")
        assert f"lxc.rootfs.path = btrfs:{rootfs}\n" in w.config(name)
        assert subvolume_info(rootfs)["Parent UUID"] == subvolume_info(tree)["UUID"]
        with open(os.path.join(rootfs, "etc", "hostname")) as handle:
            assert handle.read() == f"{name}\n"
    assert w.ours("lxc-start", "-n", "bt-i2").returncode == 0
    try:
        assert w.ours("lxc-attach", "-n", "bt-i2", "--", "hostname").stdout.strip() == "bt-i2"
    finally:
        w.ours("lxc-stop", "-n", "bt-i2", "-k")
    for name in ("bt-i1", "bt-i2", "bt-i3"):
        assert w.ours("lxc-destroy", "-n", name).returncode == 0
    assert subvolumes(w.fs) == [rel(w, tree)]


def test_unprivileged_user_snapshots_and_destroys(bt_user):
    """A user's unprivileged container on btrfs: the snapshot is taken as the container's
    root in a user namespace (the kernel lets only a subvolume's owner snapshot it), as
    LXC's userns_exec_1; destroy deletes the subvolumes without CAP_SYS_ADMIN."""
    import shutil
    import tempfile
    from btrfsfs import as_bt_user, btrfs_mounted

    top = tempfile.mkdtemp(prefix="bt-ufs-")
    os.chmod(top, 0o755)
    try:
        with btrfs_mounted(os.path.join(top, "fs")) as fs:
            os.chmod(fs, 0o755)
            lp = os.path.join(fs, "lp")
            os.mkdir(lp)
            shutil.chown(lp, bt_user["name"], bt_user["name"])

            def run(tool, *args):
                done = as_bt_user(tool, "-P", lp, *args)
                assert done.returncode == 0, (tool, args, done.stderr)
                return done

            run("lxc-create", "-n", "bt-u1", "-t", "busybox", "-B", "btrfs")
            rootfs = os.path.join(lp, "bt-u1", "rootfs")
            assert os.stat(rootfs).st_ino == 256 and os.stat(rootfs).st_uid == bt_user["base"]
            run("lxc-copy", "-n", "bt-u1", "-N", "bt-u2", "-s")
            assert subvolume_info(os.path.join(lp, "bt-u2", "rootfs"))["Parent UUID"] == \
                subvolume_info(rootfs)["UUID"]
            run("lxc-start", "-n", "bt-u2")
            try:
                out = run("lxc-attach", "-n", "bt-u2", "--", "sh", "-c", "hostname; id -u; echo u > /w")
                assert out.stdout.split() == ["bt-u2", "0"]
            finally:
                run("lxc-stop", "-n", "bt-u2", "-k")
            assert os.stat(os.path.join(lp, "bt-u2", "rootfs", "w")).st_uid == bt_user["base"]
            run("lxc-snapshot", "-n", "bt-u1")
            run("lxc-snapshot", "-n", "bt-u1", "-r", "snap0")
            run("lxc-snapshot", "-n", "bt-u1", "-r", "snap0", "-N", "bt-u3")
            assert sorted(subvolumes(fs)) == sorted(
                os.path.relpath(os.path.join(lp, p, "rootfs"), fs)
                for p in ("bt-u1", "bt-u2", "bt-u3", "bt-u1/snaps/snap0"))
            # Loop storage needs root (as LXC): refused before anything is written.
            before = sorted(os.listdir(lp))
            for tool, args in (("lxc-create", ["-n", "bt-ul", "-t", "busybox", "-B", "loop"]),
                               ("lxc-copy", ["-n", "bt-u1", "-N", "bt-ul", "-B", "loop"])):
                done = as_bt_user(tool, "-P", lp, *args)
                assert done.returncode == 1 and "need" in done.stderr and "root" in done.stderr, \
                    done.stderr
                assert sorted(os.listdir(lp)) == before
            run("lxc-destroy", "-n", "bt-u1", "-s")
            run("lxc-destroy", "-n", "bt-u2")
            run("lxc-destroy", "-n", "bt-u3")
            assert subvolumes(fs) == [] and os.listdir(lp) == []
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_each_destroys_the_others_btrfs_containers(bworld):
    """Bookkeeping and layout are LXC's: real lxc-destroy -s removes our container with its
    snapshot, ours removes real LXC's (subvolumes included); each starts the other's."""
    w = bworld
    create(w, "bt-x1")
    create(w, "bt-x2", True)
    assert w.ours("lxc-snapshot", "-n", "bt-x1").returncode == 0
    assert w.real("lxc-snapshot", "-n", "bt-x2").returncode == 0
    # Swap lxcpaths: btrfs can rename a directory holding subvolumes.
    os.rename(w.cdir("bt-x1"), os.path.join(w.real_lp, "bt-x1"))
    os.rename(w.cdir("bt-x2", True), os.path.join(w.lp, "bt-x2"))
    for path in (os.path.join(w.real_lp, "bt-x1"), os.path.join(w.lp, "bt-x2")):
        old, new = (w.lp, w.real_lp) if path.startswith(w.real_lp) else (w.real_lp, w.lp)
        for config in (os.path.join(path, "config"), os.path.join(path, "snaps", "snap0", "config")):
            with open(config) as handle:
                text = handle.read().replace(old, new)
            with open(config, "w") as handle:
                handle.write(text)
    for runner, name in ((w.real, "bt-x1"), (w.ours, "bt-x2")):
        assert runner("lxc-start", "-n", name).returncode == 0
        try:
            assert runner("lxc-attach", "-n", name, "--", "hostname").stdout.strip() == name
        finally:
            runner("lxc-stop", "-n", name, "-k")
        proc = runner("lxc-destroy", "-n", name, "-s")
        assert proc.returncode == 0, proc.stderr
    assert subvolumes(w.fs) == []
    # real LXC's lxcpath keeps the include copy lxcenv.confine_as_ours gave its container:
    # only our lxc-destroy knows to remove it with the last container naming it
    assert os.listdir(w.lp) == [] and os.listdir(w.real_lp) in ([], [".lxctools-include"])


def test_ephemeral_clone_is_a_snapshot_that_vanishes(bworld):
    w = bworld
    origin = create(w, "bt-eo")
    proc = w.ours("lxc-copy", "-n", "bt-eo", "-N", "bt-e", "-e", "--", "sh", "-c",
                  "hostname; echo e > /only-here")
    assert proc.returncode == 0, proc.stderr
    assert "bt-e" in proc.stdout
    deadline = time.monotonic() + 10
    while os.path.exists(w.cdir("bt-e")):
        assert time.monotonic() < deadline, "the ephemeral clone was not destroyed"
        time.sleep(0.05)
    assert not os.path.exists(os.path.join(origin, "rootfs", "only-here"))
    assert subvolumes(w.fs) == [rel(w, origin, "rootfs")]


def test_kill_9_mid_create_leaves_no_subvolume(bworld):
    from conftest import ours

    w = bworld
    flag = os.path.join(w.root, "template-ran")
    template = os.path.join(w.root, "lxc-slow")
    with open(template, "w") as handle:
        handle.write(f"#!/bin/sh\necho $$ > {flag}.tmp; mv {flag}.tmp {flag}\nexec sleep 60\n")
    os.chmod(template, 0o755)
    proc = subprocess.Popen([ours("lxc-create"), "-P", w.lp, "-n", "bt-kc", "-t", template,
                             "-B", "btrfs"], env=w.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_for(flag)
    assert subvolumes(w.fs) == [rel(w, w.cdir("bt-kc"), "rootfs")]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert os.path.exists(os.path.join(w.cdir("bt-kc"), "partial"))
    deadline = time.monotonic() + 10
    while True:
        # the template dies with lxc-create (PDEATHSIG); until then its marker may be busy
        if w.ours("lxc-ls", "-1").stdout == "" and not os.path.exists(w.cdir("bt-kc")):
            break
        assert time.monotonic() < deadline, "the half container stayed"
        time.sleep(0.1)
    assert subvolumes(w.fs) == []
