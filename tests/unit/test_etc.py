"""etc/: the systemd units pass `systemd-analyze verify` once installed (tools/install-etc.py
puts our commands' directory in them), the OpenRC script is valid sh, the samples are read by
our own config readers, and an install never replaces an admin's config."""

import importlib.util
import io
import os
import shutil
import subprocess
import sys
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


def quiet():
    return open(os.devnull, "w")


@pytest.fixture
def installed(tmp_path):
    root = tmp_path / "root"
    kit = INSTALLER.install(str(root), SCRIPTS, "all", out=quiet())
    return root, [path for path, action in kit.actions.items() if action == "installed"]


def test_install_puts_every_file_and_fills_in_the_bindir(installed):
    root, done = installed
    expected = {"etc/systemd/system/lxc.service", "etc/systemd/system/lxc@.service",
                "etc/systemd/system/lxc-net.service",
                "etc/systemd/user/lxc.service", "etc/systemd/user/lxc@.service",
                "usr/libexec/lxctools/lxc-containers", "etc/init.d/lxc", "etc/init.d/lxc-net",
                "etc/conf.d/lxc",
                "etc/default/lxc", "etc/lxc/default.conf", "etc/lxc/lxc.conf",
                "etc/lxc/lxc-usernet", "etc/bash_completion.d/lxctools"}
    assert {os.path.relpath(p, root) for p in done} == expected
    for path in done:
        text = open(path).read()
        assert "@BINDIR@" not in text and "@LIBEXECDIR@" not in text, path
    assert f"ExecStart={SCRIPTS}/lxc-start -F -n %i" in (root / "etc/systemd/system/lxc@.service").read_text()
    assert f'bindir="{SCRIPTS}"' in (root / "usr/libexec/lxctools/lxc-containers").read_text()
    assert os.access(root / "etc/init.d/lxc", os.X_OK)
    assert os.access(root / "usr/libexec/lxctools/lxc-containers", os.X_OK)
    assert os.access(root / "etc/init.d/lxc-net", os.X_OK)
    net = (root / "etc/systemd/system/lxc-net.service").read_text()
    assert f"ExecStart={SCRIPTS}/lxc-net start" in net and f"ExecStop={SCRIPTS}/lxc-net stop" in net


def test_install_keeps_the_admins_configs(installed):
    root, _ = installed
    (root / "etc/lxc/default.conf").write_text("# mine\n")
    again = INSTALLER.install(str(root), SCRIPTS, "systemd", out=quiet(), completion=False)
    assert (root / "etc/lxc/default.conf").read_text() == "# mine\n"
    assert again.actions[str(root / "etc/lxc/default.conf")] == "kept"
    assert again.actions[str(root / "etc/systemd/system/lxc.service")] == "unchanged"
    assert str(root / "etc/init.d/lxc") not in again.actions  # --init systemd leaves OpenRC alone


def test_a_file_it_did_not_install_is_refused_without_force(installed):
    root, _ = installed
    unit = root / "etc/systemd/system/lxc.service"
    unit.write_text("# the admin's own\n")  # edited since: no longer what lxctools installed
    out = io.StringIO()
    kit = INSTALLER.install(str(root), SCRIPTS, "systemd", out=out, completion=False)
    assert unit.read_text() == "# the admin's own\n"
    assert kit.refused == [str(unit)]
    assert f"refused    {unit}: not installed by lxctools" in out.getvalue()
    forced = INSTALLER.install(str(root), SCRIPTS, "systemd", out=quiet(), completion=False,
                               force=True)
    assert forced.actions[str(unit)] == "replaced" and "lxc-containers" in unit.read_text()


def test_an_older_file_of_ours_is_replaced(installed):
    # what a previous install wrote (its hash in the manifest) is lxctools' to update
    root, _ = installed
    unit = root / "etc/systemd/system/lxc.service"
    unit.write_text("# an older lxctools unit\n")
    kit = INSTALLER.Installer(str(root), out=lambda line: None)
    kit.install("etc/systemd/system/lxc.service", b"# an older lxctools unit\n", 0o644)
    kit.save()
    again = INSTALLER.install(str(root), SCRIPTS, "systemd", out=quiet(), completion=False)
    assert again.actions[str(unit)] == "replaced" and not again.refused
    assert "lxc-containers start" in unit.read_text()


def fake_host(tmp_path, *dirs, files=()):
    root = tmp_path / "host"
    for d in dirs:
        (root / d).mkdir(parents=True)
    for path, text in files:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_systemd_host_gets_units_and_no_openrc_script(tmp_path):
    root = fake_host(tmp_path, "run/systemd/system")
    assert INSTALLER.detect_init(str(root)) == ["systemd"]
    kit = INSTALLER.install(str(root), SCRIPTS, "auto", out=quiet(), completion=False)
    assert kit.actions[str(root / "etc/systemd/system/lxc.service")] == "installed"
    assert not (root / "etc/init.d").exists() and not (root / "etc/conf.d").exists()


