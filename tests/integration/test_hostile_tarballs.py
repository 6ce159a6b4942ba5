"""Crafted archives through lxc-create -t local: every one is refused with the member and the
reason, nothing is written outside the rootfs, and the failed create leaves no container."""

import io
import os
import stat
import subprocess
import tarfile

import pytest

from imagekit import standard_meta
from lxcenv import world  # noqa: F401  (fixture)


@pytest.fixture(params=["libarchive", "tarfile"], autouse=True)
def reader(request, monkeypatch):
    """Every attack through both readers (images/tarread.py): the checks must not
    depend on which one parsed the member. Set before `world` copies the environment."""
    monkeypatch.setenv("LXCTOOLS_TAR_READER", request.param)
    return request.param


def _add(tar, name, kind=tarfile.REGTYPE, data=b"", linkname="", mode=0o644, dev=(0, 0)):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.devmajor, info.devminor = dev
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def build(path, members):
    with tarfile.open(path, "w:xz", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, "./", tarfile.DIRTYPE, mode=0o755)
        _add(tar, "./etc", tarfile.DIRTYPE, mode=0o755)
        _add(tar, "./etc/hostname", data=b"LXC_NAME\n")
        for member in members:
            _add(tar, **member)
    return path


@pytest.fixture
def outside(world):
    """A host directory the archives aim at; it must stay empty."""
    path = os.path.join(world.root, "outside")
    os.mkdir(path)
    return path


def create(world, name, tarball, *extra):
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"))
    return world.ours("lxc-create", "-n", name, "-t", "local", "--", "-m", meta, "-f", tarball,
                      *extra)


def refused(world, name, tarball, member, reason, outside=None):
    proc = create(world, name, tarball)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"member {member!r}" in proc.stderr, proc.stderr
    assert reason in proc.stderr, proc.stderr
    assert not os.path.exists(world.cdir(name)), "the failed create left its directory"
    if outside is not None:
        assert os.listdir(outside) == []
    return proc


def test_dotdot_member(world, outside):
    tarball = build(os.path.join(world.root, "t.tar.xz"),
                    [dict(name="./etc/../../../outside/evil", data=b"x")])
    refused(world, "img-h1", tarball, "./etc/../../../outside/evil", "'..' in the path", outside)


def test_absolute_member(world, outside):
    target = os.path.join(outside, "evil")
    tarball = build(os.path.join(world.root, "t.tar.xz"), [dict(name=target, data=b"x")])
    refused(world, "img-h2", tarball, target, "absolute path", outside)


def test_symlink_escape_then_write_through_it(world, outside):
    tarball = build(os.path.join(world.root, "t.tar.xz"), [
        dict(name="./escape", kind=tarfile.SYMTYPE, linkname=outside),
        dict(name="./escape/evil", data=b"x")])
    refused(world, "img-h3", tarball, "./escape/evil", "goes through the symlink 'escape'",
            outside)


def test_relative_symlink_climbing_out(world, outside):
    tarball = build(os.path.join(world.root, "t.tar.xz"), [
        dict(name="./etc/up", kind=tarfile.SYMTYPE, linkname="../../../../outside")])
    refused(world, "img-h4", tarball, "./etc/up", "leaves the rootfs", outside)


def test_directory_replaced_by_symlink_then_written_through(world, outside):
    tarball = build(os.path.join(world.root, "t.tar.xz"), [
        dict(name="./var", kind=tarfile.DIRTYPE, mode=0o755),
        dict(name="./var", kind=tarfile.SYMTYPE, linkname=outside),
        dict(name="./var/evil", data=b"x")])
    refused(world, "img-h5", tarball, "./var", "would replace a directory with a symlink",
            outside)


def test_symlink_then_directory_of_the_same_name(world, outside):
    tarball = build(os.path.join(world.root, "t.tar.xz"), [
        dict(name="./run", kind=tarfile.SYMTYPE, linkname=outside),
        dict(name="./run", kind=tarfile.DIRTYPE, mode=0o755),
        dict(name="./run/evil", data=b"x")])
    refused(world, "img-h6", tarball, "./run", "a symlink of that name is already there",
            outside)


def test_hardlink_to_host_shadow(world):
    before = os.stat("/etc/shadow")
    for name, link, reason in (("img-h7", "/etc/shadow", "link to the absolute path"),
                               ("img-h8", "../../../../../../etc/shadow", "contains '..'")):
        tarball = build(os.path.join(world.root, f"{name}.tar.xz"), [
            dict(name="./etc/shadow", kind=tarfile.LNKTYPE, linkname=link)])
        refused(world, name, tarball, "./etc/shadow", reason)
    after = os.stat("/etc/shadow")
    assert (after.st_nlink, after.st_ino) == (before.st_nlink, before.st_ino)


