"""Entering a running container: lxc-attach (attach.py; its terminal, attach_tty.py),
the relay of a container's pty to the caller's terminal (terminal.py: lxc-console and
lxc-start -F use it too) and lxc-device (device.py).

May import spawn/ (the entry helper, prlimits, a child's failure pipe), network/,
security/, cgroups/, idmap/, config/, kernel/ and the shared modules; not the monitor: the
API asks the supervisor for the init pid and hands it over.
"""
