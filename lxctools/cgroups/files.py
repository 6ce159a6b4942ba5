"""Reading and writing one cgroup file, and saying what a refused write means.

The bottom of the cgroups package: core.py (the container's cgroups), limits.py
(lxc.cgroup*.KEY = VALUE) and monitor.py (the supervisor's own cgroup) write through here,
so none needs another.
"""

import errno
import os


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def write(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode() if isinstance(value, str) else value)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
    finally:
        os.close(fd)


def cpuset_inherit(directory):
    """A new v1 cpuset is empty and refuses tasks: copy cpus and mems from its parent, and
    let cgroups made inside the container inherit theirs (clone_children)."""
    parent = os.path.dirname(directory)
    for name in ("cpuset.cpus", "cpuset.mems"):
        path = os.path.join(directory, name)
        if not read(path).strip():
            write(path, read(os.path.join(parent, name)).strip())
    try:
        write(os.path.join(directory, "cgroup.clone_children"), "1")
    except OSError:
        pass


def hint_for_file(path, exc):
    if exc.errno == errno.ENOENT:
        import difflib  # only on this error path

        directory, name = os.path.split(path)
        try:
            files = os.listdir(directory)
        except OSError:
            files = []
        close = difflib.get_close_matches(name, files, n=3)
        if close:
            return "did you mean " + " or ".join(close) + "?"
        prefix = name.split(".", 1)[0] + "."
        same = sorted(f for f in files if f.startswith(prefix))
        return ("files of this controller: " + " ".join(same)) if same else \
            "this kernel has no such cgroup file"
    if exc.errno == errno.EINVAL:
        return "the kernel refused the value: check its format (cgroup documentation)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "not allowed: run as root, or delegate this controller"
    return None
