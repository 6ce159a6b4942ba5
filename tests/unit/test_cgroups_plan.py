"""Cgroup naming, hierarchy discovery and the v1/v2 drivers against fake trees in tmp dirs.

A fake tree is a plain directory: mkdir works, and files are created by the fixtures where the
kernel would create them. The real hierarchies are exercised in tests/integration/test_cgroups.py.
"""

import os

import pytest

from lxctools.config.model import Conf
from lxctools.errors import ConfigError, LxcError
from lxctools.cgroups import Cgroups, host, limits, naming
from lxctools.cgroups import core
from conftest import conf_lines


def conf_of(**items):
    conf = Conf()
    for key, value in items.items():
        conf.apply(key.replace("_", "."), value)
    return conf


# -- names -------------------------------------------------------------------------------------
def test_default_names():
    names = naming.plan("c1", Conf())
    assert names.payload() == "lxc.payload.c1"
    assert names.monitor == "lxc.monitor.c1"
    assert names.with_suffix(2).payload() == "lxc.payload.c1-2"
    assert names.monitor_with_suffix(1) == "lxc.monitor.c1-1"


def test_cgroup_dir_prefixes_both():
    names = naming.plan("c1", conf_lines("lxc.cgroup.dir = a/b"))
    assert names.payload() == "a/b/lxc.payload.c1"
    assert names.monitor == "a/b/lxc.monitor.c1"


def test_explicit_dirs_and_inner_never_take_suffixes():
    names = naming.plan("c1", conf_lines("lxc.cgroup.dir.container = box",
                                         "lxc.cgroup.dir.monitor = mon",
                                         "lxc.cgroup.dir.container.inner = inner"))
    assert (names.limit, names.inner, names.monitor) == ("box", "inner", "mon")
    assert names.payload() == "box/inner"
    assert names.with_suffix(3) == names


def test_dir_conflicts_like_lxc():
    with pytest.raises(ConfigError, match="conflicts"):
        naming.plan("c1", conf_lines("lxc.cgroup.dir = a", "lxc.cgroup.dir.container = b",
                                     "lxc.cgroup.dir.monitor = m"))
    with pytest.raises(ConfigError, match="must both be set") as info:
        naming.plan("c1", conf_lines("lxc.cgroup.dir.container = b"))
    assert info.value.key == "lxc.cgroup.dir.monitor"


# -- host discovery ----------------------------------------------------------------------------
MOUNTINFO = """\
25 31 0:22 / /sys rw shared:7 - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw shared:13 - cgroup cgroup rw,memory
35 30 0:30 / /mnt/again rw shared:13 - cgroup cgroup rw,memory
"""
PROC_CGROUP = """\
4:memory:/user/1000
3:cpu,cpuacct:/
2:name=systemd:/init.scope
0::/init.scope
"""


@pytest.fixture
def fake_proc(tmp_path):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "1").mkdir()
    (proc / "self/mountinfo").write_text(MOUNTINFO)
    (proc / "self/cgroup").write_text(PROC_CGROUP)
    (proc / "1/cgroup").write_text(PROC_CGROUP.replace("/user/1000", "/"))
    return str(proc)


def test_a_name_systemd_hierarchy_is_missing_only_on_v1_hosts_without_one(fake_proc, tmp_path):
    from lxctools.cgroups import systemd_v1

    found = host.read_mountinfo(fake_proc)
    assert not systemd_v1.missing(found)  # the host has one: never touched
    without = [h for h in found if h.key != "name=systemd"]
    assert systemd_v1.missing(without)  # hybrid, none
    assert systemd_v1.missing([h for h in without if h.version == 1])  # legacy
    assert not systemd_v1.missing([h for h in without if h.version == 2])  # pure v2: not needed
    # ensure() with the hierarchy present mounts nothing
    assert systemd_v1.ensure(found) == (found, False)


def test_a_name_systemd_mount_that_fails_is_a_warning(fake_proc, tmp_path, monkeypatch, capsys):
    import errno as E

    from lxctools.kernel import libc
    from lxctools.cgroups import systemd_v1

    def refuse(*_args, **_kw):
        raise OSError(E.EPERM, "no")

    monkeypatch.setattr(libc, "mount", refuse)
    monkeypatch.setattr(systemd_v1.os, "geteuid", lambda: 0)
    monkeypatch.setenv("LXCTOOLS_RUNDIR", str(tmp_path))
    without = [h for h in host.read_mountinfo(fake_proc) if h.key != "name=systemd"]
    assert systemd_v1.ensure(without, proc=fake_proc) == (without, False)
    assert "cannot mount a name=systemd cgroup hierarchy" in capsys.readouterr().err


