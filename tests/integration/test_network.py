"""Networking (veth on a bridge, macvlan) -- entirely inside private network namespaces.

NETWORK SAFETY: nothing is created in the host's own namespace. Each test makes a namespace
`net-...` that plays the host: the bridge, its address and our tools (supervisor included,
`ip netns exec`) live there; traffic goes only between it and the container."""

import os
import secrets
import subprocess
import time

import pytest

from conftest import ours
from lxcenv import World, world  # noqa: F401  (fixture)


def host_links():
    return sorted(line.split(":")[1].strip().split("@")[0] for line in subprocess.run(
        ["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines())


@pytest.fixture
def netns(world):
    name = f"net-{secrets.token_hex(3)}"
    before = host_links()
    subprocess.run(["ip", "netns", "add", name], check=True)
    run = lambda *cmd: subprocess.run(["ip", "netns", "exec", name, *cmd], check=True)  # noqa: E731
    try:
        run("ip", "link", "set", "lo", "up")
        run("ip", "link", "add", "net-br0", "type", "bridge")
        run("ip", "addr", "add", "10.203.0.1/24", "dev", "net-br0")
        run("ip", "link", "set", "net-br0", "up")
        # a plain parent for macvlan (this kernel may have no dummy driver): one end of a veth
        run("ip", "link", "add", "net-dum0", "type", "veth", "peer", "name", "net-dum1")
        run("ip", "link", "set", "net-dum0", "up")
        run("ip", "link", "set", "net-dum1", "up")
        yield name
    finally:
        for entry in os.listdir(world.lp) if os.path.isdir(world.lp) else []:
            in_ns(name, world, "lxc-stop", "-n", entry, "-k")
        subprocess.run(["ip", "netns", "del", name], check=False)
    assert host_links() == before  # the host's namespace never changed


def in_ns(ns, world, tool, *args, input=None):
    # nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup hierarchies
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", ours(tool), "-P", world.lp,
                           *args],
                          capture_output=True, text=True, env=world.env, timeout=120, input=input)


def container(world, name, net):
    proc = world.ours("lxc-create", "-n", name, "-t", "busybox")
    assert proc.returncode == 0, proc.stderr
    path = os.path.join(world.cdir(name), "config")
    with open(path) as handle:
        text = handle.read().replace("lxc.net.0.type = empty\n", "")
    with open(path, "w") as handle:
        handle.write(text + net)


VETH = """lxc.net.0.type = veth
lxc.net.0.link = net-br0
lxc.net.0.flags = up
lxc.net.0.name = eth0
lxc.net.0.hwaddr = 00:16:3e:12:34:56
lxc.net.0.ipv4.address = 10.203.0.2/24
lxc.net.0.ipv4.gateway = 10.203.0.1
"""


def test_veth_on_a_bridge(world, netns):
    container(world, "net-v", VETH)
    # not busybox's init: its rcS runs udhcpc, which flushes static addresses (LXC alike)
    start = in_ns(netns, world, "lxc-start", "-n", "net-v", "--", "/bin/sleep", "100000")
    assert start.returncode == 0, start.stderr
    addr = in_ns(netns, world, "lxc-attach", "-n", "net-v", "--", "ip", "addr", "show", "eth0")
    assert "10.203.0.2/24" in addr.stdout and "00:16:3e:12:34:56" in addr.stdout, addr.stdout
    route = in_ns(netns, world, "lxc-attach", "-n", "net-v", "--", "ip", "route")
    assert "default via 10.203.0.1" in route.stdout
    ping = in_ns(netns, world, "lxc-attach", "-n", "net-v", "--", "ping", "-c", "1", "-W", "2",
                 "10.203.0.1")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    back = subprocess.run(["ip", "netns", "exec", netns, "busybox", "ping", "-c", "1", "-W", "2",
                           "10.203.0.2"], capture_output=True, text=True)
    assert back.returncode == 0
    info = in_ns(netns, world, "lxc-info", "-n", "net-v", "-i")
    assert "IP:             10.203.0.2" in info.stdout
    stats = in_ns(netns, world, "lxc-info", "-n", "net-v", "-S")
    assert "Link:           veth" in stats.stdout and "TX bytes:" in stats.stdout
    listed = in_ns(netns, world, "lxc-ls", "-f", "-F", "NAME,IPV4").stdout
    assert "10.203.0.2" in listed
    bridged = subprocess.run(["ip", "netns", "exec", netns, "ip", "-o", "link", "show",
                              "master", "net-br0"], capture_output=True, text=True).stdout
    assert "veth" in bridged
    assert in_ns(netns, world, "lxc-stop", "-n", "net-v", "-k").returncode == 0
    # lxc-stop -k returns once init is killed (as LXC's); the clean-up ends at STOPPED
    assert in_ns(netns, world, "lxc-wait", "-n", "net-v", "-s", "STOPPED",
                 "-t", "10").returncode == 0
    left = subprocess.run(["ip", "netns", "exec", netns, "ip", "-o", "link"],
                          capture_output=True, text=True).stdout
    assert "veth" not in left


def test_macvlan_and_named_veth_pair(world, netns):
    container(world, "net-m", "lxc.net.0.type = macvlan\nlxc.net.0.link = net-dum0\n"
                              "lxc.net.0.macvlan.mode = bridge\nlxc.net.0.flags = up\n"
                              "lxc.net.0.ipv4.address = 10.204.0.2/24\n"
                              "lxc.net.1.type = veth\nlxc.net.1.veth.pair = net-hostside\n"
                              "lxc.net.1.link = net-br0\nlxc.net.1.name = eth1\n")
    assert in_ns(netns, world, "lxc-start", "-n", "net-m", "--", "/bin/sleep", "1000").returncode == 0
    links = in_ns(netns, world, "lxc-attach", "-n", "net-m", "--", "ip", "link").stdout
    assert "eth0@" in links and "eth1@" in links, links
    addr = in_ns(netns, world, "lxc-attach", "-n", "net-m", "--", "ip", "addr", "show", "eth0")
    assert "10.204.0.2/24" in addr.stdout
    host = subprocess.run(["ip", "netns", "exec", netns, "ip", "-o", "link"],
                          capture_output=True, text=True).stdout
    assert "net-hostside" in host
    assert in_ns(netns, world, "lxc-stop", "-n", "net-m", "-k").returncode == 0


def test_missing_link_is_an_error_before_start(world, netns):
    container(world, "net-bad", VETH.replace("net-br0", "nosuch0"))
    proc = in_ns(netns, world, "lxc-start", "-n", "net-bad")
    assert proc.returncode == 1
    assert "lxc.net.0.link: no interface 'nosuch0'" in proc.stderr and "hint:" in proc.stderr
    container(world, "net-nb", VETH.replace("net-br0", "net-dum0"))
    proc = in_ns(netns, world, "lxc-start", "-n", "net-nb")
    assert proc.returncode == 1 and "net-dum0 is not a bridge" in proc.stderr
    assert in_ns(netns, world, "lxc-info", "-n", "net-bad", "-sH").stdout.strip() == "STOPPED"


def test_type_none_shares_the_namespace(world, netns):
    container(world, "net-none", "lxc.net.0.type = none\n")
    assert in_ns(netns, world, "lxc-start", "-n", "net-none").returncode == 0
    links = in_ns(netns, world, "lxc-attach", "-n", "net-none", "--", "ip", "-o", "link").stdout
    assert "net-br0" in links
    assert in_ns(netns, world, "lxc-stop", "-n", "net-none", "-k").returncode == 0


def test_usermode_network_reaches_the_hosts_loopback(world, netns):
    """lxctools.net.usermode = slirp4netns (an extension key real LXC ignores): the container
    reaches a server on the "host's" loopback -- here the private namespace's, as everything."""
    import shutil
    import sys

    if shutil.which("slirp4netns") is None:
        pytest.fail("slirp4netns missing: ./setup installs it (package slirp4netns)")
    page = os.path.join(world.root, "www")
    os.makedirs(page)
    with open(os.path.join(page, "hello.txt"), "w") as handle:
        handle.write("hello through slirp\n")
    server = subprocess.Popen(["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-m",
                               "http.server", "--bind", "127.0.0.1", "8765"], cwd=page,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        container(world, "net-um", "lxc.net.0.type = empty\nlxctools.net.usermode = slirp4netns\n")
        start = in_ns(netns, world, "lxc-start", "-n", "net-um", "--", "/bin/sleep", "1000")
        assert start.returncode == 0, start.stderr
        addr = in_ns(netns, world, "lxc-attach", "-n", "net-um", "--", "ip", "addr", "show", "tap0")
        assert "10.0.2.100/24" in addr.stdout, addr.stdout + addr.stderr
        got = ""
        for _ in range(50):
            fetch = in_ns(netns, world, "lxc-attach", "-n", "net-um", "--", "wget", "-q", "-O",
                          "-", "http://10.0.2.2:8765/hello.txt")
            got = fetch.stdout
            if got:
                break
            time.sleep(0.1)
        assert got == "hello through slirp\n"
        assert in_ns(netns, world, "lxc-stop", "-n", "net-um", "-k").returncode == 0
        left = subprocess.run(["pgrep", "-f", "slirp4netns.*tap0"], capture_output=True, text=True)
        deadline = time.monotonic() + 5
        while left.stdout.strip() and time.monotonic() < deadline:
            time.sleep(0.1)
            left = subprocess.run(["pgrep", "-f", "slirp4netns.*tap0"], capture_output=True,
                                  text=True)
        assert left.stdout.strip() == ""
    finally:
        server.kill()
        server.wait()
