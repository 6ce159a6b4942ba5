"""config/clone.py: the clone's config text as LXC writes it (lxc-test-cloneconfig's cases)."""

import os
import random

from lxctools.config.clone import new_hwaddr, rewrite
from lxctools.storage.clone import parse, plan

import pytest

ORIGIN = """# header

lxc.net.0.type = veth
lxc.net.0.hwaddr = 00:16:3e:11:22:33
lxc.net.1.type = empty
lxc.net.1.hwaddr=fe:00:00:00:00:01
lxc.hook.pre-start = /var/lib/lxc/c1/hook.sh
lxc.hook.mount = /usr/share/lxc/hooks/mountcgroups
lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs
lxc.uts.name = c1
lxc.mount.fstab = /var/lib/lxc/c1/fstab
lxc.mount.entry = /src dst overlay lowerdir=/src,upperdir=/var/lib/lxc/c1/delta#1,workdir=/var/lib/lxc/c1/work#1,create=dir
lxc.mount.entry = /var/lib/lxc/c1/x y none bind 0 0
"""


def clone(**kw):
    args = dict(oldpath="/var/lib/lxc", oldname="c1", newpath="/srv", newname="c2",
                rootfs="dir:/srv/c2/rootfs", rng=random.Random(1))
    args.update(kw)
    return rewrite(ORIGIN, **args)


def test_lines_rewritten_as_lxc():
    out = clone()
    lines = out.text.splitlines()
    assert "" not in lines
    assert lines[-3:] == ["lxc.rootfs.path = dir:/srv/c2/rootfs", "lxc.uts.name = c2",
                          "lxc.mount.fstab = /srv/c2/fstab"]
    assert "lxc.hook.pre-start = /srv/c2/hook.sh" in lines
    assert "lxc.hook.mount = /usr/share/lxc/hooks/mountcgroups" in lines
    assert any("upperdir=/srv/c2/delta#1,workdir=/srv/c2/work#1" in l for l in lines)
    # Only overlay upper/work dirs follow; other mount sources are left alone, as LXC.
    assert "lxc.mount.entry = /var/lib/lxc/c1/x y none bind 0 0" in lines
    assert out.copies == [("/var/lib/lxc/c1/hook.sh", "/srv/c2/hook.sh"),
                          ("/var/lib/lxc/c1/fstab", "/srv/c2/fstab")]
    macs = [l for l in lines if ".hwaddr" in l]
    assert all(m.split("=")[1].strip().startswith("00:16:3e:") for m in macs)
    assert "00:16:3e:11:22:33" not in out.text and "fe:00:00:00:00:01" not in out.text
    assert macs[1].startswith("lxc.net.1.hwaddr=")


def test_keepname_keepmac():
    out = clone(keepname=True, keepmac=True)
    assert "lxc.uts.name = c1" in out.text and "lxc.uts.name = c2" not in out.text
    assert "00:16:3e:11:22:33" in out.text


def test_new_hwaddr_is_random_under_xen_prefix():
    seen = {new_hwaddr() for _ in range(20)}
    assert len(seen) > 1 and all(m.startswith("00:16:3e:") and len(m) == 17 for m in seen)


def test_storage_plan():
    base = dict(oldname="c1", oldpath="/l", newpath="/l")
    assert plan("dir:/l/c1/rootfs", snapshot=True, bdevtype=None, **base) == "overlay"
    # An overlay origin copied in place without -s: LXC refuses (overlay is snapshot-only).
    with pytest.raises(Exception, match="only be used for snapshots"):
        plan("overlay:/l/c0/rootfs:/l/c1/overlay/delta", snapshot=False, bdevtype=None, **base)
    assert plan("overlay:/l/c0/rootfs:/l/c1/overlay/delta", snapshot=False, bdevtype=None,
                oldname="c1", oldpath="/l", newpath="/m") == "dir"
    with pytest.raises(Exception, match="does not include container name"):
        plan("dir:/elsewhere/rootfs", snapshot=False, bdevtype=None, **base)
    with pytest.raises(Exception, match="only be used for snapshots"):
        plan("dir:/l/c1/rootfs", snapshot=False, bdevtype="overlay", **base)
    with pytest.raises(Exception, match="Directories cannot be snapshotted"):
        plan("dir:/l/c1/rootfs", snapshot=True, bdevtype="dir", **base)
    with pytest.raises(Exception, match="backing store zfs is not supported"):
        plan("dir:/l/c1/rootfs", snapshot=False, bdevtype="zfs", **base)
    with pytest.raises(Exception, match="cloning a lvm rootfs is not supported"):
        plan("lvm:/dev/lxc/c1", snapshot=False, bdevtype=None, **base)
    assert parse("overlay:/a:b:/c/delta") == ("overlay", ("/a:b", "/c/delta"))
    assert parse("/x/rootfs") == ("dir", "/x/rootfs")


