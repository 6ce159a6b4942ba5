"""lxc-checkpoint --migrate DEST: move a running container to another host (issue 23 item 3;
LXC's own tool has no such form: python-lxc's migrate() leaves the carrying to the caller).

DEST is where the container goes, as rsync names it: an lxcpath on this host (a mounted
share) or `[USER@]HOST:LXCPATH` (rsync over ssh). The steps, with the pause kept to the
last two:
1. pre-dump: CRIU copies the memory of the running container into -D DIR/pre (it runs on);
2. the first copy, live: the pre-dump and the container's directory without its rootfs go to
   DEST/NAME with rsync -aHXS --numeric-ids --delete, as lxc-copy copies a rootfs. Never
   the rootfs of a running container: rsync walks it by path as host root, and the
   container's root may swap a directory for a symlink to the host's files between rsync's
   listing and its open, which would copy host files (/etc/shadow, keys) to DEST
   (tests/integration/test_checkpoint.py plants that swap);
3. the dump (-s): CRIU freezes the container, saves what changed since the pre-dump into
   DIR/final (--prev-images-dir, --track-mem) and kills it: the pause starts at the freeze;
4. the second copy: the whole directory, rootfs included, now of a container with no process
   left (nothing inside can change or race it); the final images and the config rewritten
   for DEST (lxc.rootfs.path and the paths in the old directory, lxc-copy's rules) go with
   it. The rootfs's copy is thus part of the pause: the price of not reading a running
   container's files as host root.
On the target, `lxc-checkpoint -P LXCPATH -n NAME -r -D LXCPATH/NAME/checkpoint/final` ends
the pause (the line printed says so). The source stays defined and stopped: lxc-destroy it
once the target runs. Only dir rootfs are carried (a btrfs, loop or overlay rootfs would need
its own transport). What each step took is printed, in ms.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

from ..errors import LxcError

CHECKPOINT = "checkpoint"  # DEST/NAME/checkpoint/{pre,final}: the images the target restores


def _remote(dest):
    """(host, path) of an rsync destination HOST:PATH; (None, path) for a local one."""
    head, sep, tail = dest.partition(":")
    if sep and "/" not in head:
        return head, tail
    return None, dest


def _rsync(src, dst, *, excludes=()):
    tool = shutil.which("rsync")
    if not tool:
        raise LxcError("rsync is needed to carry a container (lxc-checkpoint --migrate)",
                       hint="apt-get install rsync (on both hosts)")
    from ..kernel.libc import die_with_parent
    # --mkpath: the target's directories made by rsync itself, here or on the far side
    argv = [tool, "-aHXS", "--numeric-ids", "--delete", "--mkpath"]
    for pattern in excludes:
        argv += ["--exclude", pattern]
    done = subprocess.run(argv + [src, dst], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          errors="replace", preexec_fn=die_with_parent)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise LxcError(f"carrying {src} to {dst} failed: {detail}",
                       hint="is the target reachable and is there room on it?")


def plan(lxcpath, name, conf, directory, dest):
    """Everything checked before the container is touched: (container dir, rootfs dir,
    target lxcpath, whether it is remote)."""
    from ..storage.clone import parse
    if not dest:
        raise LxcError("--migrate needs a destination: an lxcpath here or HOST:LXCPATH")
    host, target = _remote(dest)
    if not os.path.isabs(target):
        raise LxcError(f"--migrate {dest}: the target lxcpath must be an absolute path",
                       hint="e.g. --migrate otherhost:/var/lib/lxc")
    kind, rootfs = parse(conf.value("lxc.rootfs.path"))
    if kind != "dir":
        raise LxcError(f"--migrate carries dir rootfs only; {name}'s is {kind}",
                       key="lxc.rootfs.path", hint="lxc-copy -B dir it to a dir container first")
    container_dir = os.path.realpath(os.path.join(lxcpath, name))
    if not (os.path.realpath(rootfs) + "/").startswith(container_dir + "/"):
        raise LxcError(f"--migrate carries the container's directory ({container_dir}); "
                       f"{name}'s rootfs ({rootfs}) is outside it", key="lxc.rootfs.path",
                       hint="lxc-copy it into a container directory of its own first")
    if host is None:
        here = os.path.realpath(os.path.join(target, name))
        if here == container_dir or os.path.exists(here):
            raise LxcError(f"{here} exists already: --migrate makes the container there",
                           hint="choose another lxcpath, or lxc-destroy the one there")
    work = os.path.abspath(directory)
    for sub in ("pre", "final"):
        if os.path.exists(os.path.join(work, sub)):
            raise CheckpointDirUsed(work)
    return container_dir, rootfs, target, host


class CheckpointDirUsed(LxcError):
    def __init__(self, work):
        super().__init__("please use a fresh directory for the dump directory",
                         hint=f"{work} holds a checkpoint already")


def migrate(lxcpath, name, conf, directory, dest, *, verbose=False, action_script=None,
            out=None):
    """The steps above; returns {step: ms} and prints them with the target's command."""
    import sys

    from . import checkpoint as criu

    out = out or sys.stdout
    container_dir, rootfs, target, host = plan(lxcpath, name, conf, directory, dest)
    work = os.path.abspath(directory)
    pre, final = os.path.join(work, "pre"), os.path.join(work, "final")
    to = f"{dest.rstrip('/')}/{name}/"
    # what rsync must leave alone: the config (rewritten below), the target's images (carried
    # on their own: --delete would remove them) and -D when the user put it in the container
    # directory
    excludes = ["/config", f"/{CHECKPOINT}"]
    if (work + "/").startswith(container_dir + "/"):
        excludes.append("/" + os.path.relpath(work, container_dir))
    steps = {}
    t0 = time.monotonic()
    criu.checkpoint(lxcpath, name, conf, pre, pre_dump=True, verbose=verbose,
                    action_script=action_script)
    t1 = time.monotonic()
    steps["pre-dump"] = t1 - t0
    live_copy(container_dir, rootfs, to, excludes)
    _rsync(pre + "/", f"{to}{CHECKPOINT}/pre/")
    carry_includes(container_dir, target.rstrip("/"), dest)
    t2 = time.monotonic()
    steps["live copy"] = t2 - t1
    # the pause: the freeze at the dump's start until the target's restore has run
    criu.checkpoint(lxcpath, name, conf, final, stop=True, predump_dir="../pre",
                    verbose=verbose, action_script=action_script)
    t3 = time.monotonic()
    steps["dump"] = t3 - t2
    _rsync(container_dir + "/", to, excludes=excludes)
    _rsync(final + "/", f"{to}{CHECKPOINT}/final/")
    text = target_config(container_dir, name, rootfs, target.rstrip("/"))
    with tempfile.TemporaryDirectory(prefix="lxc-migrate.") as tmp:
        config = os.path.join(tmp, "config")
        with open(config, "w") as handle:
            handle.write(text)
        _rsync(config, to)
    t4 = time.monotonic()
    steps["final copy"] = t4 - t3
    ms = {k: round(v * 1000) for k, v in steps.items()}
    restore = (f"lxc-checkpoint -P {target.rstrip('/')} -n {name} -r "
               f"-D {target.rstrip('/')}/{name}/{CHECKPOINT}/final")
    out.write(f"{name} carried to {dest}: pre-dump {ms['pre-dump']} ms, live copy "
              f"{ms['live copy']} ms, dump {ms['dump']} ms, final copy {ms['final copy']} ms "
              f"(frozen so far: {ms['dump'] + ms['final copy']} ms)\n"
              f"restore it there: {restore}\n")
    out.flush()
    return ms