def test_mountinfo_hierarchies(fake_proc):
    found = {h.key: h for h in host.read_mountinfo(fake_proc)}
    assert sorted(found) == ["cpu,cpuacct", "memory", "name=systemd", "unified"]
    assert found["memory"].mountpoint == "/sys/fs/cgroup/memory"  # first mount wins
    assert found["cpu,cpuacct"].controllers == ["cpu", "cpuacct"]
    assert found["unified"].version == 2
    assert host.layout(found.values()) == "hybrid"


def test_proc_cgroup_and_init_scope(fake_proc):
    where = host.read_proc_cgroup("self", fake_proc)
    assert where["unified"] == "/init.scope" and where["memory"] == "/user/1000"
    assert host.prune_init_scope("/init.scope") == "/"
    assert host.prune_init_scope("/a/init.scope") == "/a"
    assert host.prune_init_scope("/a/b") == "/a/b"


def test_mount_root_is_stripped():
    h = host.Hierarchy("memory", 1, "/sys/fs/cgroup/memory", "/lxc.payload.x", ["memory"])
    assert h.dir_of("/lxc.payload.x/sub") == "/sys/fs/cgroup/memory/sub"
    assert h.dir_of("/") == "/sys/fs/cgroup/memory"


# -- fake trees --------------------------------------------------------------------------------
class Tree:
    """Hierarchies under a tmp dir whose mkdir is followed by the files the kernel makes."""

    def __init__(self, root, kinds):
        self.root = root
        self.hierarchies = []
        for key, version, controllers in kinds:
            mount = os.path.join(root, key.replace("name=", ""))
            os.makedirs(mount)
            self.hierarchies.append(host.Hierarchy(key, version, mount, "/", controllers))
            populate(mount, version, controllers, top=True)


V1_FILES = {"memory": {"memory.limit_in_bytes": "9223372036854771712\n",
                       "memory.memsw.limit_in_bytes": "9223372036854771712\n",
                       "memory.usage_in_bytes": "4096\n", "memory.kmem.usage_in_bytes": "0\n",
                       "memory.memsw.usage_in_bytes": "8192\n"},
            "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
            "freezer": {"freezer.state": "THAWED\n"},
            "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
            "pids": {"pids.max": "max\n"},
            "cpuacct": {"cpuacct.usage": "123456789\n"}}
V2_FILES = {"cgroup.freeze": "0\n", "cgroup.events": "populated 0\nfrozen 0\n",
            "cgroup.kill": "", "memory.max": "max\n", "memory.current": "8192\n",
            "cpu.stat": "usage_usec 2000\nuser_usec 1000\n", "pids.max": "max\n",
            "io.stat": "8:0 rbytes=100 wbytes=20 rios=1 wios=1\n",
            "memory.swap.current": "10\n", "memory.stat": "anon 1\nkernel 77\n"}


def populate(directory, version, controllers, top=False):
    files = {"cgroup.procs": "", "cgroup.clone_children": "0\n"} if version == 1 else \
        {"cgroup.procs": "", "cgroup.controllers": "memory pids cpu io\n" if top else "",
         "cgroup.subtree_control": ""}
    if version == 1:
        for c in controllers:
            files.update(V1_FILES.get(c, {}))
        if top and "cpuset" in controllers:
            files.update({"cpuset.cpus": "0-1\n", "cpuset.mems": "0\n"})
    elif not top:
        files.update(V2_FILES)
    for name, text in files.items():
        with open(os.path.join(directory, name), "w") as handle:
            handle.write(text)


