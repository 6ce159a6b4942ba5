"""The start plan: every step of a container's start, in order, with the side it runs on.

plan_start(conf) is the one list: the supervisor runs its HOST steps (Supervisor.boot), the
spawner its SPAWNER steps and the container's PID 1 its INIT and PIVOTED steps
(payload.py: they inherit the list with the Plan across the fork), and lxc-start --explain
prints it (explain.py). A step added here is run and explained; its place in the list is
its place in the start. tests/unit/test_start_plan.py checks the list against the order
LXC uses (lxc-behaviour.md 4.4).

Both sides talk over one SOCK_SEQPACKET pair (sync.py): a step that sends or waits for
a message is named after it ("go", "pid", "net", "ptys", "ready", "exec"), on each side.
Each side's steps share one context: Boot (the supervisor, its Plan, the sync socket, the
spawner's and init's pids) or Setup (the Plan, the sync socket, the rootfs as an fd, the
ptys made in the container's devpts). A step's condition (no rootfs, no network) is its
own first lines, so the list is the same for every config and --explain shows it whole.

Size: every step of both sides in the order they run, then what they use (Plan, the
cgroups' making, the shared namespaces, the id maps): the start read in one place.
"""

import _socket  # not socket.py: its imports are ~2 ms of a supervisor's cold start
import os
import resource
import signal
import time

from .. import log
from ..errors import LxcError
from ..kernel import libc
from ..kernel import fdlimit
from . import mounts, spare
from .payload import (DEFAULT_PATH, NS_CONFIG_NAMES, NS_FLAGS, _fail, apply_prlimits,
                      clone_flags, exec_init, find_program, init_copy, minimal_init,
                      reset_signals, stdio_on_console, switch_user)
from ..kernel.rootpath import Root
from .start import StartFailed
from .sync import Exec, Failed, Go, Mapped, Net, Pid, Ptys, Ready, Sync, Userns

HOST = "host"  # the supervisor, in the host's namespaces
# the first child: joins and unshares the namespaces, forks init. Only where init needs one
# (needs_spawner: a user namespace, shared namespaces); else the supervisor forks init
# itself, into its new PID namespace, and init runs these steps first
SPAWNER = "spawner"
INIT = "container"  # the container's PID 1 before pivot_root (the host's files in view)
PIVOTED = "pivoted"  # the same process after pivot_root: only the container's files
SIDES = (HOST, SPAWNER, INIT, PIVOTED)


class Step:
    """One step of a start: NAME (what --explain prints), the SIDE it runs on, the config
    keys it reads (INPUTS), and APPLY(context)."""

    __slots__ = ("name", "side", "inputs", "apply")

    def __init__(self, name, side, inputs, apply):
        assert side in SIDES, side
        self.name = name
        self.side = side
        self.inputs = tuple(inputs)
        self.apply = apply

    def __repr__(self):
        return f"Step({self.name!r}, {self.side})"


def run(steps, sides, context):
    """Apply, in order, the STEPS that run on one of SIDES."""
    for step in steps:
        if step.side in sides:
            step.apply(context)


class Boot:
    """What the supervisor's steps share while it starts one container."""

    def __init__(self, supervisor):
        self.sup = supervisor
        self.request = supervisor.request
        self.plan = None
        self.nics = None
        self.slirp4netns = None
        self.child = -1  # the process the supervisor forked: the spawner, or init itself
        self.sync = None
        self.message = None
        self.steps = ()
        self.warming = None  # cgroups.core.prewarm's thread until the first move
        self.born = False  # init born in its cgroups (born_in_cgroups), not moved
        self.started_at = None  # when init was told to exec
        self.staged = None  # RUNNING's record, written while init execs (_send_exec)


class Setup:
    """What the container side's steps share (the spawner's and PID 1's)."""

    def __init__(self, plan, sync):
        self.plan = plan
        self.sync = sync
        self.conf = plan.conf
        self.path = None  # where the rootfs is mounted
        self.root = None  # rootpath.Root of it: every path below it is opened through it
        self.masters, self.slaves = [], []
        self.flags = 0  # the spawner's: the namespaces it still has to unshare


# -- the supervisor, before the fork -----------------------------------------------------------
def _starting(boot):
    sup = boot.sup
    sup.set_state("STARTING")
    sup.stop_requested = sup.reboot_requested = False
    sup.exit_status = None


def _plan(boot):
    request = boot.request
    # the kernel's first cgroup move of this start, paid early (cgroups.core.prewarm):
    # prepare() started it for the first boot; a reboot starts its own
    warming, request.warming = getattr(request, "warming", None), None
    boot.born = born_in_cgroups(boot.sup.conf)
    if warming is None and not boot.born:
        from .start import prewarm_cgroups
        warming = prewarm_cgroups(moved=True)
    # joined before the first move (_enter_cgroups) or the start's failure (run_host): it
    # makes only system calls, so the forks before that (hooks, the spawner) are safe
    boot.warming = warming
    plan = boot.sup.plan = boot.plan = Plan(request)
    plan.steps = boot.steps  # the container side runs its own of them after the fork
    boot.sup.prepare_security(plan)


def _join_warming(boot):
    warming, boot.warming = boot.warming, None
    if warming is not None:
        warming.join()


def _apparmor(boot):
    boot.sup.prepare_apparmor(boot.plan)  # runs apparmor_parser


def _network_plan(boot):
    boot.nics = boot.sup.prepare_network(boot.plan)
    boot.slirp4netns = boot.sup.prepare_usermode(boot.plan)


def _shared_namespaces(boot):
    for kind, value in boot.sup.conf.family("lxc.namespace.share"):
        boot.plan.share_fds[kind] = open_shared_ns(kind, value, boot.sup.init_pid_of)


def _pre_start_hooks(boot):
    boot.plan.run_hook("pre-start")


def _cgroups(boot):
    sup, plan = boot.sup, boot.plan
    sup.cgroups = make_cgroups(sup.name, sup.lxcpath, sup.conf,
                               systemd_guest=getattr(boot.request, "guest", None) == "systemd",
                               on_claim=sup.claim_cgroups,
                               on_taken=lambda path: refuse_if_in_use(plan, path))
    if sup.cgroups is None:
        sup.cgroups_claim = None  # none could be made (an unprivileged start goes on)


