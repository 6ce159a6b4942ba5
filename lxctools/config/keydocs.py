"""What each key of the key table means, for lxc.container.conf(5) (tools/make-man.py).

Kept apart from keys.py so that the tools, which import the table on every run, do not load
the prose. DOCS and NET_DOCS map every row of keys.KEYS and keys.NET_KEYS (by name; NET_DOCS
by the part after lxc.net.N.) to (what it does, its default); tests/unit/test_man.py fails
when a row has no entry or an entry has no row. A default names what applies when the key is
absent ("unset": nothing is done for it). Where lxctools does something other than LXC the
text says so, starting "lxctools:".
"""

DOCS = {
    # lxctools' own keys (real LXC ignores lines that do not start with lxc.)
    "lxctools.net.usermode": (
        "A user-mode network for the container through slirp4netns: the container gets "
        "10.0.2.100/24 with the gateway 10.0.2.2, which reaches the host's loopback, and DNS "
        "at 10.0.2.3; no bridge, veth or root privilege is needed, so it suits unprivileged "
        "containers. Use it instead of an lxc.net.0 interface.", "unset (no such network)"),
    "lxctools.journal.link": (
        "Link the guest's systemd journal (/var/log/journal/MACHINE-ID) with the host's, as "
        "systemd-nspawn --link-journal does: host keeps the files on the host and binds them "
        "into the guest, guest keeps them in the guest with a symlink on the host, try-host "
        "and try-guest do the same only when the host has /var/log/journal, auto binds when "
        "the host has the directory, no does nothing. Privileged containers only.", "no"),
    "lxctools.unconfined": (
        "1 says that this privileged container runs without device rules or a seccomp "
        "policy on purpose, so lxc-start does not warn about it. The busybox template and "
        "the downloaded images include common.conf, which confines them.", "0"),
    # identity and general
    "lxc.arch": (
        "The architecture the container reports (its personality), e.g. x86 or i686 for a "
        "32-bit guest on an x86_64 host; x86_64, amd64, arm64, armhf and LXC's other names "
        "are accepted.", "the host's"),
    "lxc.uts.name": (
        "The container's hostname, set in its own UTS namespace.",
        "unset: the hostname is inherited from the host"),
    "lxc.ephemeral": (
        "1 destroys the container (its directory and rootfs) when it stops, as a container "
        "made by lxc-copy -e is.", "0"),
    "lxc.no_new_privs": (
        "1 sets PR_SET_NO_NEW_PRIVS for the container's init and everything it starts, so no "
        "setuid program or file capability grants more privileges; also applied to "
        "lxc-attach'ed processes.", "0"),
    "lxc.sched.core": (
        "1 puts the container's processes in a core-scheduling domain of their own "
        "(PR_SCHED_CORE), so no other task shares a CPU core's hyperthreads with them.", "0"),
    "lxc.keyring.session": (
        "1 (LXC's default) gives the container's init a new session keyring; 0 lets it keep "
        "the one it inherited.", "1"),
    "lxc.group": (
        "Autostart groups the container belongs to, separated by blanks; "
        "lxc-autostart -g GROUP acts on them, and boot (lxc.service, /etc/default/lxc "
        "BOOTGROUPS) starts the onboot group first.", "no group"),
    "lxc.monitor.unshare": (
        "1 runs the monitor (the supervisor of the container) in a mount namespace of its "
        "own, so mounts it makes (e.g. for hooks) do not show on the host.", "0"),
    "lxc.monitor.signal.pdeath": (
        "The signal the container's init gets when its monitor dies, as a name or number "
        "(SIGKILL, 9).", "SIGKILL"),
    "lxc.time.offset.boot": (
        "Offset of the container's CLOCK_BOOTTIME from the host's, in a time namespace: an "
        "integer with a unit (h, m, s, ms, us, ns), e.g. 10s or -2h.", "0 (no offset)"),
    "lxc.time.offset.monotonic": (
        "Offset of the container's CLOCK_MONOTONIC from the host's, in a time namespace, "
        "with the same units as lxc.time.offset.boot.", "0 (no offset)"),
    # signals
    "lxc.signal.halt": (
        "The signal lxc-stop sends init for a clean shutdown (a name such as SIGPWR, a number, "
        "or SIGRTMIN+N). systemd guests get SIGRTMIN+3, as LXC does.",
        "SIGPWR (SIGRTMIN+3 for a systemd init)"),
    "lxc.signal.reboot": (
        "The signal lxc-stop -r sends init to reboot the container.", "SIGINT"),
    "lxc.signal.stop": (
        "The signal that ends init when a clean shutdown is not asked for or times out "
        "(lxc-stop -k, or after -t).", "SIGKILL"),
    # init / execute
    "lxc.init.cmd": (
        "The command run as PID 1 by lxc-start: a path in the container and its arguments.",
        "/sbin/init"),
    "lxc.execute.cmd": (
        "The command lxc-execute runs when none is given on its command line.",
        "unset: lxc-execute needs a command"),
    "lxc.init.cwd": (
        "The working directory of init (an absolute path in the container).", "/"),
    "lxc.init.uid": (
        "The user id init runs as, in the container.", "0"),
    "lxc.init.gid": (
        "The group id init runs as, in the container.", "0"),
    "lxc.init.groups": (
        "Supplementary group ids of init, comma separated.",
        "none (the list is dropped)"),
    # environment
    "lxc.environment": (
        "An environment variable for init and for lxc-attach'ed processes, KEY=VALUE (or KEY "
        "alone: the value lxc-start has). Repeat for each variable; an empty value clears "
        "the list.", "none beyond container=lxc"),
    "lxc.environment.runtime": (
        "Like lxc.environment, for init and the processes of the running container only "
        "(not for hooks).", "none"),
    "lxc.environment.hooks": (
        "An environment variable for the hooks only, KEY=VALUE.", "none"),
    # user namespace
    "lxc.idmap": (
        "A range of ids mapped into the container's user namespace: u or g, the first id in "
        "the container, the first id on the host, and how many. Any lxc.idmap makes the "
        "container unprivileged; both a u and a g line are needed. At most 340 lines of "
        "each kind (the kernel's limit).", "none: a privileged container"),
    # rootfs
    "lxc.rootfs.path": (
        "The container's root filesystem: a directory, or TYPE:SPEC for another backing "
        "store (dir:PATH, overlay:LOWER:UPPER, btrfs:PATH, loop:FILE, lvm:DEVICE, "
        "zfs:DATASET, rbd:POOL/IMAGE, nbd:FILE).", "unset: the host's root is used"),
    "lxc.rootfs.mount": (
        "Where the rootfs is mounted on the host before the container pivots into it.",
        "/usr/lib/x86_64-linux-gnu/lxc/rootfs (LXC's build path)"),
    "lxc.rootfs.options": (
        "Mount options for the rootfs, e.g. ro, or idmap=container to mount it with the "
        "container's id mapping.", "none"),
    "lxc.rootfs.managed": (
        "0 tells lxc-destroy that the rootfs is not the container's to remove (LXC leaves "
        "it); 1 means it is.", "1"),
    # mounts
    "lxc.mount.fstab": (
        "A file of fstab(5) lines mounted into the container, targets relative to its root "
        "(see lxc.mount.entry).", "unset"),
    "lxc.mount.entry": (
        "One fstab(5) line mounted into the container before init starts: SOURCE TARGET "
        "TYPE OPTIONS DUMP PASS, TARGET relative to the container's root (an absolute "
        "target that starts with the rootfs's host path is taken as the rest of it). Extra options: create=dir or create=file make the target, "
        "optional skips an entry whose source is missing, relative takes the source "
        "relative to the container's directory. A target reached through a symlink in the "
        "rootfs is refused.", "none"),
    "lxc.mount.auto": (
        "Standard filesystems mounted for the container: proc:mixed or proc:rw; sys:mixed, "
        "sys:ro or sys:rw; cgroup:mixed, cgroup:ro, cgroup:rw (with :force to mount even "
        "when the container has CAP_SYS_ADMIN), cgroup-full:..., shmounts:HOST:CONTAINER. "
        "Several words separated by blanks; an empty value clears.", "none"),
    # cgroups
    "lxc.cgroup.dir": (
        "The cgroup the container and its monitor go under, relative to the cgroup root "
        "(lxc-start's own cgroup with lxc.cgroup.relative = 1).",
        "unset: lxc.payload.NAME and lxc.monitor.NAME at the root"),
    "lxc.cgroup.dir.container": (
        "The container's cgroup, relative (set with lxc.cgroup.dir.monitor, instead of "
        "lxc.cgroup.dir).", "unset: lxc.payload.NAME"),
    "lxc.cgroup.dir.monitor": (
        "The monitor's cgroup, relative (set with lxc.cgroup.dir.container).",
        "unset: lxc.monitor.NAME"),
    "lxc.cgroup.dir.monitor.pivot": (
        "Where the monitor moves to while it removes the container's cgroup at the end.",
        "unset: the monitor's own"),
    "lxc.cgroup.dir.container.inner": (
        "A cgroup inside the container's that init is put in, so the container's own "
        "cgroup can hold controllers and be delegated to the guest.", "unset: none"),
    "lxc.cgroup.relative": (
        "1 places the cgroups below the cgroup lxc-start runs in rather than at the root.",
        "0"),
    "lxc.cgroup2": (
        "lxc.cgroup2.FILE = VALUE writes VALUE to FILE of the container's cgroup v2 "
        "directory when it starts (lxc.cgroup2.memory.max = 512M, lxc.cgroup2.cpu.max = "
        "50000 100000); lxc.cgroup2.devices.allow and .deny are device rules (c|b|a "
        "MAJOR:MINOR rwm), applied by a BPF program.", "no limit"),
    "lxc.cgroup": (
        "lxc.cgroup.CONTROLLER.FILE = VALUE, the same for a cgroup v1 controller "
        "(lxc.cgroup.memory.limit_in_bytes, lxc.cgroup.devices.allow).", "no limit"),
    # capabilities
    "lxc.cap.drop": (
        "Capabilities dropped from the container, by name without CAP_ (sys_module "
        "mac_admin), separated by blanks. Not with lxc.cap.keep.", "none dropped"),
    "lxc.cap.keep": (
        "The only capabilities the container keeps; none drops every one. Not with "
        "lxc.cap.drop.", "every capability"),
    # LSM / seccomp
    "lxc.apparmor.profile": (
        "The AppArmor profile init and attached processes run under: unconfined, "
        "unchanged, generated (a profile written for the container and loaded with "
        "apparmor_parser), or a loaded profile's name (refused before the start when not "
        "loaded). Ignored, with a warning, where the host has no AppArmor.",
        "lxc-container-default-cgns (LXC's default profile)"),
    "lxc.apparmor.allow_incomplete": (
        "1 lets the container start when the kernel's AppArmor cannot mediate mounts "
        "(else such a start is refused).", "0"),
    "lxc.apparmor.allow_nesting": (
        "1 lets the container run its own containers under the generated profile (it "
        "allows mounts: see docs/SECURITY.md).", "0"),
    "lxc.apparmor.raw": (
        "A line added to the generated AppArmor profile.", "none"),
    "lxc.selinux.context": (
        "The SELinux context the container runs in. lxctools applies no SELinux context: "
        "lxc-start refuses a config that sets it (file:line, the fix).", "unset"),
    "lxc.selinux.context.keyring": (
        "The SELinux context of the container's session keyring. Refused by lxc-start, as "
        "lxc.selinux.context.", "lxc.selinux.context's"),
    "lxc.seccomp.profile": (
        "A seccomp policy file in LXC's format (version 2: a default action, then syscall "
        "lines with an action and optional argument filters, [arch] sections), loaded for "
        "init and every lxc-attach'ed process.", "unset: no seccomp filter"),
    "lxc.seccomp.allow_nesting": (
        "1 lets the container stack seccomp filters of its own on the one it gets.", "0"),
    "lxc.seccomp.notify.proxy": (
        "unix:PATH of a listener that decides the syscalls the policy marks notify.",
        "unset"),
    "lxc.seccomp.notify.cookie": (
        "A string sent with each notification to the lxc.seccomp.notify.proxy listener.",
        "unset"),
    # console / tty / dev
    "lxc.console.path": (
        "The host device the container's console is connected to, or none for no console. "
        "When unset, lxc-start -F connects it to its terminal and lxc-console reaches it "
        "otherwise.", "unset: a pty, reachable with lxc-console"),
    "lxc.console.logfile": (
        "A file on the host the console's output is written to.", "unset: not logged"),
    "lxc.console.rotate": (
        "1 rotates lxc.console.logfile (keeps one .1 file) when it reaches "
        "lxc.console.size.", "0"),
    "lxc.console.buffer.size": (
        "Size of the in-memory ring buffer of console output, which the API's console_log "
        "(LXC's command socket) reads; auto picks a size.", "0: no buffer"),
    "lxc.console.size": (
        "Size at which lxc.console.logfile is rotated (with lxc.console.rotate = 1).",
        "0: no limit"),
    "lxc.tty.max": (
        "How many ttys (/dev/tty1...N, for getty and lxc-console -t N) the container has.",
        "0"),
    "lxc.tty.dir": (
        "A directory under /dev where the ttys are created (e.g. lxc, giving /dev/lxc/tty1), "
        "with /dev/ttyN linking to them.", "unset: /dev/ttyN"),
    "lxc.pty.max": (
        "The limit of ptys in the container's own devpts instance.", "unset: the kernel's"),
    "lxc.autodev": (
        "1 mounts a small tmpfs on the container's /dev and makes the standard devices "
        "(null, zero, full, random, urandom, tty, console, ptmx...) in it; 0 leaves the "
        "rootfs's /dev.", "1"),
    "lxc.autodev.tmpfs.size": (
        "Size of that /dev tmpfs in bytes.", "500000"),
    # hooks
    "lxc.hook.version": (
        "0: hooks get the container's name, section and hook type as arguments (LXC 2 "
        "style); 1: they get them in the environment (LXC_NAME, LXC_HOOK_TYPE, "
        "LXC_HOOK_SECTION) and no arguments.", "0"),
    "lxc.hook.pre-start": (
        "A command run on the host in the host's namespaces before the container's are "
        "set up. A non-zero exit fails the start. Repeat for several; an empty value clears.",
        "none"),
    "lxc.hook.pre-mount": (
        "A command run in the container's mount namespace before its rootfs is mounted "
        "(to decrypt or fetch it, say).", "none"),
    "lxc.hook.mount": (
        "A command run in the container's mount namespace after its mounts are made, before "
        "pivot_root.", "none"),
    "lxc.hook.autodev": (
        "A command run after the mount hooks with lxc.autodev = 1, to add device nodes under "
        "LXC_ROOTFS_MOUNT/dev.", "none"),
    "lxc.hook.start-host": (
        "A command run on the host once the container's namespaces exist, before init runs "
        "(to set up its network from outside, say).", "none"),
    "lxc.hook.start": (
        "A command run inside the container, in its namespaces, just before init; a path "
        "in the container.", "none"),
    "lxc.hook.stop": (
        "A command run on the host once the container has stopped, with its namespaces "
        "still open to it (their paths as arguments, or in LXC_*_NS with "
        "lxc.hook.version = 1).", "none"),
    "lxc.hook.post-stop": (
        "A command run on the host after the container has stopped and its namespaces are "
        "gone.", "none"),
    "lxc.hook.clone": (
        "A command run when the container is copied by lxc-copy, with the new container's "
        "name and rootfs in the environment.", "none"),
    "lxc.hook.destroy": (
        "A command run when the container is destroyed, before its directory goes.", "none"),
    # logging
    "lxc.log.level": (
        "The level of messages written to the log: TRACE, DEBUG, INFO, NOTICE, WARN, ERROR, "
        "CRIT, ALERT, FATAL, or 0-8. lxc-start's -l overrides it.", "ERROR"),
    "lxc.log.file": (
        "The file the log goes to; lxc-start's -o overrides it.",
        "unset: no log file unless -o"),
    "lxc.log.syslog": (
        "Also send the log to syslog with this facility (daemon, local0...local7, user).",
        "unset: not to syslog"),
    # autostart
    "lxc.start.auto": (
        "1 marks the container for lxc-autostart, which starts it at boot (lxc.service).",
        "0"),
    "lxc.start.delay": (
        "Seconds lxc-autostart waits after starting this container before the next one.",
        "0"),
    "lxc.start.order": (
        "Priority among the autostart containers: higher numbers start first, and stop "
        "last.", "0"),
    # namespaces, sysctl, proc, prlimit
    "lxc.namespace.clone": (
        "The namespaces the container gets of its own, by name (cgroup ipc mnt net pid time "
        "user uts), separated by blanks.",
        "all but time (user only with lxc.idmap)"),
    "lxc.namespace.keep": (
        "Namespaces the container keeps the host's of (e.g. net, sharing the host's "
        "network); the opposite of lxc.namespace.clone.", "none kept"),
    "lxc.namespace.share": (
        "lxc.namespace.share.NS = NAME|PID|/proc/PID/ns/NS joins namespace NS (net, ipc, "
        "uts, pid, user, cgroup, time) of another container or process instead of making "
        "one.", "none shared"),
    "lxc.sysctl": (
        "lxc.sysctl.NAME = VALUE writes a network or ipc sysctl in the container's namespaces "
        "as it starts (lxc.sysctl.net.ipv4.ip_forward = 1).", "none"),
    "lxc.proc": (
        "lxc.proc.FILE = VALUE writes /proc/PID/FILE of init before it runs "
        "(lxc.proc.oom_score_adj = 10).", "none"),
    "lxc.prlimit": (
        "lxc.prlimit.RESOURCE = SOFT[:HARD] sets a resource limit of init (nofile, nproc, "
        "core, ...; unlimited allowed).", "inherited from lxc-start"),
    "lxc.include": (
        "Reads another config file in place, or every *.conf file of a directory in name "
        "order.", "none"),
    "lxc.net": (
        "lxc.net with an empty value removes every network interface defined so far "
        "(e.g. one an included file gave).",
        "no interface: a network namespace of its own with only a loopback"),
}

