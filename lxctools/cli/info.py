"""lxc-info: a container's state (and, when running, pid, addresses, usage) and config values.

Output is LXC's: each fact printf("%-15s %s"); -H prints raw numbers, and a single selected
fact (or a single -c KEY) bare. Facts are gathered as (label, json key, value) rows by
facts(); running_facts() is the one place where the runtime's fields (PID, IP, CPU/BlkIO/
Memory/KMem use, Link/TX/RX/Total bytes) are added.
"""

import sys

from ._common import make_parser, parse, run_tool, lxcpath_of, print_json, complete_keys

DESCRIPTION = """Query information about a container.

lxc-info -n NAME [-c KEY]... [-s] [-p] [-i] [-S] [-H] [--devices]"""



def build_parser():
    parser = make_parser("lxc-info", DESCRIPTION)
    opt = parser.add_argument("-c", "--config", metavar="KEY", action="append", default=[],
                              help="show the value of config KEY (repeatable)")
    opt.completer = complete_keys
    parser.add_argument("-s", "--state", action="store_true", help="show the state")
    parser.add_argument("-p", "--pid", action="store_true", help="show the init pid")
    parser.add_argument("-i", "--ips", action="store_true", help="show the IP addresses")
    parser.add_argument("-S", "--stats", action="store_true", help="show CPU, block I/O, memory and network use")
    parser.add_argument("-H", "--no-humanize", action="store_true", help="raw numbers; a single fact bare")
    parser.add_argument("--devices", action="store_true",
                        help="show the device rules in force: the cgroup2 device program's or "
                             "the v1 devices controller's list (beyond LXC)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="json: every fact and -c value as one object (beyond LXC)")
    return parser


def human_size(value):
    """LXC's size_to_human_readable: bytes, then KiB/MiB/GiB with two decimals."""
    for unit, power in (("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if value >= 1024 ** power:
            return f"{value / 1024 ** power:.2f} {unit}"
    return f"{value} bytes"


def facts(container, sel, humanize):
    """[(label, json key, value)] in LXC's order for the selected facts."""
    rows = []
    if sel["name"]:
        rows.append(("Name:", "name", container.name))
    if sel["state"]:
        rows.append(("State:", "state", container.state))
    if container.running:
        rows.extend(running_facts(container, sel, humanize))
    return rows


def running_facts(container, sel, humanize):
    """PID, IP, usage and per-NIC rows of a running container, from its supervisor."""
    from ..api import monitor
    from ..errors import NotRunning

    rows = []
    try:
        info = container.running_info()
    except NotRunning:
        return rows
    if sel["pid"]:
        rows.append(("PID:", "pid", info["init_pid"]))
    from ..kernel.procdir import ProcDir
    with ProcDir(info["init_pid"], info.get("init_start")) as proc:
        dead = dead_lxcfs(proc)
        if dead:
            sys.stderr.write(f"lxc-info: warning: {container.name}: its lxcfs files are dead "
                             f"({dead}): /proc/meminfo and friends fail inside; restart "
                             "lxcfs, then restart the container\n")
        if sel["ips"]:
            from ..network.netinfo import addresses
            v4, v6 = addresses(proc)
            for address in v4 + v6:
                rows.append(("IP:", "ips", address))
    if sel["stats"]:
        try:
            stats = monitor.stats(container.lxcpath, container.name)
        except NotRunning:
            stats = {}
        cpu = stats.get("cpu_ns")
        if cpu is not None:
            rows.append(("CPU use:", "cpu_ns", f"{cpu / 1e9:.2f} seconds" if humanize else cpu))
        for label, key in (("BlkIO use:", "blkio_bytes"), ("Memory use:", "memory_bytes"),
                           ("KMem use:", "kmem_bytes")):
            value = stats.get(key)
            if value is not None:
                rows.append((label, key, human_size(value) if humanize else value))
        from ..network.netinfo import host_counters
        for nic in info.get("network") or []:
            counters = host_counters(nic.get("host_name") or "")
            if counters is None:
                continue
            tx, rx = counters
            rows.append(("Link:", "link", nic["host_name"]))
            # LXC indents these under their Link: row
            for label, key, value in ((" TX bytes:", "tx_bytes", tx),
                                      (" RX bytes:", "rx_bytes", rx),
                                      (" Total bytes:", "total_bytes", tx + rx)):
                rows.append((label, key, human_size(value) if humanize else value))
    if sel.get("devices"):
        rows.extend(device_rows(info))
    return rows


def device_rows(info):
    """The device control in force: rows of a summary, then one per rule (json: the whole
    description under "devices")."""
    from ..cgroups import Cgroups

    if not info.get("cgroups"):
        facts = {"control": "none"}
    else:
        facts = Cgroups.from_json(info["cgroups"]).device_rules()
    control = facts["control"]
    if control == "bpf":
        head = f"cgroup2 program {facts['program']} on {facts['cgroup']}"
        if not facts["attached"]:
            head += " -- NOT ATTACHED: no device rule of its own is in force"
        if facts.get("owner"):
            head += f", made by {facts['owner']}"
        elif facts["default"] == "deny":
            head += ", allow-list (all else denied)"
        else:
            head += ", deny-list (all else allowed)"
    elif control == "v1":
        head = f"cgroup v1 devices controller, {facts['cgroup']}"
    else:
        head = "not restricted (no device rules)"
    rows = [("Devices:", "devices", (head, facts))]
    for rule in facts.get("rules", []):
        verdict, _, text = rule.partition(" ")
        rows.append((f" {verdict.capitalize()}:", "device_rule", text))
    if facts.get("others"):
        rows.append((" Also:", "device_rule", "programs of parent cgroups: " +
                     " ".join(map(str, facts["others"]))))
    return rows


def dead_lxcfs(proc):
    """The error of the container's lxcfs mounts when the lxcfs daemon behind them is gone
    ("Transport endpoint is not connected"), else None. PROC: init's /proc dir (ProcDir).

    The mount point comes from the container's mountinfo and is opened below its root
    with openat2 RESOLVE_IN_ROOT and no link allowed: the container may have covered the
    path with a link to a host file (a FIFO would hang us, a read would consume it). What
    is read must be the FUSE file system itself."""
    points = [line.split()[4] for line in (proc.read("mountinfo") or "").splitlines()
              if " - fuse.lxcfs " in line]
    if not points:
        return None
    import errno
    import os

    from ..kernel.libc import fstatfs_type
    from ..kernel.openat2 import FUSE_SUPER_MAGIC
    from ..kernel.rootpath import NO_LINKS, open_in_root, reopen

    for point in points[:1]:
        try:
            fd = open_in_root(f"{proc.path}/root", point.replace("\\040", " "),
                              resolve=NO_LINKS)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EXDEV, errno.ENOENT, errno.ENOTDIR):
                return None  # not the lxcfs mount any more: nothing to tell
            return os.strerror(exc.errno)
        try:
            if fstatfs_type(fd) != FUSE_SUPER_MAGIC:
                return None
            data = reopen(fd, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
            try:
                os.read(data, 1)  # a stat may answer from the kernel's cache
            finally:
                os.close(data)
        except OSError as exc:
            return os.strerror(exc.errno)  # a dead daemon fails the fstatfs already
        finally:
            os.close(fd)
    return None


def selection(args):
    sel = {"name": False, "state": args.state, "pid": args.pid, "ips": args.ips,
           "stats": args.stats, "devices": args.devices}
    count = sum(1 for k in ("state", "pid", "ips", "stats", "devices") if sel[k])
    if not count and not args.config:
        sel.update(name=True, state=True, pid=True, ips=True, stats=True)
    return sel, count


def body(argv):
    args = parse(build_parser(), argv)
    from ..api.container import Container
    from ..errors import LxcError, NotDefined

    container = Container(args.name, lxcpath_of(args), rcfile=args.rcfile)
    if not container.running and not (container.defined or args.rcfile):
        raise NotDefined(f"{args.name} doesn't exist")
    from .. import log
    if log.enabled("DEBUG") and container.running:
        log.debug(f'Container "{args.name}" is in "{container.state}" state', "lxc_info")
    sel, count = selection(args)
    humanize = not args.no_humanize and args.format != "json"
    rows = facts(container, sel, humanize)
    values = []
    if args.config:
        container.document  # a config that does not load is an error (file:line), not "invalid" keys
    for key in args.config:
        try:
            values.append((key, container.get_config_item(key)))
        except LxcError:
            values.append((key, None))
    if args.format == "json":
        data = {}
        for _, jkey, value in rows:
            if jkey == "ips":
                data.setdefault("ips", []).append(value)
            elif jkey == "link":
                # one entry per host-side device, its counters with it
                data.setdefault("links", []).append({"link": value})
            elif jkey in ("tx_bytes", "rx_bytes", "total_bytes"):
                data["links"][-1][jkey] = value
            elif jkey == "devices":
                data["devices"] = value[1]
            elif jkey == "device_rule":
                continue
            else:
                data[jkey] = value
        if args.config:
            data["config"] = {k: v for k, v in values}
        print_json(data)
        return 0
    out = sys.stdout
    stats_keys = ("cpu_ns", "blkio_bytes", "memory_bytes", "kmem_bytes", "link", "tx_bytes",
                  "rx_bytes", "total_bytes")
    for label, jkey, value in rows:
        if jkey == "devices":
            value = value[0]
        # LXC prints usage with its labels even under -H; other single facts bare
        bare = not humanize and count == 1 and jkey not in stats_keys + ("devices", "device_rule")
        out.write(f"{value}\n" if bare else f"{label:<15} {value}\n")
    if values:
        from ..config.model import ends_with_newline
    for key, value in values:
        if value is None:
            out.flush()
            sys.stderr.write(f"{key} invalid\n")
            continue
        if value and ends_with_newline(key):
            value += "\n"
        if not humanize and len(values) == 1:
            out.write(f"{value}\n")
        else:
            out.write(f"{key} = {value}\n" if value else f"{key} =\n")
    return 0


def main(argv=None):
    return run_tool("lxc-info", body, argv)
