"""Unprivileged containers: an ordinary user with subordinate ids creates, starts, enters,
stops and destroys a busybox container with our tools, through a login session (su -) and
without PAM (setpriv); the host sees the container's root as the subuid base."""

import os
import pwd
import shlex
import subprocess

import pytest

from conftest import ordinary_user, ours_for_anyone

USER = "lxct-unpriv"


@pytest.fixture
def user():
    with ordinary_user(USER, 400000) as made:
        yield made


def as_user(tool, *args, login=True, input=None):
    """Our TOOL as the user: a login shell (su -) or a bare setpriv without PAM."""
    command = " ".join(shlex.quote(a) for a in [ours_for_anyone(tool), *args])
    if login:
        argv = ["su", "-", USER, "-c", command]
    else:
        entry = pwd.getpwnam(USER)
        argv = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
                "env", "-i", f"HOME={entry.pw_dir}", "PATH=/usr/bin:/bin", f"USER={USER}",
                "sh", "-c", command]
    return subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=120,
                          input=input)


@pytest.mark.parametrize("login", [True, False], ids=["su-login", "setpriv-no-pam"])
def test_busybox_lifecycle_as_a_user(user, login):
    made = as_user("lxc-create", "-n", "u1", "-t", "busybox", login=login)
    assert made.returncode == 0, made.stderr
    rootfs = os.path.join(user["home"], ".local/share/lxc/u1/rootfs")
    assert os.stat(rootfs).st_uid == user["base"]
    assert os.stat(os.path.join(rootfs, "bin/busybox")).st_uid == user["base"]
    start = as_user("lxc-start", "-n", "u1", login=login)
    assert start.returncode == 0, start.stderr
    pid = int(as_user("lxc-info", "-n", "u1", "-pH", login=login).stdout)
    with open(f"/proc/{pid}/status") as handle:
        uids = next(line for line in handle if line.startswith("Uid:")).split()[1:]
    assert uids == [str(user["base"])] * 4  # the host sees the subuid base
    who = as_user("lxc-attach", "-n", "u1", "--", "sh", "-c", "id -u; echo hi > /root/written",
                  login=login)
    assert who.returncode == 0 and who.stdout.strip() == "0", who.stderr
    assert os.stat(os.path.join(rootfs, "root/written")).st_uid == user["base"]
    listed = as_user("lxc-ls", "-f", login=login).stdout.splitlines()
    assert listed[1].split()[:2] == ["u1", "RUNNING"] and listed[1].split()[-1] == "true"
    stop = as_user("lxc-stop", "-n", "u1", login=login)
    assert stop.returncode == 0, stop.stderr
    gone = as_user("lxc-destroy", "-n", "u1", login=login)
    assert gone.returncode == 0, gone.stderr
    assert not os.path.exists(os.path.dirname(rootfs))
    # nothing of the user's keeps running (an exited supervisor may linger as a zombie until
    # the host's init reaps it)
    left = subprocess.run(["ps", "-u", USER, "-o", "stat=,cmd="], capture_output=True, text=True)
    assert [line for line in left.stdout.splitlines() if not line.startswith("Z")] == []


def test_wrong_idmap_fails_with_the_fix(user):
    conf = os.path.join(user["home"], "wrong.conf")
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\nlxc.idmap = u 0 900000 65536\n"
                     "lxc.idmap = g 0 900000 65536\n")
    os.chmod(conf, 0o644)
    proc = as_user("lxc-create", "-n", "u2", "-t", "busybox", "-f", conf)
    assert proc.returncode == 1
    assert "newuidmap failed" in proc.stderr and "/etc/subuid" in proc.stderr
    assert not os.path.exists(os.path.join(user["home"], ".local/share/lxc/u2"))