def test_storage_plan_btrfs(tmp_path):
    lp = str(tmp_path)
    os.makedirs(os.path.join(lp, "c1", "rootfs"))
    spec = f"btrfs:{lp}/c1/rootfs"
    same = dict(oldname="c1", oldpath=lp, newpath=lp)
    # LXC: a btrfs origin stays btrfs in its lxcpath, with -s or without (the caller then
    # snapshots when both sides share the filesystem); to another lxcpath without -s: dir.
    assert plan(spec, snapshot=True, bdevtype=None, **same) == "btrfs"
    assert plan(spec, snapshot=False, bdevtype=None, **same) == "btrfs"
    assert plan(spec, snapshot=True, bdevtype="btrfs", **same) == "btrfs"
    assert plan(spec, snapshot=False, bdevtype=None, oldname="c1", oldpath=lp, newpath="/m") == "dir"
    assert plan(spec, snapshot=True, bdevtype=None, oldname="c1", oldpath=lp, newpath="/m") == "btrfs"
    assert plan(f"dir:{lp}/c1/rootfs", snapshot=False, bdevtype="btrfs", **same) == "btrfs"
    with pytest.raises(Exception, match="btrfs snapshot from dir backing store is not supported"):
        plan(f"dir:{lp}/c1/rootfs", snapshot=True, bdevtype="btrfs", **same)
    with pytest.raises(Exception, match="overlay snapshot of a btrfs container"):
        plan(spec, snapshot=True, bdevtype="overlay", **same)
    with pytest.raises(Exception, match="Directories cannot be snapshotted"):
        plan(spec, snapshot=True, bdevtype="dir", **same)
    with pytest.raises(Exception, match="does not exist"):
        plan(f"btrfs:{lp}/c1/gone", snapshot=False, bdevtype=None, **same)


def test_storage_plan_loop(tmp_path):
    lp = str(tmp_path)
    os.makedirs(os.path.join(lp, "c1", "rootfs"))
    (tmp_path / "c1" / "rootdev").write_bytes(b"")
    spec = f"loop:{lp}/c1/rootdev"
    same = dict(oldname="c1", oldpath=lp, newpath=lp)
    assert plan(spec, snapshot=False, bdevtype=None, **same) == "loop"
    assert plan(spec, snapshot=False, bdevtype="loop", **same) == "loop"
    assert plan(spec, snapshot=False, bdevtype=None, oldname="c1", oldpath=lp, newpath="/m") == "dir"
    assert plan(spec, snapshot=False, bdevtype="dir", **same) == "dir"
    with pytest.raises(Exception, match="The loop storage driver does not support snapshots"):
        plan(spec, snapshot=True, bdevtype=None, **same)
    assert plan(f"dir:{lp}/c1/rootfs", snapshot=False, bdevtype="loop", **same) == "loop"
    with pytest.raises(Exception, match="a loop clone of a overlay container"):
        plan(f"overlay:{lp}/c0/rootfs:{lp}/c1/overlay/delta", snapshot=False, bdevtype="loop",
             **same)
    with pytest.raises(Exception, match="an overlay snapshot of a loop container"):
        plan(spec, snapshot=True, bdevtype="overlay", **same)
    with pytest.raises(Exception, match="rootfs image .* does not exist"):
        plan(f"loop:{lp}/c1/gone", snapshot=False, bdevtype=None, **same)


def test_user_overlay_clone_needs_linux_5_11():
    import pytest

    from lxctools.errors import LxcError
    from lxctools.storage.clone import check_user_overlay

    check_user_overlay("5.11.0")
    check_user_overlay("6.18.44-fc-v1098")
    with pytest.raises(LxcError, match="5.11 or newer.*5.10.0-28-amd64"):
        check_user_overlay("5.10.0-28-amd64")
    with pytest.raises(LxcError, match="4.19.0"):
        check_user_overlay("4.19.0")
