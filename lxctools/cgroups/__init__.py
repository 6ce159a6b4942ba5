"""A container's cgroups: v1, hybrid and unified hosts behind one object (`Cgroups`), the
limits and device rules (limits.py, devices.py, devprog.py), usage (stats.py) and the
supervisor's own cgroup (monitor.py).

May import idmap/ (giving a container's cgroups to its root), config/, kernel/ and the shared
modules; not the packages beside it (network/, security/, storage/, templates/).
"""

from .core import CgroupError, Cgroups  # noqa: F401
