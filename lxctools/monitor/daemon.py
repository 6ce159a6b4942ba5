"""One supervisor process per lxcpath (and user) for every container started in the background.

LXC runs a 3 MiB C monitor per container; a Python interpreter per container would cost
~18 MiB each. So `lxc-start` (daemon mode) asks this lxcpath's supervisor to start the
container, spawning it first when there is none, and the supervisor runs every container's
`Supervisor` in one event loop. It exits a while after its last container stops (its idle
time, LXCTOOLS_SUPERVISOR_IDLE seconds, 0: at once), so that the next start in the lxcpath
finds it warm (the compiled lxc-start hands the start to it); while it lingers it watches
the lxcpath (linger.py) and leaves when that is deleted, moved or unmounted.

A crash of this process does not take the containers with it: their inits are reparented to
the host's init and keep running. The next supervisor of the lxcpath settles their records
(`wire.state_dir`, `Supervisor.take_over`): a running init is adopted (its command socket
bound again, watched through a pidfd; only its console ptys are lost), a start that never
reported back is undone, a dead init gets the stop it missed. A command that finds a record
whose socket does not listen asks for that (`recover`) and waits for it, so its answer is
the settled one.

Binding this socket's address is the lxcpath's lock: at most one of these processes serves
an lxcpath at any time, and the kernel releases it when that process dies.

Size: both sides of the lxcpath's supervisor, the client's (find it, spawn it, hand it a start,
have a record recovered) and the process itself (`Daemon`), because they share its socket
name, its ready handshake and its spawn terms, and the client side spawns and runs `Daemon`:
split, each half would import the other (an import cycle).
"""

import _socket  # the client side needs only this; socket.py (enum, selectors) costs ~4 ms
import os
import sys

from ..errors import LxcError
from ..paths import command, lxcpath_key
from . import protocol, wire
from .linger import Lingering, code_identity, idle_time


def daemon_socket(lxcpath):
    return f"\0lxctools/{lxcpath_key(lxcpath)}/supervisor"


def launch(request):
    """Start REQUEST in this very process (lxc-start -F, lxc-execute): its Supervisor runs
    here, not in the lxcpath's supervisor. Returns the exit code the CLI should return.
    Here because a dead supervisor's record is settled by the lxcpath's (recover)."""
    from .supervisor import Supervisor, Unsettled
    entered = []
    if os.geteuid() != 0:
        # an ordinary user's lxc-start -F in a cgroup delegated to it (its lxc@NAME user
        # unit): out of the payloads' base on cgroup2, as the background supervisor and
        # LXC's monitor (cgroups/monitor.py); root's -F stays where the unit put it
        from ..cgroups import monitor
        entered = monitor.enter(request.lxcpath)
    try:
        try:
            return Supervisor(request).run()
        except Unsettled:
            # a dead supervisor's record: the lxcpath's supervisor settles it (adopting an
            # init that runs on: then this start finds it running), then once more
            if request.warming is not None:
                request.warming.join()  # nothing may fork beside it (cgroups.core.prewarm)
            recover(request.lxcpath, request.name)
            return Supervisor(request).run()
    finally:
        if entered:
            monitor.leave(entered)


def start_in_daemon(lxcpath, name, options):
    """lxc-start's side: hand the start OPTIONS of NAME to the lxcpath's supervisor, which
    reads the config, checks and starts; raise its error if any, else return its answer
    (with the warnings to print). Should the supervisor die before it answers, the next one
    settles what that start left (an init it had not reported is killed) before it serves
    this start again: a retry never makes a second init."""
    answer = None
    for _attempt in range(3):
        sock = connect_or_spawn(lxcpath)
        channel = wire.Channel(sock)
        try:
            channel.sock.settimeout(None)
            channel.send(protocol.request(protocol.DAEMON, "start", name=name, options=options))
            answer = channel.receive()
        except (ConnectionResetError, BrokenPipeError):
            answer = None
        finally:
            channel.close()
        if answer is not None:
            break
        # the supervisor was exiting (its last container had just stopped), or died
    return check_answer(answer, name, lxcpath)


