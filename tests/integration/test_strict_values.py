"""Values naming a set member, numbers and bytes, side by side with real LXC 5.0.2 (issue 24.3,
24.5): what LXC refuses when it reads the config, ours refuses there too, in lxc-info -c and
lxc-start --explain alike, naming the file, line and key with the member meant; what LXC only
refuses at start (or never), ours refuses at the latest before anything is cloned, and the
table below says which is which."""

import os
import subprocess

import pytest

from conftest import module_busybox, ours, real_lxc

NAME = "sv-box"
SANE = dict(os.environ, LANG="C", PATH="/usr/sbin:/usr/bin:/sbin:/bin")


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A busybox container (ours made it; real LXC starts it as well), network empty."""
    root = tmp_path_factory.mktemp("strict")
    lp, config = module_busybox(root, NAME)
    with open(config) as handle:
        base = handle.read()
    assert "lxc.net.0.type = empty" in base and "veth" not in base
    yield {"lp": lp, "config": config, "base": base, "root": str(root)}
    for tool in (ours("lxc-stop"), real_lxc("lxc-stop")):
        subprocess.run([tool, "-P", lp, "-n", NAME, "-k"], capture_output=True)
    remove_empty_cgroups(NAME)


def remove_empty_cgroups(name):
    """Real LXC's failed starts leave their empty lxc.monitor.NAME[-N] (and payload) cgroups
    behind, in every hierarchy: remove them (only empty ones go: rmdir)."""
    import glob
    for pattern in (f"/sys/fs/cgroup/*/lxc.*.{name}*", f"/sys/fs/cgroup/lxc.*.{name}*"):
        for top in glob.glob(pattern):
            for directory, _dirs, _files in sorted(os.walk(top), reverse=True):
                try:
                    os.rmdir(directory)
                except OSError:
                    pass


def with_line(box, line):
    """The container's config plus LINE; returns LINE's number."""
    text = box["base"] if box["base"].endswith("\n") else box["base"] + "\n"
    with open(box["config"], "w") as handle:
        handle.write(text + line + "\n")
    return text.count("\n") + 1


def real(box, tool, *args):
    return subprocess.run([real_lxc(tool), "-P", box["lp"], "-n", NAME, *args],
                          capture_output=True, text=True, env=SANE, timeout=60)


def mine(box, tool, *args):
    return subprocess.run([ours(tool), "-P", box["lp"], "-n", NAME, *args],
                          capture_output=True, text=True, timeout=60)


def assert_refused(proc, where, *needles):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    assert where in proc.stderr, out
    for needle in needles:
        assert needle in proc.stderr, out


# (line, key, what ours says): real LXC refuses each of these when it reads the config
# ("Failed to load config"); so do we, with the member meant
PARSE_TIME = [
    ("lxc.cap.drop = sys_modul mac_admin", "lxc.cap.drop", '(did you mean "sys_module"?)'),
    ("lxc.cap.drop = CAP_SYS_MODULE", "lxc.cap.drop", '(did you mean "sys_module"?)'),
    ("lxc.cap.drop = 41", "lxc.cap.drop", "above this kernel's last capability"),
    ("lxc.cap.drop = none", "lxc.cap.drop", "only valid in lxc.cap.keep"),
    ("lxc.cap.keep = sys_admn", "lxc.cap.keep", '(did you mean "sys_admin"?)'),
    ("lxc.namespace.clone = mnt pdi", "lxc.namespace.clone", '(did you mean "pid"?)'),
    ("lxc.namespace.keep = network", "lxc.namespace.keep", '(did you mean "net"?)'),
    ("lxc.namespace.share.NET = 1", "lxc.namespace.share.NET", '(did you mean "net"?)'),
    ("lxc.signal.halt = SIGPWRR", "lxc.signal.halt", '(did you mean "SIGPWR"?)'),
    ("lxc.signal.reboot = PWR", "lxc.signal.reboot", '(did you mean "SIGPWR"?)'),
    ("lxc.signal.stop = SIGKIL", "lxc.signal.stop", '(did you mean "SIGKILL"?)'),
    ("lxc.mount.auto = proc:mixd sys:ro", "lxc.mount.auto", '(did you mean "proc:mixed"?)'),
    ("lxc.idmap = u 99999999999999999999 0 1", "lxc.idmap", "too large"),
    ("lxc.pty.max = 99999999999999999999", "lxc.pty.max", "too large"),
    ("lxc.tty.max = 4294967296", "lxc.tty.max", "too large"),
    ("lxc.uts.name = " + "\u00fc" * 33, "lxc.uts.name", "at most 64 bytes, this one 66"),
]


@pytest.mark.parametrize("line,key,needle", PARSE_TIME, ids=[c[0] for c in PARSE_TIME])
def test_refused_where_lxc_refuses_when_reading(box, line, key, needle):
    number = with_line(box, line)
    theirs = real(box, "lxc-info", "-c", key)
    assert theirs.returncode != 0 and "Failed to load config" in theirs.stderr, theirs
    where = f"{box['config']}:{number}: "
    assert_refused(mine(box, "lxc-info", "-c", key), where, key, needle)
    assert_refused(mine(box, "lxc-start", "--explain"), where, key, needle)


# LXC reads these, then fails the start (or, marked None, starts without what was meant);
# ours refuses when reading. (line, key, what ours says, real lxc-start's exit is non-zero)
STRICTER = [
    ("lxc.mount.entry = /srv srv none bind,ro,nosiud,create=dir 0 0", "lxc.mount.entry",
     '(did you mean "nosuid"?)', None),
    ("lxc.mount.entry = tmpfs tmp tmpfs create=dri 0 0", "lxc.mount.entry",
     '(did you mean "create=dir"?)', None),
    ("lxc.prlimit.nofle = 100", "lxc.prlimit.nofle", '(did you mean "nofile"?)', True),
    ("lxc.prlimit.nofile = 100:50", "lxc.prlimit.nofile", "above the hard limit", True),
    ("lxc.pty.max = 2000000", "lxc.pty.max", "devpts limit", True),
    ("lxc.idmap = u 0 4294967296 1", "lxc.idmap", "goes past the largest id", True),
    ("lxc.signal.halt = 1000", "lxc.signal.halt", "out of range", None),
]


@pytest.mark.parametrize("line,key,needle,lxc_fails", STRICTER, ids=[c[0] for c in STRICTER])
def test_refused_when_reading_where_lxc_fails_later(box, line, key, needle, lxc_fails):
    number = with_line(box, line)
    theirs = real(box, "lxc-info", "-c", key)
    assert theirs.returncode == 0, theirs.stderr
    where = f"{box['config']}:{number}: "
    assert_refused(mine(box, "lxc-info", "-c", key), where, key, needle)
    assert_refused(mine(box, "lxc-start", "--explain"), where, key, needle)
    if lxc_fails:
        started = real(box, "lxc-start")
        real(box, "lxc-stop", "-k")
        assert started.returncode != 0, "real LXC started it after all"


def test_the_idmap_line_the_kernel_refuses(box):
    """A repeated or overlapping lxc.idmap line: LXC reads it and its start fails when the
    kernel refuses the map; ours names the line."""
    base = "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n"
    for line, needle in (("lxc.idmap = u 0 100000 65536", "repeats an earlier line"),
                         ("lxc.idmap = u 10 300000 5", "on the container side")):
        number = with_line(box, base + line)
        assert real(box, "lxc-info", "-c", "lxc.idmap").returncode == 0
        where = f"{box['config']}:{number + 2}: "
        assert_refused(mine(box, "lxc-info", "-c", "lxc.idmap"), where, needle)
        assert_refused(mine(box, "lxc-start", "--explain"), where, needle)


def test_a_nul_byte(box):
    """LXC stops reading the file at a NUL byte: the lines after it are silently lost (here
    lxc.uts.name). Ours refuses, naming the line."""
    number = with_line(box, "lxc.mount.entry = /srv srv\0x none bind 0 0\nlxc.uts.name = nul")
    theirs = real(box, "lxc-info", "-c", "lxc.uts.name")
    assert theirs.returncode == 0 and "nul" not in theirs.stdout
    where = f"{box['config']}:{number}: "
    assert_refused(mine(box, "lxc-info", "-c", "lxc.uts.name"), where, "NUL byte",
                   "lxc.mount.entry")
    assert_refused(mine(box, "lxc-start", "--explain"), where, "NUL byte")


def test_invalid_utf8_in_the_hostname(box):
    text = box["base"].encode() + b"lxc.uts.name = h\xff\xfeost\n"
    with open(box["config"], "wb") as handle:
        handle.write(text)
    number = text.count(b"\n")
    where = f"{box['config']}:{number}: "
    for proc in (mine(box, "lxc-info", "-c", "lxc.uts.name"), mine(box, "lxc-start", "--explain"),
                 mine(box, "lxc-start")):
        assert_refused(proc, where, "lxc.uts.name", "not valid UTF-8")


# Checked at start (they name host paths or sum two keys): lxc-info -c reads them as LXC does,
# lxc-start and --explain refuse before anything is cloned. Real LXC fails the same starts.
AT_START = [
    ("lxc.console.path = /nonexistent-strict/dir/console", "lxc.console.path",
     "directory /nonexistent-strict/dir does not exist"),
    ("lxc.pty.max = 1048576", "lxc.pty.max", "more than the kernel's devpts allows"),
    ("lxc.mount.fstab = {root}/fstab", "lxc.mount.fstab", "{root}/fstab:2: "),
]


@pytest.mark.parametrize("line,key,needle", AT_START, ids=[c[1] for c in AT_START])
def test_refused_at_start_as_lxc(box, line, key, needle):
    with open(os.path.join(box["root"], "fstab"), "w") as handle:
        handle.write("# bind with a typo\n/srv srv none bind,nosiud,create=dir 0 0\n")
    line, needle = line.format(root=box["root"]), needle.format(root=box["root"])
    with_line(box, line)
    assert real(box, "lxc-info", "-c", key).returncode == 0
    assert mine(box, "lxc-info", "-c", key).returncode == 0
    assert_refused(mine(box, "lxc-start", "--explain"), needle, key)
    assert_refused(mine(box, "lxc-start"), needle, key)
    assert mine(box, "lxc-info", "-sH").stdout.strip() == "STOPPED"
    if key != "lxc.mount.fstab":  # LXC ignores the option a bind mount cannot take
        started = real(box, "lxc-start")
        real(box, "lxc-stop", "-k")
        assert started.returncode != 0


def test_a_rootfs_that_is_a_regular_file(box, tmp_path):
    image = tmp_path / "not-a-dir"
    image.write_text("x")
    with_line(box, f"lxc.rootfs.path = dir:{image}")
    for proc in (mine(box, "lxc-start", "--explain"), mine(box, "lxc-start")):
        assert_refused(proc, f"rootfs {image} is a regular file", f"loop:{image}")
    started = real(box, "lxc-start")
    real(box, "lxc-stop", "-k")
    assert started.returncode != 0


SECCOMP = [
    ("2\ndenylist\ninit_modul errno 1\n", 3, '(did you mean "init_module"?)', True),
    ("2\ndenylist\ninit_module erno 1\n", 3, '(did you mean "errno"?)', False),
    ("2\ndenylst\ninit_module\n", 2, '(did you mean "denylist"?)', False),
    ("2\ndenylist\n[x86_6]\ninit_module\n", 3, '(did you mean "[x86_64]"?)', False),
]


@pytest.mark.parametrize("profile,line,needle,lxc_runs", SECCOMP, ids=[c[2] for c in SECCOMP])
def test_seccomp_profile_members(box, tmp_path, profile, line, needle, lxc_runs):
    """LXC fails its start on a bad action, style or section, and skips a syscall name its
    libseccomp does not know, so a misspelt denylist line leaves the syscall allowed: ours
    refuses each at the profile's line."""
    path = tmp_path / "p.seccomp"
    path.write_text(profile)
    with_line(box, f"lxc.seccomp.profile = {path}")
    for proc in (mine(box, "lxc-start", "--explain"), mine(box, "lxc-start")):
        assert_refused(proc, f"{path}:{line}: ", needle)
    started = real(box, "lxc-start")
    state = real(box, "lxc-info", "-sH").stdout.strip()
    real(box, "lxc-stop", "-k")
    assert (started.returncode == 0 and state == "RUNNING") == lxc_runs, started.stderr


