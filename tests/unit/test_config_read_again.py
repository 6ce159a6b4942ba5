"""ConfigDocument.read_again (spawn/start.prepare in the lxcpath's supervisor): the same
answer as read(), always; a parse is handed out again only while every file it read stats
as it did, and never one a change could hide from the stat (the second before the read)."""

import os
import time

import pytest

from lxctools.config import document as D
from lxctools.errors import ConfigError


@pytest.fixture(autouse=True)
def fresh():
    D._READ_AGAIN.clear()
    yield
    D._READ_AGAIN.clear()


def write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def settle():
    time.sleep(D._SETTLED_NS / 1e9 + 0.05)


def test_a_settled_config_is_kept_and_each_reader_gets_its_own_copy(tmp_path):
    inc = tmp_path / "inc.conf"
    top = tmp_path / "config"
    write(inc, "lxc.tty.max = 3\nlxc.cap.drop = sys_time\n")
    write(top, f"lxc.include = {inc}\nlxc.utsname = old\n")
    said = []
    first = D.ConfigDocument.read_again(str(top), warn=said.append)
    assert str(top) not in D._READ_AGAIN  # written just now: not trusted yet
    settle()
    first = D.ConfigDocument.read_again(str(top), warn=said.append)
    assert str(top) in D._READ_AGAIN
    said.clear()
    again = D.ConfigDocument.read_again(str(top), warn=said.append)
    assert len(said) == 1 and "lxc.utsname" in said[0]  # its warnings, said again
    assert again.conf.items == first.conf.items == D.ConfigDocument.read(str(top)).conf.items
    assert again.lines == first.lines
    again.set_item("lxc.tty.max", "7")
    again.conf.items["lxc.cap.drop"].append("mknod")
    third = D.ConfigDocument.read_again(str(top))
    assert third.conf.value("lxc.tty.max") == "3" and "mknod" not in third.conf.value("lxc.cap.drop")


@pytest.mark.parametrize("change", ["top", "include", "include gone", "dir entry"])
def test_any_change_to_a_file_read_is_read(tmp_path, change):
    confd = tmp_path / "conf.d"
    confd.mkdir()
    inc = tmp_path / "inc.conf"
    top = tmp_path / "config"
    write(inc, "lxc.tty.max = 3\n")
    write(confd / "a.conf", "lxc.pty.max = 1\n")
    write(top, f"lxc.include = {inc}\nlxc.include = {confd}/\nlxc.uts.name = a\n")
    settle()
    D.ConfigDocument.read_again(str(top))
    assert str(top) in D._READ_AGAIN
    if change == "top":
        write(top, f"lxc.include = {inc}\nlxc.include = {confd}/\nlxc.uts.name = b\n")  # same size
        assert D.ConfigDocument.read_again(str(top)).conf.value("lxc.uts.name") == "b"
    elif change == "include":
        write(inc, "lxc.tty.max = 4\n")
        assert D.ConfigDocument.read_again(str(top)).conf.value("lxc.tty.max") == "4"
    elif change == "include gone":
        os.unlink(inc)
        with pytest.raises(ConfigError, match="does not exist"):
            D.ConfigDocument.read_again(str(top))
        assert str(top) not in D._READ_AGAIN
    else:
        write(confd / "b.conf", "lxc.pty.max = 9\n")
        assert D.ConfigDocument.read_again(str(top)).conf.value("lxc.pty.max") == "9"


def test_a_config_that_draws_a_random_mac_is_never_kept(tmp_path):
    top = tmp_path / "config"
    write(top, "lxc.net.0.type = veth\nlxc.net.0.link = br0\nlxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n")
    settle()
    macs = {D.ConfigDocument.read_again(str(top)).conf.value("lxc.net.0.hwaddr") for _ in range(8)}
    assert str(top) not in D._READ_AGAIN
    assert len(macs) > 1
