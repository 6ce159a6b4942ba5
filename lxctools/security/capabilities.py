"""lxc.cap.drop / lxc.cap.keep: which capabilities leave the bounding set.

LXC only shrinks the bounding set (the caps of a root init are recomputed from it at exec);
we also clear them from the inheritable set and empty the ambient set, since a cap in those
would survive the exec whatever the bounding set says.
"""

from .. import log


def plan(conf, last_cap):
    """The capability numbers to drop (lxc.cap.drop in config order; for lxc.cap.keep every
    other one); [] when the config says nothing."""
    from ..config.values import cap_number as number

    keep = conf.value("lxc.cap.keep") or []
    drop = conf.value("lxc.cap.drop") or []
    if conf.has("lxc.cap.keep"):
        kept = {n for n in (_known(name, number) for name in keep) if n is not None}
        return sorted(set(range(last_cap + 1)) - kept)
    dropped = [n for n in (_known(name, number) for name in drop) if n is not None]
    return [n for n in dict.fromkeys(dropped) if n <= last_cap]  # config order, once each


def unknown_names(conf):
    """Names the config engine would refuse (a Conf made in code may hold them)."""
    from ..config.values import cap_number as number
    return [name for key in ("lxc.cap.keep", "lxc.cap.drop")
            for name in conf.value(key) or [] if number(name) is None]


def _known(name, number):
    value = number(name)
    if value is None:
        log.info(f"ignoring unknown capability {name!r}")
    return value


def drop(doomed):
    """Drop DOOMED from the bounding and inheritable sets, and empty the ambient set."""
    from ..kernel import caps

    effective, permitted, inheritable = caps.get_sets()
    if not effective & (1 << caps.NUMBERS["setpcap"]):
        # a process that already switched to a user (lxc-attach -u) cannot shrink its
        # bounding set; it has no capabilities left to use anyway
        log.info("no CAP_SETPCAP: the bounding set is left as it is")
    else:
        for cap in doomed:
            if caps.in_bounding(cap):
                caps.drop_bounding(cap)
    mask = 0
    for cap in doomed:
        mask |= 1 << cap
    if inheritable & mask:
        caps.set_sets(effective, permitted, inheritable & ~mask)
    caps.clear_ambient()


def cut_to_bounding():
    """Clear from the effective, permitted and inheritable sets every capability the bounding
    set no longer has. An exec would not keep them anyway; until then a process that entered
    a container holds nothing the container's root lacks, should the container trace it."""
    from ..kernel import caps

    bounding = 0
    for cap in range(64):
        try:
            if caps.in_bounding(cap):
                bounding |= 1 << cap
        except OSError:
            break  # past the kernel's last capability
    effective, permitted, inheritable = caps.get_sets()
    if permitted & ~bounding:
        caps.set_sets(effective & bounding, permitted & bounding, inheritable & bounding)
