"""Logging as LXC's tools do it: -o FILE, -l LEVEL, -q.

Errors go to stderr once (cli._common does that); this module only writes the optional log
file in LXC's line format so that people who grep LXC logs can grep ours.
"""

import os
import sys
import time

# -o FILE is made 0640 as LXC's log.c does now (5.0.2: 0660), whatever the caller's umask;
# O_NOFOLLOW: a link planted where the log goes (a shared directory) is not followed.
LOG_MODE = 0o640
LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC

LEVELS = ["TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "CRIT", "ALERT", "FATAL"]

_state = {"file": None, "level": LEVELS.index("ERROR"), "prog": "lxc", "name": "", "quiet": False}


def setup(prog, name=None, logfile=None, priority=None, quiet=False):
    _state["prog"] = prog
    _state["name"] = name or ""
    _state["quiet"] = quiet
    if priority:
        level = priority.upper()
        if level.isdigit() and int(level) < len(LEVELS):
            level = LEVELS[int(level)]
        if level == "WARNING":
            level = "WARN"
        if level in LEVELS:
            _state["level"] = LEVELS.index(level)
    if logfile and logfile != "none":
        directory = os.path.dirname(os.path.abspath(logfile))
        os.makedirs(directory, exist_ok=True)
        try:
            fd = os.open(logfile, LOG_FLAGS, LOG_MODE)
        except OSError as exc:
            from .errors import os_error
            error = os_error(exc, "cannot open the log file", logfile)
            if exc.errno == 40:  # ELOOP: O_NOFOLLOW met a link
                error.hint = "it is a symlink, not followed: give the real path"
            raise error from None
        _state["file"] = open(fd, "a", buffering=1, encoding="utf-8")


def forget_file():
    """A forked daemon drops the caller's -o FILE: it closes every inherited fd, and a later
    socket reusing the number must not receive log lines."""
    _state["file"] = None


def log(level, message, category="lxctools"):
    handle = _state["file"]
    if handle is None or LEVELS.index(level) < _state["level"]:
        return
    now = time.time()
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    handle.write(f"{_state['prog']} {_state['name']} {stamp} {level:<8} {category} - {message}\n")


def debug(message):
    log("DEBUG", message)


def info(message):
    log("INFO", message)


def warn(message):
    """A warning: to the log file, and to stderr unless -q."""
    log("WARN", message)
    if not _state["quiet"]:
        print(f"{_state['prog']}: warning: {message}", file=sys.stderr)


def error(message):
    log("ERROR", message)
