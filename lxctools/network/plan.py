"""What to build for `lxc.net.N.*`: one Nic per NIC that needs work, validated before anything
exists. Pure: no netlink, no /proc, no kernel calls (unit tests run it without root)."""

import ipaddress
import os

from ..errors import ConfigError, LxcError

MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}
IPVLAN_ISOLATION = {"bridge": 0, "private": 1, "vepa": 2}
IFNAMSIZ = 16
VLAN_NONE = "none"


class NetworkError(LxcError):
    """A NIC could not be set up."""


class Nic:
    def __init__(self, index, items, hook_version=0):
        self.index = index
        self.key = f"lxc.net.{index}"
        self.type = items.get("type") or ""
        self.link = items.get("link") or None
        # no name: the kernel picks the next free ethN, as LXC's "eth%d"
        self.name = items.get("name") or "eth%d"
        self.flags_up = bool(items.get("flags"))
        self.hwaddr = items.get("hwaddr") or None
        self.mtu = int(items["mtu"]) if items.get("mtu") else None
        self.l2proxy = _boolean(items.get("l2proxy"))
        self.ipv4 = [parse_ipv4(a, self.key) for a in _list(items.get("ipv4.address"))]
        self.ipv4_gateway = items.get("ipv4.gateway") or None
        self.ipv6 = [parse_ipv6(a, self.key) for a in _list(items.get("ipv6.address"))]
        self.ipv6_gateway = items.get("ipv6.gateway") or None
        self.veth_pair = items.get("veth.pair") or None
        self.veth_mode = items.get("veth.mode") or "bridge"
        self.veth_routes = [ipaddress.ip_network(r, strict=False) for r in
                            _list(items.get("veth.ipv4.route")) + _list(items.get("veth.ipv6.route"))]
        vlan = items.get("veth.vlan.id")
        self.veth_vlan_id = None if vlan in (None, "") else VLAN_NONE if vlan == VLAN_NONE else int(vlan)
        self.veth_vlan_tagged = [int(v) for v in _list(items.get("veth.vlan.tagged.id"))]
        self.veth_rxqueues = int(items["veth.n_rxqueues"]) if items.get("veth.n_rxqueues") else None
        self.veth_txqueues = int(items["veth.n_txqueues"]) if items.get("veth.n_txqueues") else None
        self.macvlan_mode = items.get("macvlan.mode") or "private"
        self.ipvlan_mode = items.get("ipvlan.mode") or "l3"
        self.ipvlan_isolation = items.get("ipvlan.isolation") or "bridge"
        self.vlan_id = int(items["vlan.id"]) if items.get("vlan.id") else None
        self.script_up = items.get("script.up") or None
        self.script_down = items.get("script.down") or None
        self.hook_version = hook_version
        # Names are drawn here, before the supervisor forks the container, so both sides agree:
        # the name a device travels under (LXC's "transient name": renaming after the move can
        # never clash with a device already in the container) and a veth's host side.
        self.temp_name = random_name(_TEMP_PREFIX.get(self.type, "lxcn"))
        self.host_name = (self.veth_pair or random_name("veth")) if self.type == "veth" else None

    def to_json(self):
        return {"index": self.index, "type": self.type, "link": self.link, "name": self.name,
                "host_name": self.host_name, "temp_name": self.temp_name,
                "l2proxy": self.l2proxy, "script_down": self.script_down,
                "hook_version": self.hook_version,
                "ipv4": [str(a) for a, _ in self.ipv4], "ipv6": [str(a) for a, _ in self.ipv6]}

    @classmethod
    def from_json(cls, data):
        """Enough of a Nic for teardown (after the supervisor was replaced)."""
        nic = cls.__new__(cls)
        nic.index = data["index"]
        nic.key = f"lxc.net.{nic.index}"
        nic.type = data["type"]
        nic.link = data.get("link")
        nic.name = data.get("name")
        nic.host_name = data.get("host_name")
        nic.temp_name = data.get("temp_name") or random_name("lxcn")
        nic.l2proxy = data.get("l2proxy", False)
        nic.script_up = None
        nic.script_down = data.get("script_down")
        nic.hook_version = data.get("hook_version", 0)
        nic.ipv4 = [(ipaddress.IPv4Interface(a), None) for a in data.get("ipv4", [])]
        nic.ipv6 = [(ipaddress.IPv6Interface(a), None) for a in data.get("ipv6", [])]
        return nic