def _console_log(boot):
    boot.sup.open_ttys(boot.plan)


def _fork(boot):
    plan = boot.plan
    parent_sock, child_sock = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    plan.sync_fd = child_sock.fileno()
    # lxc-execute's init, a sealed copy taken here on the host before anything is cloned
    # (entry.py): the container's setup process execs it once everything is done
    plan.init_fd = init_copy() if plan.execute else None
    plan.spawner = needs_spawner(boot.sup.conf)
    if plan.spawner and plan.clone_flags & libc.CLONE_NEWUSER:
        # the user namespace made and mapped ahead (spare.py), or None: the spawner makes one
        lines = boot.sup.conf.value("lxc.idmap") or []
        plan.userns_fd, plan.netns_fd = spare.take(lines)
        spare.want(lines)
    unified = None
    if boot.born and boot.sup.cgroups is not None:
        # born in its cgroups (born_in_cgroups): the cgroup2 one by clone3, the v1 ones by
        # the child itself, its first step (_own_cgroups)
        unified, plan.cgroup_tasks = boot.sup.cgroups.birth_fds()
        plan.cgroup_dir = unified
    else:
        boot.born = False
    try:
        if plan.spawner:
            boot.child, into = _fork_child(lambda: spawner_main(plan, child_sock), parent_sock,
                                           unified)
        else:
            boot.child, into = fork_init(plan, lambda: init_main(plan, Sync(child_sock)),
                                         parent_sock, unified)
        # a process with other threads, or a kernel that refused, forked as before: the
        # supervisor moves the child (_enter_cgroups), the grace period paid there
        boot.born = boot.born and (unified is None or into)
        if unified is not None:
            what = "the spawner" if plan.spawner else "init"
            log.debug(f"{what} born in its cgroups (clone3)" if into else
                      f"{what} forked, then moved into its cgroups (clone3 not usable here: "
                      "another thread, or the kernel refused)")
    finally:
        child_sock.close()
        for fd in (plan.init_fd, plan.userns_fd, plan.netns_fd, unified, *plan.cgroup_tasks):
            if fd is not None:
                os.close(fd)
        plan.userns_fd = plan.netns_fd = None  # the spawner's now
        plan.cgroup_tasks, plan.cgroup_dir = [], None  # init's
    boot.sync = Sync(parent_sock)


def needs_spawner(conf, euid=None):
    """Whether init is forked by a spawner (SPAWNER's steps in a process of their own) rather
    than by the supervisor itself. A new user namespace must be made by a single-threaded
    process (the supervisor has threads: cgroups.core.prewarm) before the PID namespace it is
    to own; a shared PID namespace is joined by init's parent (setns(CLONE_NEWPID) concerns
    only the children), and any sharing keeps the spawner so that it has one path; an
    ordinary user's supervisor makes no PID namespace without a user namespace."""
    if (os.geteuid() if euid is None else euid) != 0 or conf is None:
        return True
    return bool(clone_flags(conf) & libc.CLONE_NEWUSER) or bool(conf.family("lxc.namespace.share"))


def _fork_child(main, parent_sock, cgroup_fd=None):
    """Fork a child that runs MAIN (which ends in exec or os._exit) and nothing else of ours;
    born in the cgroup2 cgroup CGROUP_FD when one is given and clone3 can (kernel/clone3.py).
    Returns the child's pid and whether it was born there."""
    pid = None
    if cgroup_fd is not None:
        from ..kernel import clone3
        pid = clone3.fork_into(cgroup_fd)
    into = pid is not None
    if pid is None:
        pid = os.fork()
    if pid == 0:
        try:
            # the supervisor's signal wake-up pipe is not the container side's: a signal
            # to it (say from a start hook, a program of the container's, to PID 1) would
            # be written there and read by the supervisor as its own (a SIGTERM stops every
            # container). stdio_on_console closes the pipe later; this is from the first
            # instruction (test_start_hook_signals.py)
            signal.set_wakeup_fd(-1)
            parent_sock.close()
            main()
        finally:
            os._exit(1)  # never back into the supervisor's code in the child
    return pid, into


def fork_init(plan, main, parent_sock, cgroup_fd=None):
    """Fork the container's PID 1 (running MAIN) straight into a new PID namespace when it
    gets one, and into the cgroup CGROUP_FD (_fork_child, whose pair it returns).
    unshare(CLONE_NEWPID) makes it the namespace of the calling thread's next children only
    (the supervisor itself stays where it is); the thread is set back to its own at once, so
    that nothing else it forks (hooks, apparmor_parser, another start's init) is ever born
    in this container's namespace, where the container's root would see it."""
    new_pid = plan.clone_flags & libc.CLONE_NEWPID
    if new_pid:
        libc.unshare(libc.CLONE_NEWPID)
    try:
        return _fork_child(main, parent_sock, cgroup_fd)
    finally:
        if new_pid:
            _own_pid_namespace_again()


def _own_pid_namespace_again():
    """This thread's children back in its own PID namespace (/proc/self/ns/pid: the one it
    is in; unshare changed only where its children go). Should that ever fail, this
    process must fork nothing more: it exits as after a crash (its containers run on and
    the lxcpath's next supervisor adopts them; the init just forked finds its sync socket
    closed and exits)."""
    try:
        fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            libc.setns(fd, libc.CLONE_NEWPID)
        finally:
            os.close(fd)
    except BaseException as exc:  # noqa: BLE001 - see above
        try:
            log.error(f"cannot set the PID namespace of new children back: {exc}; exiting")
        finally:
            os._exit(70)


# -- the supervisor, with the spawner and init alive (run_host kills them on a failure) ---------
def _enter_cgroups(boot):
    _join_warming(boot)  # it has waited out the kernel's grace period for this move
    if boot.sup.cgroups is not None:
        if not boot.born:
            boot.sup.cgroups.enter(boot.child)
        if boot.sup.conf.value("lxc.idmap"):
            # after the move (as LXC): an ordinary user may no longer write the payload's
            # cgroup.procs once they are the container root's
            boot.sup.cgroups.give_to_container_root(boot.sup.conf.value("lxc.idmap"))


