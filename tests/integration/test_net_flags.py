"""`lxc.net.N.flags` and the loopback, every NIC type side by side with real LXC: a NIC with
`flags = up` is up and brings lo up with it (an empty NIC is lo itself, so `type = empty` with
`flags = up` means a working 127.0.0.1, which LXC's lxc-test-no-new-privs pings); without
it the device and lo stay down.

NETWORK SAFETY: everything happens in a private namespace `net-...` (see test_network.py)."""

import os
import re
import subprocess

import pytest

from conftest import real_lxc
from lxcenv import SANE_PATH, world  # noqa: F401  (fixture)
from test_network import in_ns, netns  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle

CASES = {
    "empty": "lxc.net.0.type = empty\n",
    "empty up": "lxc.net.0.type = empty\nlxc.net.0.flags = up\n",
    "veth": "lxc.net.0.type = veth\nlxc.net.0.link = net-br0\nlxc.net.0.name = eth0\n",
    "veth up": "lxc.net.0.type = veth\nlxc.net.0.link = net-br0\nlxc.net.0.name = eth0\n"
               "lxc.net.0.flags = up\n",
    "macvlan": "lxc.net.0.type = macvlan\nlxc.net.0.link = net-dum0\nlxc.net.0.name = eth0\n",
    "macvlan up": "lxc.net.0.type = macvlan\nlxc.net.0.link = net-dum0\nlxc.net.0.name = eth0\n"
                  "lxc.net.0.flags = up\n",
    "phys": "lxc.net.0.type = phys\nlxc.net.0.link = {phys}\nlxc.net.0.name = eth0\n",
    "phys up": "lxc.net.0.type = phys\nlxc.net.0.link = {phys}\nlxc.net.0.name = eth0\n"
               "lxc.net.0.flags = up\n",
    # one NIC up is enough for lo; the other stays down
    "veth + empty up": "lxc.net.0.type = veth\nlxc.net.0.link = net-br0\nlxc.net.0.name = eth0\n"
                       "lxc.net.1.type = empty\nlxc.net.1.flags = up\n",
}


def set_network(path, net):
    with open(path) as handle:
        kept = [line for line in handle if not line.startswith("lxc.net.")]
    with open(path, "w") as handle:
        handle.write("".join(kept) + net)


def links(text):
    """{name: up?} from `ip -o link` inside."""
    return {m.group(1): "UP" in m.group(2).split(",")
            for m in re.finditer(r"^\d+: ([\w.]+)(?:@\S+)?: <([^>]*)>", text, re.M)}


def test_flags_and_the_loopback_per_nic_type_as_lxc(world, netns):
    def sh(*cmd):
        return subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True,
                              text=True, check=True)

    def real(tool, *args):
        # real LXC checks links in /sys/class/net: `ip netns exec` gives it the netns's sysfs
        return subprocess.run(["ip", "netns", "exec", netns, real_lxc(tool), "-P",
                               world.real_lp, *args], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, LANG="C", PATH=SANE_PATH))

    def ours(tool, *args):
        return in_ns(netns, world, tool, *args)

    for side in ("a", "b"):
        sh("ip", "link", "add", f"net-ph{side}", "type", "veth", "peer", "name", f"net-pp{side}")
    # LXC's busybox lines alone (see test_network_cli.py): under `ip netns exec` real LXC
    # sees no cgroup hierarchy and aborts a start with device rules
    assert world.real("lxc-create", "-n", "nf-r", "-t", "busybox",
                      confine=False).returncode == 0
    assert world.ours("lxc-create", "-n", "nf-o", "-t", "busybox").returncode == 0
    seen = {}
    for case, net in CASES.items():
        views = []
        for run, name, config, phys in ((real, "nf-r", os.path.join(world.cdir("nf-r", real=True), "config"),
                                         "net-pha"),
                                        (ours, "nf-o", os.path.join(world.cdir("nf-o"), "config"), "net-phb")):
            set_network(config, net.format(phys=phys))
            try:
                go = run("lxc-start", "-n", name, "--", "/bin/sleep", "100000")
                assert go.returncode == 0, (case, go.stderr)
                inside = run("lxc-attach", "-n", name, "--", "ip", "-o", "link")
                assert inside.returncode == 0, (case, inside.stderr)
                ping = run("lxc-attach", "-n", name, "--", "ping", "-c", "1", "-W", "1",
                           "127.0.0.1")
                views.append((links(inside.stdout), ping.returncode == 0))
                if case == "veth up" and name == "nf-o":
                    # real lxc-info on ours: the host side's name from GET_CONFIG_ITEM
                    info = subprocess.run(
                        ["ip", "netns", "exec", netns, real_lxc("lxc-info"), "-P", world.lp,
                         "-n", name, "-S"], capture_output=True, text=True, timeout=60,
                        env=dict(os.environ, LANG="C", PATH=SANE_PATH))
                    link = re.search(r"^Link:\s+(\S+)", info.stdout, re.M)
                    assert link and link.group(1).startswith("veth"), info.stdout + info.stderr
                    assert link.group(1) in sh("ip", "-o", "link", "show", "master",
                                               "net-br0").stdout
            finally:
                run("lxc-stop", "-n", name, "-k")
        assert views[1] == views[0], case
        seen[case] = views[0]
    # what LXC does, spelt out
    assert seen["empty"] == ({"lo": False}, False)
    assert seen["empty up"] == ({"lo": True}, True)
    # (no ipvlan or vlan: this kernel has neither driver; ours configures them inside as it
    # does macvlan, configure_inside)
    for kind in ("veth", "macvlan", "phys"):
        assert seen[kind][0] == {"lo": False, "eth0": False}, kind
        assert seen[kind + " up"][0] == {"lo": True, "eth0": True}, kind
    assert seen["veth + empty up"] == ({"lo": True, "eth0": False}, True)
