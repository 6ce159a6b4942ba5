"""A supervisor's command socket served: one handler per request of protocol.CONTAINER.

Commands is a part of Supervisor (supervisor.py), the concern of answering clients: accept
a connection (root or the supervisor's own user only), decode one request, answer it through
HANDLERS (the one dispatch table, keyed by the protocol's classes), and keep the waiters
(lxc-wait) and console holders (lxc-console) it hands ttys to. It reads the rest of the
Supervisor's state (cgroups, init, ptys) and never starts or stops anything but init's
signals.
"""

import os
import _socket  # not socket.py (wire.accept)
import signal
import sys

from ..errors import LxcError
from . import protocol, wire
from .protocol import ErrorReply, OkReply, reply


def _peer_ids(sock):
    """(pid, uid) SO_PEERCRED gives, for the log."""
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    return (int.from_bytes(creds[0:4], sys.byteorder, signed=True),
            int.from_bytes(creds[4:8], sys.byteorder))


class Commands:
    """The command socket's side of a Supervisor (a mixin: its state is the Supervisor's)."""

    def accept(self, _mask):
        if self.listener is None:
            return  # unbound meanwhile (Loop.run skips such events; this is the belt)
        try:
            sock, _ = wire.accept(self.listener)
        except OSError:
            return
        creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        uid = int.from_bytes(creds[4:8], sys.byteorder)
        if uid not in (0, os.geteuid()):
            sock.close()
            return
        # who it is exactly (its pid namespace) is proved at its first request, which
        # carries the pidfd an older kernel's proof needs (refuse_peer)
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
            for fd in channel.fds:
                os.close(fd)
            channel.fds = []
            self.drop_client(channel)
            return
        if self.refuse_peer(channel, request):
            self.drop_client(channel)
            return
        try:
            if self.HANDLERS[type(request)](self, channel, request) is not False:
                return
        except OSError:
            pass
        self.drop_client(channel)

    def refuse_peer(self, channel, request):
        """True when CHANNEL's peer may not command this supervisor (kernel/peer.py: root or
        our user, in our pid namespace -- and user namespace, for a root supervisor), after
        telling it why and logging it. Every command, the read-only ones too: the info
        reply alone shows host pids, cgroup paths and the config. Proved once per
        connection; the fds of a request other than attach's are closed here."""
        from ..kernel import peer

        received, channel.fds = channel.fds, []
        keep = isinstance(request, protocol.AttachRequest)
        try:
            if not getattr(channel, "peer", None):
                try:
                    channel.peer = peer.check(channel.sock, received)
                except peer.Refused as exc:
                    from .. import log
                    pid, uid = _peer_ids(channel.sock)
                    said = (f"{self.name}'s supervisor refused {request.CMD!r} from pid "
                            f"{pid} (uid {uid}): {exc}")
                    log.error(said)
                    peer.report(said)
                    try:
                        channel.send(reply(ErrorReply, error=f"{self.name}'s supervisor "
                                           f"refused {request.CMD!r}: {exc}", hint=peer.HINT,
                                           refused=True))
                    except OSError:
                        pass
                    return True
        finally:
            if keep:
                channel.fds = received
            else:
                for fd in received:
                    os.close(fd)
        return False

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
        import json

        state = self.current_state()
        if request.stats:
            channel.send(self._info(state, stats=self.cgroups.stats()
                                    if self.cgroups is not None else {}))
            return
        # Everything but the state stays as it is for one init (its pid, start time, the
        # config, cgroups and network it was started with): encoded once per init, not per
        # request (~0.15 ms of a ~0.55 ms answer: the front door's lxc-info -s). The state
        # (the freezer's, read each time) goes in front.
        key = (self.state, self.init_pid, self.started_at, id(self.conf), id(self.cgroups),
               id(self.network_state), id(getattr(self, "plan", None)))
        cached = getattr(self, "_info_cache", None)
        if cached is None or cached[0] != key:
            rest = self._info(state)
            del rest["state"]
            cached = self._info_cache = (key, json.dumps(rest)[1:])
        channel.send_encoded(('{"state": ' + json.dumps(state) + ", " + cached[1] + "\n")
                             .encode())

    def _info(self, state, **stats):
        return reply(
            protocol.InfoReply, state=state, init_pid=self.init_pid,
            monitor_pid=os.getpid(), cgroups=self.cgroups.to_json() if self.cgroups else None,
            network=self.network_json(), config_file=self.request.config_file,
            started_at=self.started_at, halt_signal=self.conf.value("lxc.signal.halt"),
            conf=self.conf.items, reboot_signal=self.conf.value("lxc.signal.reboot"),
            clone_flags=self.plan.clone_flags if hasattr(self, "plan") else 0,
            init_start=self.init_start(), **stats)

    def cmd_ttys(self, channel, _request):
        """lxc-checkpoint: the console's and ttys' ptys (their masters are ours, outside what
        CRIU dumps), as device numbers and where they are mounted in the container."""
        from ..kernel.pty import slave_of
        tty_dir = self.conf.value("lxc.tty.dir")
        found = []

        def add(name, path, master):
            fd = slave_of(master)
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
            found.append({"name": name, "path": path, "rdev": st.st_rdev, "dev": st.st_dev})

        if self.console_master is not None:
            add("console", "/dev/console", self.console_master)
            if tty_dir:
                add("console.dir", f"/dev/{tty_dir}/console", self.console_master)
        for number, master in enumerate(self.tty_masters, 1):
            add(f"tty{number}", f"/dev/{tty_dir}/tty{number}" if tty_dir else f"/dev/tty{number}",
                master)
        channel.send(reply(protocol.TtysReply, ttys=found))

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
                self._info_cache = None  # its cgroups' JSON may hold the device rules
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

    def cmd_attach(self, channel, request):
        """The compiled lxc-attach's round trip (attach/facts.py): the container's half of
        the plan and its fds, or an ErrorReply, on which the caller runs the Python tool."""
        from ..attach import facts

        received, channel.fds = channel.fds, []
        try:
            facts.check_peer(channel.sock, received)
            fields, fds, own = facts.answer(self, request, received)
        except facts.Refused as exc:
            channel.send(reply(ErrorReply, error=f"attach through Python: {exc}"))
            return False
        finally:
            for fd in received:
                os.close(fd)
        try:
            channel.send(reply(protocol.AttachReply, **fields), fds=fds)
        finally:
            for fd in own:
                os.close(fd)
        return False

    HANDLERS = {protocol.StateRequest: cmd_state, protocol.InfoRequest: cmd_info,
                protocol.WaitRequest: cmd_wait, protocol.StopRequest: cmd_stop,
                protocol.FreezeRequest: cmd_freeze, protocol.UnfreezeRequest: cmd_unfreeze,
                protocol.CgroupRequest: cmd_cgroup, protocol.StatsRequest: cmd_stats,
                protocol.SignalRequest: cmd_signal, protocol.ConsoleRequest: cmd_console,
                protocol.TtysRequest: cmd_ttys, protocol.AttachRequest: cmd_attach}

    def release_tty_peer(self, tty):
        fd = self.tty_peers.pop(tty, None)
        if fd is not None:
            os.close(fd)
