"""The cgroup and security layers on this host's real hierarchies, as root, without a container:
a forked `sleep` stands in for the payload. Names start with cg- (other helpers share the host).
"""

import json
import re
import os
import signal
import subprocess
import time
import uuid

import pytest

from lxctools.config.model import Conf
from lxctools.errors import LxcError
from lxctools.cgroups import Cgroups, host

from conftest import conf_lines, require_root


def leftovers(tag):
    out = subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "4", "-name", f"*{tag}*"],
                         capture_output=True, text=True).stdout
    return out.split()


@pytest.fixture
def tag():
    require_root()
    name = f"cg-{uuid.uuid4().hex[:8]}"
    yield name
    left = leftovers(name)
    for path in sorted(left, key=len, reverse=True):  # never leave anything to the next test
        try:
            os.rmdir(path)
        except OSError:
            pass
    assert not left, f"cgroups left behind: {left}"


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "1000"])
    yield proc
    proc.kill()
    proc.wait()


def hierarchies():
    return {h.key: h for h in host.read_mountinfo()}


def test_lifecycle_on_this_host(tag, sleeper):
    conf = conf_lines("lxc.cgroup.memory.limit_in_bytes = 64M",
                      "lxc.cgroup.memory.memsw.limit_in_bytes = 96M",
                      "lxc.cgroup.pids.max = 50",
                      "lxc.cgroup.devices.deny = a",
                      "lxc.cgroup.devices.allow = /dev/null rwm",
                      "lxc.cgroup.cpuset.cpus = 0")
    cg = Cgroups.for_container(tag, "/unused", conf)
    cg.create()
    cg.apply_limits()
    cg.chown(100000, 100000)  # lxc.idmap's container root owns what it may use
    procs = os.path.join(cg.paths["memory"], "cgroup.procs")
    assert os.stat(procs).st_uid == 100000 and os.stat(cg.paths["memory"]).st_gid == 100000
    cg.enter(sleeper.pid)
    lines = open(f"/proc/{sleeper.pid}/cgroup").read().splitlines()
    # every hierarchy of the host (v1 controllers, name=systemd, unified) holds the payload
    assert len(lines) == len(hierarchies())
    for line in lines:
        assert line.endswith(f"/lxc.payload.{tag}"), line
    assert cg.relative_payload().endswith(f"lxc.payload.{tag}")
    assert cg.get("memory.limit_in_bytes") == f"{64 << 20}\n"
    assert cg.get("memory.memsw.limit_in_bytes") == f"{96 << 20}\n"
    assert cg.get("devices.list") == "c 1:3 rwm\n"
    assert cg.get("cpuset.cpus") == "0\n"
    assert cg.pids() == [sleeper.pid]
    # another process rebuilds it from the record
    again = Cgroups.from_json(json.loads(json.dumps(cg.to_json())))
    assert again.paths == cg.paths
    again.set("pids.max", "7")
    assert cg.get("pids.max") == "7\n"
    again.freeze()
    assert again.freezer_state() == "FROZEN"
    state = open(f"/proc/{sleeper.pid}/stat").read().split(")")[1].split()[0]
    again.unfreeze()
    assert again.freezer_state() == "THAWED"
    assert state in ("D", "S")  # a v1-frozen task sleeps in the refrigerator
    stats = again.stats()
    assert {"cpu_ns", "memory_bytes", "blkio_bytes"} <= set(stats)
    again.kill_all(signal.SIGKILL)
    assert sleeper.wait(timeout=5) == -signal.SIGKILL
    again.destroy()
    assert leftovers(tag) == []


def test_taken_name_gets_a_suffix(tag, sleeper):
    first = Cgroups.for_container(tag, "/unused", Conf())
    first.create()
    second = Cgroups.for_container(tag, "/unused", Conf())
    second.create()
    try:
        assert all(p.endswith(f"lxc.payload.{tag}-1") for p in second.paths.values())
        second.enter(sleeper.pid)
        # a busy cgroup is not removed silently: destroy waits, then names what is inside
        with pytest.raises(LxcError, match=str(sleeper.pid)):
            second.destroy(timeout=0.2)
    finally:
        sleeper.kill()
        sleeper.wait()
        second.destroy()
        first.destroy()


