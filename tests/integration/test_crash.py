"""Crash consistency of the runtime, with real containers.

kill -9 of the lxcpath's supervisor at every step of a start and of a stop, injected with
strace at the exact system call (`-e inject=SYSCALL:signal=SIGKILL:when=N`, path-filtered
where the call names a path): one init or none, lxc-info consistent with what runs, no
leftover cgroup pushing the next start to NAME-1, no record left behind. Then the safety
nets that do not depend on records (an init nobody recorded: start and destroy refuse),
stale records, and wrong answers under parallel load (N parallel starts then N parallel
stops; start/stop churn).

LXCTOOLS_TEST_SCALE multiplies the parallel tests (N = 30 * scale containers; scale 7 is
the ~200 of issue 25).
"""

import concurrent.futures
import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ours
from lxcenv import busybox, world  # noqa: F401  (fixture)
from lxctools.kernel import clone3

SCALE = max(1, int(os.environ.get("LXCTOOLS_TEST_SCALE", "1")))


def strace():
    path = shutil.which("strace")
    if path is None:
        pytest.fail("strace is missing: ./setup test installs it (APT_TEST)")
    return path


def rootfs_of(world, name):
    return os.path.join(world.cdir(name), "rootfs")


def container_inits(rootfs):
    """PIDs of processes that are PID 1 of their PID namespace and run from ROOTFS."""
    st = os.stat(rootfs)
    want = (st.st_dev, st.st_ino)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            root = os.stat(f"/proc/{entry}/root")
            if (root.st_dev, root.st_ino) != want:
                continue
            with open(f"/proc/{entry}/status") as handle:
                for line in handle:
                    if line.startswith("NSpid:") and line.split()[-1] == "1":
                        found.append(int(entry))
        except OSError:
            continue
    return found


def anything_on(rootfs):
    st = os.stat(rootfs)
    want = (st.st_dev, st.st_ino)
    users = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                root = os.stat(f"/proc/{entry}/root")
            except OSError:
                continue
            if (root.st_dev, root.st_ino) == want:
                users.append(int(entry))
    return users


def cgroup_bases(world, name):
    """{hierarchy key: the directory NAME's payload cgroups are made in}."""
    from lxctools.config.document import ConfigDocument
    from lxctools.cgroups import Cgroups

    conf = ConfigDocument.read(os.path.join(world.cdir(name), "config")).conf
    return {p.h.key: p.base for p in Cgroups.for_container(name, world.lp, conf).placed}


def payload_cgroups(world, name):
    """Which of lxc.payload.NAME, lxc.payload.NAME-1, ... exist, in any hierarchy."""
    found = set()
    for base in cgroup_bases(world, name).values():
        for entry in os.listdir(base):
            if entry == f"lxc.payload.{name}" or entry.startswith(f"lxc.payload.{name}-"):
                found.add(entry)
    return found


def kill_lost_init(world, name, init):
    """Clean up after a test that made a container nobody knows runs: kill its init, and
    remove its payload cgroups once the kernel has let go of them."""
    os.kill(init, signal.SIGKILL)
    for base in cgroup_bases(world, name).values():
        directory = os.path.join(base, f"lxc.payload.{name}")
        deadline = time.monotonic() + 10
        while os.path.isdir(directory) and time.monotonic() < deadline:
            try:
                os.rmdir(directory)
            except OSError:
                time.sleep(0.05)


def record_path(world, name):
    from lxctools.monitor.commands import state_dir
    return os.path.join(state_dir(world.lp), name)


def supervisor_pid(world, name):
    from lxctools.monitor.commands import request
    return request(world.lp, name, "info")["monitor_pid"]


def info(world, name):
    """(state, pid or None) as lxc-info prints them."""
    proc = world.ours("lxc-info", "-n", name, "-s", "-p")
    assert proc.returncode == 0, proc.stderr
    facts = dict(line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line)
    pid = facts.get("PID")
    return facts["State"].strip(), int(pid) if pid else None


