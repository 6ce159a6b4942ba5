"""A one-line progress bar on stderr: bytes done of a total, percent, rate.

Drawn only when the caller says so (stderr is a terminal and -q was not given); redrawn at
most ten times a second so that a fast extraction is not slowed by the terminal.
"""

import sys
import time


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class Progress:
    def __init__(self, label, total=None, enabled=True, stream=None, width=24):
        self.label = label
        self.total = total or None
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.monotonic()
        self.last = 0.0
        self.done_bytes = 0
        self.start_offset = 0  # bytes a resumed download already had (not part of the rate)
        self.drawn = False

    def update(self, done):
        self.done_bytes = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        self._draw(now)

    def _draw(self, now):
        elapsed = max(now - self.start, 1e-6)
        rate = max(self.done_bytes - self.start_offset, 0) / elapsed
        if self.total:
            fraction = min(self.done_bytes / self.total, 1.0)
            filled = int(fraction * self.width)
            bar = "#" * filled + " " * (self.width - filled)
            text = (f"\r{self.label} [{bar}] {fraction * 100:3.0f}%  {_size(self.done_bytes)}"
                    f" / {_size(self.total)}  {_size(rate)}/s ")
        else:
            text = f"\r{self.label} {_size(self.done_bytes)}  {_size(rate)}/s "
        self.stream.write(text + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def finish(self):
        """Leave the line clean (the caller prints its own messages)."""
        if self.enabled and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finish()
        return False
