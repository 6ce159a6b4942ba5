"""lxc-net, the default bridge, in the VM only: a bridge with its addresses (pyroute2),
nftables NAT and DHCP/DNS rules, dnsmasq; start and stop idempotent and leaving nothing;
busybox containers with a veth on it get a lease (lxc-info -i, lxc-ls -f), reach the
bridge and resolve each other by name through dnsmasq; side by side with Debian's lxc-net.

Never on the host: bridges, addresses, NAT and dnsmasq belong to the VM's kernel only.
This module refuses to load anywhere else (the VM boots with `lxctools.vm` on its kernel
command line)."""

import difflib
import json
import os
import re
import subprocess
import time

with open("/proc/cmdline") as _handle:
    if "lxctools.vm" not in _handle.read().split():
        raise RuntimeError("test_systemd_lxcnet.py makes bridges, NAT and dnsmasq: it runs in "
                           "the VM only (tests/vm/vmkit.py), never in this host's network")

import pytest  # noqa: E402

from lxcenv import world  # noqa: E402,F401  (fixture)

BRIDGE = "lxctbr0"
SETTINGS = f"""# ours, for the tests
USE_LXC_BRIDGE="true"
LXC_BRIDGE="{BRIDGE}"
LXC_ADDR="10.0.7.1"
LXC_NETMASK="255.255.255.0"
LXC_NETWORK="10.0.7.0/24"
LXC_DHCP_RANGE="10.0.7.2,10.0.7.254"
LXC_DHCP_MAX="253"
export LXC_DOMAIN='lxc'
LXC_IPV6_ADDR="fd42:7::1"
LXC_IPV6_MASK="64"
LXC_IPV6_NETWORK="fd42:7::/64"
LXC_IPV6_NAT="true"
"""


def sh(*argv, check=True):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done


def snapshot():
    """Everything lxc-net may touch: links, addresses, routes, the whole ruleset, dnsmasqs."""
    links = sorted(l["ifname"] for l in json.loads(sh("ip", "-j", "link").stdout))
    # without the interfaces' numbers (a bridge made again gets a new one)
    addrs = re.sub(r"^\d+: ", "", sh("ip", "-o", "addr").stdout, flags=re.M)
    # the rules without their counters (traffic on the bridge moves them)
    rules = re.sub(r"counter packets \d+ bytes \d+", "counter",
                   sh("nft", "list", "ruleset").stdout)
    dnsmasq = sh("pgrep", "-a", "dnsmasq", check=False).stdout
    return {"links": links, "addrs": addrs, "rules": rules, "dnsmasq": dnsmasq}


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "lxc-net"
    path.write_text(SETTINGS)
    yield str(path)
    subprocess.run(["lxc-net", "-c", str(path), "stop"], capture_output=True)


def lxcnet(settings, action):
    return subprocess.run(["lxc-net", "-c", settings, action], capture_output=True, text=True,
                          timeout=120)


