"""The start plan (spawn/startplan.py): one list of steps that the supervisor and the
container run and lxc-start --explain prints, in the order LXC starts a container
(lxc-behaviour.md 4.4) (issue 20, item 2)."""

import os
import types

import pytest

from lxctools.spawn import explain, startplan
from lxctools.spawn.startplan import HOST, INIT, PIVOTED, SPAWNER, Step


def names():
    return [step.name for step in startplan.plan_start(None)]


def before(*ordered):
    """Each name of ORDERED comes before the next in the plan."""
    found = names()
    places = [found.index(name) for name in ordered]
    assert places == sorted(places), list(zip(ordered, places))


def side(name):
    return next(step.side for step in startplan.plan_start(None) if step.name == name)


FORK = "fork init into its new PID namespace, or the spawner (lxc.idmap, shared namespaces)"
ENTER = "init or the spawner into the cgroups (given to the container's root)"
OWN = "init without a spawner: its namespaces but the cgroup one"
OWN_PID = "init without a spawner: send its pid"
CGROUPS = "cgroups made, limits written"
BORN = "born in its cgroups, init or the spawner (in v1 ones it moves itself)"


def lxcs_order(conf):
    """names() -- LXC's order, which plan_start(None) keeps -- as the plan has it for CONF
    where the first process is born in its cgroups (born_in_cgroups: this kernel's clone3
    can): the cgroups made before the fork, and its own move in v1 hierarchies first thing."""
    order = names()
    if startplan.born_in_cgroups(conf):
        order.remove(CGROUPS)
        at = order.index(FORK)
        order[at:at + 1] = [CGROUPS, FORK, BORN]
    return order


def test_lxcs_order_on_the_host_side():
    # LXC: pre-start hooks (host), the cgroups, then the clone into new namespaces, then
    # the child moved into the cgroups before it goes on (it unshares its cgroup namespace
    # only once there). One deliberate difference: the fork comes before the cgroups are
    # made (their making waits out the kernel's grace period, which the fork overlaps;
    # ARCHITECTURE.md), the child doing nothing but its namespaces until "go", by when it
    # is in them
    before("pre-start hooks", FORK, "cgroups made, limits written", ENTER, "send go",
           "wait for go", "unshare the namespaces", "fork init, send its pid (the spawner's)")
    assert side("pre-start hooks") == HOST
    assert side(FORK) == side(ENTER) == HOST
    assert side("wait for go") == side("unshare the namespaces") == SPAWNER
    # before "go" the child only makes its namespaces, when it is init itself (as LXC's
    # clone does before the move): the cgroup one comes after go, once it is in them
    plan = startplan.plan_start(None)
    between = plan[names().index(FORK) + 1:names().index("wait for go")]
    assert [step.name for step in between if step.side != HOST] == [OWN, OWN_PID], between
    before(OWN, OWN_PID, "send go", "init's pid", "host side of the network")


def test_lxcs_order_inside_before_pivot_root():
    # LXC: pre-mount hooks in the container's mount namespace, the rootfs at
    # lxc.rootfs.mount, mount.auto, fstab, mount.entry, mount hooks, autodev hooks, the
    # device nodes, devpts and the console and ttys, then pivot_root
    # (lxc.mount.auto's cgroup word after the entries, as LXC mounts it)
    before("pre-mount hooks", "mount the rootfs", AUTO, "lxc.mount.fstab",
           "lxc.mount.entry", AUTO_CGROUP, "mount hooks", "autodev hooks",
           "device nodes and boot_id", "devpts, console and ttys", "pivot_root")
    for name in ("pre-mount hooks", "mount the rootfs", "mount hooks", "pivot_root"):
        assert side(name) == INIT


AUTO = "lxc.mount.auto: proc, sys"
AUTO_CGROUP = "lxc.mount.auto: cgroup (as the cgroup namespace shows them)"
# init's mounts, made before its pid is sent when setup_before_cgroups
EARLY = ["mounts made slaves of the host's", "pre-mount hooks", "mount the rootfs",
         "tmpfs on /dev", AUTO, "lxc.mount.fstab", "lxc.mount.entry", "lxcfs views",
         "journal link", "mount hooks", "autodev hooks", "device nodes and boot_id",
         "devpts, console and ttys"]


