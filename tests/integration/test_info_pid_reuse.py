"""lxc-info -i, lxc-ls -f and python-lxc's get_ips read a running container through
/proc/INIT_PID (its addresses, interfaces, mounts). Once init has exited, a host process may
take that pid; reading by the bare pid would then show that process's network as the
container's. The readers hold /proc/PID by fd and check it against init's start time, which
the supervisor tells (kernel/procdir.py).

The reuse is staged: the supervisor's answer is rewritten so that its init_pid names a
process in a network namespace of the test's own, whose loopback carries an address no
container has; if the check were missing, that address would be listed as the container's.
The control without a start time (what a container real LXC runs answers) shows the address:
the staging reaches the readers, so the test can fail.
"""

import subprocess
import sys
import uuid

import pytest

from lxcenv import World, busybox, world  # noqa: F401  (fixture)

SCRIPT = r"""
import sys
from lxctools.monitor import commands

lxcpath, name, host_pid, mode, tool = sys.argv[1:6]
real_request = commands.request

def request(lp, n, cmd, *args, **kwargs):
    answer = real_request(lp, n, cmd, *args, **kwargs)
    if cmd == "info" and n == name:
        answer = dict(answer, init_pid=int(host_pid))  # as if a host process took init's pid
        if mode == "no-start":
            answer["init_start"] = None
    return answer

commands.request = request
if tool == "info":
    from lxctools.cli.info import main
    main(["-P", lxcpath, "-n", name, "-i", "-H"])
elif tool == "ls":
    from lxctools.cli.ls import main
    main(["-P", lxcpath, "-f", "-F", "NAME,IPV4,INTERFACE"])
else:
    from lxctools.api.container import Container
    print(" ".join(Container(name, lxcpath).get_ips()))
"""

ADDRESS = "10.251.37.7"


@pytest.fixture
def host_process():
    """A process in a network namespace of the test's own (never the host's), its loopback
    carrying ADDRESS."""
    ns = "reuse-" + uuid.uuid4().hex[:6]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "120"])
        try:
            yield proc.pid
        finally:
            proc.kill()
            proc.wait()
    finally:
        subprocess.run(["ip", "netns", "del", ns])


@pytest.fixture
def running(world):
    name = "ipreuse-" + uuid.uuid4().hex[:6]
    busybox(world, name)
    started = world.ours("lxc-start", "-n", name)
    assert started.returncode == 0, started.stderr
    yield name
    world.ours("lxc-stop", "-n", name, "-k")


def _staged(world, name, host_pid, mode, tool):
    return subprocess.run([sys.executable, "-c", SCRIPT, world.lp, name, str(host_pid), mode,
                           tool], capture_output=True, text=True, env=world.env, timeout=60)


@pytest.mark.parametrize("tool", ["info", "ls", "get_ips"])
def test_a_reused_init_pid_never_shows_a_host_processs_addresses(world, running, host_process,
                                                                  tool):
    done = _staged(world, running, host_process, "with-start", tool)
    assert done.returncode == 0, done.stderr
    assert ADDRESS not in done.stdout, "a host process's address listed as the container's"
    control = _staged(world, running, host_process, "no-start", tool)
    assert control.returncode == 0, control.stderr
    assert ADDRESS in control.stdout, ("the staging did not reach the readers", control.stdout)


def test_the_supervisor_tells_inits_start_time_and_lxc_info_reads_through_it(world, running):
    from lxctools.monitor.wire import process_start_time

    script = ("import sys, json; from lxctools.monitor.commands import request; "
              "print(json.dumps(request(sys.argv[1], sys.argv[2], 'info')))")
    done = subprocess.run([sys.executable, "-c", script, world.lp, running],
                          capture_output=True, text=True, env=world.env, timeout=60)
    assert done.returncode == 0, done.stderr
    import json
    info = json.loads(done.stdout)
    assert info["init_start"] == process_start_time(info["init_pid"]) is not None
    # and an honest answer still reads the container (loopback only: no address, no error)
    shown = world.ours("lxc-info", "-n", running, "-i", "-p")
    assert shown.returncode == 0 and "PID:" in shown.stdout, shown.stderr
    listed = world.ours("lxc-ls", "-f", "-F", "NAME,INTERFACE")
    assert listed.returncode == 0 and "lo" in listed.stdout, (listed.stdout, listed.stderr)
