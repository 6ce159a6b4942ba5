"""The host side of a container's NICs (runs in the supervisor, or in a test's private netns).

setup_host_side: veth pairs (the container end made directly in init's namespace), macvlan/
ipvlan/vlan on their parent, phys devices moved in; l2proxy and router-mode neighbour proxies;
script.up. teardown: l2proxy entries and leftover host veths removed, phys devices brought back
under their old name and MTU, script.down. A netlink failure is reported as the kernel gave it.

Size: the setup of each NIC type and its teardown sit side by side, as each must undo
exactly what the other did.
"""

import contextlib
import errno as errnos
import os
import re

from ..errors import LxcError
from .plan import IPVLAN_ISOLATION, IPVLAN_MODES, MACVLAN_MODES, VLAN_NONE, NetworkError, Nic

NTF_PROXY = 0x08
AF_INET, AF_INET6, AF_BRIDGE = 2, 10, 7
BRIDGE_VLAN_INFO_PVID, BRIDGE_VLAN_INFO_UNTAGGED = 0x2, 0x4


class HostState:
    """What teardown needs: the NICs, the container's name and a handle on its network
    namespace (kept open so that phys devices can be taken back after init died)."""

    def __init__(self, nics, container_name, netns_fd=-1, host_netns=None):
        self.nics = nics
        self.container_name = container_name
        self.netns_fd = netns_fd
        self.host_netns = host_netns
        self.phys = {}        # nic index -> {"mtu": original MTU}
        self.proxies = []     # (link name, family, address) neighbour proxies on the host
        self.lo_routes = []   # (family, dst) routes to lo for ipvlan's l2proxy
        # an unprivileged caller's NICs, made by lxc-user-nic (usernic.py)
        self.user_nics = []
        self.userns_fd = -1
        self.lxcpath = None

    def to_json(self):
        return [n.to_json() for n in self.nics]

    def record(self):
        record = {"nics": self.to_json(), "phys": self.phys,
                  "proxies": [list(p) for p in self.proxies],
                  "lo_routes": [list(r) for r in self.lo_routes]}
        if self.user_nics:
            record["user_nics"] = [m.to_json() for m in self.user_nics]
            record["lxcpath"] = self.lxcpath
        return record

    @classmethod
    def from_record(cls, record, container_name, init_pid):
        """A supervisor adopting a running container rebuilds the state from its record and
        takes a new handle on init's namespace (init is alive at that point)."""
        if not record:
            return None
        if isinstance(record, list):  # older records: only the NIC list
            record = {"nics": record}
        state = cls([Nic.from_json(n) for n in record.get("nics", [])], container_name)
        state.phys = {int(k): v for k, v in (record.get("phys") or {}).items()}
        state.proxies = [tuple(p) for p in record.get("proxies") or []]
        state.lo_routes = [tuple(r) for r in record.get("lo_routes") or []]
        if record.get("user_nics"):
            from .usernic import UserNic
            state.user_nics = [UserNic.from_json(m) for m in record["user_nics"]]
            state.lxcpath = record.get("lxcpath")
        try:
            state.netns_fd = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            if state.user_nics:
                state.userns_fd = os.open(f"/proc/{init_pid}/ns/user",
                                          os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            pass
        return state

    def close(self):
        for name in ("netns_fd", "userns_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)


@contextlib.contextmanager
def in_netns(target):
    """Run the block in network namespace TARGET (a name under /run/netns, a path or an fd);
    None stays where we are. Only this thread moves: netlink sockets opened inside belong to
    TARGET, and /proc/thread-self/net shows it."""
    if target is None:
        yield
        return
    from ..kernel import libc

    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    close = False
    if isinstance(target, int):
        fd = target
    else:
        path = target if "/" in target else f"/run/netns/{target}"
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        close = True
    try:
        libc.setns(fd, libc.CLONE_NEWNET)
        try:
            yield
        finally:
            libc.setns(own, libc.CLONE_NEWNET)
    finally:
        os.close(own)
        if close:
            os.close(fd)


def _ipr():
    from pyroute2 import IPRoute
    return IPRoute()


def kernel_error(exc, what):
    """NetworkError from a pyroute2 NetlinkError (or OSError): the kernel's own words."""
    code = getattr(exc, "code", None) or getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        reason = f"{os.strerror(code)} (errno {errnos.errorcode.get(code, code)})"
    else:
        reason = str(exc)
    return NetworkError(f"{what}: {reason}", hint="lxc-start -n NAME -F -l DEBUG -o FILE shows more")


def _lookup(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _link_info(ipr, index):
    link = ipr.get_links(index)[0]
    info = link.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info else None
    data = info.get_attr("IFLA_INFO_DATA") if info else None
    return link, kind, data


def locate(exc, config_file):
    """Point an error about KEY at the line of CONFIG_FILE that sets it (the last one wins,
    as in the config engine), so that it reads `config:12: lxc.net.0.link: ...`."""
    if not config_file or not exc.key or exc.line:
        return exc
    try:
        with open(config_file, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return exc
    nic_type = re.sub(r"^(lxc\.net\.\d+)\..*$", r"\1.type", exc.key)
    # a missing key (lxc.net.0.link is required) has no line: the NIC's type line stands in
    for wanted in (exc.key, nic_type):
        for number, text in enumerate(lines, 1):
            if "=" in text and text.split("=", 1)[0].strip() == wanted:
                exc.path, exc.line = config_file, number
        if exc.line:
            break
    return exc


def check_host_side(nics, host_netns=None, config_file=None):
    """Before cloning: every link named exists, a bridged veth's link is a bridge, VLAN
    filtering is on where veth.vlan.id needs it, l2proxy's sysctls are set. Makes nothing.
    Errors name the config line when CONFIG_FILE is given."""
    if not nics:
        return
    try:
        if os.geteuid() != 0:
            # as LXC: veth only, made by its setuid lxc-user-nic; the real cause of what
            # would end in its bare "Quota reached" is found here, before the clone
            from . import usernic
            usernic.check(nics)
            _check_host_side(nics, host_netns)
            usernic.check_usernet(nics)
            return
        _check_host_side(nics, host_netns)
    except LxcError as exc:
        raise locate(exc, config_file) from None


def _check_host_side(nics, host_netns):
    with in_netns(host_netns), _ipr() as ipr:
        for nic in nics:
            if not nic.link:
                continue
            index = _lookup(ipr, nic.link)
            if index is None:
                raise NetworkError(f"{nic.key}.link: no interface {nic.link!r} on this host",
                                   key=f"{nic.key}.link",
                                   hint="create it first (e.g. a bridge), or fix the name; "
                                        "`ip link` lists what exists")
            _, kind, data = _link_info(ipr, index)
            bridged = nic.type == "veth" and nic.veth_mode == "bridge"
            if bridged and kind != "bridge":
                raise NetworkError(f"{nic.key}.link: {nic.link} is not a bridge",
                                   key=f"{nic.key}.link",
                                   hint="a veth NIC is plugged into a bridge; use type "
                                        "macvlan to attach to a plain interface, or "
                                        "veth.mode = router")
            if bridged and (nic.veth_vlan_id is not None or nic.veth_vlan_tagged):
                filtering = data.get_attr("IFLA_BR_VLAN_FILTERING") if data else None
                if not filtering:
                    raise NetworkError(f"{nic.key}.veth.vlan.id: vlan_filtering is not enabled "
                                       f"on {nic.link}", key=f"{nic.key}.veth.vlan.id",
                                       hint=f"ip link set {nic.link} type bridge "
                                            "vlan_filtering 1")
            if nic.l2proxy:
                _check_l2proxy_sysctls(nic)
            # before the fork, so that the container's copy of the plan has the address
            _resolve_auto_gateways(ipr, nic)


def _sysctl(family, link, name):
    path = f"/proc/sys/net/ipv{family}/conf/{link}/{name}"
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _set_sysctl(family, link, name, value):
    path = f"/proc/sys/net/ipv{family}/conf/{link}/{name}"
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except OSError as exc:
        raise kernel_error(exc, f"setting {path}") from None


def _check_l2proxy_sysctls(nic):
    wanted = []
    if nic.ipv4:
        wanted.append((4, "forwarding"))
    if nic.ipv6:
        wanted += [(6, "proxy_ndp"), (6, "forwarding")]
    for family, name in wanted:
        if _sysctl(family, nic.link, name) != "1":
            raise NetworkError(f"{nic.key}.l2proxy requires sysctl "
                               f"net.ipv{family}.conf.{nic.link}.{name}=1",
                               key=f"{nic.key}.l2proxy",
                               hint=f"sysctl -w net.ipv{family}.conf.{nic.link}.{name}=1")


def gateway_of_link(ipr, nic, family):
    """ipv4/ipv6.gateway = auto: the first address of the link (a global one for IPv6)."""
    index = _lookup(ipr, nic.link)
    found = []
    for msg in ipr.get_addr(family=AF_INET if family == 4 else AF_INET6, index=index or 0):
        if msg["index"] != index:
            continue
        if family == 6 and msg["scope"] != 0:
            continue
        found.append(msg.get_attr("IFA_ADDRESS"))
    if not found:
        raise NetworkError(f"{nic.key}.ipv{family}.gateway = auto: {nic.link} has no "
                           f"IPv{family} address", key=f"{nic.key}.ipv{family}.gateway",
                           hint=f"give {nic.link} an address, or write the gateway's")
    return found[0]


def setup_host_side(nics, init_pid, container_name, host_netns=None, lxcpath=None):
    """Make the NICs' devices and hand the container's ends to init's namespace. On failure,
    what was made is removed and the error says what the kernel answered. A non-root caller
    gets its veths from lxc-user-nic (LXCPATH and the name are its arguments)."""
    if not nics:
        return None
    if os.geteuid() != 0:
        return _setup_through_lxc_user_nic(nics, init_pid, container_name, host_netns, lxcpath)
    state = HostState(nics, container_name, host_netns=host_netns)
    made = []
    with in_netns(host_netns), _ipr() as ipr:
        try:
            state.netns_fd = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            for nic in nics:
                _resolve_auto_gateways(ipr, nic)
                if nic.l2proxy and nic.link:
                    _add_l2proxy(ipr, nic, state)
                if nic.type == "veth":
                    _veth(ipr, nic, init_pid, state, made)
                elif nic.type == "phys":
                    _phys(ipr, nic, init_pid, state)
                else:
                    _lower(ipr, nic, init_pid)
                run_script(nic, "up", container_name)
        except BaseException as exc:
            for name in made:
                index = _lookup(ipr, name)
                if index is not None:
                    with contextlib.suppress(Exception):
                        ipr.link("del", index=index)
            _remove_proxies(ipr, state)
            with contextlib.suppress(Exception):
                _return_phys(state, ipr)
            if state.netns_fd >= 0:
                os.close(state.netns_fd)
                state.netns_fd = -1
            if isinstance(exc, (LxcError, KeyboardInterrupt, SystemExit)):
                raise
            raise kernel_error(exc, "setting up the network failed") from None
    return state


def _setup_through_lxc_user_nic(nics, init_pid, container_name, host_netns, lxcpath):
    from . import usernic

    state = HostState(nics, container_name, host_netns=host_netns)
    state.lxcpath = lxcpath
    helper = usernic.helper_path()
    with in_netns(host_netns):
        try:
            state.netns_fd = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            state.userns_fd = os.open(f"/proc/{init_pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
            for nic in nics:
                made = usernic.create(helper, nic, lxcpath or "", container_name, init_pid)
                state.user_nics.append(made)
                nic.host_name = made.host_name
                run_script(nic, "up", container_name)
        except BaseException:
            usernic.remove_inside(state.userns_fd, state.netns_fd,
                                  [m.index for m in state.user_nics])
            state.close()
            raise
    return state


def _teardown_user_nics(state):
    """lxc-user-nic delete for Open vSwitch links (as liblxc), then the container ends removed
    from inside, so that the host ends are gone (and the quota free) when this returns."""
    from . import usernic

    helper = usernic.helper_path()
    with in_netns(state.host_netns):
        try:
            for made in state.user_nics:
                if made.link == "none" or os.path.isdir(f"/sys/class/net/{made.link}/bridge"):
                    continue
                try:
                    usernic.delete_ovs_port(helper, made, state.lxcpath or "",
                                            state.container_name, state.netns_fd)
                except (OSError, LxcError, subprocess_error()) as exc:
                    _log(str(exc))
            usernic.remove_inside(state.userns_fd, state.netns_fd,
                                  [m.index for m in state.user_nics])
        finally:
            state.close()
        for nic in state.nics:
            run_script(nic, "down", state.container_name)


def subprocess_error():
    import subprocess
    return subprocess.SubprocessError


def _resolve_auto_gateways(ipr, nic):
    # the container side only needs an address; it is drawn here from the host's link
    if nic.ipv4_gateway == "auto":
        nic.ipv4_gateway = gateway_of_link(ipr, nic, 4)
    if nic.ipv6_gateway == "auto":
        nic.ipv6_gateway = gateway_of_link(ipr, nic, 6)


def _step(what, call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except LxcError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyroute2's NetlinkError and OSError alike
        raise kernel_error(exc, what) from None


def _veth(ipr, nic, init_pid, state, made):
    host = nic.host_name
    mtu = nic.mtu
    if mtu is None and nic.link:
        # LXC: without lxc.net.N.mtu the pair inherits the link's
        link = _lookup(ipr, nic.link)
        if link is not None:
            mtu = ipr.get_links(link)[0].get_attr("IFLA_MTU")
    peer = {"ifname": nic.temp_name, "net_ns_pid": init_pid}
    if mtu:
        peer["mtu"] = mtu
    # queue counts are the container end's (LXC puts them on the peer)
    if nic.veth_rxqueues:
        peer["num_rx_queues"] = nic.veth_rxqueues
    if nic.veth_txqueues:
        peer["num_tx_queues"] = nic.veth_txqueues
    _step(f"{nic.key}: creating veth pair {host}", ipr.link, "add", ifname=host, kind="veth",
          peer=peer)
    made.append(host)
    index = _lookup(ipr, host)
    address = ipr.get_links(index)[0].get_attr("IFLA_ADDRESS")
    # LXC's trick: a host side MAC starting with fe is never the lowest on the bridge, so the
    # bridge keeps its own MAC when containers come and go
    changes = {"address": "fe" + address[2:]}
    if mtu:
        changes["mtu"] = mtu
    _step(f"{nic.key}: setting up {host}", ipr.link, "set", index=index, **changes)
    if nic.link and nic.veth_mode == "bridge":
        bridge = _lookup(ipr, nic.link)
        if bridge is None:
            raise NetworkError(f"{nic.key}.link: no interface {nic.link!r} on this host",
                               key=f"{nic.key}.link")
        _step(f"{nic.key}: attaching {host} to {nic.link}", ipr.link, "set", index=index,
              master=bridge)
        _bridge_vlans(ipr, nic, index)
    _step(f"{nic.key}: setting {host} up", ipr.link, "set", index=index, state="up")
    for route in nic.veth_routes:
        _step(f"{nic.key}: route {route} via {host}", ipr.route, "add", dst=str(route),
              oif=index)
    if nic.veth_mode == "router":
        _router(ipr, nic, index)


def _bridge_vlans(ipr, nic, index):
    if nic.veth_vlan_id is None and not nic.veth_vlan_tagged:
        return
    if nic.veth_vlan_id is not None:
        default_pvid = 1
        bridge = _lookup(ipr, nic.link)
        _, _, data = _link_info(ipr, bridge)
        if data is not None and data.get_attr("IFLA_BR_VLAN_DEFAULT_PVID") is not None:
            default_pvid = data.get_attr("IFLA_BR_VLAN_DEFAULT_PVID")
        if default_pvid != nic.veth_vlan_id:
            _step(f"{nic.key}.veth.vlan.id: removing default VLAN {default_pvid}",
                  ipr.vlan_filter, "del", index=index, vlan_info={"vid": default_pvid})
        if nic.veth_vlan_id != VLAN_NONE:
            _step(f"{nic.key}.veth.vlan.id: adding VLAN {nic.veth_vlan_id}", ipr.vlan_filter,
                  "add", index=index, vlan_info={
                      "vid": nic.veth_vlan_id,
                      "flags": BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED})
    for vid in nic.veth_vlan_tagged:
        _step(f"{nic.key}.veth.vlan.tagged.id: adding VLAN {vid}", ipr.vlan_filter, "add",
              index=index, vlan_info={"vid": vid})


def _router(ipr, nic, index):
    """veth.mode = router: the host routes the container's addresses to the veth and answers
    neighbour requests for the container's gateway on it."""
    host = nic.host_name
    if nic.ipv4_gateway and nic.ipv4_gateway != "dev":
        _set_sysctl(4, host, "forwarding", "1")
        _step(f"{nic.key}: proxy ARP for {nic.ipv4_gateway} on {host}", ipr.neigh, "add",
              dst=nic.ipv4_gateway, ifindex=index, flags=NTF_PROXY, family=AF_INET)
    if nic.ipv6_gateway and nic.ipv6_gateway != "dev":
        if _sysctl(6, "all", "forwarding") != "1":
            raise NetworkError(f"{nic.key}: veth.mode = router with an IPv6 gateway requires "
                               "sysctl net.ipv6.conf.all.forwarding=1",
                               key=f"{nic.key}.veth.mode",
                               hint="sysctl -w net.ipv6.conf.all.forwarding=1")
        _set_sysctl(6, host, "forwarding", "1")
        _set_sysctl(6, host, "proxy_ndp", "1")
        _step(f"{nic.key}: proxy NDP for {nic.ipv6_gateway} on {host}", ipr.neigh, "add",
              dst=nic.ipv6_gateway, ifindex=index, flags=NTF_PROXY, family=AF_INET6)
    for address, _ in nic.ipv4 + nic.ipv6:
        full = 32 if address.version == 4 else 128
        _step(f"{nic.key}: route {address.ip} via {host}", ipr.route, "add",
              dst=f"{address.ip}/{full}", oif=index)


def _add_l2proxy(ipr, nic, state):
    _check_l2proxy_sysctls(nic)
    link = _lookup(ipr, nic.link)
    lo = _lookup(ipr, "lo")
    for address, _ in nic.ipv4 + nic.ipv6:
        family = AF_INET if address.version == 4 else AF_INET6
        _step(f"{nic.key}.l2proxy: neighbour proxy for {address.ip} on {nic.link}", ipr.neigh,
              "add", dst=str(address.ip), ifindex=link, flags=NTF_PROXY, family=family)
        state.proxies.append((nic.link, family, str(address.ip)))
        if nic.type == "ipvlan":
            # LXC: ipvlan needs a route to lo for the proxy to answer
            full = 32 if family == AF_INET else 128
            _step(f"{nic.key}.l2proxy: route {address.ip} to lo", ipr.route, "add",
                  dst=f"{address.ip}/{full}", oif=lo, family=family)
            state.lo_routes.append((family, f"{address.ip}/{full}"))


def _remove_proxies(ipr, state):
    lo = _lookup(ipr, "lo")
    for family, dst in state.lo_routes:
        with contextlib.suppress(Exception):
            ipr.route("del", dst=dst, oif=lo, family=family)
    state.lo_routes = []
    for link, family, address in state.proxies:
        index = _lookup(ipr, link)
        if index is None:
            continue
        with contextlib.suppress(Exception):
            ipr.neigh("del", dst=address, ifindex=index, flags=NTF_PROXY, family=family)
    state.proxies = []


def _lower(ipr, nic, init_pid):
    """macvlan, ipvlan, vlan: a child of the parent link, then moved into the container."""
    parent = _lookup(ipr, nic.link)
    if parent is None:
        raise NetworkError(f"{nic.key}.link: no interface {nic.link!r} on this host",
                           key=f"{nic.key}.link")
    spec = {"ifname": nic.temp_name, "link": parent}
    if nic.type == "macvlan":
        spec.update(kind="macvlan", macvlan_mode=MACVLAN_MODES[nic.macvlan_mode])
    elif nic.type == "ipvlan":
        spec.update(kind="ipvlan", ipvlan_mode=IPVLAN_MODES[nic.ipvlan_mode])
        if IPVLAN_ISOLATION[nic.ipvlan_isolation]:
            spec["ipvlan_flags"] = IPVLAN_ISOLATION[nic.ipvlan_isolation]
    else:
        spec.update(kind="vlan", vlan_id=nic.vlan_id)
    if nic.mtu:
        spec["mtu"] = nic.mtu
    _step(f"{nic.key}: creating {nic.type} on {nic.link}", ipr.link, "add", **spec)
    index = _lookup(ipr, nic.temp_name)
    try:
        _step(f"{nic.key}: moving {nic.type} into the container", ipr.link, "set", index=index,
              net_ns_pid=init_pid)
    except LxcError:
        with contextlib.suppress(Exception):
            ipr.link("del", index=index)
        raise


def _phys(ipr, nic, init_pid, state):
    index = _lookup(ipr, nic.link)
    if index is None:
        raise NetworkError(f"{nic.key}.link: no interface {nic.link!r} on this host",
                           key=f"{nic.key}.link")
    link = ipr.get_links(index)[0]
    state.phys[nic.index] = {"mtu": link.get_attr("IFLA_MTU")}
    # moved and renamed in one message: the old name may already exist in the container
    _step(f"{nic.key}: moving {nic.link} into the container", ipr.link, "set", index=index,
          net_ns_pid=init_pid, ifname=nic.temp_name)


def _return_phys(state, host_ipr):
    """phys devices back to the host's namespace under their old name and MTU, as LXC does
    at stop. Needs the container's namespace handle: after init died, it alone keeps the
    namespace (and the devices in it) alive."""
    phys = [n for n in state.nics if n.type == "phys"]
    if not phys or state.netns_fd < 0:
        return
    host_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        moved = []
        with in_netns(state.netns_fd), _ipr() as inner:
            for nic in phys:
                index = _find_phys_inside(inner, nic)
                if index is None:
                    continue
                try:
                    inner.link("set", index=index, state="down")
                    inner.link("set", index=index, net_ns_fd=host_fd, ifname=nic.temp_name)
                    moved.append(nic)
                except Exception as exc:  # noqa: BLE001 - report and go on with the others
                    _log(f"{nic.key}: {nic.link} not returned to the host: {exc}")
        for nic in moved:
            index = _lookup(host_ipr, nic.temp_name)
            if index is None:
                continue
            changes = {"ifname": nic.link}
            mtu = state.phys.get(nic.index, {}).get("mtu")
            if mtu:
                changes["mtu"] = mtu
            try:
                host_ipr.link("set", index=index, **changes)
            except Exception as exc:  # noqa: BLE001
                _log(f"{nic.key}: {nic.link} came back as {nic.temp_name}: {exc}")
    finally:
        os.close(host_fd)


def _find_phys_inside(ipr, nic):
    # the container may have renamed it; a phys NIC is the only one whose
    # IFLA_PERM_ADDRESS / name we cannot rely on, so try the known names in turn
    for name in (nic.name, nic.temp_name, nic.link):
        if name and "%" not in name:
            index = _lookup(ipr, name)
            if index is not None:
                return index
    return None


def _log(message):
    from .. import log
    log.warning(message)


def run_script(nic, action, container_name):
    """lxc.net.N.script.up/down with LXC's argv (hook version 0) and environment."""
    script = nic.script_up if action == "up" else nic.script_down
    if not script:
        return
    import shlex
    import subprocess

    parent = nic.link or ""
    peer = nic.host_name or ""
    env = dict(os.environ, LXC_NAME=container_name, LXC_NET_TYPE=nic.type,
               LXC_HOOK_TYPE=action, LXC_HOOK_SECTION="net",
               LXC_HOOK_VERSION=str(nic.hook_version))
    if nic.type in ("veth", "macvlan", "phys", "ipvlan", "vlan"):
        env["LXC_NET_PARENT"] = parent
    if peer:
        env["LXC_NET_PEER"] = peer
    if nic.hook_version == 1:
        command = f"exec {script}"
    else:
        extra = [container_name, "net", action, nic.type, parent] + ([peer] if peer else [])
        command = f"exec {script} " + " ".join(shlex.quote(a) for a in extra)
    proc = subprocess.run(["/bin/sh", "-c", command], env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        if action == "up":
            raise NetworkError(f"{nic.key}.script.up failed with status {proc.returncode}",
                               key=f"{nic.key}.script.up")
        _log(f"{nic.key}.script.down failed with status {proc.returncode}")


def teardown(state):
    """After the container stopped: phys devices back to the host, host-side veths removed,
    l2proxy entries removed, then script.down. Done before our handle on the container's
    namespace is let go: after that the kernel's cleanup is asynchronous."""
    if state is None:
        return
    if state.user_nics:
        _teardown_user_nics(state)
        return
    with in_netns(state.host_netns), _ipr() as ipr:
        try:
            _return_phys(state, ipr)
            # while our handle keeps the namespace alive, so that the removal is done when
            # we return (the kernel's own cleanup of a dead namespace runs later, async)
            for nic in state.nics:
                if nic.type == "veth" and nic.host_name:
                    index = _lookup(ipr, nic.host_name)
                    if index is not None:
                        with contextlib.suppress(Exception):
                            ipr.link("del", index=index)
        finally:
            if state.netns_fd >= 0:
                os.close(state.netns_fd)
                state.netns_fd = -1
        _remove_proxies(ipr, state)
        for nic in state.nics:
            run_script(nic, "down", state.container_name)
