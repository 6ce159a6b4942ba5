"""AppArmor: the generated profile's globs, names, and what prepare() decides on a host
described by a fake Host. The profile in the kernel, the attacks it stops, and real LXC side
by side: tests/vm/test_systemd_apparmor.py (this host has no AppArmor)."""

import os
import re

import pytest

from lxctools.config.parser import loads
from lxctools.security import aaprofile, apparmor


def _regex(glob):
    """An AppArmor glob as a regex (what the profile uses of the syntax): `?` and `*` stop
    at "/", `**` does not, `[^...]` any other one character, `{,X}` nothing or X."""
    out = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("{,", i):
            end = glob.index("}", i)
            out.append("(?:|" + _regex(glob[i + 2:end]).pattern[:-2] + ")")
            i = end + 1
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = glob.index("]", i + 2)
            out.append(glob[i:end + 1])
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _matches(globs, path):
    return any(_regex(g).match(path) for g in globs)


def test_proc_sys_writes_only_in_what_the_namespaces_own():
    globs = aaprofile.outside("/proc/sys/", aaprofile.PROC_SYS_WRITABLE)
    for denied in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                   "/proc/sys/vm/drop_caches", "/proc/sys/fs/suid_dumpable",
                   "/proc/sys/kernel/hostnamex", "/proc/sys/kernel/sysrq",
                   "/proc/sys/netfoo", "/proc/sys/kernel/hotplug"):
        assert _matches(globs, denied), denied
    for allowed in ("/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname",
                    "/proc/sys/kernel/shmmax", "/proc/sys/kernel/msgmnb",
                    "/proc/sys/kernel/sem", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net"):
        assert not _matches(globs, allowed), allowed


def test_sys_writes_only_in_cgroups_and_network_devices():
    profile = aaprofile.generate("p", {"namespace": None})
    globs = re.findall(r"^  deny (/sys/\S+) r?wklx,$", profile, re.M)
    for denied in ("/sys/power/state", "/sys/kernel/uevent_helper", "/sys/block/vda/ro",
                   "/sys/devices/system/cpu/cpu1/online", "/sys/class/gpio/export",
                   "/sys/fs/ext4/features", "/sys/devices/virtual/misc/x",
                   "/sys/kernel/security/apparmor/.load", "/sys/firmware/x"):
        assert _matches(globs, denied), denied
    for allowed in ("/sys/fs/cgroup/cgroup.procs", "/sys/class/net/eth0/mtu",
                    "/sys/devices/virtual/net/eth0/mtu"):
        assert not _matches(globs, allowed), allowed
    # with its own AppArmor namespace the container may load policy there, nothing else
    stacked = aaprofile.generate("p", {"namespace": "ns"})
    globs = re.findall(r"^  deny (/sys/\S+) r?wklx,$", stacked, re.M)
    assert _matches(globs, "/sys/kernel/uevent_helper")
    assert not _matches(globs, "/sys/kernel/security/apparmor/.load")
    assert 'change_profile -> ":ns:*",' in stacked


def test_binds_never_of_proc_sys_or_dev_and_remounts_only_read_only():
    profile = aaprofile.generate("p", {"namespace": None})
    binds = re.findall(r"^  mount options=\(rw,bind\) (\S+),$", profile, re.M)
    for allowed in ("/mnt/x", "/home/a/b", "/dev/shm", "/dev/pts/0", "/srv", "/prx", "/procs",
                    "/system", "/devices"):
        assert _matches(binds, allowed), allowed
    for refused in ("/proc", "/proc/sys", "/proc/sysrq-trigger", "/sys", "/sys/fs/cgroup",
                    "/sys/kernel/security", "/dev", "/dev/.lxc", "/dev/.lxc/proc", "/"):
        assert not _matches(binds, refused), refused
    remounts = re.findall(r"^  mount options=\(([^)]*remount[^)]*)\)", profile, re.M)
    assert remounts
    for options in remounts:
        words = {w.strip() for w in options.split(",")}
        # a remount is read-only, or the /sys one LXC allows (no bind: sysfs itself)
        assert "ro" in words or words == {"rw", "nosuid", "nodev", "noexec", "remount"}, words
    assert "mount options=(ro,remount,bind,nodev,nosuid,noexec,strictatime) -> /mnt/{,/**}" \
        not in profile  # targets are globs, not one path
    assert "  mount,\n" not in profile  # only with allow_nesting
    assert "  mount,\n" in aaprofile.generate("p", {"nesting": True})


def test_raw_lines_and_name():
    profile = aaprofile.generate("lxc-c_</var/lib/lxc>", {}, ["  deny /srv/** w,", "mount,"])
    assert profile.startswith('#include <tunables/global>\nprofile "lxc-c_</var/lib/lxc>" '
                              "flags=(attach_disconnected,mediate_deleted) {\n")
    assert profile.endswith("  deny /srv/** w,\nmount,\n}\n")


def test_names_as_lxc():
    assert apparmor.profile_name("c1", "/var/lib/lxc") == "lxc-c1_</var/lib/lxc>"
    assert apparmor.namespace_name("c1", "/var/lib/lxc") == "lxc-c1_<-var-lib-lxc>"
    long = apparmor.profile_name("x" * 250, "/var/lib/lxc")
    assert re.fullmatch(r"[0-9a-f]{16}", long)  # FNV-1a 64 of the full name, as LXC


class FakeHost:
    def __init__(self, enabled=True, mounts=True, can_stack=False, loaded=(), parser=None):
        self.enabled, self.mounts, self.can_stack = enabled, mounts, can_stack
        self.stacked = False
        self._loaded = set(loaded)
        self._parser = parser
        self.securityfs = "/sys/kernel/security/apparmor"

    def loaded(self):
        return self._loaded

    def parser(self):
        return self._parser


def _prepare(text, host):
    return apparmor.prepare(loads(text), "c1", "/var/lib/lxc", host=host)


def test_what_prepare_decides(monkeypatch):
    monkeypatch.setattr(apparmor, "label_of", lambda pid="self": "unconfined")
    monkeypatch.setattr(apparmor, "LXC_PROFILES", "/nonexistent/lxc-containers")
    cgns = apparmor.DEFAULT_PROFILE_CGNS
    # no AppArmor: nothing, whatever the config says
    assert _prepare("lxc.apparmor.profile = generated\n", FakeHost(enabled=False)) is None
    assert _prepare("lxc.apparmor.profile = unchanged\n", FakeHost()) is None
    assert _prepare("lxc.apparmor.profile = unconfined\n", FakeHost()).label is None
    # unset: LXC's default, which must be loaded
    assert _prepare("", FakeHost(loaded=[cgns])).label == cgns
    with pytest.raises(apparmor.AppArmorError) as info:
        _prepare("", FakeHost(loaded=["other"]))
    assert f'"{cgns}" is not loaded' in str(info.value)
    assert "lxc.apparmor.profile" in info.value.hint
    assert _prepare("lxc.apparmor.profile = mine\n", FakeHost(loaded=["mine"])).label == "mine"
    with pytest.raises(apparmor.AppArmorError, match='"mine" is not loaded'):
        _prepare("lxc.apparmor.profile = mine\n", FakeHost(loaded=[cgns]))
    # generated needs the parser
    with pytest.raises(apparmor.AppArmorError,
                       match="Cannot use generated profile: apparmor_parser not available"):
        _prepare("lxc.apparmor.profile = generated\n", FakeHost(parser=None))
    # a kernel that cannot mediate mounts: refused unless allow_incomplete
    with pytest.raises(apparmor.AppArmorError) as info:
        _prepare("", FakeHost(mounts=False, loaded=[cgns]))
    assert "allow_incomplete = 1" in info.value.hint
    assert _prepare("lxc.apparmor.allow_incomplete = 1\n",
                    FakeHost(mounts=False, loaded=[cgns])).label == cgns
    assert _prepare("lxc.apparmor.profile = unconfined\n", FakeHost(mounts=False)).label is None


def test_generated_is_written_and_loaded(monkeypatch, tmp_path):
    monkeypatch.setattr(apparmor, "label_of", lambda pid="self": "unconfined")
    monkeypatch.setenv("LXC_CACHE_PATH", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(apparmor, "_run_parser",
                        lambda parser, option, path, check=True: calls.append((option, path)))
    monkeypatch.setattr(apparmor, "_parser_knows_unix", lambda parser: True)
    lxcpath = str(tmp_path / "lp")
    conf = loads("lxc.apparmor.raw = deny /srv/** w,\n")
    decision = apparmor.prepare(loads("lxc.apparmor.profile = generated\n"
                                      "lxc.apparmor.raw = deny /srv/** w,\n"), "c1", lxcpath,
                                host=FakeHost(parser="/sbin/apparmor_parser"))
    del conf
    name = apparmor.profile_name("c1", lxcpath)
    assert decision.label == name  # no stacking on this FakeHost
    path = os.path.join(lxcpath, "c1", "apparmor", apparmor.namespace_name("c1", lxcpath))
    assert calls == [("-rWL", path)]
    text = open(path).read()
    assert f'profile "{name}"' in text and "deny /srv/** w,\n}" in text
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    decision.cleanup()
    assert calls[-1] == ("-RWL", path)
    assert not os.path.exists(os.path.dirname(path))