def check_answer(answer, name, lxcpath):
    """The supervisor's ANSWER to a start: raise its error, else return it."""
    if answer is None:
        raise LxcError("The container failed to start: its supervisor went away",
                       hint=f"run it in the foreground ({command('lxc-start', name, lxcpath, '-F')}) to see why")
    if "error" in answer:
        raise LxcError(answer["error"], hint=answer.get("hint"),
                       exit_code=answer.get("exit_code", 1))
    return answer


# native/lxc-front.c lxc_start: the supervisor's answer to the start it sent, when that is
# more than a plain success (an error, warnings) for lxc-start to say in its words
START_ANSWER_ENV = "LXCTOOLS_START_ANSWER"


def handed_answer():
    """The answer the compiled lxc-start handed over (taken out of the environment, so that
    nothing this process starts sees it), or None. Whoever sets it can only make lxc-start
    report a start it did not make: no more than the caller could print itself."""
    text = os.environ.pop(START_ANSWER_ENV, None)
    if text is None:
        return None
    import json
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise LxcError(f"{START_ANSWER_ENV} does not hold a supervisor's answer",
                       hint=f"unset {START_ANSWER_ENV}: only the compiled lxc-start sets it")
    return answer


def connect(lxcpath):
    try:
        return wire.connect_address(daemon_socket(lxcpath), None)
    except (ConnectionRefusedError, FileNotFoundError):
        return None


def connect_or_spawn(lxcpath):
    sock = connect(lxcpath)
    if sock is not None:
        return sock
    spawn(lxcpath)
    sock = connect(lxcpath)
    if sock is None:
        raise LxcError(f"could not start the supervisor for {lxcpath}")
    return sock


def spawn(lxcpath, linger=True):
    """Fork the lxcpath's supervisor; returns once it listens (or lost the race to another).
    Without LINGER it leaves as soon as it has nothing to supervise (spawned only to settle
    records), instead of waiting a few seconds for the start it was made for. (The compiled
    lxc-start spawns it itself, as a new interpreter: serve_spawned.)"""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            from .. import log
            log.forget_file()
            from ..spawn.start import detach
            detach()
            os.closerange(3, write_end)
            os.closerange(write_end + 1, 65536)
            code = Daemon(lxcpath, linger=linger).serve(write_end)
        except BaseException:  # noqa: BLE001 - nobody to tell; the caller sees no socket
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    ready = os.read(read_end, 1)  # EOF or one byte: either way it is listening now, or gave up
    os.close(read_end)
    try:
        # one that gave up (another won the bind) is exiting: reaped here, not left a zombie
        os.waitpid(pid, 0 if not ready else os.WNOHANG)
    except ChildProcessError:
        pass


# native/lxc-front.c spawn_supervisor: where the supervisor it spawns says it listens
READY_FD = 3


def serve_spawned(lxcpath, ready_fd=READY_FD):
    """`lxctools --supervise LXCPATH`: the lxcpath's supervisor as the compiled lxc-start
    spawns it when it finds none (native/lxc-front.c spawn_supervisor), so that a cold
    `lxc-start -d` never starts the Python client. A new interpreter rather than a fork of
    the client, on the same terms as spawn()'s child: out of the caller's session and
    terminal, in /, stdio on /dev/null, nothing of the caller's open but READY_FD (the
    compiled side did all that before its exec; run by hand, this detaches as spawn()'s
    child does), the caller's environment, limits and cgroup (serve leaves it). One byte on
    READY_FD when it listens, end of file when another supervisor won the lxcpath. Returns
    the exit code."""
    import stat

    from ..paths import normalize_lxcpath

    try:
        if not stat.S_ISFIFO(os.fstat(ready_fd).st_mode):
            raise OSError
    except OSError:
        sys.stderr.write("lxctools: --supervise is how the compiled lxc-start spawns the "
                         f"lxcpath's supervisor: it needs a pipe at fd {ready_fd}\n")
        return 2
    try:
        lxcpath = normalize_lxcpath(lxcpath)
        if os.getsid(0) != os.getpid():
            from ..spawn.start import detach
            detach()
        os.closerange(3, ready_fd)
        os.closerange(ready_fd + 1, 65536)
        return Daemon(lxcpath).serve(ready_fd)
    except BaseException:  # noqa: BLE001 - nobody to tell; the caller sees no socket
        return 1


