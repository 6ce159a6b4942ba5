"""Compatibility layers over lxctools.api for programs written for other LXC interfaces
(lxc.py: python-lxc's `lxc` module)."""
