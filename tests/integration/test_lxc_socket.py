"""LXC's command socket served by our supervisor (monitor/lxcsocket.Server): a container
lxctools runs is seen, entered, waited for, frozen, measured and stopped by real LXC's tools
and python3-lxc, and answers every request as LXC 5.0.2's monitor answers it (side by side
with a container real LXC runs), whatever a client sends."""

import os
import random
import socket
import struct
import subprocess
import time

import pytest

from lxcenv import SANE_PATH, world  # noqa: F401  (fixture)
from lxctools.monitor import commands, lxcsocket

pytestmark = pytest.mark.oracle

C = {name: number for number, name in enumerate(lxcsocket.COMMANDS)}


def started(world, name, real=False):
    if real:
        made = world.real("lxc-create", "-n", name, "-t", "busybox")
        assert made.returncode == 0, made.stderr
        go = world.real("lxc-start", "-n", name)
    else:
        made = world.ours("lxc-create", "-n", name, "-t", "busybox")
        assert made.returncode == 0, made.stderr
        go = world.ours("lxc-start", "-n", name)
    assert go.returncode == 0, go.stderr


def python3_lxc(script, *args):
    """Debian's python3-lxc (liblxc 5.0.2) in the system's Python."""
    return subprocess.run(["/usr/bin/python3", "-c", script, *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PATH=SANE_PATH))


def supervisor_of(lp, name):
    return commands.request(lp, name, "info")["monitor_pid"]


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_real_lxc_tools_and_python3_lxc_drive_a_container_ours_started(world):
    lp = world.lp
    started(world, "sk-a")
    try:
        pid = world.ours("lxc-info", "-n", "sk-a", "-pH").stdout.strip()
        assert pid.isdigit()
        real = world.real("lxc-info", "-n", "sk-a", "-s", "-p", lxcpath=lp)
        assert real.stdout == f"State:          RUNNING\nPID:            {pid}\n", real.stderr
        # no second init on the same rootfs: real lxc-start refuses, as for its own
        again = world.real("lxc-start", "-n", "sk-a", lxcpath=lp)
        assert again.returncode == 0 and "Container is already running" in again.stderr
        assert world.ours("lxc-info", "-n", "sk-a", "-pH").stdout.strip() == pid
        inside = world.real("lxc-attach", "-n", "sk-a", "--", "hostname", lxcpath=lp)
        assert (inside.returncode, inside.stdout) == (0, "sk-a\n"), inside.stderr
        # real lxc-attach lands in the cgroups ours puts an attached process in
        real_cg = world.real("lxc-attach", "-n", "sk-a", "--", "cat", "/proc/self/cgroup",
                             lxcpath=lp)
        ours_cg = world.ours("lxc-attach", "-n", "sk-a", "--", "cat", "/proc/self/cgroup")
        assert real_cg.stdout == ours_cg.stdout and real_cg.stdout, real_cg.stderr
        listed = world.real("lxc-ls", "-f", lxcpath=lp).stdout.splitlines()
        assert listed[1].split()[:2] == ["sk-a", "RUNNING"], listed
        assert world.real("lxc-ls", "--running", lxcpath=lp).stdout.split() == ["sk-a"]
        # lxc-cgroup and lxc-freeze of real LXC work on what ours made, and both read alike
        assert world.real("lxc-cgroup", "-n", "sk-a", "pids.max", "66",
                          lxcpath=lp).returncode == 0
        assert world.ours("lxc-cgroup", "-n", "sk-a", "pids.max").stdout.split() == ["66"]
        assert world.real("lxc-freeze", "-n", "sk-a", lxcpath=lp).returncode == 0
        assert world.ours("lxc-info", "-n", "sk-a", "-sH").stdout == "FROZEN\n"
        assert world.real("lxc-info", "-n", "sk-a", "-sH", lxcpath=lp).stdout == "FROZEN\n"
        assert world.real("lxc-unfreeze", "-n", "sk-a", lxcpath=lp).returncode == 0
        assert world.ours("lxc-info", "-n", "sk-a", "-sH").stdout == "RUNNING\n"
        # python3-lxc: running, its init, a running config item
        seen = python3_lxc("import lxc, sys; c = lxc.Container('sk-a', sys.argv[1]); "
                           "print(c.running, c.init_pid, c.state, "
                           "c.get_running_config_item('lxc.uts.name'))", lp)
        assert seen.stdout == f"True {pid} RUNNING sk-a\n", seen.stderr
        # real lxc-wait -s STOPPED returns when ours stops it
        waiter = subprocess.Popen(["/usr/bin/lxc-wait", "-P", lp, "-n", "sk-a", "-s", "STOPPED",
                                   "-t", "60"], env=dict(os.environ, PATH=SANE_PATH))
        running = world.real("lxc-wait", "-n", "sk-a", "-s", "RUNNING", "-t", "5", lxcpath=lp)
        assert running.returncode == 0, running.stderr
        assert waiter.poll() is None
        stop = world.ours("lxc-stop", "-n", "sk-a", "-k")
        assert stop.returncode == 0, stop.stderr
        assert waiter.wait(timeout=60) == 0
        assert world.real("lxc-info", "-n", "sk-a", "-sH", lxcpath=lp).stdout == "STOPPED\n"
        # python3-lxc's stop() of a container ours started, and real lxc-stop's clean halt
        assert world.ours("lxc-start", "-n", "sk-a").returncode == 0
        stopped = python3_lxc("import lxc, sys; c = lxc.Container('sk-a', sys.argv[1]); "
                              "print(c.running, c.stop(), c.running)", lp)
        assert stopped.stdout == "True True False\n", stopped.stderr
        assert world.ours("lxc-info", "-n", "sk-a", "-sH").stdout == "STOPPED\n"
        assert world.ours("lxc-start", "-n", "sk-a").returncode == 0
        halt = world.real("lxc-stop", "-n", "sk-a", "-t", "30", lxcpath=lp)
        assert halt.returncode == 0, halt.stderr
        assert world.ours("lxc-info", "-n", "sk-a", "-sH").stdout == "STOPPED\n"
        assert not os.path.exists(f"/proc/{pid}")
    finally:
        world.ours("lxc-stop", "-n", "sk-a", "-k")


