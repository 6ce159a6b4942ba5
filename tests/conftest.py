"""Shared fixtures: where our console scripts live (never the PATH, which may find Debian's
lxc-* or a slow pyenv shim) and private lxcpaths."""

import os
import subprocess
import sys
import sysconfig

import pytest

SCRIPTS = sysconfig.get_path("scripts")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ours(tool):
    """Absolute path of our console script TOOL (e.g. "lxc-start")."""
    path = os.path.join(SCRIPTS, tool)
    if not os.path.exists(path):
        pytest.fail(f"{tool} is not installed in {SCRIPTS}: run pip install -e . first")
    return path


def run(tool, *args, check=False, env=None, input=None, timeout=120):
    """Run our TOOL with ARGS; returns CompletedProcess with text output."""
    proc = subprocess.run([ours(tool), *args], capture_output=True, text=True, env=env,
                          input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@pytest.fixture
def lxcpath(tmp_path):
    path = tmp_path / "lxc"
    path.mkdir()
    return str(path)


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: runs real containers (namespaces, mounts, cgroups)")


def real_lxc(tool):
    """Path of real LXC's TOOL, installed from Debian as the oracle."""
    path = os.path.join("/usr/bin", tool)
    if not os.path.exists(path):
        pytest.fail(f"real LXC's {tool} is missing: the test set-up installs Debian's lxc")
    return path
