"""lxc-copy side by side with real LXC 5.0.2's: full copies (config rewritten as LXC, rootfs
tree identical incl. owners, modes, xattrs, hard links, devices, fifos, sockets), overlay
snapshot clones with LXC's bookkeeping, rename, ephemeral clones, refusals, kill -9."""

import os
import re
import signal
import socket
import stat
import subprocess
import time

import pytest

from lxcenv import tree, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle

MAC = re.compile(r"^(lxc\.net\.0\.hwaddr = )(\S+)$", re.M)


def extra_conf(world, real):
    """A config with what lxc-copy rewrites: a MAC, a hook and an fstab in the container dir."""
    lp = world.real_lp if real else world.lp
    path = os.path.join(world.root, "copy-real.conf" if real else "copy-ours.conf")
    with open(path, "w") as handle:
        handle.write("lxc.net.0.type = empty\n"
                     "lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n"
                     f"lxc.hook.pre-start = {lp}/cp-a/hook.sh\n"
                     "lxc.hook.post-stop = /bin/true\n"
                     f"lxc.mount.fstab = {lp}/cp-a/fstab\n")
    return path


def make_origin(world, real=False, name="cp-a"):
    runner = world.real if real else world.ours
    proc = runner("lxc-create", "-n", name, "-t", "busybox", "-f", extra_conf(world, real))
    assert proc.returncode == 0, proc.stderr
    d = world.cdir(name, real)
    with open(os.path.join(d, "hook.sh"), "w") as handle:
        handle.write("#!/bin/sh\nexit 0\n")
    os.chmod(os.path.join(d, "hook.sh"), 0o750)
    with open(os.path.join(d, "fstab"), "w") as handle:
        handle.write("")
    return d


def add_special_files(rootfs):
    """What a plain copy loses: owners, setuid, xattrs, hard links, devices, fifos, sockets."""
    data = os.path.join(rootfs, "data")
    os.mkdir(data, 0o1777)
    f = os.path.join(data, "owned")
    with open(f, "w") as handle:
        handle.write("x" * 5000)
    os.chown(f, 1234, 2345)
    os.chmod(f, 0o4750)
    os.link(f, os.path.join(data, "hardlink"))
    os.setxattr(f, "user.cp", b"kept")
    os.mknod(os.path.join(data, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mkfifo(os.path.join(data, "fifo"), 0o640)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(data, "sock"))
    sock.close()
    with open(os.path.join(data, "sparse"), "wb") as handle:
        handle.truncate(1 << 30)
    os.symlink("/etc/passwd", os.path.join(data, "abs-link"))


def normal(text, world, real):
    lp = world.real_lp if real else world.lp
    text = text.replace(lp, "@LP@")
    text = re.sub(r"^# Template used.*\n", "", text, flags=re.M)
    text = re.sub(r"^#lxc\.include = .*nesting\.conf\n", "", text, flags=re.M)
    return MAC.sub(r"\1@MAC@", text)


def mac_of(text):
    return MAC.search(text).group(2)


def test_full_copy_like_lxc(world):
    for real in (False, True):
        origin = make_origin(world, real)
        add_special_files(os.path.join(origin, "rootfs"))
    before = world.config("cp-a")
    for runner in (world.ours, world.real):
        proc = runner("lxc-copy", "-n", "cp-a", "-N", "cp-b")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == ""
    mine, theirs = world.config("cp-b"), world.config("cp-b", real=True)
    assert normal(mine, world, False) == normal(theirs, world, True)
    assert f"lxc.rootfs.path = dir:{world.lp}/cp-b/rootfs\n" in mine
    assert f"lxc.hook.pre-start = {world.lp}/cp-b/hook.sh\n" in mine
    assert "lxc.uts.name = cp-b\n" in mine
    # A fresh MAC under LXC's 00:16:3e prefix; the origin keeps its own.
    assert mac_of(mine).startswith("00:16:3e:") and mac_of(mine) != mac_of(before)
    assert world.config("cp-a") == before
    # The files next to the config: the same names, modes as LXC's.
    for real in (False, True):
        d = world.cdir("cp-b", real)
        assert sorted(os.listdir(d)) == ["config", "fstab", "hook.sh", "rootfs"]
    for name in ("config", "fstab", "hook.sh", "rootfs", "."):
        a = os.stat(os.path.join(world.cdir("cp-b"), name)).st_mode
        b = os.stat(os.path.join(world.cdir("cp-b", True), name)).st_mode
        assert oct(a) == oct(b), name
    # The rootfs is an exact copy, as real LXC's.
    assert tree(os.path.join(world.cdir("cp-b"), "rootfs")) == \
        tree(os.path.join(world.cdir("cp-a"), "rootfs"))
    data = os.path.join(world.cdir("cp-b"), "rootfs", "data")
    assert os.getxattr(os.path.join(data, "owned"), "user.cp") == b"kept"
    assert os.stat(os.path.join(data, "owned")).st_ino == os.stat(os.path.join(data, "hardlink")).st_ino
    assert stat.S_ISSOCK(os.lstat(os.path.join(data, "sock")).st_mode)
    assert os.stat(os.path.join(data, "sparse")).st_blocks == 0
    # It starts, under its new name.
    assert world.ours("lxc-start", "-n", "cp-b").returncode == 0
    try:
        out = world.ours("lxc-attach", "-n", "cp-b", "--", "hostname")
        assert out.stdout.strip() == "cp-b"
    finally:
        world.ours("lxc-stop", "-n", "cp-b", "-k")
    # A copy onto an existing name is refused, as LXC.
    again = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-b")
    assert again.returncode == 1 and "exists" in again.stderr


def test_copy_to_another_lxcpath_and_keep_options(world):
    make_origin(world)
    other = os.path.join(world.root, "other")
    proc = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-c", "-p", other, "-K", "-M")
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(other, "cp-c", "config")) as handle:
        text = handle.read()
    origin = world.config("cp-a")
    assert f"lxc.rootfs.path = dir:{other}/cp-c/rootfs\n" in text
    assert mac_of(text) == mac_of(origin)
    assert 'lxc.uts.name = "cp-a"' in text or "lxc.uts.name = cp-a" in text
    assert f"lxc.hook.pre-start = {other}/cp-c/hook.sh" in text


