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

    assert run_tool("lxc-x", pipe, []) == 0  # capsys's stdout: nothing to tell, as before


BROKEN = ("import errno, sys; from lxctools.cli._common import run_tool\n"
          "def body(argv):\n"
          "    print('x' * 70000)  # more than a pipe holds: stdout's reader must take it\n"
          "    sys.stdout.flush()\n"
          "    raise BrokenPipeError(errno.EPIPE, 'Broken pipe')\n"
          "sys.exit(run_tool('lxc-x', body, []))\n")


def test_a_broken_pipe_of_its_own_is_a_failure_not_a_silent_success():
    """A BrokenPipeError from a socket or pipe of the tool's own (its supervisor closed the
    connection) used to end the tool with 0 and no output, as if stdout's reader had gone:
    a tier run saw lxc-checkpoint --migrate "succeed" that way. Only a gone stdout is 0."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", BROKEN], capture_output=True, text=True)
    assert done.returncode == 1
    assert "lxc-x: lost a connection it needed (Broken pipe)" in done.stderr
    # stdout's reader gone (lxc-ls | head -0): still 0, and quiet
    gone = subprocess.run(["bash", "-c", 'set -o pipefail; "$PY" -c "$CODE" | true'],
                          capture_output=True, text=True,
                          env=dict(os.environ, CODE=BROKEN, PY=sys.executable))
    assert gone.returncode == 0 and gone.stderr == "", gone.stderr


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
