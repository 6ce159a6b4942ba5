"""The cgroup names a container gets (pure: no filesystem).

LXC 5.0: the payload is `lxc.payload.NAME` and the monitor `lxc.monitor.NAME`, under
`lxc.cgroup.dir` when set; `lxc.cgroup.dir.container` + `lxc.cgroup.dir.monitor` name both
exactly (no retry suffix), with `lxc.cgroup.dir.container.inner` as the leaf the processes sit
in below the (limit) container cgroup. A taken name gets `-1`, `-2`, ... up to `-999`.
"""

from ..errors import ConfigError

PAYLOAD_PREFIX = "lxc.payload."
MONITOR_PREFIX = "lxc.monitor."
MAX_SUFFIX = 1000


class Names:
    def __init__(self, limit, inner, monitor, retry):
        self.limit = limit        # where limits are written (relative to the base cgroup)
        self.inner = inner        # the leaf processes go to, below `limit` (None: limit itself)
        self.monitor = monitor
        self.retry = retry        # may take -N suffixes when the name is in use

    def __eq__(self, other):
        return isinstance(other, Names) and vars(self) == vars(other)

    def __repr__(self):
        return f"Names({vars(self)})"

    def payload(self):
        return f"{self.limit}/{self.inner}" if self.inner else self.limit

    def with_suffix(self, index):
        """The candidate names for attempt INDEX (0 is the plain name)."""
        if index == 0 or not self.retry:
            return self
        return Names(f"{self.limit}-{index}", self.inner, self.monitor, self.retry)

    def monitor_with_suffix(self, index):
        return self.monitor if index == 0 or not self.retry else f"{self.monitor}-{index}"


def plan(name, conf):
    """Names for container NAME from CONF (lxc.cgroup.dir*). ConfigError on LXC's conflicts."""
    value = conf.value
    base_dir = (value("lxc.cgroup.dir") or "").strip("/")
    container_dir = (value("lxc.cgroup.dir.container") or "").strip("/")
    monitor_dir = (value("lxc.cgroup.dir.monitor") or "").strip("/")
    inner = value("lxc.cgroup.dir.container.inner") or None
    if container_dir or monitor_dir or inner:
        if base_dir:
            raise ConfigError("lxc.cgroup.dir conflicts with lxc.cgroup.dir.container/monitor",
                              key="lxc.cgroup.dir",
                              hint="use either lxc.cgroup.dir, or lxc.cgroup.dir.container "
                                   "together with lxc.cgroup.dir.monitor")
        if not container_dir or not monitor_dir:
            missing = "lxc.cgroup.dir.monitor" if container_dir else "lxc.cgroup.dir.container"
            raise ConfigError("lxc.cgroup.dir.container and lxc.cgroup.dir.monitor must both be set",
                              key=missing, hint=f"add {missing} = PATH (relative to the base cgroup)")
        return Names(container_dir, inner, monitor_dir, retry=False)
    prefix = base_dir + "/" if base_dir else ""
    return Names(f"{prefix}{PAYLOAD_PREFIX}{name}", None, f"{prefix}{MONITOR_PREFIX}{name}",
                 retry=True)
