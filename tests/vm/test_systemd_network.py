"""vlan and ipvlan containers (the drivers this machine's kernel lacks), in the VM: busybox
containers on a veth pair or a dummy link of a test-made namespace, our tools run inside it;
traffic between them. Real LXC starts the same configs there too.

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
