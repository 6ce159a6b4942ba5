"""The lxc-create transaction: directories, `partial` marker, storage, template, rollback.

Order (as LXC's __lxcapi_create): resolve the template and read the base config before
touching the disk; make the lxcpath (0755) and the container directory (0770); with a real
template, put down the locked `partial` marker, create the rootfs, save the config with
`lxc.rootfs.path = dir:...`, run the template, prepend LXC's header, then drop the marker.
Any failure, Ctrl-C, SIGTERM or SIGHUP removes exactly what was made; a SIGKILL leaves an
unlocked marker that the next lookup of the name removes (api/partial.py).
"""

import os
from contextlib import nullcontext

from ..errors import LxcError
from . import partial
from ..templates import runner
from ..storage import backends
from ..storage.remove import remove_tree
from .transaction import Rollback, interrupts_unwind, makedirs


def create(*, name, lxcpath, template, args=(), bdev=None, rootfs_dir=None, config_file=None,
           quiet=False, lock=None, fstype=None, fssize=None):
    """Create container NAME in LXCPATH. Returns the config path; raises LxcError on failure.

    FSTYPE, FSSIZE (bytes): the filesystem of a -B loop image (ext4, 1 GiB by default)."""
    tpl = runner.resolve(template)
    # -t none makes no rootfs (as LXC): -B is only checked for a valid type name then.
    store = backends.choose(bdev, lxcpath,
                            on_btrfs=(lambda _path: True) if tpl.kind == "none" else None)
    container_dir = os.path.join(lxcpath, name)
    config_path = os.path.join(container_dir, "config")
    doc = runner.base_config(config_file, config_path)
    runner.check_caller(tpl, doc)
    if store != "dir" and tpl.kind != "none":
        _check_store(store, doc, rootfs_dir)
    if store == "loop" and tpl.kind != "none":
        from ..storage import loop
        if os.geteuid() != 0:
            raise LxcError("loop storage needs root (a loop device is attached to mount it)",
                           hint="unprivileged containers can use -B dir or -B btrfs, as in LXC")
        loop.mkfs_tool(fstype)  # refused before anything is written when it is missing
    specs = {"fstype": fstype, "fssize": fssize}
    mode = runner.config_mode()
    rollback = Rollback()
    marker = None
    with interrupts_unwind():
        try:
            makedirs(lxcpath)
            with (lock() if lock else nullcontext()):
                _check_free(container_dir, config_path)
                try:
                    os.mkdir(container_dir, 0o770)
                    rollback.made(container_dir)
                except FileExistsError:
                    if os.path.islink(container_dir) or not os.path.isdir(container_dir):
                        raise LxcError(f"{container_dir} exists and is not a directory",
                                       hint="remove it or choose another name") from None
                os.chmod(container_dir, 0o770)
                if tpl.kind == "none":
                    if not rollback.trees:
                        rollback.made(config_path)
                    doc.save(config_path, mode=mode)
                    return config_path
                marker = partial.Marker(container_dir)
                if not rollback.trees:
                    rollback.made(marker.path)
                    rollback.made(config_path)
            rootfs = _storage(doc, container_dir, rootfs_dir, rollback, store, specs)
            if tpl.kind == "external":
                doc.save(config_path, mode=mode)  # the script reads and appends to it

            def populate(root):
                shifted = False
                if tpl.kind == "native":
                    new, shifted = runner.run_native(tpl, doc, name, lxcpath, container_dir,
                                                     root, args, quiet)
                else:
                    new = runner.run_external(tpl, config_path, name, container_dir, root,
                                              args, quiet, doc)
                new.prepend_lines(runner.header(tpl, args))
                runner.own_for_idmap(new, container_dir, root, rootfs_shifted=shifted)
                return new

            if store == "loop":
                # The template fills the image through a loop mount on LXCPATH/NAME/rootfs,
                # in a child's private mount namespace (the device goes with it).
                from .clone import in_rootfs
                doc = in_rootfs(doc.conf.value("lxc.rootfs.path"), populate, rootfs)
            else:
                doc = populate(rootfs)
            doc.save(config_path, mode=mode)
            marker.finish()
            marker = None
            return config_path
        except BaseException as exc:
            rollback.run()
            if isinstance(exc, OSError):  # the environment's (read-only, full): say where
                from ..errors import os_error
                raise os_error(exc, "cannot create", exc.filename or container_dir) from None
            raise
        finally:
            if marker is not None:
                marker.release()


