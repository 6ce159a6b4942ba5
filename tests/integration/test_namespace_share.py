"""lxc.namespace.share.KIND = NAME with NAME another container of the same lxcpath, as LXC
allows: its supervisor is the one starting this container, so it answers from what it holds
(asking its own socket, busy with this very start, waited until the request timed out:
"TimeoutError: timed out" after 10 s, the container STOPPED)."""

import os

from lxcenv import busybox, world  # noqa: F401  (fixture)


def ns(pid, kind):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def pid_of(world, name):
    return int(world.ours("lxc-info", "-n", name, "-pH").stdout)


def test_sharing_a_sibling_containers_namespaces_by_name(world):
    busybox(world, "ns-a")
    busybox(world, "ns-b", "lxc.namespace.share.net = ns-a\nlxc.namespace.share.uts = ns-a\n")
    # a sibling that does not run: a clear refusal, nothing left running
    refused = world.ours("lxc-start", "-n", "ns-b")
    assert refused.returncode == 1
    assert "ns-a is not running" in refused.stderr, refused.stderr
    assert world.ours("lxc-info", "-n", "ns-b", "-sH").stdout.strip() == "STOPPED"
    assert world.ours("lxc-start", "-n", "ns-a").returncode == 0
    try:
        started = world.ours("lxc-start", "-n", "ns-b")
        assert started.returncode == 0, started.stderr
        a, b = pid_of(world, "ns-a"), pid_of(world, "ns-b")
        assert ns(a, "net") == ns(b, "net") and ns(a, "uts") == ns(b, "uts")
        assert ns(a, "mnt") != ns(b, "mnt") and ns(a, "pid") != ns(b, "pid")
    finally:
        world.ours("lxc-stop", "-n", "ns-b", "-k")
        world.ours("lxc-stop", "-n", "ns-a", "-k")