def test_start_and_stop_are_idempotent_and_leave_nothing(settings):
    before = snapshot()
    done = lxcnet(settings, "start")
    assert done.returncode == 0, done.stderr
    link = json.loads(sh("ip", "-j", "-d", "link", "show", BRIDGE).stdout)[0]
    assert link["linkinfo"]["info_kind"] == "bridge"
    assert link["address"] == "00:16:3e:00:00:00"
    assert "UP" in link["flags"]
    addrs = sh("ip", "-o", "addr", "show", BRIDGE).stdout
    assert "inet 10.0.7.1/24 brd 10.0.7.255" in addrs
    assert "inet6 fd42:7::1/64" in addrs
    rules = sh("nft", "list", "ruleset").stdout
    assert "table ip lxcnet_lxctbr0" in rules and "table inet lxcnet_lxctbr0" in rules
    assert re.search(r"ip saddr 10\.0\.7\.0/24 ip daddr != 10\.0\.7\.0/24 counter .*masquerade",
                     rules)
    assert "ip6 saddr fd42:7::/64" in rules
    dnsmasq = sh("pgrep", "-a", "dnsmasq").stdout
    assert f"--interface={BRIDGE}" in dnsmasq and "--listen-address 10.0.7.1" in dnsmasq
    assert "-s lxc -S /lxc/" in dnsmasq
    assert sh("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    status = sh("lxc-net", "-c", settings, "status")
    assert "running" in status.stdout
    # a second start changes nothing
    again = lxcnet(settings, "start")
    assert again.returncode == 0 and "already running" in again.stderr
    assert sh("nft", "list", "ruleset").stdout == rules
    assert sh("pgrep", "-a", "dnsmasq").stdout == dnsmasq
    # restart: a new dnsmasq, the same bridge, rules not doubled
    assert lxcnet(settings, "restart").returncode == 0
    assert sh("nft", "list", "ruleset").stdout.count("masquerade") == rules.count("masquerade")
    done = lxcnet(settings, "stop")
    assert done.returncode == 0, done.stderr
    after = snapshot()
    assert after == before
    again = lxcnet(settings, "stop")
    assert again.returncode == 0 and "isn't running" in again.stderr
    assert lxcnet(settings, "status").returncode == 3


def test_bad_settings_are_named_and_nothing_is_made(tmp_path):
    before = snapshot()
    path = tmp_path / "bad"
    path.write_text(SETTINGS + 'LXC_DHCP_RANGE="10.0.8.2,10.0.8.254"\n')
    done = subprocess.run(["lxc-net", "-c", str(path), "start"], capture_output=True, text=True)
    assert done.returncode == 1
    assert f"{path}:14: LXC_DHCP_RANGE='10.0.8.2,10.0.8.254': not a range inside" in done.stderr
    path.write_text(SETTINGS + "LXC_ADDR=$(hostname -i)\n")
    done = subprocess.run(["lxc-net", "-c", str(path), "start"], capture_output=True, text=True)
    assert done.returncode == 1 and "shell syntax ($) is not read here" in done.stderr
    path.write_text(SETTINGS + 'LXC_BRIGDE="x"\n')
    done = subprocess.run(["lxc-net", "-c", str(path), "start"], capture_output=True, text=True)
    assert done.returncode == 1 and "did you mean LXC_BRIDGE" in done.stderr
    assert snapshot() == before


def veth_container(world, name):
    conf = os.path.join(world.root, f"{name}.conf")
    with open(conf, "w") as handle:
        handle.write(f"lxc.net.0.type = veth\nlxc.net.0.link = {BRIDGE}\n"
                     "lxc.net.0.flags = up\nlxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n")
    made = world.ours("lxc-create", "-n", name, "-t", "busybox", "-f", conf)
    assert made.returncode == 0, made.stderr
    started = world.ours("lxc-start", "-n", name)
    assert started.returncode == 0, started.stderr


def attach(world, name, *command):
    return world.ours("lxc-attach", "-n", name, "--", *command)


def test_containers_get_leases_and_resolve_each_other(world, settings):
    assert lxcnet(settings, "start").returncode == 0
    for name in ("ckneta", "cknetb"):
        veth_container(world, name)
        # udhcpc sends the container's name with its request, so dnsmasq can answer for it
        done = attach(world, name, "/bin/udhcpc", "-i", "eth0", "-n", "-q", "-t", "10",
                      "-x", f"hostname:{name}")
        assert done.returncode == 0, done.stderr + done.stdout
    addresses = {}
    for name in ("ckneta", "cknetb"):
        info = world.ours("lxc-info", "-n", name, "-iH").stdout.split()
        [address] = [a for a in info if a.startswith("10.0.7.")]
        addresses[name] = address
        listed = world.ours("lxc-ls", "-f", "-F", "NAME,STATE,IPV4").stdout
        assert re.search(rf"^{name}\s+RUNNING\s+{re.escape(address)}\s*$", listed, re.M), listed
        assert attach(world, name, "/bin/ping", "-c", "1", "-W", "5", "10.0.7.1").returncode == 0
    with open(f"/var/lib/misc/dnsmasq.{BRIDGE}.leases") as handle:
        leases = handle.read()
    assert f"{addresses['ckneta']} ckneta" in leases and f"{addresses['cknetb']} cknetb" in leases
    # by name through dnsmasq, both the short name and the LXC_DOMAIN one
    found = attach(world, "ckneta", "/bin/nslookup", "cknetb", "10.0.7.1")
    assert addresses["cknetb"] in found.stdout, found.stdout + found.stderr
    found = attach(world, "cknetb", "/bin/nslookup", "ckneta.lxc", "10.0.7.1")
    assert addresses["ckneta"] in found.stdout, found.stdout + found.stderr
    assert attach(world, "ckneta", "/bin/ping", "-c", "1", "-W", "5",
                  addresses["cknetb"]).returncode == 0
    # the bridge stays while containers are attached, and goes with the last one
    assert lxcnet(settings, "stop").returncode == 0
    assert os.path.isdir(f"/sys/class/net/{BRIDGE}")
    for name in ("ckneta", "cknetb"):
        assert world.ours("lxc-stop", "-n", name, "-k").returncode == 0
    assert lxcnet(settings, "start").returncode == 0
    assert lxcnet(settings, "stop").returncode == 0
    assert not os.path.exists(f"/sys/class/net/{BRIDGE}")


def test_side_by_side_with_debians_lxc_net(tmp_path, settings):
    """Debian's script on lxcbr0 with its defaults, ours on another bridge: the same kind of
    bridge, addresses, dnsmasq arguments and rules (ours in tables of their own)."""
    script = "/usr/libexec/lxc/lxc-net"
    assert os.path.exists(script)
    defaults = "/etc/default/lxc-net"
    saved = open(defaults).read() if os.path.exists(defaults) else None
    with open(defaults, "w") as handle:
        handle.write('USE_LXC_BRIDGE="true"\n')
    try:
        sh(script, "stop", check=False)
        before = snapshot()
        sh(script, "start")
        theirs = snapshot()
        ours_conf = tmp_path / "ours"
        ours_conf.write_text('USE_LXC_BRIDGE="true"\n')
        # ours with the very same defaults, once Debian's has stopped: the same bridge
        sh(script, "stop")
        assert snapshot() == before
        assert lxcnet(str(ours_conf), "start").returncode == 0
        mine = snapshot()
        assert mine["links"] == theirs["links"]
        assert mine["addrs"] == theirs["addrs"]
        strip = lambda text: re.sub(r"--pid-file=\S+", "", re.sub(r"^\d+ ", "", text, flags=re.M))  # noqa: E731
        assert strip(mine["dnsmasq"]) == strip(theirs["dnsmasq"])
        ours_rules = mine["rules"].replace("lxcnet_lxcbr0", "lxc")
        assert ours_rules == theirs["rules"], "\n".join(difflib.unified_diff(
            theirs["rules"].splitlines(), ours_rules.splitlines(), "debian", "ours",
            lineterm=""))
        assert lxcnet(str(ours_conf), "stop").returncode == 0
        assert snapshot() == before
    finally:
        sh(script, "stop", check=False)
        if saved is None:
            os.unlink(defaults)
        else:
            with open(defaults, "w") as handle:
                handle.write(saved)
    time.sleep(0)
