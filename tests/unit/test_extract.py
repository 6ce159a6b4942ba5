"""images/extract.py and progress.py on archives built in the test."""

import io
import os
import stat
import tarfile

import pytest

from lxctools.errors import LxcError
from lxctools.images import extract, meta
from lxctools.images.progress import Progress


@pytest.fixture(params=["libarchive", "tarfile"], autouse=True)
def reader(request, monkeypatch):
    """Every case through both readers (images/tarread.py); libarchive-c is a
    dependency, so LXCTOOLS_TAR_READER=libarchive fails rather than falls back."""
    monkeypatch.setenv("LXCTOOLS_TAR_READER", request.param)
    return request.param


def make(path, members, mode="w:xz", fmt=tarfile.PAX_FORMAT):
    with tarfile.open(path, mode, format=fmt) as tar:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            data = extra.pop("data", b"")
            for key, value in extra.items():
                setattr(info, key, value)
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return str(path)


def test_compression_is_found_from_content(tmp_path):
    for mode, kind in (("w:xz", "xz"), ("w:gz", "gzip"), ("w:bz2", "bzip2"), ("w", "tar")):
        path = make(tmp_path / f"a-{kind}.bin", [("f", tarfile.REGTYPE, {"data": b"hi"})], mode)
        assert extract.compression(path) == kind
        dest = tmp_path / f"d-{kind}"
        dest.mkdir()
        extract.extract(path, str(dest), owners=False)
        assert (dest / "f").read_bytes() == b"hi"


def test_devices_and_fifos_refused_by_default(tmp_path):
    path = make(tmp_path / "a.tar.xz", [("dev/null", tarfile.CHRTYPE,
                                          {"devmajor": 1, "devminor": 3})])
    with pytest.raises(extract.Refused, match=r"member 'dev/null': device node"):
        extract.extract(path, str(tmp_path), owners=False)
    fifo = make(tmp_path / "b.tar.xz", [("run/fifo", tarfile.FIFOTYPE, {})])
    with pytest.raises(extract.Refused, match="FIFO"):
        extract.extract(fifo, str(tmp_path), owners=False)
    dest = tmp_path / "skip"
    dest.mkdir()
    summary = extract.extract(path, str(dest), devices="skip", owners=False)
    assert summary.skipped_devices == ["dev/null"] and not (dest / "dev/null").exists()


def test_modes_owners_mtimes_xattrs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("restoring owners and security xattrs needs root")
    cap = bytes.fromhex("0100000200200000000000000000000000000000")
    path = make(tmp_path / "a.tar.xz", [
        ("bin", tarfile.DIRTYPE, {"mode": 0o711, "mtime": 1000}),
        ("bin/ping", tarfile.REGTYPE, {"data": b"elf", "mode": 0o4755, "uid": 7, "gid": 8,
                                       "mtime": 2000,
                                       "pax_headers": {"SCHILY.xattr.security.capability":
                                                       cap.decode("utf-8", "surrogateescape"),
                                                       "SCHILY.xattr.user.k": "v"}}),
        ("bin/l", tarfile.SYMTYPE, {"linkname": "ping", "uid": 3, "gid": 4}),
        ("bin/h", tarfile.LNKTYPE, {"linkname": "bin/ping"}),
    ])
    dest = tmp_path / "d"
    dest.mkdir()
    extract.extract(path, str(dest))
    st = os.lstat(dest / "bin/ping")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o4755, 7, 8, 2000)
    assert os.getxattr(dest / "bin/ping", "security.capability") == cap
    assert os.getxattr(dest / "bin/ping", "user.k") == b"v"
    assert os.lstat(dest / "bin/l").st_uid == 3
    assert os.lstat(dest / "bin/h").st_ino == st.st_ino
    d = os.lstat(dest / "bin")
    assert (stat.S_IMODE(d.st_mode), d.st_mtime) == (0o711, 1000)


