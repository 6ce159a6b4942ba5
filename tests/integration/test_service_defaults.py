"""/etc/default/lxc (and OpenRC's /etc/conf.d/lxc) honoured as LXC's service honours it:
LXC_AUTO, BOOTGROUPS, OPTIONS, SHUTDOWNDELAY, STOPOPTS. This host runs no systemd, so the
command lxc.service runs -- lxc-containers start|stop, as tools/install-etc.py installs it
into a temporary root -- is run directly on real containers, and the OpenRC script's
start/stop as openrc-run would run them after sourcing conf.d (tests/vm runs the units under
a real systemd). The lxc-autostart the scripts call is a wrapper that records its argv and
then runs ours, so the exact options are checked as well as what they did."""

import importlib.util
import os
import subprocess
import sysconfig

import pytest

from lxcenv import World, world  # noqa: F401  (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = sysconfig.get_path("scripts")
# name -> the lines it adds to its config (cgroup names are shared by every lxcpath: prefixed)
CONTAINERS = {"sd-boot": "lxc.start.auto = 1\nlxc.group = onboot\n",
              "sd-plain": "lxc.start.auto = 1\n",
              "sd-web": "lxc.start.auto = 1\nlxc.group = web\n",
              "sd-manual": ""}


def installer():
    spec = importlib.util.spec_from_file_location("install_etc",
                                                  os.path.join(ROOT, "tools/install-etc.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def host(world, tmp_path):
    """(world, sysroot, argv log): containers made, the service files installed under sysroot
    with a bindir whose lxc-autostart records its arguments."""
    with open(world.lxc_conf, "a") as handle:  # the units pass no -P: the lxcpath is lxc.conf's
        handle.write(f"lxc.lxcpath = {world.lp}\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "argv.log"
    wrapper = bindir / "lxc-autostart"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {SCRIPTS}/lxc-autostart "$@"\n')
    wrapper.chmod(0o755)
    root = tmp_path / "sysroot"
    kit = installer().install(str(root), str(bindir), "all", out=open(os.devnull, "w"),
                              completion=False)
    assert not kit.refused
    for name, extra in CONTAINERS.items():
        assert world.ours("lxc-create", "-n", name, "-t", "busybox").returncode == 0
        with open(os.path.join(world.cdir(name), "config"), "a") as handle:
            handle.write(extra)
    yield world, root, log
    for name in CONTAINERS:
        world.ours("lxc-stop", "-n", name, "-k")


def states(w):
    return {name: w.ours("lxc-info", "-n", name, "-sH").stdout.strip() for name in CONTAINERS}


def running(w):
    return {name for name, state in states(w).items() if state == "RUNNING"}


def calls(log):
    lines = log.read_text().splitlines() if log.exists() else []
    log.write_text("")
    return lines


def containers(w, root, tmp_path, action, defaults):
    """lxc-containers ACTION as lxc.service runs it, DEFAULTS the /etc/default/lxc text.
    LXC_DEFAULTS (read after /etc/default/lxc, as the user unit reads ~/.config/lxc/default)
    carries it: this host's own /etc/default/lxc is not the test's to write."""
    path = tmp_path / "default-lxc"
    path.write_text(defaults)
    return subprocess.run([str(root / "usr/libexec/lxctools/lxc-containers"), action],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
                          env=dict(w.env, LXC_DEFAULTS=str(path)))


ALL_DEFAULTS = ('LXC_AUTO="true"\nBOOTGROUPS="onboot,"\nSHUTDOWNDELAY=5\nOPTIONS=\n'
                'STOPOPTS="-a -A -s"\nUSE_LXC_BRIDGE="false"\n')


def test_installed_unit_runs_lxc_containers_which_reads_etc_default_lxc(host):
    _, root, _ = host
    unit = (root / "etc/systemd/system/lxc.service").read_text()
    helper = root / "usr/libexec/lxctools/lxc-containers"
    assert "ExecStart=/usr/libexec/lxctools/lxc-containers start" in unit.splitlines()
    assert "ExecStop=/usr/libexec/lxctools/lxc-containers stop" in unit.splitlines()
    assert os.access(helper, os.X_OK)
    text = helper.read_text()
    assert ". /etc/default/lxc" in text and "@BINDIR@" not in text
    # the sample installed at /etc/default/lxc is exactly the defaults the helper starts from
    sample = (root / "etc/default/lxc").read_text()
    for line in ('LXC_AUTO="true"', 'BOOTGROUPS="onboot,"', "SHUTDOWNDELAY=5", "OPTIONS=",
                 'STOPOPTS="-a -A -s"'):
        assert line in sample.splitlines() and line in text.splitlines(), line


def test_defaults_start_onboot_then_ungrouped_and_stop_everything(host, tmp_path):
    w, root, log = host
    start = containers(w, root, tmp_path, "start", ALL_DEFAULTS)
    assert start.returncode == 0, start.stderr
    assert calls(log) == ["-g onboot,"]
    assert running(w) == {"sd-boot", "sd-plain"}  # not web (another group), not manual
    assert w.ours("lxc-start", "-n", "sd-manual").returncode == 0
    stop = containers(w, root, tmp_path, "stop", ALL_DEFAULTS)
    assert stop.returncode == 0, stop.stderr
    assert calls(log) == ["-a -A -s -t 5"]
    assert running(w) == set()  # -A: the one started by hand too


def test_lxc_auto_false_starts_nothing(host, tmp_path):
    w, root, log = host
    start = containers(w, root, tmp_path, "start", ALL_DEFAULTS + 'LXC_AUTO="false"\n')
    assert start.returncode == 0, start.stderr
    assert calls(log) == [] and running(w) == set()


def test_bootgroups_options_stopopts_and_shutdowndelay(host, tmp_path):
    w, root, log = host
    web = ALL_DEFAULTS + 'BOOTGROUPS="web"\nSTOPOPTS="-k -g web"\nSHUTDOWNDELAY=\n'
    assert containers(w, root, tmp_path, "start", web).returncode == 0
    assert calls(log) == ["-g web"] and running(w) == {"sd-web"}
    assert w.ours("lxc-start", "-n", "sd-boot").returncode == 0
    assert containers(w, root, tmp_path, "stop", web).returncode == 0
    assert calls(log) == ["-k -g web"]  # no -t when SHUTDOWNDELAY is empty
    assert running(w) == {"sd-boot"}  # STOPOPTS chose the web group alone

    every = ALL_DEFAULTS + 'BOOTGROUPS=""\nOPTIONS="-a"\nSHUTDOWNDELAY=2\nSTOPOPTS="-a -k"\n'
    assert containers(w, root, tmp_path, "start", every).returncode == 0
    assert calls(log) == ["-a"]  # no -g when BOOTGROUPS is empty; OPTIONS as words
    assert running(w) == {"sd-boot", "sd-plain", "sd-web"}  # every autostart one, any group
    assert containers(w, root, tmp_path, "stop", every).returncode == 0
    assert calls(log) == ["-a -k -t 2"] and running(w) == set()


def test_lxc_containers_usage_error(host, tmp_path):
    w, root, log = host
    bad = containers(w, root, tmp_path, "bogus", ALL_DEFAULTS)
    assert bad.returncode == 2 and "usage" in bad.stderr and calls(log) == []


OPENRC_STUBS = """
ebegin() { echo "* $*"; }
eend() { echo "eend $1"; return "$1"; }
einfo() { echo "info $*"; }
eerror() { echo "error $*"; }
"""


def openrc(w, root, action, confd):
    """/etc/init.d/lxc ACTION as openrc-run runs it: /etc/conf.d/lxc sourced first (here the
    installed sample with CONFD appended), then the script's function."""
    conf = root / "etc/conf.d/lxc"
    text = conf.read_text()
    conf.write_text(text + confd)
    try:
        drive = (f'{OPENRC_STUBS}\nRC_SVCNAME=lxc\n. "{conf}"\n'
                 f'. "{root / "etc/init.d/lxc"}"\n{action}')
        return subprocess.run(["sh", "-c", drive], capture_output=True, text=True,
                              env=w.env, timeout=180)
    finally:
        conf.write_text(text)


def test_openrc_conf_d_names_as_etc_default_lxc(host):
    w, root, log = host
    assert "#LXC_AUTO=" in (root / "etc/conf.d/lxc").read_text()
    off = openrc(w, root, "start", 'LXC_AUTO="false"\n')
    assert off.returncode == 0 and calls(log) == [] and running(w) == set(), off.stdout
    plain = openrc(w, root, "start", "")
    assert plain.returncode == 0 and calls(log) == ["-g onboot,"], plain.stdout + plain.stderr
    assert running(w) == {"sd-boot", "sd-plain"}
    stop = openrc(w, root, "stop", "")
    assert stop.returncode == 0 and calls(log) == ["-a -A -s -t 5"] and running(w) == set()

    web = 'BOOTGROUPS="web"\nOPTIONS=""\nSTOPOPTS="-k -g web"\nSHUTDOWNDELAY=""\n'
    assert openrc(w, root, "start", web).returncode == 0
    assert calls(log) == ["-g web"] and running(w) == {"sd-web"}
    assert openrc(w, root, "stop", web).returncode == 0
    assert calls(log) == ["-k -g web"] and running(w) == set()
    every = 'BOOTGROUPS=""\nOPTIONS="-a"\n'
    assert openrc(w, root, "start", every).returncode == 0
    assert calls(log) == ["-a"] and running(w) == {"sd-boot", "sd-plain", "sd-web"}
    assert openrc(w, root, "stop", "").returncode == 0 and running(w) == set()
