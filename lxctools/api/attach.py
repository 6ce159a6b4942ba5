"""python-lxc's attach vocabulary: the LXC_ATTACH_* constants, attach_run_command,
attach_run_shell, and the keyword options of Container.attach / attach_wait.

The values of the constants are liblxc's (lxc/attach_options.h), so scripts written for
python3-lxc pass the same numbers. A `run` callable is called inside the container (its
namespaces, cgroups, dropped capabilities) with the payload; its int result is the exit code.
attach_run_command and attach_run_shell are such callables.
"""

import os

LXC_ATTACH_KEEP_ENV = 0
LXC_ATTACH_CLEAR_ENV = 1
LXC_ATTACH_MOVE_TO_CGROUP = 0x00000001
LXC_ATTACH_DROP_CAPABILITIES = 0x00000002
LXC_ATTACH_SET_PERSONALITY = 0x00000004
LXC_ATTACH_LSM_EXEC = 0x00000008
LXC_ATTACH_REMOUNT_PROC_SYS = 0x00010000
LXC_ATTACH_LSM_NOW = 0x00020000
LXC_ATTACH_DEFAULT = 0x0000FFFF

# python-lxc exports the kernel's CLONE_NEW* values under these names: the one table is libc's
from ..kernel.libc import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET,  # noqa: E402,F401
                           CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER,
                           CLONE_NEWUTS)
_NS_NAMES = {CLONE_NEWUSER: "user", CLONE_NEWCGROUP: "cgroup", CLONE_NEWIPC: "ipc",
             CLONE_NEWUTS: "uts", CLONE_NEWNET: "net", CLONE_NEWPID: "pid",
             CLONE_NEWTIME: "time", CLONE_NEWNS: "mnt"}
_EXEC_CODES = {2: 127, 13: 126, 8: 126}  # ENOENT, EACCES, ENOEXEC, as liblxc


def command_argv(cmd):
    """attach_run_command's payload as an argv: a list, one program name, or python-lxc's
    (program, argv)."""
    argv = [cmd] if isinstance(cmd, str) else list(cmd)
    if argv and isinstance(argv[0], (list, tuple)):
        argv = list(argv[1])
    return argv


def attach_run_command(cmd):
    """`run` for Container.attach*: exec CMD (a list, or one program name) with the
    container's PATH; 127/126 when it cannot be run, as liblxc. Container.attach gives this
    one to the compiled entry helper instead of running Python inside (spawn/entry.py)."""
    argv = command_argv(cmd)
    try:
        execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f'{exc.strerror} - Failed to exec "{argv[0]}"\n'.encode())
        return _EXEC_CODES.get(exc.errno, 255)


def attach_run_shell(_payload=None):
    """`run` for Container.attach*: the user's login shell from the container's passwd,
    else /bin/sh."""
    from ..attach.attach import login_shell

    shell = login_shell(os.getuid()) or "/bin/sh"
    for program in (shell, "/bin/sh"):
        try:
            execvp(program, [program])
        except OSError:
            continue
    return 255


def execvp(name, argv):
    """os.execvp without os.get_exec_path, which imports `warnings` at its first use: a
    process that has entered a container finds only the container's files, and an
    interpreter that had not imported it yet (Debian's python3 has not) failed there with
    ModuleNotFoundError instead of running the command. The same search: PATH of the
    environment (os.defpath without one), every directory tried; the first error that is not
    ENOENT or ENOTDIR (EACCES...) is the one raised when none ran it."""
    if "/" in name:
        os.execv(name, argv)
    kept = last = None
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        try:
            os.execv(os.path.join(directory or ".", name), argv)
        except (FileNotFoundError, NotADirectoryError) as exc:
            last = exc
        except OSError as exc:
            last = exc
            kept = kept or exc
    raise kept or last or FileNotFoundError(2, "No such file or directory", name)


def options_from(command=None, attach_flags=LXC_ATTACH_DEFAULT, namespaces=-1,
                 personality=-1, initial_cwd=None, uid=-1, gid=-1,
                 env_policy=LXC_ATTACH_KEEP_ENV, extra_env_vars=None, extra_keep_env=None,
                 stdin=None, stdout=None, stderr=None):
    """attach.attach.Options from python-lxc's keyword arguments."""
    from ..attach.attach import Options

    elevated = set()
    if not attach_flags & LXC_ATTACH_MOVE_TO_CGROUP:
        elevated.add("CGROUP")
    if not attach_flags & LXC_ATTACH_DROP_CAPABILITIES:
        elevated.add("CAP")
    if not attach_flags & (LXC_ATTACH_LSM_EXEC | LXC_ATTACH_LSM_NOW):
        elevated.add("LSM")
    names = None
    if namespaces is not None and namespaces != -1:
        names = [name for flag, name in _NS_NAMES.items() if namespaces & flag]
    options = Options(command=command, namespaces=names, elevated=elevated,
                      clear_env=env_policy == LXC_ATTACH_CLEAR_ENV,
                      keep_vars=extra_keep_env or (), set_vars=extra_env_vars or (),
                      uid=None if uid is None or uid < 0 else uid,
                      gid=None if gid is None or gid < 0 else gid,
                      remount=bool(attach_flags & LXC_ATTACH_REMOUNT_PROC_SYS),
                      cwd=initial_cwd, stdio=tuple(_fd(f) for f in (stdin, stdout, stderr)),
                      terminal=False,
                      persona=personality if personality is not None and personality >= 0
                      else None)
    return options


def _fd(stream):
    if stream is None:
        return None
    return stream if isinstance(stream, int) else stream.fileno()