def test_openrc_host_gets_the_script_and_no_units(tmp_path):
    root = fake_host(tmp_path, "run/openrc")
    assert INSTALLER.detect_init(str(root)) == ["openrc"]
    kit = INSTALLER.install(str(root), SCRIPTS, "auto", out=quiet(), completion=False)
    assert kit.actions[str(root / "etc/init.d/lxc")] == "installed"
    assert kit.actions[str(root / "etc/conf.d/lxc")] == "installed"
    assert not (root / "etc/systemd").exists() and not (root / "usr/libexec").exists()


DEBIAN_INIT = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: lxc\n### END INIT INFO\n"


def test_sysvinit_host_keeps_debians_init_script(tmp_path):
    # Debian on sysvinit: no /run/systemd/system, no /run/openrc, LXC's /etc/init.d/lxc
    root = fake_host(tmp_path, "run", files=[("etc/init.d/lxc", DEBIAN_INIT)])
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools/install-etc.py"), "--root",
                           str(root), "--bindir", SCRIPTS, "--no-completion"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "no systemd or OpenRC runs here: no service file installed" in proc.stdout
    assert (root / "etc/init.d/lxc").read_text() == DEBIAN_INIT
    assert not (root / "etc/systemd").exists() and not (root / "usr/libexec").exists()
    assert f"installed  {root}/etc/lxc/default.conf" in proc.stdout  # the samples still go
    # asked for OpenRC anyway: Debian's script is not ours to replace, said, exit 1
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools/install-etc.py"), "--root",
                           str(root), "--bindir", SCRIPTS, "--no-completion", "--init", "openrc"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"refused    {root}/etc/init.d/lxc: not installed by lxctools" in proc.stdout
    assert "--force replaces them" in proc.stderr
    assert (root / "etc/init.d/lxc").read_text() == DEBIAN_INIT
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools/install-etc.py"), "--root",
                           str(root), "--bindir", SCRIPTS, "--no-completion", "--init", "openrc",
                           "--force"], capture_output=True, text=True)
    assert proc.returncode == 0 and f"replaced   {root}/etc/init.d/lxc" in proc.stdout
    assert (root / "etc/init.d/lxc").read_text().startswith("#!/sbin/openrc-run\n")


def test_dry_run_writes_nothing(tmp_path):
    root = fake_host(tmp_path, "run/systemd/system")
    out = io.StringIO()
    INSTALLER.install(str(root), SCRIPTS, "auto", out=out, completion=False, dry_run=True)
    assert f"would install {root}/etc/systemd/system/lxc.service" in out.getvalue()
    assert sorted(os.listdir(root)) == ["run"]


def _verify(*args, env=None):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing (Debian's systemd package provides it; it is "
                    "not installed here because it could replace the running init)")
    return subprocess.run([analyze, *args], capture_output=True, text=True, env=env)


@pytest.fixture
def verifiable(tmp_path):
    """The units rendered as install-etc renders them, naming an lxc-containers that exists
    on this host (the installed ones name /usr/libexec/lxctools, not this test's to make)."""
    libexec = tmp_path / "libexec"
    libexec.mkdir()
    (libexec / "lxc-containers").write_text(INSTALLER.render("lxc-containers", SCRIPTS))
    (libexec / "lxc-containers").chmod(0o755)
    units = tmp_path / "units"
    for kind in ("system", "user"):
        (units / kind).mkdir(parents=True)
        for unit in ("lxc.service", "lxc@.service") + (("lxc-net.service",) if kind == "system" else ()):
            (units / kind / unit).write_text(
                INSTALLER.render(f"systemd/{kind}/{unit}", SCRIPTS, str(libexec)))
    return units


def test_system_units_verify(verifiable):
    for unit in ("lxc.service", "lxc@.service", "lxc-net.service"):
        proc = _verify("verify", str(verifiable / "system" / unit))
        assert proc.returncode == 0 and proc.stderr == "", (unit, proc.stderr)


def test_user_units_verify(verifiable, tmp_path):
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    for unit in ("lxc.service", "lxc@.service"):
        proc = _verify("--user", "verify", str(verifiable / "user" / unit), env=env)
        assert proc.returncode == 0 and proc.stderr == "", (unit, proc.stderr)
        assert "Delegate=yes" in (verifiable / "user" / unit).read_text()


def test_verify_catches_a_unit_whose_command_is_missing(tmp_path):
    # the control: verify must fail when ExecStart names nothing, or the tests above prove little
    unit = tmp_path / "lxc.service"
    unit.write_text(INSTALLER.render("systemd/system/lxc.service", str(tmp_path / "nowhere"),
                                     str(tmp_path / "nowhere")))
    proc = _verify("verify", str(unit))
    assert proc.returncode != 0 and "lxc-containers" in proc.stderr


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
