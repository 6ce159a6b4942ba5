"""lxc-autostart's selection and actions (lxc-behaviour.md 2.15): which containers, in which
order, with which delays."""

import time

from ..errors import LxcError


def requested_groups(options):
    """-g values joined: "onboot," is the onboot group and the NULL group (None)."""
    groups = []
    for value in options or []:
        for part in value.split(","):
            groups.append(part or None)
    return groups or [None]


def matches(container_groups, wanted):
    if wanted is None:
        return not container_groups
    # LXC compares over the length of the container's group name: "web" matches -g webserver
    return any(wanted.startswith(group) for group in container_groups)


class Candidate:
    def __init__(self, container):
        conf = container.conf
        self.container = container
        self.name = container.name
        self.auto = (conf.value("lxc.start.auto") or "0") == "1"
        self.order = int(conf.value("lxc.start.order") or 0)
        self.delay = int(conf.value("lxc.start.delay") or 0)
        self.groups = [g for v in (conf.value("lxc.group") or []) for g in v.split(",") if g]


def select(lxcpath, *, groups=None, all_groups=False, ignore_auto=False, reverse=False):
    """Candidates in processing order: sorted by lxc.start.order then name (reversed for
    shutdown/kill), walked group by group, each container at most once."""
    from .container import Container
    from .listing import defined_names

    found = []
    for name in defined_names(lxcpath):
        try:
            candidate = Candidate(Container(name, lxcpath))
        except LxcError:
            continue  # a config that does not load is not started at boot either
        if ignore_auto or candidate.auto:
            found.append(candidate)
    found.sort(key=lambda c: (c.order, c.name), reverse=reverse)
    if all_groups:
        return found
    chosen, seen = [], set()
    for wanted in requested_groups(groups):
        for candidate in found:
            if candidate.name not in seen and matches(candidate.groups, wanted):
                chosen.append(candidate)
                seen.add(candidate.name)
    return chosen


def run(candidates, action, *, timeout=60, listing=False, out=print):
    """Do ACTION (start, reboot, shutdown, kill) to each; returns (attempted, failed)."""
    attempted = failed = 0
    for candidate in candidates:
        container = candidate.container
        running = container.running
        if action == "start" and running:
            continue
        if action != "start" and not running:
            continue
        if listing:
            out(f"{candidate.name} {candidate.delay}" if action in ("start", "reboot")
                else candidate.name)
            continue
        attempted += 1
        try:
            if action == "start":
                container.start()
            elif action == "reboot":
                container.reboot(timeout=timeout)
            elif action == "shutdown":
                container.stop(timeout=timeout)
            else:
                # as lxc-stop -k: wait (up to 10 s) until the supervisor has cleaned up, so
                # that a script that kills then checks or destroys does not race it
                container.stop(kill=True, timeout=10)
        except LxcError as exc:
            failed += 1
            import sys
            sys.stderr.write(f"lxc-autostart: {candidate.name}: {exc}\n")
            continue
        if action in ("start", "reboot") and candidate.delay:
            time.sleep(candidate.delay)
    return attempted, failed
