"""/proc/PID of a container's init, held by fd: what reads a running container's view
by pid without a reused pid leading to a host process's."""

import os


class ProcDir:
    """/proc/PID of a container's init, opened once and checked against init's start time
    (the supervisor's InfoReply.init_start) before anything is read through it.

    A pid names init only until init exits; a host process may take it next. The directory
    fd stays bound to the process it was opened for (reads through it fail once that one
    is gone), so one check of its start time after the open proves every later read is
    init's, never a host process's view of the network or its mounts. START None (a
    container real LXC runs: its socket tells no start time) skips the check."""

    def __init__(self, pid, start=None):
        self.fd = None
        try:
            self.fd = os.open(f"/proc/{int(pid)}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            if start is not None and _start_time(self.read("stat")) != start:
                self.close()
        except (OSError, ValueError):
            self.close()

    def read(self, name):
        """The text of /proc/PID/NAME, or None when it cannot be read (or init is gone)."""
        if self.fd is None:
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError:
            return None
        try:
            with open(fd, closefd=True, errors="replace") as handle:
                return handle.read()
        except OSError:
            return None

    @property
    def path(self):
        """A path to the same directory, for an API that takes paths (rootpath's walks):
        through our fd, so it cannot come to name another process."""
        return None if self.fd is None else f"/proc/self/fd/{self.fd}"

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()


def _start_time(stat):
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (AttributeError, IndexError, ValueError):
        return None
