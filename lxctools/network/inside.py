"""The container side: runs in the container's network namespace (its PID 1 before
pivot_root, or a test process that entered it). Devices arrive under their temporary names."""

import errno

from .plan import NetworkError, broadcast_of


def configure_inside(nics, lo_up=True):
    """Final names, MAC, MTU, addresses, up, default routes. NICs with a name of their own go
    first, then those left to the kernel (eth%d), so that a kernel-picked name cannot take a
    name another NIC asked for (LXC's two passes). LO_UP: some NIC has `flags = up`, which
    brings the loopback up with it (LXC: "the network is up, make the loopback up too");
    without one lo stays down, as LXC leaves it."""
    from pyroute2 import IPRoute

    from .host import kernel_error

    with IPRoute() as ipr:
        ordered = [n for n in nics if "%" not in n.name] + [n for n in nics if "%" in n.name]
        for nic in ordered:
            try:
                _configure(ipr, nic)
            except NetworkError:
                raise
            except Exception as exc:  # noqa: BLE001 - NetlinkError: report the kernel's words
                raise kernel_error(exc, f"{nic.key}: configuring the device failed") from None
        lo = ipr.link_lookup(ifname="lo") if lo_up else None
        if lo:
            ipr.link("set", index=lo[0], state="up")


def _configure(ipr, nic):
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
        bcast = broadcast_of(address, broadcast)
        if bcast:
            extra["broadcast"] = bcast
        ipr.addr("add", index=index, address=str(address.ip),
                 prefixlen=address.network.prefixlen, **extra)
    for address, _ in nic.ipv6:
        ipr.addr("add", index=index, address=str(address.ip),
                 prefixlen=address.network.prefixlen)
    if nic.flags_up:
        ipr.link("set", index=index, state="up")
    for gateway, family in ((nic.ipv4_gateway, 2), (nic.ipv6_gateway, 10)):
        if gateway:
            _default_route(ipr, index, gateway, family, nic)


def _default_route(ipr, index, gateway, family, nic):
    dst = "0.0.0.0/0" if family == 2 else "::/0"
    if gateway == "dev":
        ipr.route("add", dst=dst, oif=index, family=family, scope=253)
        return
    if gateway == "auto":
        raise NetworkError(f"{nic.key}: gateway auto was not resolved on the host side")
    try:
        ipr.route("add", dst=dst, gateway=gateway, oif=index, family=family)
    except Exception as exc:  # noqa: BLE001
        # IPv4 says ENETUNREACH, IPv6 EHOSTUNREACH
        if getattr(exc, "code", None) not in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            raise
        # a gateway outside the container's subnets (router mode's usual case): reach it
        # through the device first, then retry, as LXC does
        full = 32 if family == 2 else 128
        ipr.route("add", dst=f"{gateway}/{full}", oif=index, family=family, scope=253)
        ipr.route("add", dst=dst, gateway=gateway, oif=index, family=family)
