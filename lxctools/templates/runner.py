"""lxc-create's template runner: which template -t names, the config it starts from, running
it (native module or external script with LXC's argument protocol), LXC's header.

The create transaction around it (directories, `partial` marker, storage, rollback) is
api/create.py: it needs storage/ as well, which templates/ may not import (the layer beside it).
"""

import importlib
import importlib.util
import os
import signal
import sys

from ..errors import LxcError
from ..paths import default_config_path, template_config_dir, template_dirs

NATIVE = ("busybox", "local", "download")


class TemplateFailed(LxcError):
    """The template ran and failed; its own output says why."""


class Template:
    """A resolved -t value: kind is "none", "native" or "external"."""

    def __init__(self, kind, name, path=None, module=None):
        self.kind = kind
        self.name = name
        self.path = path
        self.module = module

    def description(self):
        """What the config header names as the template used."""
        if self.kind == "native":
            return f"{self.name} (built into lxctools)"
        return self.path


def is_none(template):
    # LXC compares with strncmp over the length of the argument: "n", "no", "non" mean none.
    return template is not None and "none".startswith(template)


def native_module(name):
    """The native template module NAME, or None when it is not (yet) part of lxctools."""
    if name not in NATIVE:
        return None
    modname = f"{__package__}.{name}"
    if importlib.util.find_spec(modname) is None:
        return None
    module = importlib.import_module(modname)
    return module if callable(getattr(module, "create", None)) else None


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def available_templates():
    """Every template name lxc-create -t accepts here (native ones and lxc-NAME scripts)."""
    names = {n for n in NATIVE if importlib.util.find_spec(f"{__package__}.{n}") is not None}
    for directory in template_dirs():
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            if entry.startswith("lxc-") and _executable(os.path.join(directory, entry)):
                names.add(entry[4:])
    return sorted(names)


def resolve(template):
    """The Template for -t TEMPLATE, or a clear error (exit 1) before anything is created."""
    if template is None:
        raise LxcError("A template must be specified",
                       hint='use "-t none" if you really want a container without a rootfs')
    if is_none(template):
        return Template("none", "none")
    if template.startswith("/"):
        if not _executable(template):
            raise LxcError(f'Template "{template}" not found',
                           hint=f"{template} must be an executable file")
        return Template("external", os.path.basename(template), path=template)
    module = native_module(template)
    if module is not None:
        return Template("native", template, module=module)
    if "/" not in template:
        for directory in template_dirs():
            path = os.path.join(directory, "lxc-" + template)
            if _executable(path):
                return Template("external", template, path=path)
    import difflib

    known = available_templates()
    close = difflib.get_close_matches(template, known, n=1, cutoff=0.6)
    message = f'Template "{template}" not found'
    if close:
        message += f' (did you mean "{close[0]}"?)'
    raise LxcError(message, hint="available templates: " + (", ".join(known) or "none")
                   + "; or give the absolute path of an executable")


def header(template, args):
    """LXC's comment block at the top of a templated container's config."""
    nesting = os.path.join(template_config_dir(), "nesting.conf")
    return [
        f"# Template used to create this container: {template.description()}",
        "# Parameters passed to the template:" + "".join(" " + a for a in args),
        "# For additional config options, please look at lxc.container.conf(5)",
        "",
        "# Uncomment the following line to support nesting containers:",
        f"#lxc.include = {nesting}",
        "# (Be aware this has security implications)",
        "",
    ]


def base_config(config_file, target):
    """The default config (or -f FILE) as the new container's document, saved later at TARGET.

    Blank lines are dropped and random hwaddr digits drawn, as LXC does when it copies it.
    """
    from ..config.document import ConfigDocument
    from .. import log

    path = config_file or default_config_path()
    if config_file is None and not os.path.exists(path):
        lines = []
    else:
        source = ConfigDocument.read(path, warn=log.warn)
        lines = [line for line in source.lines if line.strip()]
    text = "\n".join(lines) + ("\n" if lines else "")
    return ConfigDocument(target, text, warn=None)


def config_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o660 & ~mask


def run_native(tpl, doc, name, lxcpath, container_dir, rootfs, args, quiet):
    from . import TemplateContext

    ctx = TemplateContext(name=name, lxcpath=lxcpath, path=container_dir, rootfs=rootfs,
                          config=doc, quiet=quiet,
                          progress=not quiet and sys.stderr.isatty())
    tpl.module.create(ctx, list(args))
    return ctx.config, ctx.rootfs_shifted


def _idmap_lines(doc):
    return doc.conf.value("lxc.idmap") or []


