"""lxc-checkpoint's caller side (LXC's do_dump): ask the running container's supervisor for
init, its cgroups and its ptys, check CRIU before anything is frozen, and run the dump
(spawn/criu.py is the engine; the restore is a start, in the supervisor). Here in api/,
the layer that may ask a supervisor (monitor/commands.py) and read the host's network."""

import json
import os

from ..errors import LxcError
from ..spawn import criu


def checkpoint(lxcpath, name, conf, directory, *, stop=False, verbose=False, pre_dump=False,
               predump_dir=None, action_script=None):
    """Dump NAME into DIRECTORY (STOP: stopped after; PRE_DUMP: memory only, it runs on;
    PREDUMP_DIR: the images of a pre-dump, relative to DIRECTORY). CriuError when CRIU is
    missing, too old or fails `criu check`, before anything is frozen."""
    from ..errors import NotRunning
    from ..monitor import commands

    directory = os.path.abspath(directory)
    try:
        info = commands.request(lxcpath, name, "info")
    except NotRunning:
        raise LxcError(f"{name} not running, not checkpointing") from None
    if "error" in info:
        raise LxcError(info["error"], hint=info.get("hint"))
    if info.get("state") not in ("RUNNING", "FROZEN"):
        raise LxcError(f"{name} not running, not checkpointing")
    # everything CRIU needs checked while the container still runs untouched
    binary, _version = criu.preflight("checkpoint")
    criu.check_networks(conf)
    action = "pre-dump" if pre_dump else "dump"
    if not pre_dump and os.path.exists(os.path.join(directory, "inventory.img")):
        raise criu.CriuError("please use a fresh directory for the dump directory",
                             hint=f"{directory} holds a checkpoint already")
    made = not os.path.isdir(directory)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    lock = criu.network_lock(binary)
    args = criu.common_args(binary, action, directory, verbose, action_script) + lock
    args += criu.cgroup_roots(info.get("cgroups"))
    for _source, target in criu.bind_entries(conf):
        args += ["--ext-mount-map", f"{target}:{target}"]
    args += ["-t", str(info["init_pid"]), "--skip-in-flight"]
    frozen = criu.freezer_dir(info.get("cgroups"))
    if frozen:
        args += ["--freeze-cgroup", frozen]
    ttys = commands.request(lxcpath, name, "ttys").get("ttys") or []
    for tty in ttys:
        # the container's console and ttys: ptys whose masters our supervisor holds
        args += ["--ext-mount-map", f"{tty['path']}:{tty['name']}",
                 "--external", criu.tty_id(tty["rdev"], tty["dev"])]
    if predump_dir:
        args += ["--prev-images-dir", predump_dir, "--track-mem"]
    elif pre_dump:
        args += ["--track-mem"]
    args.append("--force-irmap")
    args += criu.irmap_args()
    if not pre_dump and not stop:
        args.append("--leave-running")
    if not pre_dump:
        from ..atomic import atomic_write
        networks = veth_names(info["init_pid"], info.get("network"))
        atomic_write(os.path.join(directory, criu.TTYS_FILE),
                     json.dumps({"ttys": ttys, "networks": networks}).encode(),
                     mode=0o600)
    try:
        criu.run(args, directory, action, name)
    except criu.CriuError:
        if made:
            try:
                os.rmdir(directory)  # as LXC: only when empty (the log says why it failed)
            except OSError:
                pass
        raise
    if stop and not pre_dump:
        # CRIU has killed the tasks; the supervisor sees init go and stops the rest (hooks,
        # network, cgroups): back only once that is done, so a restore may follow at once
        from ..monitor.control import wait_for
        wait_for(lxcpath, name, ["STOPPED"], 60)
    return True


def veth_names(init_pid, nics):
    """NICS (the supervisor's record) with each veth's name inside the container as the
    kernel gave it ("inside_name"): a NIC without lxc.net.N.name is made as "eth%d", and
    CRIU finds the veth to re-create by its real name (--external veth[eth0]:HOST).
    Read through the host end: its IFLA_LINK is the container end's index in init's
    network namespace."""
    nics = [dict(n) for n in nics or []]
    veths = [n for n in nics if n.get("type") == "veth" and n.get("host_name")]
    if not veths:
        return nics
    from pyroute2 import IPRoute

    from ..network.host import in_netns
    peers = {}
    with IPRoute() as ipr:
        for nic in veths:
            found = ipr.link_lookup(ifname=nic["host_name"])
            if found:
                peers[id(nic)] = ipr.get_links(found[0])[0].get_attr("IFLA_LINK")
    netns = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with in_netns(netns), IPRoute() as ipr:
            for nic in veths:
                index = peers.get(id(nic))
                if index:
                    nic["inside_name"] = ipr.get_links(index)[0].get_attr("IFLA_IFNAME")
    finally:
        os.close(netns)
    return nics
