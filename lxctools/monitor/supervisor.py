"""A container's supervisor (LXC's "[lxc monitor]"): one Supervisor object per container.

The Supervisors of every container started in the background run in one process per
lxcpath (daemon.py), on one event loop (Loop); lxc-start -F and lxc-execute run theirs in
their own process (daemon.launch). A Supervisor owns the command socket (its existence
means "active"), the cgroups, the console ptys and the host side of the network; it forks
the container (payload.py), walks the start sequence with it, then serves commands
(protocol.py) until init exits, cleans up, and reboots the container when init asked for
it (lxc-behaviour.md 4.4).

Size: the Supervisor is one container's whole life (boot, serve, stop, reboot, take-over),
in one class; its start sequence is to become a plan of steps shared with payload.py and
--explain (issue 20, item 2), which is where it will shrink.
"""

import json
import os
import selectors
import signal
import socket
import sys

from .. import log
from ..errors import LxcError
from ..paths import command
from ..kernel import libc
from . import protocol, wire
from .protocol import ErrorReply, OkReply, reply
from ..spawn.payload import (  # noqa: F401 - DEFAULT_NAMESPACES, clone_flags: for their readers here
    DEFAULT_NAMESPACES, NS_FLAGS, clone_flags)
from ..spawn.start import StartFailed


class Unsettled(LxcError):
    """A record of the container is left by a supervisor that died: settle it first."""

# states in which a record's live init is a running container (adopted); an init recorded
# in any other state is that of a start that never finished (undone)
RUNNING_STATES = ("RUNNING", "FREEZING", "FROZEN", "THAWED", "STOPPING")


def hold_name(lxcpath, name):
    """Bind and listen on NAME's command socket; None when a live supervisor holds it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind(wire.socket_name(lxcpath, name))
    except OSError:
        sock.close()
        return None
    # the kernel's maximum: a hundred parallel commands for one container must wait in the
    # queue, not be refused (a client's connect waits for room: commands.connect)
    sock.listen(socket.SOMAXCONN)
    return sock


def monitor_status(status):
    """The exit status lxc-monitor shows for init's wait STATUS. A halt or poweroff (reboot(2)
    in a PID namespace ends its init with SIGINT) and a reboot (SIGHUP) are clean ends: 0,
    what LXC shows (it prints WEXITSTATUS, 0 for any signal). Any other signal is a kill:
    128+N, where LXC would say 0 too (our deliberate difference: a killed init is not a
    clean stop)."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        return 0 if signum in (signal.SIGINT, signal.SIGHUP) else 128 + signum
    return os.waitstatus_to_exitcode(status)


class Loop:
    """One select loop for every container a process supervises (one with lxc-start -F and
    lxc-execute, all of an lxcpath in the daemon): fds, signals, and children to reap."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.children = {}  # pid -> callback(status), for children that are not inits
        self.on_terminate = []
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.register(self._wake_r, self._on_wake)

    def register(self, fd, callback):
        try:
            self.selector.register(fd, selectors.EVENT_READ, callback)
        except (KeyError, ValueError):
            pass

    def unregister(self, fd):
        try:
            self.selector.unregister(fd)
        except (KeyError, ValueError):
            pass

    def run(self, until):
        while not until():
            for key, mask in self.selector.select(timeout=1.0):
                # An earlier callback of this same batch may have unregistered this fd (a
                # container whose init exited closes its listener) or even registered a new
                # one under the same number: such an event is stale, never dispatched.
                if self._registered(key):
                    self.dispatch(key.data, mask)
            self.dispatch(lambda _mask: self.reap(), 0)

    def _registered(self, key):
        try:
            return self.selector.get_key(key.fd) is key
        except (KeyError, ValueError):
            return False

    @staticmethod
    def dispatch(callback, mask):
        """One callback. An exception in it is logged and the loop goes on: in the lxcpath's
        supervisor one container's error must not take every other container's supervision
        down with it (its death used to leave them to be adopted, with wrong answers to
        every command meanwhile)."""
        try:
            callback(mask)
        except Exception:  # noqa: BLE001 - see above
            import traceback
            log.error("supervisor: " + traceback.format_exc().replace("\n", " | "))

    def _on_wake(self, _mask):
        try:
            signums = os.read(self._wake_r, 64)
        except OSError:
            return
        if signal.SIGTERM in signums or signal.SIGINT in signums or signal.SIGHUP in signums:
            for callback in list(self.on_terminate):
                callback()

    def reap(self):
        """Collect exited children: spawners, hooks' strays, and processes that escaped a
        dying container; inits are reaped by their supervisor through its pidfd."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            callback = self.children.pop(pid, None)
            if callback is not None:
                self.dispatch(lambda _mask, c=callback, st=status: c(st), 0)

    def close(self):
        signal.set_wakeup_fd(-1)
        self.unregister(self._wake_r)
        os.close(self._wake_r)
        os.close(self._wake_w)


