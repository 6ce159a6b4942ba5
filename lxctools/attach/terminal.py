"""Relaying a container pty to the caller's terminal: lxc-start -F (the terminal is the
console) and lxc-console (with LXC's escape sequence: PREFIX q detaches, PREFIX PREFIX sends
PREFIX itself)."""

import fcntl
import os
import selectors
import signal
import struct
import termios
import tty


def copy_window_size(from_fd, to_fd):
    try:
        size = fcntl.ioctl(from_fd, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(to_fd, termios.TIOCSWINSZ, size)
    except OSError:
        pass


class RawMode:
    """The caller's terminal in raw mode for the duration, restored however we leave."""

    def __init__(self, fd):
        self.fd = fd
        self.saved = None

    def __enter__(self):
        try:
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        except termios.error:
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSAFLUSH, self.saved)


class ForegroundRelay:
    """lxc-start -F on a terminal: stdin -> console master -> stdout, inside the supervisor's
    own select loop."""

    def __init__(self, supervisor, master):
        self.supervisor = supervisor
        self.master = master
        self.raw = RawMode(0)

    def start(self):
        self.raw.__enter__()
        copy_window_size(0, self.master)
        signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(0, self.master))
        loop = self.supervisor.loop
        loop.register(0, self.on_stdin)
        loop.register(self.master, self.on_master)

    def on_stdin(self, _mask):
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            self.supervisor.loop.unregister(0)
            return
        write_all(self.master, data)

    def on_master(self, _mask):
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if not data:
            self.supervisor.loop.unregister(self.master)
            return
        write_all(1, data)
        self.supervisor.console_output(data)

    def stop(self):
        for fd in (0, self.master):
            self.supervisor.loop.unregister(fd)
        signal.signal(signal.SIGWINCH, signal.SIG_DFL)
        self.raw.__exit__(None, None, None)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            from ..kernel.fdlimit import wait_writable
            wait_writable(fd, 1.0)
            continue
        except OSError:
            return
        view = view[written:]


def escape_code(text):
    """LXC's -e PREFIX: "^a" or "a" -> Ctrl-a (1). An unknown spelling disables escaping."""
    letter = text[1:] if text.startswith("^") else text
    if len(letter) == 1 and "a" <= letter <= "z":
        return ord(letter) - ord("a") + 1
    if len(letter) == 1 and "A" <= letter <= "Z":
        return ord(letter) - ord("A") + 1
    return None


def proxy(master, escape, extra_fds=()):
    """lxc-console's loop: returns when PREFIX q is typed or the pty closes."""
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "in")
    selector.register(master, selectors.EVENT_READ, "out")
    for fd in extra_fds:
        selector.register(fd, selectors.EVENT_READ, "peer")
    copy_window_size(0, master)
    old = signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(0, master))
    pending_escape = False
    try:
        with RawMode(0):
            while True:
                for key, _mask in selector.select():
                    if key.data == "peer":
                        return
                    if key.data == "out":
                        try:
                            data = os.read(master, 65536)
                        except OSError:
                            data = b""
                        if not data:
                            return
                        write_all(1, data)
                        continue
                    data = os.read(0, 4096)
                    if not data:
                        return
                    out = bytearray()
                    for byte in data:
                        if pending_escape:
                            pending_escape = False
                            if byte == ord("q"):
                                write_all(master, bytes(out))
                                return
                            out.append(byte)
                        elif escape is not None and byte == escape:
                            pending_escape = True
                        else:
                            out.append(byte)
                    write_all(master, bytes(out))
    finally:
        signal.signal(signal.SIGWINCH, old)
        selector.close()


def pack_winsize(rows, cols):
    return struct.pack("HHHH", rows, cols, 0, 0)