def _send_go(boot):
    try:
        boot.sync.send(Go())
    except OSError:
        pass  # the child is gone: the next message says why (init fails before go too)
    # init without a spawner sent its Pid before go, once in its namespaces (_own_namespaces)
    boot.message = boot.sup.expect(boot.sync, Pid, Userns)


def _id_maps(boot):
    if isinstance(boot.message, Userns):
        write_id_maps(boot.child, boot.sup.conf)
        boot.sync.send(Mapped())
        boot.message = boot.sup.expect(boot.sync, Pid)


def _init_pid(boot):
    sup = boot.sup
    # the spawner exits once it has sent init's pid (tearing down its copy of this
    # process's memory: up to a few ms, meanwhile init sets up): reaped after exec
    # (_send_exec), not waited for here. Unreaped, its pid cannot be reused before
    # run_host's failure path kills and reaps it
    # init forked by us says 1 (its own namespace's view): we know its pid
    sup.init_pid = boot.message.pid if boot.plan.spawner else boot.child
    sup.init_pidfd = libc.pidfd_open(sup.init_pid)
    sup.loop.children[sup.init_pid] = sup.init_exited


def _host_network(boot):
    sup = boot.sup
    if boot.nics:
        from .. import network
        sup.network_state = network.setup_host_side(boot.nics, sup.init_pid, sup.name,
                                                    lxcpath=sup.lxcpath)
    if boot.slirp4netns:
        from ..network import usermode
        sup.usermode = usermode.start(boot.slirp4netns, sup.init_pid,
                                      bool(boot.plan.clone_flags & NS_FLAGS["user"]))


def _record_init(boot):
    # init's pid, its cgroups and network on record before it can exec (it waits for "exec"):
    # should this process die from here on, whoever takes the container's socket next finds
    # that init (take_over) instead of starting a second one. Written after "net", while
    # init makes its network and pivots; a crash before it leaves an init that exits at its
    # next message (EOF), as one that never got "go" does
    boot.sup.record(required=True)


def _send_net(boot):
    boot.sync.send(Net())


def _take_ptys(boot):
    ptys = boot.sup.expect(boot.sync, Ptys)
    boot.sup.take_ptys(boot.plan, ptys.fds)


def _wait_ready(boot):
    boot.sup.expect(boot.sync, Ready)


def _device_rules(boot):
    if boot.sup.cgroups is not None:
        boot.sup.cgroups.apply_devices()


def _start_host_hooks(boot):
    boot.sup.run_host_hook("start-host")


def _send_exec(boot):
    boot.sync.send(Exec())
    sup = boot.sup
    # RUNNING's record written while init execs (the kernel tearing down its copy of our
    # memory: ~1 ms), put in place once the exec is seen (_running); the file alone, not yet
    # the record: a crash meanwhile leaves a temporary file, which the next supervisor
    # removes, and a start that is undone
    boot.started_at = time.time()
    try:
        boot.staged = sup.stage_record("RUNNING", started_at=boot.started_at) \
            if sup.listener is not None else None
    except OSError:
        boot.staged = None  # _running writes it, or says why it cannot
    try:
        message = boot.sync.receive()
    except BaseException:
        _discard_staged(boot)
        raise
    if message is not None:
        _discard_staged(boot)
        if isinstance(message, Failed):
            raise StartFailed(message.error, hint=message.hint)
        raise StartFailed("the container failed to start")
    # EOF: init exec'd and the spawner closed its end, exiting long ago; once it is reaped
    # init is surely our child (a dying process hands its children on after closing its
    # files), as on_init_exit's waitpid needs. Without a spawner init was our child already
    if boot.plan.spawner:
        os.waitpid(boot.child, 0)


def _discard_staged(boot):
    staged, boot.staged = boot.staged, None
    if staged is not None:
        boot.sup.discard_record(staged)


def _running(boot):
    sup = boot.sup
    sup.started_at = boot.started_at or time.time()
    # required: a start is reported only once its record says RUNNING (a crash after that
    # is adopted, before it is undone: take_over)
    sup.set_state("RUNNING", required=True, staged=boot.staged)
    if boot.request.pidfile:
        from ..atomic import atomic_write
        atomic_write(boot.request.pidfile, f"{os.getpid()}\n".encode(), mode=0o600)


def run_host(steps, boot):
    """The supervisor's side of STEPS (plan_start's list, handed to the Plan for the
    container's side). From the fork until exec, a failure kills the spawner
    and init before it goes up (nothing half-started stays); the sync socket is closed
    whatever happens once it exists."""
    boot.steps = steps
    host = [s for s in steps if s.side == HOST]
    forked = next(i for i, s in enumerate(host) if s.apply is _fork) + 1
    exec_done = next(i for i, s in enumerate(host) if s.apply is _send_exec) + 1
    try:
        run(host[:forked], (HOST,), boot)
    except BaseException:
        _join_warming(boot)
        raise
    try:
        run(host[forked:exec_done], (HOST,), boot)
    except BaseException:
        _join_warming(boot)  # a failure before the first move (the cgroups' making)
        boot.sup.kill_init(signal.SIGKILL)
        # without a spawner both are init: killed and reaped once (a reaped pid may be reused)
        for pid in dict.fromkeys((boot.child, boot.sup.init_pid)):
            if pid > 0:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
        raise
    finally:
        boot.sync.sock.close()
    run(host[exec_done:], (HOST,), boot)


# -- the spawner (C1) --------------------------------------------------------------------------
def spawner_main(plan, sync_sock):
    """C1: its steps of the plan (join the cgroups, unshare, fork PID 1, report it)."""
    sync = Sync(sync_sock)
    try:
        run(plan.steps, (SPAWNER,), Setup(plan, sync))
    except BaseException as exc:  # noqa: BLE001 - anything must reach the supervisor
        _fail(sync, exc)
    os._exit(0)


