"""Talking to a running container from another process: stop, reboot, wait for a state.

lxc-stop's clean shutdown is done from the caller's side, as LXC does: signal init through a
pidfd, then wait for STOPPED on the command socket; the hard stop is the supervisor's `stop`.
"""

import os
import signal
import time

from ..config.values import signal_name
from ..errors import LxcError, NotRunning
from ..kernel import libc
from . import commands, protocol
from ..kernel.fdlimit import readable

SIGRTMIN_3 = signal.SIGRTMIN + 3


def caught_signals(init_pid):
    """Signals init will see: those it catches (SigCgt) or blocks to take them with
    sigwait/signalfd (SigBlk, busybox init). PID 1 of a namespace drops all the others."""
    mask = 0
    try:
        with open(f"/proc/{init_pid}/status") as handle:
            for line in handle:
                if line.startswith(("SigCgt:", "SigBlk:")):
                    mask |= int(line.split()[1], 16)
    except OSError:
        pass
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


def waits_for_signals(init_pid):
    """An init sleeping in sigtimedwait (busybox) takes signals it neither catches nor shows
    as blocked: /proc cannot tell which, so give it the benefit of the doubt."""
    try:
        with open(f"/proc/{init_pid}/wchan") as handle:
            return "sigtimedwait" in handle.read()
    except OSError:
        return False


def initctl_fifo(init_pid, pidfd=None):
    """sysvinit's control FIFO inside the container ("run/initctl"), if its init listens on
    one. Looked up below init's root with openat2 RESOLVE_IN_ROOT and no link allowed: a
    link there (to the host's own /run/initctl) must not make us ask the host to halt."""
    for path in ("run/initctl", "dev/initctl"):
        fd = _open_initctl(init_pid, path, pidfd)
        if fd is not None:
            os.close(fd)
            return path
    return None


def init_root(init_pid, pidfd):
    """An O_PATH fd of the root of the process PIDFD names, which must be INIT_PID, or None.

    /proc/PID/root by a bare pid would be the root of whatever process has that pid when it
    is opened: once init has exited, its pid may be reused by a host process, whose root is
    the host's (and a halt request written to "its" /run/initctl would halt the host). So:
    the pidfd (the monitor's own, which cannot name another process) must name INIT_PID
    before the open and still be alive after it; then the directory opened was init's."""
    from ..kernel.rootpath import open_root

    if pidfd is None or libc.pidfd_pid(pidfd) != init_pid:
        return None
    try:
        fd = open_root(f"/proc/{init_pid}/root")
    except OSError:
        return None
    if libc.pidfd_pid(pidfd) != init_pid:
        os.close(fd)
        return None
    return fd


def _open_initctl(init_pid, path, pidfd):
    """An O_PATH fd of the FIFO PATH in init's root, or None."""
    import stat

    from ..kernel.rootpath import NO_LINKS, open_in_root

    root = init_root(init_pid, pidfd)
    if root is None:
        return None
    try:
        fd = open_in_root(root, path, resolve=NO_LINKS)
    except OSError:
        return None
    finally:
        os.close(root)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def handles(init_pid, sig, patience=1.0):
    """Does init handle SIG? A just-started init may not have installed its handlers yet,
    so a "no" is re-read for up to PATIENCE seconds."""
    deadline = time.monotonic() + patience
    while True:
        if sig in caught_signals(init_pid) or waits_for_signals(init_pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def halt_action(conf, init_pid, configured=None, get_pidfd=lambda: None):
    """How to ask this init to shut down: ("signal", N) or ("initctl", fifo).

    lxc.signal.halt when set; else SIGRTMIN+3 for an init that catches it (systemd); else
    sysvinit's initctl runlevel-0 request (its SIGPWR only runs inittab's powerfail entry,
    which Debian points at a script that no longer exists); else SIGPWR."""
    value = configured or (conf.value("lxc.signal.halt") if conf is not None else None)
    if value:
        return "signal", int(value)
    caught = caught_signals(init_pid)
    if SIGRTMIN_3 in caught:
        return "signal", SIGRTMIN_3
    pidfd = get_pidfd()
    try:
        fifo = initctl_fifo(init_pid, pidfd)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    if fifo:
        return "initctl", fifo
    return "signal", signal.SIGPWR


def request_runlevel(init_pid, path, level, pidfd):
    """sysvinit's struct init_request: magic, INIT_CMD_RUNLVL, runlevel, sleeptime, padding.
    Written to the FIFO at PATH in INIT_PID's root, found again as initctl_fifo did and
    opened through its fd (never by a path a swap could redirect)."""
    import struct

    from ..kernel.rootpath import reopen

    packet = struct.pack("iiii", 0x03091969, 1, ord(level), 5).ljust(384, b"\0")
    found = _open_initctl(init_pid, path, pidfd)
    if found is None:
        raise LxcError(f"the container's /{path} is gone or no longer a FIFO",
                       hint="lxc-stop -n NAME -k kills the container")
    try:
        fd = reopen(found, os.O_WRONLY | os.O_NONBLOCK)
    finally:
        os.close(found)
    try:
        os.write(fd, packet)
    finally:
        os.close(fd)


def wait_for(lxcpath, name, states, timeout):
    """Block until NAME is in one of STATES; timeout < 0 waits forever. True when reached."""
    states = set(states)
    if timeout == 0:
        # a plain check of the current state, as lxc-wait -t 0 (a wait would time out
        # before the supervisor's first answer arrives)
        return commands.state_of(lxcpath, name) in states
    deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
    while True:
        try:
            channel = commands.Channel(commands.connect(lxcpath, name))
        except NotRunning:
            from .lxcsocket import state as lxc_state
            current = lxc_state(lxcpath, name)
            if current not in (None, "STOPPED"):
                # real LXC runs it: poll its state (its own wait protocol is not ours)
                if current in states:
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
                continue
            if "STOPPED" in states:
                return True
            # not running yet: poll once a second, as lxc-wait does
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic())))
            continue
        try:
            channel.sock.settimeout(None)
            try:
                channel.send(protocol.request(protocol.CONTAINER, "wait", states=sorted(states)))
            except (BrokenPipeError, ConnectionResetError):
                # closed between connect and send: the container stopped (its supervisor
                # closes its socket), as an end of file below says; never up to run_tool,
                # which takes a BrokenPipeError for stdout's and exits 0
                return "STOPPED" in states
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if not readable([channel.sock], remaining):  # poll: any fd number
                    return False
                try:
                    message = channel.receive()
                except ConnectionResetError:
                    message = None
                if message is None:
                    # the supervisor is gone: the container is stopped
                    return "STOPPED" in states
                commands.refused(message)
                if message.get("state") in states:
                    return True
        finally:
            channel.close()


