"""lxctools.compat.lxc without containers: python-lxc's conventions for an undefined
container's config, listing, constants (their values are liblxc's)."""

import os

import pytest

from lxctools.compat import lxc


def test_undefined_container_has_no_config_until_an_item_is_set(tmp_path):
    c = lxc.Container("api-u", str(tmp_path))
    assert (c.defined, c.state, c.init_pid, c.running) == (False, "STOPPED", -1, False)
    assert c.config_file_name == os.path.join(str(tmp_path), "api-u", "config")
    with pytest.raises(KeyError):
        c.get_config_item("lxc.uts.name")  # liblxc: no config loaded yet
    assert c.clear_config_item("lxc.net") is False
    assert c.set_config_item("lxc.uts.name", "web") is True
    assert c.get_config_item("lxc.uts.name") == "web"
    assert c.get_config_item("lxc.arch") == ""
    with pytest.raises(KeyError):
        c.get_config_item("lxc.bogus")
    with pytest.raises(KeyError):
        c.get_config_item("lxc.net.0.type")  # no such NIC
    assert c.network.add("empty") is True
    assert c.get_config_item("lxc.net") == ["empty"] and len(c.network) == 1
    assert repr(c.network[0]) == "'empty' network at index '0'"
    assert c.network[0].type == "empty"
    assert c.set_config_item("lxc.net.0.type", "veth")
    c.network[0].link = "br9"
    assert c.get_config_item("lxc.net.0.link") == "br9"
    assert c.network.remove(0) is True and len(c.network) == 0
    assert c.set_config_item("lxc.environment", ["A=1", "B=2"]) is True
    assert c.append_config_item("lxc.environment", "C=3") is True
    assert c.get_config_item("lxc.environment") == ["A=1", "B=2", "C=3"]
    assert c.set_config_item("lxc.tty.max", "many") is False  # refused, value kept
    assert c.get_config_item("lxc.tty.max") == "0"  # liblxc getter default
    assert not os.path.exists(c.config_file_name)
    assert c.save_config() is True
    assert "lxc.environment = C=3" in open(c.config_file_name).read()


def test_stopped_container_answers_like_python_lxc(tmp_path):
    c = lxc.Container("api-s", str(tmp_path))
    assert c.start() is False  # not defined
    assert c.stop() is True and c.shutdown() is True
    assert c.freeze() is False and c.unfreeze() is True
    assert c.get_ips() == () and c.get_interfaces() == ()
    assert c.console_getfd() is False
    assert c.attach_wait(lxc.attach_run_command, ["true"]) == -111
    with pytest.raises(KeyError):
        c.get_cgroup_item("pids.max")
    assert c.destroy() is False


def test_get_keys():
    c = lxc.Container("api-k", "/nonexistent")
    keys = c.get_keys()
    assert "lxc.uts.name" in keys and not any(k.startswith("lxc.net.") for k in keys)
    assert {"lxc.cgroup", "lxc.cgroup2", "lxc.net", "lxc.hook", "lxc.prlimit"} <= set(keys)
    assert not any(k.endswith("*") for k in keys)
    with pytest.raises(KeyError):
        c.get_keys("lxc.net.0")  # no such NIC
    c.set_config_item("lxc.net.0.type", "veth")
    assert {"type", "link", "ipv4.address", "veth.pair"} <= set(c.get_keys("lxc.net.0"))
    c.set_config_item("lxc.net.0.type", "empty")
    assert c.get_keys("lxc.net.0") == ["type", "script.up", "script.down"]
    assert "name" in c.get_keys("lxc.uts")


def test_list_containers(tmp_path):
    for name in ("api-b", "api-a"):
        os.makedirs(tmp_path / name)
        (tmp_path / name / "config").write_text("lxc.uts.name = x\n")
    os.makedirs(tmp_path / "not-a-container")
    lp = str(tmp_path)
    assert lxc.list_containers(config_path=lp) == ("api-a", "api-b")
    assert lxc.list_containers(defined=False, config_path=lp) == ()
    objects = lxc.list_containers(as_object=True, config_path=lp)
    assert [o.name for o in objects] == ["api-a", "api-b"] and objects[0].defined
    assert lxc.list_containers(config_path=lp + "/missing") == ()


def test_constants_and_personalities():
    assert (lxc.LXC_CREATE_QUIET, lxc.LXC_CLONE_KEEPNAME, lxc.LXC_CLONE_SNAPSHOT) == (1, 1, 4)
    assert lxc.LXC_ATTACH_DEFAULT == 0xFFFF and lxc.LXC_ATTACH_CLEAR_ENV == 1
    assert lxc.CLONE_NEWNET == 0x40000000
    assert lxc.arch_to_personality("x86_64") == 0 and lxc.arch_to_personality(b"i686") == 8
    with pytest.raises(KeyError):
        lxc.arch_to_personality("arm64")
    assert set(lxc.__all__) <= set(dir(lxc))


def test_impossible_names_raise_value_error():
    for name in ("", "a/b", ".."):
        with pytest.raises(ValueError):
            lxc.Container(name, "/nonexistent")
