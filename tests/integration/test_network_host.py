"""network without a container: the host side made in a private namespace that plays
the host, a process under `unshare -n` that plays the container.

NETWORK SAFETY: nothing is created in the host's own namespace. setup_host_side/teardown get
host_netns (a private `net-...` namespace); configure_inside runs in the fake container's
namespace; traffic goes only between the two. The fixture checks the host's links and the list
of namespaces are the same afterwards."""

import os
import secrets
import signal
import subprocess
import time

import pytest

from conftest import require_root
from lxctools.config.parser import loads
from lxctools.errors import LxcError
from lxctools import network
from lxctools.kernel.procdir import ProcDir
from lxctools.network import in_netns


def host_links():
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines())


def netns_list():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def sh(ns, *cmd, check=True):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          check=check)


@pytest.fixture
def host():
    """A private namespace with bridge net-br0 (10.203.0.1/24) and a veth pair net-up0/net-up1
    (a plain parent for macvlan: this kernel has no dummy driver)."""
    require_root()
    name = f"net-{secrets.token_hex(3)}"
    links, spaces = host_links(), netns_list()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        sh(name, "ip", "link", "set", "lo", "up")
        sh(name, "ip", "link", "add", "net-br0", "type", "bridge")
        sh(name, "ip", "addr", "add", "10.203.0.1/24", "dev", "net-br0")
        sh(name, "ip", "link", "set", "net-br0", "up")
        sh(name, "ip", "link", "add", "net-up0", "type", "veth", "peer", "name", "net-up1")
        sh(name, "ip", "link", "set", "net-up0", "up")
        sh(name, "ip", "link", "set", "net-up1", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
    assert host_links() == links  # the host's own namespace never changed
    assert netns_list() == spaces


@pytest.fixture
def spawn():
    """spawn() -> pid of a process in a new, empty network namespace (the fake container)."""
    procs = []

    def make():
        proc = subprocess.Popen(["unshare", "-n", "sleep", "600"])
        procs.append(proc)
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{proc.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        return proc.pid

    yield make
    for proc in procs:
        proc.kill()
        proc.wait()


def nics_of(text):
    return network.plan(loads(text))


def start(host, pid, text, name="net-c"):
    """What the supervisor and the container's init do, in order."""
    nics = nics_of(text)
    network.check_host_side(nics, host_netns=host)
    state = network.setup_host_side(nics, pid, name, host_netns=host)
    with in_netns(f"/proc/{pid}/ns/net"):
        network.configure_inside(nics)
    return nics, state


def inside(pid, *cmd, check=True):
    return subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", *cmd], capture_output=True,
                          text=True, check=check)


def ping(where, address):
    return subprocess.run([*where, "busybox", "ping", "-c", "1", "-W", "2", address],
                          capture_output=True, text=True).returncode == 0


def in_host(ns):
    return ["ip", "netns", "exec", ns]


def in_container(pid):
    return ["nsenter", f"--net=/proc/{pid}/ns/net"]


VETH = """lxc.net.0.type = veth
lxc.net.0.link = net-br0
lxc.net.0.flags = up
lxc.net.0.hwaddr = 00:16:3e:00:00:02
lxc.net.0.ipv4.address = 10.203.0.2/24
lxc.net.0.ipv4.gateway = auto
"""


def test_veth_on_a_bridge_with_gateway_auto(host, spawn):
    pid = spawn()
    nics, state = start(host, pid, VETH)
    [nic] = nics
    addr = inside(pid, "ip", "addr", "show", "eth0").stdout
    assert "10.203.0.2/24 brd 10.203.0.255" in addr and "00:16:3e:00:00:02" in addr
    assert "default via 10.203.0.1 dev eth0" in inside(pid, "ip", "route").stdout
    assert "UP" in inside(pid, "ip", "-o", "link", "show", "lo").stdout
    port = sh(host, "ip", "-o", "link", "show", nic.host_name).stdout
    assert "master net-br0" in port and "state UP" in port
    assert "link/ether fe:" in port  # the bridge keeps its own MAC
    assert ping(in_container(pid), "10.203.0.1") and ping(in_host(host), "10.203.0.2")
    with ProcDir(pid) as proc:
        assert network.addresses(proc) == (["10.203.0.2"], [])
        assert sorted(network.interfaces(proc)) == ["eth0", "lo"]
    with in_netns(host):
        [(name, tx, rx)] = network.nic_stats(state.to_json())
    assert name == nic.host_name and tx > 0 and rx > 0
    network.teardown(state)
    assert nic.host_name not in sh(host, "ip", "-o", "link").stdout
    assert "eth0" not in inside(pid, "ip", "-o", "link").stdout


def test_mtu_is_inherited_from_the_bridge(host, spawn):
    sh(host, "ip", "link", "set", "net-br0", "mtu", "1400")
    pid = spawn()
    nics, state = start(host, pid, "lxc.net.0.type = veth\nlxc.net.0.link = net-br0\n"
                                   "lxc.net.0.name = net0\nlxc.net.0.veth.n_rxqueues = 2\n"
                                   "lxc.net.0.veth.n_txqueues = 3\n")
    link = inside(pid, "ip", "-d", "-o", "link", "show", "net0").stdout
    assert "mtu 1400" in link and "numtxqueues 3 numrxqueues 2" in link
    assert "mtu 1400" in sh(host, "ip", "-o", "link", "show", nics[0].host_name).stdout
    network.teardown(state)


def test_two_containers_on_macvlan_talk(host, spawn):
    one, two = spawn(), spawn()
    conf = ("lxc.net.0.type = macvlan\nlxc.net.0.link = net-up0\nlxc.net.0.macvlan.mode = "
            "bridge\nlxc.net.0.flags = up\nlxc.net.0.ipv4.address = {}\n")
    _, s1 = start(host, one, conf.format("10.204.0.2/24"), "net-a")
    _, s2 = start(host, two, conf.format("10.204.0.3/24"), "net-b")
    assert "eth0@" in inside(one, "ip", "-o", "link").stdout
    assert ping(in_container(one), "10.204.0.3") and ping(in_container(two), "10.204.0.2")
    network.teardown(s1)
    network.teardown(s2)


def test_phys_goes_in_and_comes_back_with_its_name_and_mtu(host, spawn):
    sh(host, "ip", "link", "set", "net-up1", "mtu", "1300")
    pid = spawn()
    nics, state = start(host, pid, "lxc.net.0.type = phys\nlxc.net.0.link = net-up1\n"
                                   "lxc.net.0.name = eth3\nlxc.net.0.mtu = 1280\n"
                                   "lxc.net.0.flags = up\n"
                                   "lxc.net.0.ipv4.address = 10.206.0.2/24\n")
    assert "net-up1" not in sh(host, "ip", "-o", "link").stdout
    assert "mtu 1280" in inside(pid, "ip", "-o", "link", "show", "eth3").stdout
    sh(host, "ip", "addr", "add", "10.206.0.1/24", "dev", "net-up0")
    assert ping(in_host(host), "10.206.0.2")
    # init dies first (a stop): the namespace lives on through the state's handle
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    network.teardown(state)
    back = sh(host, "ip", "-o", "link", "show", "net-up1").stdout
    assert "mtu 1300" in back and "net-up1@net-up0" in back


def test_router_mode(host, spawn):
    pid = spawn()
    nics, state = start(host, pid, "lxc.net.0.type = veth\nlxc.net.0.veth.mode = router\n"
                                   "lxc.net.0.flags = up\n"
                                   "lxc.net.0.ipv4.address = 10.207.0.2/32\n"
                                   "lxc.net.0.ipv4.gateway = 10.203.0.1\n"
                                   "lxc.net.0.veth.ipv4.route = 10.208.0.0/24\n")
    veth = nics[0].host_name
    routes = sh(host, "ip", "route").stdout
    assert f"10.207.0.2 dev {veth}" in routes and f"10.208.0.0/24 dev {veth}" in routes
    assert f"10.203.0.1 dev {veth}" in sh(host, "ip", "neigh", "show", "proxy").stdout
    assert sh(host, "cat", f"/proc/sys/net/ipv4/conf/{veth}/forwarding").stdout.strip() == "1"
    # the gateway is outside the container's /32: reached through the device first
    assert "default via 10.203.0.1 dev eth0" in inside(pid, "ip", "route").stdout
    assert ping(in_container(pid), "10.203.0.1")
    network.teardown(state)
    assert "10.207.0.2" not in sh(host, "ip", "route").stdout


def test_l2proxy(host, spawn):
    pid = spawn()
    conf = ("lxc.net.0.type = veth\nlxc.net.0.link = net-br0\nlxc.net.0.l2proxy = 1\n"
            "lxc.net.0.ipv4.address = 10.203.0.9/24\n")
    # a new namespace inherits IPv4 forwarding from the host's (net.core.devconf_inherit_init_net
    # = 0), which Debian's lxc-net turns on: start from off, whatever the host
    sh(host, "sysctl", "-qw", "net.ipv4.conf.net-br0.forwarding=0")
    with pytest.raises(LxcError) as info:
        network.check_host_side(nics_of(conf), host_netns=host)
    assert "net.ipv4.conf.net-br0.forwarding=1" in str(info.value)
    sh(host, "sysctl", "-qw", "net.ipv4.conf.net-br0.forwarding=1")
    _, state = start(host, pid, conf)
    assert "10.203.0.9 dev net-br0" in sh(host, "ip", "neigh", "show", "proxy").stdout
    network.teardown(state)
    assert "10.203.0.9" not in sh(host, "ip", "neigh", "show", "proxy").stdout


def test_scripts_get_lxcs_arguments_and_environment(host, spawn, tmp_path):
    log = tmp_path / "log"
    script = tmp_path / "script"
    script.write_text(f'#!/bin/sh\necho "$@|$LXC_NET_TYPE|$LXC_NET_PARENT|$LXC_NET_PEER|'
                      f'$LXC_HOOK_TYPE|$LXC_HOOK_SECTION|$LXC_NAME" >> {log}\n')
    script.chmod(0o755)
    pid = spawn()
    nics, state = start(host, pid, f"lxc.net.0.type = veth\nlxc.net.0.link = net-br0\n"
                                   f"lxc.net.0.script.up = {script}\n"
                                   f"lxc.net.0.script.down = {script}\n", name="net-s")
    network.teardown(state)
    peer = nics[0].host_name
    assert log.read_text().splitlines() == [
        f"net-s net up veth net-br0 {peer}|veth|net-br0|{peer}|up|net|net-s",
        f"net-s net down veth net-br0 {peer}|veth|net-br0|{peer}|down|net|net-s"]


def test_a_failing_script_up_removes_what_was_made(host, spawn):
    pid = spawn()
    nics = nics_of("lxc.net.0.type = veth\nlxc.net.0.link = net-br0\n"
                   "lxc.net.0.veth.pair = net-made\nlxc.net.0.script.up = /bin/false\n")
    with pytest.raises(LxcError) as info:
        network.setup_host_side(nics, pid, "net-f", host_netns=host)
    assert "lxc.net.0.script.up failed with status 1" in str(info.value)
    assert "net-made" not in sh(host, "ip", "-o", "link").stdout


def test_kernel_errors_come_through_in_its_words(host, spawn):
    pid = spawn()
    sh(host, "ip", "link", "add", "net-taken", "type", "veth", "peer", "name", "net-taken1")
    nics = nics_of("lxc.net.0.type = veth\nlxc.net.0.link = net-br0\n"
                   "lxc.net.0.veth.pair = net-taken\n")
    with pytest.raises(LxcError) as info:
        network.setup_host_side(nics, pid, "net-k", host_netns=host)
    assert "creating veth pair net-taken: File exists (errno EEXIST)" in str(info.value)
    assert "net-taken" in sh(host, "ip", "-o", "link").stdout  # not ours: left alone


def test_host_side_refusals(host):
    for conf, words in (
            ("lxc.net.0.type = veth\nlxc.net.0.link = net-nosuch\n",
             "lxc.net.0.link: no interface 'net-nosuch'"),
            ("lxc.net.0.type = veth\nlxc.net.0.link = net-up0\n", "net-up0 is not a bridge"),
            ("lxc.net.0.type = veth\nlxc.net.0.link = net-br0\nlxc.net.0.veth.vlan.id = 10\n",
             "vlan_filtering is not enabled on net-br0"),
            ("lxc.net.0.type = macvlan\nlxc.net.0.link = net-up0\nlxc.net.0.flags = up\n"
             "lxc.net.0.ipv6.address = fd00::2/64\nlxc.net.0.ipv6.gateway = auto\n",
             "net-up0 has no IPv6 address")):
        with pytest.raises(LxcError) as info:
            network.check_host_side(nics_of(conf), host_netns=host)
        assert words in str(info.value)
    # router mode does not need a bridge
    network.check_host_side(nics_of("lxc.net.0.type = veth\nlxc.net.0.veth.mode = router\n"
                                    "lxc.net.0.link = net-up0\n"), host_netns=host)


def test_ipv6_addresses_gateway_and_router_mode(host, spawn):
    sh(host, "ip", "addr", "add", "fd03::1/64", "dev", "net-br0", "nodad")
    bridged, routed = spawn(), spawn()
    _, s1 = start(host, bridged, "lxc.net.0.type = veth\nlxc.net.0.link = net-br0\n"
                                 "lxc.net.0.flags = up\nlxc.net.0.ipv6.address = fd03::2/64\n"
                                 "lxc.net.0.ipv6.gateway = auto\n")
    assert "default via fd03::1 dev eth0" in inside(bridged, "ip", "-6", "route").stdout
    with pytest.raises(LxcError) as info:
        start(host, routed, "lxc.net.0.type = veth\nlxc.net.0.veth.mode = router\n"
                            "lxc.net.0.flags = up\nlxc.net.0.ipv6.address = fd04::2/128\n"
                            "lxc.net.0.ipv6.gateway = fd03::1\n")
    assert "net.ipv6.conf.all.forwarding=1" in str(info.value)
    sh(host, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    nics, s2 = start(host, routed, "lxc.net.0.type = veth\nlxc.net.0.veth.mode = router\n"
                                   "lxc.net.0.flags = up\n"
                                   "lxc.net.0.ipv6.address = fd04::2/128\n"
                                   "lxc.net.0.ipv6.gateway = fd03::1\n")
    veth = nics[0].host_name
    assert f"fd03::1 dev {veth}" in sh(host, "ip", "-6", "neigh", "show", "proxy").stdout
    assert f"fd04::2 dev {veth}" in sh(host, "ip", "-6", "route").stdout
    with ProcDir(bridged) as proc:
        assert network.addresses(proc) == ([], ["fd03::2"])
    # DAD keeps a new address tentative for a moment, as with LXC
    deadline = time.monotonic() + 10
    while not (ping(in_host(host), "fd03::2") and ping(in_container(routed), "fd03::1")):
        assert time.monotonic() < deadline, "no IPv6 traffic"
        time.sleep(0.3)
    network.teardown(s1)
    network.teardown(s2)


def _kernel_makes(kind, *args):
    """Whether this kernel has the KIND link driver (probed in a throw-away namespace)."""
    name = f"net-probe{secrets.token_hex(2)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        sh(name, "ip", "link", "add", "name", "net-p0", "type", "veth", "peer", "name", "net-p1")
        return sh(name, "ip", "link", "add", "link", "net-p0", "name", "net-p2", "type", kind,
                  *args, check=False).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.mark.parametrize("kind, conf, args", [
    ("vlan", "lxc.net.0.type = vlan\nlxc.net.0.vlan.id = 42\n", ("id", "42")),
    ("ipvlan", "lxc.net.0.type = ipvlan\nlxc.net.0.ipvlan.mode = l2\n", ("mode", "l2")),
])
def test_vlan_and_ipvlan(host, spawn, kind, conf, args):
    require_root()
    if not _kernel_makes(kind, *args):
        option = "VLAN_8021Q" if kind == "vlan" else "IPVLAN"
        pytest.skip(f"this kernel has no {kind} driver (CONFIG_{option} is off)")
    one, two = spawn(), spawn()
    _, s1 = start(host, one, conf + "lxc.net.0.link = net-up0\nlxc.net.0.flags = up\n"
                                    "lxc.net.0.ipv4.address = 10.210.0.2/24\n", "net-a")
    assert "eth0@" in inside(one, "ip", "-o", "link").stdout
    if kind == "ipvlan":
        _, s2 = start(host, two, conf + "lxc.net.0.link = net-up0\nlxc.net.0.flags = up\n"
                                        "lxc.net.0.ipv4.address = 10.210.0.3/24\n", "net-b")
        assert ping(in_container(one), "10.210.0.3")
        network.teardown(s2)
    network.teardown(s1)