class Supervisor:
    def __init__(self, request, report_fd=None, loop=None, on_done=None, on_event=None):
        self.request = request
        self.name = request.name
        self.lxcpath = request.lxcpath
        self.conf = request.conf
        self.report_fd = report_fd
        self.state = "STOPPED"
        self.init_pid = -1
        self.init_pidfd = -1
        self.exit_status = None
        self.listener = None
        self.lxc_server = None  # LXC's command socket (lxcsocket.Server) while bound
        self.loop = loop
        self.on_done = on_done
        self.on_event = on_event  # the daemon's broadcast to lxc-monitor
        self.done = False
        self.relay = None
        self.waiters = []  # (channel, wanted states)
        self.clients = {}
        self.cgroups = None
        self.network_state = None
        self.apparmor = None  # security/apparmor.Decision of the running start
        self.console_master = None
        self.tty_masters = []
        self.pty_slaves = []  # the console's, held (take_ptys)
        self.tty_peers = {}  # tty -> its slave, opened while an lxc-console holds it
        self.tty_busy = {}
        self.console_busy = None
        self.console_log = None
        self.stop_requested = False
        self.reboot_requested = False
        self.started_at = None
        self.foreground_tty = request.foreground and os.isatty(0) and not request.passthrough_stdio
        self.cgroups_claim = None  # the cgroups about to be made (recorded before the mkdir)
        self._request_json = None

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self):
        """Foreground: supervise this one container in this process until it stops for good;
        returns init's exit code."""
        libc.set_child_subreaper()
        self.loop = Loop()
        self.loop.on_terminate.append(self.on_terminate)
        try:
            self.launch()
            self.loop.run(lambda: self.done)
        finally:
            self.loop.close()
        return self.exit_code()

    def launch(self):
        """Bind the command socket and boot; raises (after cleaning up) when the boot fails.
        Unsettled when a dead supervisor's record of this container is still there: the
        caller settles it (daemon.recover: its init may still run) and launches again."""
        self.bind()
        if os.path.exists(os.path.join(wire.state_dir(self.lxcpath), self.name)):
            self.unbind()
            raise Unsettled(f"{self.name} has a record left by a supervisor that died")
        try:
            self.boot_or_abort()
        except BaseException as exc:
            self.report(exc)
            self.unbind()
            self.done = True
            raise
        self.report(None)

    def boot_or_abort(self):
        try:
            self.boot()
        except BaseException:
            self.set_state("ABORTING")
            self.cleanup()
            self.set_state("STOPPED")
            raise
        self.loop.register(self.init_pidfd, self.on_init_exit)
        if self.foreground_tty:
            from ..attach.terminal import ForegroundRelay
            self.relay = ForegroundRelay(self, self.console_master)
            self.relay.start()

    def on_terminate(self):
        # the supervisor itself is being stopped: its container goes with it
        if not self.foreground_tty:
            self.stop_requested = True
            self.kill_init(signal.SIGKILL)

    def on_init_exit(self, _mask):
        """Init's pidfd is readable: it has exited. Its status comes through the loop's
        reaping (the one place that calls waitpid(-1), so no status is ever lost)."""
        self.loop.reap()
        if self.init_pidfd < 0 or self.exit_status is not None:
            return
        try:
            pid, status = os.waitpid(self.init_pid, os.WNOHANG)
        except ChildProcessError:
            self.init_exited(0)  # adopted after a supervisor crash: not our child
            return
        if pid:
            self.init_exited(status)

    def init_exited(self, status):
        if self.exit_status is not None or self.init_pidfd < 0:
            return
        self.exit_status = status
        if self.on_event is not None:
            self.on_event(self.name, {"exited": monitor_status(status)})
        for channel, _wanted in self.waiters:
            try:
                channel.send({"exited": monitor_status(status)})
            except OSError:
                pass
        self.loop.unregister(self.init_pidfd)
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        try:
            reboot = self.finish()
        except Exception:  # noqa: BLE001 - the container is gone: what follows must happen
            import traceback
            log.error(f"stopping {self.name}: " + traceback.format_exc().replace("\n", " | "))
            reboot = False
        if reboot:
            try:
                self.boot_or_abort()
                return
            except BaseException as exc:  # noqa: BLE001 - a failed reboot is a stop
                log.error(f"reboot failed: {exc}")
        self.unbind()
        if self.conf.value("lxc.ephemeral") == "1":
            self.destroy_ephemeral()
        self.done = True
        if self.on_done is not None:
            self.on_done(self)

    def exit_code(self):
        status = self.exit_status
        if status is None:
            return 1
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        return os.waitstatus_to_exitcode(status)

    def report(self, exc):
        if self.report_fd is None:
            return
        if exc is None:
            message = {"ok": True, "pid": self.init_pid}
        elif isinstance(exc, LxcError):
            message = {"error": str(exc), "hint": exc.hint}
        else:
            message = {"error": f"{type(exc).__name__}: {exc}", "hint": None}
        try:
            os.write(self.report_fd, json.dumps(message).encode())
            os.close(self.report_fd)
        except OSError:
            pass
        self.report_fd = None

    # -- the command socket and the record -----------------------------------------------------
    def bind(self):
        """Take NAME's command socket. Binding its abstract address is also the container's
        lock: only one live supervisor can hold it, and the kernel lets go of it when that
        supervisor dies (even by SIGKILL), so whoever binds it next may settle what the dead
        one left (take_over)."""
        sock = hold_name(self.lxcpath, self.name)
        if sock is None:
            raise LxcError("Container is already running", exit_code=0)
        try:
            # LXC's own command socket too (monitor/lxcsocket.py): real LXC's tools and
            # python3-lxc see, enter, wait for and stop the container; taken means real LXC
            # runs it
            from .lxcsocket import Server
            self.lxc_server = Server(self).open()
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        self.listener = sock
        self.loop.register(sock, self.accept)

    def record(self, required=False):
        """Write the container's record (temp + rename: readers see the old or the new one).
        Written at every step of a start that leaves something a crash would orphan: the
        cgroups before they are made, init's pid before it may exec. REQUIRED writes raise:
        a start whose init could outlive us unrecorded must not go on."""
        from .wire import process_start_time

        data = {"name": self.name, "lxcpath": self.lxcpath, "monitor_pid": os.getpid(),
                "init_pid": self.init_pid, "state": self.state,
                "init_start": process_start_time(self.init_pid) if self.init_pid > 0 else None,
                "started_at": self.started_at,
                "cgroups": self.cgroups.to_json() if self.cgroups else self.cgroups_claim,
                "cgroups_made": self.cgroups is not None,
                "network": self.network_state.record() if self.network_state else None,
                # a generated AppArmor profile to unload at the stop (adopter's job too)
                "apparmor": (list(self.apparmor.generated)
                             if self.apparmor is not None and self.apparmor.generated else None)}
        if self._request_json is None:
            from ..spawn.start import request_to_json
            self._request_json = json.dumps(request_to_json(self.request))
        text = json.dumps(data)[:-1] + ', "request": ' + self._request_json + "}"
        # temp + rename without fsync: /run is a tmpfs and the record only lives until reboot
        directory = wire.state_dir(self.lxcpath)
        path = os.path.join(directory, self.name)
        temp = f"{path}.{os.getpid()}.tmp"
        # 0600: the record holds the running config (environment, hooks); only its owner
        # (who alone adopts and lists from this run dir) reads it
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            try:
                fd = os.open(temp, flags, 0o600)
            except FileNotFoundError:
                # the first record of the lxcpath, or the last supervisor's unbind() has just
                # removed the empty directory
                os.makedirs(directory, mode=0o755, exist_ok=True)
                fd = os.open(temp, flags, 0o600)
            os.fchmod(fd, 0o600)
            with open(fd, "w") as handle:
                handle.write(text)
            os.replace(temp, path)
        except OSError as exc:
            if required:
                raise StartFailed(f"cannot write the record of {self.name} in {directory}: "
                                  f"{exc.strerror}", hint="free space in /run (df /run)") from None
            log.error(f"record of {self.name}: {exc}")

    def unbind(self):
        # the record goes first: a record whose socket does not listen means "a supervisor
        # died here" to everyone else (commands.connect), and must never mean "stopping"
        directory = wire.state_dir(self.lxcpath)
        if self.listener is not None:
            try:
                os.unlink(os.path.join(directory, self.name))
            except OSError:
                pass
            try:
                os.rmdir(directory)  # only when it was the last one of its lxcpath
            except OSError:
                pass
            self.loop.unregister(self.listener)
            self.listener.close()
            self.listener = None
        for channel in list(self.clients.values()):
            self.drop_client(channel)
        if self.lxc_server is not None:
            self.lxc_server.close()
            self.lxc_server = None

    def set_state(self, state, required=False):
        self.state = state
        # on record before anyone hears of it: what a command was told, a crash cannot undo
        if self.listener is not None:
            self.record(required=required)
        log.info(f"state {state}")
        if self.on_event is not None:
            self.on_event(self.name, {"state": state})
        if self.lxc_server is not None:
            self.lxc_server.state_changed(state)
        still = []
        for channel, wanted in self.waiters:
            try:
                channel.send(reply(protocol.StateReply, state=state))
            except OSError:
                continue
            if state in wanted:
                self.drop_client(channel)
            else:
                still.append((channel, wanted))
        self.waiters = still

    def accept(self, _mask):
        if self.listener is None:
            return  # unbound meanwhile (Loop.run skips such events; this is the belt)
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        uid = int.from_bytes(creds[4:8], sys.byteorder)
        if uid not in (0, os.geteuid()):
            sock.close()
            return
        sock.setblocking(True)
        sock.settimeout(5)
        channel = wire.Channel(sock)
        self.clients[sock.fileno()] = channel
        self.loop.register(sock, lambda _m, c=channel: self.on_command(c))

    def drop_client(self, channel):
        fileno = channel.sock.fileno()
        if fileno < 0:
            return
        self.loop.unregister(channel.sock)
        self.clients.pop(fileno, None)
        for tty, holder in list(self.tty_busy.items()):
            if holder is channel:
                del self.tty_busy[tty]
                self.release_tty_peer(tty)
        if self.console_busy is channel:
            self.console_busy = None
            if self.console_master is not None:
                self.watch_console()
        channel.close()

    def on_command(self, channel):
        """One request from a client (protocol.CONTAINER); whatever arrives, this container
        goes on being served: a message that is no request gets an ErrorReply saying why."""
        try:
            message = channel.receive()
            request = None if message is None else protocol.decode(message, protocol.CONTAINER)
        except OSError:
            message = request = None
        except (ValueError, RecursionError, protocol.ProtocolError) as exc:
            if not isinstance(exc, protocol.ProtocolError):
                exc = protocol.ProtocolError("not a JSON object: a request is one JSON object "
                                             "per line")
            try:
                channel.send(protocol.error(exc))
            except OSError:
                pass
            request = None
        if request is None:
            self.drop_client(channel)
            return
        try:
            if self.HANDLERS[type(request)](self, channel, request) is not False:
                return
        except OSError:
            pass
        self.drop_client(channel)

    # each cmd_* answers its protocol request; returning True keeps the connection open
    # (waiters, consoles). HANDLERS, after them, is the dispatch table.
    def cmd_state(self, channel, _request):
        channel.send(reply(protocol.StateReply, state=self.current_state()))

    def current_state(self):
        if self.state == "RUNNING" and self.cgroups is not None:
            try:
                frozen = self.cgroups.freezer_state()
            except (OSError, LxcError, AttributeError):
                frozen = None
            if frozen in ("FROZEN", "FREEZING"):
                return frozen
        return self.state

    def cmd_info(self, channel, request):
        channel.send(reply(
            protocol.InfoReply, state=self.current_state(), init_pid=self.init_pid,
            monitor_pid=os.getpid(), cgroups=self.cgroups.to_json() if self.cgroups else None,
            network=self.network_json(), config_file=self.request.config_file,
            started_at=self.started_at, halt_signal=self.conf.value("lxc.signal.halt"),
            conf=self.conf.items, reboot_signal=self.conf.value("lxc.signal.reboot"),
            clone_flags=self.plan.clone_flags if hasattr(self, "plan") else 0,
            **({"stats": self.cgroups.stats() if self.cgroups is not None else {}}
               if request.stats else {})))

    def network_json(self):
        state = self.network_state
        if state is None:
            return None
        for attr in ("to_json", "as_dict"):
            if hasattr(state, attr):
                return getattr(state, attr)()
        return None

    def cmd_wait(self, channel, request):
        wanted = set(request.states)
        state = self.current_state()
        channel.send(reply(protocol.StateReply, state=state))
        if state in wanted:
            return False
        self.waiters.append((channel, wanted))
        return True

    def cmd_stop(self, channel, _request):
        """Hard stop (lxc-stop -k): SIGKILL init; a frozen container is thawed to let it die."""
        self.stop_requested = True
        self.kill_init(signal.SIGKILL)
        if self.cgroups is not None:
            try:
                self.cgroups.unfreeze()
            except (OSError, LxcError, AttributeError):
                pass
        channel.send(reply(OkReply))

    def cmd_freeze(self, channel, _request):
        if self.cgroups is None or self.state != "RUNNING":
            channel.send(reply(ErrorReply, error=f"Failed to freeze {self.lxcpath}:{self.name}"))
            return False
        if self.current_state() != "FROZEN":
            self.notify("FREEZING")
            try:
                self.cgroups.freeze()
            except LxcError as exc:
                channel.send(protocol.error(exc))
                return False
            self.notify("FROZEN")
        channel.send(reply(OkReply))
        return False

    def cmd_unfreeze(self, channel, _request):
        if self.cgroups is not None and self.current_state() in ("FROZEN", "FREEZING"):
            try:
                self.cgroups.unfreeze()
            except LxcError as exc:
                channel.send(protocol.error(exc))
                return False
            self.notify("THAWED")
            self.notify("RUNNING")
        channel.send(reply(OkReply))
        return False

    def cmd_cgroup(self, channel, request):
        """lxc-cgroup: read or write one file of the container's cgroups."""
        if self.cgroups is None:
            channel.send(reply(ErrorReply, error="the container has no cgroups"))
            return False
        key = request.key
        try:
            if request.value is None:
                channel.send(reply(protocol.CgroupReply, value=self.cgroups.get(key)))
            else:
                self.cgroups.set(key, request.value)
                if "devices." in key:
                    self.record()  # the device program's new id and list, for an adopter
                channel.send(reply(OkReply))
        except (OSError, LxcError) as exc:
            # the CLI prints LXC's line; what went wrong exactly travels as the detail
            channel.send(reply(ErrorReply,
                               error=f"Failed to {'get' if request.value is None else 'set'}"
                                     f" {key} for {self.name}",
                               detail=str(exc), hint=getattr(exc, "hint", None)))
        return False

    def cmd_stats(self, channel, _request):
        stats = self.cgroups.stats() if self.cgroups is not None else {}
        channel.send(reply(protocol.StatsReply, stats=stats))
        return False

    def notify(self, state):
        """A transient state (FREEZING/FROZEN/THAWED) for waiters and lxc-monitor; the stored
        state stays RUNNING and current_state() reads the freezer."""
        if self.on_event is not None:
            self.on_event(self.name, {"state": state})
        if self.lxc_server is not None:
            self.lxc_server.state_changed(state)
        still = []
        for waiter, wanted in self.waiters:
            try:
                waiter.send(reply(protocol.StateReply, state=state))
            except OSError:
                continue
            if state in wanted:
                self.drop_client(waiter)
            else:
                still.append((waiter, wanted))
        self.waiters = still

    def cmd_signal(self, channel, request):
        if request.reboot:
            self.reboot_requested = True
        self.kill_init(request.signal)
        channel.send(reply(OkReply))

    def cmd_console(self, channel, request):
        """Hand out a tty master (lxc-console): -t 0 is the console, N is ttyN, -1 the first
        free tty. The fd stays this client's until it disconnects."""
        wanted = request.tty
        if wanted == 0 or (wanted == -1 and not self.tty_masters):
            if self.console_master is None:
                channel.send(reply(ErrorReply, error="the container has no console "
                                                     "(lxc.console.path = none)"))
                return False
            if self.console_busy is not None:
                channel.send(reply(ErrorReply,
                                   error="the console is in use by another lxc-console"))
                return False
            self.console_busy = channel
            self.unwatch_console()
            channel.send(reply(protocol.ConsoleReply, tty=0), fds=[self.console_master])
            return True
        if wanted == -1:
            free = [i for i in range(1, len(self.tty_masters) + 1) if i not in self.tty_busy]
            if not free:
                channel.send(reply(ErrorReply, error="all ttys are in use"))
                return False
            wanted = free[0]
        if not 1 <= wanted <= len(self.tty_masters):
            channel.send(reply(ErrorReply, error=f"tty {wanted} does not exist (lxc.tty.max = "
                                   f"{len(self.tty_masters)})"))
            return False
        if wanted in self.tty_busy:
            channel.send(reply(ErrorReply,
                               error=f"tty {wanted} is in use by another lxc-console"))
            return False
        master = self.tty_masters[wanted - 1]
        try:
            # while the client holds it, the tty has an open slave even if nothing inside
            # opened it: the client's reads wait instead of failing with EIO (hung up)
            from ..kernel.pty import slave_of
            self.tty_peers[wanted] = slave_of(master)
        except OSError as exc:
            channel.send(reply(ErrorReply, error=f"tty {wanted}: {exc.strerror}"))
            return False
        self.tty_busy[wanted] = channel
        channel.send(reply(protocol.ConsoleReply, tty=wanted), fds=[master])
        return True

    HANDLERS = {protocol.StateRequest: cmd_state, protocol.InfoRequest: cmd_info,
                protocol.WaitRequest: cmd_wait, protocol.StopRequest: cmd_stop,
                protocol.FreezeRequest: cmd_freeze, protocol.UnfreezeRequest: cmd_unfreeze,
                protocol.CgroupRequest: cmd_cgroup, protocol.StatsRequest: cmd_stats,
                protocol.SignalRequest: cmd_signal, protocol.ConsoleRequest: cmd_console}

    def release_tty_peer(self, tty):
        fd = self.tty_peers.pop(tty, None)
        if fd is not None:
            os.close(fd)

    def kill_init(self, sig):
        if self.init_pidfd >= 0:
            try:
                libc.pidfd_send_signal(self.init_pidfd, sig)
            except OSError:
                pass

    # -- boot ---------------------------------------------------------------------------------
    def boot(self):
        """One start of the container: the host's steps of the start plan (startplan.py),
        the container's run by the processes it forks."""
        from ..spawn import startplan

        boot = startplan.Boot(self)
        startplan.run_host(startplan.plan_start(self.conf), boot)

    def expect(self, sync, *kinds):
        """The next message of the start (sync.py), one of KINDS; a Failed one, any
        other, or the container side's death ends the start with StartFailed."""
        from ..spawn.sync import Failed

        message = sync.receive()
        if message is None:
            raise StartFailed("the container's setup process died",
                              hint=f"run {command('lxc-start', self.request.name, self.request.lxcpath, '-F -l DEBUG -o FILE')} to see more")
        if isinstance(message, Failed):
            raise StartFailed(message.error, hint=message.hint)
        if not isinstance(message, kinds):
            raise StartFailed(f"unexpected message from the container: {message.to_wire()}")
        return message

    def init_pid_of(self, name):
        """Another container's init pid (lxc.namespace.share.KIND = NAME), asked of its
        supervisor or LXC's monitor (peers.py)."""
        from .peers import init_pid_of
        return init_pid_of(self.lxcpath, name)

    def prepare_security(self, plan):
        from .. import security
        plan.security = security.prepare(self.conf)

    def prepare_apparmor(self, plan):
        """lxc.apparmor.*: the label init execs under, a generated profile loaded
        (security/apparmor.py); undone by cleanup()."""
        from ..security import apparmor, confinement
        try:
            confinement.refuse_selinux(self.conf)
        except LxcError as exc:
            from ..network.host import locate
            raise locate(exc, self.request.config_file) from None
        self.apparmor = apparmor.prepare(self.conf, self.name, self.lxcpath)
        if self.apparmor is not None and plan.security is not None:
            plan.security.lsm_label = self.apparmor.label

    def prepare_network(self, plan):
        if not plan.clone_flags & NS_FLAGS["net"]:
            return None
        # LXC brings the loopback up when a NIC has `flags = up` (an empty NIC is the
        # loopback itself; any other brings lo up with it), and leaves it down otherwise
        nics = [self.conf.nic(i) for i in self.conf.nic_indices()]
        lo_up = any(n.get("flags") and n.get("type") != "none" for n in nics)
        if all(n.get("type") in ("empty", "none") for n in nics):
            if lo_up:
                from ..spawn.payload import loopback_up
                plan.configure_network = loopback_up
            return None  # nothing to build or check (network.plan skips these): no import
        from .. import network
        try:
            nics = network.plan(self.conf, f"{self.lxcpath}/{self.name}")
        except LxcError as exc:
            raise network.locate(exc, self.request.config_file) from None
        if not nics:
            return None
        network.check_host_side(nics, config_file=self.request.config_file)
        plan.configure_network = lambda: network.configure_inside(nics, lo_up=lo_up)
        return nics

    def prepare_usermode(self, plan):
        """lxctools.net.usermode: slirp4netns's path once the host is checked, else None."""
        if self.conf.value("lxctools.net.usermode") != "slirp4netns":
            return None
        from .. import network
        from ..network import usermode
        try:
            return usermode.check(bool(plan.clone_flags & NS_FLAGS["net"]))
        except LxcError as exc:
            raise network.locate(exc, self.request.config_file) from None

    def run_host_hook(self, hook_type):
        from ..spawn.hooks import run_hooks
        run_hooks(hook_type, self.name, self.conf, self.request.config_file or "",
                  extra_env={"LXC_PID": str(self.init_pid)})

    def open_ttys(self, plan):
        """The console log; the ptys themselves arrive with "ready" (take_ptys)."""
        logfile = self.conf.value("lxc.console.logfile")
        if plan.want_console and logfile:
            # 0600 as LXC's terminal.c, whatever the umask: the console carries what the
            # container prints, passwords typed at its getty included; a link planted at
            # the path is not followed
            try:
                fd = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise LxcError(f"lxc.console.logfile {logfile}: {exc.strerror}",
                               key="lxc.console.logfile",
                               hint="it is a symlink: give the real path" if exc.errno == 40
                               else None) from None
            self.console_log = open(fd, "ab", buffering=0)

    def take_ptys(self, plan, fds):
        """The masters the container made in its devpts, console first, then tty1..N, and
        the console's slave last. The console master is watched (drained into the log), and
        a master whose slave nobody holds reads as hung up (epoll would report it without
        end): so the console's slave stays open here. A tty's slave is opened from its
        master only while an lxc-console holds that tty (tty_peers): one descriptor less
        per tty while nobody looks, where LXC's monitor keeps both ends of every tty."""
        fds = list(fds or [])
        for fd in fds:
            os.set_inheritable(fd, False)
        self.pty_slaves = []
        if plan.want_console and plan.rootfs and fds:
            self.pty_slaves = [fds.pop()]
            self.console_master = fds.pop(0)
            if not self.foreground_tty:
                self.watch_console()
        self.tty_masters = fds

    def watch_console(self):
        self.loop.register(self.console_master, self.on_console)

    def unwatch_console(self):
        self.loop.unregister(self.console_master)

    def on_console(self, _mask):
        try:
            data = os.read(self.console_master, 65536)
        except OSError:
            data = b""
        if not data:
            self.unwatch_console()
            return
        self.console_output(data)

    def drain_console(self):
        """What init wrote last (systemd's "Powering off.") is still in the pty: read it."""
        from ..kernel.fdlimit import readable
        for _ in range(64):
            try:
                if not readable([self.console_master], 0):
                    return
                data = os.read(self.console_master, 65536)
            except OSError:
                return
            if not data:
                return
            if self.relay is not None or self.foreground_tty:
                from ..attach.terminal import write_all
                write_all(1, data)
            self.console_output(data)

    def console_output(self, data):
        if self.console_log is not None:
            self.console_log.write(data)

    # -- stopping ----------------------------------------------------------------------------
    def finish(self):
        """Init has exited: tear down; True when the container asked to reboot."""
        status = self.exit_status
        # reboot(2) in a PID namespace ends its init with SIGHUP (halt/poweroff: SIGINT)
        reboot = (not self.stop_requested and os.WIFSIGNALED(status)
                  and os.WTERMSIG(status) == signal.SIGHUP)
        self.set_state("STOPPING")
        self.loop.unregister(self.init_pidfd)
        os.close(self.init_pidfd)
        self.init_pidfd = -1
        self.run_stop_hooks("stop", reboot)
        self.cleanup()
        self.set_state("STOPPED")
        if not self.run_stop_hooks("post-stop", reboot):
            reboot = False
        return reboot

    def cleanup(self):
        usermode = getattr(self, "usermode", None)
        if usermode is not None:
            os.close(usermode)  # slirp4netns's exit fd: it leaves (the loop reaps it)
            self.usermode = None
        if self.init_pidfd >= 0:
            self.kill_init(signal.SIGKILL)
            try:
                os.close(self.init_pidfd)
            except OSError:
                pass
            self.init_pidfd = -1
        if self.cgroups is not None:
            try:
                self.cgroups.kill_all(signal.SIGKILL)
            except (OSError, LxcError, AttributeError):
                pass
            try:
                self.cgroups.destroy()
            except (OSError, LxcError) as exc:
                log.error(f"cgroup cleanup: {exc}")
            self.cgroups = None
        self.cgroups_claim = None
        apparmor = getattr(self, "apparmor", None)
        if apparmor is not None:
            self.apparmor = None
            apparmor.cleanup()  # a generated profile, once init and the cgroup are gone
        if self.network_state is not None:
            try:
                from .. import network
                network.teardown(self.network_state)
            except (OSError, LxcError, ImportError) as exc:
                log.error(f"network cleanup: {exc}")
            self.network_state = None
        if self.console_master is not None:
            try:
                self.drain_console()
            except Exception as exc:  # noqa: BLE001 - what is left of the output is not worth a leak
                log.error(f"console drain: {exc}")
            self.unwatch_console()
            try:
                os.close(self.console_master)
            except OSError:
                pass
            self.console_master = None
        for fd in (self.tty_masters + getattr(self, "pty_slaves", [])
                   + list(getattr(self, "tty_peers", {}).values())):
            try:
                os.close(fd)
            except OSError:
                pass
        self.tty_masters = []
        self.pty_slaves = []
        self.tty_peers = {}
        self.tty_busy = {}
        for fd in getattr(self, "plan", None) and self.plan.share_fds.values() or ():
            os.close(fd)

        if self.console_log is not None:
            self.console_log.close()
            self.console_log = None
        if self.request.pidfile:
            try:
                os.unlink(self.request.pidfile)
            except OSError:
                pass
        self.init_pid = -1

    def destroy_ephemeral(self):
        """lxc.ephemeral = 1: run the command the API gave (lxc-destroy of this container)."""
        if not self.request.after_stop:
            return
        import subprocess
        proc = subprocess.run(self.request.after_stop, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            log.error(f"ephemeral container not removed: {proc.stderr.strip()}")

    def claim_cgroups(self, claim):
        """Cgroups.create's word before its mkdirs (the JSON of the cgroups about to be
        made): recorded first, so a crash between the mkdir and the next record leaves a
        name the next supervisor knows to remove, not a taken NAME that pushes the next
        start to NAME-1."""
        self.cgroups_claim = claim
        self.record(required=True)

    def take_over(self, record):
        """Settle what a supervisor that died left of this container (daemon.recover), holding
        its socket: a running init is adopted (no ptys, no exit status), anything else is
        undone. An init recorded during a start that never reported back is killed, not
        adopted: nobody was told it runs, and the start's retry is about to run one; what
        dies with no supervisor gets the stop it missed. True when it runs on under us."""
        from .wire import process_start_time, read_record

        self.bind()  # "already running" when a live supervisor holds the name
        try:
            record = read_record(self.lxcpath, self.name)  # again, now that the name is ours
            if record is None:
                self.unbind()
                self.done = True
                return False
            was = record.get("state") or "STOPPED"
            self.state = was
            self.started_at = record.get("started_at")
            pid = record.get("init_pid") or -1
            if pid > 0 and process_start_time(pid) == record.get("init_start"):
                try:
                    self.init_pidfd = libc.pidfd_open(pid)
                    self.init_pid = pid
                except OSError:
                    pass
            claimed = None
            if record.get("cgroups"):
                try:
                    from ..cgroups import Cgroups
                    found = Cgroups.from_json(record["cgroups"])
                except ImportError:
                    found = None
                if record.get("cgroups_made", True):  # records before claims: made
                    self.cgroups = found
                else:
                    claimed = found
            if record.get("network"):
                # the new supervisor cleans up the host side at stop, as the old one would have
                from ..network import HostState
                self.network_state = HostState.from_record(record["network"], self.name,
                                                           self.init_pid)
            if record.get("apparmor"):
                from ..security.apparmor import Decision
                self.apparmor = Decision(None, tuple(record["apparmor"]))
            if self.init_pidfd >= 0 and was in RUNNING_STATES:
                self.set_state("RUNNING")
                self.loop.register(self.init_pidfd, self.on_init_exit)
                return True
            if self.init_pidfd >= 0 or was in ("STARTING", "ABORTING"):
                self.set_state("ABORTING")
                self.cleanup()
                if claimed is not None:
                    claimed.release_claim()
                self.set_state("STOPPED")
            else:
                self.stopped_unsupervised(was)
            self.unbind()
            self.done = True
            if was in RUNNING_STATES and self.conf.value("lxc.ephemeral") == "1":
                self.destroy_ephemeral()
            return False
        except BaseException:
            self.unbind()
            raise

    def stopped_unsupervised(self, was):
        """Init died while no supervisor watched: the rest of the stop, from where the dead
        supervisor left it (WAS, its last recorded state)."""
        if was != "STOPPED":
            self.set_state("STOPPING")
            if was != "STOPPING":
                self.run_stop_hooks("stop", reboot=False)
        self.cleanup()
        self.set_state("STOPPED")
        if was != "STOPPED":
            self.run_stop_hooks("post-stop", reboot=False)

    def run_stop_hooks(self, kind, reboot):
        """lxc.hook.stop / post-stop (LXC_TARGET says whether a reboot follows). False when
        a hook failed (logged)."""
        try:
            from ..spawn.hooks import run_hooks
            run_hooks(kind, self.name, self.conf, self.request.config_file or "",
                      extra_env={"LXC_TARGET": "reboot" if reboot else "stop"})
        except LxcError as exc:
            log.error(str(exc))
            return False
        return True


