"""README's set-up into a fresh venv, as a user runs it (`PYTHON=VENV/bin/python ./setup
install`, the line taken from README), then what a new user tries next: `man -w lxc-start`
(and the config pages), `import lxc` in that environment giving lxctools' drop-in, and the
completion in a new shell -- a login shell and a ~/.bashrc one, with bash-completion as
Debian has it. Then `./setup uninstall` (README's line too) takes it all away.

./setup writes system places (/etc/bash_completion.d, LXC's template directory, the install
manifest under /var/lib/lxctools): it runs in a private mount namespace where /etc,
/var/lib and /usr/share/lxc/templates are overlays whose writes land in the test's
directory, so this host's files are never touched."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import require_root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OVERLAID = ("/etc", "/var/lib", "/usr/share/lxc/templates")


def readme_command(pattern):
    """The first indented command line of README matching PATTERN (a regex)."""
    with open(os.path.join(ROOT, "README.md")) as handle:
        for line in handle:
            if line.startswith("    ") and re.search(pattern, line):
                return line.split("#", 1)[0].strip()
    raise AssertionError(f"README has no command line matching {pattern!r}")


def in_private_overlays(tmp_path, points, steps, setup_lines):
    """Run SETUP_LINES then each (label, command) of STEPS in a private mount namespace where
    POINTS are overlays writing into TMP_PATH; {label: (exit code, output on one line)}."""
    mounts = []
    for i, point in enumerate(points):
        upper, work = tmp_path / f"upper{i}", tmp_path / f"work{i}"
        upper.mkdir()
        work.mkdir()
        mounts.append(f"mount -t overlay overlay -o lowerdir={point},upperdir={upper},"
                      f"workdir={work} {point} || exit 90")
    script = [*mounts, f"cd {ROOT}", *setup_lines]
    script += [f"out=$({cmd} 2>&1); echo \"@@{label} $? $(echo $out)\"" for label, cmd in steps]
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           "\n".join(script)], capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    results = {}
    for row in proc.stdout.splitlines():
        if row.startswith("@@"):
            label, code, *words = row[2:].split(" ")
            results[label] = (int(code), " ".join(words).strip())
    return proc, results


def test_readme_names_the_commands():
    assert readme_command(r"\./setup install") == "./setup install"
    assert readme_command(r"\./setup uninstall") == "./setup uninstall"
    assert readme_command(r"PYTHON=\S+ \./setup install") == \
        "PYTHON=/path/to/venv/bin/python ./setup install"


def test_setup_install_into_a_fresh_venv_then_uninstall(tmp_path):
    require_root()
    for tool in ("man", "unshare"):
        assert shutil.which(tool), f"{tool} is missing (./setup installs man-db)"
    assert os.path.exists("/usr/share/bash-completion/bash_completion"), \
        "bash-completion is missing: ./setup install installs it (APT_RUNTIME)"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin/python"
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy("/etc/skel/.bashrc", home / ".bashrc")  # Debian's: it loads bash-completion
    install = readme_command(r"PYTHON=\S+ \./setup install").replace(
        "/path/to/venv/bin/python", str(python))
    uninstall = f"PYTHON={python} " + readme_command(r"\./setup uninstall")
    path = f"{venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    # a new shell: no MANPATH, PATH as the user's profile has it with the venv first
    shell_env = f"env -i HOME={home} TERM=dumb PATH={path}"
    line = "lxc-stop -n c1 --ti"
    completes = (f'COMP_LINE="{line}"; COMP_POINT={len(line)}; COMP_TYPE=9; '
                 f'_python_argcomplete lxc-stop; printf "<%s>" "${{COMPREPLY[@]}}"; echo')
    checks = [
        ("man-start", f"{shell_env} man -w lxc-start"),
        ("man-conf", f"{shell_env} man -w lxc.container.conf"),
        ("man-system", f"{shell_env} man -w lxc.system.conf"),
        ("man-overview", f"{shell_env} man -w lxc"),
        ("man-usernet", f"{shell_env} man -w lxc-usernet"),
        ("import", f"{shell_env} python3 -c 'import lxc, lxctools; print(lxc.__file__, "
                   f"lxc.Container.__module__)'"),
        # /etc/profile resets PATH for a login shell: the user's ~/.profile would add the venv
        ("login-shell", f"{shell_env} bash --login -i -c 'complete -p lxc-start; "
                        f"PATH={venv}/bin:$PATH; {completes}'"),
        ("rc-shell", f"{shell_env} bash -i -c 'complete -p lxc-attach; {completes}'"),
    ]
    steps = [("install", install), *checks, ("uninstall", uninstall),
             *((f"after-{label}", cmd) for label, cmd in checks),
             ("files", "ls /etc/bash_completion.d")]
    proc, results = in_private_overlays(tmp_path, OVERLAID, steps, [])
    report = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0 and results["install"][0] == 0, report
    assert f"lxctools installed into the Python environment {venv}:" in results["install"][1]
    man = f"{venv}/share/man"
    assert results["man-start"] == (0, f"{man}/man1/lxc-start.1"), report
    assert results["man-conf"] == (0, f"{man}/man5/lxc.container.conf.5"), report
    assert results["man-system"] == (0, f"{man}/man5/lxc.system.conf.5"), report
    assert results["man-overview"] == (0, f"{man}/man7/lxc.7"), report
    assert results["man-usernet"] == (0, f"{man}/man5/lxc-usernet.5"), report
    assert results["import"] == (0, f"{venv}/lib/python3.{sys.version_info.minor}/site-packages/"
                                    "lxc/__init__.py lxctools.compat.lxc"), report
    for shell in ("login-shell", "rc-shell"):
        code, out = results[shell]
        assert code == 0 and "-F _python_argcomplete" in out, (shell, report)
        assert out.endswith("<--timeout >"), (shell, report)

    assert results["uninstall"][0] == 0, report
    assert not (venv / "bin/lxc-start").exists()
    assert not list((venv / "share/man").glob("man*/*")), report
    after = {label: results[f"after-{label}"] for label, _ in checks}
    assert not after["man-start"][1].startswith(man), report  # Debian's page, or none
    assert after["import"][0] != 0, report
    for shell in ("login-shell", "rc-shell"):
        assert "no completion specification" in after[shell][1], (shell, report)
    assert "lxctools" not in results["files"][1].split(), report


def test_setup_install_on_debians_python_makes_opt_lxctools(tmp_path):
    """No PYTHON=, and python3 is Debian's /usr/bin/python3 (externally managed): the venv
    /opt/lxctools, its commands linked into /usr/local/bin, the pages into /usr/local/share/man;
    uninstall removes the venv it made and the links."""
    require_root()
    if not os.path.exists("/usr/lib/python3/dist-packages") or not any(
            os.path.exists(f"/usr/lib/python3.{m}/EXTERNALLY-MANAGED") for m in range(9, 15)):
        pytest.skip("no Debian python3 here")
    if os.path.exists("/opt/lxctools"):
        pytest.skip("/opt/lxctools exists on this host: the test would hide it")
    home = tmp_path / "home"
    home.mkdir()
    shell_env = f"env -i HOME={home} TERM=dumb PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    checks = [("which", f"{shell_env} sh -c 'command -v lxc-start; readlink /usr/local/bin/lxc-start'"),
              ("version", f"{shell_env} lxctools --version"),
              ("man", f"{shell_env} man -w lxc-start"),
              ("import", f"{shell_env} /opt/lxctools/bin/python -c 'import lxc; "
                         "print(lxc.Container.__module__)'")]
    steps = [("install", f"{shell_env} ./setup install"), *checks,
             ("uninstall", f"{shell_env} ./setup uninstall"),
             ("after", "ls /opt /usr/local/bin /usr/local/share/man/man1")]
    # /opt: its lxctools is made in the overlay (the test skips if the host has one)
    proc, results = in_private_overlays(tmp_path, OVERLAID + ("/opt", "/usr/local"), steps, [])
    report = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0 and results["install"][0] == 0, report
    assert "lxctools installed into the Python environment /opt/lxctools:" in results["install"][1]
    assert results["which"] == (0, "/usr/local/bin/lxc-start /opt/lxctools/bin/lxc-start"), report
    assert results["version"][0] == 0 and results["version"][1].startswith("lxctools "), report
    # Debian's /usr/local/man is a link to share/man: man may name the page through either
    assert results["man"] in ((0, "/usr/local/share/man/man1/lxc-start.1"),
                              (0, "/usr/local/man/man1/lxc-start.1")), report
    assert results["import"] == (0, "lxctools.compat.lxc"), report
    assert results["uninstall"][0] == 0 and "removed /opt/lxctools" in results["uninstall"][1], report
    after = results["after"][1].split()
    assert "lxctools" not in after and "lxc-start" not in after and "lxc-start.1" not in after
