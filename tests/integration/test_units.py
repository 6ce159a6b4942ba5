"""The commands the service files run, run as their init would run them: lxc@.service's
ExecStart/ExecStop (%i expanded, stdin /dev/null, no terminal), lxc.service's (lxc-containers
start|stop), and the OpenRC script's start/status/stop both as `lxc` and through a
`lxc.NAME` symlink, with OpenRC's ebegin/eend/einfo/eerror as small shell functions (the
script's logic, fast; tests/integration/test_openrc.py runs it under the real openrc-run)."""

import os
import re
import shlex
import subprocess
import sysconfig

import importlib.util

from lxcenv import World, world  # noqa: F401  (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = sysconfig.get_path("scripts")


def installer():
    spec = importlib.util.spec_from_file_location("install_etc", os.path.join(ROOT, "tools/install-etc.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unit_commands(source, instance=None, libexecdir="/usr/libexec/lxctools"):
    """{ExecStart: argv, ...} of a unit from etc/, as systemd would expand them."""
    text = installer().render(source, SCRIPTS, libexecdir)
    env = {}
    for line in text.splitlines():
        if line.startswith("Environment="):
            for word in shlex.split(line[len("Environment="):]):
                key, _, value = word.partition("=")
                env[key] = value
    commands = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key in ("ExecStart", "ExecStop"):
            value = value.replace("%i", instance or "")
            value = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], value)
            commands[key] = [word.replace("$$", "$") for word in shlex.split(value)]
    return commands


def private_world(world):
    """LXC_GLOBAL_CONF naming our lxcpath: the units do not pass -P."""
    with open(world.lxc_conf, "a") as handle:
        handle.write(f"lxc.lxcpath = {world.lp}\n")
    return world


def state(world, name):
    return world.ours("lxc-info", "-n", name, "-sH").stdout.strip()


