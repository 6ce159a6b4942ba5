"""network/usermode.start when slirp4netns does not come up: the error says why, in its own
words when it said any, else that it stayed silent within the time limit (a stand-in binary:
what is tested is our reading of its ready fd, not slirp4netns)."""

import os

import pytest

from lxctools.network import usermode


def _fake(tmp_path, body):
    path = tmp_path / "slirp4netns"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_silent_and_slow_says_within_the_time_limit(tmp_path):
    binary = _fake(tmp_path, "exec sleep 3")
    with pytest.raises(usermode.UsermodeError) as caught:
        exit_fd = usermode.start(binary, os.getpid(), False, timeout=0.3)
        os.close(exit_fd)
    assert "did not bring the container's network up within 0.3 s" in caught.value.message


def test_its_own_words_are_the_reason(tmp_path):
    binary = _fake(tmp_path, "echo 'WARNING: cannot open /dev/net/tun' >&2; exit 1")
    with pytest.raises(usermode.UsermodeError) as caught:
        exit_fd = usermode.start(binary, os.getpid(), False, timeout=5)
        os.close(exit_fd)
    assert caught.value.message.endswith(": WARNING: cannot open /dev/net/tun")
