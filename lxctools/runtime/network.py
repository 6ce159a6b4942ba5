"""Container networking over netlink (pyroute2): veth (on a bridge, or routed), macvlan,
ipvlan, vlan and phys NICs from `lxc.net.N.*`.

`plan(conf)` is pure and validates before anything exists. `setup_host_side` runs in the
supervisor once the container's init has its own network namespace: it makes the devices on
the host side and moves the container's ends into that namespace under temporary names.
`configure_inside` runs in the container (PID 1, before pivot_root): final names, MAC, MTU,
addresses, routes, up. `teardown` removes what is left on the host after a stop.

Reading addresses (lxc-info -i, lxc-ls -f) needs no netlink: /proc/PID/net/fib_trie and
if_inet6 show the container's namespace, and pyroute2 takes 100 ms to import.
"""

import ipaddress
import os
import secrets

from ..errors import ConfigError, LxcError

MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}


class NetworkError(LxcError):
    """A NIC could not be set up."""


class Nic:
    def __init__(self, index, items):
        self.index = index
        self.key = f"lxc.net.{index}"
        self.type = items.get("type") or ""
        self.link = items.get("link")
        self.name = items.get("name") or f"eth{index}"
        self.flags_up = bool(items.get("flags"))
        self.hwaddr = items.get("hwaddr")
        self.mtu = int(items["mtu"]) if items.get("mtu") else None
        self.ipv4 = [parse_ipv4(a, self.key) for a in _list(items.get("ipv4.address"))]
        self.ipv4_gateway = items.get("ipv4.gateway")
        self.ipv6 = [parse_ipv6(a, self.key) for a in _list(items.get("ipv6.address"))]
        self.ipv6_gateway = items.get("ipv6.gateway")
        self.veth_pair = items.get("veth.pair")
        self.veth_mode = items.get("veth.mode") or "bridge"
        self.veth_routes = [ipaddress.ip_network(r, strict=False) for r in
                            _list(items.get("veth.ipv4.route")) + _list(items.get("veth.ipv6.route"))]
        self.macvlan_mode = items.get("macvlan.mode") or "private"
        self.ipvlan_mode = items.get("ipvlan.mode") or "l3"
        self.vlan_id = int(items["vlan.id"]) if items.get("vlan.id") else None
        self.script_up = items.get("script.up")
        self.script_down = items.get("script.down")
        # names are drawn here, before the supervisor forks the container, so both sides
        # agree: the container-side name while the device travels, and a veth's host side
        self.temp_name = self.link if self.type == "phys" else random_name("lxcn")
        self.host_name = (self.veth_pair or random_name("veth")) if self.type == "veth" else None

    def to_json(self):
        return {"index": self.index, "type": self.type, "link": self.link, "name": self.name,
                "host_name": self.host_name, "script_down": self.script_down}


def _list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parse_ipv4(text, key):
    parts = text.split()
    try:
        interface = ipaddress.IPv4Interface(parts[0])
    except ValueError:
        raise ConfigError(f"{key}.ipv4.address: {text!r} is not an IPv4 address",
                          key=f"{key}.ipv4.address", hint="e.g. 10.0.3.10/24") from None
    if "/" not in parts[0]:
        # LXC's classful default prefix
        first = int(parts[0].split(".")[0])
        prefix = 8 if first < 128 else 16 if first < 192 else 24
        interface = ipaddress.IPv4Interface(f"{parts[0]}/{prefix}")
    broadcast = parts[1] if len(parts) > 1 else None
    return interface, broadcast


def parse_ipv6(text, key):
    address = text.split()[0]
    if "/" not in address:
        address += "/64"
    try:
        return ipaddress.IPv6Interface(address), None
    except ValueError:
        raise ConfigError(f"{key}.ipv6.address: {text!r} is not an IPv6 address",
                          key=f"{key}.ipv6.address", hint="e.g. fd00::10/64") from None


def stable_mac(seed):
    """A MAC in LXC's 00:16:3e range derived from SEED: the same container keeps the same
    address across restarts (DHCP leases, neighbour caches) without a config edit."""
    import hashlib
    digest = hashlib.sha256(seed.encode()).digest()
    return "00:16:3e:" + ":".join(f"{b:02x}" for b in (digest[0] & 0x7F, digest[1], digest[2]))


