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
        _state["path"] = os.path.abspath(logfile)


def enabled(level):
    """True when a line at LEVEL would be written (to skip work done only for the log)."""
    return _state["file"] is not None and LEVELS.index(level) >= _state["level"]


def target():
    """What -o/-l asked for, for a process that logs on this tool's behalf (the supervisor
    starting a container in the background): None without -o."""
    handle = _state["file"]
    if handle is None:
        return None
    return {"logfile": _state.get("path"), "priority": LEVELS[_state["level"]],
            "prog": _state["prog"]}


class borrowed:
    """`with borrowed(TARGET, NAME):` log to a tool's -o file at its -l level while the
    supervisor starts NAME for it (LXC's monitor writes the start to lxc-start's -o log),
    then back to the supervisor's own (none). A file that cannot be opened is skipped: the
    tool opened it a moment ago, and the start must not fail over its log."""

    def __init__(self, spec, name):
        self.spec = spec
        self.name = name
        self.saved = None

    def __enter__(self):
        if not self.spec or not self.spec.get("logfile"):
            return self
        self.saved = dict(_state)
        try:
            setup(self.spec.get("prog") or "lxc-start", self.name, self.spec["logfile"],
                  self.spec.get("priority"), quiet=True)
        except Exception:  # noqa: BLE001 - see the docstring
            _state.clear()
            _state.update(self.saved)
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            handle = _state["file"]
            _state.clear()
            _state.update(self.saved)
            if handle is not None and handle is not _state["file"]:
                handle.close()


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
    try:
        handle.write(f"{_state['prog']} {_state['name']} {stamp} {level:<8} {category} - "
                     f"{message}\n")
    except (OSError, ValueError):
        pass  # a full disk or a closed file: the log is no reason to fail


def debug(message, category="lxctools"):
    log("DEBUG", message, category)


def info(message, category="lxctools"):
    log("INFO", message, category)


def warn(message):
    """A warning: to the log file, and to stderr unless -q (or into the list `collecting`
    gathers instead)."""
    gathered = _state.get("collect")
    if gathered is not None:
        gathered.append(message)
        return
    log("WARN", message)
    if not _state["quiet"]:
        try:
            print(f"{_state['prog']}: warning: {message}", file=sys.stderr)
        except (OSError, ValueError):
            # stderr gone (a supervisor whose starter has exited, e.g. python-lxc's caller:
            # its stderr was a socket): a warning must not fail what it warns about
            pass


class collecting:
    """`with collecting() as warnings:` the warnings said meanwhile go into the list instead
    of stderr and the log: the supervisor working out an attach for the compiled lxc-attach
    (attach/facts.py), which hands any warning to the Python tool to say in its words."""

    def __enter__(self):
        self.saved = _state.get("collect")
        _state["collect"] = []
        return _state["collect"]

    def __exit__(self, *exc):
        _state["collect"] = self.saved
        return False


def error(message, category="lxctools"):
    log("ERROR", message, category)
