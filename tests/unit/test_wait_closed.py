"""wait_for when the supervisor closes its socket between the caller's connect and its send
(the container stopped: its supervisor closes the socket): the send fails with EPIPE. That
must read as "stopped", as an end of file does, never escape: run_tool took the
BrokenPipeError for stdout's reader gone and exited 0 with nothing said -- lxc-checkpoint -s
--migrate then ended before its final copy, "successfully" (a VM tier run saw it)."""

import socket

from lxctools.monitor import commands, control


def test_a_send_on_a_closed_connection_reads_as_stopped(tmp_path, monkeypatch):
    lxcpath = str(tmp_path)
    (tmp_path / "c1").mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(commands.socket_name(lxcpath, "c1"))
    listener.listen(8)

    def closed(self, message):  # what the kernel answers a send after the peer's close
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(commands.Channel, "send", closed)
    try:
        assert control.wait_for(lxcpath, "c1", ["STOPPED"], 5) is True
        assert control.wait_for(lxcpath, "c1", ["RUNNING"], 5) is False
    finally:
        listener.close()
