"""A container's cgroups: v1, hybrid and unified hosts behind one object (`Cgroups`)."""

from .core import CgroupError, Cgroups  # noqa: F401
