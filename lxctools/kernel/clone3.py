"""A child born in its cgroup: clone3(CLONE_INTO_CGROUP) for a process that runs Python on
after the fork, as os.fork()'s child does.

Moving a process into a cgroup (a write of its pid to cgroup.procs) takes the kernel's
global cgroup_threadgroup_rwsem for writing, which first waits out an RCU grace period
(8-16 ms on an idle host) when nobody moved a process lately: most of a warm root
`lxc-start -d` (bench/RESULTS.md runs 18-19). A child born into a cgroup2 cgroup
(CLONE_INTO_CGROUP, Linux 5.7) takes that lock for reading only, as every fork does; LXC
starts its containers so on a cgroup2 host. (A v1 hierarchy has no such flag; there a
single-threaded process moves itself by writing "0" to `tasks`, which the kernel does
without the lock: startplan's born_in_cgroups.)

Python has no clone3. fork_into() calls it through syscall(2) the way os.fork() calls
fork(): PyOS_BeforeFork, the call with the GIL held (ctypes.PyDLL), then
PyOS_AfterFork_Child or PyOS_AfterFork_Parent. What it leaves out is glibc's own fork
bookkeeping: its atfork handlers (none registered in a supervisor), the malloc and stdio
locks it holds across a fork so that no other thread holds them in the child, and the
child's cached thread id (its gettid-based calls ask the kernel). So a process with one
thread alone (/proc/self/task), which holds none of those locks in the middle of its own
system call, is born this way; any other gets None and forks as before.
"""

import ctypes
import errno
import os
import signal

from .syscalls import number

CLONE_INTO_CGROUP = 0x200000000
_ARGS = 11  # struct clone_args up to .cgroup (CLONE_ARGS_SIZE_VER2: 88 bytes), all __u64
_CGROUP = 10  # the index of .cgroup in it

_state = {}


def _calls():
    calls = _state.get("calls")
    if calls is None:
        libc = ctypes.PyDLL("libc.so.6", use_errno=True)  # PyDLL: the GIL stays held
        libc.syscall.restype = ctypes.c_long
        api = ctypes.pythonapi
        for name in ("PyOS_BeforeFork", "PyOS_AfterFork_Parent", "PyOS_AfterFork_Child"):
            getattr(api, name).restype = None
        calls = _state["calls"] = (libc.syscall, api)
    return calls


def _clone3(flags, cgroup_fd):
    args = (ctypes.c_uint64 * _ARGS)()
    args[0] = flags
    args[4] = signal.SIGCHLD  # .exit_signal: a child as fork's
    args[_CGROUP] = cgroup_fd
    syscall, _ = _calls()
    return syscall(ctypes.c_long(number("clone3")), ctypes.byref(args),
                   ctypes.c_size_t(ctypes.sizeof(args)))


def supported():
    """Whether this kernel, and any seccomp filter around this process, let clone3 take
    CLONE_INTO_CGROUP. Asked once: with a descriptor number no process has open, a kernel
    that knows the flag fails at the descriptor (EBADF) before any process exists; one that
    does not fails with EINVAL, a filter with ENOSYS or EPERM."""
    known = _state.get("supported")
    if known is None:
        try:
            result = _clone3(CLONE_INTO_CGROUP, 0x7FFFFFFF)
            # nothing should have been made: a child here would run the rest of this
            # program beside its parent (never: the descriptor is not open)
            if result == 0:
                os._exit(127)
            known = result < 0 and ctypes.get_errno() == errno.EBADF
        except (OSError, AttributeError):  # no number for this machine, no syscall symbol
            known = False
        _state["supported"] = known
    return known


def single_threaded():
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def fork_into(cgroup_fd):
    """Fork, the child born in the cgroup2 cgroup CGROUP_FD (a descriptor of its directory).
    The child's pid in the parent, 0 in the child (which goes on as os.fork's child does);
    None, with nothing forked, when this process has other threads or the kernel refuses
    (the caller forks as usual and moves the child)."""
    if not single_threaded() or not supported():
        return None
    _, api = _calls()
    api.PyOS_BeforeFork()  # the import lock taken: released by one of the two below
    pid = -1
    try:
        pid = _clone3(CLONE_INTO_CGROUP, cgroup_fd)
    finally:
        if pid == 0:
            api.PyOS_AfterFork_Child()
        else:
            api.PyOS_AfterFork_Parent()
    return pid if pid >= 0 else None
