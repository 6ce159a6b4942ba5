"""monitor/loop.py's _Epoll: the selectors.EpollSelector semantics the Loop relies on."""

import os
import socket

import pytest

from lxctools.monitor.loop import EVENT_READ, _Epoll


def test_register_select_unregister():
    poll = _Epoll()
    r, w = os.pipe()
    try:
        key = poll.register(r, "data")
        assert poll.get_key(r) is key and key.data == "data" and key.fd == r
        assert poll.select(0) == []
        os.write(w, b"x")
        assert poll.select(0) == [(key, EVENT_READ)]
        with pytest.raises(KeyError):
            poll.register(r, "again")  # the Loop ignores a second registration
        assert poll.unregister(r) is key
        assert poll.select(0) == []
        with pytest.raises(KeyError):
            poll.unregister(r)
        with pytest.raises(KeyError):
            poll.get_key(r)
    finally:
        os.close(r)
        os.close(w)


def test_a_closed_socket_is_unregistered_by_identity():
    """A socket closed before its unregister (fileno -1) is found by identity, as
    selectors does: a container's listener closed first must not stay registered."""
    poll = _Epoll()
    a, b = socket.socketpair()
    try:
        fd = a.fileno()
        key = poll.register(a, None)
        a.close()
        assert poll.unregister(a) is key
        assert fd not in poll.keys
    finally:
        b.close()


def test_an_invalid_object_is_a_value_error():
    poll = _Epoll()
    with pytest.raises(ValueError):
        poll.register(-1, None)
    closed = socket.socket(socket.AF_UNIX)
    closed.close()
    with pytest.raises(ValueError):
        poll.register(closed, None)
    with pytest.raises(ValueError):
        poll.unregister(closed)


def test_a_hangup_is_a_read_event():
    """A peer's close wakes the reader (its callback reads the end of file), with the mask
    selectors gives: EVENT_READ."""
    poll = _Epoll()
    a, b = socket.socketpair()
    try:
        key = poll.register(a, None)
        b.close()
        assert poll.select(0) == [(key, EVENT_READ)]
    finally:
        a.close()
