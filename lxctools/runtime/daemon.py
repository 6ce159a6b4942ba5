"""One supervisor process per lxcpath (and user) for every container started in the background.

LXC runs a 3 MiB C monitor per container; a Python interpreter per container would cost
~18 MiB each. So `lxc-start` (daemon mode) asks this lxcpath's supervisor to start the
container, spawning it first when there is none, and the supervisor runs every container's
`Supervisor` in one event loop. It exits when its last container stops.

A crash of this process does not take the containers with it: their inits are reparented to
the host's init and keep running. The next supervisor of the lxcpath adopts them from their
records (`commands.state_dir`), re-binding their command sockets and watching their inits
through pidfds; only their console ptys are lost.
"""

import _socket  # the client side needs only this; socket.py (enum, selectors) costs ~4 ms
import json
import os
import sys

from ..errors import LxcError
from . import commands


def daemon_socket(lxcpath):
    return f"\0lxctools/{commands.fnv64(lxcpath)}/supervisor"


def request_to_json(request):
    return {"name": request.name, "lxcpath": request.lxcpath, "conf": request.conf.items,
            "device_lines": request.conf.device_lines,
            "config_file": request.config_file, "argv": request.argv, "pidfile": request.pidfile,
            "after_stop": request.after_stop, "guest": request.guest}


def request_from_json(data):
    from ..config.model import Conf
    from .start import StartRequest

    conf = Conf()
    conf.items = data["conf"]
    conf.device_lines = [tuple(line) for line in data.get("device_lines") or []]
    return StartRequest(name=data["name"], lxcpath=data["lxcpath"], conf=conf,
                        config_file=data.get("config_file"), argv=data.get("argv") or [],
                        pidfile=data.get("pidfile"), after_stop=data.get("after_stop"),
                        guest=data.get("guest"))


def start_in_daemon(lxcpath, name, options):
    """lxc-start's side: hand the start OPTIONS of NAME to the lxcpath's supervisor, which
    reads the config, checks and starts; raise its error if any, else return its answer
    (with the warnings to print)."""
    answer = None
    for _attempt in range(3):
        sock = connect_or_spawn(lxcpath)
        channel = commands.Channel(sock)
        try:
            channel.sock.settimeout(None)
            channel.send({"cmd": "start", "name": name, "options": options})
            answer = channel.receive()
        except (ConnectionResetError, BrokenPipeError):
            answer = None
        finally:
            channel.close()
        if answer is not None:
            break
        # the supervisor was exiting (its last container had just stopped): spawn a new one
    if answer is None:
        raise LxcError("The container failed to start: its supervisor went away",
                       hint="run it in the foreground (lxc-start -F) to see why")
    if "error" in answer:
        raise LxcError(answer["error"], hint=answer.get("hint"),
                       exit_code=answer.get("exit_code", 1))
    return answer


def connect(lxcpath):
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(daemon_socket(lxcpath))
    except (ConnectionRefusedError, FileNotFoundError):
        sock.close()
        return None
    return sock


def connect_or_spawn(lxcpath):
    sock = connect(lxcpath)
    if sock is not None:
        return sock
    spawn(lxcpath)
    sock = connect(lxcpath)
    if sock is None:
        raise LxcError(f"could not start the supervisor for {lxcpath}")
    return sock


