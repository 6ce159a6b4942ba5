"""lxc-copy -e: an overlay snapshot clone marked lxc.ephemeral = 1 (gone when it stops),
with -m bind/overlay mount entries, started at once; with a command after --, the command
runs inside (environment cleared) and the clone is then shut down, as LXC."""

import os
import sys

from ..errors import LxcError, UsageError


def mount_entries(specs, newdir):
    """lxc.mount.entry values for -m bind=SRC[:DST][:ro|rw],overlay=SRC[:DST] (LXC's forms)."""
    entries = []
    for spec in specs:
        for item in spec.split(","):
            kind, sep, value = item.partition("=")
            if not sep or kind not in ("bind", "overlay") or not value:
                raise UsageError(f"-m {item}: expected bind=SRC[:DST][:ro|rw] or overlay=SRC[:DST]")
            parts = value.split(":")
            src = os.path.normpath(parts[0])
            if not os.path.isabs(src) or not os.path.exists(src):
                raise UsageError(f"-m {item}: {parts[0]} must be an existing absolute path")
            mode = "rw"
            if kind == "bind" and parts[-1] in ("ro", "rw") and len(parts) > 1:
                mode = parts.pop()
            dest = (parts[1] if len(parts) > 1 and parts[1] else src).lstrip("/")
            if kind == "bind":
                create = "create=dir" if os.path.isdir(src) else "create=file"
                entries.append(f"{src} {dest} none bind,optional,{mode},{create} 0 0")
            else:
                upper = os.path.join(newdir, _random_dir(newdir, "delta#", 0o700))
                work = os.path.join(newdir, _random_dir(newdir, "work#", 0o700))
                entries.append(f"{src} {dest} overlay lowerdir={src},upperdir={upper},"
                               f"workdir={work},create=dir")
    return entries


def _random_dir(parent, prefix, mode=0o770):
    """PARENT/PREFIXxxxxxx made with MODE, six letters and digits as mkdtemp(3) makes them."""
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits
    for _ in range(100):
        name = prefix + "".join(secrets.choice(alphabet) for _ in range(6))
        try:
            os.mkdir(os.path.join(parent, name), 0o700)
        except FileExistsError:
            continue
        os.chmod(os.path.join(parent, name), mode)
        return name
    raise LxcError(f"could not make a unique name under {parent}")


def run_ephemeral(origin, args, command):
    from .clone import clone
    from .container import Container
    from .attach import LXC_ATTACH_CLEAR_ENV, attach_run_command

    newpath = os.path.abspath(args.newpath) if args.newpath else origin.lxcpath
    newname = args.newname
    made_dir = False
    if not newname:
        os.makedirs(newpath, 0o755, exist_ok=True)
        newname = _random_dir(newpath, origin.name + "_")
        made_dir = True
    clone(origin, newname, newpath, snapshot=True, bdevtype=args.backingstorage,
          keepname=args.keepname, keepmac=args.keepmac, allow_running=args.allowrunning,
          made_dir=made_dir)
    copy = Container(newname, newpath)
    started = False
    try:
        if not args.keepdata:
            copy.set_config_item("lxc.ephemeral", "1")
        for entry in mount_entries(args.mount, copy.dir):
            copy.set_config_item("lxc.mount.entry", entry)
        from ..templates.runner import config_mode
        copy.document.save(mode=config_mode())
        if not args.quiet:
            sys.stdout.write(f"Created {newname} as clone of {origin.name}\n")
            sys.stdout.flush()
        foreground = args.foreground and not command
        code = copy.start(foreground=foreground)
        started = True
        if foreground:
            return code
        if code:
            raise LxcError(f"failed to start {newname}")
        if command:
            status = copy.attach_wait(attach_run_command, command, env_policy=LXC_ATTACH_CLEAR_ENV)
            copy.shutdown(timeout=-1)
            if status < 0:
                return 1
        return 0
    except BaseException:
        if started and copy.running:
            copy.stop(kill=True)
        if copy.defined and copy.get_config_item("lxc.ephemeral") not in ("0", "", None):
            copy.destroy()
        raise
