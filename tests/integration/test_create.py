"""lxc-create side by side with real LXC 5.0.2: -t none, the busybox template (files, modes,
config, accepted by real lxc-info), Debian's external lxc-busybox through our runner, error
cases and exit codes, rollback on failure / SIGTERM, and kill -9 mid-create."""

import os
import signal
import stat
import subprocess
import time
import uuid

import pytest

from lxcenv import World, lxc_messages, tree, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle

DEBIAN_BUSYBOX = "/usr/share/lxc/templates/lxc-busybox"

# What differs on purpose between our busybox container and real LXC's:
#  - the header names the template: "busybox (built into lxctools)" instead of the script path;
#  - the nesting include points at our shipped nesting.conf, not /usr/share/lxc/config;
#  - etc/udhcpc is 0755 (LXC's template chmods the directory 644: no search permission);
#  - the applet symlinks in bin/ are hard links of ONE symlink inode (link count = number of
#    applets instead of 1): a new inode costs 0.2-0.9 ms on this host's ext4, a link 0.02 ms.
INTENTIONAL = ("header template line", "nesting include path", "etc/udhcpc mode",
               "applet symlinks share one inode")


def normalise_config(text, world, name, real):
    lp = world.real_lp if real else world.lp
    lines = []
    text = text.replace(os.path.join(lp, name), "@DIR@").replace(lp, "@LP@")
    for line in text.replace(name, "@NAME@").splitlines():
        if line.startswith("# Template used to create this container:"):
            line = "# Template used to create this container: @TEMPLATE@"
        if line.startswith("#lxc.include = ") and line.endswith("/nesting.conf"):
            line = "#lxc.include = @CONFIG@/nesting.conf"
        lines.append(line)
    return lines


def test_none_writes_only_the_config_like_lxc(world):
    for runner in (world.ours, world.real):
        proc = runner("lxc-create", "-n", "crt-n1", "-t", "none")
        assert proc.returncode == 0, proc.stderr
    for name_real in (False, True):
        d = world.cdir("crt-n1", real=name_real)
        assert sorted(os.listdir(d)) == ["config"]
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o770
        assert stat.S_IMODE(os.stat(os.path.dirname(d)).st_mode) == 0o755
    assert world.config("crt-n1") == world.config("crt-n1", real=True)
    mine = os.stat(os.path.join(world.cdir("crt-n1"), "config")).st_mode
    theirs = os.stat(os.path.join(world.cdir("crt-n1", True), "config")).st_mode
    assert stat.S_IMODE(mine) == stat.S_IMODE(theirs)


@pytest.mark.parametrize("prefix", ["n", "no", "non"])
def test_none_is_matched_by_prefix(world, prefix):
    proc = world.ours("lxc-create", "-n", "crt-p", "-t", prefix)
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(world.cdir("crt-p")) == ["config"]


def test_default_config_copied_without_blank_lines_and_with_comments(world):
    conf = os.path.join(world.root, "c2.conf")
    with open(conf, "w") as handle:
        handle.write("# my comment\n\nlxc.net.0.type = empty\n  lxc.uts.name=foo  \n")
    assert world.ours("lxc-create", "-n", "crt-c", "-t", "none", "-f", conf).returncode == 0
    assert world.real("lxc-create", "-n", "crt-c", "-t", "none", "-f", conf).returncode == 0
    assert world.config("crt-c") == world.config("crt-c", real=True)


@pytest.mark.parametrize("case,args,phrase", [
    ("exists", ["-n", "crt-x", "-t", "none"], "Container already exists"),
    ("no template", ["-n", "crt-y"], "A template must be specified"),
    ("unknown template", ["-n", "crt-y", "-t", "crt-nosuchtemplate"], 'Template "crt-nosuchtemplate" not found'),
    ("slash in name", ["-n", "a/b", "-t", "none"], "a/b"),
    ("empty name", ["-n", "", "-t", "none"], ""),
])
def test_errors_and_exit_codes_match_lxc(world, case, args, phrase):
    for runner in (world.ours, world.real):
        assert runner("lxc-create", "-n", "crt-x", "-t", "none").returncode == 0
    mine, theirs = world.ours("lxc-create", *args), world.real("lxc-create", *args)
    assert mine.returncode == theirs.returncode == 1, (mine.stderr, theirs.stderr)
    assert phrase in lxc_messages(theirs.stderr)
    assert phrase in mine.stderr
    assert sorted(os.listdir(world.lp)) == ["crt-x"]


