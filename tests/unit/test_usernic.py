"""network/usernic.py without root or lxc-user-nic: reading lxc-usernet as the helper does,
its output, and the causes named where it says only "Quota reached"."""

import os
import stat

import pytest

from lxctools.config.parser import loads
from lxctools.network import plan
from lxctools.network import usernic
from lxctools.network.plan import NetworkError


def nics(text):
    return plan(loads(text))


VETH = "lxc.net.0.type = veth\nlxc.net.0.link = br0\n"


def test_allowance_adds_up_user_and_group_lines():
    text = ("# comment veth br0 9\n"
            "alice veth br0 2\n"
            "@staff veth br0 1\n"
            "@other veth br0 7\n"
            "alice veth br1 5\n"
            "alice macvlan br0 3\n"
            "bob veth br0 4\n"
            "alice veth br0\n")  # three fields: not a line for lxc-user-nic
    total, lines = usernic.allowance(text, "alice", {"alice", "staff"}, "br0")
    assert total == 3
    assert [n for n, _ in lines] == [2, 3]
    assert usernic.allowance(text, "carol", {"carol"}, "br0") == (0, [])


def test_output_parsed_as_liblxc_does():
    assert usernic.parse_output("vethc1a2b3:3:veth1001_AbCd:4\n") == (
        "vethc1a2b3", 3, "veth1001_AbCd", 4)
    for bad in ("", "Quota reached\n", "a:b:c:d\n", "eth0:3:veth1\n"):
        with pytest.raises(ValueError):
            usernic.parse_output(bad)


def test_source_prefixes_dropped():
    out = ('../src/lxc/cmd/lxc_user_nic.c: 308: get_alloted - No such file or directory - '
           'Failed to open "/etc/lxc/lxc-usernet"\n\n'
           "../src/lxc/cmd/lxc_user_nic.c: 1250: main: Quota reached\n")
    assert usernic._words(out) == [
        'No such file or directory - Failed to open "/etc/lxc/lxc-usernet"', "Quota reached"]


def test_quota_reached_alone_is_the_quota(tmp_path, monkeypatch):
    usernet = tmp_path / "lxc-usernet"
    usernet.write_text(f"{usernic.user_name()} veth br0 1\n")
    monkeypatch.setattr(usernic, "held_veths", lambda link: ["veth1001_AbCd"])
    [nic] = nics(VETH)
    exc = usernic.explain("../src/lxc/cmd/lxc_user_nic.c: 1250: main: Quota reached\n", nic,
                          "br0", usernet=str(usernet))
    assert "quota reached" in str(exc) and "allows" in str(exc) and "line 1" in str(exc)
    assert "veth1001_AbCd" in str(exc) and "raise the count" in exc.hint
    # anything said before it is the real cause
    exc = usernic.explain("x.c: 593: create_nic: Error attaching veth1001_x to br0\n"
                          "x.c: 767: get_nic_if_avail: Failed to create new nic\n"
                          "x.c: 1250: main: Quota reached\n", nic, "br0",
                          usernet=str(usernet))
    assert "Error attaching veth1001_x to br0" in str(exc) and "quota" not in str(exc)


def test_only_plain_veth_for_users(tmp_path, monkeypatch):
    helper = tmp_path / "lxc-user-nic"
    helper.write_text("")
    os.chmod(helper, 0o755)
    monkeypatch.setenv("LXCTOOLS_USER_NIC", str(helper))
    for text, key in (("lxc.net.0.type = macvlan\nlxc.net.0.link = eth0\n", "lxc.net.0.type"),
                      (VETH + "lxc.net.0.veth.mode = router\n", "lxc.net.0.veth.mode"),
                      (VETH + "lxc.net.0.veth.ipv4.route = 10.1.0.0/16\n",
                       "lxc.net.0.veth.ipv4.route"),
                      (VETH + "lxc.net.0.l2proxy = 1\n", "lxc.net.0.l2proxy")):
        with pytest.raises(NetworkError) as info:
            usernic.check(nics(text))
        assert info.value.key == key
    with pytest.raises(NetworkError) as info:
        usernic.check(nics(VETH))
    assert "is not setuid root" in str(info.value) and "chmod u+s" in info.value.hint
    monkeypatch.setenv("LXCTOOLS_USER_NIC", str(tmp_path / "missing"))
    with pytest.raises(NetworkError) as info:
        usernic.check(nics(VETH))
    assert "not installed" in str(info.value)


def test_usernet_line_to_add(tmp_path):
    usernet = tmp_path / "lxc-usernet"
    me = usernic.user_name()
    with pytest.raises(NetworkError) as info:
        usernic.check_usernet(nics(VETH), usernet=str(usernet))
    assert "does not exist" in str(info.value)
    assert f"echo '{me} veth br0 10' >> {usernet}" in info.value.hint
    usernet.write_text(f"{me} veth br1 3\n{me} veth br0 0\n")
    with pytest.raises(NetworkError) as info:
        usernic.check_usernet(nics(VETH), usernet=str(usernet))
    assert f"gives {me} no veth on br0" in str(info.value)
    assert info.value.key == "lxc.net.0.link"
    usernet.write_text(f"{me} veth br0 1\n")
    usernic.check_usernet(nics(VETH), usernet=str(usernet))
    # no link: lxc-user-nic is asked for "none"
    usernet.write_text(f"{me} veth none 1\n")
    usernic.check_usernet(nics("lxc.net.0.type = veth\n"), usernet=str(usernet))


def test_helper_found_where_lxc_installs_it(monkeypatch):
    monkeypatch.delenv("LXCTOOLS_USER_NIC", raising=False)
    found = usernic.helper_path()
    if found is not None:
        assert found in usernic.CANDIDATES and os.path.basename(found) == "lxc-user-nic"
        assert stat.S_ISREG(os.stat(found).st_mode)