def _check_free(container_dir, config_path):
    partial.remove_stale_temps(container_dir)
    state = partial.remove_if_stale(container_dir, remove_tree)
    if state == partial.ONGOING:
        raise LxcError("Container already exists",
                       hint="another lxc-create is creating it right now")
    if state == partial.STALE:
        raise LxcError(f"a failed creation left {container_dir} behind and it cannot be removed",
                       hint=f"look inside {container_dir} (a mount point?) and remove it by hand")
    if os.path.exists(config_path):
        raise LxcError("Container already exists")


def _check_store(store, doc, rootfs_dir):
    """What a btrfs, overlay or loop create cannot do, said before the disk is touched."""
    from .. import log

    if rootfs_dir:
        # LXC ignores --dir for every store but dir, silently.
        log.warn(f"--dir is ignored with -B {store} (as LXC): the rootfs is LXCPATH/NAME/rootfs")
    configured = doc.conf.value("lxc.rootfs.path")
    if configured:
        path = configured.split(":", 1)[1] if ":" in configured and not configured.startswith("/") \
            else configured
        if os.path.exists(path):
            raise LxcError(f"lxc.rootfs.path = {configured} names an existing path: -B {store} "
                           "makes a new rootfs", key="lxc.rootfs.path",
                           hint="drop lxc.rootfs.path from the config, or use -B dir to reuse it")


def _storage(doc, container_dir, rootfs_dir, rollback, store="dir", specs=None):
    """Create the rootfs and record it in the config (absolute, as LXC should always have)."""
    if store == "loop":
        from ..storage import loop
        specs = specs or {}
        rootfs = os.path.join(container_dir, "rootfs")
        image = os.path.join(container_dir, loop.IMAGE)
        if backends.create_dir(rootfs):
            rollback.made(rootfs)
        loop.create_image(image, specs.get("fssize") or loop.DEFAULT_SIZE, specs.get("fstype"))
        rollback.made(image)
        doc.replace_item("lxc.rootfs.path", loop.PREFIX + image)
        return rootfs
    if store == "btrfs":
        from ..storage import btrfs
        rootfs = os.path.join(container_dir, "rootfs")
        btrfs.create(rootfs)
        rollback.made(rootfs)
        doc.replace_item("lxc.rootfs.path", "btrfs:" + rootfs)
        return rootfs
    if store == "overlay":
        # LXC's layout: the template fills NAME/rootfs, the lower layer; changes made by the
        # running container go to NAME/overlay/delta. (From a cached image the template makes
        # the cached tree the lower layer instead: templates/local.py.)
        from ..storage.clone import overlay_dirs
        rootfs = os.path.join(container_dir, "rootfs")
        for made in (rootfs, os.path.join(container_dir, "overlay")):
            if not os.path.exists(made):
                rollback.made(made)
        delta = overlay_dirs(container_dir)
        doc.replace_item("lxc.rootfs.path", f"overlay:{rootfs}:{delta}")
        return rootfs
    configured = doc.conf.value("lxc.rootfs.path")
    if configured and not rootfs_dir:
        existing = configured.split(":", 1)[1] if configured.startswith("dir:") else configured
        if os.path.isabs(existing) and os.path.isdir(existing):
            # LXC's rule: a config naming an existing rootfs reuses it.
            return existing
    rootfs = os.path.abspath(rootfs_dir) if rootfs_dir else os.path.join(container_dir, "rootfs")
    if backends.create_dir(rootfs):
        rollback.made(rootfs)
    doc.replace_item("lxc.rootfs.path", "dir:" + rootfs)
    return rootfs