_TEMP_PREFIX = {"veth": "vethc", "macvlan": "macv", "ipvlan": "ipvl", "vlan": "vlan",
                "phys": "phys"}


def _list(value):
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _boolean(value):
    return str(value or "0").strip().lower() in ("1", "true", "yes", "on")


def random_name(prefix):
    # os.urandom, not secrets: secrets pulls in hmac and hashlib (~4 ms on lxc-info's path)
    return prefix + os.urandom(3).hex()


def parse_ipv4(text, key):
    parts = text.split()
    try:
        interface = ipaddress.IPv4Interface(parts[0])
        broadcast = str(ipaddress.IPv4Address(parts[1])) if len(parts) > 1 else None
    except (ValueError, IndexError):
        raise ConfigError(f"{key}.ipv4.address: {text!r} is not an IPv4 address",
                          key=f"{key}.ipv4.address", hint="e.g. 10.0.3.10/24") from None
    if "/" not in parts[0]:
        # LXC's classful default prefix
        first = int(parts[0].split(".")[0])
        prefix = 8 if first < 128 else 16 if first < 192 else 24
        interface = ipaddress.IPv4Interface(f"{parts[0]}/{prefix}")
    return interface, broadcast


def parse_ipv6(text, key):
    address = text.split()[0] if text.split() else text
    if "/" not in address:
        address += "/64"
    try:
        return ipaddress.IPv6Interface(address), None
    except ValueError:
        raise ConfigError(f"{key}.ipv6.address: {text!r} is not an IPv6 address",
                          key=f"{key}.ipv6.address", hint="e.g. fd00::10/64") from None


def broadcast_of(interface, given):
    """LXC's broadcast: the one written, else computed; none for /31 and /32."""
    if given:
        return given
    if interface.network.prefixlen >= 31:
        return None
    return str(interface.network.broadcast_address)


def stable_mac(seed):
    """A MAC in LXC's 00:16:3e range derived from SEED: the same container keeps the same
    address across restarts (DHCP leases, neighbour caches) without a config edit."""
    import hashlib
    digest = hashlib.sha256(seed.encode()).digest()
    return "00:16:3e:" + ":".join(f"{b:02x}" for b in (digest[0] & 0x7F, digest[1], digest[2]))


def plan(conf, container=""):
    """The NICs to build, validated; empty and none NICs need no work. Every error names the
    key to fix and is raised before anything exists. CONTAINER (lxcpath/name) seeds a stable
    MAC for NICs without hwaddr."""
    hook_version = int(conf.value("lxc.hook.version") or 0) if hasattr(conf, "value") else 0
    nics = []
    for index in conf.nic_indices():
        items = conf.nic(index)
        key = f"lxc.net.{index}"
        if not items.get("type"):
            if any(v not in (None, "", []) for v in items.values()):
                raise ConfigError(f"{key}.type is not set", key=f"{key}.type",
                                  hint="put `lxc.net.N.type = veth` (or macvlan, phys, empty, "
                                       "...) before the other lxc.net.N keys")
            continue
        nic = Nic(index, items, hook_version)
        if nic.type in ("empty", "none"):
            continue
        if not nic.hwaddr and nic.type in ("veth", "macvlan", "vlan") and container:
            nic.hwaddr = stable_mac(f"{container}/{index}")
        _validate(nic)
        nics.append(nic)
    _check_names(nics)
    return nics


