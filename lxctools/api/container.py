"""Container: the one public object every lxc-* tool calls (shaped like python-lxc's).

Sections below belong to different areas of the project; each fills its own methods.

Size: each method is a few lines handing the work to the module that does it (create.py,
clone.py, destroy.py, snapshot.py, monitor.py, monitor/control.py); the object is big
because python-lxc's is.
"""

import contextlib
import os

from ..errors import LxcError, NotDefined, NotRunning
from ..paths import default_lxcpath, normalize_lxcpath
from .names import MAX_NAME, MAX_NEW_NAME, check_new_name, valid_name  # noqa: F401 - public


# states whose init pid is the container's init, past its exec (monitor/supervisor.py's
# RUNNING_STATES): the only ones anything may attach to
ATTACHABLE = ("RUNNING", "FREEZING", "FROZEN", "THAWED", "STOPPING")


class Container:
    def __init__(self, name, config_path=None, *, rcfile=None):
        if not valid_name(name):
            if name and len(name.encode("utf-8", "surrogateescape")) > MAX_NAME:
                raise LxcError(f"the container name is {len(name.encode())} bytes long: "
                               f"at most {MAX_NEW_NAME}",
                               hint="a file name (the lock file .NAME) is at most 255 bytes: "
                                    "choose a shorter name")
            raise LxcError(f'invalid container name "{name}"',
                           hint="a name may not be empty, contain '/', or be '.' or '..'")
        self.name = name
        self.lxcpath = normalize_lxcpath(config_path) if config_path else default_lxcpath()
        self.rcfile = rcfile
        self._doc = None
        if os.path.exists(os.path.join(self.dir, "partial")):
            self._settle_partial()

    def _settle_partial(self):
        """A `partial` marker whose creator died means a half-made container: remove it."""
        from .transaction import settle_partial

        return settle_partial(self.dir)

    # -- identity and config (foundation) ------------------------------------------------
    @property
    def dir(self):
        return os.path.join(self.lxcpath, self.name)

    @property
    def config_file_name(self):
        return self.rcfile or os.path.join(self.dir, "config")

    @property
    def defined(self):
        # A container still being created (locked `partial` marker) is not defined yet.
        return (os.path.exists(os.path.join(self.dir, "config"))
                and not os.path.exists(os.path.join(self.dir, "partial")))

    def load_config(self, path=None, warn=None):
        from ..config.document import ConfigDocument
        from .. import log

        target = path or self.config_file_name
        if not os.path.exists(target):
            raise NotDefined(f"{self.name} doesn't exist" if target == os.path.join(self.dir, "config")
                             else f"config file {target} does not exist", path=None)
        self._doc = ConfigDocument.read(target, warn=warn or log.warn)
        return self._doc

    @property
    def document(self):
        if self._doc is None:
            self.load_config()
        return self._doc

    @property
    def conf(self):
        return self.document.conf

    def get_config_item(self, key):
        return self.document.get_item(key)

    def set_config_item(self, key, value):
        self.document.set_item(key, value)
        return True

    def clear_config_item(self, key):
        self.document.clear_item(key)
        return True

    def append_config_item(self, key, value):
        """Add one value to a list key (for a single-valued key: set it)."""
        self.document.append_item(key, value)
        return True

    def get_keys(self, prefix=None):
        """The config keys known below PREFIX (all keys without one), as python-lxc's
        get_keys: "lxc.net.0" gives the sub-keys of that NIC ("type", "link", ...)."""
        from ..config import keys

        if prefix and prefix.rstrip(".").startswith("lxc.net.") and \
                prefix.rstrip(".").count(".") == 2:
            return [k.name for k in keys.NET_KEYS]
        # families by their own name (lxc.cgroup, not lxc.cgroup.*), as liblxc lists them
        # liblxc's keys only: lxctools.* extensions are ours, not python-lxc's
        names = [n[:-2] if n.endswith(".*") else n for n in keys.all_key_names()
                 if not n.startswith("lxc.net.") and n.startswith("lxc.")]
        names += [n for n in ("lxc.hook", "lxc.net") if n not in names]
        if prefix:
            prefix = prefix.rstrip(".") + "."
            names = [n[len(prefix):] for n in names if n.startswith(prefix)]
        return names

    def save_config(self, path=None):
        self.document.save(path)
        return True

    # -- create / destroy (create issue) -------------------------------------------------
    def create(self, template=None, args=(), bdev="dir", dir=None, config_file=None,
               quiet=False, fstype=None, fssize=None):
        """lxc-create: TEMPLATE is a native name, an lxc-NAME script, an absolute path, or
        "none" (and its prefixes). Raises LxcError; a failed create leaves nothing behind."""
        from .create import create
        from .locking import container_lock

        if self.rcfile:
            raise LxcError("--rcfile cannot be used with create", hint="use -f FILE")
        check_new_name(self.name)
        create(name=self.name, lxcpath=self.lxcpath, template=template, args=list(args),
               bdev=bdev, rootfs_dir=dir, config_file=config_file, quiet=quiet,
               lock=lambda: container_lock(self.lxcpath, self.name), fstype=fstype,
               fssize=fssize)
        self._doc = None
        return True

    def destroy(self, force=False, snapshots=False, dry_run=False, plan=None):
        """lxc-destroy. Returns the paths removed (with dry_run: the paths that would go;
        PLAN, a dict, then receives the facts of lxc-destroy --dry-run's summary)."""
        from . import destroy as destroyer
        from .locking import container_lock

        if not self.defined:
            raise NotDefined("Container is not defined")
        if self.running:
            if not force:
                raise LxcError(f"{self.name} is running",
                               hint="stop it first (lxc-stop -n NAME), or use lxc-destroy -n NAME -f")
            if dry_run:
                raise LxcError(f"{self.name} is running: -f would stop it first",
                               hint="run without --dry-run, or stop it first")
            self.stop(kill=True)
            if not self.defined:  # an ephemeral container removes itself when it stops
                return []
        with container_lock(self.lxcpath, self.name):
            removed = destroyer.destroy(self.name, self.lxcpath, self.config_file_name,
                                        self.document, snapshots=snapshots, dry_run=dry_run,
                                        plan=plan, opener=Container)
        if not dry_run:
            from .verdict import forget_verdict
            forget_verdict(self.lxcpath, self.name)
        self._doc = None
        return removed

    # -- runtime ----------------------------------------------------------------------------
    @property
    def state(self):
        """STOPPED, STARTING, RUNNING, STOPPING, ABORTING, FREEZING, FROZEN or THAWED."""
        from ..monitor.commands import state_of
        return state_of(self.lxcpath, self.name)

    @property
    def running(self):
        return self.state != "STOPPED"

    def running_info(self):
        """The supervisor's facts: init_pid, state, cgroups, network, ... (NotRunning if none)."""
        from ..monitor.commands import request
        return request(self.lxcpath, self.name, "info")

    @property
    def init_pid(self):
        from ..errors import NotRunning
        try:
            return self.running_info()["init_pid"]
        except NotRunning:
            return -1

    def start(self, argv=None, *, foreground=False, execute=False, pidfile=None, defines=(),
              config_file=None, uid=None, gid=None, share=None, console_path=None,
              console_log=None, explain=False, restore=None):
        """lxc-start / lxc-execute. Returns the exit code the tool should give.

        In the background (lxc-start's default) the caller only sends these options to the
        lxcpath's supervisor, which reads the config, checks and starts: the caller's start-up
        stays small (no config engine to import)."""
        import os
        import sys

        config_file = config_file or self.rcfile
        check_new_name(self.name)
        options = {"rcfile": os.path.abspath(config_file) if config_file else None,
                   "defines": list(defines), "share": dict(share or {}),
                   "console_path": console_path, "console_log": console_log, "uid": uid,
                   "gid": gid, "argv": list(argv or []), "execute": execute,
                   "foreground": foreground, "pidfile": pidfile,
                   "passthrough": foreground and (execute or not sys.stdin.isatty()),
                   "restore": restore}
        from .. import log
        options["log"] = log.target()  # the supervisor writes the start there too
        if foreground or explain:
            from ..monitor.daemon import launch
            from ..spawn.start import prepare
            request, warnings = prepare(self.name, self.lxcpath, options)
            if explain:
                from ..spawn.explain import plan_text, render
                sys.stdout.write(render(plan_text(self.name, self.lxcpath, request.conf,
                                                  request.argv)))
                return 0
            if self.running:
                raise LxcError("Container is already running", exit_code=0)
            self._warn(warnings)
            return launch(request)
        from ..monitor.daemon import check_answer, handed_answer, start_in_daemon
        # the compiled lxc-start asked the supervisor already (after the check below) and
        # hands over what it cannot say itself: asking again would find the container running
        answer = handed_answer()
        if answer is None:
            from ..monitor import lxcsocket
            if lxcsocket.state(self.lxcpath, self.name) not in (None, "STOPPED"):
                # real LXC's monitor runs it: our supervisor cannot know, and a second init
                # on the same rootfs would be ruin
                raise LxcError("Container is already running", exit_code=0)
            answer = start_in_daemon(self.lxcpath, self.name, options)
        else:
            answer = check_answer(answer, self.name, self.lxcpath)
        self._warn(answer.get("warnings", []))
        return 0

    def checkpoint(self, directory, stop=False, verbose=False, *, pre_dump=False,
                   predump_dir=None, action_script=None):
        """lxc-checkpoint: dump the running container into DIRECTORY with CRIU (-s: stopped
        after; pre_dump: memory only, it keeps running). Raises LxcError (api/checkpoint.py)."""
        from . import checkpoint as criu
        if not self.defined:
            raise LxcError(f"{self.name} is not defined")
        return criu.checkpoint(self.lxcpath, self.name, self.conf, directory, stop=stop,
                               verbose=verbose, pre_dump=pre_dump, predump_dir=predump_dir,
                               action_script=action_script)

    def migrate_to(self, directory, dest, verbose=False, *, action_script=None, out=None):
        """lxc-checkpoint --migrate: pre-dump, carry, dump and stop, carry what changed to
        DEST (api/migrate.py); {step: ms}."""
        from . import migrate
        if not self.defined:
            raise LxcError(f"{self.name} is not defined")
        return migrate.migrate(self.lxcpath, self.name, self.conf, directory, dest,
                               verbose=verbose, action_script=action_script, out=out)

    def restore(self, directory, verbose=False, *, foreground=False, action_script=None):
        """lxc-checkpoint -r: bring the container back from DIRECTORY; its supervisor (the
        lxcpath's, or this process with FOREGROUND) becomes the restored init's parent."""
        import os
        from ..spawn import criu
        if not self.defined:
            raise LxcError(f"{self.name} is not defined")
        if self.running:
            raise LxcError(f"{self.name} is running, not restoring")
        directory = os.path.abspath(directory)
        # here, before the supervisor is asked: a missing or broken CRIU is named at once
        criu.check_directory(directory)
        criu.preflight("restore")
        self.start(foreground=foreground, restore={
            "directory": directory, "verbose": bool(verbose), "checked": True,
            "action_script": action_script})
        return True

    @staticmethod
    def _warn(warnings):
        if warnings:
            from .. import log
            for message in warnings:
                log.warn(message)

    def stop(self, timeout=60, kill=False, nokill=False, reboot=False):
        """lxc-stop: clean halt (signal, wait, then kill), -k, -r. NotRunning exits 2."""
        from ..errors import NotRunning
        from ..monitor import control

        conf = None
        try:
            # -k asks the supervisor to kill: the config is not read (its warnings would be
            # about nothing done here, and the compiled lxc-stop does not read it either)
            if not kill:
                conf = self.conf
        except LxcError:
            pass
        try:
            control.stop(self.lxcpath, self.name, conf, timeout=timeout, kill=kill,
                         nokill=nokill, reboot=reboot)
        except NotRunning:
            error = self.not_running()
            error.exit_code = 2  # LXC's lxc-stop: 2 for a container that does not run
            error.hint = None
            raise error from None
        return True

    def wait(self, states, timeout=-1):
        from ..monitor.control import wait_for
        if isinstance(states, str):
            states = states.split("|")
        return wait_for(self.lxcpath, self.name, states, timeout)

    def get_ips(self, interface=None, family=None):
        """Addresses inside the running container (loopback and link-local left out)."""
        from ..errors import NotRunning
        from ..kernel.procdir import ProcDir
        from ..network import netinfo
        try:
            info = self.running_info()
        except NotRunning:
            return []
        with ProcDir(info["init_pid"], info.get("init_start")) as proc:
            v4, v6 = netinfo.addresses(proc)
        if family == "inet":
            return v4
        if family == "inet6":
            return v6
        return v4 + v6

    def get_interfaces(self):
        from ..errors import NotRunning
        from ..kernel.procdir import ProcDir
        from ..network import netinfo
        try:
            info = self.running_info()
        except NotRunning:
            return []
        with ProcDir(info["init_pid"], info.get("init_start")) as proc:
            return netinfo.interfaces(proc)

    def attach(self, run, payload=None, **options):
        """python-lxc's attach: call RUN(PAYLOAD) inside the running container (or, with
        api.attach.attach_run_command / attach_run_shell, exec there); returns the pid to
        wait for. OPTIONS are python-lxc's keywords (attach_flags, namespaces, personality,
        initial_cwd, uid, gid, env_policy, extra_env_vars, extra_keep_env, stdin, stdout,
        stderr). -1 when the container is not running, as python-lxc."""
        from .attach import attach_run_command, attach_run_shell, command_argv, options_from
        from ..errors import NotRunning
        from ..attach.attach import start

        try:
            info, conf, local, cgroups = self._attach_context()
        except NotRunning:
            return -1
        opts = options_from(**options)
        # these two only exec: no Python needs to run inside the container for them
        exec_only = run is attach_run_command or run is attach_run_shell
        if run is attach_run_command:
            opts.command = command_argv(payload)
        with self._init_pidfd_held() as pidfd:
            return start(info["init_pid"], conf, cgroups, opts, local_conf=local,
                         function=run, payload=payload, exec_only=exec_only, pidfd=pidfd)

    def attach_wait(self, run, payload=None, **options):
        """attach() and wait: the wait status (exit code << 8, or the signal number);
        -1 when it could not run (not running, or exit status 255), as python-lxc."""
        pid = self.attach(run, payload, **options)
        if pid < 0:
            return -1
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 255:
            return -1
        return status

    def _attach_context(self):
        """(supervisor info, running config, the config attach reads itself, cgroups)."""
        from ..config.model import Conf
        from ..errors import NotRunning

        info = self.running_info()
        if info.get("state") not in ATTACHABLE:
            # Before RUNNING the init pid is that of the setup process, still the host's
            # python3, its mount namespace not yet pivoted: nothing may enter it. The
            # supervisor answers no command while it boots (its loop waits), so this is the
            # belt; docs/SECURITY.md, "Entering a container".
            raise NotRunning(f"{self.name} is not running ({info.get('state')})")
        conf = Conf()
        conf.items = info.get("conf") or {}
        if not conf.items:
            conf = self.conf
        local = self.conf if os.path.exists(self.config_file_name) else conf
        cgroups = None
        if info.get("cgroups"):
            from ..cgroups import Cgroups
            cgroups = Cgroups.from_json(info["cgroups"])
        return info, conf, local, cgroups

    def attach_command(self, options):
        """lxc-attach: run options.command inside; returns its exit code (128+N if killed).

        The running config (from the supervisor) decides security and architecture; the
        config lxc-attach loads itself (--rcfile, else the container's file) gives the
        environment, prlimits and lxc.proc settings, as with LXC."""
        from ..errors import NotRunning
        from ..attach.attach import attach

        if self.rcfile and not os.path.isfile(self.rcfile):
            raise LxcError(f"Failed to load rcfile {self.rcfile}: no such file",
                           hint="-f/--rcfile names a config file to read")
        try:
            info, conf, local, cgroups = self._attach_context()
        except NotRunning as exc:
            # a defined container keeps the supervisor's word (e.g. "(STARTING)")
            raise self.not_running(exc.message) from None
        with self._init_pidfd_held() as pidfd:
            return attach(info["init_pid"], conf, cgroups, options, local_conf=local,
                          pidfd=pidfd)

    @contextlib.contextmanager
    def _init_pidfd_held(self):
        """The monitor's pidfd of init, or None, while the block runs: what reads the
        container through /proc/INIT_PID checks it (attach/attach.py still_init: why)."""
        from ..monitor import lxcsocket

        pidfd = lxcsocket.init_pidfd(self.lxcpath, self.name)
        try:
            yield pidfd
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def not_running(self, message=None):
        """The error for a container that runs nowhere: "does not exist" when there is no
        such container either (LXC's tools say "not running" for both, exit 1)."""
        from ..paths import command

        if self.defined or (self.rcfile and os.path.isfile(self.rcfile)):
            return NotRunning(message or f"{self.name} is not running",
                              hint=command("lxc-start", self.name, self.lxcpath))
        return NotDefined(f"{self.name} does not exist in {self.lxcpath}",
                          hint=f"{command('lxc-ls', None, self.lxcpath)} lists the containers "
                               "there")

    def freeze(self):
        """Freeze every process (NotRunning when stopped)."""
        self._answer("freeze")
        return True

    def unfreeze(self):
        self._answer("unfreeze")
        return True

    def get_cgroup_item(self, key):
        """The text of cgroup file KEY of the running container (no trailing newline)."""
        return self._answer("cgroup", key=key, value=None)["value"].rstrip("\n")

    def set_cgroup_item(self, key, value):
        self._answer("cgroup", key=key, value=str(value))
        return True

    # -- devices (lxc-device) --------------------------------------------------------------
    def _running_init(self):
        try:
            info = self.running_info()
        except NotRunning:
            raise self.not_running() from None
        return info

    def _device_rule(self, info, key, rule):
        """Give RULE to the container's device control through its monitor: the v1 devices
        controller's KEY, or its cgroup2 device program (replaced with the rule added)."""
        if rule is None or not info.get("cgroups"):
            return
        self.set_cgroup_item(key, rule)

    def add_device_node(self, src_path, dest_path=None):
        """Make the host's device node SRC_PATH at DEST_PATH (default the same) inside the
        running container and allow it in its device cgroup."""
        from ..attach import device
        info = self._running_init()
        with self._init_pidfd_held() as pidfd:
            rule = device.add_node(info["init_pid"], src_path, dest_path, pidfd)
        self._device_rule(info, "devices.allow", rule)
        return True

    def remove_device_node(self, src_path, dest_path=None):
        from ..attach import device
        info = self._running_init()
        with self._init_pidfd_held() as pidfd:
            rule = device.remove_node(info["init_pid"], src_path, dest_path, pidfd)
        self._device_rule(info, "devices.deny", rule)
        return True

    def attach_interface(self, ifname, dst_ifname=None):
        """Move the caller's network interface IFNAME into the container (as DST_IFNAME)."""
        from ..attach import device
        init_pid = self._running_init()["init_pid"]
        with self._init_pidfd_held() as pidfd:
            device.attach_interface(init_pid, ifname, dst_ifname, pidfd)
        return True

    def detach_interface(self, ifname, dst_ifname=None):
        """Move the container's interface IFNAME back to the caller's network namespace."""
        from ..attach import device
        init_pid = self._running_init()["init_pid"]
        with self._init_pidfd_held() as pidfd:
            device.detach_interface(init_pid, ifname, dst_ifname, pidfd)
        return True

    def _answer(self, command, **fields):
        from ..monitor.commands import request

        answer = request(self.lxcpath, self.name, command, **fields)
        if "error" in answer:
            raise LxcError(answer["error"], hint=answer.get("detail") or answer.get("hint"))
        return answer

    def console_getfd(self, ttynum=-1):
        """(master fd, channel) of tty TTYNUM (0 the console, -1 the first free tty). The tty
        stays ours while CHANNEL is open: close both when done."""
        from ..monitor import commands

        try:
            channel = commands.Channel(commands.connect(self.lxcpath, self.name))
        except Exception:
            from ..monitor.lxcsocket import check_not_lxcs
            check_not_lxcs(self.lxcpath, self.name, "attach a console to")
            raise
        try:
            channel.send({"cmd": "console", "tty": ttynum})
            answer = channel.receive()
        except Exception:
            channel.close()
            raise
        if answer is None or "error" in answer:
            channel.close()
            if answer is None:
                from ..errors import NotRunning
                raise NotRunning(f"{self.name} is not running")
            raise LxcError(answer["error"])
        return channel.fds[0], channel

    def reboot(self, timeout=60):
        return self.stop(timeout=timeout, reboot=True)

    def shutdown(self, timeout=60):
        return self.stop(timeout=timeout, nokill=True)

    # -- copy, rename, snapshots (issue 11) -------------------------------------------------
    def clone(self, newname=None, config_path=None, flags=0, bdevtype=None, bdevdata=None,
              newsize=0, hookargs=(), *, snapshot=False, keepname=False, keepmac=False,
              bdev=None, allow_running=False):
        """python-lxc's clone: a new Container NEWNAME (in CONFIG_PATH, default this lxcpath)
        with a copy (or with LXC_CLONE_SNAPSHOT / snapshot=True an overlay snapshot) of this
        rootfs. FLAGS and the keywords say the same things; either may be used."""
        from .clone import clone

        clone(self, newname, config_path, snapshot=snapshot or bool(flags & LXC_CLONE_SNAPSHOT),
              bdevtype=bdevtype or bdev, keepname=keepname or bool(flags & LXC_CLONE_KEEPNAME),
              keepmac=keepmac or bool(flags & LXC_CLONE_KEEPMACADDR),
              allow_running=allow_running or bool(flags & LXC_CLONE_ALLOW_RUNNING),
              hookargs=hookargs, newsize=newsize or 0)
        return Container(newname or self.name, config_path or self.lxcpath)

    def rename(self, newname):
        """lxc-copy -R: clone under NEWNAME in the same lxcpath (MACs kept), then destroy this one."""
        from .clone import rename

        rename(self, newname)
        self._doc = None
        return True

    def snapshot(self, comment_file=None):
        """lxc-snapshot: returns the new snapshot's name (snapN)."""
        from .snapshot import create
        return create(self, comment_file)

    def snapshot_list(self):
        """[(name, comment_path, timestamp, lxcpath)], as python-lxc."""
        from .snapshot import listing
        return listing(self)

    def snapshot_restore(self, name, newname=None):
        from .snapshot import restore
        restore(self, name, newname)
        self._doc = None
        return True

    def snapshot_destroy(self, name):
        from .snapshot import destroy
        destroy(self, name)
        return True


LXC_CLONE_KEEPNAME = 1 << 0
LXC_CLONE_KEEPMACADDR = 1 << 1
LXC_CLONE_SNAPSHOT = 1 << 2
LXC_CLONE_KEEPBDEVTYPE = 1 << 3
LXC_CLONE_MAYBE_SNAPSHOT = 1 << 4
LXC_CLONE_ALLOW_RUNNING = 1 << 6