def recover(lxcpath, name=None):
    """A command found NAME's record without a listening socket (its supervisor died): have
    the lxcpath's supervisor settle it (every record when NAME is None), and wait until it
    has. A supervisor spawned for this settles every record as it starts, and leaves at once
    when nothing is left to supervise."""
    for _attempt in range(3):
        sock = connect(lxcpath)
        if sock is None:
            spawn(lxcpath, linger=False)
            sock = connect(lxcpath)
            if sock is None:
                return  # it settled everything and left already
        channel = wire.Channel(sock)
        try:
            channel.sock.settimeout(None)
            channel.send(protocol.request(protocol.DAEMON, "recover", name=name))
            if channel.receive() is not None:
                return
        except OSError:
            pass
        finally:
            channel.close()
        # no answer: it was leaving (whatever it had to settle, it did before serving
        # anyone), or it lingered and refused (linger.py): ask the one there now


# What serving a start imports beyond serve()'s own modules (a start's sys.modules, in the
# supervisor; its children import nothing more): a supervisor imports them as it starts,
# while its move into its monitor cgroup waits (serve), rather than once the request is
# there. One missing here is imported when needed: slower, never wrong.
START_IMPORTS = (
    "lxctools.monitor.supervisor", "lxctools.spawn.start", "lxctools.spawn.startplan",
    "lxctools.spawn.preflight", "lxctools.spawn.guestcheck", "lxctools.spawn.hooks",
    "lxctools.spawn.mounts", "lxctools.config.document", "lxctools.security",
    "lxctools.security.apparmor", "lxctools.security.capabilities",
    "lxctools.security.confinement", "lxctools.security.policy", "lxctools.kernel.seccomp",
    "lxctools.kernel.caps", "lxctools.cgroups.core", "lxctools.cgroups.limits",
    "lxctools.cgroups.devices", "lxctools.atomic", "lxctools.monitor.lxcsocket",
    "lxctools.kernel.peer", "_sha1",
)


