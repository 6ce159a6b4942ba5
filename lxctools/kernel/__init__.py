"""The one layer that calls the kernel and libc through ctypes: libc.py, the calls made by
number (syscalls.py: one column per architecture), capabilities, openat2, ptys, bpf,
btrfs, loop devices, seccomp; and the two things every layer above builds on those calls:
paths below a container's root opened by fd (rootpath.py, the safe walk) and the open-file
limit and waiting on descriptors (fdlimit.py), and /proc/PID of init held by fd
(procdir.py).

The bottom layer: it imports nothing else of lxctools.
"""
