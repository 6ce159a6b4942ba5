"""A container's start, from lxc-start's options to the exec of its init.

The request and the checks made before anything is cloned (start.py, preflight.py,
guestcheck.py), the start plan every side runs and --explain prints (startplan.py,
explain.py), the container side's pieces (payload.py, mounts.py, hooks.py, journal.py), the
sync messages between the supervisor and the processes it forks (sync.py), and what other
spawned processes share: the compiled helpers' hand-over (entry.py: lxc-entry for lxc-attach,
lxc-execinit for lxc-execute), a forked child's failure report (childpipe.py), lxc-unshare
(unshare.py).

May import the subsystems (cgroups/, network/, security/, storage/), idmap/, config/, kernel/
and the shared modules; never the monitor: the supervisor that runs the plan is handed in
(startplan.Boot), and asks other containers itself (Supervisor.init_pid_of).
"""
