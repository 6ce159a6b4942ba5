"""`import lxc` on lxctools: python-lxc's module (lxctools.compat.lxc) under its own name.

Debian's python3-lxc (the liblxc binding, `_lxc`) uses the same import name. When both are
importable this package refuses to pick one silently: set LXCTOOLS_LXC=lxctools to use
lxctools, or LXCTOOLS_LXC=python-lxc to load the other binding in its place.
"""

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _other_binding():
    """The spec of another `lxc` package on sys.path (python3-lxc), or None."""
    for entry in sys.path:
        if os.path.abspath(entry or os.getcwd()) == _HERE:
            continue
        spec = importlib.machinery.PathFinder.find_spec("lxc", [entry or os.getcwd()])
        if spec is not None and spec.origin and os.path.dirname(os.path.dirname(spec.origin)) != _HERE \
                and not _ours(spec.origin):
            return spec
    return None


def _ours(origin):
    """Is the package at ORIGIN another copy of this one (an installed copy beside the source
    tree on PYTHONPATH, say)? Then it is no other binding to choose from."""
    try:
        with open(origin, "rb") as handle:
            return handle.read(len(_MARK)) == _MARK
    except OSError:
        return False


_MARK = b'"""`import lxc` on lxctools: '


def _choose():
    choice = os.environ.get("LXCTOOLS_LXC", "")
    other = _other_binding() if choice != "lxctools" else None
    if other is None:
        return None
    if choice == "python-lxc":
        return other
    raise ImportError(
        f"two `lxc` modules are importable: lxctools' ({__file__}) and another binding "
        f"({other.origin}, Debian's python3-lxc driving real LXC). Refusing to guess: set "
        "LXCTOOLS_LXC=lxctools to manage lxctools containers, or LXCTOOLS_LXC=python-lxc "
        "to use the other binding", name="lxc")


_other = _choose()
if _other is not None:
    _module = importlib.util.module_from_spec(_other)
    sys.modules[__name__] = _module
    _other.loader.exec_module(_module)
else:
    from lxctools.compat.lxc import *  # noqa: F401,F403
    BINDING = "lxctools"
