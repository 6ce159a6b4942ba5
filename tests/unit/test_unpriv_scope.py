"""lxc-unpriv-start/attach: when a user's command goes through a delegated systemd scope
(cgroups/scope.py), on fake hosts described by mountinfo and /proc/self/cgroup."""

import pytest

from lxctools.cgroups.scope import scope_for

UNIFIED = "31 25 0:27 / /sys/fs/cgroup rw shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
HYBRID = (UNIFIED.replace("/sys/fs/cgroup ", "/sys/fs/cgroup/unified ")
          + "34 30 0:30 / /sys/fs/cgroup/memory rw shared:13 - cgroup cgroup rw,memory\n")
SESSION = "/user.slice/user-1000.slice/session-3.scope"


def host(tmp_path, mountinfo, cgroup, manager=True):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self/mountinfo").write_text(mountinfo)
    (proc / "self/cgroup").write_text(cgroup)
    run = tmp_path / "run"
    if manager:
        (run / "user/1000/systemd").mkdir(parents=True)
        (run / "user/1000/systemd/private").write_text("")
    return {"proc": str(proc), "run": str(run)}


def nothing_writable(_directory):
    return False


def test_a_cgroup2_host_with_an_undelegated_session_and_a_user_manager_uses_a_scope(tmp_path):
    where = host(tmp_path, UNIFIED, f"0::{SESSION}\n")
    seen = []

    def writable(directory):
        seen.append(directory)
        return False

    prefix, env = scope_for(1000, writable=writable, **where)
    assert prefix == ["systemd-run", "--user", "--scope", "-p", "Delegate=yes"]
    runtime = f"{where['run']}/user/1000"
    assert env == {"XDG_RUNTIME_DIR": runtime, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/bus"}
    assert seen == [f"/sys/fs/cgroup{SESSION}"]


@pytest.mark.parametrize("case", ["root", "hybrid", "delegated", "no-user-manager"])
def test_everywhere_else_the_tool_runs_as_it_is(tmp_path, case):
    mountinfo = HYBRID if case == "hybrid" else UNIFIED
    cgroup = f"4:memory:/user/1000\n0::{SESSION}\n" if case == "hybrid" else f"0::{SESSION}\n"
    where = host(tmp_path, mountinfo, cgroup, manager=case != "no-user-manager")
    uid = 0 if case == "root" else 1000
    writable = (lambda _d: True) if case == "delegated" else nothing_writable
    assert scope_for(uid, writable=writable, **where) is None
