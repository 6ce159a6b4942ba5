"""Backing stores of a container's rootfs: dir, btrfs, loop, overlay (backends.py), a
clone's copy or snapshot (clone.py), and removing a container's files safely (remove.py).

May import config/, kernel/ and the shared modules (today: kernel/ and errors only); not
runtime/, the layer beside it.
"""
