"""Networking from the command line, as issue 8 asks to show it: busybox containers on a bridge
that exists only in a private namespace, our tools run inside it (`nsenter --net`).

NETWORK SAFETY: see test_network.py; the `netns` fixture checks the host's links afterwards."""

import json
import os
import re
import signal
import subprocess

from lxctools.monitor.commands import state_dir
from test_network import container, in_ns, netns  # noqa: F401  (fixture)
from lxcenv import world  # noqa: F401  (fixture)


def sh(ns, *cmd):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True)


def start(ns, world, name):
    # not busybox's init: its rcS runs udhcpc, which flushes static addresses (LXC alike)
    proc = in_ns(ns, world, "lxc-start", "-n", name, "--", "/bin/sleep", "100000")
    assert proc.returncode == 0, proc.stderr


def stop(ns, world, name):
    assert in_ns(ns, world, "lxc-stop", "-n", name, "-k").returncode == 0
    # lxc-stop -k returns once init is killed (as LXC's); the clean-up ends at STOPPED
    assert in_ns(ns, world, "lxc-wait", "-n", name, "-s", "STOPPED", "-t", "10").returncode == 0


def attach(ns, world, name, *cmd):
    return in_ns(ns, world, "lxc-attach", "-n", name, "--", *cmd)


def nic(address, extra=""):
    return (f"lxc.net.0.type = veth\nlxc.net.0.link = net-br0\nlxc.net.0.flags = up\n"
            f"lxc.net.0.ipv4.address = {address}\n{extra}")


def test_two_containers_ping_each_other_and_a_third_reaches_the_host(world, netns):
    container(world, "net-one", nic("10.203.0.11/24"))
    container(world, "net-two", nic("10.203.0.12/24"))
    container(world, "net-gw", nic("10.203.0.13/24", "lxc.net.0.ipv4.gateway = auto\n"))
    for name in ("net-one", "net-two", "net-gw"):
        start(netns, world, name)
    assert attach(netns, world, "net-one", "ping", "-c", "1", "-W", "2",
                  "10.203.0.12").returncode == 0
    assert attach(netns, world, "net-two", "ping", "-c", "1", "-W", "2",
                  "10.203.0.11").returncode == 0
    info = in_ns(netns, world, "lxc-info", "-n", "net-two", "-i").stdout
    assert "IP:             10.203.0.12" in info
    data = json.loads(in_ns(netns, world, "lxc-info", "-n", "net-two", "--format", "json").stdout)
    assert data["ips"] == ["10.203.0.12"]
    [link] = data["links"]
    assert link["link"].startswith("veth") and link["total_bytes"] == link["tx_bytes"] + \
        link["rx_bytes"] > 0
    assert "default via 10.203.0.1 dev eth0" in attach(netns, world, "net-gw", "ip", "route").stdout
    assert attach(netns, world, "net-gw", "ping", "-c", "1", "-W", "2",
                  "10.203.0.1").returncode == 0
    listed = in_ns(netns, world, "lxc-ls", "-f", "-F", "NAME,IPV4").stdout
    for address in ("10.203.0.11", "10.203.0.12", "10.203.0.13"):
        assert address in listed
    ports = sh(netns, "ip", "-o", "link", "show", "master", "net-br0").stdout
    assert len(re.findall(r"veth\w+@", ports)) == 3
    for name in ("net-one", "net-two", "net-gw"):
        stop(netns, world, name)
    assert "veth" not in sh(netns, "ip", "-o", "link").stdout


def test_hwaddr_is_expanded_once_and_stable_across_restarts(world, netns, tmp_path):
    conf = tmp_path / "net.conf"
    conf.write_text(nic("10.203.0.21/24", "lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n"))
    proc = world.ours("lxc-create", "-n", "net-mac", "-t", "busybox", "-f", str(conf))
    assert proc.returncode == 0, proc.stderr
    written = re.search(r"lxc.net.0.hwaddr = (\S+)", world.config("net-mac")).group(1)
    assert re.fullmatch(r"00:16:3e(:[0-9a-f]{2}){3}", written), written
    seen = []
    for _ in range(2):
        start(netns, world, "net-mac")
        link = attach(netns, world, "net-mac", "ip", "link", "show", "eth0").stdout
        seen.append(re.search(r"link/ether (\S+)", link).group(1))
        stop(netns, world, "net-mac")
    assert seen == [written, written]
    assert written in world.config("net-mac")


