"""Usage figures for lxc-info and lxc-top: whatever the host's cgroups have, v1 or v2.

Keys (bytes, or nanoseconds for cpu): cpu_ns, blkio_bytes, memory_bytes, kmem_bytes,
memsw_bytes (memory + swap), swap_bytes; for lxc-top also cpu_user_hz and cpu_sys_hz
(USER_HZ ticks, 1/100 s, as cpuacct.stat counts), blkio_read_bytes, blkio_write_bytes and
blkio_iops (requests). A figure the host does not provide is absent.
"""

USER_HZ = 100

import os


def collect(cgroups):
    out = {}
    if cgroups.layout == "unified":
        _v2(cgroups, out)
    else:
        _v1(cgroups, out)
    return out


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _int(text):
    try:
        return int(text.strip())
    except (AttributeError, ValueError):
        return None


def _put(out, key, value):
    if value is not None:
        out[key] = value


def _v1(cgroups, out):
    def at(controller, name):
        p = cgroups.hierarchy_for(controller)
        if p is None or p.h.version != 1 or not p.limit:
            return None
        return _read(os.path.join(p.limit, name))

    _put(out, "cpu_ns", _int(at("cpuacct", "cpuacct.usage")))
    cpustat = at("cpuacct", "cpuacct.stat")
    if cpustat:
        fields = dict(line.split(None, 1) for line in cpustat.splitlines() if " " in line)
        _put(out, "cpu_user_hz", _int(fields.get("user")))
        _put(out, "cpu_sys_hz", _int(fields.get("system")))
    blkio = at("blkio", "blkio.throttle.io_service_bytes")
    if blkio is not None:
        total, read, write = _blkio_v1(blkio)
        out["blkio_bytes"] = total
        out["blkio_read_bytes"] = read
        out["blkio_write_bytes"] = write
    serviced = at("blkio", "blkio.throttle.io_serviced")
    if serviced is not None:
        out["blkio_iops"] = _blkio_v1(serviced)[0]
    memory = _int(at("memory", "memory.usage_in_bytes"))
    _put(out, "memory_bytes", memory)
    _put(out, "kmem_bytes", _int(at("memory", "memory.kmem.usage_in_bytes")))
    memsw = _int(at("memory", "memory.memsw.usage_in_bytes"))
    _put(out, "memsw_bytes", memsw)
    if memsw is not None and memory is not None:
        out["swap_bytes"] = max(memsw - memory, 0)


def _blkio_v1(text):
    """(total, read, write) of a blkio.throttle.* file: per-device lines "MAJ:MIN Read N"
    ..., then "Total N"."""
    total = read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            if parts[1] == "Total":
                total += int(parts[2])
            elif parts[1] == "Read":
                read += int(parts[2])
            elif parts[1] == "Write":
                write += int(parts[2])
        elif len(parts) == 2 and parts[0] == "Total":
            total = max(total, int(parts[1]))
    return total, read, write


def _v2(cgroups, out):
    u = cgroups.unified()
    if u is None or not u.limit:
        return

    def at(name):
        return _read(os.path.join(u.limit, name))

    cpu = at("cpu.stat")
    if cpu:
        fields = dict(line.split(None, 1) for line in cpu.splitlines() if " " in line)
        if "usage_usec" in fields:
            out["cpu_ns"] = int(fields["usage_usec"]) * 1000
        for key, name in (("cpu_user_hz", "user_usec"), ("cpu_sys_hz", "system_usec")):
            if name in fields:
                out[key] = int(fields[name]) * USER_HZ // 1000000
    io = at("io.stat")
    if io is not None:
        sums = {"rbytes": 0, "wbytes": 0, "rios": 0, "wios": 0}
        for line in io.splitlines():
            for word in line.split()[1:]:
                name, _, value = word.partition("=")
                if name in sums:
                    sums[name] += int(value)
        out["blkio_bytes"] = sums["rbytes"] + sums["wbytes"]
        out["blkio_read_bytes"] = sums["rbytes"]
        out["blkio_write_bytes"] = sums["wbytes"]
        out["blkio_iops"] = sums["rios"] + sums["wios"]
    memory = _int(at("memory.current"))
    _put(out, "memory_bytes", memory)
    mstat = at("memory.stat")
    if mstat:
        fields = dict(line.split(None, 1) for line in mstat.splitlines() if " " in line)
        if "kernel" in fields:
            out["kmem_bytes"] = int(fields["kernel"])
    swap = _int(at("memory.swap.current"))
    _put(out, "swap_bytes", swap)
    if swap is not None and memory is not None:
        out["memsw_bytes"] = memory + swap
