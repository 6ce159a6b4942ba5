"""kernel/peer.py's two reads behind the proof by pid (LXC's socket on a kernel without
SO_PEERPIDFD): the peer end's inode from sock_diag, whether a process holds it, and its
effective uid."""

import os
import socket
import subprocess
import sys

from lxctools.kernel import peer


def test_the_peer_end_and_who_holds_it():
    mine, theirs = socket.socketpair()
    try:
        end = os.fstat(theirs.fileno()).st_ino
        assert peer.peer_inode(mine) == end
        assert peer.peer_inode(theirs) == os.fstat(mine.fileno()).st_ino
        assert peer.holds(os.getpid(), end)
        # a process that does not hold it: a child without our fds
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                 stdin=subprocess.PIPE, close_fds=True)
        try:
            assert not peer.holds(child.pid, end)
        finally:
            child.stdin.close()
            child.wait()
        theirs.close()
        assert peer.peer_inode(mine) == 0  # every holder closed it: the kernel names none
        assert not peer.holds(os.getpid(), end)
    finally:
        mine.close()
        theirs.close()


def test_a_listening_socket_has_no_peer():
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(b"\0lxctools-test-peer-inode-" + os.urandom(4).hex().encode())
        listener.listen(1)
        assert peer.peer_inode(listener) == 0
    finally:
        listener.close()


def test_the_effective_uid_of_a_process():
    assert peer.euid(os.getpid()) == os.geteuid()
    assert peer.euid(1) == 0
