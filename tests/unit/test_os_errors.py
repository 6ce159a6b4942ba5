"""An OSError nobody nearer the failure put into words becomes one line naming the path and
the fix (cli/_common.run_tool, errors.os_error); atomic writes name the file they were
writing when the disk fills (issue 24.4)."""

import errno
import os

import pytest

from lxctools.atomic import atomic_write
from lxctools.cli._common import run_tool
from lxctools.errors import os_error


@pytest.mark.parametrize("code,word", [(errno.EROFS, "read-only"), (errno.ENOSPC, "full"),
                                       (errno.ENAMETOOLONG, "255 bytes"),
                                       (errno.EACCES, "permission"), (errno.EDQUOT, "quota")])
def test_run_tool_last_resort(capsys, code, word):
    def body(argv):
        raise OSError(code, os.strerror(code), "/srv/lxc/c1/config")

    assert run_tool("lxc-x", body, []) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    first, hint = err.splitlines()
    assert first == f"lxc-x: /srv/lxc/c1/config: {os.strerror(code)}"
    assert hint.startswith("lxc-x: hint: ") and word in hint


def test_quiet_and_broken_pipe(capsys):
    def body(argv):
        raise OSError(errno.EROFS, "Read-only file system", "/x")

    assert run_tool("lxc-x", body, ["-q"]) == 1
    assert capsys.readouterr().err == ""

    def pipe(argv):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    assert run_tool("lxc-x", pipe, []) == 0


def test_os_error_with_an_action():
    exc = os_error(OSError(errno.ENOSPC, "No space left on device"), "cannot create", "/lp/c1")
    assert str(exc) == "cannot create /lp/c1: No space left on device"
    assert "full" in exc.hint


def test_atomic_write_names_the_file_a_failed_write_was_for(tmp_path, monkeypatch):
    target = tmp_path / "config"
    target.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        atomic_write(str(target), "new\n")
    assert info.value.filename == str(target)
    assert target.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["config"]  # the temp file went