class Injection:
    """strace attached to PID, killing it with SIGKILL at the WHEN-th SYSCALL (on PATH only,
    when given). Leaves once the tracee died or on stop()."""

    def __init__(self, pid, syscall, when, path=None):
        self.out = f"/tmp/lxctools-strace-{os.getpid()}-{pid}.txt"
        args = [strace(), "-p", str(pid), "-o", self.out, "-e", f"trace={syscall}",
                "-e", f"inject={syscall}:signal=SIGKILL:when={when}"]
        if path:
            args += ["-P", path]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()  # "strace: Process N attached"
        assert "attached" in line, line

    def stop(self):
        """The trace. strace leaves by itself once its tracee is dead (it reports the kill
        first); only a tracee that lived on needs it stopped."""
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=30)
        with open(self.out) as handle:
            text = handle.read()
        os.unlink(self.out)
        return text


def inject_into_supervisor(world, anchor, target, syscall, filter_kind, when):
    """strace the lxcpath's supervisor (the one running ANCHOR) for TARGET's next step."""
    daemon = supervisor_pid(world, anchor)
    path = None
    from lxctools.monitor.commands import state_dir
    last_base = list(cgroup_bases(world, target).values())[-1]
    if filter_kind == "record":
        path = os.path.join(state_dir(world.lp), f"{target}.{daemon}.tmp")
    elif filter_kind == "recordfile":
        path = os.path.join(state_dir(world.lp), target)
    elif filter_kind == "cgroup":
        path = os.path.join(last_base, f"lxc.payload.{target}")
    elif filter_kind == "procs":
        path = os.path.join(last_base, f"lxc.payload.{target}", "cgroup.procs")
    elif filter_kind == "birth":
        # what the supervisor opens for init's birth in its cgroups: the cgroup2 payload's
        # directory (clone3's), else the last v1 payload's tasks
        bases = cgroup_bases(world, target)
        unified = bases.get("unified")
        path = os.path.join(unified, f"lxc.payload.{target}") if unified else \
            os.path.join(last_base, f"lxc.payload.{target}", "tasks")
    return daemon, Injection(daemon, syscall, when, path)


def assert_one_running(world, name):
    inits = container_inits(rootfs_of(world, name))
    assert len(inits) == 1, f"inits of {name}: {inits}"
    assert info(world, name) == ("RUNNING", inits[0])
    assert payload_cgroups(world, name) == {f"lxc.payload.{name}"}
    with open(record_path(world, name)) as handle:
        assert json.load(handle)["init_pid"] == inits[0]
    return inits[0]


def assert_stopped_and_clean(world, name):
    assert info(world, name)[0] == "STOPPED"
    assert container_inits(rootfs_of(world, name)) == []
    assert payload_cgroups(world, name) == set()
    assert not os.path.exists(record_path(world, name))
    # nor a temporary file of a record (a dead writer's, e.g. RUNNING's written while init
    # execed, never renamed)
    directory = os.path.dirname(record_path(world, name))
    left = os.listdir(directory) if os.path.isdir(directory) else []
    assert not [f for f in left if f.startswith(name + ".")], left


# Every step of a background start, as the supervisor's system calls show it (busybox
# container, no network, no hooks): the record writes are openat of "NAME.PID.tmp" (each
# then renamed to NAME), the sync messages to the container side are sendto ("go", "net",
# "exec"), then the answer. RUNNING's record is written while init execs and renamed into
# place once the exec is seen: a crash between the two leaves a temporary file saying
# RUNNING beside a record saying STARTING, and a start that is undone.
# A busybox container has no lxc.idmap: the supervisor forks its init itself (no spawner).
# Where clone3 takes CLONE_INTO_CGROUP init is born in its cgroups (kernel/clone3.py): the
# supervisor opens them before the fork (clone3), and writes no pid into them after.
BORN = clone3.supported()
START_STEPS = [
    ("record STARTING", "openat", "record", 1),
    ("cgroup names claimed", "openat", "record", 2),
    ("cgroup made in all but the last hierarchy", "mkdir", "cgroup", 1),
    *([("init's cgroups opened for its birth", "openat", "birth", 1),
       ("init forked", "clone3", None, 1)] if BORN else
      [("init forked", "clone", None, 1),
       ("init put in the cgroups", "openat", "procs", 1)]),
    ("go sent to init", "sendto", None, 1),
    ("net sent to init", "sendto", None, 2),
    ("init's pid recorded", "openat", "record", 3),
    ("exec sent to init", "sendto", None, 3),
    ("RUNNING record written (init execs meanwhile)", "openat", "record", 4),
    ("RUNNING record put in place (init has exec'd)", "rename", "record", 4),
    ("answer sent to lxc-start", "sendto", None, 4),
]


