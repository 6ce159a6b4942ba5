"""The spare user namespace (spawn/spare.py): after a start, a user's supervisor holds one user
namespace mapped ahead for the next start with the same lxc.idmap. Each is given to one
container only; one mapped for other ids, or before /etc/subuid took a range away, is never
used. Real containers of an ordinary user, the namespaces read from /proc as the host sees
them."""

import os
import pwd
import subprocess

import pytest

from conftest import ordinary_user, ours_for_anyone

USER = "lxct-spare"
BASE = 600000


@pytest.fixture
def user():
    with ordinary_user(USER, BASE) as made:
        yield made


def as_user(tool, *args):
    entry = pwd.getpwnam(USER)
    argv = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
            "env", "-i", f"HOME={entry.pw_dir}", "PATH=/usr/bin:/bin", f"USER={USER}",
            # the supervisor lingers after a stop, as it does by default (the tests' own
            # launchers make it leave at once): the fixture kills it
            "LXCTOOLS_SUPERVISOR_IDLE=60", ours_for_anyone(tool), *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=120)


def start(name):
    proc = as_user("lxc-start", "-n", name)
    assert proc.returncode == 0, proc.stderr
    return int(as_user("lxc-info", "-n", name, "-pH").stdout)


def users_processes():
    """(pid, args) of the user's live processes: its supervisor, and anything else left."""
    out = subprocess.run(["ps", "-u", USER, "-o", "pid=,stat=,args="], capture_output=True,
                         text=True).stdout
    return [(int(line.split()[0]), line) for line in out.splitlines()
            if line.split()[1][0] != "Z"]


def supervisor():
    alive = users_processes()
    # its supervisor alone: the process that made the spare namespace has gone
    assert len(alive) == 1 and "[lxc monitor]" in alive[0][1], alive
    return alive[0][0]


def held_user_namespaces(pid, kind="user"):
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(kind + ":["):
            found.add(target)
    return found


def user_ns(pid, kind="user"):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def uid_map(pid):
    with open(f"/proc/{pid}/uid_map") as handle:
        return [line.split() for line in handle]


def test_a_spare_user_namespace_goes_to_one_container(user):
    for name in ("s1", "s2"):
        made = as_user("lxc-create", "-n", name, "-t", "busybox")
        assert made.returncode == 0, made.stderr
    try:
        first = start("s1")
        sup = supervisor()
        spare = held_user_namespaces(sup)
        spare_net = held_user_namespaces(sup, "net")
        assert len(spare) == 1 and user_ns(first) not in spare
        assert len(spare_net) == 1 and user_ns(first, "net") not in spare_net
        second = start("s2")
        # s2 runs in the namespaces that were held, with s1's maps (its config's)
        assert user_ns(second) in spare and user_ns(second, "net") in spare_net
        assert uid_map(second) == [["0", str(BASE), "65536"]]
        # its network namespace is its own: its loopback alone, its files its root's
        with open(f"/proc/{second}/net/dev") as handle:
            assert [l.split(":")[0].strip() for l in handle.readlines()[2:]] == ["lo"]
        assert os.stat(f"/proc/{second}/net/dev").st_uid == BASE
        # and the supervisor holds the next ones, neither container's
        after = held_user_namespaces(supervisor())
        assert len(after) == 1
        assert not after & {user_ns(first), user_ns(second)}
        assert not held_user_namespaces(supervisor(), "net") & {
            user_ns(first, "net"), user_ns(second, "net")}
        # a restart of s1 gets a namespace none of the running ones has
        assert as_user("lxc-stop", "-n", "s1", "-k").returncode == 0
        again = start("s1")
        assert user_ns(again) in after and user_ns(again) != user_ns(second)
    finally:
        for name in ("s1", "s2"):
            as_user("lxc-stop", "-n", name, "-k")
            as_user("lxc-destroy", "-n", name, "-f")


def test_a_spare_mapped_for_other_ids_is_not_used(user):
    """The spare was mapped for the user's whole range; a container mapping one id less
    gets a namespace mapped as its own config says."""
    for name in ("s3", "s4"):
        made = as_user("lxc-create", "-n", name, "-t", "busybox")
        assert made.returncode == 0, made.stderr
    config = os.path.join(user["lxcpath"], "s4", "config")
    with open(config) as handle:
        text = handle.read()
    with open(config, "w") as handle:
        handle.write(text.replace(f" {BASE} 65536", f" {BASE} 65535"))
    try:
        start("s3")
        assert len(held_user_namespaces(supervisor())) == 1
        fourth = start("s4")
        assert uid_map(fourth) == [["0", str(BASE), "65535"]]
    finally:
        for name in ("s3", "s4"):
            as_user("lxc-stop", "-n", name, "-k")
            as_user("lxc-destroy", "-n", name, "-f")


def test_a_range_taken_away_after_the_spare_was_mapped(user):
    """/etc/subuid and /etc/subgid give the user one id less once the spare is mapped: the
    next start is refused by newuidmap, as any start after the change is, instead of running
    in the namespace mapped before (whose maps the user may no longer have)."""
    made = as_user("lxc-create", "-n", "s5", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    try:
        start("s5")
        assert as_user("lxc-stop", "-n", "s5", "-k").returncode == 0
        assert len(held_user_namespaces(supervisor())) == 1  # lingering, with its spare
        for path in ("/etc/subuid", "/etc/subgid"):
            subprocess.run(["sed", "-i", f"s/^{USER}:{BASE}:65536$/{USER}:{BASE}:65535/",
                            path], check=True)
            with open(path) as handle:
                assert f"{USER}:{BASE}:65535\n" in handle.read()
        refused = as_user("lxc-start", "-n", "s5")
        assert refused.returncode == 1, refused.stderr
        assert "newuidmap failed" in refused.stderr
        assert as_user("lxc-info", "-n", "s5", "-sH").stdout == "STOPPED\n"
    finally:
        as_user("lxc-stop", "-n", "s5", "-k")
        as_user("lxc-destroy", "-n", "s5", "-f")