def test_dotdot_is_refused_and_writes_nothing_outside(world):
    # Real LXC 5.0.2 accepts "-n .." and writes LXCPATH/../config; we refuse the name.
    proc = world.ours("lxc-create", "-n", "..", "-t", "none")
    assert proc.returncode == 1
    assert 'invalid container name ".."' in proc.stderr
    assert not os.path.exists(os.path.join(world.root, "config"))


def test_missing_template_hints_at_none_and_unknown_suggests(world):
    proc = world.ours("lxc-create", "-n", "crt-y")
    assert 'use "-t none"' in proc.stderr
    proc = world.ours("lxc-create", "-n", "crt-y", "-t", "busybx")
    assert proc.returncode == 1
    assert 'did you mean "busybox"?' in proc.stderr
    assert not os.path.exists(world.cdir("crt-y"))


def test_other_backing_stores_are_refused_clearly(world):
    proc = world.ours("lxc-create", "-n", "crt-z", "-t", "none", "-B", "lvm")
    assert proc.returncode == 1
    assert "storage type lvm is not supported by lxctools" in proc.stderr
    proc = world.ours("lxc-create", "-n", "crt-z", "-t", "none", "-B", "bogus")
    assert proc.returncode == 1 and "invalid backing store type" in proc.stderr
    assert world.ours("lxc-create", "-n", "crt-z", "-t", "none", "-B", "dir").returncode == 0
    # -t none makes no rootfs: -B btrfs off btrfs writes the config only, as LXC.
    assert world.ours("lxc-create", "-n", "crt-zb", "-t", "none", "-B", "btrfs").returncode == 0
    assert world.real("lxc-create", "-n", "crt-zb", "-t", "none", "-B", "btrfs").returncode == 0


def test_busybox_matches_real_lxc(world):
    mine = world.ours("lxc-create", "-n", "crt-bb", "-t", "busybox")
    assert mine.returncode == 0, mine.stderr
    theirs = world.real("lxc-create", "-n", "crt-bb", "-t", "busybox")
    assert theirs.returncode == 0, theirs.stderr

    ours_tree = tree(world.cdir("crt-bb"))
    real_tree = tree(world.cdir("crt-bb", real=True))
    assert ours_tree.pop("config")[0] == real_tree.pop("config")[0]
    ours_udhcpc, real_udhcpc = ours_tree.pop("rootfs/etc/udhcpc"), real_tree.pop("rootfs/etc/udhcpc")
    assert oct(0o40644) == real_udhcpc[0] and oct(0o40755) == ours_udhcpc[0]  # INTENTIONAL
    bin_dir = os.path.join(world.cdir("crt-bb"), "rootfs", "bin")
    applets = [n for n in os.listdir(bin_dir) if os.path.islink(os.path.join(bin_dir, n))]
    assert len(applets) > 200
    assert len({os.lstat(os.path.join(bin_dir, n)).st_ino for n in applets}) == 1  # INTENTIONAL
    for rel, row in ours_tree.items():
        if rel.startswith("rootfs/bin/") and row[0] == oct(0o120777):
            assert row[1] == len(applets)
            ours_tree[rel] = (row[0], 1) + row[2:]
    assert ours_tree == real_tree
    for rel in ("etc/passwd", "etc/group", "etc/inittab", "etc/init.d/rcS",
                "etc/udhcpc/default.script", "bin/busybox"):
        with open(os.path.join(world.cdir("crt-bb"), "rootfs", rel), "rb") as a, \
                open(os.path.join(world.cdir("crt-bb", True), "rootfs", rel), "rb") as b:
            assert a.read() == b.read(), rel
    init = os.stat(os.path.join(world.cdir("crt-bb"), "rootfs/sbin/init"))
    assert init.st_ino == os.stat(os.path.join(world.cdir("crt-bb"), "rootfs/bin/busybox")).st_ino
    assert init.st_mode & 0o6000 == 0o6000

    assert (normalise_config(world.config("crt-bb"), world, "crt-bb", False)
            == normalise_config(world.config("crt-bb", True), world, "crt-bb", True))


