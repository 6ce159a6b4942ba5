"""lxc-start --explain: what a start would do, in order, without doing any of it.

The sections say what each part of the start will make of the config; the last one,
"sequence", is the start plan itself (startplan.plan_start): the steps the supervisor and
the container run, in their order, on their side."""

import signal

from .payload import DEFAULT_NAMESPACES, clone_flags
from .payload import NS_FLAGS
from . import startplan


def plan_text(name, lxcpath, conf, argv):
    """[(section, [lines])] in the order the start sequence runs."""
    from .. import security
    from ..cgroups import Cgroups, CgroupError
    from ..config.values import signal_name
    from .hooks import rootfs_path
    from .mounts import DEFAULT_ROOTFS_MOUNT

    sections = []
    flags = clone_flags(conf)
    joined = [n for n, f in NS_FLAGS.items() if flags & f]
    shared = [f"{k} (shared with {v})" for k, v in conf.family("lxc.namespace.share")]
    kept = [n for n in DEFAULT_NAMESPACES if n not in joined and not any(
        s.startswith(n) for s in shared)]
    ns_lines = [f"new: {' '.join(sorted(joined))}"]
    if shared:
        ns_lines.append("shared: " + ", ".join(shared))
    if kept:
        ns_lines.append("the host's: " + " ".join(kept))
    sections.append(("namespaces", ns_lines))
    idmap = conf.value("lxc.idmap") or []
    sections.append(("user id map", idmap or ["none (a privileged container)"]))
    cgroups = None
    try:
        cgroups = Cgroups.for_container(name, lxcpath, conf)
        cg_lines = sorted(cgroups.planned().values())
    except CgroupError as exc:
        cg_lines = [f"cannot be made here: {exc}"]
    limits = [f"{k} = {v}" for k, v in conf.family("lxc.cgroup")
              if not k.startswith("dir") and k != "relative" and not k.startswith("devices.")]
    limits += [f"cgroup2 {k} = {v}" for k, v in conf.family("lxc.cgroup2")
               if not k.startswith("devices.")]
    sections.append(("cgroups", cg_lines + [f"limit {line}" for line in limits]))
    if cgroups is not None:
        sections.append(("devices, once /dev and the console are set up",
                         device_lines(conf, cgroups)))
    rootfs = rootfs_path(conf)
    mount_point = conf.value("lxc.rootfs.mount") or DEFAULT_ROOTFS_MOUNT
    mounts = [f"rootfs {conf.value('lxc.rootfs.path') or '(the host root)'} at {mount_point}"]
    autodev = (conf.value("lxc.autodev") or "1") != "0" and rootfs
    if autodev:
        mounts.append("tmpfs on /dev (lxc.autodev)")
    if conf.value("lxc.mount.auto"):
        mounts.append(f"lxc.mount.auto: {conf.value('lxc.mount.auto')}")
    if conf.value("lxc.mount.fstab"):
        mounts.append(f"entries of {conf.value('lxc.mount.fstab')}")
    mounts += [f"entry: {entry}" for entry in conf.value("lxc.mount.entry") or []]
    if autodev:
        mounts.append("device nodes: full null random tty urandom zero; fd, stdin, stdout, "
                      "stderr links; a fresh boot_id")
    if rootfs:
        ttys = int(conf.value("lxc.tty.max") or 0)
        mounts.append(f"devpts (max {int(conf.value('lxc.pty.max') or 0) + ttys}), "
                      f"/dev/console, {ttys} tty(s)")
        mounts.append("pivot_root into the rootfs")
    sections.append(("filesystem, in order", mounts))
    from .. import network
    nics = network.plan(conf)
    net_lines = []
    for nic in nics:
        where = f" on {nic.link}" if nic.link else ""
        addresses = " ".join(str(a) for a, _ in nic.ipv4 + nic.ipv6)
        net_lines.append(f"{nic.key}: {nic.type}{where} -> {nic.name} {addresses}".rstrip())
    if not nics:
        net_lines.append("loopback only" if flags & NS_FLAGS["net"] else "the host's network")
    sections.append(("network", net_lines))
    from ..kernel import caps
    from ..security import capabilities
    dropped = capabilities.plan(conf, caps.last_cap())
    sec = [f"drop capabilities: {' '.join(caps.NAMES[c] if c < len(caps.NAMES) else str(c) for c in dropped) or 'none'}"]
    if (conf.value("lxc.no_new_privs") or "0") == "1":
        sec.append("no_new_privs")
    if conf.value("lxc.seccomp.profile"):
        policy, _filter = security.compile_profile(conf.value("lxc.seccomp.profile"), conf)
        sec.append(f"seccomp: {conf.value('lxc.seccomp.profile')} ({len(policy.rules)} rules, "
                   f"default {' '.join(map(str, policy.default))})")
    sections.append(("security", sec))
    hooks = []
    for kind in ("pre-start", "pre-mount", "mount", "autodev", "start-host", "start", "stop",
                 "post-stop"):
        for hook in conf.value(f"lxc.hook.{kind}") or []:
            hooks.append(f"{kind}: {hook}")
    sections.append(("hooks", hooks or ["none"]))
    halt = conf.value("lxc.signal.halt")
    reboot = conf.value("lxc.signal.reboot")
    sections.append(("run", [
        f"init: {' '.join(argv)}",
        f"hostname: {conf.value('lxc.uts.name') or name}",
        f"halt with {signal_name(int(halt)) if halt else 'SIGPWR (SIGRTMIN+3 for systemd, initctl for sysvinit)'}; "
        f"reboot with {signal_name(int(reboot)) if reboot else signal_name(signal.SIGINT)}",
    ]))
    sections.append(("sequence", sequence_lines(conf)))
    return sections


def sequence_lines(conf):
    """The start plan's steps, one line each: the side it runs on, then its name."""
    sides = dict(SIDE_NAMES)
    if not startplan.needs_spawner(conf):
        # the supervisor forks init itself: init runs the spawner's steps first
        sides[startplan.SPAWNER] = "init (no spawner)"
    width = max(len(side) for side in sides.values())
    return [f"{sides[step.side]:<{width}}  {step.name}"
            for step in startplan.plan_start(conf)]


SIDE_NAMES = {startplan.HOST: "supervisor", startplan.SPAWNER: "spawner",
              startplan.INIT: "container", startplan.PIVOTED: "container, pivoted"}


def render(sections):
    out = []
    for title, lines in sections:
        out.append(f"{title}:")
        out.extend(f"  {line}" for line in lines)
    return "\n".join(out) + "\n"


def device_lines(conf, cgroups):
    """How the device rules will be enforced (cgroups.devices.plan), with the rules in force."""
    from ..errors import LxcError
    from ..cgroups.limits import device_plan

    try:
        plan = device_plan(conf, cgroups)
    except LxcError as exc:
        return [f"refused: {exc}" + (f" ({exc.hint})" if exc.hint else "")]
    where = None
    planned = cgroups.planned()
    if plan.mode == "v1":
        p = next((p for p in cgroups.placed if p.h.version == 1 and "devices" in p.h.controllers),
                 None)
        where = planned.get(p.h.key) if p else None
    elif plan.mode == "bpf":
        where = planned.get(cgroups.unified().h.key)
    lines = plan.describe(where)
    if plan.skipped:
        other = "lxc.cgroup2" if plan.family == "lxc.cgroup" else "lxc.cgroup"
        lines.append(f"{other}.devices.* skipped ({len(plan.skipped)} lines): the copy for "
                     "the other cgroup version")
    return lines + [f"warning: {w}" for w in plan.warnings] + plan.infos
