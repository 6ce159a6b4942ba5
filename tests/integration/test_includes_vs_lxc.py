"""Our LXC_TEMPLATE_CONFIG includes against LXC 5.0.2's /usr/share/lxc/config: a container
including ours reads (lxc-info -c) as one including LXC's, except where we differ on purpose;
an image config naming LXC_TEMPLATE_CONFIG/common.conf gets ours and its container runs
confined as that file says. (The Debian guests booting on ours: test_guests.py.)"""

import os
import subprocess

import pytest

from conftest import ours, real_lxc, require_root
from imagekit import busybox_rootfs, standard_meta
from lxcenv import world  # noqa: F401  (fixture)
from lxctools.config import keys as K
from lxctools.paths import template_config_dir
from lxctools.images.meta import template_config

pytestmark = pytest.mark.oracle

LXC = "/usr/share/lxc/config"
OURS = template_config_dir()

# Where we differ on purpose (docs/ARCHITECTURE.md, "Extraction, local and download templates"):
DIFFERENT = {
    "lxc.seccomp.profile",  # our own common.seccomp (same rules: compared below)
    "lxc.hook.clone",       # lxc-copy writes the new hostname itself: no clonehostname hook
    "lxc.hook.mount",       # lxcfs is bound by the runtime, not LXC's lxcfs hook
    "lxc.hook.post-stop",   # (the same hook's reboot half)
    "lxc.hook",
    "lxc.rootfs.path",      # each container its own
}
KEYS = [row.name for row in K.KEYS if not row.family and row.name.startswith("lxc.")
        and row.name not in ("lxc.include", "lxc.environment.runtime", "lxc.environment.hooks")
        and row.name not in DIFFERENT]
KEYS += ["lxc.cgroup", "lxc.cgroup2", "lxc.sysctl", "lxc.prlimit", "lxc.proc"]
# Lists whose order means nothing: capabilities dropped, device rules after the deny-all.
UNORDERED = {"lxc.cap.drop", "lxc.cap.keep", "lxc.cgroup", "lxc.cgroup2"}  # (cap.keep reads the drops, as liblxc)


def readings(tool, lxcpath, name, include):
    """{key: value text} as TOOL's lxc-info -c prints them for a container including INCLUDE."""
    cdir = os.path.join(lxcpath, name)
    os.makedirs(cdir, exist_ok=True)
    with open(os.path.join(cdir, "config"), "w") as handle:
        handle.write(f"lxc.net.0.type = empty\nlxc.include = {include}\n"
                     f"lxc.rootfs.path = dir:{cdir}/rootfs\n")
    proc = subprocess.run([tool, "-P", lxcpath, "-n", name, *[a for k in KEYS for a in ("-c", k)]],
                          capture_output=True, text=True,
                          env=dict(os.environ, LXC_GLOBAL_CONF="/dev/null"))
    out = {"stderr": proc.stderr}  # "KEY invalid" lines
    # one block per key, in the order asked: "KEY = first line" and the lines that follow
    lines, at = proc.stdout.split("\n"), 0
    for index, key in enumerate(KEYS):
        if f"{key} invalid" in proc.stderr:
            continue
        assert lines[at].startswith(f"{key} ="), (key, lines[at])
        end = at + 1
        while end < len(lines) and not any(lines[end].startswith(f"{k} =") for k in KEYS[index + 1:]):
            end += 1
        text = "\n".join(lines[at:end])[len(key) + 2:]
        out[key] = sorted(text.split()) if key in UNORDERED else text
        at = end
    return out


def test_our_includes_read_as_lxcs(tmp_path):
    require_root()
    theirs = sorted(f for f in os.listdir(LXC) if f.endswith(".conf"))
    assert len(theirs) > 20, "Debian's lxc package ships these"
    missing = [f for f in theirs if not os.path.isfile(os.path.join(OURS, f))]
    assert missing == [], "every include LXC ships has ours"
    differ = {}
    for index, name in enumerate(theirs):
        real = readings(real_lxc("lxc-info"), str(tmp_path / "lp"), f"r{index}", f"{LXC}/{name}")
        mine = readings(ours("lxc-info"), str(tmp_path / "lp"), f"m{index}", f"{OURS}/{name}")
        for key in real.keys() | mine.keys():
            if real.get(key) != mine.get(key):
                differ.setdefault(name, []).append((key, real[key], mine[key]))
    assert differ == {}


def denied(path):
    """{(syscall, action)} of a denylist profile, and whether forced umounts are refused."""
    from lxctools.security.policy import parse

    with open(path) as handle:
        policy = parse(handle.read(), path, "x86_64")
    return (policy.default, {(r.syscall, r.action) for r in policy.rules if not r.special},
            {r.special for r in policy.rules if r.special})


def test_our_seccomp_profile_refuses_what_lxcs_refuses():
    assert denied(f"{OURS}/common.seccomp") == denied(f"{LXC}/common.seccomp")


def image_made(world, runner, name, include, **where):
    """NAME created by RUNNER (world.ours or world.real) with -t local from a busybox image
    whose config includes LXC_TEMPLATE_CONFIG/INCLUDE."""
    rootfs = busybox_rootfs(world, os.path.join(world.root, "rootfs.tar.xz"))
    config = (f"lxc.include = LXC_TEMPLATE_CONFIG/{include}\nlxc.arch = linux64\n"
              "lxc.signal.halt = SIGUSR1\n")
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"), config=config)
    made = runner("lxc-create", "-n", name, "-t", "local", "--", "-m", meta, "-f", rootfs,
                  **where)
    assert made.returncode == 0, made.stderr


