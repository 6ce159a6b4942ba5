"""The lxcpath's supervisor lingers after its last container stops (monitor/daemon.py, its
idle time: LXCTOOLS_SUPERVISOR_IDLE), so that the next `lxc-start -d` there is handed to it
by the compiled front door; and it stays safe while it lingers: it leaves after its idle
time, it never serves another directory that comes to have its key (the lxcpath renamed, or
deleted and its inode number reused) and leaves when its lxcpath goes, and it keeps nothing
busy (lxc-destroy, umount of the lxcpath's filesystem). The suite runs with the idle time 0
(conftest.py); these tests set theirs."""

import os
import pwd
import shutil
import signal
import subprocess
import time

import pytest

from conftest import front_door_for_anyone, ordinary_user, ours, ours_for_anyone, require_root
from lxcenv import NET_CONF

pytestmark = pytest.mark.root


def alive(pid):
    """PID runs (a zombie waiting for its reaper has left)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_until(predicate, seconds=15):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def title(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().rstrip(b"\0").decode()


class Path:
    """Our tools on one lxcpath with the supervisor's idle time IDLE."""

    def __init__(self, tmp_path, lxcpath, idle):
        self.lp = str(lxcpath)
        os.makedirs(self.lp, exist_ok=True)
        net = tmp_path / "net.conf"
        net.write_text(NET_CONF)
        conf = tmp_path / "lxc.conf"
        conf.write_text(f"lxc.default_config = {net}\n")
        self.env = dict(os.environ, LXC_GLOBAL_CONF=str(conf),
                        LXCTOOLS_SUPERVISOR_IDLE=str(idle))
        self.pids = set()

    def run(self, tool, *args, env=None):
        return subprocess.run([ours(tool), "-P", self.lp, *args], capture_output=True,
                              text=True, env=dict(self.env, **(env or {})), timeout=120)

    def ok(self, tool, *args, env=None):
        done = self.run(tool, *args, env=env)
        assert done.returncode == 0, f"{tool} {args}: {done.stderr}"
        return done

    def supervisor(self, name):
        """The running NAME's supervisor (lxc-info's monitor pid, asked of it)."""
        from lxctools.monitor.commands import request
        pid = request(self.lp, name, "info")["monitor_pid"]
        self.pids.add(pid)
        return pid

    def cycle(self, name):
        """Start NAME, note its supervisor, stop it: the supervisor's pid."""
        self.ok("lxc-start", "-n", name)
        pid = self.supervisor(name)
        self.ok("lxc-stop", "-n", name, "-k")
        # lxc-stop returns at STOPPED; the supervisor's cleanup ends with its title
        assert wait_until(lambda: not alive(pid) or title(pid) == f"[lxc monitor] {self.lp}")
        return pid

    def cleanup(self):
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGTERM)


@pytest.fixture
def lingering(tmp_path):
    require_root()
    made = []

    def make(lxcpath, idle=600):
        path = Path(tmp_path, lxcpath, idle)
        made.append(path)
        return path
    yield make
    for path in made:
        path.cleanup()


def test_it_lingers_serves_the_next_start_then_leaves(lingering, tmp_path):
    """Stopped, the last container leaves its supervisor running (titled with the lxcpath
    alone); the next start, even the compiled lxc-start's, is served by it; once its idle
    time has passed with nothing running it leaves."""
    p = lingering(tmp_path / "lp", idle=600)
    p.ok("lxc-create", "-n", "idle1", "-t", "busybox")
    first = p.cycle("idle1")
    assert alive(first)
    assert title(first) == f"[lxc monitor] {p.lp}"
    started = p.run("lxc-start", "-n", "idle1")  # the front door: handed to `first`
    assert (started.returncode, started.stdout, started.stderr) == (0, "", "")
    assert p.supervisor("idle1") == first
    p.ok("lxc-stop", "-n", "idle1", "-k")
    # the same once more with a short idle time: spawned anew, it leaves after it
    os.kill(first, signal.SIGTERM)
    assert wait_until(lambda: not alive(first))
    p.env["LXCTOOLS_SUPERVISOR_IDLE"] = "1"
    second = p.cycle("idle1")
    assert second != first
    assert wait_until(lambda: not alive(second)), "the supervisor stayed past its idle time"


def test_idle_time_zero_leaves_with_the_last_container(lingering, tmp_path):
    p = lingering(tmp_path / "lp", idle=0)
    p.ok("lxc-create", "-n", "idle0", "-t", "busybox")
    pid = p.cycle("idle0")
    assert wait_until(lambda: not alive(pid), 10)