def plan(conf, container=""):
    """The NICs to build, validated. Empty and none NICs need no work."""
    nics = []
    for index in conf.nic_indices():
        nic = Nic(index, conf.nic(index))
        if not nic.hwaddr and nic.type in ("veth", "macvlan", "vlan") and container:
            nic.hwaddr = stable_mac(f"{container}/{index}")
        if nic.type in ("", "empty", "none"):
            continue
        if nic.type in ("macvlan", "ipvlan", "vlan", "phys") and not nic.link:
            raise ConfigError(f"{nic.key}.link is required for type {nic.type}",
                              key=f"{nic.key}.link", hint="name the host interface, e.g. eth0")
        if nic.type == "vlan" and nic.vlan_id is None:
            raise ConfigError(f"{nic.key}.vlan.id is required for type vlan",
                              key=f"{nic.key}.vlan.id")
        for address, _ in nic.ipv4 + nic.ipv6:
            del address
        for gateway, family in ((nic.ipv4_gateway, 4), (nic.ipv6_gateway, 6)):
            if gateway and gateway not in ("auto", "dev"):
                try:
                    parsed = ipaddress.ip_address(gateway)
                except ValueError:
                    raise ConfigError(f"{nic.key}.ipv{family}.gateway: {gateway!r} is not an "
                                      "address", key=f"{nic.key}.ipv{family}.gateway",
                                      hint="an address, auto or dev") from None
                if parsed.version != family:
                    raise ConfigError(f"{nic.key}.ipv{family}.gateway is an IPv{parsed.version}"
                                      " address", key=f"{nic.key}.ipv{family}.gateway")
        nics.append(nic)
    return nics


def check_host_side(nics, ipr=None):
    """Before cloning: every link named exists (and a veth's is a bridge)."""
    if not nics:
        return
    from pyroute2 import IPRoute

    own = ipr is None
    ipr = ipr or IPRoute()
    try:
        for nic in nics:
            if not nic.link:
                continue
            links = ipr.link_lookup(ifname=nic.link)
            if not links:
                raise NetworkError(f"{nic.key}.link: no interface {nic.link!r} on this host",
                                   key=f"{nic.key}.link",
                                   hint="create it first (e.g. a bridge), or fix the name; "
                                        "`ip link` lists what exists")
            if nic.type == "veth":
                if _link_kind(ipr, links[0]) != "bridge":
                    raise NetworkError(f"{nic.key}.link: {nic.link} is not a bridge",
                                       key=f"{nic.key}.link",
                                       hint="a veth NIC is plugged into a bridge; use "
                                            "type macvlan to attach to a plain interface")
    finally:
        if own:
            ipr.close()


def _link_kind(ipr, index):
    link = ipr.get_links(index)[0]
    info = link.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info else None


def random_name(prefix):
    return prefix + secrets.token_hex(3)


class HostState:
    def __init__(self, nics):
        self.nics = nics

    def to_json(self):
        return [n.to_json() for n in self.nics]


def setup_host_side(nics, init_pid, container_name):
    from pyroute2 import IPRoute

    made = []
    with IPRoute() as ipr:
        try:
            for nic in nics:
                if nic.type == "veth":
                    ipr.link("add", ifname=nic.host_name, kind="veth", peer=nic.temp_name)
                    made.append(nic.host_name)
                    host = ipr.link_lookup(ifname=nic.host_name)[0]
                    if nic.mtu:
                        ipr.link("set", index=host, mtu=nic.mtu)
                    if nic.link:
                        bridge = ipr.link_lookup(ifname=nic.link)[0]
                        ipr.link("set", index=host, master=bridge)
                    ipr.link("set", index=host, state="up")
                    if nic.veth_mode == "router":
                        for address, _ in nic.ipv4 + nic.ipv6:
                            ipr.route("add", dst=str(address.ip), oif=host)
                    for route in nic.veth_routes:
                        ipr.route("add", dst=str(route), oif=host)
                elif nic.type in ("macvlan", "ipvlan"):
                    parent = ipr.link_lookup(ifname=nic.link)[0]
                    if nic.type == "macvlan":
                        ipr.link("add", ifname=nic.temp_name, kind="macvlan", link=parent,
                                 macvlan_mode=MACVLAN_MODES[nic.macvlan_mode])
                    else:
                        ipr.link("add", ifname=nic.temp_name, kind="ipvlan", link=parent,
                                 ipvlan_mode=IPVLAN_MODES[nic.ipvlan_mode])
                elif nic.type == "vlan":
                    parent = ipr.link_lookup(ifname=nic.link)[0]
                    ipr.link("add", ifname=nic.temp_name, kind="vlan", link=parent,
                             vlan_id=nic.vlan_id)
                inside = ipr.link_lookup(ifname=nic.temp_name)[0]
                ipr.link("set", index=inside, net_ns_pid=init_pid)
                run_script(nic, "up", container_name)
        except Exception as exc:
            for name in made:
                try:
                    ipr.link("del", index=ipr.link_lookup(ifname=name)[0])
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
            if isinstance(exc, LxcError):
                raise
            raise NetworkError(f"setting up the network failed: {exc}",
                               hint="lxc-start -F -l DEBUG shows more") from None
    return HostState(nics)


