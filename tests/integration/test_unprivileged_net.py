"""Networks of unprivileged containers, run by an ordinary user: the user-mode network
(lxctools.net.usermode = slirp4netns) and veth through the host's setuid lxc-user-nic.

NETWORK SAFETY: nothing is created in the host's own namespace. Each test makes a namespace
`un-...` that plays the host (bridge, addresses, the server the container reaches) and runs the
user's tools inside it (`nsenter --net`, then setpriv to the user: lxc-user-nic makes its
host-side veth in its caller's namespace, and our command sockets are abstract, i.e. per
namespace). Host files the tests touch (/dev/net/tun's mode, /etc/lxc/lxc-usernet, the
lxc-user-nic database /run/lxc/nics) are restored exactly."""

import os
import pwd
import secrets
import subprocess
import sys
import time

import pytest

from conftest import ours_for_anyone, require_root

USER = "un-netuser"
SUBIDS = "700000-765535"
TUN = "/dev/net/tun"


def host_links():
    return sorted(line.split(":")[1].strip().split("@")[0] for line in subprocess.run(
        ["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines())


def subid_base(user):
    for line in open("/etc/subuid"):
        fields = line.strip().split(":")
        if fields[0] == user:
            return int(fields[1]), int(fields[2])
    return None


@pytest.fixture
def user():
    require_root()
    subprocess.run(["userdel", "-r", USER], capture_output=True)
    subprocess.run(["sed", "-i", f"/^{USER}:/d", "/etc/subuid", "/etc/subgid"])
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", USER], check=True)
    try:
        subprocess.run(["usermod", "--add-subuids", SUBIDS, "--add-subgids", SUBIDS, USER],
                       check=True)
        start, count = subid_base(USER)
        entry = pwd.getpwnam(USER)
        conf = os.path.join(entry.pw_dir, ".config/lxc")
        os.makedirs(conf)
        with open(os.path.join(conf, "default.conf"), "w") as handle:
            handle.write(f"lxc.net.0.type = empty\nlxc.idmap = u 0 {start} {count}\n"
                         f"lxc.idmap = g 0 {start} {count}\n")
        subprocess.run(["chown", "-R", f"{USER}:{USER}", os.path.join(entry.pw_dir, ".config")],
                       check=True)
        yield {"name": USER, "uid": entry.pw_uid, "home": entry.pw_dir, "base": start,
               "lxcpath": os.path.join(entry.pw_dir, ".local/share/lxc")}
    finally:
        subprocess.run(["pkill", "-KILL", "-u", USER], capture_output=True)
        time.sleep(0.2)
        home = os.path.join("/home", USER)
        subprocess.run(["rm", "-rf", os.path.join(home, ".local/share/lxc")], capture_output=True)
        subprocess.run(["userdel", "-r", USER], capture_output=True)
        subprocess.run(["sed", "-i", f"/^{USER}:/d", "/etc/subuid", "/etc/subgid"])


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


def user_argv(ns, argv):
    """ARGV as the user (no PAM: setpriv), inside network namespace NS."""
    entry = pwd.getpwnam(USER)
    # nsenter, not `ip netns exec`: that one remounts /sys
    return ["nsenter", f"--net=/run/netns/{ns}", "setpriv", f"--reuid={entry.pw_uid}",
            f"--regid={entry.pw_gid}", "--init-groups", "env", "-i", f"HOME={entry.pw_dir}",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"USER={USER}", f"LOGNAME={USER}", "LANG=C",
            "sh", "-c", "cd / && exec \"$@\"", "sh", *argv]


def ours_as_user(ns, tool, *args, timeout=120):
    return subprocess.run(user_argv(ns, [ours_for_anyone(tool), *args]), capture_output=True,
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
