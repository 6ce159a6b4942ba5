"""Running lxc.hook.* commands the way LXC does (lxc-behaviour.md 4.7).

Version 0 (default): /bin/sh -c "exec HOOK 'NAME' 'lxc' 'TYPE' [ARGS...]"; version 1:
"exec HOOK [ARGS...]" with LXC_HOOK_TYPE/LXC_HOOK_SECTION in the environment. Stdout goes to
the log at DEBUG, stderr is left to the user; a non-zero exit fails the step.
"""

import os

from .. import log
from ..errors import LxcError
from ..paths import ROOTFS_MOUNT


class HookFailed(LxcError):
    """A hook exited non-zero."""


def rootfs_path(conf):
    """lxc.rootfs.path without its storage prefix, as LXC exports it."""
    value = conf.value("lxc.rootfs.path") or ""
    return value.split(":", 1)[1] if ":" in value.split("/", 1)[0] else value


def base_env(name, conf, config_file):
    """The LXC_* variables every hook of a container sees."""
    env = {"LXC_NAME": name, "LXC_CONFIG_FILE": config_file,
           "LXC_ROOTFS_MOUNT": conf.value("lxc.rootfs.mount") or ROOTFS_MOUNT,
           "LXC_ROOTFS_PATH": rootfs_path(conf)}
    if conf.value("lxc.console.path"):
        env["LXC_CONSOLE"] = conf.value("lxc.console.path")
    if conf.value("lxc.console.logfile"):
        env["LXC_CONSOLE_LOGPATH"] = conf.value("lxc.console.logfile")
    return env


def run_hooks(hook_type, name, conf, config_file, *, extra_env=None, args=(),
              die_with_parent=False):
    """Run every lxc.hook.HOOK_TYPE in order; raise HookFailed at the first failure.

    DIE_WITH_PARENT: a kill -9 of the caller kills the hook too (a clone hook must not go on
    working in a clone that is being discarded, holding its loop device). Only for
    single-threaded callers (the lxc-* tools): the kernel's parent-death signal follows the
    thread that forked, so a supervisor's worker thread ending would kill its hooks."""
    hooks = conf.value(f"lxc.hook.{hook_type}") or []
    if not hooks:
        return
    # here, not at the top: most starts run no hook, and subprocess (with locale, contextlib
    # and selectors) is ~3 ms of a supervisor's cold start. The start hooks, which run after
    # pivot_root, have them imported before the fork (startplan.Plan)
    import shlex
    import subprocess

    version = conf.value("lxc.hook.version") or "0"
    env = dict(os.environ)
    env.update(base_env(name, conf, config_file))
    env["LXC_HOOK_VERSION"] = version
    for entry in conf.value("lxc.environment.hooks") or []:
        key, _, value = entry.partition("=")
        env[key] = value if _ else os.environ.get(key, "")
    if extra_env:
        env.update(extra_env)
    tail = " ".join(shlex.quote(a) for a in args)
    for hook in hooks:
        if version == "1":
            env.update(LXC_HOOK_TYPE=hook_type, LXC_HOOK_SECTION="lxc")
            command = f"exec {hook} {tail}".rstrip()
        else:
            command = f"exec {hook} '{name}' 'lxc' '{hook_type}' {tail}".rstrip()
        proc = subprocess.run(["/bin/sh", "-c", command], env=env, stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, check=False,
                              preexec_fn=_preexec(die_with_parent))
        for line in proc.stdout.decode(errors="replace").splitlines():
            log.debug(f"{hook_type} hook: {line}")
        if proc.returncode != 0:
            raise HookFailed(f"{hook_type} hook {hook!r} failed with status {proc.returncode}",
                             key=f"lxc.hook.{hook_type}")


def _preexec(die_with_parent):
    """What a hook's child does before exec: die with the caller (DIE_WITH_PARENT), and in
    a supervisor that raised its open-file limit, go back to the one it was started with
    (kernel/fdlimit.py). None when there is nothing to do: Python then spawns faster."""
    from ..kernel import fdlimit

    steps = [fdlimit.restore_soft_limit] if fdlimit.raised() else []
    if die_with_parent:
        steps.append(_die_with_parent)
    if not steps:
        return None
    return lambda: [step() for step in steps]


def _die_with_parent():
    from ..kernel.libc import die_with_parent

    die_with_parent()
