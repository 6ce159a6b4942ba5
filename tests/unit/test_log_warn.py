"""log.warn when stderr is gone: a supervisor started by a python-lxc caller keeps that
caller's stderr, a socket whose peer may have left (ENOTCONN); CRIU's restore warned there
and the restore failed with the warning's OSError (found in the VM's test_python_api)."""

import errno
import io

from lxctools import log


class GoneStream(io.TextIOBase):
    def write(self, _text):
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")


def test_a_warning_to_a_gone_stderr_is_no_error(monkeypatch):
    monkeypatch.setattr("sys.stderr", GoneStream())
    log.warn("criu restore with its new mount engine failed; again with the old one")


def test_a_warning_still_reaches_a_stderr_that_is_there(monkeypatch, capsys):
    log.warn("still said")
    assert "warning: still said" in capsys.readouterr().err