@pytest.fixture
def fake_mkdir(monkeypatch):
    """os.mkdir in core.py also writes the cgroup files, as cgroupfs does."""
    trees = []
    real = os.mkdir

    def mkdir(path, mode=0o777):
        real(path, mode)
        for tree in trees:
            for h in tree.hierarchies:
                if path.startswith(h.mountpoint + "/"):
                    populate(path, h.version, h.controllers)
                    if h.version == 2:  # the kernel shows what the parent enables, once
                        # it is enabled; the fake offers the root's set from the start
                        with open(os.path.join(h.mountpoint, "cgroup.controllers")) as f:
                            offered = f.read()
                        with open(os.path.join(path, "cgroup.controllers"), "w") as f:
                            f.write(offered)

    class FakeOs:
        def __getattr__(self, name):
            return getattr(os, name)

    def rmdir(path):
        # cgroupfs removes a cgroup with its files; a plain dir needs them gone first
        for name in os.listdir(path):
            if os.path.isfile(os.path.join(path, name)):
                os.unlink(os.path.join(path, name))
        os.rmdir(path)

    fake = FakeOs()
    fake.mkdir = mkdir
    fake.rmdir = rmdir
    monkeypatch.setattr(core, "os", fake)
    return trees


def test_v1_create_limits_freeze_destroy(tmp_path, fake_mkdir):
    tree = Tree(str(tmp_path), [("memory", 1, ["memory"]), ("cpuset", 1, ["cpuset"]),
                                ("freezer", 1, ["freezer"]), ("devices", 1, ["devices"]),
                                ("name=systemd", 1, ["name=systemd"])])
    fake_mkdir.append(tree)
    conf = conf_lines("lxc.cgroup.memory.memsw.limit_in_bytes = 2G",
                      "lxc.cgroup.memory.limit_in_bytes = 1G",
                      "lxc.cgroup.devices.deny = a",
                      "lxc.cgroup.devices.allow = c 1:3 rwm")
    placed = [core.Placed(h, h.mountpoint) for h in tree.hierarchies]
    cg = Cgroups("cg-u", placed, "legacy", naming.plan("cg-u", conf), conf)
    cg.create()
    mem = os.path.join(tree.root, "memory/lxc.payload.cg-u")
    assert cg.paths["memory"] == mem
    # cpuset copied from the parent, clone_children set
    cpuset = os.path.join(tree.root, "cpuset/lxc.payload.cg-u")
    assert open(os.path.join(cpuset, "cpuset.cpus")).read() == "0-1"
    assert open(os.path.join(cpuset, "cgroup.clone_children")).read() == "1"
    assert cg.planned()["memory"] == mem
    devices = os.path.join(tree.root, "devices/lxc.payload.cg-u")
    cg.apply_limits(devices=False)
    assert open(os.path.join(devices, "devices.deny")).read() == ""
    assert open(os.path.join(mem, "memory.limit_in_bytes")).read() == "1G"
    cg.apply_devices()
    assert open(os.path.join(devices, "devices.allow")).read() == "c 1:3 rwm"
    assert open(os.path.join(devices, "devices.deny")).read() == "a"
    assert open(os.path.join(mem, "memory.memsw.limit_in_bytes")).read() == "2G"
    if os.geteuid() == 0:
        cg.chown(1234, 2345)
        st = os.stat(os.path.join(mem, "cgroup.procs"))
        assert (st.st_uid, st.st_gid) == (1234, 2345)
        assert os.stat(mem).st_uid == 1234
        assert os.stat(os.path.join(mem, "memory.limit_in_bytes")).st_uid == 0  # limits stay root's
    # json round trip, freeze through the v1 freezer
    again = Cgroups.from_json(cg.to_json())
    assert again.paths == cg.paths
    freezer = os.path.join(tree.root, "freezer/lxc.payload.cg-u/freezer.state")
    assert again.freezer_state() == "THAWED"
    again.freeze()
    assert open(freezer).read() == "FROZEN"
    again.unfreeze()
    assert again.get("memory.limit_in_bytes") == "1G"
    assert again.stats()["memsw_bytes"] == 8192
    with pytest.raises(LxcError, match='no "pids" controller'):
        again.get("pids.max")
    # a second container of the same name gets -1
    cg2 = Cgroups("cg-u", [core.Placed(h, h.mountpoint) for h in tree.hierarchies], "legacy",
                  naming.plan("cg-u", conf), conf)
    cg2.create()
    assert cg2.paths["memory"] == mem + "-1"
    cg2.destroy()
    again.destroy()
    assert not any("cg-u" in d for _r, dirs, _f in os.walk(tree.root) for d in dirs)