def test_init_makes_its_mounts_while_the_supervisor_makes_its_cgroups():
    """Root's container without a spawner, hooks among the mounts or a cgroup mount: init's
    mounts come between its namespaces and its pid, before the cgroups' making (the grace
    period it waits out); the rest, the cgroup namespace's mount included, as before."""
    from conftest import conf_lines

    conf = conf_lines("lxc.net.0.type = empty", "lxc.mount.auto = cgroup:mixed proc:mixed",
                      "lxc.mount.entry = /lib lib none ro,bind 0 0")
    assert startplan.setup_before_cgroups(conf) is (os.geteuid() == 0)
    if os.geteuid() != 0:
        pytest.skip("an ordinary user's start always has a spawner: never early")
    early = [step.name for step in startplan.plan_start(conf)]
    assert early[early.index(OWN) + 1:early.index(OWN_PID)] == EARLY
    if startplan.born_in_cgroups(conf):
        # init born in them: made before the fork (test_root_init_is_born_in_its_cgroups)
        assert early.index(CGROUPS) < early.index(FORK)
    else:
        assert early.index(OWN_PID) < early.index(CGROUPS)
    assert early.index("unshare the namespaces") < early.index(AUTO_CGROUP) \
        < early.index("pivot_root")
    assert sorted(early) == sorted(lxcs_order(conf))  # the same steps, moved
    hooked = conf_lines("lxc.net.0.type = empty", "lxc.hook.mount = /bin/true")
    late = [step.name for step in startplan.plan_start(hooked)]
    assert late == lxcs_order(hooked)


@pytest.mark.parametrize("line", [
    "lxc.hook.pre-mount = /bin/true", "lxc.hook.mount = /bin/true",
    "lxc.hook.autodev = /bin/true", "lxc.mount.fstab = /etc/fstab",
    "lxc.mount.entry = cgroup sys/fs/cgroup/x cgroup rw 0 0",
    "lxc.mount.entry = none sys/fs/cgroup/unified cgroup2 rw,create=dir 0 0",
    "lxc.idmap = u 0 100000 65536", "lxc.namespace.share.net = 1"])
def test_lxcs_order_where_it_could_tell(line):
    """A hook among the mounts (a program LXC runs in the container's cgroups), a mount that
    shows a cgroup hierarchy, an fstab (not read before the fork), a spawner: LXC's order."""
    from conftest import conf_lines

    conf = conf_lines("lxc.net.0.type = empty", line)
    assert startplan.setup_before_cgroups(conf) is False
    assert [step.name for step in startplan.plan_start(conf)] == lxcs_order(conf)


def test_the_first_process_is_born_in_its_cgroups(monkeypatch):
    """On a kernel whose clone3 takes CLONE_INTO_CGROUP, the supervisor's child (init, or
    the spawner that forks it) is born in its cgroups: they are made before the fork, and
    the child's first step is its own move into the v1 ones (kernel/clone3.py), on the
    spawner's side (init runs it when it has no spawner). Without it: LXC's order, the
    child moved by the supervisor."""
    from conftest import conf_lines
    from lxctools.kernel import clone3

    plain = conf_lines("lxc.net.0.type = empty", "lxc.hook.mount = /bin/true")
    spawned = conf_lines("lxc.net.0.type = empty", "lxc.namespace.share.net = 1")
    if not clone3.supported():
        pytest.skip("this kernel's clone3 (or a seccomp filter around this test) refuses "
                    "CLONE_INTO_CGROUP: init is moved, as LXC's order has it")
    steps = startplan.plan_start(plain)
    order = [step.name for step in steps]
    assert order.index(CGROUPS) < order.index(FORK)
    assert order[order.index(FORK) + 1] == BORN
    assert steps[order.index(BORN)].side == SPAWNER  # the child itself, first
    assert order.index(BORN) < order.index(OWN)
    assert [step.name for step in startplan.plan_start(spawned)] == order
    # an ordinary user: only where cgroups can be delegated (cgroup2 alone); elsewhere it
    # gets none, and nothing is gained by making them before the fork
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for layout, born in (("hybrid", False), ("legacy", False), ("unified", True)):
        monkeypatch.setitem(startplan._LAYOUT, "layout", layout)
        assert startplan.born_in_cgroups(plain) is born, layout
    monkeypatch.setitem(clone3._state, "supported", False)
    assert startplan.born_in_cgroups(plain) is False
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert startplan.born_in_cgroups(plain) is False
    assert [step.name for step in startplan.plan_start(plain)] == names()
    assert [step.name for step in startplan.plan_start(spawned)] == names()


