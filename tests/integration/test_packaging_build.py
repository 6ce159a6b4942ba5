"""`pip install .` as a user runs it (issue 21 item 3): the wheel pip builds from a copy of
this checkout, installed into a fresh venv. With a C compiler, the front door's commands
are the compiled lxc-front and everything else pip's console scripts; with none (CC=false)
the same install succeeds, the front door's commands are Python scripts and the compiled
helpers are absent. Either way the commands answer as the Python tools do.

The fresh venvs see the test venv's site-packages for the dependencies (argcomplete,
pyroute2...) through a .pth line; their own lxctools (the wheel's) comes first."""

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FRONT = ("lxc-attach", "lxc-info", "lxc-ls", "lxc-start", "lxc-stop", "lxc-wait")
HELPERS = ("lxc-front", "lxc-entry", "lxc-execinit")


def installed(tmp_path, label, env):
    """Build the wheel of a copy of the checkout with ENV, install it in a new venv; returns
    (venv path, the build's stderr)."""
    source = tmp_path / f"src-{label}"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", "libexec", ".pytest_cache"))
    wheels = tmp_path / f"wheels-{label}"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w",
                            str(wheels), str(source)], capture_output=True, text=True,
                           env=dict(os.environ, **env), timeout=600)
    assert built.returncode == 0, built.stderr
    venv = tmp_path / f"venv-{label}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (wheel,) = wheels.glob("lxctools-*.whl")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"),
                           "install", "-q", "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    purelib = subprocess.run([str(venv / "bin/python"), "-c",
                              "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(purelib, "zz-test-deps.pth"), "w") as handle:
        handle.write(sysconfig.get_path("purelib") + "\n")
    return venv, built.stdout + built.stderr


def package_dir(venv):
    done = subprocess.run([str(venv / "bin/python"), "-c",
                           "import lxctools, os; print(os.path.dirname(lxctools.__file__))"],
                          capture_output=True, text=True, check=True, cwd=str(venv))
    assert done.stdout.startswith(str(venv)), done.stdout  # the wheel's, not this checkout
    return done.stdout.strip()


def answers(venv, tool, *args, pure=False, cwd=None):
    env = dict(os.environ)
    env.pop("LXCTOOLS_PURE_PYTHON", None)
    if pure:
        env["LXCTOOLS_PURE_PYTHON"] = "1"
    done = subprocess.run([str(venv / "bin" / tool), *args], capture_output=True, env=env,
                          cwd=cwd, timeout=120)
    return done.returncode, done.stdout, done.stderr


def same_as_python(venv, tmp_path):
    """What goes through the front door (or, without it, the Python scripts) against the
    Python tools, byte for byte: an empty lxcpath, a container that does not exist (Python's
    message, reached through `lxctools --as`), an unknown option, --version."""
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    cases = [("lxc-ls", "-P", str(empty)), ("lxc-ls", "-P", str(empty), "-f"),
             ("lxc-info", "-P", str(empty), "-n", "nothere"),
             ("lxc-info", "-P", str(empty), "-n", "nothere", "-s"),
             ("lxc-wait", "-P", str(empty), "-n", "nothere", "-s", "RUNNING", "-t", "0"),
             ("lxc-stop", "-P", str(empty), "-n", "nothere", "-k"),
             ("lxc-attach", "-P", str(empty), "-n", "nothere", "--", "true"),
             ("lxc-info", "--bogus"), ("lxc-stop", "--version")]
    for tool, *args in cases:
        assert answers(venv, tool, *args) == answers(venv, tool, *args, pure=True), (tool, args)
    assert answers(venv, "lxc-info", "-P", str(empty), "-n", "nothere")[2] == \
        b"lxc-info: nothere doesn't exist\n"


def test_wheel_with_a_compiler(tmp_path):
    venv, _ = installed(tmp_path, "cc", {})
    package = package_dir(venv)
    for helper in HELPERS:
        assert os.access(os.path.join(package, "libexec", helper), os.X_OK), helper
    with open(os.path.join(package, "libexec", "lxc-front"), "rb") as handle:
        front = handle.read()
    for tool in FRONT:
        with open(venv / "bin" / tool, "rb") as handle:
            assert handle.read() == front, f"{tool} is not the compiled front door"
        assert os.access(venv / "bin" / tool, os.X_OK)
    for tool in ("lxc-create", "lxc-console", "lxctools"):
        with open(venv / "bin" / tool) as handle:
            assert handle.readline() == f"#!{venv}/bin/python\n", tool
    assert not (venv / "libexec").exists()
    same_as_python(venv, tmp_path)


def test_wheel_without_a_compiler(tmp_path):
    """CC=false: no compiled part builds; the install works all the same, in Python."""
    venv, log = installed(tmp_path, "nocc", {"CC": "false"})
    assert "lxc-front was not built" in log  # the warning: pip -v shows the build's output
    package = package_dir(venv)
    for helper in HELPERS:
        assert not os.path.exists(os.path.join(package, "libexec", helper)), helper
    for tool in FRONT:
        with open(venv / "bin" / tool) as handle:
            text = handle.read()
        assert text.startswith(f"#!{venv}/bin/python\n"), tool
        assert f"from lxctools.cli.{tool[4:]} import main" in text
    assert answers(venv, "lxc-info", "--version") == (0, b"5.0.2\n", b"")
    same_as_python(venv, tmp_path)
