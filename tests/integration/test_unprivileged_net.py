"""Networks of unprivileged containers, run by an ordinary user: the user-mode network
(lxctools.net.usermode = slirp4netns) and veth through the host's setuid lxc-user-nic.

NETWORK SAFETY: nothing is created in the host's own namespace. Each test makes a namespace
`un-...` that plays the host (bridge, addresses, the server the container reaches) and runs the
user's tools inside it (`nsenter --net`, then setpriv to the user: lxc-user-nic makes its
host-side veth in its caller's namespace, and our command sockets are abstract, i.e. per
namespace). Host files the tests touch (/dev/net/tun's mode, /etc/lxc/lxc-usernet, the
lxc-user-nic database /run/lxc/nics) are restored exactly."""

import functools
import os
import pwd
import secrets
import subprocess
import sys
import time

import pytest

from conftest import ordinary_user, ours_for_anyone, real_lxc

USER = "un-netuser"
SUBIDS = "700000-765535"
TUN = "/dev/net/tun"


def host_links():
    return sorted(line.split(":")[1].strip().split("@")[0] for line in subprocess.run(
        ["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines())


@pytest.fixture
def user():
    with ordinary_user(USER, int(SUBIDS.split("-")[0])) as made:
        yield made


@pytest.fixture
def netns():
    name = f"un-{secrets.token_hex(3)}"
    before = host_links()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        in_netns(name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
    assert host_links() == before  # the host's namespace never changed


def in_netns(ns, *command):
    return subprocess.run(["ip", "netns", "exec", ns, *command], check=True,
                          capture_output=True, text=True)


# nsenter, not `ip netns exec`, and a /sys of that namespace mounted by hand: `ip netns exec`
# remounts /sys and so hides the cgroup hierarchies; lxc-user-nic, like LXC, reads
# /sys/class/net (whether the link is a kernel bridge, which of its devices still exist)
_NS_SYS = ('d=$(mktemp -d /tmp/un-sys.XXXXXX) && mount --rbind /sys/fs/cgroup "$d" && '
           'mount -t sysfs sysfs /sys && mount --rbind "$d" /sys/fs/cgroup && umount -l "$d" && '
           'rmdir "$d" && exec "$@"')


def user_argv(ns, argv, env=(), login=False):
    """ARGV as the user inside network namespace NS: without PAM (setpriv), or through a
    login session (su -)."""
    entry = pwd.getpwnam(USER)
    enter = ["nsenter", f"--net=/run/netns/{ns}", "unshare", "-m", "--propagation", "slave",
             "sh", "-c", _NS_SYS, "sh"]
    if login:
        import shlex
        return enter + ["su", "-", USER, "-c", shlex.join((["env", *env] if env else []) + argv)]
    return enter + [
            "setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
            "env", "-i", f"HOME={entry.pw_dir}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            f"USER={USER}", f"LOGNAME={USER}", "LANG=C", *env,
            "sh", "-c", "cd / && exec \"$@\"", "sh", *argv]


def ours_as_user(ns, tool, *args, timeout=120, env=(), login=False):
    return subprocess.run(user_argv(ns, [ours_for_anyone(tool), *args], env, login),
                          capture_output=True, text=True, timeout=timeout)


def real_as_user(ns, tool, *args, timeout=120):
    return subprocess.run(user_argv(ns, [real_lxc(tool), *args]), capture_output=True,
                          text=True, timeout=timeout)


def stopped(ns, tool_runner, name):
    """Stop NAME and wait for its clean-up (lxc-stop -k returns once init is killed)."""
    tool_runner(ns, "lxc-stop", "-n", name, "-k")
    tool_runner(ns, "lxc-wait", "-n", name, "-s", "STOPPED", "-t", "10")


@pytest.fixture
def tun_mode():
    """/dev/net/tun's mode, put back afterwards (hosts without udev leave it 0600)."""
    mode = os.stat(TUN).st_mode & 0o7777
    yield mode
    os.chmod(TUN, mode)


def test_usermode_network_of_an_unprivileged_container(user, netns, tun_mode, tmp_path):
    """lxctools.net.usermode = slirp4netns as the container's owner: refused before start while
    /dev/net/tun is closed to the user (the fix named), then the container reaches a server on
    the "host's" loopback (the test namespace's)."""
    made = ours_as_user(netns, "lxc-create", "-n", "um", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    config = os.path.join(user["lxcpath"], "um", "config")
    with open(config, "a") as handle:
        handle.write("lxctools.net.usermode = slirp4netns\n")

    os.chmod(TUN, 0o600)
    refused = ours_as_user(netns, "lxc-start", "-n", "um", "--", "/bin/sleep", "1000")
    assert refused.returncode == 1
    assert "/dev/net/tun is mode 0600 root:root, not open to un-netuser" in refused.stderr
    assert f"{config}:" in refused.stderr and "chmod 0666 /dev/net/tun" in refused.stderr
    assert ours_as_user(netns, "lxc-info", "-n", "um", "-sH").stdout.strip() == "STOPPED"

    os.chmod(TUN, 0o666)  # what udev's default rule gives it
    page = tmp_path / "www"
    page.mkdir()
    (page / "hello.txt").write_text("hello from the host's loopback\n")
    server = subprocess.Popen(["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-m",
                               "http.server", "--bind", "127.0.0.1", "8766"], cwd=page,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        start = ours_as_user(netns, "lxc-start", "-n", "um", "--", "/bin/sleep", "1000")
        assert start.returncode == 0, start.stderr
        pid = int(ours_as_user(netns, "lxc-info", "-n", "um", "-pH").stdout)
        assert os.stat(f"/proc/{pid}").st_uid == user["base"]  # an unprivileged container
        addr = ours_as_user(netns, "lxc-attach", "-n", "um", "--", "ip", "addr", "show", "tap0")
        assert "10.0.2.100/24" in addr.stdout, addr.stdout + addr.stderr
        got = ""
        for _ in range(50):
            fetch = ours_as_user(netns, "lxc-attach", "-n", "um", "--", "wget", "-q", "-O", "-",
                                 "http://10.0.2.2:8766/hello.txt")
            got = fetch.stdout
            if got:
                break
            time.sleep(0.1)
        assert got == "hello from the host's loopback\n"
        stopped(netns, ours_as_user, "um")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _slirps(user["uid"]):
            time.sleep(0.1)
        assert _slirps(user["uid"]) == []
    finally:
        server.kill()
        server.wait()
    gone = ours_as_user(netns, "lxc-destroy", "-n", "um")
    assert gone.returncode == 0, gone.stderr


def _slirps(uid):
    """The user's live slirp4netns processes (a reaped-late zombie does not count)."""
    out = subprocess.run(["ps", "-u", str(uid), "-o", "stat=,comm="], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if "slirp4netns" in line and not
            line.startswith("Z")]


# -- veth through lxc-user-nic -------------------------------------------------------------
USERNET = "/etc/lxc/lxc-usernet"
NICS_DB = "/run/lxc/nics"
BRIDGE = "un-br0"


@pytest.fixture
def bridge(netns):
    """A bridge with an address in the test namespace (the "host" the user's NICs plug into)."""
    in_netns(netns, "ip", "link", "add", BRIDGE, "type", "bridge")
    in_netns(netns, "ip", "addr", "add", "10.206.0.1/24", "dev", BRIDGE)
    in_netns(netns, "ip", "addr", "add", "fd06::1/64", "dev", BRIDGE, "nodad")
    in_netns(netns, "ip", "link", "set", BRIDGE, "up")
    return netns


@pytest.fixture
def usernet():
    """/etc/lxc/lxc-usernet with lines of ours appended (set(text)); afterwards the file is as
    it was (or absent again), and lxc-user-nic's database has no line of our user left (nor
    exists, when it did not before)."""
    import fcntl

    try:
        with open(USERNET) as handle:
            old = handle.read()
        mode = os.stat(USERNET).st_mode & 0o7777
    except FileNotFoundError:
        old, mode = None, 0o644
    had_db = os.path.exists(NICS_DB)

    def set_lines(text):
        with open(USERNET, "w") as handle:
            handle.write((old or "") + text)
        os.chmod(USERNET, mode)

    try:
        yield set_lines
    finally:
        if old is None:
            if os.path.exists(USERNET):
                os.unlink(USERNET)
        else:
            with open(USERNET, "w") as handle:
                handle.write(old)
            os.chmod(USERNET, mode)
        if os.path.exists(NICS_DB):
            # lxc-user-nic takes the same lock
            with open(NICS_DB, "r+") as handle:
                fcntl.lockf(handle, fcntl.LOCK_EX)
                lines = handle.readlines()
                kept = [line for line in lines if line.split()[:1] != [USER]]
                if kept != lines:
                    handle.seek(0)
                    handle.writelines(kept)
                    handle.truncate()
            if not had_db and not kept:
                os.unlink(NICS_DB)  # lxc-user-nic made it for us


VETH = f"""lxc.net.0.type = veth
lxc.net.0.link = {BRIDGE}
lxc.net.0.flags = up
lxc.net.0.name = eth0
lxc.net.0.hwaddr = 00:16:3e:06:00:{{mac}}
lxc.net.0.ipv4.address = 10.206.0.{{ip}}/24
lxc.net.0.ipv4.gateway = 10.206.0.1
lxc.net.0.ipv6.address = fd06::{{ip}}/64
"""


def with_net(lxcpath, name, net):
    """Replace NAME's lxc.net.0 lines by NET."""
    path = os.path.join(lxcpath, name, "config")
    with open(path) as handle:
        lines = [line for line in handle if not line.startswith("lxc.net.0.")]
    with open(path, "w") as handle:
        handle.writelines(lines)
        handle.write(net)
    return path


def host_veths(ns):
    """{name: (master, mac, mtu)} of the test namespace's veths."""
    import json
    links = json.loads(in_netns(ns, "ip", "-j", "link", "show", "type", "veth").stdout or "[]")
    return {link["ifname"]: (link.get("master"), link["address"], link["mtu"]) for link in links}


def nics_db():
    try:
        with open(NICS_DB) as handle:
            return [line.split() for line in handle if line.split()[:1] == [USER]]
    except FileNotFoundError:
        return []


def inside(runner, ns, name):
    """What the container sees of its network (read with the host's iproute2 in init's
    namespace): eth0's flags, MAC, MTU, global addresses; the routes."""
    import json
    pid = runner(ns, "lxc-info", "-n", name, "-pH").stdout.strip()
    enter = ["nsenter", "-t", pid, "-n", "ip", "-j"]
    link = json.loads(subprocess.run(enter + ["addr", "show", "eth0"], capture_output=True,
                                     text=True, check=True).stdout)[0]
    routes = json.loads(subprocess.run(enter + ["route"], capture_output=True, text=True,
                                       check=True).stdout)
    return {"flags": sorted(set(link["flags"]) - {"M-DOWN"}), "mac": link["address"],
            "mtu": link["mtu"],
            "addresses": sorted(f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]
                                if a.get("scope") == "global"),
            "routes": sorted(f"{r['dst']} via {r.get('gateway', '-')} dev {r['dev']}"
                             for r in routes)}


@pytest.mark.parametrize("login", [False, True], ids=["setpriv-no-pam", "su-login"])
def test_veth_through_lxc_user_nic(user, bridge, usernet, login):
    """lxc.net.0.type = veth on a bridge for an ordinary user: lxc-user-nic makes the pair (its
    database records it under the user's /etc/lxc/lxc-usernet line), our container side does
    name, MAC, MTU, addresses and routes; traffic flows both ways; the stop removes the host
    end at once."""
    usernet(f"{USER} veth {BRIDGE} 2\n")
    ns = bridge
    run = functools.partial(ours_as_user, login=login)
    made = run(ns, "lxc-create", "-n", "uv", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    with_net(user["lxcpath"], "uv", VETH.format(mac="02", ip="2") + "lxc.net.0.mtu = 1400\n")
    # not busybox's init: its rcS runs udhcpc, which flushes static addresses (LXC alike)
    start = run(ns, "lxc-start", "-n", "uv", "--", "/bin/sleep", "1000")
    assert start.returncode == 0, start.stderr
    seen = inside(run, ns, "uv")
    assert seen["mac"] == "00:16:3e:06:00:02" and seen["mtu"] == 1400
    assert "UP" in seen["flags"] and "LOWER_UP" in seen["flags"]
    assert seen["addresses"] == ["10.206.0.2/24", "fd06::2/64"]
    assert seen["routes"] == ["10.206.0.0/24 via - dev eth0", "default via 10.206.0.1 dev eth0"]
    veths = host_veths(ns)
    assert len(veths) == 1, veths
    (host_name, (master, mac, mtu)), = veths.items()
    assert host_name.startswith(f"veth{user['uid']}_") and master == BRIDGE
    assert mac.startswith("fe:") and mtu == 1500  # lxc-user-nic: the bridge's MTU, fe: MAC
    assert nics_db() == [[USER, "veth", BRIDGE, host_name]]
    ping = run(ns, "lxc-attach", "-n", "uv", "--", "ping", "-c", "1", "-W", "2",
                        "10.206.0.1")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    back = subprocess.run(["ip", "netns", "exec", ns, "busybox", "ping", "-c", "1", "-W", "2",
                           "10.206.0.2"], capture_output=True, text=True)
    assert back.returncode == 0, back.stdout
    info = run(ns, "lxc-info", "-n", "uv", "-i")
    assert "IP:             10.206.0.2" in info.stdout
    stop = run(ns, "lxc-stop", "-n", "uv", "-k")
    assert stop.returncode == 0, stop.stderr
    assert host_veths(ns) == {}  # gone when the stop returns (and its quota free)
    gone = run(ns, "lxc-destroy", "-n", "uv")
    assert gone.returncode == 0, gone.stderr


def test_veth_refusals_name_the_real_cause(user, bridge, usernet):
    """Where lxc-user-nic would only say "Quota reached": no usernet line for the user (the
    line to add), no bridge, a helper that is not setuid, a quota really used up (which
    veths hold it); and NIC types a user cannot have. Each leaves the container STOPPED and
    nothing on the bridge."""
    ns = bridge
    for name, ip in (("ua", "3"), ("ub", "4")):
        made = ours_as_user(ns, "lxc-create", "-n", name, "-t", "busybox")
        assert made.returncode == 0, made.stderr
        config = with_net(user["lxcpath"], name, VETH.format(mac=f"0{ip}", ip=ip))

    def refused(name, *expected, env=(), options=()):
        proc = ours_as_user(ns, "lxc-start", "-n", name, *options, "--", "/bin/sleep", "1000",
                            env=env, timeout=60)
        assert proc.returncode == 1, proc.stderr
        for text in expected:
            assert text in proc.stderr, proc.stderr
        assert ours_as_user(ns, "lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"
        assert host_veths(ns) == {}
        return proc.stderr

    usernet(f"{USER} veth other-br 5\n")
    refused("ub", f"{config}:", f"{USERNET} gives {USER} no veth on {BRIDGE}",
            f"echo '{USER} veth {BRIDGE} 10' >> {USERNET}")
    usernet(f"{USER} veth {BRIDGE} 1\n")
    with_net(user["lxcpath"], "ub", VETH.format(mac="04", ip="4").replace(BRIDGE, "un-nobr0"))
    refused("ub", "lxc.net.0.link: no interface 'un-nobr0'")
    with_net(user["lxcpath"], "ub", VETH.format(mac="04", ip="4"))
    import shutil
    from lxctools.network.usernic import helper_path
    copy = os.path.join(user["home"], "lxc-user-nic")
    shutil.copyfile(helper_path(), copy)
    os.chmod(copy, 0o755)  # as installed by a careless hand: not setuid
    # -F: the lxcpath's supervisor, already running, would not see the variable
    refused("ub", f"{copy} is not setuid root", f"chmod u+s {copy}",
            env=[f"LXCTOOLS_USER_NIC={copy}"], options=["-F"])
    with_net(user["lxcpath"], "ub", "lxc.net.0.type = macvlan\nlxc.net.0.link = un-br0\n")
    refused("ub", "lxc.net.0.type = macvlan: an unprivileged user gets veth NICs only")
    with_net(user["lxcpath"], "ub", VETH.format(mac="04", ip="4"))
    # the one NIC the line allows is taken by ua: now it really is the quota
    assert ours_as_user(ns, "lxc-start", "-n", "ua", "--", "/bin/sleep", "1000").returncode == 0
    held = list(host_veths(ns))
    proc = ours_as_user(ns, "lxc-start", "-n", "ub", "--", "/bin/sleep", "1000")
    assert proc.returncode == 1
    assert (f"quota reached: {USERNET} allows {USER} 1 veth on {BRIDGE}" in proc.stderr
            and f"host ends of yours on {BRIDGE}: {held[0]}" in proc.stderr), proc.stderr
    assert ours_as_user(ns, "lxc-info", "-n", "ub", "-sH").stdout.strip() == "STOPPED"
    assert list(host_veths(ns)) == held
    # stopping ua frees it at once: ub starts right after
    assert ours_as_user(ns, "lxc-stop", "-n", "ua", "-k").returncode == 0
    start = ours_as_user(ns, "lxc-start", "-n", "ub", "--", "/bin/sleep", "1000")
    assert start.returncode == 0, start.stderr
    assert ours_as_user(ns, "lxc-stop", "-n", "ub", "-k").returncode == 0
    for name in ("ua", "ub"):
        assert ours_as_user(ns, "lxc-destroy", "-n", name).returncode == 0


# -- side by side with real LXC, as the same user ------------------------------------------
def _gone(ns, timeout=3.0):
    """No veth left in NS (waiting for the kernel's clean-up of a dead namespace)."""
    deadline = time.monotonic() + timeout
    while host_veths(ns) and time.monotonic() < deadline:
        time.sleep(0.05)
    return host_veths(ns) == {}


def test_side_by_side_with_real_lxc_as_the_same_user(user, bridge, usernet):
    """The same user runs the same scenarios with real LXC 5.0.2's tools and ours, each in
    its own lxcpath: a busybox container created, started, entered (`id -u` is 0), its init
    owned by the subuid base on the host, stopped, destroyed; then a veth on the bridge through
    lxc-user-nic (same config, one after the other): same results."""
    ns = bridge
    usernet(f"{USER} veth {BRIDGE} 2\n")
    runners = {"ours": ours_as_user, "real": real_as_user}

    def lifecycle(side):
        run = runners[side]
        lp = os.path.join(user["home"], side)
        out = {"create": run(ns, "lxc-create", "-P", lp, "-n", "sb", "-t", "busybox").returncode}
        rootfs = os.path.join(lp, "sb", "rootfs")
        out["rootfs owner"] = os.stat(rootfs).st_uid - user["base"]
        out["start"] = run(ns, "lxc-start", "-P", lp, "-n", "sb").returncode
        out["state"] = run(ns, "lxc-info", "-P", lp, "-n", "sb", "-sH").stdout.strip()
        pid = int(run(ns, "lxc-info", "-P", lp, "-n", "sb", "-pH").stdout)
        out["init owner"] = os.stat(f"/proc/{pid}").st_uid - user["base"]
        who = run(ns, "lxc-attach", "-P", lp, "-n", "sb", "--", "id", "-u")
        out["attach id -u"] = (who.returncode, who.stdout.strip())
        out["stop"] = run(ns, "lxc-stop", "-P", lp, "-n", "sb", "-k").returncode
        run(ns, "lxc-wait", "-P", lp, "-n", "sb", "-s", "STOPPED", "-t", "10")
        out["stopped"] = run(ns, "lxc-info", "-P", lp, "-n", "sb", "-sH").stdout.strip()
        out["destroy"] = run(ns, "lxc-destroy", "-P", lp, "-n", "sb").returncode
        out["left"] = os.listdir(lp)
        return out

    ours, real = lifecycle("ours"), lifecycle("real")
    assert ours == real
    assert ours["attach id -u"] == (0, "0") and ours["init owner"] == 0
    assert ours["rootfs owner"] == 0 and ours["state"] == "RUNNING" and ours["left"] == []

    def veth(side):
        run = runners[side]
        lp = os.path.join(user["home"], side)
        out = {"create": run(ns, "lxc-create", "-P", lp, "-n", "sv", "-t", "busybox").returncode}
        with_net(lp, "sv", VETH.format(mac="09", ip="9"))
        out["start"] = run(ns, "lxc-start", "-P", lp, "-n", "sv", "--", "/bin/sleep",
                           "1000").returncode
        out["inside"] = inside(lambda n, *a: run(n, a[0], "-P", lp, *a[1:]), ns, "sv")
        veths = host_veths(ns)
        out["host veths"] = [(name.startswith(f"veth{user['uid']}_"), master,
                              mac.startswith("fe:"), mtu)
                             for name, (master, mac, mtu) in veths.items()]
        out["nics db"] = [line[:3] + [line[3] in veths] for line in nics_db()]
        out["ping out"] = run(ns, "lxc-attach", "-P", lp, "-n", "sv", "--", "ping", "-c", "1",
                              "-W", "2", "10.206.0.1").returncode
        out["ping in"] = subprocess.run(["ip", "netns", "exec", ns, "busybox", "ping", "-c",
                                         "1", "-W", "2", "10.206.0.9"],
                                        capture_output=True).returncode
        info = run(ns, "lxc-info", "-P", lp, "-n", "sv", "-iH").stdout.split()
        out["lxc-info -i"] = sorted(info)
        out["stop"] = run(ns, "lxc-stop", "-P", lp, "-n", "sv", "-k").returncode
        run(ns, "lxc-wait", "-P", lp, "-n", "sv", "-s", "STOPPED", "-t", "10")
        out["veth gone"] = _gone(ns)
        out["destroy"] = run(ns, "lxc-destroy", "-P", lp, "-n", "sv").returncode
        return out

    ours, real = veth("ours"), veth("real")
    assert ours == real
    assert ours["inside"]["addresses"] == ["10.206.0.9/24", "fd06::9/64"]
    assert ours["host veths"] == [(True, BRIDGE, True, 1500)]
    assert ours["nics db"] == [[USER, "veth", BRIDGE, True]]
    assert ours["ping out"] == ours["ping in"] == 0 and ours["veth gone"]
