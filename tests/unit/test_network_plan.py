"""plan(): lxc.net.N.* keys into NIC plans, and every refusal before anything is made."""

import ipaddress

import pytest

from lxctools.config.parser import loads
from lxctools.errors import ConfigError
from lxctools.network import Nic, plan
from lxctools.network.plan import broadcast_of


def nics(text):
    return plan(loads(text))


def refused(text):
    with pytest.raises(ConfigError) as info:
        nics(text)
    return info.value


def test_empty_none_and_no_nic_need_no_work():
    assert nics("") == []
    assert nics("lxc.net.0.type = empty\n") == []
    assert nics("lxc.net.0.type = none\n") == []


def test_veth_defaults():
    [nic] = nics("lxc.net.0.type = veth\nlxc.net.0.link = br0\n")
    assert (nic.type, nic.link, nic.veth_mode, nic.name) == ("veth", "br0", "bridge", "eth%d")
    assert not nic.flags_up and nic.mtu is None and nic.hwaddr is None
    assert nic.host_name.startswith("veth") and len(nic.host_name) <= 15
    assert nic.temp_name != nic.host_name and len(nic.temp_name) <= 15
    other = nics("lxc.net.0.type = veth\nlxc.net.0.link = br0\n")[0]
    assert other.host_name != nic.host_name  # names unique across containers


def test_every_key_is_read():
    [veth, mac, ipv, vlan, phys] = nics("""
lxc.hook.version = 1
lxc.net.0.type = veth
lxc.net.0.link = br0
lxc.net.0.name = eth7
lxc.net.0.flags = up
lxc.net.0.hwaddr = 00:16:3e:aa:bb:cc
lxc.net.0.mtu = 1400
lxc.net.0.ipv4.address = 10.0.3.5/24
lxc.net.0.ipv4.address = 10.0.4.5/24 10.0.4.127
lxc.net.0.ipv4.gateway = 10.0.3.1
lxc.net.0.ipv6.address = fd00::5/64
lxc.net.0.ipv6.gateway = fd00::1
lxc.net.0.veth.pair = net-h0
lxc.net.0.veth.ipv4.route = 10.9.0.0/16
lxc.net.0.veth.ipv6.route = fd09::/64
lxc.net.0.veth.vlan.id = 10
lxc.net.0.veth.vlan.tagged.id = 20
lxc.net.0.veth.vlan.tagged.id = 30
lxc.net.0.script.up = /bin/true
lxc.net.0.script.down = /bin/false
lxc.net.0.l2proxy = 1
lxc.net.0.veth.n_rxqueues = 2
lxc.net.0.veth.n_txqueues = 3
lxc.net.1.type = macvlan
lxc.net.1.link = eth0
lxc.net.1.macvlan.mode = bridge
lxc.net.2.type = ipvlan
lxc.net.2.link = eth0
lxc.net.2.ipvlan.mode = l2
lxc.net.2.ipvlan.isolation = private
lxc.net.3.type = vlan
lxc.net.3.link = eth0
lxc.net.3.vlan.id = 42
lxc.net.4.type = phys
lxc.net.4.link = eth9
""")
    assert veth.name == "eth7" and veth.flags_up and veth.hwaddr == "00:16:3e:aa:bb:cc"
    assert veth.mtu == 1400 and veth.host_name == "net-h0" and veth.l2proxy
    assert [(str(a), b) for a, b in veth.ipv4] == [("10.0.3.5/24", None),
                                                  ("10.0.4.5/24", "10.0.4.127")]
    assert [str(a) for a, _ in veth.ipv6] == ["fd00::5/64"]
    assert (veth.ipv4_gateway, veth.ipv6_gateway) == ("10.0.3.1", "fd00::1")
    assert [str(r) for r in veth.veth_routes] == ["10.9.0.0/16", "fd09::/64"]
    assert veth.veth_vlan_id == 10 and veth.veth_vlan_tagged == [20, 30]
    assert (veth.script_up, veth.script_down, veth.hook_version) == ("/bin/true", "/bin/false", 1)
    assert (veth.veth_rxqueues, veth.veth_txqueues) == (2, 3)
    assert mac.macvlan_mode == "bridge" and mac.host_name is None
    assert (ipv.ipvlan_mode, ipv.ipvlan_isolation) == ("l2", "private")
    assert vlan.vlan_id == 42
    assert phys.link == "eth9" and phys.temp_name.startswith("phys")


def test_defaults_of_modes():
    [mac, ipv] = nics("lxc.net.0.type = macvlan\nlxc.net.0.link = e\n"
                      "lxc.net.1.type = ipvlan\nlxc.net.1.link = e\n")
    assert mac.macvlan_mode == "private"
    assert (ipv.ipvlan_mode, ipv.ipvlan_isolation) == ("l3", "bridge")