def test_snapshot_clone_is_an_overlay_like_lxc(world):
    for real in (False, True):
        make_origin(world, real)
    for runner in (world.ours, world.real):
        proc = runner("lxc-copy", "-n", "cp-a", "-N", "cp-s", "-s")
        assert proc.returncode == 0, proc.stderr
    mine, theirs = world.config("cp-s"), world.config("cp-s", real=True)
    assert normal(mine, world, False) == normal(theirs, world, True)
    assert (f"lxc.rootfs.path = overlay:{world.lp}/cp-a/rootfs:{world.lp}/cp-s/overlay/delta\n"
            in mine)
    for real in (False, True):
        lp = world.real_lp if real else world.lp
        with open(os.path.join(lp, "cp-a", "lxc_snapshots")) as handle:
            assert handle.read() == f"{lp}\ncp-s\n"
        with open(os.path.join(lp, "cp-s", "lxc_rdepends")) as handle:
            assert handle.read() == f"{lp}\ncp-a\n"
    layout = {os.path.relpath(os.path.join(top, n), world.cdir("cp-s"))
              for top, dirs, files in os.walk(world.cdir("cp-s")) for n in dirs + files}
    theirs_layout = {os.path.relpath(os.path.join(top, n), world.cdir("cp-s", True))
                     for top, dirs, files in os.walk(world.cdir("cp-s", True)) for n in dirs + files}
    # overlay/work/work is the kernel's, made at the first mount: LXC mounts the clone to look
    # for etc/hostname, we look without mounting.
    assert layout - {"overlay/work/work"} == theirs_layout - {"overlay/work/work"}
    # The origin cannot go while its clone lives, with both tools.
    refused = world.ours("lxc-destroy", "-n", "cp-a")
    assert refused.returncode == 1 and "clones" in refused.stderr
    # The clone runs; what it writes lands in its delta, the origin is untouched.
    assert world.ours("lxc-start", "-n", "cp-s").returncode == 0
    try:
        out = world.ours("lxc-attach", "-n", "cp-s", "--", "/bin/sh", "-c",
                         "echo hi > /written; hostname")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "cp-s"
    finally:
        world.ours("lxc-stop", "-n", "cp-s", "-k")
    assert os.path.exists(os.path.join(world.cdir("cp-s"), "overlay", "delta", "written"))
    assert not os.path.exists(os.path.join(world.cdir("cp-a"), "rootfs", "written"))
    # Real LXC reads our bookkeeping: it refuses to destroy our origin too.
    assert world.real("lxc-destroy", "-n", "cp-a", lxcpath=world.lp).returncode == 1
    assert world.ours("lxc-destroy", "-n", "cp-s").returncode == 0
    assert not os.path.exists(os.path.join(world.cdir("cp-a"), "lxc_snapshots"))
    assert world.ours("lxc-destroy", "-n", "cp-a").returncode == 0


