"""lxc-device, lxc-top and lxc-unshare: the pure parts (words, sizes, rows, order, namespace
names, LXC's refusals)."""

import pytest

from lxctools.cli import unshare as unshare_cli
from lxctools.errors import LxcError
from lxctools.kernel import libc
from lxctools.runtime import unshare


# -- lxc-unshare ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, flags", [
    ("MOUNT", libc.CLONE_NEWNS), ("UTSNAME|NETWORK", libc.CLONE_NEWUTS | libc.CLONE_NEWNET),
    ("pid|Ipc|USER", libc.CLONE_NEWPID | libc.CLONE_NEWIPC | libc.CLONE_NEWUSER),
    ("mnt|cgroup|time", libc.CLONE_NEWNS | libc.CLONE_NEWCGROUP | libc.CLONE_NEWTIME),
])
def test_unshare_namespace_names(text, flags):
    assert unshare.namespace_flags(text) == flags


@pytest.mark.parametrize("text", ["FOO", "MOUNT|", "mount", "network", "PID,IPC"])
def test_unshare_bad_namespace_names(text):
    with pytest.raises(LxcError, match="invalid namespace name"):
        unshare.namespace_flags(text)


def test_unshare_users():
    assert unshare.lookup_user("0") == 0
    assert unshare.lookup_user("root") == 0
    assert unshare.lookup_user("0abc") == 0  # LXC's sscanf("%u") reads the digits
    with pytest.raises(LxcError, match='Invalid username "dv-nobody-here"'):
        unshare.lookup_user("dv-nobody-here")


@pytest.mark.parametrize("kwargs, message", [
    ({"flags": libc.CLONE_NEWPID, "command": []},
     "A command to execute in the new namespace is required"),
    ({"flags": 0, "command": ["true"]}, "A namespace to execute command is required"),
    ({"flags": libc.CLONE_NEWPID, "command": ["true"], "ifnames": ["eth0"]},
     "-i <interfacename> needs -s NETWORK option"),
    ({"flags": libc.CLONE_NEWPID, "command": ["true"], "hostname": "h"},
     "-H <hostname> needs -s UTSNAME option"),
    ({"flags": libc.CLONE_NEWPID, "command": ["true"], "remount": True},
     "-M needs -s MOUNT option"),
])
def test_unshare_refusals(kwargs, message):
    with pytest.raises(LxcError) as caught:
        unshare.Options(**kwargs).check()
    assert caught.value.message == message


def test_unshare_command_words():
    parser = unshare_cli.build_parser()
    args = parser.parse_args(["-s", "PID", "-i", "a", "-i", "b", "ls", "-l", "/"])
    assert (args.namespaces, args.ifname, args.command) == ("PID", ["a", "b"], ["ls", "-l", "/"])