NET_DOCS = {
    "type": (
        "The interface's kind: veth (a pair, one end on the host attached to "
        "lxc.net.N.link), macvlan, ipvlan or vlan (on the host's lxc.net.N.link), phys (the "
        "host's interface lxc.net.N.link moved in), empty (only a loopback), none (the "
        "host's network namespace, shared).", "unset: no interface"),
    "flags": (
        "up brings the interface up in the container.", "down"),
    "link": (
        "The host's bridge (veth) or interface (macvlan, ipvlan, vlan, phys) it uses.",
        "unset"),
    "l2proxy": (
        "1 answers ARP and neighbour solicitations for the container's addresses on the "
        "link (proxy ARP/NDP) so a routed veth is reachable on the link's network.", "0"),
    "mtu": (
        "The interface's MTU (maximum transmission unit), in bytes.", "the link's"),
    "name": (
        "The interface's name in the container.", "eth0, eth1, ... by index"),
    "hwaddr": (
        "The MAC address; x characters are replaced by random hex digits "
        "(00:16:3e:xx:xx:xx).", "random"),
    "ipv4.address": (
        "An IPv4 address with prefix length (and optional broadcast), set on the interface "
        "in the container. Repeatable.", "none"),
    "ipv4.gateway": (
        "The IPv4 default gateway, or auto (the address of the link bridge), or dev (a "
        "device route).", "none"),
    "ipv6.address": (
        "An IPv6 address with prefix length. Repeatable.", "none"),
    "ipv6.gateway": (
        "The IPv6 default gateway, or auto, or dev.", "none"),
    "script.up": (
        "A command run on the host once the interface is made and configured, with the "
        "container name, net, up, the type and the host-side name as arguments.", "none"),
    "script.down": (
        "A command run on the host before the interface is removed.", "none"),
    "macvlan.mode": (
        "How a macvlan talks to the other macvlans of its link: private (not at all), vepa "
        "(through the external switch), bridge (directly) or passthru (the link itself).",
        "private"),
    "ipvlan.mode": (
        "The ipvlan's mode: l3 (routed by the host), l3s (l3 through the host's netfilter) "
        "or l2 (switched, sharing the link's MAC).", "l3"),
    "ipvlan.isolation": (
        "How ipvlans of one link reach each other: bridge (directly), private (not at all) "
        "or vepa (through the external switch).", "bridge"),
    "vlan.id": (
        "The VLAN id (0-4094) of a vlan interface on lxc.net.N.link.", "unset (required)"),
    "veth.mode": (
        "bridge attaches the host end to lxc.net.N.link; router leaves it unattached and "
        "adds host routes to the container's addresses through it.", "bridge"),
    "veth.pair": (
        "The name of the host end of the veth pair.", "vethXXXXXX (random)"),
    "veth.ipv4.route": (
        "An IPv4 route on the host through the veth's host end (NET/PREFIX). Repeatable.",
        "none"),
    "veth.ipv6.route": (
        "An IPv6 route on the host through the veth's host end. Repeatable.", "none"),
    "veth.vlan.id": (
        "The untagged VLAN (PVID) of the host end on a VLAN-filtering bridge; none removes "
        "the default VLAN.", "the bridge's default"),
    "veth.vlan.tagged.id": (
        "A tagged VLAN allowed on the host end on a VLAN-filtering bridge. Repeatable.",
        "none"),
    "veth.n_rxqueues": (
        "Number of receive queues of the veth pair.", "1"),
    "veth.n_txqueues": (
        "Number of transmit queues of the veth pair.", "1"),
}

# Keys LXC's manual names that LXC 5.0.2's own parser refuses: documented here so a reader
# coming from LXC's page finds why.
LXC_DOCUMENTED_NOT_READ = {
    "lxc.console.buffer.logfile": "LXC 5.0.2 refuses it (unknown key), as lxctools does",
}
