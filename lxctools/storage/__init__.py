"""Backing stores of a container's rootfs: dir, btrfs, loop, overlay (backends.py), a
clone's copy or snapshot (clone.py), removing a container's files safely (remove.py), and
who runs from a rootfs (inuse.py).

May import config/, kernel/ and the shared modules; not the packages beside it (cgroups/,
network/, security/, templates/).
"""