@pytest.mark.parametrize("step,syscall,kind,when", START_STEPS, ids=[s[0] for s in START_STEPS])
def test_supervisor_killed_at_each_step_of_a_start(world, step, syscall, kind, when):
    """lxc-start retries with a new supervisor, which settles what the dead one left
    (a start that never reported is undone) before it serves the retry: one init, always,
    in lxc.payload.NAME; lxc-info tells that init; stop and destroy leave nothing."""
    busybox(world, "fi-anchor")
    busybox(world, "fi-t")
    assert world.ours("lxc-start", "-n", "fi-anchor").returncode == 0
    anchor_init = container_inits(rootfs_of(world, "fi-anchor"))
    _daemon, injection = inject_into_supervisor(world, "fi-anchor", "fi-t", syscall, kind, when)
    started = world.ours("lxc-start", "-n", "fi-t")
    trace = injection.stop()
    assert "+++ killed by SIGKILL +++" in trace, f"{step}: the injection did not happen\n{trace}"
    assert started.returncode == 0, started.stderr
    assert_one_running(world, "fi-t")
    # the other container of the lxcpath was adopted, untouched
    assert container_inits(rootfs_of(world, "fi-anchor")) == anchor_init
    assert info(world, "fi-anchor") == ("RUNNING", anchor_init[0])
    for name in ("fi-t", "fi-anchor"):
        assert world.ours("lxc-stop", "-n", name, "-k").returncode == 0
        assert_stopped_and_clean(world, name)
    assert world.ours("lxc-destroy", "-n", "fi-t").returncode == 0


START_OPTIONS = {"rcfile": None, "defines": [], "share": {}, "console_path": None,
                 "console_log": None, "uid": None, "gid": None, "argv": [], "execute": False,
                 "foreground": False, "pidfile": None, "passthrough": False}


@pytest.mark.parametrize("step,syscall,kind,when,runs", [
    ("exec sent to init", "sendto", None, 3, False),
    ("RUNNING record written (init execs meanwhile)", "openat", "record", 4, False),
    ("RUNNING record put in place (init has exec'd)", "rename", "record", 4, False),
    ("answer sent to lxc-start", "sendto", None, 4, True),
], ids=["exec sent", "RUNNING record written", "RUNNING record put in place", "answer sent"])
def test_start_nobody_retries_is_undone_or_adopted(world, step, syscall, kind, when, runs):
    """The same crash with a caller that does not retry (killed too): the next command that
    names the container gets the settled answer. A start that had recorded RUNNING runs on
    (adopted); one that had not is undone, its init killed: one init or none."""
    from lxctools.monitor import commands, daemon

    busybox(world, "fi-anchor")
    busybox(world, "fi-n")
    assert world.ours("lxc-start", "-n", "fi-anchor").returncode == 0
    _pid, injection = inject_into_supervisor(world, "fi-anchor", "fi-n", syscall, kind, when)
    channel = commands.Channel(daemon.connect(world.lp))
    channel.send({"cmd": "start", "name": "fi-n", "options": START_OPTIONS})
    try:
        answer = channel.receive()
    except ConnectionResetError:
        answer = None
    channel.close()
    assert answer is None  # it died before answering
    assert "+++ killed by SIGKILL +++" in injection.stop()
    if runs:
        assert_one_running(world, "fi-n")
        assert world.ours("lxc-stop", "-n", "fi-n", "-k").returncode == 0
    assert_stopped_and_clean(world, "fi-n")
    assert world.ours("lxc-stop", "-n", "fi-anchor", "-k").returncode == 0


STOP_STEPS = [
    ("STOPPING recorded", "openat", "record", 1),
    ("a payload cgroup removed", "rmdir", "cgroup", 1),
    ("STOPPED recorded", "openat", "record", 2),
    ("record removed", "unlink", "recordfile", 1),
]


