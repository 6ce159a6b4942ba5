"""The cgroup2 device program in the real kernel: loaded through bpf(2) (kernel/bpf.py),
attached to a scratch cgroup of this host's cgroup2 hierarchy (the unified one of a hybrid
host, /sys/fs/cgroup of a cgroup2-only one), judged by real opens and mknods made by a child
that sits in that cgroup. The verdicts must be the list's own (DeviceList.decide), for LXC's
usual list, both modes, v1 rules translated and random lists; replacing is atomic; programs
of parents still apply (BPF_F_ALLOW_MULTI)."""

import errno
import os
import random
import shutil
import tempfile

import pytest

from conftest import COMMON_DEVICES, require_root
from lxctools.kernel import bpf
from lxctools.cgroups import devices as D, devprog, host

COMMON = COMMON_DEVICES

# (what, device, access) tried under each program: opens of host nodes, mknods in a tmp dir
TRIALS = [("open", "/dev/null", "r"), ("open", "/dev/null", "rw"), ("open", "/dev/zero", "r"),
          ("open", "/dev/zero", "w"), ("open", "/dev/full", "rw"), ("open", "/dev/kmsg", "r"),
          ("open", "/dev/kmsg", "rw"), ("mknod", ("c", 1, 11), "m"), ("mknod", ("c", 1, 3), "m"),
          ("mknod", ("b", 7, 0), "m"), ("mknod", ("b", 254, 0), "m")]


@pytest.fixture
def scratch():
    """A fresh cgroup (and one below it) in this host's cgroup2 hierarchy."""
    require_root()
    unified = next((h for h in host.read_mountinfo() if h.version == 2), None)
    if unified is None:
        pytest.fail("this host has no cgroup2 hierarchy mounted")
    parent = os.path.join(unified.mountpoint, f"lxctools-test-devprog-{os.getpid()}")
    child = os.path.join(parent, "inner")
    os.makedirs(child)
    nodes = tempfile.mkdtemp(prefix="devprog-")
    yield parent, child, nodes
    shutil.rmtree(nodes)
    for directory in (child, parent):
        os.rmdir(directory)  # attached programs go with the cgroup


