"""A container's cgroup2 device program in the kernel: load it, attach it to the limit cgroup
with BPF_F_ALLOW_MULTI (as LXC), replace it in one step, tell what is in force.

ALLOW_MULTI: every program attached with it to the cgroup or an ancestor runs, and an access
needs all of them to allow it. A program systemd (or an admin) put on a parent cgroup still
applies: ours can only narrow what the container gets, never widen what the parent allows;
and nothing the container attaches below its own cgroup can lift ours. An ancestor that
holds a program attached *without* ALLOW_MULTI refuses ours (EPERM): that is said, naming it.

Replacing (lxc-cgroup, lxc-device) uses BPF_F_REPLACE: the kernel swaps the old program for
the new one atomically. Kernels before 5.6 lack it: the new program is attached first and
the old one detached after, so for a moment both run (what both allow), never neither.

No fd has to outlive the call: the program stays attached as long as the cgroup lives, and
is found again by its id (the runtime record keeps it), so a supervisor that adopted the
container, or any root process, can replace it too.
"""

import errno
import os

from ..errors import LxcError
from ..kernel import bpf
from . import devices as D

PROGRAM_NAME = "lxctools_dev"  # what bpftool and BPF_OBJ_GET_INFO show


class DeviceProgramError(LxcError):
    """The device program could not be loaded, attached or replaced. not_permitted: the
    kernel refused to load one at all (lxctools nested in a container)."""

    not_permitted = False


def _open_cgroup(directory):
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise DeviceProgramError(f"cannot open the cgroup {directory}: {exc.strerror}") from None


def load(devices):
    """The program of DEVICES (a DeviceList) loaded; returns its fd."""
    try:
        return bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, D.encode(devices.program()),
                             license="GPL", name=PROGRAM_NAME)
    except bpf.BpfError as exc:
        if exc.errno == errno.EPERM:
            err = DeviceProgramError(
                "cannot load a cgroup2 device program: not permitted",
                hint="it needs root with CAP_SYS_ADMIN (or CAP_BPF) in the host's user "
                     "namespace; lxctools in a container cannot load one")
            err.not_permitted = True
            raise err from None
        raise DeviceProgramError(f"the kernel refused the device program: {exc.strerror}",
                                 hint=exc.log or None) from None


def attach(directory, devices):
    """Load the program of DEVICES and attach it to the cgroup DIRECTORY; returns its id."""
    prog = load(devices)
    try:
        cgroup = _open_cgroup(directory)
        try:
            bpf.prog_attach(cgroup, prog, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
        except bpf.BpfError as exc:
            raise _attach_error(exc, directory) from None
        finally:
            os.close(cgroup)
        return bpf.prog_info(prog)["id"]
    finally:
        os.close(prog)


def replace(directory, devices, old_id):
    """Put the program of DEVICES in place of program OLD_ID on DIRECTORY with no moment
    without either; returns the new id. An old program no longer attached (a privileged
    container's root can detach it) is not needed: the new one is attached."""
    prog = load(devices)
    old = None
    cgroup = _open_cgroup(directory)
    try:
        if old_id is not None and old_id in attached(directory):
            try:
                old = bpf.prog_fd_by_id(old_id)
            except OSError:
                old = None
        try:
            if old is not None:
                try:
                    bpf.prog_attach(cgroup, prog, bpf.BPF_CGROUP_DEVICE,
                                    bpf.BPF_F_ALLOW_MULTI, replace_fd=old)
                except bpf.BpfError as exc:
                    if exc.errno not in (errno.EINVAL, errno.ENOENT):
                        raise
                    # a kernel without BPF_F_REPLACE (before 5.6): both, then the new alone
                    bpf.prog_attach(cgroup, prog, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
                    try:
                        bpf.prog_detach(cgroup, old, bpf.BPF_CGROUP_DEVICE)
                    except OSError:
                        pass  # gone meanwhile
            else:
                bpf.prog_attach(cgroup, prog, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
        except bpf.BpfError as exc:
            raise _attach_error(exc, directory) from None
        return bpf.prog_info(prog)["id"]
    finally:
        os.close(cgroup)
        os.close(prog)
        if old is not None:
            os.close(old)


def attached(directory, effective=False):
    """Ids of the device programs attached to DIRECTORY (with EFFECTIVE: all that run for it,
    its ancestors' included)."""
    cgroup = _open_cgroup(directory)
    try:
        return bpf.prog_query(cgroup, bpf.BPF_CGROUP_DEVICE, effective=effective)[1]
    except OSError:
        return []
    finally:
        os.close(cgroup)


def _attach_error(exc, directory):
    if exc.errno == errno.EPERM:
        return DeviceProgramError(
            f"cannot attach the device program to {directory}: not permitted",
            hint="a parent cgroup holds a device program attached without BPF_F_ALLOW_MULTI "
                 "(see bpftool cgroup tree), or this process lacks CAP_SYS_ADMIN")
    return DeviceProgramError(f"cannot attach the device program to {directory}: "
                              f"{exc.strerror}")
