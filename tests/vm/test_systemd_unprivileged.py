"""An ordinary user's containers on Debian 12 with systemd and cgroup2 only, in the VM: as
LXC's documentation tells users, in a scope systemd delegates to them (`systemd-run --user
--scope -p Delegate=yes`, what lxc-unpriv-start does for them), with the user's systemd
manager kept by lingering, and from a real login session (`machinectl shell`: pam_systemd's
session scope, which is not delegated). Create, start, limits (memory, pids), freeze,
attach, destroy; and lxc-checkconfig saying what is missing outside such a scope."""

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


def in_login(user, line, timeout=180):
    """LINE (a shell command line) as USER in a login session of its own, as LXC's
    documentation has users log in (`machinectl shell USER@`: pam_systemd registers a session
    in session-N.scope, sets XDG_RUNTIME_DIR and the user manager's bus), our tools first on
    PATH. (exit status, output: stdout and stderr through the session's terminal)."""
    marker = "vm-login-status="
    proc = subprocess.run(["machinectl", "shell", "-q",
                           f"--setenv=PATH={os.path.dirname(ours('lxc-start'))}:/usr/bin:/bin",
                           f"{user['name']}@.host", "/bin/sh", "-c", f"{line}; echo {marker}$?"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
    out = proc.stdout.replace("\r\n", "\n")
    found = re.search(rf"^{marker}(\d+)$", out, re.M)
    assert found, f"machinectl shell (exit {proc.returncode}): {out}{proc.stderr}"
    return int(found.group(1)), out[:found.start()]


def test_a_user_logged_in_through_machinectl_shell(user):
    """The route LXC's getting-started guide gives a user on a systemd host: log in (here
    `machinectl shell`), then `systemd-run --user --scope -p Delegate=yes -- lxc-start`. The
    login's own cgroup is a session scope systemd does not delegate: lxc-checkconfig says so
    and names the fix; in the scope the container starts with its limits, which hold; freeze,
    attach (lxc-unpriv-attach), stop and destroy from the login."""
    uid = user["uid"]
    status, out = in_login(user, "cat /proc/self/cgroup; echo XDG=$XDG_RUNTIME_DIR")
    assert status == 0, out
    assert re.search(rf"^0::/user\.slice/user-{uid}\.slice/session-[^/]+\.scope$", out, re.M), out
    assert f"XDG=/run/user/{uid}" in out, out

    status, out = in_login(user, "lxc-checkconfig --format json 2>/dev/null")
    assert status == 0, out
    checks = {c["label"]: c for c in json.loads(out)["sections"]["Host readiness"]}
    cgroups = checks[f"Cgroups for {user['name']}"]
    assert cgroups["state"] == "warning", cgroups
    assert "systemd-run --user --scope -p Delegate=yes" in cgroups["fix"], cgroups

    conf = os.path.join(user["home"], "login.conf")
    with open(conf, "w") as handle:
        handle.write(f"lxc.net.0.type = empty\nlxc.idmap = u 0 {user['base']} 65536\n"
                     f"lxc.idmap = g 0 {user['base']} 65536\nlxc.cgroup2.memory.max = 64M\n"
                     "lxc.cgroup2.pids.max = 20\n")
    os.chmod(conf, 0o644)
    status, out = in_login(user, f"lxc-create -n vm-u3 -t busybox -f {conf}")
    assert status == 0, out
    status, out = in_login(user, "systemd-run --user --scope -p Delegate=yes -- "
                                 "lxc-start -n vm-u3")
    assert status == 0, out
    try:
        status, out = in_login(user, "lxc-info -n vm-u3 -pH")
        pid = out.split()[-1]
        [where] = [x[3:] for x in open(f"/proc/{pid}/cgroup").read().splitlines()
                   if x.startswith("0::")]
        assert re.fullmatch(rf"/user\.slice/user-{uid}\.slice/user@{uid}\.service/app\.slice/"
                            r"run-[^/]+\.scope/lxc\.payload\.vm-u3", where), where
        payload = CG + where
        assert open(f"{payload}/memory.max").read() == f"{64 << 20}\n"
        assert open(f"{payload}/pids.max").read() == "20\n"
        assert os.stat(f"/proc/{pid}").st_uid == user["base"]
        # the limits hold: the 21st task is refused, a 96 MiB hog is killed
        in_login(user, "lxc-unpriv-attach -n vm-u3 -- sh -c "
                       "'for i in $(seq 30); do sleep 60 </dev/null >/dev/null 2>&1 & done 2>/dev/null'")
        assert int(open(f"{payload}/pids.current").read()) <= 20
        assert re.search(r"^max [1-9]", open(f"{payload}/pids.events").read(), re.M)
        for task in open(f"{payload}/cgroup.procs").read().split():
            if open(f"/proc/{task}/comm").read().strip() == "sleep":
                os.kill(int(task), 9)
        status, out = in_login(user, "lxc-unpriv-attach -n vm-u3 -- sh -c "
                                     f"'head -c {96 << 20} /dev/zero | tail > /dev/null'")
        assert status != 0, out
        assert re.search(r"^oom_kill [1-9]", open(f"{payload}/memory.events").read(), re.M)

        status, out = in_login(user, "lxc-unpriv-attach -n vm-u3 -- sh -c "
                                     "'id -u; cat /proc/self/cgroup'")
        # (after systemd-run's "Running scope as unit ...": the terminal has stderr too)
        assert status == 0 and out.split()[-2:] == ["0", "0::/.lxc"], out
        status, out = in_login(user, "lxc-freeze -n vm-u3 && lxc-info -n vm-u3 -sH")
        assert status == 0 and out.split() == ["FROZEN"], out
        assert open(f"{payload}/cgroup.freeze").read() == "1\n"
        status, out = in_login(user, "lxc-unfreeze -n vm-u3 && lxc-info -n vm-u3 -sH")
        assert status == 0 and out.split() == ["RUNNING"], out
        status, out = in_login(user, "lxc-stop -n vm-u3")
        assert status == 0, out
        assert not os.path.exists(payload)
    finally:
        in_login(user, "lxc-stop -n vm-u3 -k")
    status, out = in_login(user, "lxc-destroy -n vm-u3")
    assert status == 0, out
    assert not os.path.exists(os.path.join(user["lxcpath"], "vm-u3"))