def init_main(plan, sync):
    """C2, PID 1 of the container: its steps of the plan, before and after pivot_root,
    ending in the exec of the container's init (forked by the supervisor itself: the
    spawner's steps first). Never returns."""
    sides = (INIT, PIVOTED) if plan.spawner else (SPAWNER, INIT, PIVOTED)
    try:
        run(plan.steps, sides, Setup(plan, sync))
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, FileNotFoundError) and exc.filename == "exec":
            exc = LxcError(f'Failed to exec "{plan.argv[0]}": No such file or directory',
                           hint="give the full path of a program inside the container")
        _fail(sync, exc)


def _wait_go(setup):
    if setup.plan.spawner:
        libc.set_pdeathsig(signal.SIGKILL)
    # init itself (no spawner) gets none: it would outlive the exec, and a crash of the
    # supervisor must not take a running container with it. Its next receive gets EOF.
    setup.sync.expect(Go)


def _join_shared(setup):
    for fd in setup.plan.share_fds.values():
        libc.setns(fd, 0)


def _user_namespace(setup):
    setup.flags = setup.plan.clone_flags
    if setup.flags & libc.CLONE_NEWUSER:
        fd = setup.plan.userns_fd
        if fd is not None:
            # made and mapped ahead for this start alone (spare.py): joined as its owner
            setup.plan.userns_fd = None
            libc.setns(fd, libc.CLONE_NEWUSER)
            os.close(fd)
        else:
            libc.unshare(libc.CLONE_NEWUSER)
            setup.sync.send(Userns())
            setup.sync.expect(Mapped)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        # changing ids made us undumpable: /proc/PID/ns/* of init (a fork of this) would
        # be closed to the non-root owner of its user namespace until init execs, and
        # slirp4netns and lxc-user-nic open them before that (LXC does the same)
        libc.set_dumpable(True)
        setup.flags &= ~libc.CLONE_NEWUSER


def _own_cgroups(setup):
    # born in its cgroup2 cgroup (clone3), init or the spawner moves itself in each v1
    # hierarchy: "0" to `tasks` moves the writing thread, which a single-threaded process is,
    # without the kernel's global lock (kernel/clone3.py); first, so that all it does (and
    # all it forks: init, under a spawner) is accounted there
    fds, setup.plan.cgroup_tasks = setup.plan.cgroup_tasks, []
    if setup.plan.cgroup_dir is not None:
        os.close(setup.plan.cgroup_dir)  # clone3's: nothing of the host's kept open
        setup.plan.cgroup_dir = None
    try:
        for fd in fds:
            try:
                os.write(fd, b"0")
            except OSError as exc:
                raise LxcError(f"the container's first process cannot move itself into its cgroup "
                               f"({os.readlink(f'/proc/self/fd/{fd}')}): {os.strerror(exc.errno)}")
    finally:
        for fd in fds:
            os.close(fd)


def _own_namespaces(setup):
    if setup.plan.spawner:
        return  # the spawner's come after go: a user namespace first, then the rest
    # init forked by the supervisor, PID 1 of its new PID namespace already (fork_init):
    # the others now, while the supervisor makes the cgroups (as LXC's clone makes them all
    # but the cgroup one before the move)
    flags = setup.plan.clone_flags & ~(libc.CLONE_NEWPID | libc.CLONE_NEWCGROUP)
    if flags:
        libc.unshare(flags)


def _own_pid(setup):
    if setup.plan.spawner:
        return  # the spawner sends init's once it has forked it
    # its pid (1 here) tells the supervisor that its network namespace is there to be given
    # NICs, and that its mounts are made when they come first (setup_before_cgroups): a
    # failure of theirs reaches the supervisor as a Failed in its place
    setup.sync.send(Pid(pid=os.getpid()))


def _unshare(setup):
    flags = setup.flags
    if not setup.plan.spawner:
        # init: the cgroup namespace is left, made only now that it sits in its cgroups
        flags &= libc.CLONE_NEWCGROUP
    fd, setup.plan.netns_fd = setup.plan.netns_fd, None
    if fd is not None:
        # the spare's network namespace (spare.py), made in the user namespace just joined
        if flags & libc.CLONE_NEWNET:
            libc.setns(fd, libc.CLONE_NEWNET)
            flags &= ~libc.CLONE_NEWNET
        os.close(fd)
    if flags:
        libc.unshare(flags)


def _fork_init(setup):
    if not setup.plan.spawner:
        return  # this is init: the supervisor forked it and knows its pid
    pid = os.fork()
    if pid == 0:
        init_main(setup.plan, setup.sync)
    setup.sync.send(Pid(pid=pid))


# -- the container's PID 1, before pivot_root -------------------------------------------------
def _session(setup):
    os.setsid()


def _lsm_attr(setup):
    plan = setup.plan
    if plan.security is not None:
        # the AppArmor attr of this very task, through the host's /proc (after pivot_root
        # /proc is the container's): written just before exec; lxc-execute's Python init
        # (minimal_init) never execs, so it switches at once, as LXC does
        plan.security.lsm_now = plan.execute and plan.init_fd is None
        plan.security.open_lsm()


def _wait_net(setup):
    # no PDEATHSIG here: our parent (the spawner) exits at once, on purpose. If the
    # supervisor dies during setup, the next receive() gets EOF and we exit.
    setup.sync.expect(Net)


def _network_inside(setup):
    if setup.plan.configure_network:
        setup.plan.configure_network()


def _mounts_slave(setup):
    if setup.plan.clone_flags & libc.CLONE_NEWNS:
        libc.mount(None, "/", None, libc.MS_SLAVE | libc.MS_REC)


def _pre_mount_hooks(setup):
    setup.plan.run_hook("pre-mount")


def _rootfs(setup):
    plan, conf = setup.plan, setup.conf
    path = plan.rootfs_mount
    if plan.rootfs:
        os.makedirs(path, exist_ok=True)
        mounts.mount_rootfs(conf.value("lxc.rootfs.path"), path, conf.value("lxc.rootfs.options"))
    else:
        path = "/"
    # Everything below the rootfs is the container's, and we are still root in the host's
    # file system: from here on every place in it is opened through this fd
    # (kernel/rootpath.py), never walked as a path.
    setup.path = path
    setup.root = Root(path)