def test_monitor_cgroup_and_dirs(tag):
    conf = conf_lines(f"lxc.cgroup.dir = {tag}/x")
    cg = Cgroups.for_container(tag, "/unused", conf)
    cg.create()
    cg.create_monitor()
    mem = [p for p in cg.placed if p.h.key == "memory"][0]
    assert mem.payload.endswith(f"{tag}/x/lxc.payload.{tag}")
    assert mem.monitor.endswith(f"{tag}/x/lxc.monitor.{tag}")
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    try:
        cg.enter_monitor(pid)
        assert f"lxc.monitor.{tag}" in open(f"/proc/{pid}/cgroup").read()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    cg.destroy()  # also the intermediate dirs it made


def test_explicit_dirs_with_inner(tag, sleeper):
    conf = conf_lines(f"lxc.cgroup.dir.container = {tag}-box", f"lxc.cgroup.dir.monitor = {tag}-mon",
                      "lxc.cgroup.dir.container.inner = inner",
                      "lxc.cgroup.memory.limit_in_bytes = 32M")
    cg = Cgroups.for_container(tag, "/unused", conf)
    cg.create()
    cg.apply_limits()
    cg.enter(sleeper.pid)
    assert f"memory:/{tag}-box/inner" in open(f"/proc/{sleeper.pid}/cgroup").read()
    mem = [p for p in cg.placed if p.h.key == "memory"][0]
    assert open(os.path.join(mem.limit, "memory.limit_in_bytes")).read() == f"{32 << 20}\n"
    cg.kill_all()
    sleeper.wait(timeout=5)
    cg.destroy()


def test_bad_value_names_key_and_file(tag):
    cg = Cgroups.for_container(tag, "/unused", conf_lines("lxc.cgroup.pids.max = lots"))
    cg.create()
    try:
        with pytest.raises(LxcError) as info:
            cg.apply_limits()
        assert info.value.key == "lxc.cgroup.pids.max"
        assert "pids.max" in info.value.message and "/sys/fs/cgroup/pids/" in info.value.message
        assert info.value.hint
    finally:
        cg.destroy()


def test_v2_core_files_on_the_unified_hierarchy(tag, sleeper):
    """This host's cgroup2 has no controllers; its core files (cgroup.procs, cgroup.freeze,
    cgroup.kill) are still there in every non-root cgroup: exercise the v2 freezer and kill."""
    if "unified" not in hierarchies():
        pytest.skip("no cgroup2 hierarchy mounted on this host")
    cg = Cgroups.for_container(tag, "/unused", Conf())
    cg.layout = "unified"  # drive the v2 code paths on the hybrid host's cgroup2 tree
    cg.placed = [p for p in cg.placed if p.h.version == 2]
    cg.create()
    cg.enter(sleeper.pid)
    if not os.path.exists(os.path.join(cg.paths["unified"], "cgroup.freeze")):
        cg.kill_all()
        cg.destroy()
        pytest.skip("this kernel's cgroup2 has no cgroup.freeze (before 5.2)")
    cg.freeze(timeout=5)
    assert cg.freezer_state() == "FROZEN"
    cg.unfreeze()
    assert cg.freezer_state() == "THAWED"
    cg.kill_all()
    assert sleeper.wait(timeout=5) == -signal.SIGKILL
    cg.destroy()


