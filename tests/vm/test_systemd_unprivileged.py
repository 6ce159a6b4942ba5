"""An ordinary user's containers on Debian 12 with systemd and cgroup2 only, in the VM: as
LXC's documentation tells users, in a scope systemd delegates to them (`systemd-run --user
--scope -p Delegate=yes`, what lxc-unpriv-start does for them), with the user's systemd
manager kept by lingering. Create, start, limits (memory, pids), freeze, attach, destroy; and
lxc-checkconfig saying what is missing outside such a scope."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import REPO, ordinary_user, ours
from vmtier import halted_cleanly, note_clean_halts

CG = "/sys/fs/cgroup"


@pytest.fixture
def user():
    with ordinary_user("vmuser", 300000) as info:
        subprocess.run(["loginctl", "enable-linger", info["name"]], check=True)
        bus = f"/run/user/{info['uid']}/bus"
        deadline = time.monotonic() + 60
        while not os.path.exists(bus):  # the user's systemd manager is up
            assert time.monotonic() < deadline, "no systemd user manager for vmuser"
            time.sleep(0.3)
        try:
            yield info
        finally:
            subprocess.run(["loginctl", "disable-linger", info["name"]])
            subprocess.run(["systemctl", "stop", f"user@{info['uid']}.service"])


def as_user(user, *argv, scope=False, timeout=120):
    """ARGV as USER, with its session's variables; SCOPE: in a delegated systemd scope."""
    runtime = f"/run/user/{user['uid']}"
    env = ["env", "-i", f"HOME={user['home']}", f"USER={user['name']}", "LANG=C.UTF-8",
           f"PATH={os.path.dirname(ours('lxc-start'))}:/usr/bin:/bin",
           f"XDG_RUNTIME_DIR={runtime}", f"DBUS_SESSION_BUS_ADDRESS=unix:path={runtime}/bus"]
    wrap = ["systemd-run", "--user", "--scope", "-q", "-p", "Delegate=yes", "--"] if scope else []
    return subprocess.run(["runuser", "-u", user["name"], "--", *env, *wrap, *argv],
                          capture_output=True, text=True, timeout=timeout, cwd="/")


def test_a_users_container_in_a_delegated_scope(user):
    conf = os.path.join(user["home"], "limits.conf")
    with open(conf, "w") as handle:
        handle.write(f"lxc.net.0.type = empty\nlxc.idmap = u 0 {user['base']} 65536\n"
                     f"lxc.idmap = g 0 {user['base']} 65536\nlxc.cgroup2.memory.max = 64M\n"
                     "lxc.cgroup2.pids.max = 40\n")
    os.chmod(conf, 0o644)
    made = as_user(user, "lxc-create", "-n", "vm-u1", "-t", "busybox", "-f", conf)
    assert made.returncode == 0, made.stderr
    # lxc-unpriv-start: the user's own cgroup (here a root service's) is not delegated, so it
    # runs lxc-start in a delegated scope
    started = as_user(user, "lxc-unpriv-start", "-n", "vm-u1")
    assert started.returncode == 0, started.stderr
    try:
        pid = as_user(user, "lxc-info", "-n", "vm-u1", "-pH").stdout.strip()
        [where] = [x[3:] for x in open(f"/proc/{pid}/cgroup").read().splitlines()
                   if x.startswith("0::")]
        assert re.fullmatch(rf"/user\.slice/user-{user['uid']}\.slice/user@{user['uid']}"
                            r"\.service/app\.slice/run-[^/]+\.scope/lxc\.payload\.vm-u1", where), where
        payload = CG + where
        assert open(f"{payload}/memory.max").read() == f"{64 << 20}\n"
        assert open(f"{payload}/pids.max").read() == "40\n"
        # as LXC: still the user's (attach, removal), group-writable by container root
        st = os.stat(payload)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (user["uid"], user["base"], 0o775)
        assert os.stat(f"{payload}/cgroup.procs").st_gid == user["base"]
        # in the container, root is the user's first subordinate id on the host
        assert os.stat(f"/proc/{pid}").st_uid == user["base"]
        attached = as_user(user, "lxc-unpriv-attach", "-n", "vm-u1", "--", "sh", "-c",
                           "id -u; cat /proc/self/cgroup")
        assert attached.stdout.split() == ["0", "0::/.lxc"], attached.stderr
        stats = as_user(user, "lxc-info", "-n", "vm-u1", "--format", "json")
        assert json.loads(stats.stdout)["memory_bytes"] > 0, stats.stdout
        assert as_user(user, "lxc-freeze", "-n", "vm-u1").returncode == 0
        assert open(f"{payload}/cgroup.freeze").read() == "1\n"
        assert as_user(user, "lxc-info", "-n", "vm-u1", "-sH").stdout.strip() == "FROZEN"
        assert as_user(user, "lxc-unfreeze", "-n", "vm-u1").returncode == 0
        assert as_user(user, "lxc-cgroup", "-n", "vm-u1", "pids.max", "30").returncode == 0
        assert open(f"{payload}/pids.max").read() == "30\n"
        stopped = as_user(user, "lxc-stop", "-n", "vm-u1")
        assert stopped.returncode == 0, stopped.stderr
        assert not os.path.exists(payload)
    finally:
        as_user(user, "lxc-stop", "-n", "vm-u1", "-k")
    destroyed = as_user(user, "lxc-destroy", "-n", "vm-u1")
    assert destroyed.returncode == 0, destroyed.stderr
    assert not os.path.exists(os.path.join(user["lxcpath"], "vm-u1"))