def _dev_tmpfs(setup):
    if setup.plan.rootfs and setup.plan.autodev:
        mounts.mount_dev(setup.conf, setup.root)


def _mount_auto(setup):
    mounts.mount_auto(setup.conf, setup.root)


def _mount_auto_cgroup(setup):
    mounts.mount_auto_cgroup(setup.conf, setup.root, setup.plan.keeps_sys_admin,
                             bool(setup.plan.clone_flags & libc.CLONE_NEWCGROUP))


def _mount_fstab(setup):
    fstab = setup.conf.value("lxc.mount.fstab")
    for line in (mounts.read_fstab(fstab) if fstab else []):
        mounts.mount_entry(line, setup.root, "lxc.mount.fstab", setup.plan.mount_prefixes)


def _mount_entries(setup):
    for line in setup.conf.value("lxc.mount.entry") or []:
        mounts.mount_entry(line, setup.root, prefixes=setup.plan.mount_prefixes)


def _lxcfs(setup):
    if setup.plan.lxcfs:
        mounts.bind_lxcfs(setup.root)


def _journal(setup):
    if setup.plan.journal:
        from . import journal
        journal.link(setup.plan.journal, setup.root, setup.plan.env)


def _mount_hooks(setup):
    setup.plan.run_hook("mount")


def _autodev_hooks(setup):
    if setup.plan.rootfs and setup.plan.autodev:
        setup.plan.run_hook("autodev")


def _device_nodes(setup):
    if setup.plan.rootfs and setup.plan.autodev:
        mounts.fill_dev(setup.root)
        mounts.fresh_boot_id(setup.root)


def _devpts(setup):
    plan = setup.plan
    if plan.rootfs:
        mounts.setup_devpts(setup.conf, setup.root, extra=1 if plan.want_console else 0)
        # console and ttys come from the container's own devpts (as LXC 5 does for its
        # ttys): their owner is the container's root, privileged or not
        setup.masters, setup.slaves = mounts.allocate_ptys(
            setup.root, plan.want_console, plan.tty_count, setup.conf.value("lxc.tty.dir"))


def _pivot_root(setup):
    if setup.plan.rootfs:
        mounts.pivot_into(setup.root)
    setup.root.close()


# -- the container's PID 1, after pivot_root ---------------------------------------------------
def _hostname(setup):
    if setup.plan.clone_flags & libc.CLONE_NEWUTS:
        libc.sethostname(setup.plan.hostname)


def _sysctl(setup):
    for key, value in setup.conf.family("lxc.sysctl"):
        with open("/proc/sys/" + key.replace(".", "/"), "w") as handle:
            handle.write(value)


def _proc(setup):
    for key, value in setup.conf.family("lxc.proc"):
        with open("/proc/self/" + key.replace(".", "/"), "w") as handle:
            handle.write(value)


def _prlimits(setup):
    apply_prlimits(setup.conf, nofile=False)  # that one once the inherited fds are closed


def _send_ptys(setup):
    # the supervisor keeps the masters and the console's slave alone (it watches the console
    # master, and a master with no slave open reports a hang-up to epoll without end); a
    # tty's slave it opens from the master while an lxc-console holds that tty
    held = setup.slaves[:1] if setup.plan.want_console else []
    setup.sync.send(Ptys(ptys=len(setup.masters)), fds=setup.masters + held)
    for fd in setup.masters + setup.slaves:
        os.close(fd)


def _stdio(setup):
    stdio_on_console(setup.plan)  # before "ready": device rules come then and may forbid it


def _nofile(setup):
    # The open-file limit the supervisor was started with, not the one it raised for itself,
    # then lxc.prlimit.nofile: only now, with the supervisor's descriptors closed (thousands
    # of them, all below a limit of 1024 otherwise: no open() would succeed).
    fdlimit.restore_soft_limit()
    apply_prlimits(setup.conf, only=resource.RLIMIT_NOFILE)


def _send_ready(setup):
    setup.sync.send(Ready())


def _wait_exec(setup):
    setup.sync.expect(Exec)


def _security(setup):
    # Confined before the start hooks, as LXC: a start hook is a program of the container's
    # (found in its rootfs) and must get no capability, nor escape a filter, that the
    # container's own processes do not have. Also what lxc-execute's init runs under
    # (exec_init).
    setup.plan.apply_security()


def _start_hooks(setup):
    setup.plan.run_hook("start", inside=True)


def _exec_init(setup):
    plan, conf = setup.plan, setup.conf
    reset_signals()
    argv = plan.argv
    env = plan.env  # computed before the fork: uuid cannot be imported after pivot_root
    program = find_program(argv[0], env.get("PATH", DEFAULT_PATH))
    os.chdir(conf.value("lxc.init.cwd") or "/")
    if plan.execute:
        if plan.init_fd is not None:
            exec_init(plan, program, argv, env, setup.sync)
        minimal_init(plan, program, argv, env, setup.sync)
    switch_user(conf)
    os.execve(program, argv, env)


_HOOK = "lxc.hook."


def plan_start(conf=None):
    """Every step of a start, in the order it runs (CONF is what it is planned for: each
    step decides from it whether it has work). The list is LXC's order for every CONF but
    one whose init is born in its cgroups (born_in_cgroups: they are made before the fork,
    and init's first step moves it into the v1 ones), and one that lets init make its
    mounts before it sends its pid (setup_before_cgroups)."""
    steps = _every_step()
    if born_in_cgroups(conf):
        # made before the fork, init born in them (as LXC's clone3 on a cgroup2 host)
        made = next(s for s in steps if s.apply is _cgroups)
        steps.remove(made)
        at = next(i for i, s in enumerate(steps) if s.apply is _fork)
        steps[at:at + 1] = [made, steps[at], Step("born in its cgroups, init or the spawner (in "
                                                  "v1 ones it moves itself)", SPAWNER, (),
                                                  _own_cgroups)]
    if setup_before_cgroups(conf):
        first = next(i for i, s in enumerate(steps) if s.apply is _mounts_slave)
        last = next(i for i, s in enumerate(steps) if s.apply is _devpts)
        early = [s for s in steps[first:last + 1] if s.apply is not _mount_auto_cgroup]
        steps = [s for s in steps if s not in early]
        at = next(i for i, s in enumerate(steps) if s.apply is _own_pid)
        steps[at:at] = early
    return steps