def test_destroy_and_umount_while_it_lingers(lingering, tmp_path):
    """It holds nothing in the lxcpath: lxc-destroy of its last container works, and so does
    umount of the filesystem the lxcpath is on (not EBUSY); then it leaves."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "lxctools-idle", str(mnt)], check=True)
    try:
        p = lingering(mnt / "lp")
        p.ok("lxc-create", "-n", "idle2", "-t", "busybox")
        pid = p.cycle("idle2")
        assert alive(pid)
        assert not any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(mnt))
                       for fd in os.listdir(f"/proc/{pid}/fd"))
        p.ok("lxc-destroy", "-n", "idle2")
        assert not os.path.exists(os.path.join(p.lp, "idle2"))
        unmounted = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
        assert unmounted.returncode == 0, unmounted.stderr
        assert wait_until(lambda: not alive(pid)), "it stayed after its lxcpath was unmounted"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_renamed_lxcpath_never_reaches_it(lingering, tmp_path):
    """Renamed, the lxcpath keeps its device and inode, so a client of the new name computes
    the lingering supervisor's socket; that supervisor knows the old path. It leaves when
    the rename happens, and the start in the new path is served by a supervisor of that
    path."""
    old = lingering(tmp_path / "old")
    old.ok("lxc-create", "-n", "idle3", "-t", "busybox")
    pid = old.cycle("idle3")
    assert alive(pid)
    os.rename(old.lp, tmp_path / "new")
    assert wait_until(lambda: not alive(pid)), "it stayed after its lxcpath was renamed"
    new = lingering(tmp_path / "new")
    # the template's shared include names the lxcpath it was written in: made anew here
    shutil.rmtree(os.path.join(new.lp, ".lxctools-include"))
    new.ok("lxc-create", "-n", "idle4", "-t", "busybox")
    new.ok("lxc-start", "-n", "idle4")
    there = new.supervisor("idle4")
    assert there != pid and title(there) == f"[lxc monitor] {new.lp} idle4"
    new.ok("lxc-stop", "-n", "idle4", "-k")


def test_a_recreated_lxcpath_never_reaches_it(lingering, tmp_path):
    """Deleted, the lxcpath's inode number may be given to the next directory made on that
    filesystem (whose key is then the lingering supervisor's): the supervisor leaves with
    its lxcpath, and a start in the new directory gets a supervisor of its own."""
    first = lingering(tmp_path / "gone")
    first.ok("lxc-create", "-n", "idle5", "-t", "busybox")
    pid = first.cycle("idle5")
    first.ok("lxc-destroy", "-n", "idle5")
    inode = os.stat(first.lp).st_ino
    os.rmdir(first.lp)
    again = lingering(tmp_path / "again")  # often the same inode number on ext4
    reused = os.stat(again.lp).st_ino == inode
    assert wait_until(lambda: not alive(pid)), "it stayed after its lxcpath was deleted"
    again.ok("lxc-create", "-n", "idle6", "-t", "busybox")
    again.ok("lxc-start", "-n", "idle6")
    there = again.supervisor("idle6")
    assert there != pid and title(there) == f"[lxc monitor] {again.lp} idle6", reused
    again.ok("lxc-stop", "-n", "idle6", "-k")


def test_the_check_before_serving(tmp_path):
    """Before it serves a connection the supervisor asks the watch; the watch says no once
    the directory went, even before its event was read, and for good."""
    require_root()
    from lxctools.monitor.linger import LxcpathWatch
    lp = tmp_path / "watched"
    lp.mkdir()
    watch = LxcpathWatch(str(lp))
    try:
        assert watch.still_ours()
        lp.rename(tmp_path / "elsewhere")
        (tmp_path / "watched").mkdir()  # the same path, another directory
        assert not watch.still_ours()
        os.rmdir(tmp_path / "watched")
        (tmp_path / "elsewhere").rename(lp)  # the very directory back: still retired
        assert not watch.still_ours()
    finally:
        watch.close()


USER = "lxct-idle"


def test_unprivileged_start_through_the_front_door(tmp_path):
    """A user's supervisor lingers too, and the compiled lxc-start hands the user's next
    start to it (id maps written with newuidmap/newgidmap as on any start); its answer is
    the Python tool's."""
    with ordinary_user(USER, 470000) as user:
        entry = pwd.getpwnam(USER)

        def as_user(program, *args):
            argv = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                    "--init-groups", "env", "-i", f"HOME={entry.pw_dir}",
                    "PATH=/usr/bin:/bin", f"USER={USER}", "LXCTOOLS_SUPERVISOR_IDLE=600",
                    program, *args]
            return subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=120)

        def ok(program, *args):
            done = as_user(program, *args)
            assert done.returncode == 0, f"{program} {args}: {done.stderr}"
            return done

        ok(ours_for_anyone("lxc-create"), "-n", "uidle", "-t", "busybox")
        ok(ours_for_anyone("lxc-start"), "-n", "uidle")
        supervisor = _supervisors_of(user["lxcpath"])
        assert len(supervisor) == 1
        ok(ours_for_anyone("lxc-stop"), "-n", "uidle", "-k")
        assert alive(supervisor[0])
        front = front_door_for_anyone("lxc-start")
        started = as_user(front, "-n", "uidle")
        assert (started.returncode, started.stdout, started.stderr) == (0, "", "")
        assert _supervisors_of(user["lxcpath"]) == supervisor  # the warm one served it
        state = ok(ours_for_anyone("lxc-info"), "-n", "uidle", "-sH").stdout
        assert state == "RUNNING\n"
        # its root is the user's subuid base: the maps were written
        init = int(ok(ours_for_anyone("lxc-info"), "-n", "uidle", "-pH").stdout)
        with open(f"/proc/{init}/status") as handle:
            uids = next(line for line in handle if line.startswith("Uid:")).split()[1:]
        assert uids == [str(user["base"])] * 4
        again = as_user(front, "-n", "uidle")
        pure = as_user("/usr/bin/env", "LXCTOOLS_PURE_PYTHON=1", front, "-n", "uidle")
        assert (again.returncode, again.stdout, again.stderr) == \
            (pure.returncode, pure.stdout, pure.stderr)
        ok(ours_for_anyone("lxc-stop"), "-n", "uidle", "-k")
        ok(ours_for_anyone("lxc-destroy"), "-n", "uidle")


