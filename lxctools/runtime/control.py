"""Talking to a running container from another process: stop, reboot, wait for a state.

lxc-stop's clean shutdown is done from the caller's side, as LXC does: signal init through a
pidfd, then wait for STOPPED on the command socket; the hard stop is the supervisor's `stop`.
"""

import os
import select
import signal
import time

from ..errors import LxcError, NotRunning
from . import commands

SIGRTMIN_3 = signal.SIGRTMIN + 3


def halt_signal(conf, init_pid):
    """lxc.signal.halt, else SIGRTMIN+3 when init handles it (systemd), else SIGPWR."""
    value = conf.value("lxc.signal.halt") if conf is not None else None
    if value:
        return int(value)
    try:
        with open(f"/proc/{init_pid}/status") as handle:
            for line in handle:
                if line.startswith(("SigBlk:", "SigCgt:")):
                    mask = int(line.split()[1], 16)
                    if mask & (1 << (SIGRTMIN_3 - 1)):
                        return SIGRTMIN_3
    except OSError:
        pass
    return signal.SIGPWR


def send_signal(init_pid, sig):
    from ..kernel import libc

    try:
        fd = libc.pidfd_open(init_pid)
    except OSError:
        return False
    try:
        libc.pidfd_send_signal(fd, sig)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def wait_for(lxcpath, name, states, timeout):
    """Block until NAME is in one of STATES; timeout < 0 waits forever. True when reached."""
    states = set(states)
    deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
    while True:
        try:
            channel = commands.Channel(commands.connect(lxcpath, name))
        except NotRunning:
            if "STOPPED" in states:
                return True
            # not running yet: poll once a second, as lxc-wait does
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic())))
            continue
        try:
            channel.sock.settimeout(None)
            channel.send({"cmd": "wait", "states": sorted(states)})
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                ready, _, _ = select.select([channel.sock], [], [], remaining)
                if not ready:
                    return False
                try:
                    message = channel.receive()
                except ConnectionResetError:
                    message = None
                if message is None:
                    # the supervisor is gone: the container is stopped
                    return "STOPPED" in states
                if message.get("state") in states:
                    return True
        finally:
            channel.close()


def stop(lxcpath, name, conf, *, timeout=60, kill=False, nokill=False, reboot=False):
    """lxc-stop. Raises NotRunning (exit 2) when there is nothing to stop."""
    info = commands.request(lxcpath, name, "info")
    init_pid = info["init_pid"]
    if kill:
        commands.request(lxcpath, name, "stop")
        if timeout != 0:
            wait_for(lxcpath, name, ["STOPPED"], 10)
        return
    if reboot:
        value = conf.value("lxc.signal.reboot") if conf is not None else None
        sig = int(value) if value else signal.SIGINT
        commands.request(lxcpath, name, "signal", signal=sig, reboot=True)
        if timeout != 0:
            # the container goes through STOPPING/STARTING back to RUNNING
            if not wait_for(lxcpath, name, ["STOPPING", "STOPPED"], timeout):
                raise LxcError(f"{name} did not reboot within {timeout} s")
            if not wait_for(lxcpath, name, ["RUNNING"], timeout):
                raise LxcError(f"{name} did not come back after the reboot")
        return
    sig = halt_signal(conf, init_pid)
    commands.request(lxcpath, name, "signal", signal=sig)
    if timeout == 0:
        return
    if wait_for(lxcpath, name, ["STOPPED"], timeout):
        return
    if nokill:
        raise LxcError(f"{name} did not stop within {timeout} s",
                       hint="lxc-stop -k kills it; without --nokill that happens by itself")
    try:
        commands.request(lxcpath, name, "stop")
    except NotRunning:
        return
    wait_for(lxcpath, name, ["STOPPED"], 10)