def born_in_cgroups(conf):
    """Whether the supervisor's child (init, or the spawner that forks it) is born in its
    cgroups rather than moved there after the fork: wherever clone3 takes CLONE_INTO_CGROUP
    (kernel/clone3.py). A move waits out the kernel's grace period when none happened
    lately (cgroups.core.prewarm: 8-16 ms of a start on an idle host); a birth does not.
    The cgroups are then made before the fork (LXC's order); should the fork find the
    process with other threads, or no cgroup be made (an ordinary user with none
    delegated), the child is moved as before, or not at all."""
    if conf is None:
        return False
    if os.geteuid() != 0 and not _delegation_possible():
        # an ordinary user gets cgroups only on a cgroup2-only host (cgroups/monitor.py
        # _enter_delegated): elsewhere nothing is moved, and making (none) before the fork
        # would only lose its overlap with the spawner's work (~3 ms of a user's start)
        return False
    from ..kernel import clone3
    return clone3.supported()


_LAYOUT = {}


def _delegation_possible():
    """Whether this host's cgroups are cgroup2 alone (read once per process)."""
    if "layout" not in _LAYOUT:
        from ..cgroups import host as H
        try:
            _LAYOUT["layout"] = H.layout(H.read_mountinfo())
        except (OSError, ValueError):
            _LAYOUT["layout"] = None
    return _LAYOUT["layout"] == "unified"


# hooks that init runs among its mounts: a program of the container's, whose processes LXC
# accounts to its cgroups
_MOUNT_HOOKS = ("pre-mount", "mount", "autodev")


def setup_before_cgroups(conf):
    """Whether init makes its mounts (the rootfs to devpts and its ptys) before it is in its
    cgroups, while the supervisor makes them, instead of after (LXC's order). The
    supervisor's first cgroup move of a start waits out the kernel's grace period
    (cgroups.core.prewarm: 8-20 ms on an idle host), the Python of init's mounts (~5 ms) fits
    in it. Only where nothing can tell the difference: init forked by the supervisor (no
    spawner: no user namespace, nothing shared), no hook among the mounts, no mount of a
    cgroup hierarchy (it would show the host's view: the cgroup namespace comes after the
    move; lxc.mount.auto's cgroup word stays after it in either order), no lxc.mount.fstab
    (not read before the fork). What it changes is where the kernel charges the few pages
    of /dev's tmpfs and the ptys: the host's cgroup, not the container's -- unless init is
    born in its cgroups (born_in_cgroups), where there is no wait to fill either."""
    if conf is None or needs_spawner(conf):
        return False
    if any(conf.value(_HOOK + kind) for kind in _MOUNT_HOOKS):
        return False
    if conf.value("lxc.mount.fstab"):
        return False
    for line in conf.value("lxc.mount.entry") or []:
        fields = line.split()
        if len(fields) > 2 and fields[2] in ("cgroup", "cgroup2"):
            return False
    return True


