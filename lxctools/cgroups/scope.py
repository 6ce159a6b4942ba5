"""Whether an ordinary user's lxc-start or lxc-attach needs a systemd scope with Delegate=yes
(lxc-unpriv-start, lxc-unpriv-attach).

Debian's wrappers run every call through `systemd-run --user --scope` and refuse outright
without a systemd user session, even on hosts where the user's cgroups are fine (v1 with
pam_cgfs, OpenRC, a cgroup the admin delegated). A scope helps in one case only: a
cgroup2-only host where the caller's own cgroup is not delegated to it, and a systemd user
manager is there to make one. Everywhere else the tool runs as it is, and lxc-start explains
any cgroup it cannot use.
"""

import os

from .host import UNIFIED, layout, read_mountinfo, read_proc_cgroup


def _writable(directory):
    return (os.access(directory, os.W_OK)
            and os.access(os.path.join(directory, "cgroup.procs"), os.W_OK))


def scope_for(uid, *, proc="/proc", run="/run", writable=_writable):
    """None (run the tool as it is), or (argv prefix, environment) to run it in a delegated
    systemd scope, with the variables Debian's wrappers set."""
    if uid == 0:
        return None
    hierarchies = read_mountinfo(proc)
    if layout(hierarchies) != "unified":
        return None
    v2 = next(h for h in hierarchies if h.key == UNIFIED)
    own = read_proc_cgroup("self", proc).get(UNIFIED, "/")
    if writable(v2.dir_of(own)):
        return None  # already delegated (a scope, a login through pam_cgfs, the admin)
    runtime = os.path.join(run, "user", str(uid))
    if not os.path.exists(os.path.join(runtime, "systemd", "private")):
        return None  # no systemd user manager: lxc-start says what is missing
    return (["systemd-run", "--user", "--scope", "-p", "Delegate=yes"],
            {"XDG_RUNTIME_DIR": runtime, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/bus"})