def test_memsw_sorted_after_memory_limit():
    items = [("memory.memsw.limit_in_bytes", "2G"), ("pids.max", "5"),
             ("memory.limit_in_bytes", "1G")]
    assert limits.sort_memsw(items) == [("pids.max", "5"), ("memory.limit_in_bytes", "1G"),
                                        ("memory.memsw.limit_in_bytes", "2G")]


def test_bad_limit_names_key_file_and_hint(tmp_path, fake_mkdir):
    tree = Tree(str(tmp_path), [("memory", 1, ["memory"])])
    fake_mkdir.append(tree)
    conf = conf_lines("lxc.cgroup.memory.limit_in_byte = 1G")
    cg = Cgroups("cg-u", [core.Placed(h, h.mountpoint) for h in tree.hierarchies], "legacy",
                 naming.plan("cg-u", conf), conf)
    cg.create()
    with pytest.raises(LxcError) as info:
        cg.apply_limits()
    assert info.value.key == "lxc.cgroup.memory.limit_in_byte"
    assert "memory.limit_in_byte" in info.value.message and tree.root in info.value.message
    assert "memory.limit_in_bytes" in info.value.hint
    conf = conf_lines("lxc.cgroup.blkio.weight = 10")
    cg.conf = conf
    with pytest.raises(LxcError, match='no "blkio" controller') as info:
        cg.apply_limits()
    assert "memory" in info.value.hint
    cg.destroy()


def test_v2_unified_delegates_controllers_and_uses_cgroup_freeze(tmp_path, fake_mkdir):
    tree = Tree(str(tmp_path), [("unified", 2, [])])
    fake_mkdir.append(tree)
    conf = conf_lines("lxc.cgroup2.memory.max = 512M", "lxc.cgroup.dir = a/b")
    h = tree.hierarchies[0]
    cg = Cgroups("cg-v", [core.Placed(h, h.mountpoint)], "unified", naming.plan("cg-v", conf),
                 conf)
    cg.create()
    payload = os.path.join(h.mountpoint, "a/b/lxc.payload.cg-v")
    assert cg.paths == {"unified": payload}
    # controllers enabled from the base down to the payload's parent
    for level in ("", "a", "a/b"):
        enabled = open(os.path.join(h.mountpoint, level, "cgroup.subtree_control")).read()
        assert enabled == "+memory +pids +cpu +io", level
    cg.apply_limits()
    assert open(os.path.join(payload, "memory.max")).read() == "512M"
    assert cg.get("memory.max") == "512M"
    assert cg.freezer_state() == "THAWED"
    with open(os.path.join(payload, "cgroup.events"), "w") as f:
        f.write("populated 1\nfrozen 1\n")  # what the kernel reports once frozen
    cg.freeze(timeout=1)
    assert open(os.path.join(payload, "cgroup.freeze")).read() == "1"
    assert cg.freezer_state() == "FROZEN"
    stats = cg.stats()
    assert stats["cpu_ns"] == 2_000_000 and stats["blkio_bytes"] == 120
    assert stats["memory_bytes"] == 8192 and stats["kmem_bytes"] == 77
    assert stats["memsw_bytes"] == 8202
    cg.kill_all()  # cgroup.kill
    assert open(os.path.join(payload, "cgroup.kill")).read() == "1"
    cg.destroy()
    assert not os.path.exists(os.path.join(h.mountpoint, "a"))  # made by us, now empty


def test_a_key_of_the_other_version_names_the_right_spelling(tmp_path, fake_mkdir):
    tree = Tree(str(tmp_path), [("unified", 2, [])])
    fake_mkdir.append(tree)
    h = tree.hierarchies[0]
    conf = conf_lines("lxc.cgroup.memory.limit_in_bytes = 1G")
    cg = Cgroups("cg-x", [core.Placed(h, h.mountpoint)], "unified", naming.plan("cg-x", conf),
                 conf)
    cg.create()
    with pytest.raises(LxcError, match="only cgroup v2") as info:
        cg.apply_limits()
    assert info.value.hint == "use lxc.cgroup2.memory.max"
    cg.destroy()
    tree = Tree(str(tmp_path / "hybrid"), [("memory", 1, ["memory"]), ("unified", 2, [])])
    fake_mkdir.append(tree)
    conf = conf_lines("lxc.cgroup2.memory.max = 1G")
    cg = Cgroups("cg-x", [core.Placed(h, h.mountpoint) for h in tree.hierarchies], "hybrid",
                 naming.plan("cg-x", conf), conf)
    cg.create()
    os.unlink(os.path.join(cg.paths["unified"], "memory.max"))  # no controllers on hybrid
    with pytest.raises(LxcError, match="cgroup v1 on this host") as info:
        cg.apply_limits()
    assert info.value.hint == "use lxc.cgroup.memory.limit_in_bytes"
    cg.destroy()