def run_script(nic, action, container_name):
    script = nic.script_up if action == "up" else nic.script_down
    if not script:
        return
    import subprocess

    parent = nic.link or ""
    peer = nic.host_name or ""
    env = dict(os.environ, LXC_NAME=container_name, LXC_NET_TYPE=nic.type,
               LXC_NET_PARENT=parent, LXC_HOOK_TYPE=action, LXC_HOOK_SECTION="net")
    if peer:
        env["LXC_NET_PEER"] = peer
    args = f"exec {script} '{container_name}' net {action} {nic.type} '{parent}'"
    if peer:
        args += f" '{peer}'"
    proc = subprocess.run(["/bin/sh", "-c", args], env=env)
    if proc.returncode != 0 and action == "up":
        raise NetworkError(f"{nic.key}.script.up failed with status {proc.returncode}",
                           key=f"{nic.key}.script.up")


def configure_inside(nics):
    """In the container's network namespace: names, MAC, MTU, addresses, up, routes."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        lo = ipr.link_lookup(ifname="lo")
        if lo:
            ipr.link("set", index=lo[0], state="up")
        for nic in nics:
            found = ipr.link_lookup(ifname=nic.temp_name)
            if not found:
                raise NetworkError(f"{nic.key}: the device did not arrive in the container")
            index = found[0]
            changes = {"ifname": nic.name}
            if nic.hwaddr:
                changes["address"] = nic.hwaddr
            if nic.mtu:
                changes["mtu"] = nic.mtu
            ipr.link("set", index=index, **changes)
            for address, broadcast in nic.ipv4:
                extra = {}
                if address.network.prefixlen < 31:
                    extra["broadcast"] = broadcast or str(address.network.broadcast_address)
                ipr.addr("add", index=index, address=str(address.ip),
                         prefixlen=address.network.prefixlen, **extra)
            for address, _ in nic.ipv6:
                ipr.addr("add", index=index, address=str(address.ip),
                         prefixlen=address.network.prefixlen)
            if nic.flags_up or nic.ipv4 or nic.ipv6:
                ipr.link("set", index=index, state="up")
            for gateway, family in ((nic.ipv4_gateway, 4), (nic.ipv6_gateway, 6)):
                if not gateway:
                    continue
                if gateway == "dev":
                    ipr.route("add", dst="default" if family == 4 else "::/0", oif=index,
                              family=2 if family == 4 else 10)
                elif gateway == "auto":
                    continue  # needs the host side's address: LXC reads the bridge's
                else:
                    ipr.route("add", dst="default" if family == 4 else "::/0", gateway=gateway,
                              family=2 if family == 4 else 10)


def teardown(state):
    """After the container stopped: veth host sides die with the namespace; what is left
    (and script.down) is handled here."""
    if state is None:
        return
    for nic in state.nics:
        if nic.type == "veth" and nic.host_name and host_counters(nic.host_name) is not None:
            from pyroute2 import IPRoute
            with IPRoute() as ipr:
                found = ipr.link_lookup(ifname=nic.host_name)
                if found:
                    ipr.link("del", index=found[0])
        run_script(nic, "down", "")


def addresses(init_pid):
    """(IPv4, IPv6) addresses inside the container, loopback excluded, from /proc."""
    v4, v6 = [], []
    try:
        with open(f"/proc/{init_pid}/net/fib_trie") as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = []
    previous = None
    for line in lines:
        text = line.strip()
        if text.startswith("|--"):
            previous = text[3:].strip()
        elif text.startswith("/32 host LOCAL") and previous and not previous.startswith("127."):
            if previous not in v4:
                v4.append(previous)
    try:
        with open(f"/proc/{init_pid}/net/if_inet6") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 6 and fields[5] != "lo" and fields[3] != "20":  # not link-local
                    raw = fields[0]
                    v6.append(str(ipaddress.IPv6Address(int(raw, 16))))
    except OSError:
        pass
    return v4, v6


def interfaces(init_pid):
    try:
        with open(f"/proc/{init_pid}/net/dev") as handle:
            return [line.split(":")[0].strip() for line in handle.readlines()[2:]]
    except OSError:
        return []


def host_counters(name):
    """(tx bytes, rx bytes) of a host-side veth, as lxc-info reports them (the container's
    view: what the host side received was sent by the container). Read from /proc/net/dev,
    which follows our network namespace (sysfs follows whoever mounted it)."""
    try:
        with open("/proc/self/net/dev") as handle:
            lines = handle.readlines()[2:]
    except OSError:
        return None
    for line in lines:
        iface, _, data = line.partition(":")
        if iface.strip() == name:
            fields = data.split()
            return int(fields[0]), int(fields[8])
    return None