@pytest.mark.parametrize("step,syscall,kind,when", STOP_STEPS, ids=[s[0] for s in STOP_STEPS])
def test_supervisor_killed_at_each_step_of_a_stop(world, step, syscall, kind, when):
    """lxc-stop -k succeeds; the next command finishes the dead supervisor's cleanup: no
    process, cgroup or record left, the container starts again as NAME (not NAME-1)."""
    busybox(world, "fi-anchor")
    busybox(world, "fi-s")
    assert world.ours("lxc-start", "-n", "fi-anchor").returncode == 0
    assert world.ours("lxc-start", "-n", "fi-s").returncode == 0
    _pid, injection = inject_into_supervisor(world, "fi-anchor", "fi-s", syscall, kind, when)
    stopped = world.ours("lxc-stop", "-n", "fi-s", "-k")
    assert "+++ killed by SIGKILL +++" in injection.stop()
    assert stopped.returncode == 0, stopped.stderr
    assert_stopped_and_clean(world, "fi-s")
    assert world.ours("lxc-start", "-n", "fi-s").returncode == 0
    assert_one_running(world, "fi-s")
    for name in ("fi-s", "fi-anchor"):
        assert world.ours("lxc-stop", "-n", name, "-k").returncode == 0
        assert_stopped_and_clean(world, name)
    assert world.ours("lxc-destroy", "-n", "fi-s").returncode == 0