def _wait_lxc_reboot(lxcpath, name, old_pid, timeout):
    """True once a container real LXC runs is RUNNING with another init than OLD_PID."""
    from . import lxcsocket

    deadline = None if timeout < 0 else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        pid = lxcsocket.init_pid(lxcpath, name)
        if pid and pid != old_pid and lxcsocket.state(lxcpath, name) == "RUNNING":
            return True
        time.sleep(0.05)
    return False


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
        value = info.get("reboot_signal") or (
            conf.value("lxc.signal.reboot") if conf is not None else None)
        sig = int(value) if value else signal.SIGINT
        commands.request(lxcpath, name, "signal", signal=sig, reboot=True)
        if timeout != 0 and info.get("started_by") == "lxc":
            # LXC's monitor reboots within itself, too fast for a poll to see STOPPING:
            # the new init's pid tells
            if not _wait_lxc_reboot(lxcpath, name, init_pid, timeout):
                raise LxcError(f"{name} did not reboot within {timeout} s")
            return
        if timeout != 0:
            # the container goes through STOPPING/STARTING back to RUNNING
            if not wait_for(lxcpath, name, ["STOPPING", "STOPPED"], timeout):
                raise LxcError(f"{name} did not reboot within {timeout} s")
            if not wait_for(lxcpath, name, ["RUNNING"], timeout):
                raise LxcError(f"{name} did not come back after the reboot")
        return
    # the running container's own config decides (lxc-start -s may have changed it)
    from . import lxcsocket

    def get_pidfd():
        return lxcsocket.init_pidfd(lxcpath, name)

    kind, how = halt_action(conf, init_pid, info.get("halt_signal"), get_pidfd)
    if kind == "initctl":
        pidfd = get_pidfd()
        try:
            request_runlevel(init_pid, how, "0", pidfd)
        finally:
            if pidfd is not None:
                os.close(pidfd)
    elif timeout != 0 and not handles(init_pid, how):
        # PID 1 ignores a signal it has no handler for: waiting would only waste the timeout.
        from .. import log
        if nokill:
            raise LxcError(f"{name}'s init does not handle {signal_name(how)}: it "
                           "would never stop", hint="set lxc.signal.halt to a signal it acts "
                           "on, or use lxc-stop -k")
        log.warn(f"{name}'s init does not handle {signal_name(how)}: killing it")
        commands.request(lxcpath, name, "stop")
        if timeout != 0:
            wait_for(lxcpath, name, ["STOPPED"], 10)
        return
    else:
        commands.request(lxcpath, name, "signal", signal=how)
    if timeout == 0:
        return
    if wait_for(lxcpath, name, ["STOPPED"], timeout):
        return
    if nokill:
        raise LxcError(f"{name} did not stop within {timeout} s",
                       hint="lxc-stop -n NAME -k kills it; without --nokill that happens by itself")
    try:
        commands.request(lxcpath, name, "stop")
    except NotRunning:
        return
    wait_for(lxcpath, name, ["STOPPED"], 10)
