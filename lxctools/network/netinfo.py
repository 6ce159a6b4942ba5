"""What lxc-info and lxc-ls show about a running container's network. No netlink: /proc of
the container's init shows its namespace, and pyroute2 takes 100 ms to import. ipaddress
is imported only when there is an IPv6 address to spell (~1 ms on every lxc-info and lxc-ls
otherwise)."""

def addresses(proc):
    """(IPv4, IPv6) addresses inside the container, loopback excluded, from its /proc
    (a kernel.procdir.ProcDir: init's, checked against a reused pid)."""
    v4, v6 = [], []
    previous = None
    for line in (proc.read("net/fib_trie") or "").splitlines():
        text = line.strip()
        if text.startswith("|--"):
            previous = text[3:].strip()
        elif text.startswith("/32 host LOCAL") and previous and not previous.startswith("127."):
            if previous not in v4:
                v4.append(previous)
    for line in (proc.read("net/if_inet6") or "").splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[5] != "lo" and fields[3] != "20":  # not link-local
            v6.append(_ipv6(fields[0]))
    return v4, v6


def _ipv6(raw):
    """The address /proc/net/if_inet6 writes as 32 hex digits, in its canonical form."""
    import ipaddress

    return str(ipaddress.IPv6Address(int(raw, 16)))


def interfaces(proc):
    return [line.split(":")[0].strip()
            for line in (proc.read("net/dev") or "").splitlines()[2:]]


def host_counters(name):
    """(tx bytes, rx bytes) of a host-side veth, as lxc-info reports them (the container's
    view: what the host side received was sent by the container). Read from /proc/net/dev,
    which follows our network namespace (sysfs follows whoever mounted it)."""
    try:
        with open("/proc/thread-self/net/dev") as handle:
            lines = handle.readlines()[2:]
    except OSError:
        return None
    for line in lines:
        iface, _, data = line.partition(":")
        if iface.strip() == name:
            fields = data.split()
            return int(fields[0]), int(fields[8])
    return None


def nic_stats(state_json):
    """[(host-side name, tx bytes, rx bytes)] for lxc-info -S, from the NIC list the supervisor
    reports (HostState.to_json). Only veths have a host side to count."""
    rows = []
    for nic in state_json or []:
        name = nic.get("host_name")
        if not name:
            continue
        counters = host_counters(name)
        if counters is not None:
            rows.append((name, counters[0], counters[1]))
    return rows


def address_records(init_pid):
    """[(interface, family, scope_id, address)] inside the container, as getifaddrs() there
    would list them (python-lxc's get_ips filters these): family "inet"/"inet6", scope_id the
    IPv6 scope id (the interface index for link-local addresses, 0 otherwise)."""
    from pyroute2 import IPRoute

    from .host import in_netns

    try:
        with in_netns(f"/proc/{init_pid}/ns/net"):
            with IPRoute() as ipr:
                names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
                records = []
                for msg in ipr.get_addr():
                    family = "inet" if msg["family"] == 2 else "inet6"
                    link_local = family == "inet6" and msg["scope"] == 253
                    records.append((names.get(msg["index"], ""), family,
                                    msg["index"] if link_local else 0,
                                    msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")))
                return records
    except OSError:
        return []