def test_timed_kills_during_starts_never_make_two_inits(world):
    """Plain kill -9 of the supervisor at varied moments of a start (the issue's first
    sighting): whatever the moment, one init or none, and lxc-info agrees."""
    busybox(world, "fi-anchor")
    busybox(world, "fi-k")
    assert world.ours("lxc-start", "-n", "fi-anchor").returncode == 0
    rng = random.Random(24)
    for _ in range(8 * SCALE):
        daemon = supervisor_pid(world, "fi-anchor")
        start = subprocess.Popen([ours("lxc-start"), "-P", world.lp, "-n", "fi-k"],
                                 env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(daemon, signal.SIGKILL)
        _out, err = start.communicate(timeout=120)
        inits = container_inits(rootfs_of(world, "fi-k"))
        assert len(inits) <= 1, inits
        if start.returncode == 0:
            assert len(inits) == 1, err
        state, pid = info(world, "fi-k")
        assert (state, pid) == (("RUNNING", inits[0]) if inits else ("STOPPED", None))
        assert payload_cgroups(world, "fi-k") == ({"lxc.payload.fi-k"} if inits else set())
        if inits:
            assert world.ours("lxc-stop", "-n", "fi-k", "-k").returncode == 0
        assert_stopped_and_clean(world, "fi-k")
    assert world.ours("lxc-stop", "-n", "fi-anchor", "-k").returncode == 0


def test_an_init_nobody_recorded_is_never_doubled_nor_its_rootfs_destroyed(world):
    """The safety nets below the records: an init whose record is lost (its supervisor
    killed, /run wiped) still sits in lxc.payload.NAME and runs from the rootfs. lxc-start
    refuses to make a second one (not NAME-1), lxc-destroy refuses to delete the rootfs."""
    busybox(world, "fi-lost")
    assert world.ours("lxc-start", "-n", "fi-lost").returncode == 0
    init = container_inits(rootfs_of(world, "fi-lost"))[0]
    os.kill(supervisor_pid(world, "fi-lost"), signal.SIGKILL)
    os.unlink(record_path(world, "fi-lost"))
    try:
        again = world.ours("lxc-start", "-n", "fi-lost")
        assert again.returncode != 0
        assert "already running outside any supervisor" in again.stderr
        assert f"{init} (init)" in again.stderr and "Traceback" not in again.stderr
        assert container_inits(rootfs_of(world, "fi-lost")) == [init]
        assert payload_cgroups(world, "fi-lost") == {"lxc.payload.fi-lost"}
        gone = world.ours("lxc-destroy", "-n", "fi-lost")
        assert gone.returncode == 1
        assert "its rootfs is in use by process" in gone.stderr and str(init) in gone.stderr
        assert os.path.exists(os.path.join(world.cdir("fi-lost"), "config"))
        assert os.path.isdir(os.path.join(rootfs_of(world, "fi-lost"), "bin"))
    finally:
        kill_lost_init(world, "fi-lost", init)
    assert world.ours("lxc-destroy", "-n", "fi-lost").returncode == 0


def test_destroy_refuses_a_rootfs_a_process_runs_from(world):
    """Not only inits: anything chrooted into the rootfs keeps lxc-destroy off it."""
    busybox(world, "fi-chroot")
    rootfs = rootfs_of(world, "fi-chroot")
    sleeper = subprocess.Popen(["chroot", rootfs, "/bin/sleep", "600"])
    try:
        deadline = time.monotonic() + 10
        while sleeper.pid not in anything_on(rootfs) and time.monotonic() < deadline:
            time.sleep(0.02)
        gone = world.ours("lxc-destroy", "-n", "fi-chroot")
        assert gone.returncode == 1
        assert f"its rootfs is in use by process {sleeper.pid} (sleep): not removing" in gone.stderr
        assert "lxc-stop -k -n fi-chroot" in gone.stderr
        assert os.path.isdir(os.path.join(rootfs, "bin"))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert world.ours("lxc-destroy", "-n", "fi-chroot").returncode == 0
    assert not os.path.exists(world.cdir("fi-chroot"))


def test_destroy_refuses_an_overlay_rootfs_in_use(world):
    """An overlay clone's root is the overlay mount (another device and inode than any
    directory): found by its layers, which lie in the clone's directory."""
    busybox(world, "fi-base")
    made = world.ours("lxc-copy", "-n", "fi-base", "-N", "fi-ov", "-s", "-B", "overlay")
    assert made.returncode == 0, made.stderr
    assert world.ours("lxc-start", "-n", "fi-ov").returncode == 0
    init = int(world.ours("lxc-info", "-n", "fi-ov", "-pH").stdout)
    os.kill(supervisor_pid(world, "fi-ov"), signal.SIGKILL)
    os.unlink(record_path(world, "fi-ov"))  # lost: nobody knows it runs
    try:
        gone = world.ours("lxc-destroy", "-n", "fi-ov")
        assert gone.returncode == 1
        assert f"in use by process {init} (init)" in gone.stderr
        assert os.path.exists(os.path.join(world.cdir("fi-ov"), "config"))
    finally:
        kill_lost_init(world, "fi-ov", init)
    assert world.ours("lxc-destroy", "-n", "fi-ov").returncode == 0
    assert world.ours("lxc-destroy", "-n", "fi-base").returncode == 0


def test_stale_records_are_removed_by_the_next_command(world):
    """A record whose init is gone (STOPPING, init_start null: a supervisor that died while
    stopping), one of a container that no longer exists, one whose content names another
    container, and a temporary record file whose writer died: lxc-info naming the first answers STOPPED, lxc-ls (which reads the
    records) lists nothing running; all three are gone after them, and the supervisor
    spawned to settle them does not stay."""
    from lxctools.monitor import daemon

    busybox(world, "fi-stale")
    busybox(world, "fi-gone")
    for name in ("fi-stale", "fi-gone"):
        assert world.ours("lxc-start", "-n", name).returncode == 0
    records = {}
    for name in ("fi-stale", "fi-gone"):
        with open(record_path(world, name)) as handle:
            records[name] = json.load(handle)
        assert world.ours("lxc-stop", "-n", name, "-k").returncode == 0
    assert world.ours("lxc-destroy", "-n", "fi-gone").returncode == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    os.makedirs(os.path.dirname(record_path(world, "fi-stale")), exist_ok=True)

    def plant(path, data):
        with open(path, "w") as handle:
            json.dump(dict(data, state="STOPPING", init_start=None), handle)

    temp = record_path(world, f"fi-stale.{dead.pid}.tmp")
    plant(record_path(world, "fi-gone"), records["fi-gone"])
    plant(temp, records["fi-stale"])
    plant(record_path(world, "fi-alias"), records["fi-stale"])  # a record of another name
    listed = world.ours("lxc-ls", "-f")
    assert listed.returncode == 0 and "RUNNING" not in listed.stdout, listed.stdout
    assert not os.path.exists(record_path(world, "fi-gone"))
    assert not os.path.exists(record_path(world, "fi-alias"))
    assert not os.path.exists(temp)
    plant(record_path(world, "fi-stale"), records["fi-stale"])
    proc = world.ours("lxc-info", "-n", "fi-stale")
    assert "State:          STOPPED" in proc.stdout, proc.stdout + proc.stderr
    assert not os.path.exists(record_path(world, "fi-stale"))
    deadline = time.monotonic() + 10
    while daemon.connect(world.lp) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.connect(world.lp) is None


def _parallel(jobs, workers):
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: job(), jobs))


