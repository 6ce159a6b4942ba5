"""The one layer that calls the kernel and libc through ctypes: libc.py, the calls made by
number (syscalls.py: one column per architecture), capabilities, openat2, ptys, bpf,
btrfs, loop devices, seccomp.

The bottom layer: it imports nothing else of lxctools.
"""