@pytest.mark.parametrize("spawner", ["python", "front door"])
def test_the_supervisor_leaves_its_callers_cgroup(tag, tmp_path, spawner):
    """As LXC's monitor: a background container's supervisor does not stay in the cgroup of
    whoever started it (a systemd unit is killed whole when it ends; tests/vm runs that for
    real), it sits in lxc.monitor.lxctools-HASH beside the payloads, removed when it exits.
    Spawned by the Python tool (-p: the front door leaves it to Python) or by the compiled
    lxc-start (`lxctools --supervise`)."""
    from conftest import ours

    lp = str(tmp_path / "lxc")
    conf = tmp_path / "c.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    assert subprocess.run([ours("lxc-create"), "-P", lp, "-n", tag, "-t", "busybox", "-f",
                           str(conf)], capture_output=True).returncode == 0
    caller = []  # the starting shell's cgroup in every hierarchy: a stand-in for a unit's
    for h in hierarchies().values():
        path = os.path.join(h.mountpoint, tag)
        os.mkdir(path)
        if h.version == 1 and "cpuset" in h.controllers:
            for name in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(h.mountpoint, name)) as src, \
                        open(os.path.join(path, name), "w") as dst:
                    dst.write(src.read())
        caller.append(path)
    pidfile = tmp_path / "pid"
    enter = "; ".join(f"echo $$ > {p}/cgroup.procs" for p in caller)
    pid_option = f"-p {pidfile}" if spawner == "python" else ""
    started = subprocess.run(["sh", "-c", f"{enter}; exec {ours('lxc-start')} -P {lp} -n {tag} "
                              f"{pid_option}"], capture_output=True, text=True,
                             env=dict(os.environ, LXCTOOLS_SUPERVISOR_IDLE="0"))
    try:
        assert started.returncode == 0, started.stderr
        if spawner == "python":
            supervisor = int(pidfile.read_text())
        else:
            [supervisor] = [int(p) for p in os.listdir("/proc") if p.isdigit()
                            and _cmdline(p) == f"[lxc monitor] {lp} {tag}".encode()]
        lines = open(f"/proc/{supervisor}/cgroup").read().splitlines()
        assert len(lines) == len(caller)
        for line in lines:
            assert re.search(r":/lxc\.monitor\.lxctools-[0-9a-f]{16}$", line), line
        for path in caller:  # the shell is gone, and nothing it started is left there
            assert open(os.path.join(path, "cgroup.procs")).read() == ""
        monitor = [line.split(":", 2)[2] for line in lines]
    finally:
        subprocess.run([ours("lxc-stop"), "-P", lp, "-n", tag, "-k"], capture_output=True)
    deadline = time.monotonic() + 10
    while any(os.path.isdir(os.path.join(h.mountpoint, m.lstrip("/")))
              for h, m in zip(hierarchies().values(), monitor)):
        assert time.monotonic() < deadline, "the monitor cgroup outlived its supervisor"
        time.sleep(0.2)
    subprocess.run([ours("lxc-destroy"), "-P", lp, "-n", tag], capture_output=True)
    for path in caller:
        os.rmdir(path)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().rstrip(b"\0")
    except OSError:
        return b""


API_START = r"""
import os, sys, time
from lxctools.api.container import Container
from lxctools.paths import lxcpath_key

lxcpath, name = sys.argv[1:3]
c = Container(name, lxcpath)
c.start()
monitor = c.running_info()["monitor_pid"]
mine = open("/proc/self/cgroup").read()
c.stop()
def alive(pid):  # a zombie (the supervisor may be our child) has left its cgroups
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

deadline = time.monotonic() + 60
while alive(monitor) and time.monotonic() < deadline:  # it leaves with its last container
    time.sleep(0.05)
print(lxcpath_key(lxcpath))
print(mine, flush=True)
sys.stdin.readline()  # alive while the test looks: a caller that stays, as python-lxc's
"""


def test_a_long_lived_caller_never_keeps_the_monitor_cgroup(tag, tmp_path):
    """A process that starts a container and lives on (python-lxc's, a shell loop) is left
    where it is when it sits in a hierarchy's root cgroup: moved into the supervisor's
    monitor cgroup (the cgroup2 "transient pid" move, only needed below a delegated base),
    it kept that cgroup populated, and every supervisor of a test lxcpath left an empty
    `lxc.monitor.lxctools-KEY` behind on this host."""
    import sys
    from conftest import ours

    lp = str(tmp_path / "lxc")
    conf = tmp_path / "c.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    assert subprocess.run([ours("lxc-create"), "-P", lp, "-n", tag, "-t", "busybox", "-f",
                           str(conf)], capture_output=True).returncode == 0
    proc = subprocess.Popen([sys.executable, "-c", API_START, lp, tag], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        key = proc.stdout.readline().strip()
        cgroups = proc.stdout.readline() + proc.stdout.readline()
        assert key, proc.stderr.read()
        assert "lxc.monitor." not in cgroups, cgroups
        left = subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "3", "-name",
                               f"lxc.monitor.lxctools-{key}"], capture_output=True,
                              text=True).stdout.split()
        assert not left, f"the monitor cgroup outlived its supervisor: {left}"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        subprocess.run([ours("lxc-destroy"), "-P", lp, "-n", tag, "-f"], capture_output=True)