def test_checkconfig_says_what_is_missing_without_delegation(user):
    outside = as_user(user, "lxc-checkconfig", "--format", "json")
    checks = {c["label"]: c for c in json.loads(outside.stdout)["sections"]["Host readiness"]}
    cgroups = checks[f"Cgroups for {user['name']}"]
    assert cgroups["state"] == "warning"
    assert "systemd-run --user --scope -p Delegate=yes" in cgroups["fix"]
    inside = as_user(user, "lxc-checkconfig", "--format", "json", scope=True)
    checks = {c["label"]: c for c in json.loads(inside.stdout)["sections"]["Host readiness"]}
    assert checks[f"Cgroups for {user['name']}"]["state"] == "ok"


def test_a_users_lxc_at_unit_with_lingering(user):
    """Our per-user lxc@.service (tools/install-etc.py puts it in /etc/systemd/user) under
    the user's own systemd, which lingering keeps: `systemctl --user start lxc@NAME` runs the
    container in the unit's delegated cgroup with its limits, `stop` halts it cleanly."""
    got = subprocess.run([sys.executable, os.path.join(REPO, "tools/install-etc.py"), "--init",
                          "systemd", "--no-completion"], capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    conf = os.path.join(user["home"], "unit.conf")
    with open(conf, "w") as handle:
        handle.write(f"lxc.net.0.type = empty\nlxc.idmap = u 0 {user['base']} 65536\n"
                     f"lxc.idmap = g 0 {user['base']} 65536\nlxc.cgroup2.memory.max = 64M\n")
    os.chmod(conf, 0o644)
    made = as_user(user, "lxc-create", "-n", "vm-u2", "-t", "busybox", "-f", conf)
    assert made.returncode == 0, made.stderr
    rootfs = os.path.join(user["lxcpath"], "vm-u2", "rootfs")
    note_clean_halts(rootfs)
    assert as_user(user, "systemctl", "--user", "daemon-reload").returncode == 0
    started = as_user(user, "systemctl", "--user", "start", "lxc@vm-u2.service")
    try:
        assert started.returncode == 0, started.stderr
        assert as_user(user, "lxc-wait", "-n", "vm-u2", "-s", "RUNNING", "-t", "60").returncode == 0
        pid = as_user(user, "lxc-info", "-n", "vm-u2", "-pH").stdout.strip()
        [where] = [x[3:] for x in open(f"/proc/{pid}/cgroup").read().splitlines()
                   if x.startswith("0::")]
        # (systemd 252 puts template instances of user units in app-TEMPLATE.slice)
        assert re.fullmatch(rf"/user\.slice/user-{user['uid']}\.slice/user@{user['uid']}\.service"
                            r"/app\.slice/(app-lxc\.slice/)?lxc@vm-u2\.service/lxc\.payload\.vm-u2",
                            where), where
        assert open(f"{CG}{where}/memory.max").read() == f"{64 << 20}\n"
        # nothing but lxc-start's own cgroup in the unit's beside the payload
        unit = os.path.dirname(f"{CG}{where}")
        assert open(f"{unit}/cgroup.procs").read() == ""
        stopped = as_user(user, "systemctl", "--user", "stop", "lxc@vm-u2.service")
        assert stopped.returncode == 0, stopped.stderr
        state = as_user(user, "systemctl", "--user", "is-failed", "lxc@vm-u2.service")
        assert state.stdout.strip() == "inactive"
        assert halted_cleanly(rootfs)  # lxc-stop's halt, not the unit's kill
        assert not os.path.exists(unit)
    finally:
        as_user(user, "systemctl", "--user", "stop", "lxc@vm-u2.service")
        as_user(user, "lxc-stop", "-n", "vm-u2", "-k")
    assert as_user(user, "lxc-destroy", "-n", "vm-u2").returncode == 0
