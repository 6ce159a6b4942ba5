"""lxc-net: the default bridge Debian's lxc package gives its users (lxcbr0 with DHCP, DNS
and NAT), as ours. Same keys, same defaults, same bridge, addresses, dnsmasq command line
and firewall rules as LXC 5.0's lxc-net script; the differences are said where they are.

- Config: LXC 5.0.2's defaults (Debian 12's script: IPv6 only when configured), then /etc/default/lxc, then /etc/default/lxc-net (the files
  Debian's script reads; `-c FILE` or LXC_NET_CONFIG replace both), read as the shell
  assignments they are (`KEY=value`, quotes, `export`, comments) -- anything else (command
  substitution, conditionals) is refused naming the file, the line and what to write
  instead, never run. Values are checked (addresses, the netmask, the range inside the
  network, a bridge name the kernel takes) before anything is made.
- The bridge and its addresses through pyroute2 (netlink), not `ip`; dnsmasq with LXC's
  arguments; NAT and the DHCP/DNS input rules with nftables in tables of their own
  (`lxcnet_BRIDGE` in the ip, ip6 and inet families: LXC names them all "lxc", so two
  bridges, or Debian's lxc-net beside ours, would flush each other's), iptables where nft is
  missing or LXC_USE_NFT=false, as LXC.
- State in RUNDIR/lxctools/lxc-net/BRIDGE/ (`network_up`, `dnsmasq.pid`, `state.json`:
  what start made, so stop removes exactly that, even if the config changed meanwhile).
- start: nothing to do when USE_LXC_BRIDGE is not true; "already running" exits 0 (LXC's
  exits 1: a second `start` changes nothing, so systemd's restart and scripts that run it
  twice are not failures); a start that fails half-way undoes what it made. stop: removes
  the rules, dnsmasq, the addresses and the bridge (kept, as LXC, while interfaces are
  attached: running containers keep their link); stopped already: exit 0 (LXC: 1).

Size: one service's whole life in one place, as LXC's is one script -- its settings file
(reading and checking), the bridge, dnsmasq, both firewalls and the state that stop undoes;
split, each part would only be called from here.
"""

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time

from ..errors import ConfigError, LxcError

CONFIG_FILES = ["/etc/default/lxc", "/etc/default/lxc-net"]

# LXC 5.0.2's (Debian 12's lxc-net): no IPv6 unless LXC_IPV6_ADDR, _MASK and _NETWORK are set
DEFAULTS = {
    "USE_LXC_BRIDGE": "true",
    "LXC_BRIDGE": "lxcbr0",
    "LXC_BRIDGE_MAC": "00:16:3e:00:00:00",
    "LXC_ADDR": "10.0.3.1",
    "LXC_NETMASK": "255.255.255.0",
    "LXC_NETWORK": "10.0.3.0/24",
    "LXC_DHCP_RANGE": "10.0.3.2,10.0.3.254",
    "LXC_DHCP_MAX": "253",
    "LXC_DHCP_CONFILE": "",
    "LXC_DHCP_PING": "true",
    "LXC_DOMAIN": "",
    "LXC_USE_NFT": "true",
    "LXC_IPV6_ADDR": "",
    "LXC_IPV6_MASK": "",
    "LXC_IPV6_NETWORK": "",
    "LXC_IPV6_NAT": "false",
}
# keys of /etc/default/lxc that are not lxc-net's (lxc.service's): read, not checked
OTHER_KEYS = {"LXC_AUTO", "BOOTGROUPS", "SHUTDOWNDELAY", "OPTIONS", "STOPOPTS",
              "LXC_SHUTDOWN_TIMEOUT", "LXC_DIRECTORY", "USE_LXC_BRIDGE_OLD"}
DNSMASQ_USERS = ("lxc-dnsmasq", "dnsmasq", "nobody")
LEASE_DIR = "/var/lib/misc"
_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


class LxcNetError(LxcError):
    pass


