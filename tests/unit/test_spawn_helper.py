"""kernel/libc.spawn and idmap/userns's helpers through it: what subprocess.Popen gave
newuidmap and newgidmap (stdio, no other descriptor, default SIGPIPE, the same error for a
missing program), without a fork of the caller."""

import os
import signal
import subprocess

import pytest

from lxctools.idmap import userns
from lxctools.kernel import libc

pytestmark = pytest.mark.skipif(not libc.can_spawn(), reason="this libc has no "
                                "posix_spawn_file_actions_addclosefrom_np (glibc < 2.34)")

SHOW = ("ls /proc/self/fd >&2; grep -E '^Sig(Ign|Blk)' /proc/self/status >&2; "
        "echo out; echo said >&2; exit 3")


def test_the_helper_gets_stdin_stdout_stderr_only_and_default_signals():
    leaked = os.open("/dev/null", os.O_RDONLY)
    os.set_inheritable(leaked, True)  # as an fd received by SCM_RIGHTS is
    try:
        assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # Python's
        code, said = userns._start_helper(["sh", "-c", SHOW]).wait()
    finally:
        os.close(leaked)
    assert code == 3
    lines = said.splitlines()
    # 0-2, and the fd ls opens to list them; never the caller's inheritable one
    fds = sorted(int(x) for x in lines[:lines.index(next(l for l in lines if l.startswith("Sig")))])
    assert fds[:3] == [0, 1, 2] and len(fds) == 4, said
    ignored = int(next(l for l in lines if l.startswith("SigIgn")).split()[1], 16)
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (signum - 1)), said
    assert lines[-1] == "said" and "out" not in lines  # stdout discarded, stderr kept


def test_a_missing_helper_is_the_error_popen_gave():
    with pytest.raises(FileNotFoundError) as ours:
        userns._start_helper(["lxctools-no-such-helper", "1"])
    with pytest.raises(FileNotFoundError) as popen:
        subprocess.Popen(["lxctools-no-such-helper", "1"])
    assert str(ours.value) == str(popen.value)


def test_a_failed_helper_says_its_words(monkeypatch):
    """write_maps: the helper's stderr in the error, newuidmap's first (both run at once)."""
    from lxctools.errors import LxcError

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    real = userns._start_helper
    monkeypatch.setattr(userns, "_start_helper", lambda argv: real(
        ["sh", "-c", f"echo '{argv[0]}: range not allowed' >&2; exit 1"]))
    with pytest.raises(LxcError, match="^newuidmap failed: newuidmap: range not allowed$"):
        userns.write_maps(os.getpid(), {"u": [(0, 100000, 1)], "g": [(0, 100000, 1)]})


def test_many_helpers_leave_no_descriptor_nor_child():
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert userns._start_helper(["true"]).wait() == (0, "")
    assert len(os.listdir("/proc/self/fd")) == before
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
