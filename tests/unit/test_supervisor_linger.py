"""The supervisor's idle time (monitor/linger.py) as the environment gives it, and what its
lingering costs the client: lxc-start's Python client imports monitor/daemon.py, which must
not pull in ctypes (kernel/libc.py) for it (the integration side is
tests/integration/test_supervisor_idle.py)."""

import subprocess
import sys

import pytest

from lxctools.monitor import linger


@pytest.mark.parametrize("text, seconds", [
    (None, linger.DEFAULT_IDLE), ("", linger.DEFAULT_IDLE), ("30", 30.0), (" 2.5 ", 2.5),
    ("0", 0.0), ("-4", 0.0), ("nan", 0.0), ("soon", linger.DEFAULT_IDLE),
    ("1e9", 86400.0),
])
def test_idle_time_from_the_environment(monkeypatch, text, seconds):
    if text is None:
        monkeypatch.delenv(linger.IDLE_ENV, raising=False)
    else:
        monkeypatch.setenv(linger.IDLE_ENV, text)
    assert linger.idle_time() == seconds


def test_the_start_client_does_not_load_ctypes():
    probe = ("import sys, lxctools.monitor.daemon as d; d.code_identity(); "
             "print('ctypes' in sys.modules, 'lxctools.kernel.libc' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd="/")
    assert done.stdout.split() == ["False", "False"]


def test_code_identity_names_the_package_files():
    found = linger.code_identity()
    assert len(found) == 2 and all(entry is not None for entry in found)
    assert linger.code_identity() == found
