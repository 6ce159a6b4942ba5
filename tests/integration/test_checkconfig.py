"""lxc-checkconfig against real LXC's on this machine: same sections and per-line verdicts
(colours, the version line and our readiness section aside), with the host's own kernel
config and with crafted ones through CONFIG=; JSON; colours only on a tty; a non-root user."""

import gzip
import json
import os
import pwd
import re
import shlex
import subprocess

import pytest

from conftest import REPO, ours, real_lxc
from kernel_configs import kernel_config

ESCAPE = re.compile(r"\033\[[0-9;]*m")
SANE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
pytestmark = pytest.mark.oracle


def run_checkconfig(program, config=None, extra=()):
    env = {"PATH": SANE_PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    if config:
        env["CONFIG"] = config
    return subprocess.run([program, *extra], capture_output=True, text=True, env=env, timeout=60)


def lxc_part(stdout):
    """LXC's lines without the version line, blank lines, our readiness section or argv0."""
    lines = ESCAPE.sub("", stdout).splitlines()[1:]
    out, skipping = [], False
    for line in lines:
        if line.startswith("--- "):
            skipping = line == "--- Host readiness ---"
        if line.startswith("Note : "):
            skipping = False
        if skipping or not line.strip():
            continue
        out.append(re.sub(r"^usage : CONFIG=/path/to/config .*", "usage : CONFIG=/path/to/config ARGV0", line))
    return out


def sections(lines):
    out = {}
    current = None
    for line in lines:
        if line.startswith("--- "):
            current = line
            out[current] = []
        elif current:
            out[current].append(line)
    return out


def compare(config=None):
    real = run_checkconfig(real_lxc("lxc-checkconfig"), config)
    mine = run_checkconfig(ours("lxc-checkconfig"), config)
    assert (mine.returncode, mine.stderr) == (real.returncode, real.stderr)
    assert sections(lxc_part(mine.stdout)).keys() == sections(lxc_part(real.stdout)).keys()
    assert lxc_part(mine.stdout) == lxc_part(real.stdout)
    return mine


def test_same_sections_and_verdicts_as_lxc_on_this_host():
    mine = compare()
    assert "--- Host readiness ---" in mine.stdout
    assert mine.stdout.splitlines()[0].startswith("lxctools ")
    assert "\033" not in mine.stdout  # not a tty


@pytest.mark.parametrize("version,without,compress", [
    ("6.1.0", {"CONFIG_NAMESPACES", "CONFIG_UTS_NS", "CONFIG_VETH", "CONFIG_EPOLL"}, False),
    ("6.1.0", {"CONFIG_SMP", "CONFIG_USER_NS", "CONFIG_FUSE_FS"}, True),
    ("5.10.0", {"CONFIG_CPUSETS", "CONFIG_PID_NS", "CONFIG_MEMCG"}, False),
    ("4.4.0", {"CONFIG_DEVPTS_MULTIPLE_INSTANCES"}, False),
    ("4.9.0", {"CONFIG_NF_NAT_IPV6"}, True),
    ("3.2.0", {"CONFIG_CGROUP_MEM_RES_CTLR"}, False),
    ("2.6.32", {"CONFIG_SECURITY_FILE_CAPABILITIES"}, False),
    (None, {"CONFIG_IPC_NS"}, False),
])
def test_crafted_config_through_config_env(tmp_path, version, without, compress):
    text = kernel_config(version, without=without)
    path = tmp_path / ("config.gz" if compress else "config")
    if compress:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    mine = compare(str(path))
    assert mine.returncode == 0
    # the crafted file really changed what both print (else this test could not fail)
    assert any(line.endswith(("missing", "required")) for line in lxc_part(mine.stdout))


def test_no_kernel_config_exits_1_with_lxcs_guidance(tmp_path):
    missing = str(tmp_path / "no-such-config")
    release = os.uname().release
    if os.path.exists(f"/boot/config-{release}") or os.path.exists(f"/lib/modules/{release}/build/.config"):
        pytest.skip("this host has a kernel config in /boot or the headers: the search finds it")
    mine = compare(missing)
    assert mine.returncode == 1
    assert mine.stdout.splitlines()[1] == f"Kernel configuration not found at {missing}; searching..."
    assert "CONFIG=<path> lxc-checkconfig" in mine.stderr


def test_json_has_the_same_facts():
    text = run_checkconfig(ours("lxc-checkconfig"))
    data = json.loads(run_checkconfig(ours("lxc-checkconfig"), extra=["--format", "json"]).stdout)
    shown = lxc_part(text.stdout)
    for title, checks in data["sections"].items():
        for item in checks:
            if title != "Host readiness" and item["state"] in ("enabled", "missing", "required"):
                suffix = f", {item['value']}" if item["value"] else ""
                assert f"{item['label']}: {item['state']}{suffix}" in shown
    assert data["kernel_config"] and os.path.isfile(data["kernel_config"])
    assert data["version"] == text.stdout.splitlines()[0]


def test_json_without_kernel_config_exits_1(tmp_path):
    release = os.uname().release
    if os.path.exists(f"/boot/config-{release}") or os.path.exists(f"/lib/modules/{release}/build/.config"):
        pytest.skip("this host has a kernel config in /boot or the headers: the search finds it")
    proc = run_checkconfig(ours("lxc-checkconfig"), str(tmp_path / "none"), ["--format", "json"])
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["kernel_config"] is None and str(tmp_path / "none") in data["searched"]


def test_unreadable_kernel_config_is_one_clear_error(tmp_path):
    broken = tmp_path / "config.gz"
    broken.write_bytes(gzip.compress(b"CONFIG_NAMESPACES=y\n")[:20])
    proc = run_checkconfig(ours("lxc-checkconfig"), str(broken))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"lxc-checkconfig: {broken}: cannot read kernel configuration")
    assert "Traceback" not in proc.stderr