def test_indices_need_not_be_contiguous_and_empty_ones_are_skipped():
    found = nics("lxc.net.3.type = veth\nlxc.net.3.link = b\nlxc.net.0.type = empty\n"
                 "lxc.net.7.type = phys\nlxc.net.7.link = x\n")
    assert [n.index for n in found] == [3, 7]


def test_classful_prefix_and_broadcast():
    [nic] = nics("lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.1.2.3\n"
                 "lxc.net.0.ipv4.address = 172.16.0.9\nlxc.net.0.ipv4.address = 192.168.1.4\n"
                 "lxc.net.0.ipv6.address = fd00::9\n")
    assert [str(a) for a, _ in nic.ipv4] == ["10.1.2.3/8", "172.16.0.9/16", "192.168.1.4/24"]
    assert str(nic.ipv6[0][0]) == "fd00::9/64"
    assert broadcast_of(ipaddress.IPv4Interface("10.0.3.5/24"), None) == "10.0.3.255"
    assert broadcast_of(ipaddress.IPv4Interface("10.0.3.5/24"), "10.0.3.7") == "10.0.3.7"
    assert broadcast_of(ipaddress.IPv4Interface("10.0.3.5/31"), None) is None
    assert broadcast_of(ipaddress.IPv4Interface("10.0.3.5/32"), None) is None


def test_gateways_auto_and_dev_are_accepted():
    [a, b] = nics("lxc.net.0.type = veth\nlxc.net.0.link = br0\nlxc.net.0.flags = up\n"
                  "lxc.net.0.ipv4.address = 10.0.0.2/24\nlxc.net.0.ipv4.gateway = auto\n"
                  "lxc.net.1.type = veth\nlxc.net.1.flags = up\nlxc.net.1.veth.mode = router\n"
                  "lxc.net.1.ipv4.address = 10.0.1.2/32\nlxc.net.1.ipv4.gateway = dev\n")
    assert a.ipv4_gateway == "auto" and b.ipv4_gateway == "dev" and b.veth_mode == "router"


def test_ipv6_link_local_gateway_needs_no_address():
    [nic] = nics("lxc.net.0.type = veth\nlxc.net.0.flags = up\n"
                 "lxc.net.0.ipv6.gateway = fe80::1\n")
    assert nic.ipv6_gateway == "fe80::1"


def test_nic_round_trips_for_teardown():
    [nic] = nics("lxc.net.0.type = veth\nlxc.net.0.link = br0\nlxc.net.0.l2proxy = 1\n"
                 "lxc.net.0.ipv4.address = 10.0.0.2/24\nlxc.net.0.script.down = /bin/true\n")
    back = Nic.from_json(nic.to_json())
    assert (back.host_name, back.temp_name, back.link, back.script_down, back.l2proxy) == \
        (nic.host_name, nic.temp_name, "br0", "/bin/true", True)
    assert [str(a) for a, _ in back.ipv4] == ["10.0.0.2/24"]


@pytest.mark.parametrize("text, key, words", [
    ("lxc.net.0.type = macvlan\n", "lxc.net.0.link", "required for type macvlan"),
    ("lxc.net.0.type = ipvlan\n", "lxc.net.0.link", "required"),
    ("lxc.net.0.type = phys\n", "lxc.net.0.link", "required"),
    ("lxc.net.0.type = vlan\nlxc.net.0.link = e\n", "lxc.net.0.vlan.id", "required"),
    ("lxc.net.0.type = veth\nlxc.net.0.name = abcdefghijklmnop\n", "lxc.net.0.name",
     "longer than 15"),
    ("lxc.net.0.type = veth\nlxc.net.0.veth.pair = abcdefghijklmnop\n", "lxc.net.0.veth.pair",
     "longer than 15"),
    ("lxc.net.0.type = veth\nlxc.net.0.mtu = 20\n", "lxc.net.0.mtu", "out of range"),
    ("lxc.net.0.type = veth\nlxc.net.0.veth.vlan.id = 5\n", "lxc.net.0.veth.vlan.id",
     "bridge"),
    ("lxc.net.0.type = veth\nlxc.net.0.link = b\nlxc.net.0.veth.mode = router\n"
     "lxc.net.0.veth.vlan.id = 5\n", "lxc.net.0.veth.vlan.id", "veth.mode = bridge"),
    ("lxc.net.0.type = veth\nlxc.net.0.link = b\nlxc.net.0.veth.vlan.id = 5\n"
     "lxc.net.0.veth.vlan.tagged.id = 5\n", "lxc.net.0.veth.vlan.tagged.id", "repeats"),
    ("lxc.net.0.type = phys\nlxc.net.0.link = e\nlxc.net.0.flags = up\n"
     "lxc.net.0.ipv4.address = 10.0.0.2/24\nlxc.net.0.ipv4.gateway = auto\n",
     "lxc.net.0.ipv4.gateway", "only works for veth and macvlan"),
    ("lxc.net.0.type = veth\nlxc.net.0.flags = up\nlxc.net.0.ipv4.address = 10.0.0.2/24\n"
     "lxc.net.0.ipv4.gateway = auto\n", "lxc.net.0.ipv4.gateway", "needs lxc.net.0.link"),
    ("lxc.net.0.type = veth\nlxc.net.0.flags = up\nlxc.net.0.ipv4.address = 10.0.0.2/24\n"
     "lxc.net.0.ipv4.gateway = fd00::1\n", "lxc.net.0.ipv4.gateway", "IPv6 address"),
    ("lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.0.0.2/24\n"
     "lxc.net.0.ipv4.gateway = 10.0.0.1\n", "lxc.net.0.flags", "needs the interface up"),
    ("lxc.net.0.type = veth\nlxc.net.0.flags = up\nlxc.net.0.ipv4.gateway = 10.0.0.1\n",
     "lxc.net.0.ipv4.address", "needs an address"),
    ("lxc.net.0.type = veth\nlxc.net.0.flags = up\nlxc.net.0.ipv6.gateway = fd00::1\n",
     "lxc.net.0.ipv6.address", "needs an address"),
    ("lxc.net.0.type = ipvlan\nlxc.net.0.link = e\nlxc.net.0.l2proxy = 1\n",
     "lxc.net.0.ipvlan.mode", "l3s"),
    ("lxc.net.0.type = veth\nlxc.net.0.name = eth0\nlxc.net.1.type = veth\n"
     "lxc.net.1.name = eth0\n", "lxc.net.1.name", "also the name of lxc.net.0"),
    ("lxc.net.0.type = veth\nlxc.net.0.veth.pair = p\nlxc.net.1.type = veth\n"
     "lxc.net.1.veth.pair = p\n", "lxc.net.0.veth.pair", "used twice"),
    ("lxc.net.0.link = br0\n", "lxc.net.0.type", "not set"),
])
def test_refusals_name_the_key(text, key, words):
    error = refused(text)
    assert error.key == key, (error.key, str(error))
    assert words in str(error)