def test_hardlink_through_a_planted_symlink(world, outside):
    with open(os.path.join(outside, "secret"), "w") as handle:
        handle.write("host secret\n")
    tarball = build(os.path.join(world.root, "t.tar.xz"), [
        dict(name="./hostdir", kind=tarfile.SYMTYPE, linkname=outside),
        dict(name="./etc/stolen", kind=tarfile.LNKTYPE, linkname="./hostdir/secret")])
    proc = create(world, "img-h9", tarball)
    assert proc.returncode == 1
    assert "goes through the symlink 'hostdir'" in proc.stderr, proc.stderr
    assert os.stat(os.path.join(outside, "secret")).st_nlink == 1
    assert not os.path.exists(world.cdir("img-h9"))


def test_device_nodes(world, outside):
    mem = build(os.path.join(world.root, "mem.tar.xz"), [
        dict(name="./etc/mem", kind=tarfile.CHRTYPE, dev=(1, 1), mode=0o666)])
    refused(world, "img-h10", mem, "./etc/mem", "device node outside /dev")
    # Below /dev, a privileged container gets the node as LXC's tar would make it; --no-dev
    # leaves the image's /dev out altogether.
    disk = build(os.path.join(world.root, "disk.tar.xz"), [
        dict(name="./dev", kind=tarfile.DIRTYPE, mode=0o755),
        dict(name="./dev/null", kind=tarfile.CHRTYPE, dev=(1, 3), mode=0o666)])
    proc = create(world, "img-h11", disk)
    assert proc.returncode == 0, proc.stderr
    st = os.lstat(os.path.join(world.cdir("img-h11"), "rootfs/dev/null"))
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    proc = create(world, "img-h12", disk, "--no-dev")
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(os.path.join(world.cdir("img-h12"), "rootfs/dev")) == ["pts"]


def test_metadata_tarball_is_checked_too(world, outside):
    meta = os.path.join(world.root, "evil-meta.tar.xz")
    with tarfile.open(meta, "w:xz") as tar:
        _add(tar, "config", data=b"lxc.arch = x86_64\n")
        _add(tar, "../outside/evil", data=b"x")
    rootfs = build(os.path.join(world.root, "t.tar.xz"), [])
    proc = world.ours("lxc-create", "-n", "img-h13", "-t", "local", "--", "-m", meta,
                      "-f", rootfs)
    assert proc.returncode == 1
    assert "member '../outside/evil'" in proc.stderr and "'..' in the path" in proc.stderr
    assert os.listdir(outside) == [] and not os.path.exists(world.cdir("img-h13"))


def test_truncated_archive(world):
    good = build(os.path.join(world.root, "good.tar.xz"),
                 [dict(name="./big", data=os.urandom(1 << 20))])
    with open(good, "rb") as handle:
        data = handle.read()
    cut = os.path.join(world.root, "cut.tar.xz")
    with open(cut, "wb") as handle:
        handle.write(data[: len(data) // 2])
    proc = create(world, "img-h14", cut)
    assert proc.returncode == 1
    assert "cut.tar.xz" in proc.stderr and ("damaged" in proc.stderr or "not a valid" in proc.stderr)
    assert not os.path.exists(world.cdir("img-h14"))


def test_huge_sparse_file_stays_sparse(world):
    src = os.path.join(world.root, "sparse-src")
    os.makedirs(src)
    big = os.path.join(src, "huge")
    with open(big, "wb") as handle:
        handle.truncate(8 << 30)  # 8 GiB of holes
        handle.seek(4 << 30)
        handle.write(b"middle")
    tarball = os.path.join(world.root, "sparse.tar.xz")
    subprocess.run(["tar", "-S", "--numeric-owner", "-C", src, "-cJf", tarball, "."], check=True)
    proc = create(world, "img-h15", tarball)
    assert proc.returncode == 0, proc.stderr
    st = os.stat(os.path.join(world.cdir("img-h15"), "rootfs/huge"))
    assert st.st_size == 8 << 30
    assert st.st_blocks * 512 < (1 << 20)  # holes kept, not 8 GiB of zeros written
    with open(os.path.join(world.cdir("img-h15"), "rootfs/huge"), "rb") as handle:
        handle.seek(4 << 30)
        assert handle.read(6) == b"middle"
