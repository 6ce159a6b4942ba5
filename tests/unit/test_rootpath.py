"""kernel/rootpath.py: opens below a hostile root never leave it, with openat2 and with
the O_NOFOLLOW walk used where the kernel has no openat2 (both run here, same answers)."""

import errno
import os
import stat

import pytest

from lxctools.kernel import rootpath
from lxctools.kernel.rootpath import (IN_ROOT, NO_LINKS, RESOLVE_BENEATH, Root,
                                       create_file_in_root, makedirs_in_root, open_in_root,
                                       path_in_root, read_regular)


@pytest.fixture(params=["openat2", "walk"])
def mode(request, monkeypatch):
    if request.param == "openat2":
        from lxctools.kernel.openat2 import available
        assert available(), "this kernel has openat2 (5.6+): the test must exercise it"
    monkeypatch.setattr(rootpath, "force_fallback", request.param == "walk")
    return request.param


@pytest.fixture
def world(tmp_path):
    """A host dir with a precious file, and a hostile rootfs beside it full of links to it."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("host\n")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/secret").write_text("container\n")
    os.symlink(str(host), root / "abs")                       # absolute: the host's path
    os.symlink("../" * 12 + str(host).lstrip("/"), root / "rel")  # climbs out
    os.symlink("/etc", root / "etclink")                      # a legitimate in-root link
    os.symlink("/nowhere/x", root / "dangling")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    return host, root


def name_of(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_links_resolve_inside_the_root(world, mode):
    host, root = world
    for rel in ("abs/secret", "rel/secret", "/abs/secret", "etc/../../../abs/secret"):
        with pytest.raises(FileNotFoundError):
            open_in_root(str(root), rel)
    assert name_of(open_in_root(str(root), "etclink/secret")) == f"{root}/etc/secret"
    assert name_of(open_in_root(str(root), "../../etc/./secret")) == f"{root}/etc/secret"
    assert name_of(open_in_root(str(root), "/")) == str(root)
    fd = open_in_root(str(root), "etclink/secret", os.O_RDONLY)
    with os.fdopen(fd) as handle:
        assert handle.read() == "container\n"


def test_no_symlinks_and_beneath_refuse(world, mode):
    _host, root = world
    with pytest.raises(OSError) as caught:
        open_in_root(str(root), "etclink/secret", resolve=NO_LINKS)
    assert caught.value.errno == errno.ELOOP
    with pytest.raises(OSError) as caught:
        open_in_root(str(root), "loop1")
    assert caught.value.errno == errno.ELOOP
    with pytest.raises(OSError) as caught:
        open_in_root(str(root), "etc/../..", resolve=RESOLVE_BENEATH)
    assert caught.value.errno == errno.EXDEV
    with pytest.raises(OSError) as caught:
        open_in_root(str(root), "etclink", resolve=RESOLVE_BENEATH)
    assert caught.value.errno == errno.EXDEV
    # O_NOFOLLOW on the last component: the link itself with O_PATH, ELOOP for I/O
    fd = open_in_root(str(root), "abs", os.O_PATH | os.O_NOFOLLOW)
    try:
        assert stat.S_ISLNK(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as caught:
        open_in_root(str(root), "etclink", os.O_RDONLY | os.O_NOFOLLOW)
    assert caught.value.errno == errno.ELOOP


def test_magic_links_are_refused(mode):
    # /proc/self/root would jump to our own root whatever the starting point
    with pytest.raises(OSError) as caught:
        open_in_root("/", "proc/self/root/etc")
    assert caught.value.errno == errno.ELOOP
    with pytest.raises(OSError) as caught:
        open_in_root("/", "proc/self/fd/0")
    assert caught.value.errno == errno.ELOOP
    # /proc/self itself is an ordinary link
    assert name_of(open_in_root("/", "proc/self/status")).startswith("/proc/")


def test_create_and_makedirs_stay_inside(world, mode):
    host, root = world
    fd = makedirs_in_root(str(root), "abs/made/deep")
    assert name_of(fd) == f"{root}{host}/made/deep"
    # ../../ clamps at the root, then reaches what the line above made inside it
    fd = create_file_in_root(str(root), "rel/new-file")
    assert name_of(fd) == f"{root}{host}/new-file"
    # through a dangling link the target is made inside the root
    fd = create_file_in_root(str(root), "dangling")
    assert name_of(fd) == f"{root}/nowhere/x"
    assert sorted(os.listdir(host)) == ["secret"]
    # an existing file is kept as it is
    fd = create_file_in_root(str(root), "etc/secret")
    os.close(fd)
    assert (root / "etc/secret").read_text() == "container\n"
    with pytest.raises(OSError) as caught:
        makedirs_in_root(str(root), "etclink/x", resolve=NO_LINKS)
    assert caught.value.errno == errno.ELOOP


def test_read_regular_refuses_fifos_and_devices(world, mode):
    host, root = world
    os.mkfifo(root / "fifo")
    os.symlink("/dev/null", root / "etc/null")
    assert read_regular(str(root), "fifo") is None  # would have blocked
    assert read_regular(str(root), "etc/null") is None  # not the host's /dev/null
    assert read_regular(str(root), "abs/secret") is None
    assert read_regular(str(root), "etclink/secret") == b"container\n"
    assert read_regular(str(root), "etc/secret", limit=3) == b"con"


def test_path_in_root_names_what_was_opened(world, mode):
    _host, root = world
    with Root(str(root)) as r:
        fd = r.open("etclink/secret")
        try:
            assert path_in_root(r.fd, fd) == "/etc/secret"
        finally:
            os.close(fd)
        assert r.exists("etc") and not r.exists("abs/secret")


def test_walk_matches_openat2_on_every_case(world, monkeypatch):
    """The fallback is the kernel's semantics: same object or same errno for each case."""
    _host, root = world
    cases = ["abs", "rel", "etclink", "etclink/secret", "dangling", "loop1", "etc/..",
             "../..", "etc/secret/x", "nosuch/x", "/", "etclink/../etclink/secret"]
    for resolve in (IN_ROOT, NO_LINKS, RESOLVE_BENEATH):
        for rel in cases:
            answers = []
            for fallback in (False, True):
                monkeypatch.setattr(rootpath, "force_fallback", fallback)
                try:
                    answers.append(name_of(open_in_root(str(root), rel, resolve=resolve)))
                except OSError as exc:
                    answers.append(errno.errorcode[exc.errno])
            assert answers[0] == answers[1], (rel, resolve, answers)