def test_first_record_format_still_read():
    old = {"name": "c", "paths": {"/sys/fs/cgroup/memory": "/sys/fs/cgroup/memory/lxc.payload.c",
                                  "/sys/fs/cgroup/unified": "/sys/fs/cgroup/unified/lxc.payload.c"},
           "unified": "/sys/fs/cgroup/unified/lxc.payload.c",
           "controllers": {"memory": "/sys/fs/cgroup/memory/lxc.payload.c"}}
    cg = Cgroups.from_json(old)
    assert cg.layout == "hybrid"
    assert cg.hierarchy_for("memory").limit == "/sys/fs/cgroup/memory/lxc.payload.c"
    assert cg.unified().payload == "/sys/fs/cgroup/unified/lxc.payload.c"


def placed_on(layout):
    """Cgroups planned on a fake host of LAYOUT (nothing made): which hierarchies it has is
    all the device plan looks at."""
    kinds = {"legacy": [("devices", 1, ["devices"])],
             "hybrid": [("devices", 1, ["devices"]), (host.UNIFIED, 2, [])],
             "unified": [(host.UNIFIED, 2, ["memory"])]}[layout]
    hs = [host.Hierarchy(k, v, f"/fake/{k}", "/", c) for k, v, c in kinds]
    return Cgroups("c", [core.Placed(h, h.mountpoint) for h in hs], layout)


def test_v2_devices_need_a_cgroup2_hierarchy():
    conf = conf_lines("lxc.cgroup2.devices.deny = a")
    with pytest.raises(LxcError, match="cannot be enforced") as info:
        limits.check(conf, placed_on("legacy"))
    assert info.value.key == "lxc.cgroup2.devices.deny"
    # beyond LXC (which ignores them there): a program on the hybrid host's cgroup2 tree
    assert limits.check(conf, placed_on("hybrid")).mode == "bpf"
    assert limits.check(conf, placed_on("unified")).mode == "bpf"


def test_v2_device_copy_of_a_v1_list_is_skipped_on_v1_hosts():
    both = conf_lines("lxc.cgroup.devices.deny = a", "lxc.cgroup.devices.allow = c 1:3 rwm",
                      "lxc.cgroup2.devices.deny = a", "lxc.cgroup2.devices.allow = c 1:3 rwm")
    for layout in ("hybrid", "legacy"):  # LXC's common.conf: the v1 list is enforced
        plan = limits.check(both, placed_on(layout))
        assert (plan.mode, plan.family) == ("v1", "lxc.cgroup")
        assert plan.skipped == [("devices.deny", "a"), ("devices.allow", "c 1:3 rwm")]
    plan = limits.check(both, placed_on("unified"))  # and there the cgroup2 one
    assert (plan.mode, plan.family) == ("bpf", "lxc.cgroup2")
    assert plan.skipped == [("devices.deny", "a"), ("devices.allow", "c 1:3 rwm")]


def test_explicit_container_dir_taken_is_an_error(tmp_path, fake_mkdir):
    tree = Tree(str(tmp_path), [("memory", 1, ["memory"])])
    fake_mkdir.append(tree)
    os.mkdir(os.path.join(tree.hierarchies[0].mountpoint, "box"))
    conf = conf_lines("lxc.cgroup.dir.container = box", "lxc.cgroup.dir.monitor = mon")
    cg = Cgroups("cg-w", [core.Placed(h, h.mountpoint) for h in tree.hierarchies], "legacy",
                 naming.plan("cg-w", conf), conf)
    with pytest.raises(LxcError, match="already exists"):
        cg.create()