def test_running_origin_is_refused_and_nothing_is_made(world):
    make_origin(world)
    assert world.ours("lxc-start", "-n", "cp-a").returncode == 0
    try:
        proc = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-r")
        assert proc.returncode == 1
        assert "is running" in proc.stderr and "--allowrunning" in proc.stderr
        assert not os.path.exists(world.cdir("cp-r"))
        # -a allows a snapshot of the running container (LXC's --allowrunning).
        proc = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-r", "-s", "-a")
        assert proc.returncode == 0, proc.stderr
    finally:
        world.ours("lxc-stop", "-n", "cp-a", "-k")


def test_refusals(world):
    missing = world.ours("lxc-copy", "-n", "cp-nope", "-N", "cp-x")
    assert missing.returncode == 1 and "cp-nope is not defined" in missing.stderr
    make_origin(world)
    noname = world.ours("lxc-copy", "-n", "cp-a")
    assert noname.returncode == 1 and "NEWNAME" in noname.stderr
    overlay = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-o", "-B", "overlay")
    assert overlay.returncode == 1 and "snapshot" in overlay.stderr
    btrfs = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-o", "-B", "btrfs")
    assert btrfs.returncode == 1
    assert not os.path.exists(world.cdir("cp-o"))


def test_rename(world):
    make_origin(world)
    mac = mac_of(world.config("cp-a"))
    proc = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-new", "-R")
    assert proc.returncode == 0, proc.stderr
    assert not os.path.exists(world.cdir("cp-a"))
    text = world.config("cp-new")
    assert mac_of(text) == mac
    assert f"lxc.rootfs.path = dir:{world.lp}/cp-new/rootfs\n" in text
    assert "lxc.uts.name = cp-new\n" in text
    assert world.ours("lxc-ls", "-1").stdout == "cp-new\n"
    # A container with clones cannot be renamed.
    assert world.ours("lxc-copy", "-n", "cp-new", "-N", "cp-s", "-s").returncode == 0
    refused = world.ours("lxc-copy", "-n", "cp-new", "-N", "cp-z", "-R")
    assert refused.returncode == 1 and "snapshots" in refused.stderr
    # An overlay clone renamed stays an overlay over the same origin, bookkeeping moved.
    proc = world.ours("lxc-copy", "-n", "cp-s", "-N", "cp-s2", "-R")
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(world.cdir("cp-new"), "lxc_snapshots")) as handle:
        assert handle.read() == f"{world.lp}\ncp-s2\n"
    assert (f"lxc.rootfs.path = overlay:{world.lp}/cp-new/rootfs:{world.lp}/cp-s2/overlay/delta"
            in world.config("cp-s2"))