def attempt(cgroup, nodes, what, target, access):
    """True when a child placed in CGROUP may do it (EPERM: the device cgroup said no)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        answer = b"?"
        try:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as handle:
                handle.write("0")
            if what == "open":
                flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[access]
                os.close(os.open(target, flags | os.O_NONBLOCK | os.O_NOCTTY))
            else:
                kind, major, minor = target
                path = os.path.join(nodes, f"{kind}{major}.{minor}")
                mode = (0o20000 if kind == "c" else 0o60000) | 0o600
                os.mknod(path, mode, os.makedev(major, minor))
                os.unlink(path)
            answer = b"y"
        except OSError as exc:
            answer = b"n" if exc.errno == errno.EPERM else f"{exc.errno}".encode()
        os.write(write, answer)
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    answer = os.read(read, 16)
    os.close(read)
    assert answer in (b"y", b"n"), f"{what} {target} {access}: errno {answer}"
    return answer == b"y"


def device_of(what, target):
    if what == "mknod":
        return target
    st = os.stat(target)
    return ("c" if st.st_mode & 0o170000 == 0o20000 else "b", os.major(st.st_rdev),
            os.minor(st.st_rdev))


def check_verdicts(cgroup, nodes, devices):
    for what, target, access in TRIALS:
        expected = devices.decide(*device_of(what, target), access)
        assert attempt(cgroup, nodes, what, target, access) == expected, (
            devices.describe(), what, target, access)


def test_nothing_is_denied_without_a_program(scratch):
    _parent, child, nodes = scratch
    for what, target, access in TRIALS:
        assert attempt(child, nodes, what, target, access), (what, target, access)


@pytest.mark.parametrize("family,rules", [
    ("lxc.cgroup2", COMMON),
    ("lxc.cgroup2", [("devices.allow", "a"), ("devices.deny", "c 1:11 r"),
                     ("devices.deny", "b *:* m")]),
    ("lxc.cgroup", [("devices.deny", "c 1:11 rwm")]),
    ("lxc.cgroup2", [("devices.deny", "c 1:11 rwm")]),
    ("lxc.cgroup2", [("devices.deny", "a")]),
    ("lxc.cgroup2", [("devices.allow", "a *:* rwm"), ("devices.allow", "c 1:3 r")]),
    ("lxc.cgroup2", [("devices.allow", "c 1:3 r"), ("devices.allow", "c 1:5 w"),
                     ("devices.allow", "a *:* m"), ("devices.allow", "c 1:7 ")]),
])
def test_the_kernel_decides_as_the_list(scratch, family, rules):
    _parent, child, nodes = scratch
    devices = D.build(family, rules)
    prog = devprog.attach(child, devices)
    assert devprog.attached(child) == [prog]
    check_verdicts(child, nodes, devices)


def test_random_lists_load_and_decide_as_the_list(scratch):
    _parent, child, nodes = scratch
    rng = random.Random(3)
    prog = None
    for _case in range(12):
        rules = [(rng.choice(["devices.allow", "devices.deny"]),
                  rng.choice(["a", "c 1:3 rw", "c 1:* r", "c *:* m", "b *:* m", "c 1:11 rwm",
                              "a 1:5 w", "c 1:5 rwm", "b 7:0 m", "c 1:7 rw"]))
                 for _ in range(rng.randrange(1, 7))]
        devices = D.build(rng.choice(["lxc.cgroup", "lxc.cgroup2"]), rules)
        prog = devprog.replace(child, devices, prog)
        assert devprog.attached(child) == [prog]
        check_verdicts(child, nodes, devices)


def test_replacing_swaps_the_program_in_one_step(scratch):
    _parent, child, nodes = scratch
    devices = D.build("lxc.cgroup2", COMMON)
    first = devprog.attach(child, devices)
    assert not attempt(child, nodes, "open", "/dev/kmsg", "r")
    devices.add(D.parse("devices.allow", "c 1:11 r"))
    second = devprog.replace(child, devices, first)
    assert second != first and devprog.attached(child) == [second]
    assert attempt(child, nodes, "open", "/dev/kmsg", "r")
    # the old program is gone from the kernel once nothing holds it
    with pytest.raises(OSError):
        os.close(bpf.prog_fd_by_id(first))


def test_without_bpf_f_replace_the_new_program_comes_before_the_old_goes(scratch, monkeypatch):
    """Kernels before 5.6: attach the new one, then detach the old; never neither."""
    _parent, child, nodes = scratch
    devices = D.build("lxc.cgroup2", COMMON)
    first = devprog.attach(child, devices)
    seen = []
    real_attach, real_detach = bpf.prog_attach, bpf.prog_detach

    def old_kernel_attach(cgroup_fd, prog_fd, attach_type, flags=0, replace_fd=None):
        if replace_fd is not None:
            raise bpf.BpfError(errno.EINVAL, "no BPF_F_REPLACE here")
        real_attach(cgroup_fd, prog_fd, attach_type, flags)
        seen.append(("attach", sorted(devprog.attached(child))))

    def detach(cgroup_fd, prog_fd, attach_type):
        real_detach(cgroup_fd, prog_fd, attach_type)
        seen.append(("detach", sorted(devprog.attached(child))))

    monkeypatch.setattr(bpf, "prog_attach", old_kernel_attach)
    monkeypatch.setattr(bpf, "prog_detach", detach)
    devices.add(D.parse("devices.allow", "c 1:11 r"))
    second = devprog.replace(child, devices, first)
    assert seen == [("attach", sorted([first, second])), ("detach", [second])]
    assert attempt(child, nodes, "open", "/dev/kmsg", "r")


def test_a_detached_program_is_attached_again(scratch):
    """A privileged container's root can detach its program (CAP_SYS_ADMIN): the next
    change puts one back instead of failing."""
    _parent, child, nodes = scratch
    devices = D.build("lxc.cgroup2", COMMON)
    first = devprog.attach(child, devices)
    fd = bpf.prog_fd_by_id(first)
    cgroup = os.open(child, os.O_RDONLY | os.O_DIRECTORY)
    bpf.prog_detach(cgroup, fd, bpf.BPF_CGROUP_DEVICE)
    os.close(cgroup)
    os.close(fd)
    assert devprog.attached(child) == []
    devices.add(D.parse("devices.allow", "c 1:9 rwm"))
    second = devprog.replace(child, devices, first)
    assert devprog.attached(child) == [second]
    assert not attempt(child, nodes, "open", "/dev/kmsg", "r")


def test_a_parents_program_still_applies(scratch):
    """BPF_F_ALLOW_MULTI: a program on the parent (systemd's DeviceAllow=, an admin's) and
    ours both run; an access needs both to allow it."""
    parent, child, nodes = scratch
    parents = D.build("lxc.cgroup2", [("devices.allow", "a"), ("devices.deny", "c 1:5 rwm")])
    on_parent = devprog.attach(parent, parents)
    ours = devprog.attach(child, D.build("lxc.cgroup2", [("devices.allow", "a")]))
    assert sorted(devprog.attached(child, effective=True)) == sorted([on_parent, ours])
    assert not attempt(child, nodes, "open", "/dev/zero", "r")
    assert attempt(child, nodes, "open", "/dev/null", "r")


def test_a_parent_program_without_multi_is_named_in_the_error(scratch):
    parent, child, _nodes = scratch
    prog = devprog.load(D.build("lxc.cgroup2", [("devices.allow", "a")]))
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        bpf.prog_attach(fd, prog, bpf.BPF_CGROUP_DEVICE, 0)  # exclusive, as old tools did
        with pytest.raises(devprog.DeviceProgramError, match="not permitted") as info:
            devprog.attach(child, D.build("lxc.cgroup2", COMMON))
        assert "BPF_F_ALLOW_MULTI" in info.value.hint
    finally:
        bpf.prog_detach(fd, prog, bpf.BPF_CGROUP_DEVICE)
        os.close(fd)
        os.close(prog)


def test_the_program_is_named_and_gpl(scratch):
    _parent, child, _nodes = scratch
    prog = devprog.attach(child, D.build("lxc.cgroup2", COMMON))
    fd = bpf.prog_fd_by_id(prog)
    try:
        info = bpf.prog_info(fd)
    finally:
        os.close(fd)
    assert info["type"] == bpf.BPF_PROG_TYPE_CGROUP_DEVICE and info["name"] == "lxctools_dev"
