"""lxc-net's pure parts on the host: the settings files read as the shell would, checked
with file and line; dnsmasq's arguments and the nftables rules. Nothing
here touches a network: the bridge itself is tested in the VM (tests/vm/test_systemd_lxcnet.py)."""

import pytest

from lxctools.errors import ConfigError
from lxctools.network import lxcnet


def load(tmp_path, text):
    path = tmp_path / "lxc-net"
    path.write_text(text)
    return lxcnet.load([str(path)]), str(path)


def test_lxcs_defaults(tmp_path):
    values, _ = load(tmp_path, "")
    assert values["LXC_BRIDGE"] == "lxcbr0" and values["LXC_ADDR"] == "10.0.3.1"
    assert values["LXC_DHCP_RANGE"] == "10.0.3.2,10.0.3.254"
    assert values["USE_LXC_BRIDGE"] == "true"
    # LXC 5.0.2's (Debian 12): this MAC, and no IPv6 unless configured
    assert values["LXC_BRIDGE_MAC"] == "00:16:3e:00:00:00"
    assert values["LXC_IPV6_ADDR"] == "" and values["LXC_IPV6_NAT"] == "false"


def test_shell_assignments_as_sh_reads_them(tmp_path):
    values, _ = load(tmp_path, '# comment\nUSE_LXC_BRIDGE="true"\nexport LXC_DOMAIN=\'lxc\'\n'
                               'LXC_BRIDGE=br9 # trailing\n  LXC_DHCP_MAX="10"\n'
                               '[ ! -f /etc/default/lxc-net ] || . /etc/default/lxc-net\n')
    assert values["LXC_DOMAIN"] == "lxc" and values["LXC_BRIDGE"] == "br9"
    assert values["LXC_DHCP_MAX"] == "10"


@pytest.mark.parametrize("line,line_no,words", [
    ("LXC_ADDR=$(hostname -i)", 2, "shell syntax ($) is not read here"),
    ('LXC_ADDR="10.0.3.$X"', 2, "expansions ($...) are not read here"),
    ("LXC_ADDR=10.0.3.1 10.0.3.2", 2, "a value with blanks needs quotes"),
    ('LXC_ADDR="10.0.3.1', 2, 'unterminated " quote'),
    ("if true; then X=1; fi", 2, "not an assignment"),
    ('LXC_ADDR="10.0.3.300"', 2, "LXC_ADDR='10.0.3.300': not an IPv4 address"),
    ('LXC_NETWORK="10.0.4.0/24"', 2, "does not hold LXC_ADDR 10.0.3.1/24"),
    ('LXC_DHCP_RANGE="10.0.3.200,10.0.3.2"', 2, "not a range inside LXC_NETWORK"),
    ('USE_LXC_BRIDGE="yes"', 2, "expected true or false"),
    ('LXC_BRIDGE="a-bridge-name-too-long"', 2, "not an interface name"),
    ('LXC_NETMASK="255.0.255.0"', 2, "not a netmask"),
    ('LXC_DHCP_MAX="many"', 2, "expected a number of leases"),
    ('LXC_BRIGDE="x"', 2, "did you mean LXC_BRIDGE?"),
    ('LXC_IPV6_ADDR="fd00::zz"', 2, "not an IPv6 address"),
])
def test_bad_settings_name_file_line_and_fix(tmp_path, line, line_no, words):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "# first\n" + line + "\n")
    error = caught.value
    text = str(error) + " " + (error.hint or "")
    assert words in text
    assert str(error).startswith(f"{tmp_path / 'lxc-net'}:{line_no}: ")
    assert error.hint


def test_dnsmasq_arguments_are_lxcs(tmp_path):
    values, _ = load(tmp_path, 'LXC_DOMAIN="lxc"\nLXC_DHCP_PING="false"\n')
    argv = lxcnet.dnsmasq_argv(values, "/run/x.pid", ["fd00::1", 64])
    text = " ".join(argv)
    assert text.startswith("dnsmasq --conf-file=/dev/null -s lxc -S /lxc/ --no-ping -u ")
    assert ("--strict-order --bind-interfaces --pid-file=/run/x.pid --listen-address 10.0.3.1 "
            "--dhcp-range 10.0.3.2,10.0.3.254 --dhcp-lease-max=253 --dhcp-no-override "
            "--except-interface=lo --interface=lxcbr0 "
            "--dhcp-leasefile=/var/lib/misc/dnsmasq.lxcbr0.leases --dhcp-authoritative "
            "--dhcp-range=fd00::1,ra-only --listen-address fd00::1") in text


def test_nft_rules_in_tables_of_their_own(tmp_path):
    values, _ = load(tmp_path, "")
    rules = lxcnet.nft_ruleset(values, lxcnet.table_name("lxcbr0"), ipv6_nat=False)
    assert "add table inet lxcnet_lxcbr0" in rules
    assert "ip saddr 10.0.3.0/24 ip daddr != 10.0.3.0/24 counter masquerade" in rules
    assert "ip6" not in rules
    assert lxcnet.table_name("br-0.x") == "lxcnet_br_0_x"