def test_a_start_whose_id_maps_fail_leaves_nothing(user):
    """The spawner's maps are written by newuidmap and newgidmap (spawn/startplan.py
    _id_maps): when they fail, the start fails with their word, and no process of the start
    is left (the spawner never became root in its namespace, init was never forked); the
    next start with good maps runs."""
    made = as_user("lxc-create", "-n", "u4", "-t", "busybox", login=False)
    assert made.returncode == 0, made.stderr
    config = os.path.join(user["home"], ".local/share/lxc/u4/config")
    with open(config) as handle:
        good = handle.read()
    assert "lxc.idmap = u 0 " in good
    # a range the user was not given: newuidmap refuses it
    with open(config, "w") as handle:
        handle.write(good.replace(f"lxc.idmap = u 0 {user['base']} ", "lxc.idmap = u 0 900000 "))
    proc = as_user("lxc-start", "-n", "u4", login=False)
    assert proc.returncode == 1
    assert "newuidmap failed" in proc.stderr and "/etc/subuid" in proc.stderr
    assert as_user("lxc-info", "-n", "u4", "-sH", login=False).stdout.strip() == "STOPPED"
    # the user's processes: the supervisor alone (a spawner or a newuidmap left would show)
    left = subprocess.run(["ps", "-u", USER, "-o", "stat=,args="], capture_output=True, text=True)
    alive = [line for line in left.stdout.splitlines() if not line.startswith("Z")]
    assert len(alive) == 1 and "[lxc monitor]" in alive[0], alive
    with open(config, "w") as handle:
        handle.write(good)
    started = as_user("lxc-start", "-n", "u4", login=False)
    assert started.returncode == 0, started.stderr
    assert as_user("lxc-info", "-n", "u4", "-sH", login=False).stdout.strip() == "RUNNING"
    assert as_user("lxc-stop", "-n", "u4", "-k", login=False).returncode == 0
    assert as_user("lxc-destroy", "-n", "u4", login=False).returncode == 0


def test_limit_without_delegated_cgroups_is_refused(user):
    made = as_user("lxc-create", "-n", "u3", "-t", "busybox", login=False)
    assert made.returncode == 0, made.stderr
    proc = as_user("lxc-start", "-n", "u3", "-s", "lxc.cgroup.pids.max=100", login=False)
    assert proc.returncode == 1
    assert "pids" in proc.stderr and "hint:" in proc.stderr
    assert as_user("lxc-info", "-n", "u3", "-sH", login=False).stdout.strip() == "STOPPED"
    assert as_user("lxc-destroy", "-n", "u3", login=False).returncode == 0


