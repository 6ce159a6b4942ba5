"""How the commands are installed (issue 21 item 3, issue 22 item 1): pyproject.toml's
[project.scripts] and [tool.lxctools.front-door] name every command once, each entry point
is a module with main(), no hand-written launcher is left, and `lxctools --as` runs exactly
the front door's commands (what the compiled front door execs for anything it leaves to
Python)."""

import importlib
import importlib.util
import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        return tomllib.load(handle)


def installkit():
    spec = importlib.util.spec_from_file_location("installkit",
                                                  os.path.join(ROOT, "tools", "installkit.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_command_once_with_a_main():
    data = pyproject()
    scripts = data["project"]["scripts"]
    front = data["tool"]["lxctools"]["front-door"]
    assert not set(scripts) & set(front), "a command in both tables: pip would write Python over C"
    commands = installkit().commands(ROOT)
    assert commands == {**scripts, **front}
    for tool, target in commands.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), tool


def test_every_cli_module_is_a_command():
    """A tool written under lxctools/cli/ and forgotten in pyproject.toml would never be
    installed."""
    named = {target.split(":")[0] for target in installkit().commands(ROOT).values()}
    named.add("lxctools.cli.template")  # templates/lxc-* run it, LXC's template protocol
    cli = os.path.join(ROOT, "lxctools", "cli")
    for entry in sorted(os.listdir(cli)):
        if not entry.endswith(".py") or entry.startswith("_"):
            continue
        module = "lxctools.cli." + entry[:-3]
        if hasattr(importlib.import_module(module), "main"):
            assert module in named, f"{module} has main() but no command in pyproject.toml"


def test_no_hand_written_launchers():
    assert not os.path.exists(os.path.join(ROOT, "bin"))
    assert "script-files" not in pyproject()["tool"].get("setuptools", {})


def test_as_runs_each_front_door_tool_by_its_name():
    """`lxctools --as lxc-info ARGS`: the Python tool lxc-info, its name in its messages."""
    from lxctools.cli.about import FRONT_DOOR
    for tool in FRONT_DOOR:
        done = subprocess.run([sys.executable, "-c", "import sys; from lxctools.cli.about "
                               "import main; sys.exit(main())", "--as", tool, "--bogus-option"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert f"usage: {tool} " in done.stderr and f"\n{tool}: " in done.stderr, done.stderr


def test_as_refuses_other_names():
    done = subprocess.run([sys.executable, "-c", "import sys; from lxctools.cli.about "
                           "import main; sys.exit(main())", "--as", "lxc-create", "-n", "x"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert "--as takes one of lxc-attach, lxc-info" in done.stderr


def test_old_launchers_are_removed_after_an_upgrade(tmp_path):
    """make-launchers.py --fix-installed: an older install's PREFIX/libexec/lxctools/lxc-info
    (which pip does not know) goes; anything else there stays."""
    spec = importlib.util.spec_from_file_location(
        "make_launchers", os.path.join(ROOT, "tools", "make-launchers.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    (tmp_path / "bin").mkdir()
    old = tmp_path / "libexec" / "lxctools"
    old.mkdir(parents=True)
    (old / "lxc-info").write_text('#!/usr/bin/python3 -S\n"""lxc-info: an lxctools launcher.\n')
    (old / "lxc-ls").write_text("#!/bin/sh\n# the admin's own\n")
    assert gen.remove_old_layout(str(tmp_path / "bin")) == [str(old / "lxc-info")]
    assert sorted(os.listdir(old)) == ["lxc-ls"]
    (old / "lxc-ls").unlink()
    assert gen.remove_old_layout(str(tmp_path / "bin")) == []
    assert not old.exists()
