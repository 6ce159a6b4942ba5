"""vlan and ipvlan containers (the drivers this machine's kernel lacks), in the VM: busybox
containers on a veth pair or a dummy link of a test-made namespace, our tools run inside it;
traffic between them. Real LXC starts the same configs there too. And again, with lxc-start'ed
containers, the kinds this machine has too: veth (bridge, router), macvlan, phys.

NETWORK SAFETY: as on the host, nothing is made in the VM's own namespace either (the netns
fixture checks its links afterwards)."""

import re
import subprocess

from conftest import real_lxc
from lxcenv import SANE_PATH, world  # noqa: F401  (fixture)
from test_network import container, in_ns, netns  # noqa: F401  (fixture)


def ns_sh(ns, *cmd):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True)


def dummy(ns, name="vm-d0"):
    assert ns_sh(ns, "ip", "link", "add", name, "type", "dummy").returncode == 0
    assert ns_sh(ns, "ip", "link", "set", name, "up").returncode == 0
    return name


def start(ns, world, name):
    # not busybox's init: its rcS runs udhcpc, which flushes static addresses (LXC alike)
    proc = in_ns(ns, world, "lxc-start", "-n", name, "--", "/bin/sleep", "100000")
    assert proc.returncode == 0, proc.stderr


def attach(ns, world, name, *cmd):
    return in_ns(ns, world, "lxc-attach", "-n", name, "--", *cmd)


def link_details(ns, world, name):
    """`ip -d link show eth0` in the container's namespace, by the VM's iproute2 (busybox's ip
    has no -d)."""
    pid = in_ns(ns, world, "lxc-info", "-n", name, "-pH").stdout.strip()
    return subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-d", "link", "show",
                           "eth0"], capture_output=True, text=True).stdout


def ping(ns, world, name, address):
    return attach(ns, world, name, "ping", "-c", "1", "-W", "3", address).returncode == 0


def test_vlan_containers_tag_their_traffic(world, netns):
    """Two vlan containers on one end of a veth pair (the wire), a vlan 5 interface on the
    other end: the container on vlan 5 reaches it, the one on vlan 6 (same subnet) does not."""
    assert ns_sh(netns, "ip", "link", "add", "vm-w0", "type", "veth", "peer", "name",
                 "vm-w1").returncode == 0
    for end in ("vm-w0", "vm-w1"):
        ns_sh(netns, "ip", "link", "set", end, "up")
    assert ns_sh(netns, "ip", "link", "add", "link", "vm-w1", "name", "vm-w1.5", "type", "vlan",
                 "id", "5").returncode == 0
    ns_sh(netns, "ip", "addr", "add", "10.77.5.1/24", "dev", "vm-w1.5")
    ns_sh(netns, "ip", "link", "set", "vm-w1.5", "up")
    for name, vid, address in (("vm-v5", 5, "10.77.5.2/24"), ("vm-v6", 6, "10.77.5.3/24")):
        container(world, name, f"lxc.net.0.type = vlan\nlxc.net.0.link = vm-w0\n"
                               f"lxc.net.0.vlan.id = {vid}\nlxc.net.0.flags = up\n"
                               f"lxc.net.0.ipv4.address = {address}\n")
        start(netns, world, name)
    assert "vlan protocol 802.1Q id 5" in link_details(netns, world, "vm-v5")
    assert "vlan protocol 802.1Q id 6" in link_details(netns, world, "vm-v6")
    assert "10.77.5.2/24" in attach(netns, world, "vm-v5", "ip", "addr", "show", "eth0").stdout
    # the containers' vlan devices live in the containers, not in the namespace
    on_w0 = re.findall(r"^\d+: ([^:@]+)@vm-w0:", ns_sh(netns, "ip", "-o", "link").stdout, re.M)
    assert on_w0 == ["vm-w1"]  # its veth peer only
    assert ping(netns, world, "vm-v5", "10.77.5.1")
    assert not ping(netns, world, "vm-v6", "10.77.5.1")
    for name in ("vm-v5", "vm-v6"):
        assert in_ns(netns, world, "lxc-stop", "-n", name, "-k").returncode == 0


def test_ipvlan_containers_talk_to_each_other(world, netns):
    link = dummy(netns)
    for name, address in (("vm-iv1", "10.78.0.2/24"), ("vm-iv2", "10.78.0.3/24")):
        container(world, name, f"lxc.net.0.type = ipvlan\nlxc.net.0.link = {link}\n"
                               f"lxc.net.0.ipvlan.mode = l3s\nlxc.net.0.flags = up\n"
                               f"lxc.net.0.ipv4.address = {address}\n")
        start(netns, world, name)
    details = link_details(netns, world, "vm-iv1")
    assert "ipvlan  mode l3s" in details, details
    assert ping(netns, world, "vm-iv1", "10.78.0.3")
    assert ping(netns, world, "vm-iv2", "10.78.0.2")
    info = in_ns(netns, world, "lxc-info", "-n", "vm-iv2", "-i").stdout
    assert "IP:             10.78.0.3" in info
    for name in ("vm-iv1", "vm-iv2"):
        assert in_ns(netns, world, "lxc-stop", "-n", name, "-k").returncode == 0


