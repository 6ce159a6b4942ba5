"""The config includes lxctools ships for LXC_TEMPLATE_CONFIG (common.conf, <distro>.common.conf,
userns.conf, nesting.conf, ...): every one loads through our parser on its own, none reaches
into LXC's /usr/share/lxc, and the seccomp profile they name parses."""

import os

import pytest

from lxctools.config.parser import load, split_line
from lxctools.paths import template_config_dir
from lxctools.images.meta import template_config
from lxctools.security.policy import parse

CONFIG = template_config_dir()


def our_files():
    for top, _dirs, files in os.walk(CONFIG):
        for name in files:
            yield os.path.join(top, name)


def includes(path):
    """(line number, resolved target) of each lxc.include in PATH."""
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            parsed = split_line(line)
            if parsed and parsed[0] == "lxc.include" and parsed[1]:
                yield number, os.path.normpath(os.path.join(os.path.dirname(path), parsed[1]))


def test_the_placeholder_names_a_copy_in_the_lxcpath_with_absolute_paths(tmp_path, monkeypatch):
    """Real LXC resolves a relative include against its current directory: the copy the
    containers name has none, and every path in it stays inside it."""
    monkeypatch.delenv("LXCTOOLS_TEMPLATE_CONFIG", raising=False)
    lxcpath = str(tmp_path / "lp")
    copy = template_config(lxcpath)
    assert os.path.dirname(copy) == os.path.join(lxcpath, ".lxctools-include")
    assert template_config(lxcpath) == copy  # made once per set of shipped files
    assert sorted(os.listdir(copy)) == sorted(os.listdir(CONFIG) + ["userns.conf.d"])
    for top, _dirs, files in os.walk(copy):
        for name in files:
            path = os.path.join(top, name)
            original = os.path.join(CONFIG, os.path.relpath(path, copy))
            if not name.endswith(".conf"):
                assert open(path, "rb").read() == open(original, "rb").read()
                continue
            for line in open(path):
                parsed = split_line(line)
                if parsed and parsed[0] in ("lxc.include", "lxc.seccomp.profile"):
                    assert parsed[1].startswith(copy + "/"), (path, line)
                    assert os.path.exists(parsed[1]), (path, line)
    # what our parser reads through the copy is what it reads through the package
    assert load(os.path.join(copy, "debian.common.conf")).items.keys() == \
        load(os.path.join(CONFIG, "debian.common.conf")).items.keys()
    # other shipped files (a new lxctools): another copy beside, the first one kept
    other = tmp_path / "other"
    other.mkdir()
    (other / "common.conf").write_text("lxc.tty.max = 2\n")
    from lxctools.images.sharedconfig import materialize
    assert materialize(lxcpath, str(other)) not in (copy, None) and os.path.isdir(copy)


def test_the_environment_names_another_directory_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("LXCTOOLS_TEMPLATE_CONFIG", str(tmp_path))
    assert template_config(str(tmp_path / "lp")) == str(tmp_path)
    assert not os.path.exists(tmp_path / "lp")


@pytest.mark.parametrize("name", ["common.conf", "userns.conf", "nesting.conf", "oci.common.conf",
                                  "debian.common.conf", "debian.userns.conf",
                                  "ubuntu.common.conf", "ubuntu.userns.conf",
                                  "alpine.common.conf", "fedora.common.conf",
                                  "archlinux.common.conf", "centos.common.conf"])
def test_the_names_images_use_are_shipped(name):
    assert os.path.isfile(os.path.join(CONFIG, name))


def test_no_config_of_ours_includes_or_names_anything_of_lxcs():
    checked = 0
    for path in our_files():
        with open(path) as handle:
            text = handle.read()
        assert "/usr/share/lxc" not in text, path
        for number, target in includes(path):
            checked += 1
            assert target == CONFIG or target.startswith(CONFIG + os.sep), f"{path}:{number}"
            assert os.path.exists(target) or target.endswith(".d"), f"{path}:{number}: {target}"
    assert checked > 30


def test_every_config_of_ours_loads_and_its_seccomp_profile_parses(tmp_path):
    confs = [p for p in our_files() if p.endswith(".conf")]
    assert len(confs) > 40
    profiles = set()
    for path in confs:
        (tmp_path / "config").write_text(f"lxc.include = {path}\n")  # as a container's config
        conf = load(str(tmp_path / "config"))
        profile = conf.value("lxc.seccomp.profile")
        if profile:
            assert os.path.isabs(profile) and profile.startswith(CONFIG), (path, profile)
            profiles.add(profile)
    assert profiles == {os.path.join(CONFIG, "common.seccomp")}
    with open(os.path.join(CONFIG, "common.seccomp")) as handle:
        policy = parse(handle.read(), "common.seccomp", "x86_64")
    assert policy.default == ("allow",)
    denied = {r.syscall for r in policy.rules if r.action == ("errno", 1)}
    assert denied == {"kexec_load", "open_by_handle_at", "init_module", "finit_module",
                      "delete_module"}
    assert any(r.special == "reject_force_umount" for r in policy.rules)


def test_a_relative_profile_is_found_beside_the_file_that_names_it_only_when_included(tmp_path):
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "part.conf").write_text("lxc.seccomp.profile = my.seccomp\n")
    top = tmp_path / "config"
    top.write_text("lxc.include = inc/part.conf\n")
    assert load(str(top)).value("lxc.seccomp.profile") == str(tmp_path / "inc" / "my.seccomp")
    top.write_text("lxc.seccomp.profile = my.seccomp\n")
    assert load(str(top)).value("lxc.seccomp.profile") == "my.seccomp"  # as LXC stores it


def test_debian_common_gives_what_guests_need():
    conf = load(os.path.join(CONFIG, "debian.common.conf"))
    assert conf.value("lxc.mount.auto") is not None
    drop = conf.value("lxc.cap.drop")
    assert "sys_admin" not in drop and "mknod" not in drop  # systemd needs both
    assert {"sys_module", "sys_rawio", "sys_time", "mac_admin", "mac_override"} <= set(drop)
    devices = [v for k, v in conf.family("lxc.cgroup") if k == "devices.allow"]
    for node in ("c 1:3 rwm", "c 1:9 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
                 "c 10:200 rwm"):
        assert node in devices
    # the cgroup2 copy of common.conf's list, for cgroup2-only hosts, as LXC's common.conf;
    # the distro extras (tun, rtc, ...) are v1 only, as in LXC's distro files
    v2 = [v for k, v in conf.family("lxc.cgroup2") if k == "devices.allow"]
    for node in ("c 1:3 rwm", "c 1:9 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm"):
        assert node in v2
    assert ("devices.deny", "a") in conf.family("lxc.cgroup2") and "c 10:200 rwm" not in v2