def test_usernsexec_maps_the_subordinate_ids(user):
    proc = as_user("lxc-usernsexec", "--", "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(user["base"]), str(user["count"])]
    own = as_user("lxc-usernsexec", "-s", "-u", "1", "--", "sh", "-c", "id -u; exit 4")
    assert own.returncode == 4 and own.stdout.strip() == "1"
    explicit = as_user("lxc-usernsexec", "-m", f"b:0:{user['base']}:1", "--", "id", "-g")
    assert explicit.returncode == 0 and explicit.stdout.strip() == "0"
    bad = as_user("lxc-usernsexec", "-m", "x:0:1", "--", "true")
    assert bad.returncode == 1 and "bad map" in bad.stderr
    assert as_user("lxc-usernsexec", "-h").returncode == 0


def test_overlay_snapshot_clone_as_a_user(user):
    """lxc-copy -s as the user: the kernel (>= 5.11) lets a user namespace mount overlayfs,
    so the clone stands on the origin's rootfs and writes only into its own delta, owned by
    the subuid base; destroy takes the clone and then the origin."""
    made = as_user("lxc-create", "-n", "uo", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    clone = as_user("lxc-copy", "-n", "uo", "-N", "uo2", "-s")
    assert clone.returncode == 0, clone.stderr
    base = os.path.join(user["home"], ".local/share/lxc")
    with open(os.path.join(base, "uo2", "config")) as handle:
        assert (f"lxc.rootfs.path = overlay:{base}/uo/rootfs:{base}/uo2/overlay/delta\n"
                in handle.read())
    started = as_user("lxc-start", "-n", "uo2")
    assert started.returncode == 0, started.stderr
    try:
        wrote = as_user("lxc-attach", "-n", "uo2", "--", "sh", "-c",
                        "id -u; echo clone > /root/written")
        assert wrote.returncode == 0 and wrote.stdout.strip() == "0", wrote.stderr
    finally:
        as_user("lxc-stop", "-n", "uo2", "-k")
    written = os.path.join(base, "uo2", "overlay", "delta", "root", "written")
    assert os.stat(written).st_uid == user["base"]
    assert not os.path.exists(os.path.join(base, "uo", "rootfs", "root", "written"))
    refused = as_user("lxc-destroy", "-n", "uo")
    assert refused.returncode != 0 and "uo2" in refused.stderr, refused.stderr
    for name in ("uo2", "uo"):
        gone = as_user("lxc-destroy", "-n", name)
        assert gone.returncode == 0, gone.stderr
    assert os.listdir(base) == []


def test_unpriv_start_and_attach_without_a_systemd_user_session(user):
    """Debian's lxc-unpriv-start refuses wherever no systemd user session runs (this host has
    none: no systemd at all); ours needs a scope only on a cgroup2-only host with an
    undelegated cgroup, so here it starts the container, and lxc-unpriv-attach enters it."""
    from conftest import real_lxc

    entry = pwd.getpwnam(USER)
    as_them = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
               "env", "-i", f"HOME={entry.pw_dir}", "PATH=/usr/bin:/bin", f"USER={USER}"]
    theirs = subprocess.run(as_them + [real_lxc("lxc-unpriv-start"), "-n", "u5"],
                            capture_output=True, text=True, cwd="/", timeout=60)
    assert theirs.returncode == 1 and "systemd user session" in theirs.stdout
    assert as_user("lxc-create", "-n", "u5", "-t", "busybox", login=False).returncode == 0
    try:
        started = as_user("lxc-unpriv-start", "-n", "u5", login=False)
        assert started.returncode == 0, started.stderr
        assert as_user("lxc-info", "-n", "u5", "-sH", login=False).stdout == "RUNNING\n"
        who = as_user("lxc-unpriv-attach", "-n", "u5", "--", "id", "-u", login=False)
        assert (who.returncode, who.stdout) == (0, "0\n"), who.stderr
        usage = as_user("lxc-unpriv-start", "--usage", login=False)
        assert usage.returncode == 0 and "Delegate=yes" in usage.stdout
    finally:
        as_user("lxc-stop", "-n", "u5", "-k", login=False)
    assert as_user("lxc-destroy", "-n", "u5", login=False).returncode == 0


def test_a_users_container_that_real_lxc_started(user):
    """A user's container started by real LXC (its monitor runs as the user): ours see it
    running, do not start it twice, enter it and stop it, through LXC's socket as the user."""
    from conftest import real_lxc

    entry = pwd.getpwnam(USER)
    as_them = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
               "env", "-i", f"HOME={entry.pw_dir}", "PATH=/usr/bin:/bin", f"USER={USER}"]

    def real(tool, *args):
        return subprocess.run(as_them + [real_lxc(tool), *args], capture_output=True,
                              text=True, cwd="/", timeout=120)

    made = real("lxc-create", "-n", "u6", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    try:
        assert real("lxc-start", "-n", "u6").returncode == 0
        pid = real("lxc-info", "-n", "u6", "-pH").stdout.strip()
        assert as_user("lxc-info", "-n", "u6", "-sH", login=False).stdout == "RUNNING\n"
        again = as_user("lxc-start", "-n", "u6", login=False)
        assert again.returncode == 0 and "already running" in again.stderr
        assert real("lxc-info", "-n", "u6", "-pH").stdout.strip() == pid
        who = as_user("lxc-attach", "-n", "u6", "--", "id", "-u", login=False)
        assert (who.returncode, who.stdout) == (0, "0\n"), who.stderr
        stop = as_user("lxc-stop", "-n", "u6", "-k", login=False)
        assert stop.returncode == 0, stop.stderr
        assert real("lxc-info", "-n", "u6", "-sH").stdout == "STOPPED\n"
    finally:
        real("lxc-stop", "-n", "u6", "-k")
        real("lxc-destroy", "-n", "u6", "-f")