def preload(names=START_IMPORTS):
    """Import NAMES (nothing else: no fork, no file of a container's)."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


class _Mover:
    """FUNCTION(*ARGS) in a thread of its own; join() returns what it returned (or raises
    what it raised)."""

    def __init__(self, function, *args):
        import threading

        self.result = self.error = None

        def run():
            try:
                self.result = function(*args)
            except BaseException as exc:  # noqa: BLE001 - raised again in join
                self.error = exc

        self.thread = threading.Thread(target=run, name="monitor-cgroup", daemon=True)
        self.thread.start()

    def join(self):
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.result


class Daemon(Lingering):
    def __init__(self, lxcpath, linger=True):
        self.lxcpath = lxcpath
        self.supervisors = {}
        self.listener = None
        self.loop = None
        self.served = not linger  # once it has supervised something, idle means leave at once
        self.idle_since = None
        self.monitors = []  # lxc-monitor connections
        self.monitor_cgroups = []  # where this process sits (cgroups.monitor.enter)
        # after its last container: stay this long (spawned only to settle records: leave)
        self.idle_after = idle_time() if linger else 0.0
        self.watch = None  # linger.LxcpathWatch while it may linger
        self.code = code_identity()  # the package this process imports from, as it started

    def serve(self, ready_fd):
        # _socket: the bind (the lxcpath's lock) first, before socket.py's imports
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            sock.bind(daemon_socket(self.lxcpath))
        except OSError:
            sock.close()
            os.close(ready_fd)
            return 0  # another supervisor won the race: the caller will use that one
        # the kernel's maximum: hundreds of parallel lxc-start wait in the queue
        sock.listen(_socket.SOMAXCONN)
        # out of the caller's cgroup (a unit systemd kills when it ends), as LXC's monitor.
        # The move waits out the kernel's grace period (cgroups.core.prewarm): in a thread,
        # while this one imports what a start needs; joined before anything forks
        from ..cgroups import monitor
        mover = _Mover(monitor.enter, self.lxcpath)
        from ..kernel import libc
        from .loop import Loop

        self.listener = sock
        # a few descriptors per container (ARCHITECTURE.md, "Descriptors"): the soft limit
        # of 1024 most shells give would end the lxcpath near a hundred containers
        from ..kernel.fdlimit import raise_soft_limit
        raise_soft_limit()
        preload()
        monitor_cgroups = self.monitor_cgroups = mover.join()
        libc.set_child_subreaper()
        try:
            libc.set_process_name("lxc monitor")
        except OSError:
            pass
        self.loop = Loop()
        self.loop.on_terminate.append(self.on_terminate)
        self.loop.register(self.listener, self.accept)
        if self.idle_after > 0:
            self.watch_lxcpath()
        self.adopt()
        self.retitle()
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        try:
            self.loop.run(self.idle)
        finally:
            self.retire()
            monitor.leave(monitor_cgroups)
        return 0

    def accept(self, _mask):
        if self.listener is None:
            return
        try:
            conn, _ = wire.accept(self.listener)
        except OSError:
            return
        if self.refuses():
            conn.close()
            return
        creds = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        peer = int.from_bytes(creds[0:4], sys.byteorder)
        if int.from_bytes(creds[4:8], sys.byteorder) not in (0, os.geteuid()):
            conn.close()
            return
        # the kernel's grace period before a start's first cgroup move (cgroups.core.prewarm)
        # paid from here, before the request is read and its caller checked: what this
        # socket serves is mostly starts, and the rest (a recovery, lxc-monitor's
        # subscription) lose nothing by it but a no-op move in a thread (one that settles
        # joins it first). Only for root or our user (SO_PEERCRED, above)
        from ..spawn.start import prewarm_cgroups
        warming = prewarm_cgroups()
        conn.settimeout(10)
        channel = wire.Channel(conn)
        keep = started = False
        try:
            try:
                message = channel.receive()
                request = None if message is None else protocol.decode(message, protocol.DAEMON)
            except (ValueError, RecursionError, protocol.ProtocolError) as exc:
                if not isinstance(exc, protocol.ProtocolError):
                    exc = protocol.ProtocolError("not a JSON object: a request is one JSON "
                                                 "object per line")
                channel.send(protocol.error(exc))
                request = None
            if request is not None and self.refuse_peer(channel, request):
                request = None
            if isinstance(request, protocol.MonitorRequest):
                # kept open: every state change of every container here is sent to it
                channel.send(protocol.reply(protocol.MonitorReply, names=sorted(self.supervisors)))
                self.monitors.append(channel)
                self.loop.register(conn, lambda _m, c=channel: self.drop_monitor(c))
                keep = True
            elif isinstance(request, protocol.StartRequest):
                from ..cgroups import monitor
                # the client's own move (take_client) is after the grace period's start too
                monitor.take_client(peer, self.monitor_cgroups)
                answer = self.start(request.name, request.options or {}, warming)
                warming = None  # the start's: joined before its first move or its failure
                started = "pid" in answer and "error" not in answer  # a StartReply
                channel.send(answer)
            elif isinstance(request, protocol.RecoverRequest):
                self._join(warming)  # settling may fork and move processes: not beside it
                warming = None
                if request.name:
                    self.recover(request.name)
                else:
                    self.adopt()
                channel.send(protocol.reply(protocol.OkReply))
        except OSError:
            pass
        finally:
            for fd in channel.fds:
                os.close(fd)
            channel.fds = []
            if not keep:
                channel.close()
        if started:
            # the next start's user namespace, mapped now that the caller has its answer
            from ..spawn import spare
            spare.refill()

    def refuse_peer(self, channel, request):
        """True when the peer may not command this lxcpath's supervisor (kernel/peer.py:
        root or our user, in our pid namespace, and user namespace for root), after telling
        it why and logging it: a start, a recovery and lxc-monitor's subscription alike."""
        from .. import log
        from ..kernel import peer

        try:
            peer.check(channel.sock, channel.fds)
        except peer.Refused as exc:
            pid = int.from_bytes(channel.sock.getsockopt(
                _socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)[0:4], sys.byteorder, signed=True)
            said = (f"the supervisor of {self.lxcpath} refused {request.CMD!r} from pid "
                    f"{pid}: {exc}")
            log.error(said)
            peer.report(said)
            channel.send(protocol.reply(
                protocol.ErrorReply, error=f"the supervisor of {self.lxcpath} refused "
                                           f"{request.CMD!r}: {exc}", hint=peer.HINT, refused=True))
            return True
        return False

    @staticmethod
    def _join(thread):
        if thread is not None:
            thread.join()  # before this process forks anything else

    def start(self, name, options, warming=None):
        """Start NAME with lxc-start's OPTIONS; WARMING: prewarm_cgroups()'s thread, started
        as the request came (joined before the start's first cgroup move or its failure)."""
        current = self.supervisors.get(name)
        if current is None:
            # a record left by a dead supervisor (a foreground one, or this lxcpath's last):
            # its init may run on, and must not get a twin
            if os.path.lexists(os.path.join(wire.state_dir(self.lxcpath), name)):
                self._join(warming)  # settling may fork and move processes: not beside it
                warming = None
                self.recover(name)
            current = self.supervisors.get(name)
        if current is not None and not current.done:
            self._join(warming)
            return protocol.reply(protocol.ErrorReply, error="Container is already running",
                                  exit_code=0)
        if warming is None:
            from ..spawn.start import prewarm_cgroups
            warming = prewarm_cgroups()  # early: it overlaps the imports and the config reading
        from .. import log

        with log.borrowed(options.get("log"), name):
            return self._start(name, options, warming)

    def _start(self, name, options, warming):
        from ..spawn.start import prepare
        from .supervisor import Supervisor, Unsettled

        read_warnings = []  # the config reader's (legacy keys...): the caller prints them
        try:
            request, warnings = prepare(name, self.lxcpath, dict(options, foreground=False,
                                                                 passthrough=False),
                                        warn=read_warnings.append, warming=warming)
            warnings = read_warnings + warnings
        except LxcError as exc:
            self._join(warming)
            return protocol.error(exc, exit_code=exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - one bad request must not end the supervisor
            self._join(warming)
            return protocol.reply(protocol.ErrorReply, error=f"{type(exc).__name__}: {exc}")
        supervisor = Supervisor(request, loop=self.loop, on_done=self.forget,
                                on_event=self.broadcast, sibling=self.supervisors.get)
        try:
            try:
                supervisor.launch()
            except Unsettled:
                # a supervisor died between our look and the bind: settle, then once more
                self.recover(name)
                if name in self.supervisors:
                    return protocol.reply(protocol.ErrorReply,
                                          error="Container is already running", exit_code=0)
                supervisor.launch()
        except LxcError as exc:
            return protocol.error(exc, exit_code=exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - report anything rather than die
            return protocol.reply(protocol.ErrorReply, error=f"{type(exc).__name__}: {exc}")
        finally:
            if supervisor.done:
                self.forget(supervisor)
        self.supervisors[request.name] = supervisor
        # before the answer: the caller's next `pgrep -f "[lxc monitor] LXCPATH NAME"` finds it
        # (test_supervisor_identity.py failed once with it after)
        self.retitle()
        return protocol.reply(protocol.StartReply, pid=supervisor.init_pid, warnings=warnings)

    def drop_monitor(self, channel):
        self.loop.unregister(channel.sock)
        if channel in self.monitors:
            self.monitors.remove(channel)
        channel.close()

    def broadcast(self, name, event):
        for channel in list(self.monitors):
            try:
                channel.send(protocol.reply(protocol.Event, name=name, **event))
            except OSError:
                self.drop_monitor(channel)

    def retitle(self):
        """What ps and pkill -f see: LXC's monitor title, "[lxc monitor] LXCPATH NAME", with
        every container this supervisor runs (it is one per lxcpath). Without it the
        process showed the command line of whatever first started it (under Ansible a
        deleted temp script's) for as long as any container ran."""
        from ..kernel import libc

        try:
            libc.set_cmdline(" ".join(["[lxc monitor]", self.lxcpath, *sorted(self.supervisors)]))
        except OSError:
            pass  # a title is a courtesy

    def forget(self, supervisor):
        if self.supervisors.get(supervisor.name) is supervisor:
            del self.supervisors[supervisor.name]
            self.retitle()

    def on_terminate(self):
        self.idle_after = 0.0  # told to go: no lingering once its containers are stopped
        for supervisor in list(self.supervisors.values()):
            supervisor.on_terminate()

    def adopt(self):
        """Settle every record of the lxcpath (at start-up, before serving anyone)."""
        try:
            names = os.listdir(wire.state_dir(self.lxcpath))
        except OSError:
            return
        for name in names:
            if wire.is_temp_record(name):
                # a record's temporary file whose writer was killed before its rename
                if wire.process_start_time(int(name[:-4].rpartition(".")[2])) is None:
                    try:
                        os.unlink(os.path.join(wire.state_dir(self.lxcpath), name))
                    except OSError:
                        pass
                continue
            self.recover(name)

    def recover(self, name):
        """Settle NAME's record if its supervisor died (Supervisor.take_over): adopt its
        running init, undo the rest. Nothing when NAME is ours or a live supervisor (one in
        the foreground) holds it."""
        from .record import hold_name
        from .supervisor import Supervisor

        current = self.supervisors.get(name)
        if current is not None and not current.done:
            return
        record = wire.read_record(self.lxcpath, name)
        if record is None:
            return
        request = record.get("request")
        if (record.get("lxcpath") != self.lxcpath or not isinstance(request, dict)
                or record.get("name") != name or request.get("name") != name):
            # not a record we can act on (malformed, foreign, another name's): removed,
            # holding the name
            held = hold_name(self.lxcpath, name)
            if held is not None:
                try:
                    os.unlink(os.path.join(wire.state_dir(self.lxcpath), name))
                except OSError:
                    pass
                held.close()
            return
        try:
            from ..spawn.start import request_from_json

            request = request_from_json(record["request"])
        except (KeyError, TypeError, ValueError):
            return
        supervisor = Supervisor(request, loop=self.loop, on_done=self.forget,
                                on_event=self.broadcast, sibling=self.supervisors.get)
        try:
            if supervisor.take_over(record):
                self.supervisors[name] = supervisor
        except (OSError, LxcError):
            return  # a live supervisor holds it (or the cleanup failed: logged)
        # the dead writer's temporary file of it, if it died between writing one and the
        # rename (RUNNING's is written while init execs): its pid is the record's
        writer = record.get("monitor_pid")
        if isinstance(writer, int) and writer != os.getpid():
            try:
                os.unlink(os.path.join(wire.state_dir(self.lxcpath), f"{name}.{writer}.tmp"))
            except OSError:
                pass