def _supervisors_of(lxcpath):
    """The processes titled as LXCPATH's supervisor, but its own short-lived forks: a fork
    bears its parent's title and name until it execs or renames itself (the spare user
    namespace's maker, newuidmap and newgidmap run right after a start's answer; a front
    door's caller looks within a millisecond of it)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            words = title(int(entry)).split(" ")
            with open(f"/proc/{entry}/comm") as handle:
                comm = handle.read().strip()
            with open(f"/proc/{entry}/status") as handle:
                ppid = int(next(line for line in handle if line.startswith("PPid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue
        if comm == "lxc monitor" and words[2:3] == [lxcpath]:
            found[int(entry)] = ppid
    return sorted(pid for pid, ppid in found.items() if ppid not in found)


COLD_USER = "lxct-cold"


def test_unprivileged_cold_start_through_the_front_door():
    """An ordinary user's first start (no supervisor of the user's): the compiled lxc-start
    spawns the user's supervisor itself (`lxctools --supervise`) and hands it the start: the
    same answer as the Python tool's, the container runs with the user's id maps, and the
    one supervisor runs as the user, in its own session, without the caller's terminal."""
    with ordinary_user(COLD_USER, 480000) as user:
        entry = pwd.getpwnam(COLD_USER)

        def as_user(program, *args):
            argv = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                    "--init-groups", "env", "-i", f"HOME={entry.pw_dir}",
                    "PATH=/usr/bin:/bin", f"USER={COLD_USER}", "LXCTOOLS_SUPERVISOR_IDLE=0",
                    program, *args]
            done = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=120)
            return done.returncode, done.stdout, done.stderr

        def gone():
            return wait_until(lambda: not _supervisors_of(user["lxcpath"]), 30)

        assert as_user(ours_for_anyone("lxc-create"), "-n", "ucold", "-t", "busybox")[0] == 0
        front = front_door_for_anyone("lxc-start")
        got = []
        for pure in (True, False):
            assert gone()
            got.append(as_user("/usr/bin/env", f"LXCTOOLS_PURE_PYTHON={int(pure)}", front,
                               "-n", "ucold"))
            assert as_user(ours_for_anyone("lxc-info"), "-n", "ucold", "-sH")[1] == "RUNNING\n"
            [supervisor] = _supervisors_of(user["lxcpath"])
            with open(f"/proc/{supervisor}/status") as handle:
                uids = next(line for line in handle if line.startswith("Uid:")).split()[1:]
            assert uids == [str(entry.pw_uid)] * 4
            with open(f"/proc/{supervisor}/stat") as handle:
                stat = handle.read().rsplit(")", 1)[1].split()
            assert int(stat[3]) == supervisor and int(stat[4]) == 0  # own session, no tty
            init = int(as_user(ours_for_anyone("lxc-info"), "-n", "ucold", "-pH")[1])
            with open(f"/proc/{init}/status") as handle:
                uids = next(line for line in handle if line.startswith("Uid:")).split()[1:]
            assert uids == [str(user["base"])] * 4
            assert as_user(ours_for_anyone("lxc-stop"), "-n", "ucold", "-k")[0] == 0
        assert got[1] == got[0] == (0, "", "")
        assert gone()
        assert as_user(ours_for_anyone("lxc-destroy"), "-n", "ucold")[0] == 0
