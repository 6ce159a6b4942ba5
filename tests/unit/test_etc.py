"""etc/: the systemd units pass `systemd-analyze verify` once installed (tools/install-etc.py
puts our commands' directory in them), the OpenRC script is valid sh, the samples are read by
our own config readers, and an install never replaces an admin's config."""

import importlib.util
import os
import shutil
import subprocess
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = sysconfig.get_path("scripts")


def load_installer():
    spec = importlib.util.spec_from_file_location("install_etc", os.path.join(ROOT, "tools/install-etc.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


INSTALLER = load_installer()


@pytest.fixture
def installed(tmp_path):
    root = tmp_path / "root"
    done = INSTALLER.install(str(root), SCRIPTS, "all", out=open(os.devnull, "w"))
    return root, done


def test_install_puts_every_file_and_fills_in_the_bindir(installed):
    root, done = installed
    expected = {"etc/systemd/system/lxc.service", "etc/systemd/system/lxc@.service",
                "etc/systemd/user/lxc.service", "etc/systemd/user/lxc@.service",
                "etc/init.d/lxc", "etc/default/lxc", "etc/lxc/default.conf", "etc/lxc/lxc.conf",
                "etc/lxc/lxc-usernet", "etc/bash_completion.d/lxctools"}
    assert {os.path.relpath(p, root) for p in done} == expected
    for path in done:
        text = open(path).read()
        assert "@BINDIR@" not in text, path
    assert f"ExecStart={SCRIPTS}/lxc-start -F -n %i" in (root / "etc/systemd/system/lxc@.service").read_text()
    assert os.access(root / "etc/init.d/lxc", os.X_OK)


def test_install_keeps_the_admins_configs(installed):
    root, _ = installed
    (root / "etc/lxc/default.conf").write_text("# mine\n")
    (root / "etc/systemd/system/lxc.service").write_text("stale\n")
    again = INSTALLER.install(str(root), SCRIPTS, "systemd", out=open(os.devnull, "w"),
                              completion=False)
    assert (root / "etc/lxc/default.conf").read_text() == "# mine\n"
    assert str(root / "etc/lxc/default.conf") not in again
    assert "lxc-autostart" in (root / "etc/systemd/system/lxc.service").read_text()
    assert str(root / "etc/init.d/lxc") not in again  # --init systemd leaves OpenRC alone


def _verify(*args, env=None):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing (Debian's systemd package provides it; it is "
                    "not installed here because it could replace the running init)")
    return subprocess.run([analyze, *args], capture_output=True, text=True, env=env)


def test_system_units_verify(installed):
    root, _ = installed
    for unit in ("lxc.service", "lxc@.service"):
        proc = _verify("verify", str(root / "etc/systemd/system" / unit))
        assert proc.returncode == 0 and proc.stderr == "", (unit, proc.stderr)


def test_user_units_verify(installed, tmp_path):
    root, _ = installed
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    for unit in ("lxc.service", "lxc@.service"):
        proc = _verify("--user", "verify", str(root / "etc/systemd/user" / unit), env=env)
        assert proc.returncode == 0 and proc.stderr == "", (unit, proc.stderr)
        assert "Delegate=yes" in (root / "etc/systemd/user" / unit).read_text()


def test_verify_catches_a_unit_whose_command_is_missing(tmp_path):
    # the control: verify must fail when ExecStart names nothing, or the tests above prove little
    unit = tmp_path / "lxc.service"
    unit.write_text(INSTALLER.render("systemd/system/lxc.service", str(tmp_path / "nowhere")))
    proc = _verify("verify", str(unit))
    assert proc.returncode != 0 and "lxc-autostart" in proc.stderr


def test_openrc_script_is_valid_sh(installed):
    root, _ = installed
    for shell in ("sh", "bash", "dash"):
        if shutil.which(shell):
            proc = subprocess.run([shell, "-n", str(root / "etc/init.d/lxc")], capture_output=True,
                                  text=True)
            assert proc.returncode == 0, (shell, proc.stderr)
    assert (root / "etc/init.d/lxc").read_text().startswith("#!/sbin/openrc-run\n")


def test_samples_are_read_by_our_readers():
    from lxctools.config.parser import load

    conf = load(os.path.join(ROOT, "etc/lxc/default.conf"), warn=lambda *a, **k: None)
    assert conf.get("lxc.net.0.type") == "empty"
    from lxctools.paths import GLOBAL_DEFAULTS, read_system_conf_value
    with open(os.path.join(ROOT, "etc/lxc/lxc.conf")) as handle:
        lines = handle.readlines()
    # every item is a commented default
    assert [read_system_conf_value(lines, key) for key in GLOBAL_DEFAULTS] == \
        [None] * len(GLOBAL_DEFAULTS)