def _every_step():
    """plan_start's steps in LXC's order."""
    return [
        Step("state STARTING", HOST, (), _starting),
        Step("plan the start and its security policy", HOST,
             ("lxc.cap.drop", "lxc.cap.keep", "lxc.seccomp.profile", "lxc.apparmor.profile",
              "lxc.no_new_privs"), _plan),
        Step("AppArmor profile chosen (a generated one loaded), SELinux refused", HOST,
             ("lxc.apparmor.profile", "lxc.apparmor.allow_nesting", "lxc.apparmor.raw",
              "lxc.apparmor.allow_incomplete", "lxc.selinux.context"), _apparmor),
        Step("check the network plan", HOST, ("lxc.net.*", "lxctools.net.usermode"),
             _network_plan),
        Step("open the namespaces to share", HOST, ("lxc.namespace.share.*",),
             _shared_namespaces),
        Step("pre-start hooks", HOST, (_HOOK + "pre-start",), _pre_start_hooks),
        # before the cgroups (LXC makes them first): the fork overlaps the kernel's grace
        # period that their making waits out (cgroups.core.prewarm); the child makes only
        # its namespaces (init, next step) until "go", by when it is in them
        Step("fork init into its new PID namespace, or the spawner (lxc.idmap, shared "
             "namespaces)", HOST, ("lxc.idmap", "lxc.namespace.share.*"), _fork),
        Step("init without a spawner: its namespaces but the cgroup one", SPAWNER,
             ("lxc.namespace.clone", "lxc.namespace.keep"), _own_namespaces),
        Step("init without a spawner: send its pid", SPAWNER, (), _own_pid),
        Step("cgroups made, limits written", HOST, ("lxc.cgroup.*", "lxc.cgroup2.*"),
             _cgroups),
        Step("console log opened", HOST, ("lxc.console.logfile",), _console_log),
        Step("init or the spawner into the cgroups (given to the container's root)", HOST,
             ("lxc.idmap",), _enter_cgroups),
        Step("send go", HOST, (), _send_go),
        Step("wait for go", SPAWNER, (), _wait_go),
        Step("join the shared namespaces", SPAWNER, ("lxc.namespace.share.*",), _join_shared),
        Step("user namespace: the spare one mapped ahead, else a new one", SPAWNER,
             ("lxc.idmap",), _user_namespace),
        Step("write the id maps (of a new one)", HOST, ("lxc.idmap",), _id_maps),
        Step("unshare the namespaces", SPAWNER,
             ("lxc.namespace.clone", "lxc.namespace.keep"), _unshare),
        Step("fork init, send its pid (the spawner's)", SPAWNER, (), _fork_init),
        Step("init's pid", HOST, (), _init_pid),
        Step("host side of the network", HOST, ("lxc.net.*", "lxctools.net.usermode"),
             _host_network),
        Step("send net", HOST, (), _send_net),
        Step("record init", HOST, (), _record_init),
        Step("new session", INIT, (), _session),
        Step("AppArmor attr opened (the host's /proc)", INIT, ("lxc.apparmor.profile",),
             _lsm_attr),
        Step("wait for net", INIT, (), _wait_net),
        Step("network inside", INIT, ("lxc.net.*",), _network_inside),
        Step("mounts made slaves of the host's", INIT, (), _mounts_slave),
        Step("pre-mount hooks", INIT, (_HOOK + "pre-mount",), _pre_mount_hooks),
        Step("mount the rootfs", INIT,
             ("lxc.rootfs.path", "lxc.rootfs.mount", "lxc.rootfs.options"), _rootfs),
        Step("tmpfs on /dev", INIT, ("lxc.autodev", "lxc.autodev.tmpfs.size"), _dev_tmpfs),
        Step("lxc.mount.auto: proc, sys", INIT, ("lxc.mount.auto",), _mount_auto),
        Step("lxc.mount.fstab", INIT, ("lxc.mount.fstab",), _mount_fstab),
        Step("lxc.mount.entry", INIT, ("lxc.mount.entry",), _mount_entries),
        Step("lxc.mount.auto: cgroup (as the cgroup namespace shows them)", INIT,
             ("lxc.mount.auto",), _mount_auto_cgroup),
        Step("lxcfs views", INIT, (), _lxcfs),
        Step("journal link", INIT, ("lxctools.journal.link",), _journal),
        Step("mount hooks", INIT, (_HOOK + "mount",), _mount_hooks),
        Step("autodev hooks", INIT, (_HOOK + "autodev", "lxc.autodev"), _autodev_hooks),
        Step("device nodes and boot_id", INIT, ("lxc.autodev",), _device_nodes),
        Step("devpts, console and ttys", INIT,
             ("lxc.pty.max", "lxc.tty.max", "lxc.tty.dir", "lxc.console.path"), _devpts),
        Step("pivot_root", INIT, ("lxc.rootfs.path",), _pivot_root),
        Step("hostname", PIVOTED, ("lxc.uts.name",), _hostname),
        Step("sysctls", PIVOTED, ("lxc.sysctl.*",), _sysctl),
        Step("lxc.proc", PIVOTED, ("lxc.proc.*",), _proc),
        Step("prlimits", PIVOTED, ("lxc.prlimit.*",), _prlimits),
        Step("send the ptys", PIVOTED, (), _send_ptys),
        Step("take the ptys", HOST, (), _take_ptys),
        Step("stdio on the console", PIVOTED, ("lxc.console.path",), _stdio),
        Step("open-file limit", PIVOTED, ("lxc.prlimit.nofile",), _nofile),
        Step("send ready", PIVOTED, (), _send_ready),
        Step("wait for ready", HOST, (), _wait_ready),
        Step("device rules", HOST, ("lxc.cgroup.devices.*", "lxc.cgroup2.devices.*"),
             _device_rules),
        Step("start-host hooks", HOST, (_HOOK + "start-host",), _start_host_hooks),
        Step("send exec", HOST, (), _send_exec),
        Step("wait for exec", PIVOTED, (), _wait_exec),
        Step("capabilities, LSM, seccomp, no_new_privs", PIVOTED,
             ("lxc.cap.drop", "lxc.cap.keep", "lxc.apparmor.profile", "lxc.seccomp.profile",
              "lxc.no_new_privs"), _security),
        Step("start hooks", PIVOTED, (_HOOK + "start",), _start_hooks),
        Step("exec init", PIVOTED, ("lxc.init.cmd", "lxc.init.cwd", "lxc.init.uid",
                                    "lxc.init.gid", "lxc.environment"), _exec_init),
        Step("state RUNNING", HOST, (), _running),
    ]