def _validate(nic):
    key = nic.key
    if nic.type in ("macvlan", "ipvlan", "vlan", "phys") and not nic.link:
        raise ConfigError(f"{key}.link is required for type {nic.type}", key=f"{key}.link",
                          hint="name the host interface, e.g. `ip -br link` lists them")
    if nic.type == "vlan" and nic.vlan_id is None:
        raise ConfigError(f"{key}.vlan.id is required for type vlan", key=f"{key}.vlan.id",
                          hint="e.g. lxc.net.N.vlan.id = 10")
    if nic.vlan_id is not None and nic.vlan_id > 4094:
        raise ConfigError(f"{key}.vlan.id: {nic.vlan_id} is not a VLAN id (0..4094)",
                          key=f"{key}.vlan.id")
    for what, name in (("name", nic.name), ("veth.pair", nic.veth_pair), ("link", nic.link)):
        if name and len(name) >= IFNAMSIZ:
            raise ConfigError(f"{key}.{what}: {name!r} is longer than 15 characters",
                              key=f"{key}.{what}", hint="interface names have at most 15")
        if name and ("/" in name or " " in name or name in (".", "..")):
            raise ConfigError(f"{key}.{what}: {name!r} is not a valid interface name",
                              key=f"{key}.{what}")
    if nic.mtu is not None and not 68 <= nic.mtu <= 65535:
        raise ConfigError(f"{key}.mtu: {nic.mtu} is out of range (68..65535)", key=f"{key}.mtu")
    if nic.veth_vlan_id is not None or nic.veth_vlan_tagged:
        if nic.veth_mode != "bridge" or not nic.link:
            raise ConfigError(f"{key}.veth.vlan.id needs veth.mode = bridge and a bridge in "
                              f"{key}.link", key=f"{key}.veth.vlan.id")
        if nic.veth_vlan_id in nic.veth_vlan_tagged:
            raise ConfigError(f"{key}.veth.vlan.tagged.id repeats veth.vlan.id "
                              f"{nic.veth_vlan_id}", key=f"{key}.veth.vlan.tagged.id",
                              hint="the untagged VLAN cannot also be tagged")
    for gateway, family, addresses in ((nic.ipv4_gateway, 4, nic.ipv4),
                                       (nic.ipv6_gateway, 6, nic.ipv6)):
        gkey = f"{key}.ipv{family}.gateway"
        if not gateway:
            continue
        if gateway == "auto":
            if nic.type not in ("veth", "macvlan"):
                raise ConfigError(f"{gkey} = auto only works for veth and macvlan NICs",
                                  key=gkey, hint="give the gateway's address")
            if not nic.link:
                raise ConfigError(f"{gkey} = auto needs {key}.link (the gateway is the "
                                  "link's address)", key=gkey)
        elif gateway != "dev":
            try:
                parsed = ipaddress.ip_address(gateway)
            except ValueError:
                raise ConfigError(f"{gkey}: {gateway!r} is not an address", key=gkey,
                                  hint="an address, auto or dev") from None
            if parsed.version != family:
                raise ConfigError(f"{gkey} is an IPv{parsed.version} address", key=gkey,
                                  hint=f"put it in {key}.ipv{parsed.version}.gateway")
        # LXC finds these only inside the starting container; here they stop the start early
        if not nic.flags_up:
            raise ConfigError(f"{gkey} needs the interface up", key=f"{key}.flags",
                              hint=f"add `{key}.flags = up`")
        link_local = gateway not in ("auto", "dev") and ipaddress.ip_address(gateway).is_link_local
        if not addresses and not (family == 6 and link_local):
            raise ConfigError(f"{gkey} needs an address on the interface",
                              key=f"{key}.ipv{family}.address",
                              hint=f"add `{key}.ipv{family}.address = ...`")
    if nic.l2proxy and nic.type == "ipvlan" and nic.ipvlan_mode != "l3s":
        raise ConfigError(f"{key}.l2proxy with ipvlan needs ipvlan.mode = l3s",
                          key=f"{key}.ipvlan.mode")


def _check_names(nics):
    seen = {}
    for nic in nics:
        if "%" in nic.name:
            continue
        if nic.name in seen:
            raise ConfigError(f"{nic.key}.name: {nic.name} is also the name of "
                              f"{seen[nic.name]}", key=f"{nic.key}.name",
                              hint="each NIC needs its own name inside the container")
        seen[nic.name] = nic.key
    pairs = [n.veth_pair for n in nics if n.veth_pair]
    for nic in nics:
        if nic.veth_pair and pairs.count(nic.veth_pair) > 1:
            raise ConfigError(f"{nic.key}.veth.pair: {nic.veth_pair} is used twice",
                              key=f"{nic.key}.veth.pair")