def _normal(command, answer, names):
    """An answer with what differs by nature between two containers (names, lxcpaths, the
    server's own fd numbers, the heap address `data` carries beside real data) put in
    common terms."""
    if answer is None:
        return None
    ret, value, data, fds = answer
    for fd in fds:
        os.close(fd)
    if command in (C["GET_CGROUP_FD"], C["GET_LIMIT_CGROUP_FD"]) and len(data) >= 16:
        data = data[:12] + b"FD##" + data[16:]
    if command == C["GET_CGROUP_CTX"] and len(data) > 12:
        data = data[:12] + bytes(len(data) - 12)
    for old, new in names:
        data = data.replace(old.encode(), new.encode())
    # an answer with data carries a heap address in `data`: meaningless there
    return ret, "address" if data else value, data, len(fds)


def test_answers_as_lxc_answers(world):
    """The same requests to a container real LXC runs and to one ours runs: the same
    answers (return code, value, data, how many fds)."""
    started(world, "sk-r", real=True)
    started(world, "sk-o")
    try:
        mem = struct.pack("=iIii64s", 0, 0, 0, 0, b"memory")
        requests = [
            (C["GET_STATE"], 0, b""), (C["GET_CLONE_FLAGS"], 0, b""),
            (C["GET_CGROUP"], 0, b"memory\0"), (C["GET_CGROUP"], 0, b"name=systemd\0"),
            (C["GET_CGROUP"], 0, b"pids\0"), (C["GET_LIMIT_CGROUP"], 0, b"freezer\0"),
            (C["GET_CGROUP"], 0, b"nosuch\0"), (C["GET_CGROUP"], 0, b""),
            (C["GET_NAME"], 0, b""), (C["GET_LXCPATH"], 0, b""),
            (C["GET_SYSTEMD_SCOPE"], 0, b""), (C["GET_CGROUP2_FD"], 0, b""),
            (C["GET_LIMIT_CGROUP2_FD"], 0, b""), (C["GET_SECCOMP_NOTIFY_FD"], 0, b""),
            (C["CONSOLE_LOG"], 0, bytes(24)), (C["TERMINAL_WINCH"], 0, b""),
            (C["ADD_BPF_DEVICE_CGROUP"], 0, b""), (C["ADD_BPF_DEVICE_CGROUP"], 0, bytes(40)),
            (C["ADD_STATE_CLIENT"], 0, b""), (C["SERVE_STATE_CLIENTS"], 2, b""),
            (C["ADD_STATE_CLIENT"], 0, struct.pack("=8i", 0, 0, 1, 0, 0, 0, 0, 0)),
            (C["ADD_STATE_CLIENT"], 0, struct.pack("=8i", 1, 0, 0, 0, 0, 0, 0, 0)),
            (C["GET_CGROUP_FD"], 0, bytes(80)), (C["GET_LIMIT_CGROUP_FD"], 0, mem),
            (C["GET_CGROUP_FD"], 0, mem), (C["GET_CGROUP_CTX"], 0, bytes(96)),
            (C["GET_CGROUP_CTX"], 0, bytes(8)), (C["GET_INIT_PIDFD"], 0, b""),
            (99, 0, b""), (-5, 0, b""), (len(C), 0, b""),
        ] + [(C["GET_CONFIG_ITEM"], 0, key.encode() + b"\0") for key in (
            "lxc.arch", "lxc.uts.name", "lxc.cap.drop", "lxc.net.0.type", "lxc.net.0.link",
            "lxc.mount.entry", "lxc.bogus", "lxc.tty.max", "lxc.pty.max", "lxc.idmap",
            "lxc.seccomp.profile", "lxc.no_new_privs", "lxc.signal.halt", "lxc.mount.auto",
            "lxc.init.cmd", "lxc.apparmor.profile")]
        if os.path.isdir("/sys/fs/cgroup/unified") or not os.path.exists(
                "/sys/fs/cgroup/cgroup.controllers"):
            # freezing is the client's business where the layout is not unified: -ENOENT
            requests += [(C["FREEZE"], 0, b""), (C["UNFREEZE"], 0, b"")]
        theirs_names = [(world.real_lp, "LP"), ("sk-r", "NAME")]
        ours_names = [(world.lp, "LP"), ("sk-o", "NAME")]
        for command, value, data in requests:
            theirs = lxcsocket.call(world.real_lp, "sk-r", command, value=value, data=data,
                                    max_fds=32)
            mine = lxcsocket.call(world.lp, "sk-o", command, value=value, data=data,
                                  max_fds=32)
            assert _normal(command, mine, ours_names) == _normal(command, theirs, theirs_names), \
                (lxcsocket.COMMANDS[command] if 0 <= command < len(C) else command, data)
        # the pid and the pidfd name the container's init
        for lp, name in ((world.real_lp, "sk-r"), (world.lp, "sk-o")):
            ret, value, _data, fds = lxcsocket.call(lp, name, C["GET_INIT_PIDFD"], max_fds=1)
            with open(f"/proc/self/fdinfo/{fds[0]}") as handle:
                pid_line = [line for line in handle if line.startswith("Pid:")]
            os.close(fds[0])
            assert pid_line == [f"Pid:\t{lxcsocket.init_pid(lp, name)}\n"]
        # GET_CGROUP_CTX hands out the container's cgroup directories, one per hierarchy
        got = lxcsocket.call(world.lp, "sk-o", C["GET_CGROUP_CTX"], data=bytes(96), max_fds=32)
        dirs = sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in got[3])
        for fd in got[3]:
            os.close(fd)
        payload = {os.path.basename(d) for d in dirs}
        assert payload == {"lxc.payload.sk-o"}, dirs
    finally:
        world.real("lxc-stop", "-n", "sk-r", "-k")
        world.ours("lxc-stop", "-n", "sk-o", "-k")


