"""kernel/clone3.py: a child born in its cgroup2 cgroup (CLONE_INTO_CGROUP), running Python
on as os.fork's child does; none when the process has another thread. Real forks, in a
fresh interpreter each (one thread, whatever pytest runs beside its tests)."""

import os
import subprocess
import sys
import textwrap

import pytest

from lxctools.cgroups import host as H
from lxctools.kernel import clone3


def unified_mount():
    return next((h.mountpoint for h in H.read_mountinfo() if h.key == H.UNIFIED), None)


@pytest.fixture
def cgroup2_dir():
    if os.geteuid() != 0:
        pytest.skip("needs root: a cgroup of its own to be born in")
    mount = unified_mount()
    if mount is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    if not clone3.supported():
        pytest.skip("this kernel's clone3 (or a seccomp filter around this test) refuses "
                    "CLONE_INTO_CGROUP")
    path = os.path.join(mount, f"lxctools-test-clone3-{os.getpid()}")
    os.mkdir(path)
    yield path
    os.rmdir(path)


# every program below may use beside(N): N - 1 other threads alive in its block
BESIDE = """
import contextlib, threading

@contextlib.contextmanager
def beside(threads):
    stop = threading.Event()
    others = [threading.Thread(target=stop.wait) for _ in range(threads - 1)]
    for thread in others:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in others:
            thread.join()
"""


def run(program, *args):
    done = subprocess.run([sys.executable, "-c", BESIDE + textwrap.dedent(program), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_child_is_born_in_the_cgroup_and_runs_python_on(cgroup2_dir):
    out = run("""
        import os, sys
        from lxctools.kernel import clone3
        hooks = []
        os.register_at_fork(before=lambda: hooks.append("before"),
                            after_in_child=lambda: hooks.append("child"),
                            after_in_parent=lambda: hooks.append("parent"))
        fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        r, w = os.pipe()
        pid = clone3.fork_into(fd)
        if pid == 0:
            # born there, before any instruction of its own; os.fork's child hooks ran
            line = [l for l in open("/proc/self/cgroup") if l.startswith("0::")][0]
            os.write(w, f"{line.strip()} {','.join(hooks)} {os.getppid()}".encode())
            os._exit(7)
        os.close(w)
        said = os.read(r, 4096).decode()
        _, status = os.waitpid(pid, 0)
        print(said, os.waitstatus_to_exitcode(status), ",".join(hooks), os.getpid())
        """, cgroup2_dir)
    line, child_hooks, ppid, code, parent_hooks, me = out.split()
    assert line == "0::/" + os.path.basename(cgroup2_dir)
    assert child_hooks == "before,child" and parent_hooks == "before,parent"
    assert code == "7" and ppid == me


def test_a_process_with_another_thread_is_not_forked_so(cgroup2_dir):
    """glibc's fork takes its malloc and stdio locks so that no other thread holds them in
    the child; a raw clone3 cannot: with a second thread alive, nothing is forked."""
    out = run("""
        import os, sys
        from lxctools.kernel import clone3
        fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        with beside(2):
            result = clone3.fork_into(fd)
        try:
            os.waitpid(-1, os.WNOHANG)
            child = "a child"
        except ChildProcessError:
            child = "no-child"
        print(result, child)
        """, cgroup2_dir)
    assert out.split() == ["None", "no-child"]


def test_the_start_plans_fork_says_whether_the_child_was_born_there(cgroup2_dir):
    """startplan._fork_child: born in the cgroup when it can, else forked as before (the
    supervisor then moves init): the pair it returns tells which."""
    out = run("""
        import os, sys, _socket
        from lxctools.spawn import startplan
        fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for threads in (1, 2):
            parent, child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
            main = lambda: (child.send(open("/proc/self/cgroup").read().encode()),
                            os._exit(0))
            with beside(threads):
                pid, into = startplan._fork_child(main, parent, fd)
            said = parent.recv(4096).decode()
            os.waitpid(pid, 0)
            print(threads, into, "0::/" + os.path.basename(sys.argv[1]) in said.splitlines())
        """, cgroup2_dir)
    assert out.splitlines() == ["1 True True", "2 False False"]


def test_lxc_attachs_python_path_starts_its_helper_in_the_cgroups(cgroup2_dir):
    """attach.py's transient (the compiled entry helper, from its sealed copy) born in the
    attach cgroups (entry.spawn -> _born), as the front door's: waiting for its plan, it
    already sits there; with another thread it is spawned and left to be moved."""
    from lxctools.spawn import entry

    if entry.helper_path() is None:
        pytest.skip("the compiled entry helper is not built here (no C compiler at install)")
    out = run("""
        import os, sys, _socket
        from lxctools.spawn import entry

        class Cgroups:  # the one hierarchy of the test: its cgroup2 directory
            def birth_fds(self, attach=False):
                return os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), []

        for threads in (1, 2):
            parent, child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
            with beside(threads):
                pid, born = entry.spawn(entry.helper_path(), child, Cgroups())
            child.close()
            where = [l for l in open(f"/proc/{pid}/cgroup") if l.startswith("0::")][0].strip()
            parent.close()  # no plan: the helper reads end of file and leaves
            os.waitpid(pid, 0)
            print(threads, born, where == "0::/" + os.path.basename(sys.argv[1]))
        """, cgroup2_dir)
    assert out.splitlines() == ["1 True True", "2 False False"]