def live_copy(container_dir, rootfs, to, excludes=()):
    """Step 2's copy of the running container's directory to TO, without ROOTFS (the
    docstring above: why) and EXCLUDES."""
    inside = os.path.relpath(os.path.realpath(rootfs), container_dir)
    _rsync(container_dir + "/", to, excludes=[*excludes, "/" + inside])


def _include_root(lxcpath):
    from ..images.sharedconfig import DIRNAME
    return os.path.join(lxcpath, DIRNAME)


def carry_includes(container_dir, target, dest):
    """The lxcpath's copy of lxctools' includes that the config names (LXC_TEMPLATE_CONFIG:
    LXCPATH/.lxctools-include/KEY, images/sharedconfig.py) goes with it to the
    target's lxcpath, its absolute paths moved there: the container keeps the files it was
    made with, whatever lxctools the target has."""
    source_root = _include_root(os.path.dirname(container_dir))
    target_root = _include_root(target)
    with open(os.path.join(container_dir, "config")) as handle:
        text = handle.read()
    keys = sorted(set(re.findall(re.escape(source_root + "/") + r"([^/\s]+)/", text)))
    host, _ = _remote(dest)
    where = f"{host}:{target_root}" if host else target_root
    for key in keys:
        with tempfile.TemporaryDirectory(prefix="lxc-migrate.") as tmp:
            copy = os.path.join(tmp, key)
            shutil.copytree(os.path.join(source_root, key), copy, symlinks=True)
            for top, _dirs, files in os.walk(copy):
                for name in files:
                    path = os.path.join(top, name)
                    if name.endswith(".conf") and not os.path.islink(path):
                        with open(path) as handle:
                            body = handle.read()
                        with open(path, "w") as handle:
                            handle.write(body.replace(source_root + "/", target_root + "/"))
            os.chmod(copy, 0o755)
            _rsync(copy + "/", f"{where}/{key}/")


def target_config(container_dir, name, rootfs, target):
    """The config as the target reads it: lxc.rootfs.path and the paths into the old
    container directory moved to TARGET/NAME (lxc-copy's rules, config/clone.py)
    (the rootfs is in the container directory: plan() refuses any other)."""
    from ..config.clone import rewrite
    inside = os.path.relpath(os.path.realpath(rootfs), container_dir)
    with open(os.path.join(container_dir, "config")) as handle:
        text = rewrite(handle.read(), oldpath=os.path.dirname(container_dir), oldname=name,
                       newpath=target, newname=name, rootfs=f"dir:{target}/{name}/{inside}",
                       keepname=True, keepmac=True).text
    # the includes carried by carry_includes()
    return text.replace(_include_root(os.path.dirname(container_dir)) + "/",
                        _include_root(target) + "/")