def test_state_clients_and_stop_as_liblxc_sees_them(world):
    """ADD_STATE_CLIENT keeps the connection and sends the wanted state as struct lxc_msg;
    STOP answers nothing and ends the connection once the container has stopped."""
    started(world, "sk-w")
    want_stopped = struct.pack("=8i", 1, 0, 0, 0, 0, 0, 0, 0)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(lxcsocket.address(world.lp, "sk-w"))
    sock.sendall(struct.pack("=iiq", C["ADD_STATE_CLIENT"], len(want_stopped), 0) + want_stopped)
    assert struct.unpack("=iiq", sock.recv(16)) == (8, 0, 8)  # registered: MAX_STATE
    stopper = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stopper.settimeout(60)
    stopper.connect(lxcsocket.address(world.lp, "sk-w"))
    stopper.sendall(struct.pack("=iiq", C["STOP"], 0, 0))
    message = b""
    while len(message) < 264:
        chunk = sock.recv(264 - len(message))
        assert chunk, "the state client's connection ended without its state"
        message += chunk
    kind, name, state = struct.unpack("=i256si", message)
    assert (kind, name.rstrip(b"\0"), state) == (0, b"sk-w", 0)
    assert stopper.recv(16) == b""  # closed unanswered: stopped
    assert world.ours("lxc-info", "-n", "sk-w", "-sH").stdout == "STOPPED\n"
    sock.close()
    stopper.close()