def test_colours_only_on_a_tty_and_like_lxcs():
    pexpect = pytest.importorskip("pexpect")

    def on_tty(program):
        child = pexpect.spawn(program, env={"PATH": SANE_PATH, "TERM": "xterm"}, encoding="utf-8",
                              timeout=60, dimensions=(200, 200))
        out = child.read()
        child.close()
        return out.replace("\r\n", "\n")

    def colours(out):
        # LXC resets the colour at the start of the line after "clone_children flag".
        out = out.replace("\n\033[0;39m", "\n")
        return re.findall(r"^(.*?): (\033\[[0-9;]+m)(enabled|missing|required)", out, re.M)

    mine, real = on_tty(ours("lxc-checkconfig")), on_tty(real_lxc("lxc-checkconfig"))
    assert "\033[1;32menabled\033[0;39m" in mine
    assert len(colours(real)) > 20
    assert colours(mine) == colours(real)


USER = "chk-test-user"


def test_non_root_user_is_told_about_missing_subuids():
    if os.geteuid() != 0:
        pytest.skip("needs root to add a temporary user")
    probe = subprocess.run(["runuser", "-u", "nobody", "--", "test", "-r",
                            os.path.join(REPO, "lxctools", "__init__.py")])
    if probe.returncode != 0:
        pytest.skip(f"{REPO} is not readable by other users; cannot run our code as one")
    subprocess.run(["userdel", USER], capture_output=True)
    # A system user gets no subordinate ids from useradd: exactly the case to report.
    subprocess.run(["useradd", "-r", "-M", "-d", f"/nonexistent/{USER}", "-s", "/bin/sh", USER],
                   check=True)
    try:
        code = (f"import sys; sys.path.insert(0, {REPO!r}); "
                "from lxctools.cli.checkconfig import main; sys.exit(main())")
        proc = subprocess.run(["runuser", "-u", USER, "--", "env", "-i", f"HOME=/nonexistent/{USER}",
                               f"PATH={SANE_PATH}", "/usr/bin/python3", "-c", code],
                              capture_output=True, text=True, cwd="/", timeout=60)
        uid = pwd.getpwnam(USER).pw_uid
    finally:
        subprocess.run(["userdel", USER], check=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert f"User: {USER} (uid {uid})" in lines
    i = next(n for n, line in enumerate(lines) if line.startswith("Subordinate uids"))
    assert lines[i].endswith(f"failed (no entry for {USER} or uid {uid})")
    assert re.fullmatch(rf"  fix: usermod --add-subuids \d+-\d+ {USER}   # as root", lines[i + 1])
    idmap = next(line for line in lines if line.startswith("Default config idmap"))
    assert "failed (missing" in idmap
    assert any(line.startswith(f"Cgroups for {USER}: warning") for line in lines)
    assert lxc_part(proc.stdout)[:3] == ["--- Namespaces ---", "Namespaces: enabled",
                                          "Utsname namespace: enabled"]


def _remove_user_cgroups(name, parents_before):
    for base in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", base, "user")
        mine = os.path.join(top, name)
        if os.path.isdir(mine):
            for directory, _, _ in sorted(os.walk(mine), key=lambda w: -len(w[0])):
                os.rmdir(directory)
        if os.path.isdir(top) and top not in parents_before and not any(
                os.path.isdir(os.path.join(top, e)) for e in os.listdir(top)):
            os.rmdir(top)


def test_pam_session_user_sees_pam_cgfs_delegation(tmp_path):
    """A login through PAM (su -) with pam_cgfs: the delegated controllers are reported."""
    if os.geteuid() != 0:
        pytest.skip("needs root to add a temporary user")
    session = open("/etc/pam.d/common-session").read() if os.path.exists("/etc/pam.d/common-session") else ""
    match = re.search(r"^session\s+\S+\s+pam_cgfs\.so(?:\s+-c\s+(\S+))?", session, re.M)
    if not match:
        pytest.skip("pam_cgfs is not in /etc/pam.d/common-session (libpam-cgfs not installed)")
    if not match.group(1):
        pytest.skip("pam_cgfs delegates every controller here; this test expects a -c list")
    if subprocess.run(["runuser", "-u", "nobody", "--", "test", "-r",
                                       os.path.join(REPO, "lxctools", "__init__.py")]).returncode:
        pytest.skip(f"{REPO} is not readable by other users; cannot run our code as one")
    parents = {os.path.join("/sys/fs/cgroup", b, "user") for b in os.listdir("/sys/fs/cgroup")
               if os.path.isdir(os.path.join("/sys/fs/cgroup", b, "user"))}
    home = f"/tmp/{USER}-home"
    subprocess.run(["userdel", "-r", USER], capture_output=True)
    subprocess.run(["useradd", "-m", "-d", home, "-s", "/bin/sh", USER], check=True)
    try:
        subids = [line for line in open("/etc/subuid") if line.startswith(USER + ":")]
        if not subids:
            pytest.skip("useradd gave no subordinate ids (login.defs SUB_UID_COUNT is 0)")
        start, count = subids[0].strip().split(":")[1:]
        os.makedirs(f"{home}/.config/lxc")
        with open(f"{home}/.config/lxc/default.conf", "w") as handle:
            handle.write(f"lxc.idmap = u 0 {start} {count}\nlxc.idmap = g 0 {start} {count}\n")
        code = (f"import sys; sys.path.insert(0, {REPO!r}); "
                "from lxctools.cli.checkconfig import main; sys.exit(main())")
        proc = subprocess.run(["su", "-", USER, "-c", f"/usr/bin/python3 -c {shlex.quote(code)}"],
                              capture_output=True, text=True, cwd="/", timeout=60)
    finally:
        subprocess.run(["userdel", "-r", USER], capture_output=True)
        _remove_user_cgroups(USER, parents)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("Subordinate uids") and ": ok (" in line for line in lines)
    assert any(line.startswith("Default config idmap") and ": ok (" in line for line in lines)
    deleg = next(line for line in lines if line.startswith(f"Cgroups for {USER}"))
    delegated = re.search(r"delegated: ([^;)]*)", deleg).group(1).split()
    wanted = [c for c in match.group(1).split(",") if c != "unified"]
    mounted = {o for m in open("/proc/self/mounts") if m.split()[2] == "cgroup"
               for o in m.split()[3].split(",")}
    assert sorted(delegated) == sorted(c for c in wanted if c in mounted)
    if "name=systemd" in delegated:
        assert any(line.startswith("systemd guests: ok") for line in lines)