PHYS = """lxc.net.0.type = phys
lxc.net.0.link = net-dum1
lxc.net.0.name = eth1
lxc.net.0.flags = up
lxc.net.0.ipv4.address = 10.209.0.2/24
"""


def test_phys_moves_in_and_back_at_stop_even_after_the_supervisor_died(world, netns):
    sh(netns, "ip", "link", "set", "net-dum1", "mtu", "1300")
    sh(netns, "ip", "addr", "add", "10.209.0.1/24", "dev", "net-dum0")
    container(world, "net-phys", PHYS)
    for crash in (False, True):
        start(netns, world, "net-phys")
        assert "net-dum1" not in sh(netns, "ip", "-o", "link").stdout
        assert "10.209.0.2/24" in attach(netns, world, "net-phys", "ip", "addr", "show",
                                         "eth1").stdout
        assert sh(netns, "busybox", "ping", "-c", "1", "-W", "2", "10.209.0.2").returncode == 0
        if crash:
            # the supervisor dies; lxc-stop finds the orphan, a new supervisor adopts it
            # (from its record, with the network state) and tears down as the old one would
            with open(os.path.join(state_dir(world.lp), "net-phys")) as handle:
                record = json.load(handle)
            assert record["network"]["nics"][0]["type"] == "phys"
            os.kill(record["monitor_pid"], signal.SIGKILL)
        stop(netns, world, "net-phys")
        back = sh(netns, "ip", "-o", "link", "show", "net-dum1").stdout
        assert "net-dum1@net-dum0" in back and "mtu 1300" in back, (crash, back)
    links = sh(netns, "ip", "-o", "link").stdout
    assert "phys" not in links and "veth" not in links


def test_a_missing_bridge_is_refused_before_anything_starts(world, netns):
    container(world, "net-nobr", nic("10.203.0.31/24").replace("net-br0", "net-nosuch"))
    before = sh(netns, "ip", "-o", "link").stdout
    proc = in_ns(netns, world, "lxc-start", "-n", "net-nobr")
    assert proc.returncode == 1
    config = os.path.join(world.cdir("net-nobr"), "config")
    line = world.config("net-nobr").splitlines().index("lxc.net.0.link = net-nosuch") + 1
    assert f"{config}:{line}: lxc.net.0.link: no interface 'net-nosuch'" in proc.stderr
    # a NIC the plan refuses names its line the same way
    with open(config, "a") as handle:
        handle.write("lxc.net.1.type = macvlan\n")
    proc = in_ns(netns, world, "lxc-start", "-n", "net-nobr")
    line = world.config("net-nobr").splitlines().index("lxc.net.1.type = macvlan") + 1
    assert proc.returncode == 1
    assert f"{config}:{line}: lxc.net.1.link is required for type macvlan" in proc.stderr
    assert sh(netns, "ip", "-o", "link").stdout == before
    assert in_ns(netns, world, "lxc-info", "-n", "net-nobr", "-sH").stdout.strip() == "STOPPED"


SIDE = """lxc.net.0.type = veth
lxc.net.0.link = net-br0
lxc.net.0.flags = up
lxc.net.0.ipv4.address = {}/24
lxc.net.0.ipv4.gateway = auto
lxc.net.1.type = veth
lxc.net.1.link = net-br0
"""