def test_ephemeral_clone_starts_and_vanishes(world):
    make_origin(world)
    proc = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-e", "-e")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Created cp-e as clone of cp-a\n"
    assert "lxc.ephemeral = 1\n" in world.config("cp-e")
    assert world.ours("lxc-info", "-n", "cp-e", "-s").stdout.split()[-1] == "RUNNING"
    assert world.ours("lxc-stop", "-n", "cp-e").returncode == 0
    deadline = time.monotonic() + 20
    while os.path.exists(world.cdir("cp-e")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(world.cdir("cp-e"))
    assert not os.path.exists(os.path.join(world.cdir("cp-a"), "lxc_snapshots"))


def test_ephemeral_random_name_and_command(world):
    make_origin(world)
    proc = world.ours("lxc-copy", "-n", "cp-a", "-e", "--", "/bin/sh", "-c", "exit 0")
    assert proc.returncode == 0, proc.stderr
    made = re.match(r"Created (cp-a_\w{6}) as clone of cp-a\n", proc.stdout)
    assert made, proc.stdout
    deadline = time.monotonic() + 20
    while os.path.exists(world.cdir(made.group(1))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(world.cdir(made.group(1)))


def _wait_for(path, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.01)


def _wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return  # dead; its reaper has yet to collect it
        except FileNotFoundError:
            return
        assert time.monotonic() < deadline, f"clone hook {pid} outlived the killed lxc-copy"
        time.sleep(0.01)


@pytest.mark.parametrize("snapshot", [False, True])
def test_kill_9_mid_copy_leaves_no_half_container(world, snapshot):
    from conftest import ours

    origin = make_origin(world)
    # A clone hook that waits: the copy is killed in the middle, deterministically.
    flag = os.path.join(world.root, "hook-ran")
    with open(os.path.join(world.root, "slow-hook"), "w") as handle:
        handle.write(f"#!/bin/sh\necho $$ > {flag}.tmp; mv {flag}.tmp {flag}\nexec sleep 60\n")
    os.chmod(os.path.join(world.root, "slow-hook"), 0o755)
    with open(os.path.join(origin, "config"), "a") as handle:
        handle.write(f"lxc.hook.clone = {world.root}/slow-hook\n")
    args = [ours("lxc-copy"), "-P", world.lp, "-n", "cp-a", "-N", "cp-k"] + (["-s"] if snapshot else [])
    proc = subprocess.Popen(args, env=world.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_for(flag)
    with open(flag) as handle:
        hook_pid = int(handle.read())
    try:
        assert world.ours("lxc-ls", "-1").stdout == "cp-a\n"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # the hook dies with lxc-copy (it would hold the clone's loop device, or write on)
        _wait_gone(hook_pid)
    finally:
        try:
            os.kill(hook_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert os.path.exists(os.path.join(world.cdir("cp-k"), "partial"))
    assert world.ours("lxc-ls", "-1").stdout == "cp-a\n"
    assert world.ours("lxc-info", "-n", "cp-k").returncode == 1
    assert not os.path.exists(world.cdir("cp-k"))
    assert not os.path.exists(os.path.join(origin, "lxc_snapshots"))
    # The origin is whole and can be destroyed; the name can be used again.
    os.unlink(os.path.join(world.root, "slow-hook"))
    with open(os.path.join(world.root, "slow-hook"), "w") as handle:
        handle.write("#!/bin/sh\nexit 0\n")
    os.chmod(os.path.join(world.root, "slow-hook"), 0o755)
    again = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-k")
    assert again.returncode == 0, again.stderr


def test_kill_9_at_any_moment_of_a_big_copy(world):
    """Killed wherever it is (rsync or later): never a half container, never a stray rsync."""
    from conftest import ours

    origin = make_origin(world)
    with open(os.path.join(origin, "rootfs", "big"), "wb") as handle:
        handle.write(os.urandom(1 << 20) * 200)
    proc = subprocess.Popen([ours("lxc-copy"), "-P", world.lp, "-n", "cp-a", "-N", "cp-big"],
                            env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(os.path.join(world.cdir("cp-big"), "rootfs"))
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        busy = subprocess.run(["pgrep", "-f", f"rsync.*{world.lp}/cp-big"], capture_output=True)
        if busy.returncode != 0:
            break
        time.sleep(0.05)
    assert busy.returncode != 0, "rsync outlived lxc-copy"
    assert world.ours("lxc-ls", "-1").stdout == "cp-a\n"
    assert not os.path.exists(world.cdir("cp-big"))


# LXC's src/tests/lxc-test-cloneconfig cases (a bridge that does not exist: never started).
CLONECONFIG = {
    "simple-nic": "lxc.net.0.type = veth\nlxc.net.0.link = cp-nobr0\n",
    "nic-hwaddr": "lxc.net.0.type = veth\nlxc.net.0.link = cp-nobr0\n"
                  "lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n",
    "nic-from-include": "lxc.include = @S@/1.include\n",
    "hook-in-bin": "lxc.hook.start = /bin/sh\n",
    "hook-in-container": "lxc.hook.start = @CP@/x1\n",
}


@pytest.mark.parametrize("case", sorted(CLONECONFIG))
def test_lxc_test_cloneconfig(world, case):
    s = world.root
    with open(os.path.join(s, "1.include"), "w") as handle:
        handle.write("lxc.net.0.type = veth\nlxc.net.0.link = cp-nobr0\nlxc.hook.start = /bin/sh\n")
    results = []
    for real in (False, True):
        lp = world.real_lp if real else world.lp
        cp = os.path.join(lp, "cp-t")
        conf = os.path.join(s, f"{case}-{real}.conf")
        with open(conf, "w") as handle:
            handle.write(CLONECONFIG[case].replace("@S@", s).replace("@CP@", cp))
        runner = world.real if real else world.ours
        assert runner("lxc-create", "-t", "busybox", "-f", conf, "-n", "cp-t").returncode == 0
        open(os.path.join(cp, "x1"), "w").close()
        proc = runner("lxc-copy", "-s", "-n", "cp-t", "-N", "cp-t2")
        assert proc.returncode == 0, proc.stderr
        with open(os.path.join(cp, "config")) as handle:
            origin = handle.read()
        with open(os.path.join(lp, "cp-t2", "config")) as handle:
            clone = handle.read()
        for key in ("lxc.net.0.type", "lxc.net.0.hwaddr", "lxc.hook"):
            assert len(re.findall(f"^{re.escape(key)}", origin, re.M)) == \
                len(re.findall(f"^{re.escape(key)}", clone, re.M)), key
        for addr in re.findall(r"^lxc\.net\.0\.hwaddr = (\S+)", origin, re.M):
            assert addr not in clone
        for line in re.findall(r"^lxc\.hook.*$", origin, re.M):
            assert line.replace(cp, cp + "2") in clone
        if case == "hook-in-container":
            assert os.path.exists(os.path.join(lp, "cp-t2", "x1"))
        results.append(normal(clone, world, real).replace(f"-{real}.conf", ".conf"))
    assert results[0] == results[1]


@pytest.mark.parametrize("snapshot", [False, True])
def test_hostname_file_and_clone_hook_like_lxc(world, snapshot):
    """/etc/hostname gets the new name (no newline), in the delta for an overlay clone; clone
    hooks run with LXC's arguments and environment and the rootfs mounted."""
    hook = os.path.join(world.root, "clone-hook")
    with open(hook, "w") as handle:
        handle.write('#!/bin/sh\n{ echo "$@"; echo "$LXC_SRC_NAME $LXC_NAME"; '
                     'ls /proc/self/fd >/dev/null; } > "$LXC_ROOTFS_MOUNT/hook.out"\n')
    os.chmod(hook, 0o755)
    for real in (False, True):
        origin = make_origin(world, real)
        with open(os.path.join(origin, "rootfs", "etc", "hostname"), "w") as handle:
            handle.write("cp-a\n")
        with open(os.path.join(origin, "config"), "a") as handle:
            handle.write(f"lxc.hook.clone = {hook}\n")
    flags = ["-s"] if snapshot else []
    for runner in (world.ours, world.real):
        proc = runner("lxc-copy", "-n", "cp-a", "-N", "cp-h", *flags, "--", "extra", "args")
        assert proc.returncode == 0, proc.stderr
    outs = []
    for real in (False, True):
        d = world.cdir("cp-h", real)
        where = os.path.join(d, "overlay", "delta") if snapshot else os.path.join(d, "rootfs")
        with open(os.path.join(where, "etc", "hostname")) as handle:
            assert handle.read() == "cp-h"
        with open(os.path.join(world.cdir("cp-a", real), "rootfs", "etc", "hostname")) as handle:
            assert handle.read() == "cp-a\n"
        # The hook wrote into the mounted rootfs: the delta of an overlay clone.
        with open(os.path.join(where, "hook.out")) as handle:
            outs.append(handle.read().replace(world.real_lp if real else world.lp, "@LP@"))
    assert outs[0] == outs[1]
    if outs[0]:
        assert outs[0].splitlines()[0] == "cp-h lxc clone extra args"


@pytest.mark.parametrize("snapshot", [False, True])
def test_clone_of_a_container_with_an_idmap_starts_and_writes(world, snapshot):
    """As root with lxc.idmap: the clone's dir and overlay dirs go to the mapped root (as
    LXC's chown_mapped_root), so its root can reach the rootfs and write its delta."""
    import shutil
    import tempfile

    # The mapped root must be able to walk to the lxcpath: pytest's tmp dirs are 0700.
    lp = tempfile.mkdtemp(prefix="cp-idmap-", dir="/tmp")
    os.chmod(lp, 0o711)
    conf = os.path.join(world.root, "idmap.conf")
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\nlxc.idmap = u 0 720000 65536\n"
                     "lxc.idmap = g 0 720000 65536\n")
    try:
        made = world.ours("lxc-create", "-n", "cp-u", "-t", "busybox", "-f", conf, lxcpath=lp)
        assert made.returncode == 0, made.stderr
        proc = world.ours("lxc-copy", "-n", "cp-u", "-N", "cp-uc",
                          *(["-s"] if snapshot else []), lxcpath=lp)
        assert proc.returncode == 0, proc.stderr
        st = os.stat(os.path.join(lp, "cp-uc"))
        assert (st.st_uid, st.st_gid) == (720000, 720000)
        start = world.ours("lxc-start", "-n", "cp-uc", lxcpath=lp)
        assert start.returncode == 0, start.stderr
        try:
            out = world.ours("lxc-attach", "-n", "cp-uc", "--", "/bin/sh", "-c", "echo x > /new",
                             lxcpath=lp)
            assert out.returncode == 0, out.stderr
        finally:
            world.ours("lxc-stop", "-n", "cp-uc", "-k", lxcpath=lp)
        where = os.path.join(lp, "cp-uc", "overlay", "delta") if snapshot else \
            os.path.join(lp, "cp-uc", "rootfs")
        assert os.stat(os.path.join(where, "new")).st_uid == 720000
    finally:
        for name in ("cp-uc", "cp-u"):
            world.ours("lxc-destroy", "-n", name, "-f", lxcpath=lp)
        shutil.rmtree(lp, ignore_errors=True)
        from lxctools.api.locking import lock_path
        shutil.rmtree(os.path.dirname(lock_path(lp, "cp-u")), ignore_errors=True)


def test_ephemeral_mounts_and_keepdata(world):
    """-m bind=SRC:DST:ro and overlay=SRC:DST entries in LXC's format; -D keeps the clone."""
    make_origin(world)
    shared = os.path.join(world.root, "shared")
    os.mkdir(shared)
    with open(os.path.join(shared, "file"), "w") as handle:
        handle.write("host\n")
    proc = world.ours("lxc-copy", "-n", "cp-a", "-N", "cp-m", "-e", "-D",
                      "-m", f"bind={shared}:/mnt/ro:ro,overlay={shared}:/mnt/ovl")
    assert proc.returncode == 0, proc.stderr
    text = world.config("cp-m")
    assert "lxc.ephemeral" not in text
    assert f"lxc.mount.entry = {shared} mnt/ro none bind,optional,ro,create=dir 0 0\n" in text
    ovl = re.search(r"^lxc\.mount\.entry = (\S+) mnt/ovl overlay lowerdir=(\S+),upperdir=(\S+),"
                    r"workdir=(\S+),create=dir$", text, re.M)
    assert ovl and ovl.group(1) == ovl.group(2) == shared
    assert re.fullmatch(re.escape(world.cdir("cp-m")) + r"/delta#[A-Za-z0-9]{6}", ovl.group(3))
    assert re.fullmatch(re.escape(world.cdir("cp-m")) + r"/work#[A-Za-z0-9]{6}", ovl.group(4))
    try:
        out = world.ours("lxc-attach", "-n", "cp-m", "--", "/bin/sh", "-c",
                         "cat /mnt/ro/file; echo c > /mnt/ovl/file; cat /mnt/ovl/file; "
                         "echo x > /mnt/ro/file || echo refused")
        assert out.stdout == "host\nc\nrefused\n", out.stderr
    finally:
        world.ours("lxc-stop", "-n", "cp-m", "-k")
    with open(os.path.join(shared, "file")) as handle:
        assert handle.read() == "host\n"  # the overlay's writes went to the clone's upper dir
    world.ours("lxc-wait", "-n", "cp-m", "-s", "STOPPED", "-t", "10")
    assert os.path.exists(world.cdir("cp-m"))  # -D: not ephemeral, kept after the stop
    assert world.ours("lxc-destroy", "-n", "cp-m").returncode == 0