def test_only_root_or_the_owner_may_ask(world):
    """LXC's rule: anyone else gets -EPERM and changes nothing (ours and LXC's alike)."""
    started(world, "sk-p")
    started(world, "sk-q", real=True)
    client = (
        "import socket, struct, sys\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(20)\n"
        "s.connect('\\0' + sys.argv[1])\n"
        "s.sendall(struct.pack('=iiq', int(sys.argv[2]), 0, 0))\n"
        "print(struct.unpack('=iiq', s.recv(16))[0])\n")
    try:
        for lp, name in ((world.lp, "sk-p"), (world.real_lp, "sk-q")):
            for command in (C["GET_STATE"], C["STOP"]):
                asked = subprocess.run(
                    ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                     "/usr/bin/python3", "-c", client, lxcsocket.address(lp, name)[1:],
                     str(command)], capture_output=True, text=True, timeout=60)
                assert asked.stdout == "-1\n", (name, command, asked.stderr)  # -EPERM
        assert world.ours("lxc-info", "-n", "sk-p", "-sH").stdout == "RUNNING\n"
    finally:
        world.ours("lxc-stop", "-n", "sk-p", "-k")
        world.real("lxc-stop", "-n", "sk-q", "-k")


def test_random_bytes_never_hang_or_end_the_supervisor(world):
    """Fuzz: random requests, torn requests, lies about lengths, fds sent along, clients
    that vanish mid-request; the supervisor answers on, holds no fd more than before, and
    the container keeps running."""
    started(world, "sk-f")
    try:
        monitor = supervisor_of(world.lp, "sk-f")
        before = open_fds(monitor)
        rng = random.Random(19)
        address = lxcsocket.address(world.lp, "sk-f")
        stop = C["STOP"]
        for _round in range(400):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(address)
            kind = rng.randrange(5)
            if kind == 0:
                blob = rng.randbytes(rng.randrange(1, 200))
            else:
                command = rng.choice([c for c in range(-3, len(C) + 3) if c != stop])
                datalen = rng.choice([0, 1, 8, 32, 40, 80, 96, 8192, 8193, -1, 1 << 30,
                                      rng.randrange(0, 300)])
                blob = struct.pack("=iiq", command, datalen, rng.getrandbits(63))
                blob += rng.randbytes(rng.randrange(0, 120))
            cut = rng.randrange(len(blob) + 1) if kind == 1 else len(blob)
            try:
                if kind == 2:
                    with open("/dev/null") as spare:
                        sock.sendmsg([blob], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                               struct.pack("=2i", spare.fileno(),
                                                           spare.fileno()))])
                else:
                    sock.sendall(blob[:cut])
                if kind != 3:
                    # read whatever comes, never waiting long: a request still incomplete
                    # is simply dropped when this client goes
                    sock.settimeout(0.2)
                    try:
                        while sock.recvmsg(4096, socket.CMSG_SPACE(16))[0]:
                            pass
                    except (socket.timeout, OSError):
                        pass
            except (BrokenPipeError, ConnectionResetError):
                pass
            sock.close()
        # everything still answers
        assert lxcsocket.state(world.lp, "sk-f") == "RUNNING"
        assert world.ours("lxc-info", "-n", "sk-f", "-sH").stdout == "RUNNING\n"
        assert supervisor_of(world.lp, "sk-f") == monitor
        deadline = time.monotonic() + 10
        while open_fds(monitor) > before and time.monotonic() < deadline:
            time.sleep(0.1)  # the last clients' ends are still being read
        assert open_fds(monitor) <= before
        # a flood of silent connections costs at most a bounded number of fds
        silent = []
        for _ in range(100):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(address)
            silent.append(sock)
        assert lxcsocket.state(world.lp, "sk-f") == "RUNNING"
        assert open_fds(monitor) <= before + 33
        for sock in silent:
            sock.close()
    finally:
        world.ours("lxc-stop", "-n", "sk-f", "-k")