def test_an_image_config_naming_common_conf_gets_ours_and_runs_confined(world):
    image_made(world, world.ours, "tc-img", "common.conf")
    # the copy of ours in the lxcpath, with absolute paths (sharedconfig.py)
    copy = template_config(world.lp)
    assert f"lxc.include = {copy}/common.conf\n" in world.config("tc-img")
    assert "/usr/share/lxc" not in world.config("tc-img")
    info = world.ours("lxc-info", "-n", "tc-img", "-c", "lxc.mount.auto", "-c", "lxc.tty.dir",
                      "-c", "lxc.seccomp.profile")
    assert info.stdout == ("lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed\n"
                           "lxc.tty.dir = lxc\n"
                           f"lxc.seccomp.profile = {copy}/common.seccomp\n"), info.stderr
    started = world.ours("lxc-start", "-n", "tc-img")
    assert started.returncode == 0, started.stderr
    try:
        pid = int(world.ours("lxc-info", "-n", "tc-img", "-pH").stdout)
        with open(f"/proc/{pid}/status") as handle:
            status = handle.read()
        assert "\nSeccomp:\t2\n" in status  # common.seccomp loaded
        bounding = int(status.split("CapBnd:\t")[1].split()[0], 16)
        assert not bounding & (1 << 16)      # sys_module dropped
        assert bounding & (1 << 21)          # sys_admin kept
        with open(f"/proc/{pid}/cgroup") as handle:
            devices = [line.split(":", 2)[2].strip() for line in handle
                       if line.split(":")[1] == "devices"][0]
        with open(f"/sys/fs/cgroup/devices{devices}/devices.list") as handle:
            rules = handle.read().split("\n")
        assert "a *:* rwm" not in rules and "c 1:3 rwm" in rules and "c 136:* rwm" in rules
        # the ttys live under /dev/lxc (lxc.tty.dir), linked from /dev/ttyN
        assert os.readlink(f"/proc/{pid}/root/dev/tty1") == "lxc/tty1"
    finally:
        stop = world.ours("lxc-stop", "-n", "tc-img", "--nokill", "-t", "10")
    assert stop.returncode == 0, stop.stderr


def test_a_container_real_lxc_made_with_lxcs_common_conf_starts_under_us(world):
    """Real lxc-create -t local names /usr/share/lxc/config/common.conf, which lists device
    rules for cgroup v1 and a cgroup2 copy: we enforce the v1 list on this host and skip the
    copy, as LXC does (tests/integration/test_devices_cgroup2.py: the cgroup2 list on a
    cgroup2-only layout)."""
    image_made(world, world.real, "tc-real", "common.conf")
    assert f"lxc.include = {LXC}/common.conf\n" in world.config("tc-real", real=True)
    started = world.ours("lxc-start", "-n", "tc-real", lxcpath=world.real_lp)
    assert started.returncode == 0, started.stderr
    try:
        pid = int(world.ours("lxc-info", "-n", "tc-real", "-pH", lxcpath=world.real_lp).stdout)
        with open(f"/proc/{pid}/cgroup") as handle:
            devices = [line.split(":", 2)[2].strip() for line in handle
                       if line.split(":")[1] == "devices"][0]
        with open(f"/sys/fs/cgroup/devices{devices}/devices.list") as handle:
            rules = handle.read().split("\n")
        assert "a *:* rwm" not in rules and "c 10:229 rwm" in rules
    finally:
        stop = world.ours("lxc-stop", "-n", "tc-real", "--nokill", "-t", "10",
                          lxcpath=world.real_lp)
    assert stop.returncode == 0, stop.stderr


def test_a_container_we_made_from_an_image_starts_under_real_lxc(world):
    """The way back: a user who returns to LXC keeps the containers we made from images.
    LXC resolves a relative lxc.include against its current directory, so the config names
    our includes' copy with absolute paths; real LXC reads it as we do (run from another
    directory) and runs the container confined as it says."""
    image_made(world, world.ours, "tc-back", "debian.common.conf")
    asked = [a for k in ("lxc.seccomp.profile", "lxc.cap.drop", "lxc.tty.max", "lxc.tty.dir",
                         "lxc.mount.auto", "lxc.pty.max", "lxc.include") for a in ("-c", k)]
    mine = world.ours("lxc-info", "-n", "tc-back", *asked)
    theirs = subprocess.run([real_lxc("lxc-info"), "-P", world.lp, "-n", "tc-back", *asked],
                            capture_output=True, text=True, cwd="/", timeout=60,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
    assert theirs.returncode == 0 and theirs.stdout == mine.stdout, (theirs.stderr, mine.stdout)
    started = world.real("lxc-start", "-n", "tc-back", lxcpath=world.lp)
    assert started.returncode == 0, started.stderr
    try:
        pid = int(world.real("lxc-info", "-n", "tc-back", "-pH", lxcpath=world.lp).stdout)
        with open(f"/proc/{pid}/status") as handle:
            status = handle.read()
        assert "\nSeccomp:\t2\n" in status
        assert not int(status.split("CapBnd:\t")[1].split()[0], 16) & (1 << 16)
    finally:
        stop = world.real("lxc-stop", "-n", "tc-back", "-k", lxcpath=world.lp)
    assert stop.returncode == 0, stop.stderr
    # the copy is no container, to LXC or to us
    assert world.real("lxc-ls", "-1", lxcpath=world.lp).stdout.split() == ["tc-back"]
    assert world.ours("lxc-ls", "-1").stdout.split() == ["tc-back"]

