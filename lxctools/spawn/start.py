"""What to start and how: the request a start carries, made from lxc-start's options.

prepare() turns what lxc-start/lxc-execute were told into a StartRequest (the config read
and amended, the command chosen, the checks made before anything is cloned) and the warnings
to print; request_to_json/request_from_json are its form in the lxcpath's supervisor's
records and requests. Running it is the supervisor's (supervisor.py): in this very process
with lxc-start -F and lxc-execute (daemon.launch), else in the lxcpath's supervisor
(daemon.start_in_daemon), which detach() takes out of the caller's session.
"""

import os

from ..errors import LxcError


class StartFailed(LxcError):
    """The container could not be started."""


class StartRequest:
    """What to start and how (a plain class: dataclasses costs 5 ms to import)."""

    def __init__(self, name, lxcpath, conf, config_file, argv=(), execute=False,
                 foreground=False, pidfile=None, passthrough_stdio=False, after_stop=None,
                 guest=None):
        self.name = name
        self.lxcpath = lxcpath
        self.conf = conf
        self.config_file = config_file
        self.argv = list(argv)
        self.execute = execute
        self.foreground = foreground
        self.pidfile = pidfile
        self.passthrough_stdio = passthrough_stdio
        self.after_stop = after_stop  # a command run once it has stopped for good (ephemeral)
        self.guest = guest  # the guest's init family (guestcheck.guest_init), when known
        self.warming = None  # prewarm_cgroups()'s thread, joined by the boot before its fork
        self.restore = None  # lxc-checkpoint -r: {"directory", "verbose", ...} (spawn/criu.py)


def request_to_json(request):
    return {"name": request.name, "lxcpath": request.lxcpath, "conf": request.conf.items,
            "device_lines": request.conf.device_lines,
            "config_file": request.config_file, "argv": request.argv, "pidfile": request.pidfile,
            "after_stop": request.after_stop, "guest": request.guest}


def request_from_json(data):
    from ..config.model import Conf

    conf = Conf()
    conf.items = data["conf"]
    conf.device_lines = [tuple(line) for line in data.get("device_lines") or []]
    return StartRequest(name=data["name"], lxcpath=data["lxcpath"], conf=conf,
                        config_file=data.get("config_file"), argv=data.get("argv") or [],
                        pidfile=data.get("pidfile"), after_stop=data.get("after_stop"),
                        guest=data.get("guest"))


def prepare(name, lxcpath, options, warn=None, warming=None):
    """OPTIONS (what lxc-start/lxc-execute were told) -> (StartRequest, warnings): the config
    read and amended, the command chosen, the checks made before anything is cloned."""
    import shlex
    from ..config.document import ConfigDocument
    from ..errors import ConfigError, NotDefined
    from ..paths import command
    from .. import log
    from . import guestcheck, preflight

    warming = warming or prewarm_cgroups()
    execute = options.get("execute", False)
    container_dir = os.path.join(lxcpath, name)
    rcfile = options.get("rcfile")
    if rcfile:
        if not os.path.exists(rcfile):
            raise NotDefined(f"config file {rcfile} does not exist")
        top = rcfile
    elif (os.path.exists(os.path.join(container_dir, "config"))
          and not os.path.exists(os.path.join(container_dir, "partial"))):
        top = os.path.join(container_dir, "config")
    else:
        raise NotDefined("No container config specified" if not execute else
                         "Executing a container with no configuration file may crash the host",
                         hint=f"create it first ({command('lxc-create', name, lxcpath)} -t "
                              "busybox), or pass a config with -f FILE")
    # the lxcpath's supervisor reads the same configs start after start: kept while
    # every file stats the same
    doc = ConfigDocument.read_again(top, warn=warn or log.warn)
    for item in options.get("defines") or []:
        key, sep, value = item.partition("=")
        where = f"command line (-s {item})"
        if not sep or not key.startswith(("lxc.", "lxctools.")):
            raise ConfigError("expected lxc.KEY=VALUE", path=where,
                              hint="e.g. -s lxc.uts.name=web1")
        doc.set_item(key.strip(), value.strip(), source=where)
    for key, value in (options.get("share") or {}).items():
        doc.set_item(f"lxc.namespace.share.{key}", value,
                     source=f"command line (--share-{key} {value})")
    for option, key, flag in (("console_path", "lxc.console.path", "-c"),
                              ("console_log", "lxc.console.logfile", "-L")):
        if options.get(option):
            doc.set_item(key, options[option], source=f"command line ({flag} {options[option]})")
    for option, key, flag in (("uid", "lxc.init.uid", "-u"), ("gid", "lxc.init.gid", "-g")):
        if options.get(option) is not None:
            doc.set_item(key, str(options[option]),
                         source=f"command line ({flag} {options[option]})")
    conf = doc.conf
    argv = list(options.get("argv") or [])
    if not argv:
        if execute:
            command = conf.value("lxc.execute.cmd")
            if not command:
                raise LxcError("Missing command to execute!",
                               hint="give it after --, or set lxc.execute.cmd")
        else:
            command = conf.value("lxc.init.cmd") or "/sbin/init"
        argv = shlex.split(command)
    ephemeral = conf.value("lxc.ephemeral") == "1" and not rcfile
    request = StartRequest(name=name, lxcpath=lxcpath, conf=conf, config_file=top, argv=argv,
                           execute=execute, foreground=options.get("foreground", False),
                           pidfile=options.get("pidfile"),
                           passthrough_stdio=options.get("passthrough", False),
                           after_stop=destroy_command(lxcpath, name) if ephemeral else None)
    request.warming = warming
    request.restore = options.get("restore")  # lxc-checkpoint -r (spawn/criu.py)
    preflight.check(conf, argv, execute=execute)
    warnings = []
    if not execute:
        spec = conf.value("lxc.rootfs.path") or ""
        root = preflight.rootfs_dir(spec) or preflight.overlay_view(spec)
        request.guest, _version, found = guestcheck.warnings(conf, argv, root)
        from ..security import confinement
        lsm = confinement.host_lsm()
        unconfined = confinement.warning(conf, lsm)
        if unconfined:
            found.append(unconfined)
        ignored = confinement.lsm_ignored(conf, lsm)
        if ignored:
            found.append(ignored)
        warnings = [f"{message} (fix: {fix})" for message, fix in found]
    if conf.device_lines or conf.family("lxc.cgroup") or conf.family("lxc.cgroup2"):
        from ..cgroups.limits import device_warnings
        warnings += device_warnings(conf)
    return request, warnings


def prewarm_cgroups(moved=False):
    """For root: cgroups.core.prewarm() (a thread to join before forking), else None. None
    too on a host where root's init can be born in its cgroups, which pays no grace period
    (and must fork with no other thread beside it: kernel/clone3.py) -- unless MOVED: the
    plan, having read the config, knows this init is moved (startplan.born_in_cgroups)."""
    if os.geteuid() != 0:
        return None
    if not moved:
        from ..kernel import clone3
        if clone3.supported():
            return None
    try:
        from ..cgroups.core import prewarm
    except ImportError:
        return None
    return prewarm()


def destroy_command(lxcpath, name):
    """What the supervisor runs when an ephemeral container has stopped: our lxc-destroy."""
    import sys
    return [sys.executable, "-c", "import sys; from lxctools.cli.destroy import main; "
            "sys.exit(main(sys.argv[1:]))", "-P", lxcpath, "-n", name]


def detach():
    """The supervisor leaves the caller's session and terminal; stdio goes to /dev/null."""
    from ..kernel import libc

    os.setsid()
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    try:
        libc.set_process_name("lxc monitor")
    except OSError:
        pass
