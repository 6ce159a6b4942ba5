"""Starting a container: the caller's side of lxc-start / lxc-execute.

Daemon mode (lxc-start's default) forks the supervisor into its own session and returns once
it reports RUNNING, or prints why it did not get there. Foreground mode runs the supervisor
in this very process (lxc-start -F, lxc-execute).
"""

import json
import os
from dataclasses import dataclass, field

from ..errors import LxcError


@dataclass
class StartRequest:
    name: str
    lxcpath: str
    conf: object
    config_file: str | None
    argv: list = field(default_factory=list)
    execute: bool = False
    foreground: bool = False
    pidfile: str | None = None
    passthrough_stdio: bool = False
    after_stop: object = None  # called once the container is stopped for good (ephemeral)


def launch(request):
    """Start REQUEST; returns the exit code the CLI should return."""
    from .supervisor import Supervisor

    if request.foreground:
        code = Supervisor(request).run()
        return code
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        code = 1
        try:
            detach()
            code = Supervisor(request, report_fd=write_end).run()
        except BaseException:  # noqa: BLE001 - reported through the pipe already
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    if not chunks:
        raise LxcError("The container failed to start",
                       hint="run it in the foreground (lxc-start -F) or with -l DEBUG -o FILE")
    answer = json.loads(b"".join(chunks))
    if "error" in answer:
        if answer["error"] == "Container is already running":
            raise LxcError("Container is already running", exit_code=0)
        raise LxcError(answer["error"], hint=answer.get("hint")
                       or "run it in the foreground (lxc-start -F) to see more")
    return 0


def detach():
    """The supervisor leaves the caller's session and terminal; stdio goes to /dev/null."""
    from ..kernel import libc

    os.setsid()
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    try:
        libc.set_process_name("lxc monitor")
    except OSError:
        pass
