"""A container's supervisor (LXC's "[lxc monitor]"): one Supervisor object per container.

The Supervisors of every container started in the background run in one process per
lxcpath (daemon.py), on one event loop (loop.py); lxc-start -F and lxc-execute run theirs in
their own process (daemon.launch). A Supervisor owns the command socket (its existence
means "active"), the cgroups, the console ptys and the host side of the network; it runs
the host's steps of the start plan (spawn/startplan.py) while the processes it forks run
theirs, then serves commands (protocol.py) until init exits, cleans up, and reboots the
container when init asked for it (lxc-behaviour.md 4.4).

The class is split by concern: record.py (the command socket that is its lock, the record
in /run, the state, take_over), serve.py (the commands), console.py (the ptys); here its
life: start, init's exit, reboot, stop and cleanup.
"""

import json
import os
import signal
import time

from .. import log
from ..errors import LxcError
from ..kernel import libc
from ..paths import command
from ..spawn.payload import NS_FLAGS
from ..spawn.start import StartFailed
from . import wire
from .console import Console
from .loop import Loop
from .record import Record
from .serve import Commands


class Unsettled(LxcError):
    """A record of the container is left by a supervisor that died: settle it first."""


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


class Supervisor(Record, Commands, Console):
    """One container's whole life: boot (the start plan's host steps), serve (serve.py),
    stop, reboot, take-over (record.py). Its concerns are parts of the class, each in its
    module: record.py (the socket that is its lock, the record, the state), serve.py (the
    commands), console.py (the ptys); what is here runs the container's life around them."""

    def __init__(self, request, report_fd=None, loop=None, on_done=None, on_event=None,
                 sibling=None):
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
        self.sibling = sibling  # the daemon's: NAME -> the Supervisor of NAME it runs, or None
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
        steps = startplan.plan_start(self.conf)
        restore = getattr(self.request, "restore", None)
        if restore:
            # lxc-checkpoint -r: the plan up to the AppArmor profile, then CRIU brings back
            # the processes a dump saved in place of a fork (spawn/criu.py)
            from ..spawn.criu import restore_into
            boot.steps = steps
            upto = next(i for i, s in enumerate(steps) if s.apply is startplan._apparmor) + 1
            try:
                startplan.run(steps[:upto], (startplan.HOST,), boot)
            finally:
                startplan._join_warming(boot)  # before criu moves the restored tasks
            restore_into(self, self.plan, restore)
            self.started_at = time.time()
            self.set_state("RUNNING", required=True)
            return
        startplan.run_host(steps, boot)

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
        """Another container's init pid (lxc.namespace.share.KIND = NAME): from this very
        process when it supervises NAME too (the lxcpath's supervisor: asking its own socket
        would wait on itself, busy with this start, until the request timed out), else asked
        of NAME's supervisor or LXC's monitor (peers.py)."""
        from ..errors import NotRunning
        from .peers import init_pid_of

        other = self.sibling(name) if self.sibling is not None and name != self.name else None
        if other is None:
            return init_pid_of(self.lxcpath, name)
        if other.init_pid <= 0 or other.state not in ("RUNNING", "FROZEN", "FREEZING",
                                                      "THAWED"):
            raise NotRunning(f"{name} is not running")
        return other.init_pid

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