def test_real_lxc_info_reads_our_busybox_config(world):
    assert world.ours("lxc-create", "-n", "crt-bb", "-t", "busybox").returncode == 0
    assert world.real("lxc-create", "-n", "crt-bb", "-t", "busybox").returncode == 0
    keys = ["lxc.rootfs.path", "lxc.uts.name", "lxc.mount.entry", "lxc.cap.drop",
            "lxc.signal.halt", "lxc.tty.max", "lxc.mount.auto", "lxc.net.0.type"]
    args = ["-n", "crt-bb"] + [x for k in keys for x in ("-c", k)]
    on_ours = world.real("lxc-info", *args, lxcpath=world.lp)
    on_real = world.real("lxc-info", *args)
    assert on_ours.returncode == 0 and on_ours.stderr == "", on_ours.stderr
    assert (on_ours.stdout.replace(world.lp, "@LP@")
            == on_real.stdout.replace(world.real_lp, "@LP@"))
    assert f"lxc.rootfs.path = {world.lp}/crt-bb/rootfs\n" in on_ours.stdout


def test_debian_lxc_busybox_runs_through_our_runner(world):
    if not os.access(DEBIAN_BUSYBOX, os.X_OK):
        pytest.skip("Debian's lxc-templates (lxc-busybox) is not installed")
    mine = world.ours("lxc-create", "-n", "crt-ext", "-t", DEBIAN_BUSYBOX)
    assert mine.returncode == 0, mine.stderr
    theirs = world.real("lxc-create", "-n", "crt-ext", "-t", DEBIAN_BUSYBOX)
    assert theirs.returncode == 0, theirs.stderr
    config = world.config("crt-ext")
    assert config.startswith(f"# Template used to create this container: {DEBIAN_BUSYBOX}\n")
    assert (normalise_config(config, world, "crt-ext", False)
            == normalise_config(world.config("crt-ext", True), world, "crt-ext", True))
    mine_tree, real_tree = tree(world.cdir("crt-ext")), tree(world.cdir("crt-ext", True))
    assert mine_tree.pop("config")[0] == real_tree.pop("config")[0]  # sizes: paths differ
    assert mine_tree == real_tree


def write_template(world, body):
    path = os.path.join(world.root, "lxc-crt-test")
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def test_external_template_gets_lxc_protocol_and_output_is_shown(world):
    tpl = write_template(world, 'for a in "$@"; do echo "ARG $a"; done\n'
                                'echo "lxc.uts.name = from-template" >> "${1#--path=}/config"\n')
    proc = world.ours("lxc-create", "-n", "crt-proto", "-t", tpl, "--", "--x", "y z")
    assert proc.returncode == 0, proc.stderr
    d = world.cdir("crt-proto")
    assert proc.stdout.splitlines() == [
        f"ARG --path={d}", "ARG --name=crt-proto", f"ARG --rootfs={d}/rootfs",
        "ARG --x", "ARG y z"]
    config = world.config("crt-proto")
    assert "# Parameters passed to the template: --x y z\n" in config
    assert config.endswith(f"lxc.rootfs.path = dir:{d}/rootfs\nlxc.uts.name = from-template\n")
    quiet = world.ours("lxc-create", "-q", "-n", "crt-proto2", "-t", tpl)
    assert quiet.returncode == 0 and quiet.stdout == ""


def test_failing_template_leaves_nothing(world):
    tpl = write_template(world, 'touch "${3#--rootfs=}/half"; echo oops >&2; exit 3\n')
    proc = world.ours("lxc-create", "-n", "crt-fail", "-t", tpl)
    assert proc.returncode == 1
    assert "oops" in proc.stderr and "exited with status 3" in proc.stderr
    assert os.listdir(world.lp) == []


