"""Holding a container: its command socket (the lock), its record in /run, its state, and
settling what a supervisor that died left of it (take_over).

Record is a part of Supervisor (supervisor.py), the concern of what others can see and
recover: the abstract socket that only one live supervisor can bind, the record that says
what runs (written before anything a crash would orphan), the state changes told to the
record, lxc-monitor, LXC's socket and the waiters, in that order.
"""

import _socket  # not socket.py (wire.accept)
import json
import os

from .. import log
from ..errors import LxcError
from ..kernel import libc
from ..spawn.start import StartFailed
from . import protocol, wire
from .protocol import reply

# states in which a record's live init is a running container (adopted); an init recorded
# in any other state is that of a start that never finished (undone)
RUNNING_STATES = ("RUNNING", "FREEZING", "FROZEN", "THAWED", "STOPPING")


def hold_name(lxcpath, name):
    """Bind and listen on NAME's command socket; None when a live supervisor holds it."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.bind(wire.socket_name(lxcpath, name))
    except OSError:
        sock.close()
        return None
    # the kernel's maximum: a hundred parallel commands for one container must wait in the
    # queue, not be refused (a client's connect waits for room: commands.connect)
    sock.listen(_socket.SOMAXCONN)
    return sock


class Record:
    """The socket and record side of a Supervisor (a mixin: its state is the Supervisor's)."""

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

    def init_start(self):
        """Init's start time (clock ticks since boot, /proc/PID/stat's 22nd field), read once
        per init: what tells a reused pid from init, for the adopter and for lxc-info's
        readers of /proc/PID (netinfo.ProcDir)."""
        from .wire import process_start_time

        if self.init_pid <= 0:
            return None
        known = getattr(self, "_init_start", None)
        if known is None or known[0] != self.init_pid:
            known = (self.init_pid, process_start_time(self.init_pid))
            if known[1] is None:
                return None
            self._init_start = known
        return known[1]

    def record(self, required=False):
        """Write the container's record (temp + rename: readers see the old or the new one).
        Written at every step of a start that leaves something a crash would orphan: the
        cgroups before they are made, init's pid before it may exec. REQUIRED writes raise:
        a start whose init could outlive us unrecorded must not go on."""
        try:
            temp = self.stage_record()
        except OSError as exc:
            self._record_failed(exc, required)
            return
        self.publish_record(temp, required)

    def stage_record(self, state=None, started_at=None):
        """The record as it would be in STATE (default: the state now; STARTED_AT: its start
        time then), written to its temporary file, whose path is returned for publish_record
        or discard_record: a start writes RUNNING's while init execs, and puts it in place
        once the exec is seen. OSError if it cannot be written (nothing left behind)."""
        data = {"name": self.name, "lxcpath": self.lxcpath, "monitor_pid": os.getpid(),
                "init_pid": self.init_pid, "state": state or self.state,
                "init_start": self.init_start(),
                "started_at": self.started_at if started_at is None else started_at,
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
        temp = f"{self._record_path()}.{os.getpid()}.tmp"
        # 0600: the record holds the running config (environment, hooks); only its owner
        # (who alone adopts and lists from this run dir) reads it
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temp, flags, 0o600)
        except FileNotFoundError:
            # the first record of the lxcpath, or the last supervisor's unbind() has just
            # removed the empty directory
            os.makedirs(directory, mode=0o755, exist_ok=True)
            fd = os.open(temp, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with open(fd, "w") as handle:
                handle.write(text)
        except OSError:
            self.discard_record(temp)
            raise
        return temp

    def publish_record(self, temp, required=False):
        """Put a staged record (stage_record's TEMP) in place of the record."""
        try:
            os.replace(temp, self._record_path())
        except OSError as exc:
            self.discard_record(temp)
            self._record_failed(exc, required)

    @staticmethod
    def discard_record(temp):
        try:
            os.unlink(temp)
        except OSError:
            pass

    def _record_path(self):
        return os.path.join(wire.state_dir(self.lxcpath), self.name)

    def _record_failed(self, exc, required):
        if required:
            raise StartFailed(f"cannot write the record of {self.name} in "
                              f"{wire.state_dir(self.lxcpath)}: {exc.strerror}",
                              hint="free space in /run (df /run)") from None
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

    def set_state(self, state, required=False, staged=None):
        """STATE, on record before anyone hears of it (what a command was told, a crash
        cannot undo): STAGED, the record stage_record(STATE) wrote ahead, put in place, or a
        new one written."""
        self.state = state
        if self.listener is not None:
            if staged is not None:
                self.publish_record(staged, required=required)
            else:
                self.record(required=required)
        elif staged is not None:
            self.discard_record(staged)
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