def spawn(lxcpath):
    """Fork the lxcpath's supervisor; returns once it listens (or lost the race to another)."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            from .. import log
            log.forget_file()
            from .start import detach
            detach()
            os.closerange(3, write_end)
            os.closerange(write_end + 1, 65536)
            code = Daemon(lxcpath).serve(write_end)
        except BaseException:  # noqa: BLE001 - nobody to tell; the caller sees no socket
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    os.read(read_end, 1)  # EOF or one byte: either way it is listening now, or gave up
    os.close(read_end)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def adopt_orphans_of(lxcpath):
    """Called when a container's socket is refused: if its record says its init still lives,
    a supervisor died under it; a new one adopts it. True when something was adopted."""
    try:
        names = os.listdir(commands.state_dir(lxcpath))
    except OSError:
        return False
    if not any(orphan_record(lxcpath, n) for n in names):
        return False
    sock = connect(lxcpath)
    if sock is None:
        spawn(lxcpath)
    else:
        sock.close()
    return True


def orphan_record(lxcpath, name):
    path = os.path.join(commands.state_dir(lxcpath), name)
    try:
        with open(path) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    if record.get("lxcpath") != lxcpath or record.get("init_pid", -1) <= 0:
        return None
    if process_start_time(record["init_pid"]) != record.get("init_start"):
        try:
            os.unlink(path)  # a stale record: its container is gone
        except OSError:
            pass
        return None
    return record


def process_start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


class Daemon:
    def __init__(self, lxcpath):
        self.lxcpath = lxcpath
        self.supervisors = {}
        self.listener = None
        self.loop = None
        self.quit = False
        self.idle_since = None
        self.monitors = []  # lxc-monitor connections

    def idle(self):
        """Exit once no container is left (at once after the last stops; a few seconds after
        a start-up that found nothing to adopt and got no request)."""
        import time

        if self.quit:
            return True
        if self.supervisors or self.monitors:
            self.idle_since = None
            return False
        if self.idle_since is None:
            self.idle_since = time.monotonic()
        return time.monotonic() - self.idle_since > 5

    def serve(self, ready_fd):
        import socket

        from ..kernel import libc
        from .supervisor import Loop

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(daemon_socket(self.lxcpath))
        except OSError:
            sock.close()
            os.close(ready_fd)
            return 0  # another supervisor won the race: the caller will use that one
        sock.listen(64)
        self.listener = sock
        libc.set_child_subreaper()
        try:
            libc.set_process_name("lxc monitor")
        except OSError:
            pass
        self.loop = Loop()
        self.loop.on_terminate.append(self.on_terminate)
        self.loop.register(sock, self.accept)
        self.adopt()
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        try:
            self.loop.run(self.idle)
        finally:
            self.loop.unregister(sock)
            sock.close()
        return 0

    def accept(self, _mask):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        creds = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        if int.from_bytes(creds[4:8], sys.byteorder) not in (0, os.geteuid()):
            conn.close()
            return
        conn.settimeout(10)
        channel = commands.Channel(conn)
        keep = False
        try:
            message = channel.receive()
            if message and message.get("cmd") == "monitor":
                # kept open: every state change of every container here is sent to it
                channel.send({"names": sorted(self.supervisors)})
                self.monitors.append(channel)
                self.loop.register(conn, lambda _m, c=channel: self.drop_monitor(c))
                keep = True
            elif message and message.get("cmd") == "start":
                channel.send(self.start(message["name"], message.get("options") or {}))
            elif message:
                channel.send({"error": f"unknown command {message.get('cmd')!r}"})
        except (OSError, ValueError):
            pass
        finally:
            if not keep:
                channel.close()

    @staticmethod
    def _join(thread):
        if thread is not None:
            thread.join()  # before this process forks anything else

    def start(self, name, options):
        current = self.supervisors.get(name)
        if current is not None and not current.done:
            return {"error": "Container is already running", "exit_code": 0}
        from .start import prepare, prewarm_cgroups
        warming = prewarm_cgroups()  # early: it overlaps the imports and the config reading
        from .supervisor import Supervisor

        read_warnings = []  # the config reader's (legacy keys...): the caller prints them
        try:
            request, warnings = prepare(name, self.lxcpath, dict(options, foreground=False,
                                                                 passthrough=False),
                                        warn=read_warnings.append, warming=warming)
            warnings = read_warnings + warnings
        except LxcError as exc:
            self._join(warming)
            return {"error": str(exc), "hint": exc.hint, "exit_code": exc.exit_code}
        except Exception as exc:  # noqa: BLE001 - one bad request must not end the supervisor
            self._join(warming)
            return {"error": f"{type(exc).__name__}: {exc}", "hint": None}
        supervisor = Supervisor(request, loop=self.loop, on_done=self.forget,
                                on_event=self.broadcast)
        try:
            supervisor.launch()
        except LxcError as exc:
            return {"error": str(exc), "hint": exc.hint, "exit_code": exc.exit_code}
        except Exception as exc:  # noqa: BLE001 - report anything rather than die
            return {"error": f"{type(exc).__name__}: {exc}", "hint": None}
        finally:
            if supervisor.done:
                self.forget(supervisor)
        self.supervisors[request.name] = supervisor
        return {"ok": True, "pid": supervisor.init_pid, "warnings": warnings}

    def drop_monitor(self, channel):
        self.loop.unregister(channel.sock)
        if channel in self.monitors:
            self.monitors.remove(channel)
        channel.close()

    def broadcast(self, name, event):
        for channel in list(self.monitors):
            try:
                channel.send(dict(event, name=name))
            except OSError:
                self.drop_monitor(channel)

    def forget(self, supervisor):
        if self.supervisors.get(supervisor.name) is supervisor:
            del self.supervisors[supervisor.name]
        if not self.supervisors and not self.monitors:
            self.quit = True

    def on_terminate(self):
        for supervisor in list(self.supervisors.values()):
            supervisor.on_terminate()

    def adopt(self):
        from .supervisor import Supervisor

        try:
            names = os.listdir(commands.state_dir(self.lxcpath))
        except OSError:
            return
        for name in names:
            record = orphan_record(self.lxcpath, name)
            if record is None:
                continue
            request = request_from_json(record["request"])
            supervisor = Supervisor(request, loop=self.loop, on_done=self.forget,
                                    on_event=self.broadcast)
            try:
                supervisor.adopt(record)
            except (OSError, LxcError):
                continue
            self.supervisors[name] = supervisor
