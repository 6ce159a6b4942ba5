"""python-lxc's attach_run_command: the command's PATH search, inside a container."""

import os
import sys

import pytest

from lxctools.api.attach import execvp


def test_attach_run_commands_search_of_path_imports_nothing(tmp_path):
    """api.attach.execvp: os.execvp's PATH search (ENOENT and ENOTDIR go on, the first other
    error is the one raised) without os.get_exec_path's `import warnings`, which a process
    inside a container cannot do (test_attach_hostile.py, Debian's python3)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "prog").write_text("#!/bin/sh\nexit 0\n")  # not executable: EACCES
    good = tmp_path / "good"
    good.mkdir()
    (good / "prog").write_text("#!/bin/sh\nexit 7\n")
    (good / "prog").chmod(0o755)
    path = f"{tmp_path / 'none'}:{locked}:{good}"
    pid = os.fork()
    if pid == 0:
        try:
            sys.modules.pop("warnings", None)
            sys.meta_path.insert(0, _NoImports())
            os.environ["PATH"] = path
            execvp("prog", ["prog"])
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7  # ran good/prog, past the other two
    saved = os.environ.get("PATH")
    os.environ["PATH"] = f"{tmp_path / 'none'}:{locked}"
    try:
        with pytest.raises(PermissionError):
            execvp("prog", ["prog"])
        os.environ["PATH"] = str(tmp_path / "none")
        with pytest.raises(FileNotFoundError):
            execvp("prog", ["prog"])
    finally:
        os.environ["PATH"] = saved


class _NoImports:
    """A finder that refuses every import, as inside a container."""

    def find_spec(self, name, path=None, target=None):
        raise ModuleNotFoundError(name)