# -- config ---------------------------------------------------------------------------------
def _unquote(text, path, number, key):
    """The value of a shell assignment's right-hand side: plain words, '...' and "..."
    (with \\ escapes), no expansions we would have to run."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ConfigError(f"{key}: unterminated ' quote", path=path, line=number,
                                  key=key, hint=f"write {key}=\"value\"")
            out.append(text[i + 1:end])
            i = end + 1
        elif ch == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in '"\\$`':
                    i += 1
                elif text[i] in "$`":
                    raise ConfigError(f"{key}: expansions ({text[i]}...) are not read here",
                                      path=path, line=number, key=key,
                                      hint=f"write the value itself: {key}=\"...\"")
                out.append(text[i])
                i += 1
            if i >= len(text):
                raise ConfigError(f"{key}: unterminated \" quote", path=path, line=number,
                                  key=key, hint=f"write {key}=\"value\"")
            i += 1
        elif ch in " \t":
            rest = text[i:].strip()
            if rest and not rest.startswith("#"):
                raise ConfigError(f"{key}: a value with blanks needs quotes", path=path,
                                  line=number, key=key, hint=f"write {key}=\"...\"")
            break
        elif ch in "$`;&|<>(){}":
            raise ConfigError(f"{key}: shell syntax ({ch}) is not read here", path=path,
                              line=number, key=key,
                              hint=f"write the value itself: {key}=\"...\"")
        elif ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def read_file(path, values):
    """Shell assignments of PATH into VALUES (later files win, as sourcing them would)."""
    try:
        with open(path, errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path=path) from None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ASSIGN.match(line)
        if not match:
            word = stripped.split()[0]
            if word in (".", "source") or stripped.startswith("[") or word in ("if", "test"):
                # Debian's /etc/default/lxc sources lxc-net: we read both files anyway
                if "lxc-net" in stripped or "lxc/lxc-net" in stripped:
                    continue
            raise ConfigError(f"not an assignment: {stripped[:60]}", path=path, line=number,
                              hint="lxc-net reads KEY=\"value\" lines only (comments with #)")
        key, raw = match.group(1), match.group(2)
        values[key] = _unquote(raw, path, number, key)
        values.setdefault("_where", {})[key] = (path, number)


def load(files=None):
    """The settings, checked: {KEY: value}. ConfigError naming the file and line."""
    values = {}
    for path in files or config_files():
        read_file(path, values)
    where = values.pop("_where", {})
    merged = dict(DEFAULTS)
    merged.update(values)
    check(merged, where)
    return merged


def config_files():
    override = os.environ.get("LXC_NET_CONFIG")
    return [override] if override else CONFIG_FILES


def check(values, where):
    def bad(key, message, hint):
        path, line = where.get(key, (None, None))
        raise ConfigError(f"{key}={values[key]!r}: {message}", path=path, line=line, key=key,
                          hint=hint)

    for key in values:
        if key.startswith(("LXC_", "USE_LXC")) and key not in DEFAULTS and key not in OTHER_KEYS:
            import difflib
            near = difflib.get_close_matches(key, list(DEFAULTS), n=1)
            if near:
                bad(key, "unknown key", f"did you mean {near[0]}?")
    for key in ("USE_LXC_BRIDGE", "LXC_DHCP_PING", "LXC_USE_NFT", "LXC_IPV6_NAT"):
        if values[key] not in ("true", "false"):
            bad(key, "expected true or false", f'{key}="true"')
    bridge = values["LXC_BRIDGE"]
    if not bridge or len(bridge) > 15 or "/" in bridge or any(c.isspace() for c in bridge) \
            or bridge in (".", ".."):
        bad("LXC_BRIDGE", "not an interface name (1 to 15 characters, no / or blanks)",
            'LXC_BRIDGE="lxcbr0"')
    if not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", values["LXC_BRIDGE_MAC"]):
        bad("LXC_BRIDGE_MAC", "not a MAC address", 'LXC_BRIDGE_MAC="10:66:6a:00:00:00"')
    try:
        addr = ipaddress.IPv4Address(values["LXC_ADDR"])
    except ValueError:
        bad("LXC_ADDR", "not an IPv4 address", 'LXC_ADDR="10.0.3.1"')
    try:
        mask = ipaddress.IPv4Network(f"0.0.0.0/{values['LXC_NETMASK']}").prefixlen
    except ValueError:
        bad("LXC_NETMASK", "not a netmask", 'LXC_NETMASK="255.255.255.0"')
    try:
        network = ipaddress.IPv4Network(values["LXC_NETWORK"])
    except ValueError:
        bad("LXC_NETWORK", "not a network (ADDRESS/BITS with no host bits)",
            'LXC_NETWORK="10.0.3.0/24"')
    if network.prefixlen != mask or addr not in network:
        bad("LXC_NETWORK", f"does not hold LXC_ADDR {addr}/{mask}",
            f'LXC_NETWORK="{ipaddress.IPv4Interface(f"{addr}/{mask}").network}"')
    parts = values["LXC_DHCP_RANGE"].split(",")
    try:
        low, high = (ipaddress.IPv4Address(p.strip()) for p in parts[:2])
        if len(parts) > 3:
            raise ValueError
    except ValueError:
        bad("LXC_DHCP_RANGE", "expected FIRST,LAST addresses", 'LXC_DHCP_RANGE="10.0.3.2,10.0.3.254"')
    if not (low in network and high in network and low <= high):
        bad("LXC_DHCP_RANGE", f"not a range inside LXC_NETWORK {network}",
            f'LXC_DHCP_RANGE="{network[2]},{network[-2]}"')
    if not values["LXC_DHCP_MAX"].isdigit() or int(values["LXC_DHCP_MAX"]) < 1:
        bad("LXC_DHCP_MAX", "expected a number of leases", 'LXC_DHCP_MAX="253"')
    if values["LXC_DHCP_CONFILE"] and not os.path.isfile(values["LXC_DHCP_CONFILE"]):
        bad("LXC_DHCP_CONFILE", "no such file", "give an existing dnsmasq config, or leave it empty")
    if values["LXC_DOMAIN"] and not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?",
                                                 values["LXC_DOMAIN"]):
        bad("LXC_DOMAIN", "not a domain name", 'LXC_DOMAIN="lxc"')
    if values["LXC_IPV6_ADDR"] or values["LXC_IPV6_MASK"] or values["LXC_IPV6_NETWORK"]:
        for key in ("LXC_IPV6_ADDR", "LXC_IPV6_MASK", "LXC_IPV6_NETWORK"):
            if values[key] and not _valid6(key, values[key]):
                bad(key, "not an IPv6 address, network or prefix length",
                    'e.g. LXC_IPV6_ADDR="fd00::1" LXC_IPV6_MASK="64" '
                    'LXC_IPV6_NETWORK="fd00::/64"')


def _valid6(key, value):
    try:
        if key == "LXC_IPV6_MASK":
            return value.isdigit() and 1 <= int(value) <= 128
        if key == "LXC_IPV6_ADDR":
            ipaddress.IPv6Address(value)
        else:
            ipaddress.IPv6Network(value)
        return True
    except ValueError:
        return False


# -- state ---------------------------------------------------------------------------------
def state_dir(bridge):
    from ..paths import runtime_dir
    return os.path.join(runtime_dir(), "lxctools", "lxc-net", bridge)


def read_state(bridge):
    try:
        with open(os.path.join(state_dir(bridge), "state.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_state(bridge, state):
    from ..atomic import atomic_write
    os.makedirs(state_dir(bridge), mode=0o755, exist_ok=True)
    atomic_write(os.path.join(state_dir(bridge), "state.json"), json.dumps(state).encode(),
                 mode=0o644)


def table_name(bridge):
    return "lxcnet_" + re.sub(r"[^A-Za-z0-9_]", "_", bridge)


# -- firewall ------------------------------------------------------------------------------
def use_nft(values):
    nft = shutil.which("nft")
    if not nft or values["LXC_USE_NFT"] != "true":
        return False
    return subprocess.run([nft, "list", "tables"], capture_output=True).returncode == 0


def nft_ruleset(values, table, ipv6_nat):
    bridge = values["LXC_BRIDGE"]
    net = values["LXC_NETWORK"]
    rules = []
    if ipv6_nat:
        net6 = values["LXC_IPV6_NETWORK"]
        rules += [f"add table ip6 {table}", f"flush table ip6 {table}",
                  f"add chain ip6 {table} postrouting {{ type nat hook postrouting priority 100; }}",
                  f"add rule ip6 {table} postrouting ip6 saddr {net6} ip6 daddr != {net6} "
                  "counter masquerade"]
    rules += [f"add table inet {table}", f"flush table inet {table}",
              f"add chain inet {table} input {{ type filter hook input priority 0; }}",
              f'add rule inet {table} input iifname "{bridge}" udp dport {{ 53, 67 }} accept',
              f'add rule inet {table} input iifname "{bridge}" tcp dport {{ 53, 67 }} accept',
              f"add chain inet {table} forward {{ type filter hook forward priority 0; }}",
              f'add rule inet {table} forward iifname "{bridge}" accept',
              f'add rule inet {table} forward oifname "{bridge}" accept',
              f"add table ip {table}", f"flush table ip {table}",
              f"add chain ip {table} postrouting {{ type nat hook postrouting priority 100; }}",
              f"add rule ip {table} postrouting ip saddr {net} ip daddr != {net} "
              "counter masquerade"]
    return "\n".join(rules) + "\n"


def iptables_rules(values, ipv6_nat):
    """(command, table, chain, rule) as LXC's start_iptables, each added with -I/-A."""
    bridge, net = values["LXC_BRIDGE"], values["LXC_NETWORK"]
    rules = []
    if ipv6_nat:
        net6 = values["LXC_IPV6_NETWORK"]
        rules.append(("ip6tables", "nat", "-A", "POSTROUTING",
                      ["-s", net6, "!", "-d", net6, "-j", "MASQUERADE"]))
    for proto, port in (("udp", "67"), ("tcp", "67"), ("udp", "53"), ("tcp", "53")):
        rules.append(("iptables", "filter", "-I", "INPUT",
                      ["-i", bridge, "-p", proto, "--dport", port, "-j", "ACCEPT"]))
    rules.append(("iptables", "filter", "-I", "FORWARD", ["-i", bridge, "-j", "ACCEPT"]))
    rules.append(("iptables", "filter", "-I", "FORWARD", ["-o", bridge, "-j", "ACCEPT"]))
    rules.append(("iptables", "nat", "-A", "POSTROUTING",
                  ["-s", net, "!", "-d", net, "-j", "MASQUERADE"]))
    rules.append(("iptables", "mangle", "-A", "POSTROUTING",
                  ["-o", bridge, "-p", "udp", "-m", "udp", "--dport", "68", "-j", "CHECKSUM",
                   "--checksum-fill"]))
    return rules