def test_container_unit_commands(world):
    w = private_world(world)
    assert w.ours("lxc-create", "-n", "doc-unit", "-t", "busybox").returncode == 0
    cmds = unit_commands("systemd/system/lxc@.service", "doc-unit")
    assert cmds["ExecStart"] == [f"{SCRIPTS}/lxc-start", "-F", "-n", "doc-unit"]
    # ExecStop stops only while the main process lives (systemd sets $MAINPID then)
    idle = subprocess.run(cmds["ExecStop"], capture_output=True, text=True, env=w.env)
    assert idle.returncode == 0 and idle.stderr == ""
    main = subprocess.Popen(cmds["ExecStart"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=w.env, start_new_session=True)
    try:
        w.ours("lxc-wait", "-n", "doc-unit", "-s", "RUNNING", "-t", "30")
        assert state(w, "doc-unit") == "RUNNING"
        stop = subprocess.run(cmds["ExecStop"], capture_output=True, text=True, timeout=150,
                              env=dict(w.env, MAINPID=str(main.pid)))
        assert stop.returncode == 0, stop.stderr
        # the unit's main process ends with the container, cleanly: systemd sees the unit stop
        assert main.wait(timeout=60) == 0
        assert state(w, "doc-unit") == "STOPPED"
    finally:
        if main.poll() is None:
            w.ours("lxc-stop", "-n", "doc-unit", "-k")
            main.wait(timeout=30)


def test_autostart_unit_commands(world, tmp_path):
    w = private_world(world)
    # lxc.service runs lxc-containers (tests/integration/test_service_defaults.py: each of
    # /etc/default/lxc's settings); here as the unit names it, from where it was put
    libexec = tmp_path / "libexec"
    libexec.mkdir()
    (libexec / "lxc-containers").write_text(installer().render("lxc-containers", SCRIPTS))
    (libexec / "lxc-containers").chmod(0o755)
    for name, extra in (("doc-boot", "lxc.start.auto = 1\nlxc.group = onboot\n"),
                        ("doc-plain", "lxc.start.auto = 1\n"),
                        ("doc-web", "lxc.start.auto = 1\nlxc.group = web\n")):
        assert w.ours("lxc-create", "-n", name, "-t", "busybox").returncode == 0
        with open(os.path.join(w.cdir(name), "config"), "a") as handle:
            handle.write(extra)
    cmds = unit_commands("systemd/system/lxc.service", libexecdir=str(libexec))
    assert cmds["ExecStart"] == [str(libexec / "lxc-containers"), "start"]
    try:
        start = subprocess.run(cmds["ExecStart"], capture_output=True, text=True, env=w.env, timeout=120)
        assert start.returncode == 0, start.stderr
        assert [state(w, n) for n in ("doc-boot", "doc-plain", "doc-web")] == [
            "RUNNING", "RUNNING", "STOPPED"]  # onboot, then the ungrouped; not web
        assert w.ours("lxc-start", "-n", "doc-web").returncode == 0
        stop = subprocess.run(cmds["ExecStop"], capture_output=True, text=True, env=w.env, timeout=120)
        assert stop.returncode == 0, stop.stderr
        assert [state(w, n) for n in ("doc-boot", "doc-plain", "doc-web")] == ["STOPPED"] * 3
    finally:
        for name in ("doc-boot", "doc-plain", "doc-web"):
            w.ours("lxc-stop", "-n", name, "-k")


OPENRC_STUBS = """
ebegin() { echo "* $*"; }
eend() { echo "eend $1"; return "$1"; }
einfo() { echo "info $*"; }
eerror() { echo "error $*"; }
default_status() { echo "default status"; }
"""


def openrc(w, script, svcname, action):
    """Run ACTION of the OpenRC script as openrc-run would: RC_SVCNAME from the link's name."""
    drive = f'{OPENRC_STUBS}\nRC_SVCNAME={svcname}\n. "{script}"\n{action}'
    return subprocess.run(["sh", "-c", drive], capture_output=True, text=True, env=w.env, timeout=150)


def test_openrc_script_one_container_and_all(world, tmp_path):
    w = private_world(world)
    root = tmp_path / "sysroot"
    installer().install(str(root), SCRIPTS, "openrc", out=open(os.devnull, "w"))
    initd = root / "etc/init.d"
    os.symlink("lxc", initd / "lxc.doc-rc")  # the Gentoo way: ln -s lxc /etc/init.d/lxc.NAME
    for name, extra in (("doc-rc", ""), ("doc-rcauto", "lxc.start.auto = 1\n")):
        assert w.ours("lxc-create", "-n", name, "-t", "busybox").returncode == 0
        with open(os.path.join(w.cdir(name), "config"), "a") as handle:
            handle.write(extra)
    one = str(initd / "lxc.doc-rc")
    try:
        stopped = openrc(w, one, "lxc.doc-rc", "status")
        assert stopped.returncode == 3 and "stopped (STOPPED)" in stopped.stdout
        started = openrc(w, one, "lxc.doc-rc", "start")
        assert started.returncode == 0 and "eend 0" in started.stdout, started.stdout + started.stderr
        assert state(w, "doc-rc") == "RUNNING" and state(w, "doc-rcauto") == "STOPPED"
        status = openrc(w, one, "lxc.doc-rc", "status")
        assert status.returncode == 0 and "started (RUNNING)" in status.stdout
        assert openrc(w, one, "lxc.doc-rc", "stop").returncode == 0
        assert state(w, "doc-rc") == "STOPPED"
        assert openrc(w, one, "lxc.doc-rc", "stop").returncode == 0  # stopping twice is fine
        missing = openrc(w, one, "lxc.doc-none", "status")
        assert missing.returncode == 3 and "no container doc-none" in missing.stdout

        every = str(initd / "lxc")
        assert openrc(w, every, "lxc", "start").returncode == 0
        assert state(w, "doc-rcauto") == "RUNNING" and state(w, "doc-rc") == "STOPPED"
        assert openrc(w, one, "lxc.doc-rc", "start").returncode == 0
        assert openrc(w, every, "lxc", "stop").returncode == 0
        assert state(w, "doc-rcauto") == "STOPPED" and state(w, "doc-rc") == "STOPPED"
    finally:
        for name in ("doc-rc", "doc-rcauto"):
            w.ours("lxc-stop", "-n", name, "-k")