def test_lxc_address_taken_refuses_the_start(world):
    """Binding LXC's address is the start's lock against real LXC too: a start whose
    address is taken leaves nothing running and no cgroup behind."""
    made = world.ours("lxc-create", "-n", "sk-t", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    # bound, not listening: what a real LXC monitor holds for a moment when it starts the
    # same container between our check and our bind
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    holder.bind(lxcsocket.address(world.lp, "sk-t"))
    try:
        go = world.ours("lxc-start", "-n", "sk-t")
        assert "already running" in go.stderr, go.stderr
        assert world.ours("lxc-info", "-n", "sk-t", "-sH").stdout == "STOPPED\n"
        assert not any(os.path.exists(os.path.join(top, "lxc.payload.sk-t"))
                       for top in [d.path for d in os.scandir("/sys/fs/cgroup")])
    finally:
        holder.close()
    go = world.ours("lxc-start", "-n", "sk-t")
    assert go.returncode == 0, go.stderr
    world.ours("lxc-stop", "-n", "sk-t", "-k")


def test_long_lxcpath_hashed_socket_found_by_real_lxc(world, tmp_path):
    """An lxcpath too long for sun_path: LXC's hashed address, which real lxc-ls resolves
    through GET_LXCPATH and GET_NAME."""
    lp = os.path.join(str(tmp_path), "x" * 100)
    os.makedirs(lp)
    made = world.ours("lxc-create", "-n", "sk-l", "-t", "busybox", lxcpath=lp)
    assert made.returncode == 0, made.stderr
    assert world.ours("lxc-start", "-n", "sk-l", lxcpath=lp).returncode == 0
    try:
        assert lxcsocket.address(lp, "sk-l").startswith("\0lxc/")
        assert world.real("lxc-ls", "--running", lxcpath=lp).stdout.split() == ["sk-l"]
        assert world.real("lxc-info", "-n", "sk-l", "-sH", lxcpath=lp).stdout == "RUNNING\n"
        inside = world.real("lxc-attach", "-n", "sk-l", "--", "hostname", lxcpath=lp)
        assert inside.stdout == "sk-l\n", inside.stderr
    finally:
        world.ours("lxc-stop", "-n", "sk-l", "-k", lxcpath=lp)