def _run(argv, what, input=None):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=60)
    except OSError as exc:
        raise LxcNetError(f"{what}: cannot run {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        raise LxcNetError(f"{what}: {argv[0]} failed: {(done.stderr or done.stdout).strip()}")
    return done


def firewall_up(values, state):
    ipv6_nat = bool(state.get("ipv6")) and values["LXC_IPV6_NAT"] == "true"
    if use_nft(values):
        table = table_name(values["LXC_BRIDGE"])
        state["nft"] = {"table": table, "ip6": ipv6_nat}
        _run(["nft", "-f", "-"], "NAT rules", input=nft_ruleset(values, table, ipv6_nat))
    else:
        if not shutil.which("iptables"):
            raise LxcNetError("neither nft nor iptables is installed: no NAT for the bridge",
                              hint="apt-get install nftables")
        state["iptables"] = []
        for command, table, op, chain, rule in iptables_rules(values, ipv6_nat):
            _run([command, "-w", "-t", table, op, chain, *rule], "NAT rules")
            state["iptables"].append([command, table, chain, rule])


def firewall_down(state):
    nft = state.get("nft")
    if nft:
        for family in ("inet", "ip") + (("ip6",) if nft.get("ip6") else ()):
            # add then delete: no error for a table that is already gone (as LXC)
            subprocess.run(["nft", "-f", "-"], capture_output=True, text=True,
                           input=f"add table {family} {nft['table']}\n"
                                 f"delete table {family} {nft['table']}\n")
    for command, table, chain, rule in state.get("iptables") or []:
        subprocess.run([command, "-w", "-t", table, "-D", chain, *rule], capture_output=True)


# -- the bridge (pyroute2) -----------------------------------------------------------------
def _ipr():
    from pyroute2 import IPRoute
    return IPRoute()


def link_index(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _sysctl(path, value):
    try:
        with open(path, "w") as handle:
            handle.write(value)
        return True
    except OSError:
        return False


def bridge_up(values, state):
    bridge = values["LXC_BRIDGE"]
    mask = ipaddress.IPv4Network(f"0.0.0.0/{values['LXC_NETMASK']}").prefixlen
    with _ipr() as ipr:
        index = link_index(ipr, bridge)
        if index is None:
            # its address given as it is made: set after, udev's MACAddressPolicy=persistent
            # (a systemd host's default for new virtual links) could overwrite it later, when
            # it gets to the link's "add" event (seen in the VM tier); an address given at
            # creation is one it leaves alone
            ipr.link("add", ifname=bridge, kind="bridge", address=values["LXC_BRIDGE_MAC"])
            state["made_bridge"] = True
            index = link_index(ipr, bridge)
        _sysctl("/proc/sys/net/ipv4/ip_forward", "1")
        _sysctl(f"/proc/sys/net/ipv6/conf/{bridge}/accept_dad", "0")
        network = ipaddress.IPv4Network(values["LXC_NETWORK"])
        ipr.addr("add", index=index, address=values["LXC_ADDR"], prefixlen=mask,
                 broadcast=str(network.broadcast_address))
        state["addresses"] = [[values["LXC_ADDR"], mask]]
        ipr.link("set", index=index, address=values["LXC_BRIDGE_MAC"])
        ipr.link("set", index=index, state="up")
        state["ipv6"] = None
        # as LXC: IPv6 only when address, mask and network are all given
        if (values["LXC_IPV6_ADDR"] and values["LXC_IPV6_MASK"] and values["LXC_IPV6_NETWORK"]
                and os.path.exists("/proc/sys/net/ipv6")):
            disabled = f"/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6"
            try:
                with open(disabled) as handle:
                    off = handle.read().strip() == "1"
            except OSError:
                off = False
            if not off:
                _sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")
                _sysctl(f"/proc/sys/net/ipv6/conf/{bridge}/autoconf", "0")
                ipr.addr("add", index=index, address=values["LXC_IPV6_ADDR"],
                         prefixlen=int(values["LXC_IPV6_MASK"]))
                state["ipv6"] = [values["LXC_IPV6_ADDR"], int(values["LXC_IPV6_MASK"])]


def bridge_down(bridge, state):
    """Addresses flushed, link down, and the bridge removed unless interfaces are attached
    (running containers keep their link, as LXC's stop)."""
    with _ipr() as ipr:
        index = link_index(ipr, bridge)
        if index is None:
            return
        try:
            ipr.flush_addr(index=index)
        except Exception:  # noqa: BLE001 - pyroute2 raises NetlinkError and others
            for addr in ipr.get_addr(index=index):
                try:
                    ipr.addr("del", index=index, address=addr.get_attr("IFA_ADDRESS"),
                             prefixlen=addr["prefixlen"])
                except Exception:  # noqa: BLE001
                    pass
        ipr.link("set", index=index, state="down")
        if not attached(bridge):
            ipr.link("del", index=index)


def attached(bridge):
    try:
        return os.listdir(f"/sys/class/net/{bridge}/brif")
    except OSError:
        return []


# -- dnsmasq -------------------------------------------------------------------------------
def dnsmasq_user():
    import pwd
    for user in DNSMASQ_USERS:
        try:
            pwd.getpwnam(user)
            return user
        except KeyError:
            continue
    return "nobody"


def dnsmasq_argv(values, pidfile, ipv6):
    bridge = values["LXC_BRIDGE"]
    argv = ["dnsmasq", f"--conf-file={values['LXC_DHCP_CONFILE'] or '/dev/null'}"]
    if values["LXC_DOMAIN"]:
        argv += ["-s", values["LXC_DOMAIN"], "-S", f"/{values['LXC_DOMAIN']}/"]
    if values["LXC_DHCP_PING"] == "false":
        argv.append("--no-ping")
    argv += ["-u", dnsmasq_user(), "--strict-order", "--bind-interfaces",
             f"--pid-file={pidfile}", "--listen-address", values["LXC_ADDR"],
             "--dhcp-range", values["LXC_DHCP_RANGE"],
             f"--dhcp-lease-max={values['LXC_DHCP_MAX']}", "--dhcp-no-override",
             "--except-interface=lo", f"--interface={bridge}",
             f"--dhcp-leasefile={lease_file(bridge)}", "--dhcp-authoritative"]
    if ipv6:
        argv += [f"--dhcp-range={ipv6[0]},ra-only", "--listen-address", ipv6[0]]
    return argv


def lease_file(bridge):
    return os.path.join(LEASE_DIR, f"dnsmasq.{bridge}.leases")


def dnsmasq_up(values, state):
    if not shutil.which("dnsmasq"):
        raise LxcNetError("dnsmasq is not installed: no DHCP or DNS on the bridge",
                          hint="apt-get install dnsmasq-base")
    os.makedirs(LEASE_DIR, exist_ok=True)
    pidfile = os.path.join(state_dir(values["LXC_BRIDGE"]), "dnsmasq.pid")
    argv = dnsmasq_argv(values, pidfile, state.get("ipv6"))
    _run(argv, "dnsmasq")
    try:
        with open(pidfile) as handle:
            state["dnsmasq"] = int(handle.read().strip())
    except (OSError, ValueError):
        raise LxcNetError(f"dnsmasq started but wrote no pid to {pidfile}") from None


def dnsmasq_down(state):
    pid = state.get("dnsmasq")
    if not pid:
        return
    try:
        with open(f"/proc/{pid}/comm") as handle:
            if handle.read().strip() != "dnsmasq":
                return  # that pid is someone else's now
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# -- start / stop --------------------------------------------------------------------------
def running(bridge):
    return os.path.exists(os.path.join(state_dir(bridge), "network_up"))


def start(values):
    """lxc-net start. Returns a message for the user (or None)."""
    if values["USE_LXC_BRIDGE"] != "true":
        return "USE_LXC_BRIDGE is not true: nothing to do"
    bridge = values["LXC_BRIDGE"]
    if running(bridge):
        return "lxc-net is already running"
    if os.path.isdir(f"/sys/class/net/{bridge}"):
        stop(values, force=True)  # LXC's "stop force": a bridge left by a crash
    os.makedirs(state_dir(bridge), mode=0o755, exist_ok=True)
    state = {"bridge": bridge}
    try:
        bridge_up(values, state)
        write_state(bridge, state)
        firewall_up(values, state)
        write_state(bridge, state)
        dnsmasq_up(values, state)
        write_state(bridge, state)
        with open(os.path.join(state_dir(bridge), "network_up"), "w"):
            pass
    except BaseException as exc:
        _undo(bridge, state)
        if isinstance(exc, LxcError):
            raise LxcNetError(f"Failed to setup lxc-net: {exc}", hint=exc.hint) from None
        if isinstance(exc, Exception):
            raise LxcNetError(f"Failed to setup lxc-net: {type(exc).__name__}: {exc}") from None
        raise
    return None


def _undo(bridge, state):
    dnsmasq_down(state)
    firewall_down(state)
    try:
        bridge_down(bridge, state)
    except Exception:  # noqa: BLE001 - best effort while failing already
        pass
    shutil.rmtree(state_dir(bridge), ignore_errors=True)


def stop(values, force=False):
    if values["USE_LXC_BRIDGE"] != "true" and not force:
        return "USE_LXC_BRIDGE is not true: nothing to do"
    bridge = values["LXC_BRIDGE"]
    if not running(bridge) and not force:
        return "lxc-net isn't running"
    state = read_state(bridge) or {}
    if not state.get("nft") and not state.get("iptables"):
        # no record (a start that died): what our start would have made
        state["nft"] = {"table": table_name(bridge), "ip6": True}
    dnsmasq_down(state)
    firewall_down(state)
    if not state.get("dnsmasq"):
        _kill_pidfile(os.path.join(state_dir(bridge), "dnsmasq.pid"))
    bridge_down(bridge, state)
    shutil.rmtree(state_dir(bridge), ignore_errors=True)
    return None


def _kill_pidfile(path):
    try:
        with open(path) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return
    dnsmasq_down({"dnsmasq": pid})


def status(values):
    bridge = values["LXC_BRIDGE"]
    state = read_state(bridge) or {}
    up = running(bridge)
    lines = [f"lxc-net: {'running' if up else 'stopped'} ({bridge})"]
    if up:
        lines.append(f"  address {values['LXC_ADDR']}/{values['LXC_NETMASK']}, DHCP "
                     f"{values['LXC_DHCP_RANGE']}, dnsmasq pid {state.get('dnsmasq')}")
        if state.get("nft"):
            lines.append(f"  nftables tables {state['nft']['table']} (inet, ip"
                         + (", ip6" if state['nft'].get('ip6') else "") + ")")
        elif state.get("iptables"):
            lines.append(f"  iptables rules: {len(state['iptables'])}")
    return up, "\n".join(lines)


def leases(bridge=None):
    """{mac: (ip, hostname)} from dnsmasq's lease file(s)."""
    found = {}
    paths = [lease_file(bridge)] if bridge else [
        os.path.join(LEASE_DIR, n) for n in sorted(os.listdir(LEASE_DIR))
        if n.startswith("dnsmasq.") and n.endswith(".leases")] if os.path.isdir(LEASE_DIR) else []
    for path in paths:
        try:
            with open(path) as handle:
                for line in handle:
                    fields = line.split()
                    if len(fields) >= 4:
                        found[fields[1].lower()] = (fields[2], fields[3])
        except OSError:
            continue
    return found
