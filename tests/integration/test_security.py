"""security.apply() in a forked child that then execs a probe: the capability sets, no_new_privs
and the seccomp filter the probe runs with. The test process itself is never confined."""

import os
import sys

import pytest

from lxctools.config.model import Conf
from lxctools import security

from conftest import conf_lines, require_root

PROBE = r"""
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
status = {l.split(':')[0]: l.split(':', 1)[1].strip() for l in open('/proc/self/status')}
for key in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'):
    print(key, status.get(key))
name = b'cg-probe'
rc = libc.sethostname(name, len(name))
print('sethostname', 0 if rc == 0 else ctypes.get_errno())
"""


def run_confined(conf, tmp_path):
    """Fork, unshare the UTS namespace (sethostname must not touch the host), apply CONF's
    security, exec the probe; returns {field: value}."""
    from lxctools.kernel import libc

    prepared = security.prepare(conf)
    out = tmp_path / "probe.out"
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            libc.unshare(libc.CLONE_NEWUTS)
            prepared.apply()
            os.execv(sys.executable, [sys.executable, "-S", "-c", PROBE])
        except BaseException as exc:  # noqa: BLE001
            os.write(2, f"child failed: {exc!r}\n".encode())
        os._exit(127)
    _, status = os.waitpid(pid, 0)
    text = out.read_text()
    assert os.waitstatus_to_exitcode(status) == 0, text
    return dict(line.split(None, 1) for line in text.splitlines() if " " in line)


def bits(hexa):
    return {i for i in range(64) if int(hexa, 16) >> i & 1}


@pytest.fixture(autouse=True)
def root():
    require_root()


def test_nothing_configured_changes_nothing(tmp_path):
    got = run_confined(Conf(), tmp_path)
    host = {l.split(":")[0]: l.split(":", 1)[1].strip() for l in open("/proc/self/status")}
    assert got["CapBnd"] == host["CapBnd"]
    assert got["NoNewPrivs"] == "0" and got["Seccomp"] == "0"
    assert got["sethostname"] == "0"


def test_cap_drop_leaves_bounding_and_effective_sets(tmp_path):
    got = run_confined(conf_lines("lxc.cap.drop = sys_admin sys_module mac_admin"), tmp_path)
    for field in ("CapBnd", "CapEff", "CapPrm"):
        assert not {21, 16, 33} & bits(got[field]), field
    assert 0 in bits(got["CapEff"])  # chown stays
    assert got["CapAmb"] == "0000000000000000" and got["CapInh"] == "0000000000000000"
    assert got["sethostname"] == str(1)  # EPERM without CAP_SYS_ADMIN


def test_cap_keep(tmp_path):
    got = run_confined(conf_lines("lxc.cap.keep = sys_admin chown"), tmp_path)
    assert bits(got["CapBnd"]) == {0, 21}
    assert bits(got["CapEff"]) == {0, 21}
    got = run_confined(conf_lines("lxc.cap.keep = none"), tmp_path)
    assert got["CapBnd"] == "0000000000000000"


def test_no_new_privs(tmp_path):
    assert run_confined(conf_lines("lxc.no_new_privs = 1"), tmp_path)["NoNewPrivs"] == "1"


def test_seccomp_denylist_errno(tmp_path):
    profile = tmp_path / "deny.seccomp"
    profile.write_text("2\ndenylist\nreject_force_umount\n[all]\nsethostname errno 38\n")
    got = run_confined(conf_lines(f"lxc.seccomp.profile = {profile}"), tmp_path)
    assert got["Seccomp"] == "2"
    assert got["sethostname"] == "38"


def test_seccomp_allowlist_with_arch_sections(tmp_path):
    """An allowlist whose default is errno 1: everything the probe needs is listed under
    [all]; sethostname is allowed only in an [arm64] section, which this x86_64 host skips."""
    import platform
    if platform.machine() != "x86_64":
        pytest.skip("the profile lists x86_64 syscalls")
    # every syscall but sethostname: take libseccomp's table for x86_64
    import pyseccomp
    names = []
    for nr in range(0, 460):
        try:
            names.append(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, nr).decode())
        except ValueError:
            pass
    names = [n for n in names if n != "sethostname"]
    profile = tmp_path / "allow.seccomp"
    profile.write_text("2\nallowlist errno 1\n[all]\n" + "\n".join(names)
                       + "\n[arm64]\nsethostname\n")
    got = run_confined(conf_lines(f"lxc.seccomp.profile = {profile}"), tmp_path)
    assert got["Seccomp"] == "2" and got["sethostname"] == "1"


def test_already_confined_is_not_stacked_without_allow_nesting(tmp_path):
    """LXC loads no second filter into a seccomp-confined process unless
    lxc.seccomp.allow_nesting = 1: the outer filter alone decides."""
    outer = tmp_path / "outer.seccomp"
    outer.write_text("2\ndenylist\nsethostname errno 5\n")
    inner = tmp_path / "inner.seccomp"
    inner.write_text("2\ndenylist\nsethostname errno 38\n")
    from lxctools.kernel import libc

    out = tmp_path / "nested.out"
    for nesting, expected in (("0", "5"), ("1", "38")):
        outer_conf = conf_lines(f"lxc.seccomp.profile = {outer}")
        inner_conf = conf_lines(f"lxc.seccomp.profile = {inner}",
                                f"lxc.seccomp.allow_nesting = {nesting}")
        outer_prepared = security.prepare(outer_conf)
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                libc.unshare(libc.CLONE_NEWUTS)
                outer_prepared.apply()
                # decided in the confined process, as a supervisor inside a container would
                security.prepare(inner_conf).apply()
                os.execv(sys.executable, [sys.executable, "-S", "-c", PROBE])
            except BaseException as exc:  # noqa: BLE001
                os.write(2, f"child failed: {exc!r}\n".encode())
            os._exit(127)
        os.waitpid(pid, 0)
        got = dict(l.split(None, 1) for l in out.read_text().splitlines() if " " in l)
        # the kernel returns the errno of the filter that ran last-loaded-first: with nesting,
        # the inner one (38); without, only the outer (5) exists
        assert got["sethostname"] == expected, (nesting, got)