def _foreground_tty():
    """Our stdin if it is a terminal whose foreground process group is ours, else None."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return 0
    except OSError:
        pass
    return None


def _give_terminal(fd, pgrp):
    # tcsetpgrp from a background group raises SIGTTOU unless it is ignored.
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgrp)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)


def _template_child_setup(tty, parent):
    """What the template's process does before exec: its own process group (foreground on
    our terminal, so a template that asks questions can read them), death with lxc-create,
    and, for root, a private mount namespace so that its mounts vanish with it."""
    from ..kernel import libc

    def setup():
        os.setpgid(0, 0)
        if tty is not None:
            _give_terminal(tty, os.getpgrp())
        libc.set_pdeathsig(signal.SIGKILL)
        if os.getppid() != parent:  # lxc-create died before the line above
            os._exit(1)
        if os.geteuid() == 0:
            try:
                libc.unshare(libc.CLONE_NEWNS)
                libc.mount(None, "/", None, libc.MS_SLAVE | libc.MS_REC)
            except OSError:
                pass

    return setup


def run_external(tpl, config_path, name, container_dir, rootfs, args, quiet, doc):
    import subprocess
    from ..config.document import ConfigDocument
    from .. import log

    argv = [os.path.basename(tpl.path), f"--path={container_dir}", f"--name={name}",
            f"--rootfs={rootfs}", *args]
    if _idmap_lines(doc):
        _require_root_for_idmap()
        # The template runs unmapped; the runner shifts ownership afterwards, so "mapped" is us.
        argv += ["--mapped-uid", str(os.geteuid()), "--mapped-gid", str(os.getegid())]
    out = subprocess.DEVNULL if quiet else None
    tty = None if quiet else _foreground_tty()
    try:
        # Its own process group, so that an interrupted create can stop everything it started.
        proc = subprocess.Popen(argv, executable=tpl.path, stdin=out, stdout=out, stderr=out,
                                preexec_fn=_template_child_setup(tty, os.getpid()))
    except OSError as exc:
        raise LxcError(f"cannot run template {tpl.path}: {exc.strerror}") from None
    try:
        try:
            os.setpgid(proc.pid, proc.pid)  # also here, as shells do: whoever runs first wins
        except OSError:
            pass
        if tty is not None:
            _give_terminal(tty, proc.pid)
        returncode = proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        if tty is not None:
            _give_terminal(tty, os.getpgrp())
    if returncode != 0:
        how = (f"killed by signal {-returncode}" if returncode < 0
               else f"exited with status {returncode}")
        raise TemplateFailed(f"Failed to create container from template ({argv[0]} {how})",
                             hint="the template's messages above say why; nothing was left behind")
    try:
        return ConfigDocument.read(config_path, warn=log.warn)
    except LxcError as exc:
        exc.message = f"the template left an invalid config: {exc.message}"
        raise


def _stop_group(proc):
    """SIGTERM the template's process group, SIGKILL what is left after a moment."""
    import subprocess

    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            os.killpg(proc.pid, 0)  # the leader is gone; is anyone of its group left?
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def check_caller(tpl, doc):
    """Refuse, before anything is made, what a non-root caller cannot create."""
    if os.geteuid() == 0 or tpl.kind == "none":
        return
    if not _idmap_lines(doc):
        raise LxcError("No uid mapping for container root",
                       hint="unprivileged containers need lxc.idmap lines (u and g) in "
                            "~/.config/lxc/default.conf; lxc-checkconfig shows the fix")
    if tpl.kind != "native":
        _require_root_for_idmap()  # external scripts would need to run inside the userns


def _require_root_for_idmap():
    if os.geteuid() != 0:
        raise LxcError("creating an unprivileged (lxc.idmap) container as a non-root user needs "
                       "user-namespace support that lxctools does not have yet",
                       hint="create it as root, or use real LXC's lxc-create for now")


def own_for_idmap(doc, container_dir, rootfs, rootfs_shifted=False):
    """With lxc.idmap, give the container dir and rootfs to the mapped ids (as a userns run would)."""
    lines = _idmap_lines(doc)
    if not lines:
        return
    if os.geteuid() != 0:
        # the template ran as us: in a user namespace, our files become container root's
        from ..idmap.userns import chown_to_container_root
        chown_to_container_root(lines, [rootfs], owner_only=[container_dir])
        return
    from ..idmap.idshift import IdMap, shift_tree

    idmap = IdMap.parse(lines)
    root_uid, root_gid = idmap.host_uid(0), idmap.host_gid(0)
    if root_uid is None or root_gid is None:
        raise LxcError("lxc.idmap does not map container root (uid and gid 0)",
                       hint="add lines like lxc.idmap = u 0 100000 65536 and g 0 100000 65536")
    os.chown(container_dir, root_uid, root_gid)
    if rootfs_shifted:
        return  # extracted with the map applied (file capabilities rewritten for it too)
    if rootfs.startswith(container_dir + "/") or os.path.isdir(rootfs):
        shift_tree(rootfs, idmap)
