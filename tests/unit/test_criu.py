"""spawn/criu.py's pure parts: what CRIU said, and the arguments LXC passes it."""

from lxctools.spawn import criu


def test_errors_of_keeps_what_criu_said_without_source_places():
    text = ("Error (criu/util.c:642): exited, status=1\n"
            "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n"
            "(00.012345) Error (criu/mount.c:1010): mnt: No root found for mountpoint 42\n"
            "Warn  (criu/kerndat.c:1): something\n")
    assert criu.errors_of(text) == ["vdso: Unexpected rt vDSO area bounds",
                                    "mnt: No root found for mountpoint 42"]
    # a restored task's lines carry its pid; the closing verdict says nothing of why
    text = ("(02.815804)      1: Error (criu/mount-v2.c:324): mnt-v2: Failed to move_mount\n"
            "(02.832994) Error (criu/cr-restore.c:2537): Restoring FAILED.\n")
    assert criu.errors_of(text) == ["mnt-v2: Failed to move_mount"]
    # irmap's walk of its hints is not the reason: after what is
    text = ("Error (criu/irmap.c:104): irmap: Can't stat /no-such-path: No such file or directory\n"
            "Error (criu/files-ext.c:94): Can't dump file 32 of that type [600] (anon bpf-prog)\n")
    assert criu.errors_of(text) == ["Can't dump file 32 of that type [600] (anon bpf-prog)",
                                    "irmap: Can't stat /no-such-path: No such file or directory"]
    # no Error lines: the last lines it printed
    assert criu.errors_of("a\nb\n\nc\n") == ["a", "b", "c"]


def test_versions_compare_as_numbers():
    assert criu._version_tuple("3.17.1") > criu._version_tuple("2.0")
    assert criu._version_tuple("10.0") > criu._version_tuple("9.9")
    assert criu._version_tuple("1.8") < criu._version_tuple(criu.MIN_VERSION)


def test_cgroup_roots_and_freezer_for_each_layout():
    unified = {"hierarchies": [{"version": 2, "mountpoint": "/sys/fs/cgroup", "controllers": [],
                                "limit": "/sys/fs/cgroup/lxc.payload.c1"}]}
    assert criu.cgroup_roots(unified) == ["--cgroup-root", "/lxc.payload.c1"]
    assert criu.freezer_dir(unified) == "/sys/fs/cgroup/lxc.payload.c1"
    hybrid = {"hierarchies": [
        {"version": 1, "mountpoint": "/sys/fs/cgroup/freezer", "controllers": ["freezer"],
         "limit": "/sys/fs/cgroup/freezer/lxc.payload.c1"},
        {"version": 1, "mountpoint": "/sys/fs/cgroup/cpu,cpuacct",
         "controllers": ["cpu", "cpuacct"], "limit": "/sys/fs/cgroup/cpu,cpuacct/lxc.payload.c1"}]}
    assert criu.cgroup_roots(hybrid) == ["--cgroup-root", "freezer:/lxc.payload.c1",
                                         "--cgroup-root", "cpu,cpuacct:/lxc.payload.c1"]
    assert criu.freezer_dir(hybrid) == "/sys/fs/cgroup/freezer/lxc.payload.c1"


def test_tty_ids_are_hex_as_criu_reads_them():
    assert criu.tty_id(0x8801, 0x3f) == "tty[8801:3f]"


def test_only_networks_criu_can_recreate():
    from lxctools.config.model import Conf
    from lxctools.errors import LxcError
    conf = Conf()
    conf.items = {"lxc.net.0.type": "veth", "lxc.net.1.type": "empty"}
    criu.check_networks(conf)
    conf.items["lxc.net.2.type"] = "ipvlan"
    try:
        criu.check_networks(conf)
    except LxcError as exc:
        assert str(exc) == "Found un-dumpable network: ipvlan (lxc.net.2)"
    else:
        raise AssertionError("ipvlan accepted")


def test_veth_recreated_with_its_names():
    from lxctools.config.model import Conf
    conf = Conf()
    conf.items = {"lxc.net.0.type": "veth", "lxc.net.0.link": "lxcbr0"}
    externals, nics = criu.restore_networks(conf, [{"index": 0, "type": "veth",
                                                    "name": "eth0", "host_name": "vethAB12"}])
    assert externals == ["veth[eth0]:vethAB12@lxcbr0"]
    assert nics[0]["host_name"] == "vethAB12"


def test_veth_without_a_name_is_found_by_the_name_the_dump_saw():
    """A NIC without lxc.net.N.name is made as "eth%d": CRIU looks the veth up by the name it
    dumped (veth[eth0]), which the checkpoint keeps as inside_name; never the pattern."""
    from lxctools.config.model import Conf
    conf = Conf()
    conf.items = {"lxc.net.0.type": "veth", "lxc.net.0.link": "br0",
                  "lxc.net.1.type": "veth"}
    externals, _nics = criu.restore_networks(conf, [
        {"index": 0, "type": "veth", "name": "eth%d", "host_name": "vh0", "inside_name": "eth1"},
        {"index": 1, "type": "veth", "name": "eth%d", "host_name": "vh1"}])
    assert externals == ["veth[eth1]:vh0@br0", "veth[eth1]:vh1"]