def test_rootfs_elsewhere_with_dir_and_rollback_removes_it(world):
    target = os.path.join(world.root, "elsewhere", "rootfs")
    os.makedirs(os.path.dirname(target))
    assert world.ours("lxc-create", "-n", "crt-d", "-t", "busybox", "--dir", target).returncode == 0
    assert os.path.exists(os.path.join(target, "bin/busybox"))
    assert f"lxc.rootfs.path = dir:{target}\n" in world.config("crt-d")
    bad = write_template(world, "exit 1\n")
    other = os.path.join(world.root, "elsewhere", "other")
    assert world.ours("lxc-create", "-n", "crt-d2", "-t", bad, "--dir", other).returncode == 1
    assert not os.path.exists(other) and not os.path.exists(world.cdir("crt-d2"))


def _wait_for(path, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_9_mid_create_leaves_no_visible_container(world):
    from conftest import ours

    tpl = write_template(world, 'echo $$ > "${3#--rootfs=}/../template.pid"\n'
                                'touch "${3#--rootfs=}/started"\nexec sleep 60\n')
    proc = subprocess.Popen([ours("lxc-create"), "-P", world.lp, "-n", "crt-k9", "-t", tpl],
                            env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = os.path.join(world.cdir("crt-k9"), "rootfs", "started")
    _wait_for(started)
    with open(os.path.join(world.cdir("crt-k9"), "template.pid")) as handle:
        template_pid = int(handle.read())
    # While it runs the container is not listed (creation in progress) ...
    assert world.ours("lxc-ls", "-1").stdout == ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert os.path.exists(os.path.join(world.cdir("crt-k9"), "partial"))
    # ... the template died with it (PR_SET_PDEATHSIG) ...
    deadline = time.monotonic() + 5
    while _pid_alive(template_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _pid_alive(template_pid)
    # ... lxc-ls shows nothing (and settles the stale marker), lxc-info says it does not exist ...
    assert world.ours("lxc-ls", "-1").stdout == ""
    assert world.ours("lxc-info", "-n", "crt-k9").returncode == 1
    assert not os.path.exists(world.cdir("crt-k9"))
    # ... and the same name can be created again.
    again = world.ours("lxc-create", "-n", "crt-k9", "-t", "busybox")
    assert again.returncode == 0, again.stderr
    assert world.ours("lxc-ls", "-1").stdout == "crt-k9\n"


def test_kill_9_then_create_cleans_up_by_itself(world):
    from conftest import ours

    tpl = write_template(world, 'touch "${3#--rootfs=}/started"\nexec sleep 60\n')
    proc = subprocess.Popen([ours("lxc-create"), "-P", world.lp, "-n", "crt-k9b", "-t", tpl],
                            env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(os.path.join(world.cdir("crt-k9b"), "rootfs", "started"))
    busy = world.ours("lxc-create", "-n", "crt-k9b", "-t", "none")
    assert busy.returncode == 1 and "already exists" in busy.stderr
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    again = world.ours("lxc-create", "-n", "crt-k9b", "-t", "none")
    assert again.returncode == 0, again.stderr
    assert sorted(os.listdir(world.cdir("crt-k9b"))) == ["config"]


def test_kill_9_between_marker_and_rename_is_cleaned_by_the_retry(world):
    """kill -9 while lxc-create holds its lock, between making the `.partial.PID` marker
    and renaming it to `partial` (strace injects the kill at that rename): the retry
    succeeds and removes the orphaned temporary marker (it used to survive)."""
    import shutil

    from conftest import ours
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is missing: ./setup test installs it (APT_TEST)")
    out = os.path.join(world.root, "strace.txt")
    killed = subprocess.run([strace, "-f", "-o", out, "-e", "trace=rename",
                             "-e", "inject=rename:signal=SIGKILL:when=1",
                             ours("lxc-create"), "-P", world.lp, "-n", "crt-tmp", "-t", "busybox"],
                            env=world.env, capture_output=True, text=True, timeout=120)
    with open(out) as handle:
        trace = handle.read()
    assert "/crt-tmp/.partial." in trace and "+++ killed by SIGKILL +++" in trace, trace
    left = os.listdir(world.cdir("crt-tmp"))
    assert len(left) == 1 and left[0].startswith(".partial."), (killed.returncode, left)
    assert world.ours("lxc-ls", "-1").stdout == ""
    again = world.ours("lxc-create", "-n", "crt-tmp", "-t", "busybox")
    assert again.returncode == 0, again.stderr
    assert sorted(os.listdir(world.cdir("crt-tmp"))) == ["config", "rootfs"]


def test_a_name_starting_with_a_dash_is_accepted_as_lxc_does(world):
    """`-n -x`: getopt gives an option's value the next word whatever it looks like; LXC
    creates, lists, shows and destroys a container named "-x", and so do we."""
    for runner in (world.ours, world.real):
        made = runner("lxc-create", "-n", "-x", "-t", "none")
        assert made.returncode == 0, made.stderr
        assert runner("lxc-ls", "-1").stdout == "-x\n"
        shown = runner("lxc-info", "-n", "-x")
        assert shown.returncode == 0 and "State:          STOPPED" in shown.stdout
        assert runner("lxc-destroy", "-n", "-x").returncode == 0
        assert runner("lxc-ls", "-1").stdout == ""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_mid_create_rolls_back(world, sig):
    from conftest import ours

    tpl = write_template(world, 'touch "${3#--rootfs=}/started"\nsleep 60\n')
    proc = subprocess.Popen([ours("lxc-create"), "-P", world.lp, "-n", "crt-int", "-t", tpl],
                            env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    _wait_for(os.path.join(world.cdir("crt-int"), "rootfs", "started"))
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "interrupted" in err
    assert os.listdir(world.lp) == []


def test_idmap_create_as_root_owns_rootfs_like_lxc(world):
    conf = os.path.join(world.root, "userns.conf")
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\nlxc.idmap = u 0 100000 65536\n"
                     "lxc.idmap = g 0 100000 65536\n")
    mine = world.ours("lxc-create", "-n", "crt-u", "-t", "busybox", "-f", conf)
    assert mine.returncode == 0, mine.stderr
    theirs = world.real("lxc-create", "-n", "crt-u", "-t", "busybox", "-f", conf)
    assert theirs.returncode == 0, theirs.stderr
    ours_tree, real_tree = tree(world.cdir("crt-u")), tree(world.cdir("crt-u", True))
    owners = lambda t: {rel: row[2:4] for rel, row in t.items()}  # noqa: E731
    assert owners(ours_tree) == owners(real_tree)
    assert ours_tree["rootfs/bin/busybox"][2:4] == (100000, 100000)
    for d in (world.cdir("crt-u"), world.cdir("crt-u", True)):
        assert (os.stat(d).st_uid, os.stat(d).st_gid) == (100000, 100000)
    # LXC's template loses the setuid bit in its chown -R after chmod +s; ours keeps it.
    assert int(ours_tree["rootfs/bin/busybox"][0], 8) & 0o6000 == 0o6000
    assert int(real_tree["rootfs/bin/busybox"][0], 8) & 0o6000 == 0


def test_busybox_path_option_and_facts_cache(world):
    import json
    import shutil

    copy = os.path.join(world.root, "bb-copy")
    shutil.copy2("/usr/bin/busybox", copy)
    proc = world.ours("lxc-create", "-n", "crt-bp", "-t", "busybox", "--", "--busybox-path", copy)
    assert proc.returncode == 0, proc.stderr
    with open(copy, "rb") as a, open(os.path.join(world.cdir("crt-bp"), "rootfs/bin/busybox"), "rb") as b:
        assert a.read() == b.read()
    cache = os.path.join(world.env["LXC_CACHE_PATH"], "lxctools", "busybox-facts.json")
    with open(cache) as handle:
        facts = json.load(handle)
    assert facts["key"][0] == copy and "sh" in facts["applets"]
    assert facts["udhcpc_script"] == "/etc/udhcpc/default.script"
    not_busybox = world.ours("lxc-create", "-n", "crt-bp2", "-t", "busybox", "--",
                             "--busybox-path", "/bin/true")
    assert not_busybox.returncode == 1 and "does not look like busybox" in not_busybox.stderr
    assert not os.path.exists(world.cdir("crt-bp2"))
    missing = world.ours("lxc-create", "-n", "crt-bp2", "-t", "busybox", "--", "--busybox-path", "/nonexistent")
    assert missing.returncode == 1 and "Failed to find busybox binary" in missing.stderr


def test_error_lines_name_the_container_first(world):
    proc = world.ours("lxc-create", "-n", "crt-e", "-t", "none", "-f", "/nonexistent.conf")
    assert proc.returncode == 1
    assert proc.stderr.startswith("lxc-create: crt-e: /nonexistent.conf: config file does not exist")


def test_non_root_without_idmap_is_refused_and_leaves_nothing(world):
    import shutil
    import tempfile
    from conftest import ours_for_anyone

    # pytest's tmp dirs are 0700: nobody needs a world-traversable place of its own.
    base = tempfile.mkdtemp(prefix="crt-nobody-")
    try:
        os.chmod(base, 0o777)
        conf = os.path.join(base, "net.conf")
        with open(conf, "w") as handle:
            handle.write("lxc.net.0.type = empty\n")
        os.chmod(conf, 0o644)
        lp = os.path.join(base, "lp")
        env = dict(world.env, HOME=base, XDG_RUNTIME_DIR=base)

        def nobody(*args):
            return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                   ours_for_anyone("lxc-create"), "-P", lp, "-f", conf, *args],
                                  capture_output=True, text=True, env=env, timeout=60)

        made = nobody("-n", "crt-un", "-t", "none")
        assert made.returncode == 0, made.stderr
        proc = nobody("-n", "crt-ub", "-t", "busybox")
        assert proc.returncode == 1 and "No uid mapping for container root" in proc.stderr
        # (real LXC prints the same line but leaves LXCPATH/crt-ub behind)
        assert sorted(os.listdir(lp)) == ["crt-un"]
        assert os.stat(os.path.join(lp, "crt-un")).st_uid == 65534
    finally:
        shutil.rmtree(base)


def _wait_for_process(argv, timeout=30):
    """Until a process runs ARGV (its exec done: /proc/PID/cmdline is ARGV)."""
    wanted = ("\0".join(argv) + "\0").encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if handle.read() == wanted:
                        return
            except (OSError, ValueError):
                continue
        time.sleep(0.02)
    raise AssertionError(f"no process ran {argv} within {timeout} s")


def test_template_on_a_terminal_can_ask_and_ctrl_c_rolls_back(world):
    import pexpect
    from conftest import ours

    tpl = write_template(world, 'printf "Distribution: "; read -r dist\n'
                                'echo "lxc.uts.name = $dist" >> "${1#--path=}/config"\n')
    child = pexpect.spawn(ours("lxc-create"), ["-P", world.lp, "-n", "crt-tty", "-t", tpl],
                          env=world.env, encoding="utf-8", timeout=30)
    child.expect("Distribution: ")
    child.sendline("crt-asked")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert world.config("crt-tty").endswith("lxc.uts.name = crt-asked\n")

    # a length no other sleep on the machine has, to find this one by
    length = f"59.{uuid.uuid4().int % 10**6:06d}"
    slow = write_template(world, f'echo started; sleep {length}\n')
    child = pexpect.spawn(ours("lxc-create"), ["-P", world.lp, "-n", "crt-tty2", "-t", slow],
                          env=world.env, encoding="utf-8", timeout=30)
    child.expect("started")
    # ^C only once sleep runs: dash catches SIGINT while it forks, and its child between fork
    # and exec has dash's handler, which exec forgets; a ^C in that window would leave sleep
    # running and dash waiting for it (the same with LXC's lxc-create: the shell's race)
    _wait_for_process(["sleep", length])
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert "killed by signal 2" in child.before
    assert not os.path.exists(world.cdir("crt-tty2"))