def test_lxcs_order_after_pivot_root():
    # LXC: hostname, sysctls, proc, prlimits, then capabilities, LSM, seccomp and
    # no_new_privs; start-host hooks on the host before init's exec; start hooks inside
    # just before exec
    before("pivot_root", "hostname", "sysctls", "lxc.proc", "prlimits",
           "capabilities, LSM, seccomp, no_new_privs", "start hooks", "exec init")
    before("start-host hooks", "send exec", "wait for exec", "start hooks", "exec init")
    assert side("start-host hooks") == HOST
    for name in ("hostname", "start hooks", "exec init"):
        assert side(name) == PIVOTED


def test_every_message_is_sent_before_it_is_awaited():
    """The two sides meet at the sync messages: each 'send X' is on one side, its 'wait for
    X' on the other, after it in the list."""
    plan = startplan.plan_start(None)
    by_name = {step.name: step for step in plan}
    for message in ("go", "net", "ready", "exec"):
        send, wait = by_name[f"send {message}"], by_name[f"wait for {message}"]
        assert send.side != wait.side, message
        assert plan.index(send) < plan.index(wait), message
    before("send the ptys", "take the ptys")
    before("fork init, send its pid (the spawner's)", "init's pid")
    assert side("fork init, send its pid (the spawner's)") == SPAWNER


def test_each_step_is_named_once_and_runs_on_a_known_side():
    plan = startplan.plan_start(None)
    assert len({step.name for step in plan}) == len(plan)
    assert {step.side for step in plan} <= set(startplan.SIDES)
    assert plan[0].name == "state STARTING" and plan[-1].name == "state RUNNING"


def test_explain_prints_the_plan_itself():
    lines = explain.sequence_lines(None)
    assert [line.split("  ", 1)[1].strip() for line in lines] == names()


def test_a_step_added_to_the_plan_is_run_and_explained(monkeypatch):
    """Run by the supervisor's boot and printed by --explain: both read plan_start."""
    class Probe(Exception):
        pass

    def probe(_context):
        raise Probe

    real = startplan.plan_start
    monkeypatch.setattr(startplan, "plan_start",
                        lambda conf=None: [Step("probe step", HOST, (), probe)] + real(conf))
    assert any(line.endswith("probe step") for line in explain.sequence_lines(None))
    from lxctools.monitor.supervisor import Supervisor

    with pytest.raises(Probe):
        Supervisor.boot(types.SimpleNamespace(request=None, conf=None))


def test_run_applies_one_sides_steps_in_order():
    done = []
    steps = [Step(f"s{i}", s, (), lambda _c, i=i: done.append(i))
             for i, s in enumerate([HOST, INIT, HOST, PIVOTED, SPAWNER])]
    startplan.run(steps, (INIT, PIVOTED), None)
    assert done == [1, 3]


def test_init_is_forked_by_the_supervisor_unless_it_needs_a_spawner():
    """A new user namespace (made by a single-threaded process, before the PID namespace it
    owns), a shared namespace, or an ordinary user's supervisor: the spawner forks init;
    otherwise the supervisor does, and init runs the spawner's steps itself (explained so)."""
    from conftest import conf_lines

    plain = conf_lines("lxc.net.0.type = empty")
    assert startplan.needs_spawner(plain, euid=0) is False
    assert startplan.needs_spawner(plain, euid=1000) is True
    assert startplan.needs_spawner(None, euid=0) is True
    assert startplan.needs_spawner(conf_lines("lxc.idmap = u 0 100000 65536",
                                              "lxc.idmap = g 0 100000 65536"), euid=0) is True
    assert startplan.needs_spawner(conf_lines("lxc.namespace.share.net = 1"), euid=0) is True
    assert startplan.needs_spawner(conf_lines("lxc.namespace.keep = pid"), euid=0) is False


def test_init_forked_by_the_supervisor_runs_the_spawners_steps_first():
    ran = []
    steps = [Step(f"s{i}", s, (), lambda _c, i=i: ran.append(i))
             for i, s in enumerate([HOST, SPAWNER, INIT, HOST, PIVOTED])]
    for spawner, expected in ((False, [1, 2, 4]), (True, [2, 4])):
        ran.clear()
        plan = types.SimpleNamespace(steps=steps, spawner=spawner, conf=None)
        startplan.init_main(plan, sync=None)  # returns only here: no step execs
        assert ran == expected
