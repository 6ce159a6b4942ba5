"""veth NICs for an unprivileged caller, through LXC's setuid helper lxc-user-nic.

A user cannot make devices in the host's network namespace; LXC's lxc-user-nic (setuid root)
does it for the users /etc/lxc/lxc-usernet allows: `USER|@GROUP veth BRIDGE COUNT` lines, the
counts of matching lines added up; what is in use is in its database /run/lxc/nics (root's
only). Called as liblxc calls it:

    lxc-user-nic create LXCPATH NAME INIT_PID veth LINK|none CONTAINER_NICNAME

it makes a veth pair in the caller's network namespace, the host end (vethUID_XXXX, MAC
starting fe:, the bridge's MTU) up on the bridge, the other end in init's namespace renamed
to CONTAINER_NICNAME, and prints `NICNAME:IFINDEX:HOSTVETH:HOSTIFINDEX`. We pass the NIC's
temporary name, so configure_inside then does name, MAC, MTU, addresses and routes as for
root. On any failure it says only "Quota reached" last; check() finds the real causes first
(no such user line, no bridge, helper not setuid) and explain() reads its output after.

At stop, liblxc calls `lxc-user-nic delete` only for links that are not kernel bridges
(Open vSwitch ports; the helper refuses the rest), and so do we. A host veth goes away with the
container's namespace; we remove the container end ourselves (from inside its user and
network namespaces, where the caller is root) so that it is gone, and its quota free, when the
stop returns.
"""

import grp
import os
import pwd
import stat
import subprocess

from ..errors import LxcError
from .plan import NetworkError

USERNET = "/etc/lxc/lxc-usernet"
NICS_DB = "/run/lxc/nics"
# LXC's LIBEXECDIR/lxc/lxc-user-nic for the usual prefixes (Debian 12: /usr/libexec)
CANDIDATES = ("/usr/libexec/lxc/lxc-user-nic", "/usr/lib/x86_64-linux-gnu/lxc/lxc-user-nic",
              "/usr/lib/aarch64-linux-gnu/lxc/lxc-user-nic", "/usr/lib/lxc/lxc-user-nic",
              "/usr/local/libexec/lxc/lxc-user-nic", "/usr/local/lib/lxc/lxc-user-nic")


def helper_path():
    """lxc-user-nic's path (LXCTOOLS_USER_NIC overrides), or None."""
    override = os.environ.get("LXCTOOLS_USER_NIC")
    if override:
        return override
    return next((p for p in CANDIDATES if os.path.exists(p)), None)


def user_name():
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def group_names():
    """The caller's groups, as lxc-user-nic sees them (getgroups)."""
    names = set()
    for gid in set(os.getgroups()) | {os.getgid()}:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            pass
    return names


def allowance(text, user, groups, link, nic_type="veth"):
    """lxc-user-nic's reading of lxc-usernet TEXT: (total count, [(line number, line)]) of the
    lines for USER or one of its GROUPS (@name) with NIC_TYPE and LINK."""
    total, lines = 0, []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if len(fields) < 4 or line.lstrip().startswith("#"):
            continue
        name, kind, bridge, count = fields[:4]
        if name != user and not (name.startswith("@") and name[1:] in groups):
            continue
        if kind != nic_type or bridge != link:
            continue
        try:
            total += int(count)
        except ValueError:
            continue
        lines.append((number, line.strip()))
    return total, lines


def check(nics):
    """Before the clone, for a non-root caller: every NIC is a veth that lxc-user-nic can make
    (installed, setuid root). Links are checked next by the caller (host.py) as for root, then
    check_usernet. Returns lxc-user-nic's path."""
    for nic in nics:
        if nic.type != "veth":
            raise NetworkError(
                f"{nic.key}.type = {nic.type}: an unprivileged user gets veth NICs only (made "
                "by LXC's setuid lxc-user-nic)", key=f"{nic.key}.type",
                hint=f"`{nic.key}.type = veth` with a bridge {USERNET} gives you, `empty`, "
                     "`none`, or lxctools.net.usermode = slirp4netns")
        for what, present in (("veth.mode = router", nic.veth_mode != "bridge"),
                              ("veth.vlan.id", nic.veth_vlan_id is not None
                               or nic.veth_vlan_tagged),
                              ("veth.ipv4.route / veth.ipv6.route", nic.veth_routes),
                              ("l2proxy", nic.l2proxy)):
            if present:
                key = what.split()[0].split(" /")[0]
                raise NetworkError(
                    f"{nic.key}.{what}: set up on the host side, which lxc-user-nic does not "
                    "do (it only plugs a veth into a bridge)", key=f"{nic.key}.{key}",
                    hint="remove the key, or start the container as root")
    helper = helper_path()
    if helper is None or not os.path.exists(helper):
        raise NetworkError(
            f"{nics[0].key}.type = veth as an unprivileged user needs LXC's lxc-user-nic, "
            f"which is not installed{f' at {helper}' if helper else ''}",
            key=f"{nics[0].key}.type",
            hint="apt-get install lxc (liblxc-common ships /usr/libexec/lxc/lxc-user-nic)")
    st = os.stat(helper)
    if not (st.st_mode & stat.S_ISUID and st.st_uid == 0):
        raise NetworkError(
            f"{nics[0].key}.type = veth: {helper} is not setuid root, so it cannot make "
            "devices for you", key=f"{nics[0].key}.type",
            hint=f"as root: chown root {helper} && chmod u+s {helper}")
    return helper