def test_a_misspelt_cap_drop_starts_nothing_and_a_right_one_drops(box):
    """Issue 24.3's hole: `lxc.cap.drop = sys_modul mac_admin` started with cap_sys_module in
    the bounding set. Now no start; spelt right (or by number), the bit is gone."""
    with_line(box, "lxc.cap.drop = sys_modul mac_admin")
    assert_refused(mine(box, "lxc-start"), "lxc.cap.drop", '(did you mean "sys_module"?)')
    assert mine(box, "lxc-info", "-sH").stdout.strip() == "STOPPED"
    assert real(box, "lxc-start").returncode != 0
    for line in ("lxc.cap.drop = sys_module mac_admin", "lxc.cap.drop = 16 0x21"):
        with_line(box, line)
        started = mine(box, "lxc-start")
        assert started.returncode == 0, started.stderr
        try:
            pid = int(mine(box, "lxc-info", "-pH").stdout)
            with open(f"/proc/{pid}/status") as handle:
                status = dict(ln.split(":", 1) for ln in handle if ":" in ln)
            bounding = int(status["CapBnd"].strip(), 16)
            assert not bounding & (1 << 16) and not bounding & (1 << 33), line
            assert bounding & (1 << 21), "sys_admin stays"
        finally:
            assert mine(box, "lxc-stop", "-k").returncode == 0


def test_the_table_of_refusals_is_in_the_architecture():
    """docs/ARCHITECTURE.md keeps the side-by-side table in step with these cases."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "docs", "ARCHITECTURE.md")) as handle:
        text = handle.read()
    assert "### Values checked against real LXC" in text
    for key in ("lxc.cap.drop", "lxc.namespace.share.", "lxc.signal.", "lxc.mount.auto",
                "lxc.mount.entry", "lxc.prlimit.", "lxc.idmap", "lxc.pty.max",
                "lxc.console.path", "lxc.seccomp.profile", "lxc.apparmor.profile"):
        assert f"`{key}" in text, key