def test_side_by_side_with_real_lxc_on_one_bridge(world, netns, tmp_path):
    """The same NICs from real LXC and from us, on one bridge of a private namespace: the same
    view inside and on the host, the same lxc-info rows, and the two talk to each other."""
    from conftest import real_lxc
    from lxcenv import SANE_PATH

    # real LXC checks the bridge in /sys/class/net: it needs `ip netns exec`'s fresh sysfs
    def real(tool, *args):
        return subprocess.run(["ip", "netns", "exec", netns, real_lxc(tool), "-P", world.real_lp,
                               *args], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, LANG="C", PATH=SANE_PATH))

    sh(netns, "ip", "link", "set", "net-br0", "mtu", "1400")
    conf = tmp_path / "side.conf"
    conf.write_text(SIDE.format("10.203.0.41"))
    # LXC's busybox lines alone: under `ip netns exec` (its own /sys) no cgroup hierarchy is
    # visible, and real LXC aborts a start with device rules it cannot apply
    assert world.real("lxc-create", "-n", "net-side", "-t", "busybox", "-f",
                      str(conf), confine=False).returncode == 0
    container(world, "net-side", SIDE.format("10.203.0.42"))
    try:
        proc = real("lxc-start", "-n", "net-side", "--", "/bin/sleep", "100000")
        assert proc.returncode == 0, proc.stderr
        start(netns, world, "net-side")
        views = []
        for run in (lambda *a: real(*a), lambda *a: in_ns(netns, world, *a)):
            inside = run("lxc-attach", "-n", "net-side", "--", "ip", "-o", "link").stdout
            route = run("lxc-attach", "-n", "net-side", "--", "ip", "route").stdout
            info = run("lxc-info", "-n", "net-side", "-i", "-S").stdout
            listed = run("lxc-ls", "-f", "-F", "NAME,IPV4").stdout
            views.append((inside, route, info, listed))
        (r_in, r_route, r_info, r_ls), (o_in, o_route, o_info, o_ls) = views

        def shape(text):
            # names, states and MTUs; not MACs, ifindexes or addresses that differ by design
            return re.findall(r"\d+: (\w+)@\S+: <([^>]*)> mtu (\d+) qdisc (\w+)", text)
        assert shape(o_in) == shape(r_in)
        assert o_route.replace(".42", ".41") == r_route
        # (real LXC sees no cgroups under `ip netns exec`: only the network rows compare)
        def rows(text):
            return [line.split(":")[0] for line in text.splitlines()
                    if line.startswith(("IP:", "Link:", " TX", " RX", " Total"))]
        link = ["Link", " TX bytes", " RX bytes", " Total bytes"]
        assert rows(o_info) == rows(r_info) == ["IP"] + link + link
        assert "10.203.0.41" in r_info and "10.203.0.42" in o_info
        assert "10.203.0.41" in r_ls and "10.203.0.42" in o_ls
        ports = sh(netns, "ip", "-o", "link", "show", "master", "net-br0").stdout
        assert len(re.findall(r"link/ether fe:", ports)) == 4  # both keep the bridge's MAC
        assert len(re.findall(r"mtu 1400", ports)) == 4
        assert in_ns(netns, world, "lxc-attach", "-n", "net-side", "--", "ping", "-c", "1",
                     "-W", "2", "10.203.0.41").returncode == 0
    finally:
        real("lxc-stop", "-n", "net-side", "-k")
        stop(netns, world, "net-side")


def test_reboot_keeps_a_fixed_veth_pair_name(world, netns):
    import time
    container(world, "net-reb", nic("10.203.0.51/24", "lxc.net.0.veth.pair = net-pair0\n"))
    # init reboots itself once (reboot(2) in a PID namespace ends init with SIGHUP)
    proc = in_ns(netns, world, "lxc-start", "-n", "net-reb", "--", "/bin/sh", "-c",
                 "[ -e /rebooted ] && exec sleep 100000; touch /rebooted; sleep 1; reboot -f")
    assert proc.returncode == 0, proc.stderr
    first = in_ns(netns, world, "lxc-info", "-n", "net-reb", "-pH").stdout.strip()
    deadline = time.monotonic() + 15
    while True:
        pid = in_ns(netns, world, "lxc-info", "-n", "net-reb", "-pH").stdout.strip()
        if pid and pid != first:
            break
        assert time.monotonic() < deadline, "the container did not reboot"
        time.sleep(0.2)
    # the old pair is removed before the new one is made under the same name
    port = sh(netns, "ip", "-o", "link", "show", "net-pair0").stdout
    assert "master net-br0" in port and "state UP" in port
    assert "10.203.0.51" in in_ns(netns, world, "lxc-info", "-n", "net-reb", "-iH").stdout
    stop(netns, world, "net-reb")
    assert "net-pair0" not in sh(netns, "ip", "-o", "link").stdout
