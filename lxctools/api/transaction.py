"""What making and unmaking a container share: its name, its directory, its rollback.

create.py, clone.py, snapshot.py and destroy.py each run one transaction on a container's
directory; the pieces they have in common live here, below all four and below container.py
(the Container every tool calls), so none of them imports another to borrow a helper.

- the lxcpath made (makedirs), what was made undone (Rollback), SIGTERM/SIGHUP turned into
  the Ctrl-C that runs it (interrupts_unwind)
- a half-made container left by a killed creator removed (remove_half_made, settle_partial)
- an overlay clone's entry in its origin's lxc_snapshots dropped (forget_origin)
- a tree removed as the container's root when it is unprivileged (remove)

What a container may be called is api/names.py's (kept apart: every lookup needs it, and
this module's imports are not for the lookups' hot path); its lock is api/locking.py's,
taken by the Container before it calls in.
"""

import os
import signal
import sys
from contextlib import contextmanager

from ..errors import LxcError
from ..storage.remove import remove_tree

def makedirs(lxcpath):
    try:
        os.makedirs(lxcpath, 0o755, exist_ok=True)
    except OSError as exc:
        raise LxcError(f"cannot create lxcpath {lxcpath}: {exc.strerror}") from None


@contextmanager
def interrupts_unwind():
    """SIGTERM/SIGHUP during a create unwind like Ctrl-C, so the rollback runs."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


class Rollback:
    """Removes exactly what this create made, never what was there before."""

    def __init__(self):
        self.trees = []

    def made(self, path):
        self.trees.append(path)

    def run(self):
        for path in reversed(self.trees):
            try:
                remove_tree(path)
            except (OSError, LxcError) as exc:
                sys.stderr.write(f"lxc-create: warning: could not remove {path}: {exc}\n")


def read_lines(path):
    """PATH's lines without their newlines (any bytes kept); [] when there is no PATH."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return [line.rstrip("\n") for line in handle]
    except FileNotFoundError:
        return []


def forget_origin(container_dir):
    """An overlay clone (lxc_rdepends) drops its entry from its origin's lxc_snapshots."""
    from ..atomic import atomic_write

    rdeps = read_lines(os.path.join(container_dir, "lxc_rdepends"))
    if len(rdeps) < 2:
        return
    origin_file = os.path.join(rdeps[0], rdeps[1], "lxc_snapshots")
    lines = read_lines(origin_file)
    me = (os.path.dirname(container_dir), os.path.basename(container_dir))
    pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
    kept = [p for p in pairs if p != me]
    if len(kept) == len(pairs):
        return
    if kept:
        atomic_write(origin_file, "".join(f"{a}\n{b}\n" for a, b in kept), 0o644)
    else:
        os.unlink(origin_file)


def remove(container_dir, conf):
    """remove_tree, as the container's root in its user namespace when we are not root and
    the container is unprivileged: its files belong to a subuid we cannot delete as."""
    idmap = conf.value("lxc.idmap") or []
    if os.geteuid() == 0 or not idmap:
        return remove_tree(container_dir)
    from ..idmap.userns import run_in_userns
    dry = remove_tree(container_dir, dry_run=True)
    run_in_userns(idmap, lambda _uid, _gid: remove_tree(container_dir), "removing the container")
    return dry


def remove_half_made(container_dir):
    """What a dead lxc-create/lxc-copy/lxc-snapshot -r left: its entry in an origin's
    lxc_snapshots goes too. A snaps directory is never part of a half-made container (a
    restore over the original clones into the directory that holds them): it stays."""
    try:
        forget_origin(container_dir)
    except OSError:
        pass
    if not os.path.isdir(os.path.join(container_dir, "snaps")) or \
            os.path.islink(os.path.join(container_dir, "snaps")):
        return remove_tree(container_dir)
    removed = []
    for entry in sorted(os.listdir(container_dir), key=lambda e: e == "partial"):
        if entry != "snaps":
            removed += remove_tree(os.path.join(container_dir, entry))
    return removed


def settle_partial(container_dir):
    """A `partial` marker whose creator died means a half-made container: remove it.
    api/partial.py judges the marker: None (none), ONGOING, REMOVED or STALE."""
    from .partial import remove_if_stale

    return remove_if_stale(container_dir, remove_half_made)


def settle_partials(directory):
    """settle_partial for every entry of DIRECTORY with a `partial` marker (a snapshot
    directory, as a lookup of each name would). Raises FileNotFoundError or
    NotADirectoryError when DIRECTORY is not one."""
    for entry in os.listdir(directory):
        if os.path.exists(os.path.join(directory, entry, "partial")):
            settle_partial(os.path.join(directory, entry))