def test_device_path_converted():
    assert limits.device_value("/dev/null rwm") == "c 1:3 rwm"
    assert limits.device_value("b 8:* r") == "b 8:* r"
    with pytest.raises(LxcError, match="not a device"):
        limits.device_value("/etc/passwd r")


def test_an_ordinary_users_supervisor_in_its_monitor_cgroup_plans_beside_it(tmp_path):
    """On cgroup2 an ordinary user's supervisor moves into lxc.monitor.lxctools-KEY inside its
    delegated scope (cgroups/monitor.py): the containers still go into that scope, beside it,
    not below the supervisor's own cgroup (which holds a process, so its children could get
    no controllers)."""
    from lxctools.cgroups import monitor

    mount = tmp_path / "cg"
    scope = mount / "user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"
    (scope / f"{monitor.PREFIX}0123456789abcdef").mkdir(parents=True)
    (scope / "cgroup.procs").write_text("")
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self/mountinfo").write_text(
        f"31 25 0:27 / {mount} rw shared:10 - cgroup2 cgroup2 rw,nsdelegate\n")
    (proc / "self/cgroup").write_text(
        f"0::/{scope.relative_to(mount)}/{monitor.PREFIX}0123456789abcdef\n")
    planned = Cgroups.for_container("c1", "/lp", conf_of(), proc=str(proc), euid=1000)
    assert [p.base for p in planned.placed] == [str(scope)]
    # a cgroup merely named like LXC's monitors is no supervisor's: it stays the base
    assert monitor.base_of("/a/lxc.monitor.c1") == "/a/lxc.monitor.c1"
    assert monitor.base_of(f"/{monitor.PREFIX}0123456789abcdef") == "/"


def test_an_ordinary_user_with_no_cgroup_made_makes_no_user_namespace_to_give_them(monkeypatch):
    """An unprivileged start with no delegated cgroups goes on without any (make_cgroups);
    giving the container root its payload cgroups then has nothing to do, and must not fork
    a child into a user namespace with newuidmap and newgidmap for it (~10 ms a start).
    With a payload cgroup made it still does."""
    from lxctools.cgroups import host as H
    from lxctools.idmap import userns

    calls = []
    monkeypatch.setattr(userns, "run_in_userns", lambda lines, func, what: calls.append(what))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    idmap = ["u 0 100000 65536", "g 0 100000 65536"]
    h = H.Hierarchy("memory", 1, "/sys/fs/cgroup/memory", "/", ["memory"])
    Cgroups("c1", [], "legacy").give_to_container_root(idmap)
    Cgroups("c1", [core.Placed(h, "/sys/fs/cgroup/memory/u")], "legacy") \
        .give_to_container_root(idmap)  # planned in a hierarchy, nothing made there
    assert calls == []
    made = core.Placed(h, "/sys/fs/cgroup/memory/u", limit="/sys/fs/cgroup/memory/u/lxc.payload.c1",
                       payload="/sys/fs/cgroup/memory/u/lxc.payload.c1")
    Cgroups("c1", [made], "legacy").give_to_container_root(idmap)
    assert calls == ["giving the cgroups to the container's root"]


def test_no_claim_is_recorded_when_there_is_no_hierarchy_to_make_the_cgroups_in(tmp_path, fake_mkdir):
    """An ordinary user with no delegated cgroup: create() makes nothing, so it claims
    nothing (the supervisor would write a record naming no directory on every start). With
    a hierarchy, the claim comes before the mkdir, naming the directory."""
    claims = []
    empty = Cgroups("c1", [], "legacy", naming.plan("c1", conf_of()), conf_of())
    empty.create(on_claim=claims.append)
    assert claims == [] and empty.paths == {}
    tree = Tree(str(tmp_path), [("memory", 1, ["memory"])])
    fake_mkdir.append(tree)

    def claimed(claim):
        payload = claim["hierarchies"][0]["payload"]
        claims.append((payload, os.path.exists(payload)))
    placed = [core.Placed(h, h.mountpoint) for h in tree.hierarchies]
    cg = Cgroups("c1", placed, "legacy", naming.plan("c1", conf_of()), conf_of())
    cg.create(on_claim=claimed)
    assert claims == [(os.path.join(tree.root, "memory/lxc.payload.c1"), False)]
    cg.destroy()
