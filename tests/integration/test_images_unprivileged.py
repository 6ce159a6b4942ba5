"""The local and download templates run by an ordinary user with subordinate ids: the rootfs
belongs to the container's root (the subuid base), the image's device nodes are skipped,
the download cache is ~/.cache/lxc and the user index (index-user) is used, as LXC's
template does in a user namespace."""

import os
import pwd
import shlex
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from conftest import ordinary_user, ours_for_anyone
from imagekit import add_image, meta_tarball, write_index

USER = "img-unpriv"
BASE = 500000


@pytest.fixture
def user():
    public = tempfile.mkdtemp(prefix="img-pub.")
    os.chmod(public, 0o755)
    try:
        with ordinary_user(USER, BASE) as made:
            yield dict(made, public=public)
    finally:
        shutil.rmtree(public, ignore_errors=True)


def as_user(*args):
    command = " ".join(shlex.quote(a) for a in [ours_for_anyone("lxc-create"), *args])
    return subprocess.run(["su", "-", USER, "-c", command], capture_output=True, text=True,
                          timeout=120)


def image(public):
    """A small rootfs with a device node and a file of another owner, and its metadata."""
    rootfs = os.path.join(public, "rootfs.tar.xz")
    with tarfile.open(rootfs, "w:xz") as tar:
        for name, kind in (("./", tarfile.DIRTYPE), ("./dev", tarfile.DIRTYPE),
                           ("./etc", tarfile.DIRTYPE), ("./dev/null", tarfile.CHRTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, 0o755
            info.devmajor, info.devminor = 1, 3
            tar.addfile(info)
        info = tarfile.TarInfo("./etc/hostname")
        data = b"LXC_NAME\n"
        info.size = len(data)
        tar.addfile(info, __import__("io").BytesIO(data))
    meta = meta_tarball(os.path.join(public, "meta"), os.path.join(public, "meta.tar.xz"),
                        {"config": "lxc.arch = x86_64\n", "templates": "/etc/hostname\n"})
    return rootfs, meta


def test_local_and_download_as_an_unprivileged_user(user):
    rootfs, meta = image(user["public"])
    mirror = os.path.join(user["public"], "mirror")
    entry = add_image(mirror, rootfs, meta)
    write_index(mirror, [entry], name="index-user")
    subprocess.run(["chmod", "-R", "a+rX", user["public"]], check=True)
    lxcpath = os.path.join(user["home"], ".local/share/lxc")

    local = as_user("-n", "img-ul", "-t", "local", "--", "-m", meta, "-f", rootfs)
    assert local.returncode == 0, local.stderr
    assert "Skipped 1 device node(s)" in local.stdout
    root = os.path.join(lxcpath, "img-ul", "rootfs")
    assert os.listdir(os.path.join(root, "dev")) == ["pts"]
    st = os.lstat(os.path.join(root, "etc", "hostname"))
    assert (st.st_uid, st.st_gid) == (BASE, BASE)
    with open(os.path.join(root, "etc", "hostname")) as handle:
        assert handle.read() == "img-ul\n"

    server = "file://" + mirror
    args = ("-t", "download", "--", "-d", "busybox", "-r", "1.36", "-a", "amd64",
            "--server", server)
    first = as_user("-n", "img-ud1", *args)
    assert first.returncode == 0, first.stderr
    assert "Downloading the rootfs" in first.stdout
    cache = os.path.join(user["home"], ".cache/lxc/download/busybox/1.36/amd64/default")
    assert os.path.isfile(os.path.join(cache, "rootfs.tar.xz"))
    assert os.stat(os.path.join(cache, "rootfs.tar.xz")).st_uid == pwd.getpwnam(USER).pw_uid
    second = as_user("-n", "img-ud2", *args)
    assert second.returncode == 0, second.stderr
    assert "Using image from local cache" in second.stdout
    assert os.lstat(os.path.join(lxcpath, "img-ud2", "rootfs", "etc")).st_uid == BASE
