"""Usage figures for lxc-info: whatever the host's cgroups have, v1 or v2.

Keys (bytes, or nanoseconds for cpu): cpu_ns, blkio_bytes, memory_bytes, kmem_bytes,
memsw_bytes (memory + swap), swap_bytes. A figure the host does not provide is absent.
"""

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
    blkio = at("blkio", "blkio.throttle.io_service_bytes")
    if blkio is not None:
        total = 0
        for line in blkio.splitlines():
            parts = line.split()
            # per-device lines "MAJ:MIN Read N" ...; LXC adds the "Total" ones
            if len(parts) == 3 and parts[1] == "Total":
                total += int(parts[2])
            elif len(parts) == 2 and parts[0] == "Total":
                total = max(total, int(parts[1]))
        out["blkio_bytes"] = total
    memory = _int(at("memory", "memory.usage_in_bytes"))
    _put(out, "memory_bytes", memory)
    _put(out, "kmem_bytes", _int(at("memory", "memory.kmem.usage_in_bytes")))
    memsw = _int(at("memory", "memory.memsw.usage_in_bytes"))
    _put(out, "memsw_bytes", memsw)
    if memsw is not None and memory is not None:
        out["swap_bytes"] = max(memsw - memory, 0)


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
    io = at("io.stat")
    if io is not None:
        total = 0
        for line in io.splitlines():
            for word in line.split()[1:]:
                name, _, value = word.partition("=")
                if name in ("rbytes", "wbytes"):
                    total += int(value)
        out["blkio_bytes"] = total
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