def test_parallel_starts_then_parallel_stops_give_no_wrong_answer(world):
    """N parallel lxc-start -d, then N parallel lxc-stop -k (one per container), three
    rounds: every start returns 0 and is RUNNING to every later command; every stop
    returns 0 and leaves it STOPPED; nothing runs afterwards. (Before: 24-34 of 100 stops
    answered "not running": the lxcpath's supervisor died of a stale event in its loop.)"""
    count = 30 * SCALE
    names = [f"fi-p{i}" for i in range(count)]
    made = _parallel([lambda n=n: world.ours("lxc-create", "-n", n, "-t", "busybox")
                      for n in names], 8)
    assert all(p.returncode == 0 for p in made), [p.stderr for p in made if p.returncode]
    rootfs_ids = {(os.stat(rootfs_of(world, n)).st_dev, os.stat(rootfs_of(world, n)).st_ino)
                  for n in names}
    for _round in range(3):
        starts = _parallel([lambda n=n: world.ours("lxc-start", "-n", n) for n in names], count)
        wrong = [(n, p.returncode, p.stderr) for n, p in zip(names, starts) if p.returncode]
        assert wrong == []
        states = _parallel([lambda n=n: world.ours("lxc-info", "-n", n, "-sH") for n in names],
                           16)
        wrong = [(n, p.stdout, p.stderr) for n, p in zip(names, states)
                 if p.stdout.strip() != "RUNNING"]
        assert wrong == []
        stops = _parallel([lambda n=n: world.ours("lxc-stop", "-n", n, "-k") for n in names],
                          count)
        wrong = [(n, p.returncode, p.stderr) for n, p in zip(names, stops) if p.returncode]
        assert wrong == []
        states = _parallel([lambda n=n: world.ours("lxc-info", "-n", n, "-sH") for n in names],
                           16)
        wrong = [(n, p.stdout, p.stderr) for n, p in zip(names, states)
                 if p.stdout.strip() != "STOPPED"]
        assert wrong == []
        left = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    st = os.stat(f"/proc/{entry}/root")
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in rootfs_ids:
                    left.append(entry)
        assert left == []


def test_churn_gives_no_wrong_answer(world):
    """10 containers, each started and stopped in its own loop, all at once: every answer
    agrees with the command that came before it (a start that returned 0 is RUNNING to the
    next lxc-info; a stop that returned 0 is STOPPED to it)."""
    names = [f"fi-c{i}" for i in range(10)]
    for name in names:
        busybox(world, name)

    def cycle(name):
        wrong = []
        for _ in range(6 * SCALE):
            proc = world.ours("lxc-start", "-n", name)
            if proc.returncode != 0:
                wrong.append((name, "start", proc.stderr))
                continue
            state = world.ours("lxc-info", "-n", name, "-sH").stdout.strip()
            if state != "RUNNING":
                wrong.append((name, "after start", state))
            proc = world.ours("lxc-stop", "-n", name, "-k")
            if proc.returncode != 0:
                wrong.append((name, "stop", proc.stderr))
            state = world.ours("lxc-info", "-n", name, "-sH").stdout.strip()
            if state != "STOPPED":
                wrong.append((name, "after stop", state))
        return wrong

    wrong = [w for found in _parallel([lambda n=n: cycle(n) for n in names], 10) for w in found]
    assert wrong == []
