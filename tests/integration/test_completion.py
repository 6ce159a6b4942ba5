"""Shell completion as bash drives it: our console scripts run with _ARGCOMPLETE=1, COMP_LINE
and COMP_POINT set, the candidates read back from _ARGCOMPLETE_STDOUT_FILENAME (argcomplete's
stand-in for fd 8), separated by its IFS (vertical tab)."""

import os
import subprocess

from conftest import ours
from lxcenv import World, world  # noqa: F401  (fixture)


def complete(world, line, point=None):
    """The words bash would offer for LINE with the cursor at POINT (default: the end)."""
    out = os.path.join(world.root, "completions")
    env = dict(world.env, _ARGCOMPLETE="1", COMP_LINE=line,
               COMP_POINT=str(len(line) if point is None else point), COMP_TYPE="9",
               _ARGCOMPLETE_IFS="\013", _ARGCOMPLETE_STDOUT_FILENAME=out)
    env.pop("_ARGCOMPLETE_SUPPRESS_SPACE", None)
    tool = line.split()[0]
    proc = subprocess.run([ours(tool)], capture_output=True, text=True, env=env, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    with open(out) as handle:
        words = handle.read()
    os.unlink(out)
    return sorted(w.strip() for w in words.split("\013") if w.strip())


def test_running_only_for_attach_console_stop_all_for_info(world):
    for name in ("doc-run", "doc-idle", "doc-run2"):
        created = world.ours("lxc-create", "-n", name, "-t", "busybox")
        assert created.returncode == 0, created.stderr
    try:
        for name in ("doc-run", "doc-run2"):
            started = world.ours("lxc-start", "-n", name)
            assert started.returncode == 0, started.stderr
        lp = world.lp
        for tool in ("lxc-attach", "lxc-console", "lxc-stop"):
            assert complete(world, f"{tool} -P {lp} -n ") == ["doc-run", "doc-run2"], tool
            assert complete(world, f"{tool} -P {lp} -n doc-run2") == ["doc-run2"], tool
            assert complete(world, f"{tool} -P {lp} -n doc-i") == [], tool
        assert complete(world, f"lxc-info -P {lp} -n ") == ["doc-idle", "doc-run", "doc-run2"]
        assert complete(world, f"lxc-start -P {lp} -n doc-i") == ["doc-idle"]
        # the cursor in the middle of the line: only the word up to it counts
        line = f"lxc-attach -P {lp} -n doc -- true"
        assert complete(world, line, point=line.index(" --")) == ["doc-run", "doc-run2"]
        stopped = world.ours("lxc-stop", "-n", "doc-run2", "-k")
        assert stopped.returncode == 0, stopped.stderr
        world.ours("lxc-wait", "-n", "doc-run2", "-s", "STOPPED", "-t", "30")
        assert complete(world, f"lxc-attach -P {lp} -n ") == ["doc-run"]
    finally:
        for name in ("doc-run", "doc-run2"):
            world.ours("lxc-stop", "-n", name, "-k")


def test_config_keys_and_templates(tmp_path):
    w = World(tmp_path)
    keys = complete(w, "lxc-info -n c1 -c lxc.ne")
    assert "lxc.net.0.type" in keys and "lxc.net.0.ipv4.address" in keys
    assert all(k.startswith("lxc.net.") for k in keys)
    assert complete(w, "lxc-info -n c1 -c lxc.net.2.li") == ["lxc.net.2.link"]
    assert complete(w, "lxc-start -n c1 -s lxc.uts.na") == ["lxc.uts.name="]
    assert "busybox" in complete(w, "lxc-create -n c1 -t ")
    assert complete(w, "lxc-create -n c1 -t busy") == ["busybox"]
    assert "--lxcpath" in complete(w, "lxc-attach --lx")


def test_bash_with_the_registered_function(tmp_path):
    """What the docs tell users to run: register-python-argcomplete's bash function, called
    as bash's completion would call it (candidates come back on fd 8)."""
    import sys
    w = World(tmp_path)
    script = subprocess.run([sys.executable, "-m", "argcomplete.scripts.register_python_argcomplete",
                             "--shell", "bash", "lxc-info"], capture_output=True, text=True, check=True)
    registration = tmp_path / "lxc-info.bash"
    registration.write_text(script.stdout)
    line = "lxc-info -n c1 -c lxc.uts"
    drive = (f'source {registration}; COMP_LINE="{line}"; COMP_POINT={len(line)}; COMP_TYPE=9; '
             f'_python_argcomplete {ours("lxc-info")}; printf "<%s>\\n" "${{COMPREPLY[@]}}"')
    proc = subprocess.run(["bash", "-c", drive], capture_output=True, text=True, env=w.env,
                          timeout=60)
    assert proc.stdout == "<lxc.uts.name >\n", proc.stderr


def test_installed_completion_file_completes_every_tool(tmp_path):
    """tools/install-etc.py's /etc/bash_completion.d/lxctools, sourced by bash."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "install_etc", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "tools/install-etc.py"))
    installer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installer)
    w = World(tmp_path)
    sourced = tmp_path / "lxctools.bash"
    sourced.write_text(installer.completion_script())
    for tool in installer.launchers():
        probe = subprocess.run(["bash", "-c", f"source {sourced}; complete -p {tool}"],
                               capture_output=True, text=True)
        assert probe.returncode == 0 and "_python_argcomplete" in probe.stdout, tool
    line = "lxc-stop -n c1 --ti"
    drive = (f'source {sourced}; COMP_LINE="{line}"; COMP_POINT={len(line)}; COMP_TYPE=9; '
             f'_python_argcomplete {ours("lxc-stop")}; printf "<%s>\\n" "${{COMPREPLY[@]}}"')
    proc = subprocess.run(["bash", "-c", drive], capture_output=True, text=True, env=w.env,
                          timeout=60)
    assert proc.stdout == "<--timeout >\n", proc.stderr