# -- what the steps use -------------------------------------------------------------------
class Plan:
    """Everything the container side needs, computed in the supervisor before the fork."""

    def __init__(self, request):
        from .hooks import rootfs_path

        conf = request.conf
        self.request = request
        self.conf = conf
        self.name = request.name
        self.rootfs = rootfs_path(conf)
        mount_point = conf.value("lxc.rootfs.mount")
        from .mounts import DEFAULT_ROOTFS_MOUNT
        if not mount_point:
            # LXC's own mount point when its package made it, else one of ours: any empty dir
            # will do, each container mounts there in its own mount namespace.
            mount_point = DEFAULT_ROOTFS_MOUNT
            if not os.path.isdir(mount_point):
                from ..paths import runtime_dir
                mount_point = os.path.join(runtime_dir(), "lxctools", "rootfs.mount")
                os.makedirs(mount_point, exist_ok=True)
        self.rootfs_mount = mount_point
        # absolute lxc.mount.entry targets may start with these host paths of the rootfs
        # (LXC's mount_entry_on_absolute_rootfs): computed here, the setup process reads no
        # lxc.conf
        from ..paths import default_lxcpath
        self.mount_prefixes = tuple(p for p in (
            os.path.join(default_lxcpath(), request.name, "rootfs"), self.rootfs) if p)
        self.hostname = conf.value("lxc.uts.name") or request.name
        self.autodev = (conf.value("lxc.autodev") or "1") != "0"
        self.execute = request.execute
        self.argv = request.argv
        self.clone_flags = clone_flags(conf)
        self.share_fds = {}
        self.want_console = conf.value("lxc.console.path") != "none"
        self.tty_count = int(conf.value("lxc.tty.max") or 0)
        self.sync_fd = -1
        self.spawner = True  # init forked by a spawner (needs_spawner), set at the fork
        self.init_fd = None  # lxc-execute: the compiled init's sealed memfd (boot)
        self.cgroup_tasks = []  # born in its cgroups: the v1 `tasks` init writes "0" to
        self.cgroup_dir = None  # and the cgroup2 directory it was born in (both closed then)
        self.userns_fd = None  # a spare user namespace, mapped ahead (spare.py, boot)
        self.netns_fd = None  # and the network namespace made in it
        self.passthrough_stdio = request.passthrough_stdio
        from ..kernel import caps
        from ..security.capabilities import plan as caps_plan
        # by number: lxc.cap.drop = 21 drops sys_admin as surely as its name does
        self.keeps_sys_admin = caps.NUMBERS["sys_admin"] not in caps_plan(conf, caps.last_cap())
        self.configure_network = None
        self.security = None
        self.env = self.environment()
        # lxcfs's /proc views when the host runs it (unless LXC's own lxcfs hook is configured)
        from .mounts import lxcfs_running
        hooks = " ".join(conf.value("lxc.hook.mount") or [])
        self.lxcfs = bool(self.rootfs) and "lxcfs" not in hooks and lxcfs_running()
        if conf.value("lxc.hook.start"):
            # the start hooks run after pivot_root, where the host's files (the standard
            # library's) are gone: what run_hooks imports, imported here
            import shlex  # noqa: F401
            import subprocess  # noqa: F401
        self.journal = None
        if conf.value("lxctools.journal.link"):
            from . import journal
            self.journal = journal.plan(conf, self.rootfs, bool(conf.value("lxc.idmap")))

    def run_hook(self, hook_type, inside=False):
        from .hooks import run_hooks
        config_file = self.request.config_file or ""
        run_hooks(hook_type, self.name, self.conf, config_file)

    def apply_security(self):
        if self.security is not None:
            self.security.apply()

    def environment(self):
        # systemd's Container Interface: container, container_uuid (stable: derived from the
        # lxcpath and name), container_ttys (the ttys set up for gettys)
        env = {"container": "lxc",
               "container_uuid": uuid5_url(f"lxctools:{self.request.lxcpath}/{self.name}")}
        ttys = int(self.conf.value("lxc.tty.max") or 0)
        if ttys and self.rootfs:
            # the ttys are ptys of the container's fresh devpts, allocated in order after the
            # console: systemd's getty generator starts container-getty@N for each pts/N here
            first = 1 if self.conf.value("lxc.console.path") != "none" else 0
            env["container_ttys"] = " ".join(f"pts/{first + i}" for i in range(ttys))
        for entry in (self.conf.value("lxc.environment") or []) + (
                self.conf.value("lxc.environment.runtime") or []):
            key, sep, value = entry.partition("=")
            env[key] = value if sep else os.environ.get(key, "")
        if self.execute and "PATH" not in env:
            env["PATH"] = DEFAULT_PATH
        return env


def uuid5_url(name):
    """str(uuid.uuid5(uuid.NAMESPACE_URL, NAME)) without importing uuid (it pulls in platform
    and hashlib: ~3 ms of every start)."""
    try:
        from _sha1 import sha1
    except ImportError:  # a Python built without its own hashes
        import uuid
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    namespace_url = bytes.fromhex("6ba7b8119dad11d180b400c04fd430c8")
    digest = bytearray(sha1(namespace_url + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def refuse_if_in_use(plan, path):
    """Cgroups.create found PATH (the container's cgroup name) taken: before the start goes
    on under NAME-1, make sure what sits there is not this very container, run by nobody's
    record (a start whose supervisor died before recording its init). A second init on
    the same rootfs would be ruin."""
    if not plan.rootfs:
        return
    from ..cgroups.core import member_pids
    pids = member_pids(path)
    if not pids:
        return
    from ..storage.inuse import describe, processes_on
    container_dir = os.path.join(plan.request.lxcpath, plan.name)
    users = processes_on(plan.conf.value("lxc.rootfs.path"), container_dir, pids=pids)
    if users:
        raise StartFailed(f"{plan.name} is already running outside any supervisor: "
                          f"{describe(users)} in {path} run from its rootfs; not starting a "
                          "second init", hint=f"kill them (kill -9 {' '.join(map(str, users))})"
                                              ", then start it again")


def make_cgroups(name, lxcpath, conf, systemd_guest=False, on_claim=None, on_taken=None):
    try:
        from ..cgroups import Cgroups
    except ImportError:
        return None
    try:
        hierarchies = None
        if systemd_guest:
            from ..cgroups import systemd_v1
            hierarchies, mounted = systemd_v1.ensure()
            if mounted:
                log.info(f"mounted a name=systemd hierarchy at {systemd_v1.mount_dir()} "
                         "(this host has none; systemd guests need one)")
        cgroups = Cgroups.for_container(name, lxcpath, conf, hierarchies=hierarchies)
        cgroups.create(on_claim=on_claim, on_taken=on_taken)
    except StartFailed:
        raise  # the container already runs (on_taken), or its record cannot be written
    except LxcError as exc:
        if os.geteuid() == 0 or conf.family("lxc.cgroup") or conf.family("lxc.cgroup2"):
            raise
        # as LXC: an unprivileged container without delegated cgroups still starts
        log.warn(f"no cgroups for {name}: {exc} (limits, freezing and usage figures are "
                 "unavailable; lxc-checkconfig shows how to delegate)")
        return None
    try:
        # device rules come later (apply_devices at "ready"), as LXC: a deny-all list must
        # not lock init out of /dev and its console while it sets them up
        cgroups.apply_limits(devices=False)
    except BaseException:
        cgroups.destroy()
        raise
    return cgroups


def open_shared_ns(kind, value, init_pid_of):
    """lxc.namespace.share.KIND = NAME|PID: an fd of that namespace. INIT_PID_OF(NAME) is
    the supervisor's way to ask another container of its lxcpath (monitor/peers.py)."""
    kind = NS_CONFIG_NAMES.get(kind, kind)
    if value.isdigit():
        pid = int(value)
    else:
        pid = init_pid_of(value)
    try:
        return os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise StartFailed(f"lxc.namespace.share.{kind}: cannot open the {kind} namespace of "
                          f"{value}: {exc.strerror}", key=f"lxc.namespace.share.{kind}") from None


def write_id_maps(pid, conf):
    """lxc.idmap for the spawner's new user namespace (idmap/userns.py writes maps)."""
    from ..idmap.userns import parse_idmap, write_maps
    write_maps(pid, parse_idmap(conf.value("lxc.idmap") or []))