def check_usernet(nics, usernet=USERNET):
    """Each NIC's link has a line with a count for this user (or a group of it) in USERNET."""
    try:
        with open(usernet, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    except OSError:
        return  # unreadable to us: lxc-user-nic judges
    user, groups = user_name(), group_names()
    for nic in nics:
        link = nic.link or "none"
        total, _lines = allowance(text, user, groups, link)
        if total <= 0:
            raise NetworkError(
                f"{nic.key}.link = {link}: {usernet} gives {user} no veth on {link}"
                + ("" if text else f" ({usernet} does not exist)"),
                key=f"{nic.key}.link",
                hint=f"as root: echo '{user} veth {link} 10' >> {usernet}   "
                     "(10: how many of your NICs may be on it at once)")


class UserNic:
    """What lxc-user-nic made for one NIC."""

    def __init__(self, key, link, name, index, host_name, host_index):
        self.key, self.link = key, link
        self.name, self.index = name, index
        self.host_name, self.host_index = host_name, host_index

    def to_json(self):
        return [self.key, self.link, self.name, self.index, self.host_name, self.host_index]

    @classmethod
    def from_json(cls, data):
        return cls(*data)


def parse_output(text):
    """`NICNAME:IFINDEX:HOSTVETH:HOSTIFINDEX` (its last line) -> (name, index, host, host index)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    fields = lines[-1].split(":") if lines else []
    if len(fields) != 4 or not fields[1].isdigit() or not fields[3].isdigit():
        raise ValueError(text)
    return fields[0], int(fields[1]), fields[2], int(fields[3])


def create(helper, nic, lxcpath, name, init_pid):
    """Run lxc-user-nic create for NIC; returns a UserNic."""
    link = nic.link or "none"
    argv = [helper, "create", lxcpath, name, str(init_pid), "veth", link, nic.temp_name]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkError(f"{nic.key}: running {helper} failed: {exc}",
                           key=f"{nic.key}.type") from None
    if proc.returncode != 0:
        raise explain(proc.stdout, nic, link)
    try:
        made = parse_output(proc.stdout)
    except ValueError:
        raise NetworkError(f"{nic.key}: lxc-user-nic's answer is not NAME:INDEX:VETH:INDEX: "
                           f"{proc.stdout.strip()!r}", key=f"{nic.key}.type") from None
    return UserNic(nic.key, link, *made)


_SOURCE = None


def _words(output):
    """Its messages without the `../src/lxc/cmd/lxc_user_nic.c: 308: get_alloted - ` part."""
    import re

    global _SOURCE
    if _SOURCE is None:
        _SOURCE = re.compile(r"^\S+\.c: \d+: \w+(?:: | - )")
    return [_SOURCE.sub("", line.strip()) for line in output.splitlines() if line.strip()]


def explain(output, nic, link, usernet=USERNET):
    """NetworkError for a failed create: lxc-user-nic ends every failure with "Quota reached";
    say which it was."""
    said = _words(output)
    user = user_name()
    if said and said[-1] == "Quota reached" and len(said) == 1:
        # nothing went wrong before: the usernet count really is used up
        try:
            with open(usernet, encoding="utf-8", errors="replace") as handle:
                total, lines = allowance(handle.read(), user, group_names(), link)
        except OSError:
            total, lines = 0, []
        where = ", ".join(f"line {n}: `{text}`" for n, text in lines) or "its lines"
        held = held_veths(link)
        return NetworkError(
            f"{nic.key}: lxc-user-nic: quota reached: {usernet} allows {user} {total} veth on "
            f"{link} ({where}), all in use"
            + (f" (host ends of yours on {link}: {', '.join(held)})" if held else ""),
            key=f"{nic.key}.link",
            hint=f"stop a container that uses {link}, or raise the count in {usernet} "
                 "(as root)")
    detail = "; ".join(w for w in said if w != "Quota reached") or "no reason given"
    return NetworkError(f"{nic.key}: lxc-user-nic could not make the veth on {link}: {detail}",
                        key=f"{nic.key}.link",
                        hint="lxc-user-nic runs in this network namespace: the bridge must be "
                             "here and /sys must show this namespace")


def held_veths(link):
    """Host veths on LINK that lxc-user-nic named for this uid (vethUID_XXXX)."""
    prefix = f"veth{os.getuid()}_"
    found = []
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return found
    for name in sorted(names):
        if not name.startswith(prefix):
            continue
        try:
            master = os.path.basename(os.readlink(f"/sys/class/net/{name}/master"))
        except OSError:
            continue
        if master == link:
            found.append(name)
    return found


def delete_ovs_port(helper, made, lxcpath, name, netns_fd):
    """liblxc's stop-time `lxc-user-nic delete` for links that are not kernel bridges."""
    argv = [helper, "delete", lxcpath, name, f"/proc/{os.getpid()}/fd/{netns_fd}", "veth",
            made.link, made.host_name]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60, pass_fds=(netns_fd,))
    if proc.returncode != 0:
        raise LxcError(f"{made.key}: lxc-user-nic delete: {'; '.join(_words(proc.stdout))}")


def remove_inside(userns_fd, netns_fd, indices):
    """Delete the container ends (by ifindex) from inside the container's user and network
    namespaces, where the caller is root: the host ends go with them, synchronously. A
    forked child does it (joining a user namespace is for single-threaded processes)."""
    if not indices or userns_fd < 0 or netns_fd < 0:
        return
    from ..kernel import libc

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            libc.setns(userns_fd, libc.CLONE_NEWUSER)
            libc.setns(netns_fd, libc.CLONE_NEWNET)
            from pyroute2 import IPRoute
            with IPRoute() as ipr:
                for index in indices:
                    try:
                        ipr.link("del", index=index)
                    except Exception:  # noqa: BLE001 - already gone, or renamed away
                        pass
            code = 0
        except BaseException:  # noqa: BLE001 - the kernel removes them with the namespace
            pass
        finally:
            os._exit(code)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
