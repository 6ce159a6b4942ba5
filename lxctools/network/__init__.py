"""Container networking over netlink (pyroute2): veth (on a bridge, or routed), macvlan,
ipvlan, vlan and phys NICs from `lxc.net.N.*`.

plan(conf) is pure and validates before anything exists (plan.py). check_host_side looks at
the host before the clone; setup_host_side runs in the supervisor once the container's init
has its own network namespace (host.py); configure_inside runs in the container before
pivot_root (inside.py); teardown undoes the host side after a stop. addresses/interfaces/
host_counters/nic_stats read /proc for lxc-info and lxc-ls (netinfo.py).

May import config/, kernel/ and the shared modules; not the packages beside it (cgroups/,
security/, storage/, templates/).
"""

from .host import (HostState, check_host_side, in_netns, locate, run_script, setup_host_side,
                   teardown)
from .netinfo import address_records, addresses, host_counters, interfaces, nic_stats
from .inside import configure_inside
from .plan import Nic, NetworkError, plan

__all__ = ["HostState", "Nic", "NetworkError", "address_records", "addresses", "check_host_side",
           "configure_inside", "host_counters", "in_netns", "interfaces", "locate", "nic_stats", "plan",
           "run_script", "setup_host_side", "teardown"]