def test_bad_values_are_refused_by_the_config_engine_with_the_key():
    for text in ("lxc.net.0.type = vethh\n", "lxc.net.0.type = veth\nlxc.net.0.veth.mode = x\n",
                 "lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.0.0.300/24\n",
                 "lxc.net.0.type = veth\nlxc.net.0.veth.vlan.id = 5000\n",
                 "lxc.net.0.type = macvlan\nlxc.net.0.veth.pair = x\n"):
        error = refused(text)
        assert "lxc.net.0." in str(error) or (error.key or "").startswith("lxc.net.0.")


def test_unknown_subkey_gets_a_suggestion():
    error = refused("lxc.net.0.type = veth\nlxc.net.0.ipv4.adress = 10.0.0.2/24\n")
    assert "lxc.net.0.ipv4.address" in f"{error} {error.hint}"


def test_stable_mac_from_the_container_unless_hwaddr_is_given():
    text = "lxc.net.0.type = veth\nlxc.net.1.type = veth\nlxc.net.1.hwaddr = 00:16:3e:00:00:09\n"
    first = plan(loads(text), "/var/lib/lxc/net-a")
    again = plan(loads(text), "/var/lib/lxc/net-a")
    other = plan(loads(text), "/var/lib/lxc/net-b")
    assert first[0].hwaddr == again[0].hwaddr != other[0].hwaddr
    assert first[0].hwaddr.startswith("00:16:3e:")
    assert first[1].hwaddr == "00:16:3e:00:00:09"
    assert plan(loads(text))[0].hwaddr is None


def test_errors_are_pointed_at_their_config_line(tmp_path):
    from lxctools.network import locate

    config = tmp_path / "config"
    config.write_text("# c\nlxc.net.0.type = veth\nlxc.net.0.link = br0\nlxc.net.0.link = br1\n"
                      "lxc.net.1.type = macvlan\n")
    error = locate(ConfigError("x", key="lxc.net.0.link"), str(config))
    assert (error.path, error.line) == (str(config), 4)  # the last one wins
    assert str(error) == f"{config}:4: x"
    error = locate(refused(config.read_text()), str(config))  # lxc.net.1.link is missing
    assert error.line == 5 and "lxc.net.1.link is required" in str(error)
    assert locate(ConfigError("y", key="lxc.net.0.mtu"), None).line is None


def test_an_unprivileged_user_is_told_plainly(monkeypatch, tmp_path):
    from lxctools import network

    config = tmp_path / "config"
    config.write_text("lxc.net.0.type = macvlan\nlxc.net.0.link = br0\n")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(network.NetworkError) as info:
        network.check_host_side(nics(config.read_text()), config_file=str(config))
    assert str(info.value) == (f"{config}:1: lxc.net.0.type = macvlan: an unprivileged user "
                               "gets veth NICs only (made by LXC's setuid lxc-user-nic)")
    assert "`empty`" in info.value.hint and "lxc-usernet" in info.value.hint