def test_real_lxc_starts_the_same_ipvlan_config(world, netns):
    """Side by side: one container ours, one real LXC's, on the same ipvlan parent."""
    link = dummy(netns)
    conf = (f"lxc.net.0.type = ipvlan\nlxc.net.0.link = {link}\nlxc.net.0.ipvlan.mode = l2\n"
            "lxc.net.0.flags = up\nlxc.net.0.ipv4.address = {}\n")
    container(world, "vm-ivo", conf.format("10.79.0.2/24"))
    start(netns, world, "vm-ivo")
    path = f"{world.real_lp}/vm-ivr.conf"
    import os
    os.makedirs(world.real_lp, exist_ok=True)
    with open(path, "w") as handle:
        handle.write(conf.format("10.79.0.3/24"))

    def real(tool, *args):
        return subprocess.run(["nsenter", f"--net=/run/netns/{netns}", real_lxc(tool), "-P",
                               world.real_lp, *args], capture_output=True, text=True,
                              env={"PATH": SANE_PATH, "LANG": "C"}, timeout=120)

    made = real("lxc-create", "-n", "vm-ivr", "-t", "busybox", "-f", path)
    assert made.returncode == 0, made.stderr
    try:
        started = real("lxc-start", "-n", "vm-ivr", "--", "/bin/sleep", "100000")
        assert started.returncode == 0, started.stderr
        assert ping(netns, world, "vm-ivo", "10.79.0.3")
        back = real("lxc-attach", "-n", "vm-ivr", "--", "ping", "-c", "1", "-W", "3",
                    "10.79.0.2")
        assert back.returncode == 0, back.stdout + back.stderr
    finally:
        real("lxc-stop", "-n", "vm-ivr", "-k")
        in_ns(netns, world, "lxc-stop", "-n", "vm-ivo", "-k")


def test_veth_bridge_and_router_macvlan_and_phys_in_real_containers(world, netns):
    """The kinds this machine's kernel has too, again on Debian's kernel, with lxc-start'ed
    containers (tests/integration/test_network_host.py runs the same network code with a bare
    process for the container): veth on a bridge and in router mode reach the namespace's
    address, two macvlan containers reach each other, a phys link goes in, carries traffic
    and comes back to the namespace when the container stops."""
    assert ns_sh(netns, "ip", "link", "add", "vm-p0", "type", "veth", "peer", "name",
                 "vm-p1").returncode == 0
    for end in ("vm-p0", "vm-p1"):
        ns_sh(netns, "ip", "link", "set", end, "up")
    ns_sh(netns, "ip", "addr", "add", "10.206.0.1/24", "dev", "vm-p0")
    configs = {
        "vm-nb": "lxc.net.0.type = veth\nlxc.net.0.link = net-br0\nlxc.net.0.flags = up\n"
                 "lxc.net.0.ipv4.address = 10.203.0.2/24\n"
                 "lxc.net.0.ipv4.gateway = 10.203.0.1\n",
        "vm-nr": "lxc.net.0.type = veth\nlxc.net.0.veth.mode = router\nlxc.net.0.flags = up\n"
                 "lxc.net.0.ipv4.address = 10.207.0.2/32\n"
                 "lxc.net.0.ipv4.gateway = 10.203.0.1\n",
        "vm-m1": "lxc.net.0.type = macvlan\nlxc.net.0.link = net-dum0\n"
                 "lxc.net.0.macvlan.mode = bridge\nlxc.net.0.flags = up\n"
                 "lxc.net.0.ipv4.address = 10.204.0.2/24\n",
        "vm-m2": "lxc.net.0.type = macvlan\nlxc.net.0.link = net-dum0\n"
                 "lxc.net.0.macvlan.mode = bridge\nlxc.net.0.flags = up\n"
                 "lxc.net.0.ipv4.address = 10.204.0.3/24\n",
        "vm-ph": "lxc.net.0.type = phys\nlxc.net.0.link = vm-p1\nlxc.net.0.name = eth3\n"
                 "lxc.net.0.flags = up\nlxc.net.0.ipv4.address = 10.206.0.2/24\n",
    }
    for name, conf in configs.items():
        container(world, name, conf)
        start(netns, world, name)
    # veth on the bridge, both ways
    assert ping(netns, world, "vm-nb", "10.203.0.1")
    assert ns_sh(netns, "ping", "-c", "1", "-W", "3", "10.203.0.2").returncode == 0
    # router mode: the host side routes the container's /32, the gateway is proxied
    routes = ns_sh(netns, "ip", "route").stdout
    assert re.search(r"^10\.207\.0\.2 dev \S+", routes, re.M), routes
    assert ping(netns, world, "vm-nr", "10.203.0.1")
    # macvlan: container to container on one parent
    details = link_details(netns, world, "vm-m1")
    assert re.search(r"macvlan\s+mode bridge", details), details
    assert ping(netns, world, "vm-m1", "10.204.0.3")
    assert ping(netns, world, "vm-m2", "10.204.0.2")
    # phys: gone from the namespace while the container holds it
    assert "vm-p1" not in ns_sh(netns, "ip", "-o", "link").stdout
    assert ping(netns, world, "vm-ph", "10.206.0.1")
    for name in configs:
        assert in_ns(netns, world, "lxc-stop", "-n", name, "-k").returncode == 0
        assert in_ns(netns, world, "lxc-wait", "-n", name, "-s", "STOPPED",
                     "-t", "30").returncode == 0
    # the phys link is back in the namespace, the router's route and the veths are gone
    assert re.search(r"^\d+: vm-p1@vm-p0:", ns_sh(netns, "ip", "-o", "link").stdout, re.M)
    assert "10.207.0.2" not in ns_sh(netns, "ip", "route").stdout
    assert "veth" not in ns_sh(netns, "ip", "-o", "link").stdout