def test_idmap_shifts_owners_and_refuses_unmapped(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    from lxctools.idmap.idshift import IdMap

    idmap = IdMap.parse(["u 0 100000 1000", "g 0 200000 1000"])
    path = make(tmp_path / "a.tar.xz", [("f", tarfile.REGTYPE, {"uid": 5, "gid": 6,
                                                                "mode": 0o2755})])
    dest = tmp_path / "d"
    dest.mkdir()
    extract.extract(path, str(dest), idmap=idmap)
    st = os.lstat(dest / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (100005, 200006, 0o2755)
    far = make(tmp_path / "b.tar.xz", [("g", tarfile.REGTYPE, {"uid": 5000})])
    with pytest.raises(extract.Refused, match="outside the container's lxc.idmap"):
        extract.extract(far, str(dest), idmap=idmap)


def test_excludes_are_anchored_and_take_directories_along(tmp_path):
    path = make(tmp_path / "a.tar.xz", [
        ("./dev", tarfile.DIRTYPE, {}), ("./dev/x", tarfile.REGTYPE, {}),
        ("./var/log", tarfile.DIRTYPE, {}), ("./var/log/a", tarfile.REGTYPE, {}),
        ("./srv/dev/x", tarfile.REGTYPE, {})])
    dest = tmp_path / "d"
    dest.mkdir()
    summary = extract.extract(path, str(dest), excludes=["./dev/*", "./var/log"], owners=False)
    assert sorted(os.listdir(dest)) == ["dev", "srv"]  # nothing of var/ was left to make it
    assert os.listdir(dest / "dev") == []
    assert (dest / "srv/dev/x").exists() and summary.excluded == 3


def test_damaged_and_foreign_files(tmp_path):
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"\xfd7zXZ\x00" + b"garbage" * 100)
    with pytest.raises(LxcError, match="damaged compressed data"):
        extract.extract(str(junk), str(tmp_path), owners=False)
    text = tmp_path / "text"
    text.write_text("hello\n" * 200)
    with pytest.raises(LxcError, match="not a valid tar archive"):
        extract.extract(str(text), str(tmp_path), owners=False)


def test_corruption_in_the_middle_of_the_stream_is_reported(tmp_path):
    import lzma

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for i in range(50):
            data = bytes(range(256)) * 40
            info = tarfile.TarInfo(f"f{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    packed = bytearray(lzma.compress(raw.getvalue()))
    packed[len(packed) // 2] ^= 0xFF
    path = tmp_path / "corrupt.tar.xz"
    path.write_bytes(bytes(packed))
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(LxcError, match="damaged compressed data"):
        extract.extract(str(path), str(dest), owners=False)


def test_garbage_after_the_stream_is_reported_as_tar_would(tmp_path):
    path = make(tmp_path / "a.tar.xz", [("f", tarfile.REGTYPE, {"data": b"hi"})])
    with open(path, "ab") as handle:
        handle.write(b"appended")
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(LxcError, match="damaged compressed data"):
        extract.extract(path, str(dest), owners=False)


def test_many_small_files_through_the_writer_threads(tmp_path):
    members = [(f"d{i % 7}/f{i}", tarfile.REGTYPE, {"data": str(i).encode() * (i % 50),
                                                     "mode": 0o640, "mtime": 1000 + i})
               for i in range(600)]
    members += [("d0/f1", tarfile.REGTYPE, {"data": b"replaced"}),          # later one wins
                ("d1/hard", tarfile.LNKTYPE, {"linkname": "d5/f5"})]       # link to a pending file
    path = make(tmp_path / "many.tar.gz", members, mode="w:gz")
    dest = tmp_path / "d"
    dest.mkdir()
    extract.extract(path, str(dest), owners=False)
    assert (dest / "d0/f1").read_bytes() == b"replaced"
    assert (dest / "d1/hard").read_bytes() == b"5" * 5
    assert os.stat(dest / "d1/hard").st_ino == os.stat(dest / "d5/f5").st_ino
    st = os.stat(dest / "d4/f599")
    assert (stat.S_IMODE(st.st_mode), st.st_mtime, st.st_size) == (0o640, 1599, 3 * 49)


def test_progress_bar_draws_only_when_enabled():
    out = io.StringIO()
    bar = Progress("Unpacking", total=2 << 20, stream=out)
    bar.update(1 << 20)
    assert "50%" in out.getvalue() and "1.0 MiB / 2.0 MiB" in out.getvalue()
    bar.finish()
    assert out.getvalue().endswith("\r\x1b[K")
    quiet = io.StringIO()
    off = Progress("Unpacking", total=10, stream=quiet, enabled=False)
    off.update(5)
    off.finish()
    assert quiet.getvalue() == ""


def test_merged_config_moves_lines_like_lxc_sed():
    lines = ["# keep me", "lxc.net.0.type = veth", "lxc.rootfs.path = dir:/x",
             "lxc.net.1.type = empty", "# lxc. mentioned in a comment moves too"]
    out = meta.merged_config(lines, ["lxc.arch = x86_64"], "c1", "/p/fstab")
    assert out == ["# keep me", "", "# Distribution configuration", "lxc.arch = x86_64", "",
                   "# Container specific configuration", "lxc.rootfs.path = dir:/x",
                   "lxc.net.1.type = empty", "# lxc. mentioned in a comment moves too",
                   "lxc.mount.fstab = /p/fstab", "lxc.uts.name = c1", "",
                   "# Network configuration", "lxc.net.0.type = veth"]


def test_relevant_file_prefers_mode_then_compat(tmp_path):
    for name in ("config", "config-user", "config-user.7", "excludes.7"):
        (tmp_path / name).write_text("")
    assert meta.relevant_file(str(tmp_path), "config", "user", 7).endswith("config-user.7")
    assert meta.relevant_file(str(tmp_path), "config", "system", 7).endswith("/config")
    assert meta.relevant_file(str(tmp_path), "excludes", "user", 7).endswith("excludes.7")


def test_names_that_are_not_utf8_keep_their_bytes(tmp_path):
    """A GNU tar name in latin-1 (bytes no UTF-8 decoder takes): the same bytes on disk
    whichever reader parsed it, and a directory's trailing slash is not part of its name."""
    path = str(tmp_path / "latin.tar.xz")
    with tarfile.open(path, "w:xz", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        info = tarfile.TarInfo("caf\udce9/")
        info.type = tarfile.DIRTYPE
        info.mode = 0o750
        tar.addfile(info)
        data = b"au lait"
        info = tarfile.TarInfo("caf\udce9/cr\udce8me")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "d"
    dest.mkdir()
    extract.extract(path, str(dest), owners=False)
    assert os.listdir(os.fsencode(dest)) == [b"caf\xe9"]
    assert stat.S_IMODE(os.lstat(os.path.join(os.fsencode(dest), b"caf\xe9")).st_mode) == 0o750
    with open(os.path.join(os.fsencode(dest), b"caf\xe9", b"cr\xe8me"), "rb") as handle:
        assert handle.read() == b"au lait"


def test_reader_is_chosen_by_the_environment(monkeypatch):
    from lxctools.images import tarread

    monkeypatch.setenv("LXCTOOLS_TAR_READER", "tarfile")
    assert tarread.choose() == "tarfile"
    monkeypatch.setenv("LXCTOOLS_TAR_READER", "libarchive")
    assert tarread.choose() == "libarchive"  # a dependency: it loads here
    monkeypatch.delenv("LXCTOOLS_TAR_READER")
    assert tarread.choose() == "libarchive"
