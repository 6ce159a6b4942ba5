"""lxc-attach against a hostile container (issue 17, items 1 and 2): the container is root
and waits for the host's admin to attach.

1. Its /dev/pts is replaced by symlinks aimed at a 0600 host file: an interactive attach
   must never open that file (inotify on the host sees every open), and must either work on
   a real pty or refuse clearly.
2. It holds every process that enters it at its exec (fanotify permission events) and polls
   /proc for the rest (attack/exec_watcher.c, built static and planted in the rootfs): no
   process caught may expose a file of the host (its exe or a mapping: the CVE-2019-5736
   class), let itself be opened for writing, or be traced with more than the container's
   own capabilities and seccomp.
"""

import ctypes
import glob
import os
import struct
import subprocess
import sys
import time
import uuid

import pytest

from lxcenv import World, world  # noqa: F401  (fixture)

IN_ACCESS, IN_MODIFY, IN_OPEN = 0x1, 0x2, 0x20
IN_NONBLOCK = os.O_NONBLOCK


class OpenWatch:
    """Every open, read or write of PATH by anyone (inotify on its inode), while alive."""

    def __init__(self, path):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        wd = libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS | IN_MODIFY)
        assert wd >= 0, os.strerror(ctypes.get_errno())

    def events(self):
        """The masks seen so far; closes the watch."""
        masks = []
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            data = b""
        finally:
            os.close(self.fd)
        while data:
            _wd, mask, _cookie, length = struct.unpack_from("iIII", data)
            masks.append(mask)
            data = data[16 + length:]
        return masks


@pytest.fixture
def hostile(world):
    """A running busybox container of ours, and a 0600 host file with a secret in it."""
    name = "hst-" + uuid.uuid4().hex[:6]
    assert world.ours("lxc-create", "-n", name, "-t", "busybox").returncode == 0
    start = world.ours("lxc-start", "-n", name)
    assert start.returncode == 0, start.stderr
    secret = f"/tmp/attach-secret-{uuid.uuid4().hex}"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"HOST SECRET: only root on the host may read this\n")
    os.close(fd)
    os.utime(secret, (1_000_000_000, 1_000_000_000))  # a known mtime, far in the past
    try:
        yield world, name, secret
    finally:
        world.ours("lxc-stop", "-n", name, "-k")
        os.unlink(secret)


# Two ways to aim the container's pty paths at the host file. Both replace the devpts the
# container had (a container's root may unmount its own /dev/pts) and /dev/ptmx too. Seen
# from the host through /proc/PID/root, an absolute link resolves against the host's root:
# ptmx -> /dev/ptmx is the host's pty multiplexer, N -> SECRET the host's file.
PLANTS = {
    # /dev/pts a plain directory of links
    "pts-dir-of-links": "umount -l /dev/ptmx; umount -l /dev/pts; rm -rf /dev/pts; "
                        "mkdir /dev/pts; D=/dev/pts",
    # /dev/pts a (relative) link to a directory that looks like a host path
    "pts-is-a-link": "umount -l /dev/ptmx; umount -l /dev/pts; rm -rf /dev/pts; "
                     "mkdir -p /tmp/host-dev-pts; ln -s ../tmp/host-dev-pts /dev/pts; "
                     "D=/tmp/host-dev-pts",
}


@pytest.mark.parametrize("door", ["front", "python"])
@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_symlinked_devpts_never_hands_out_a_host_file(hostile, plant, door):
    import pexpect

    world, name, secret = hostile
    world.attach_door(door)
    script = (PLANTS[plant] + f"; ln -s /dev/ptmx $D/ptmx; rm -f /dev/ptmx; "
              f"ln -s {secret} /dev/ptmx; i=0; while [ $i -lt 512 ]; do "
              f"ln -s {secret} $D/$i; i=$((i+1)); done; ls $D | wc -l")
    planted = world.ours("lxc-attach", "-n", name, "--", "sh", "-c", script)
    assert planted.returncode == 0 and planted.stdout.strip() == "513", planted.stderr
    before = os.stat(secret)
    watch = OpenWatch(secret)
    child = pexpect.spawn(world.tool("lxc-attach"), ["-P", world.lp, "-n", name],
                          env=world.env, encoding="utf-8", timeout=30, dimensions=(24, 80))
    try:
        first = child.expect(["# ", pexpect.EOF])
        if first == 0:
            # the shell tries to read its terminal and to append to it
            child.sendline("ls -l /proc/self/fd/0; echo APPENDED-BY-CONTAINER >> "
                           "/proc/self/fd/0; read line; echo got-$line; "
                           "test -t 0 && test -t 1 && echo TERMINAL-$((6*7)); stty size")
            child.sendline("typed-on-the-terminal")
            child.expect("got-typed-on-the-terminal")
            child.expect("TERMINAL-42")  # stdin and stdout are terminals
            child.expect("24 80")        # a pty whose size is the caller's
            child.sendline("exit 7")
            child.expect(pexpect.EOF)
        output = child.before
    finally:
        child.close(force=True)
    events = watch.events()
    after = os.stat(secret)
    with open(secret, "rb") as handle:
        content = handle.read()
    assert events == [], f"the host file was opened or touched: inotify masks {events}"
    assert content == b"HOST SECRET: only root on the host may read this\n"
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
    assert "HOST SECRET" not in output
    if first == 0:
        assert child.exitstatus == 7
    else:  # refused: one clear line, no traceback
        assert child.exitstatus not in (0, None)
        assert "Traceback" not in output and f"lxc-attach: {name}:" in output, output


# -- kernel/pty.open_pair on its own, in a private mount namespace -------------------------

def _in_private_mounts(tmp_path, body):
    """Run BODY(root) in a forked child with its own mount namespace and a tmpfs at ROOT;
    returns what it printed (one word per case)."""
    from lxctools.kernel import libc

    out = tmp_path / "out"
    root = tmp_path / "root"
    root.mkdir()
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            libc.unshare(libc.CLONE_NEWNS)
            libc.mount(None, "/", None, libc.MS_PRIVATE | libc.MS_REC)
            libc.mount("tmpfs", str(root), "tmpfs", 0, "mode=755")
            os.write(fd, body(str(root)).encode())
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001
            os.write(2, f"child failed: {exc!r}\n".encode())
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return out.read_text().split()


def _try(path):
    from lxctools.kernel import pty

    try:
        master, slave = pty.open_pair(path)
    except OSError as exc:
        import errno
        return errno.errorcode[exc.errno]
    ok = os.isatty(slave) and pty.is_master(master) and not pty.is_master(slave)
    os.close(master)
    os.close(slave)
    return "pty" if ok else "wrong"


def test_open_pair_takes_only_a_devpts_reached_without_links(tmp_path):
    def body(root):
        from lxctools.kernel import libc

        results = []
        real = os.path.join(root, "real")
        os.mkdir(real)
        libc.mount("devpts", real, "devpts", 0, "newinstance,ptmxmode=0666")
        results.append(_try(real))                       # a devpts: a pty
        os.symlink(real, os.path.join(root, "link"))
        results.append(_try(os.path.join(root, "link")))  # reached through a link: refused
        fake = os.path.join(root, "fake")
        os.mkdir(fake)
        os.symlink(os.path.join(real, "ptmx"), os.path.join(fake, "ptmx"))
        results.append(_try(fake))                       # ptmx a link on a tmpfs: refused
        covered = os.path.join(root, "covered")
        os.mkdir(covered)
        libc.mount("devpts", covered, "devpts", 0, "newinstance,ptmxmode=0666")
        decoy = os.path.join(root, "decoy")
        open(decoy, "w").close()
        libc.mount(decoy, os.path.join(covered, "ptmx"), None, libc.MS_BIND)
        results.append(_try(covered))                    # a file mounted over ptmx: refused
        return " ".join(results)

    assert _in_private_mounts(tmp_path, body) == ["pty", "ELOOP", "ENODEV", "EXDEV"]



# -- item 2: what a process entering the container exposes ----------------------------------

WATCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attack", "exec_watcher.c")


def _host_files():
    """(dev, ino) of host files a container must never reach through an entering process:
    the interpreter lxc-attach runs on and everything mapped into it (this test runs on the
    same interpreter), libseccomp, and our compiled entry helper."""
    paths = {os.path.realpath(sys.executable)}
    with open("/proc/self/maps") as handle:
        for line in handle:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/"):
                paths.add(fields[5].strip())
    paths.update(glob.glob("/usr/lib/*/libseccomp.so*") + glob.glob("/lib/*/libseccomp.so*"))
    if _helper_path():
        paths.add(_helper_path())
    ids = set()
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        ids.add((st.st_dev, st.st_ino))
    return ids


def _report(text):
    """The watcher's report: {pid: {fact: [values...]}} plus the init's CapBnd/Seccomp."""
    procs = {}
    init = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "init-status":
            init = (int(words[1], 16), int(words[2]))
            continue
        if words[0] in ("done", "error"):
            continue
        pid = int(words[1])
        procs.setdefault(pid, {}).setdefault(words[0], []).append(words[2:])
    return init, procs


API_SCRIPT = r"""
import sys
from lxctools.api import attach as lxc
from lxctools.api.container import Container

c = Container(sys.argv[1], sys.argv[2])
print("command", c.attach_wait(lxc.attach_run_command, ["true"]))
print("shell", c.attach_wait(lxc.attach_run_shell, None, stdin=open("/dev/null")))
if sys.argv[3] == "callable":
    def bait(_):
        with open("/bait") as handle:  # held there by the watcher, as an exec is
            handle.read()
        return 0
    print("callable", c.attach_wait(bait, None))
"""


@pytest.mark.parametrize("path,config,door", [
    # the compiled lxc-attach (the supervisor's plan) and the Python tool, both by the helper
    ("helper", "privileged", "front"), ("helper", "no-ptrace", "front"),
    ("helper", "privileged", "python"),
    # where no compiler built the helper: Python enters, non-dumpable and confined before it
    # is visible; against a root that keeps sys_ptrace that is not enough (SECURITY.md)
    ("python", "no-ptrace", "python")])
def test_entering_exposes_nothing_of_the_host(world, path, config, door):
    import pexpect

    world.attach_door(door)
    if path == "python":
        world.env = dict(world.env, LXCTOOLS_ENTRY="python")
    name = "hsx-" + uuid.uuid4().hex[:6]
    conf = os.path.join(world.root, "x.conf")
    with open(conf, "w") as handle:
        handle.write("lxc.net.0.type = empty\n")
        if config == "no-ptrace":
            handle.write("lxc.cap.drop = sys_ptrace\n")
    assert world.ours("lxc-create", "-n", name, "-t", "busybox", "-f", conf).returncode == 0
    rootfs = os.path.join(world.cdir(name), "rootfs")
    built = subprocess.run(["gcc", "-static", "-O1", "-o", os.path.join(rootfs, "watcher"),
                            WATCHER], capture_output=True, text=True)
    assert built.returncode == 0, "the watcher needs gcc with static glibc: " + built.stderr
    open(os.path.join(rootfs, "bait"), "w").close()
    start = world.ours("lxc-start", "-n", name)
    assert start.returncode == 0, start.stderr
    try:
        launched = world.ours("lxc-attach", "-n", name, "--", "sh", "-c",
                              "/watcher > /watch-report 2>&1 &")
        assert launched.returncode == 0, launched.stderr
        for _ in range(200):
            if os.path.exists(os.path.join(rootfs, "watch-ready")):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the watcher did not start: "
                        + open(os.path.join(rootfs, "watch-report")).read())
        # every way in: a command, as another user, a shell on a pty, python-lxc's API
        assert world.ours("lxc-attach", "-n", name, "--", "/bin/true").returncode == 0
        other = world.ours("lxc-attach", "-n", name, "-u", "1000", "-g", "1000", "--", "true")
        assert other.returncode == 0, other.stderr
        child = pexpect.spawn(world.tool("lxc-attach"), ["-P", world.lp, "-n", name],
                              env=world.env, encoding="utf-8", timeout=30)
        child.expect("# ")
        child.sendline("exit 3")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 3
        api = subprocess.run([sys.executable, "-c", API_SCRIPT, name, world.lp,
                              "callable" if config == "no-ptrace" else "-"],
                             capture_output=True, text=True, env=world.env, timeout=120)
        assert api.returncode == 0, api.stderr
        assert "command 0" in api.stdout and "shell 0" in api.stdout, api.stdout
        open(os.path.join(rootfs, "watch-stop"), "w").close()
        report = os.path.join(rootfs, "watch-report")
        for _ in range(200):
            with open(report) as handle:
                text = handle.read()
            if "done" in text.split():
                break
            time.sleep(0.05)
        else:
            pytest.fail("the watcher did not finish:\n" + text)
    finally:
        world.ours("lxc-stop", "-n", name, "-k")
    assert "error" not in text, text
    init, procs = _report(text)
    host = _host_files()
    held = [pid for pid, facts in procs.items() if ["fanotify"] in facts.get("caught", [])]
    # a command, -u, the shell, attach_run_command and attach_run_shell each exec busybox
    assert len(held) >= 5, text
    for pid, facts in procs.items():
        where = f"pid {pid}: {facts}"
        for value in facts.get("exe-id", []):
            if value[0] != "ERR":
                assert (int(value[0]), int(value[1])) not in host, "exe is a host file: " + where
        for value in facts.get("map", []):
            if value[-2] != "ERR":
                assert (int(value[-2]), int(value[-1])) not in host, \
                    "a host file is mapped: " + where
        for value in facts.get("exe-write", []) + facts.get("map-write", []):
            assert value[-1] != "ok", "opened for writing: " + where
        for value in facts.get("later-write", []):
            assert value[-1] != "ok", "reopened for writing later: " + where
        eff, _bnd, seccomp, _nnp = facts["status"][0]
        if facts["ptrace"][0] == ["ok"]:
            # traced: then it may hold no more than the container's root has
            assert eff == "-" or int(eff, 16) & ~init[0] == 0, "host capabilities: " + where
            assert seccomp == "-" or int(seccomp) >= init[1], "seccomp missing: " + where
            if config == "no-ptrace":
                # without CAP_SYS_PTRACE only a dumpable process is traced: never ours
                assert not facts["exe"][0][0].startswith("/memfd:"), "dumpable: " + where
    if (path, config) == ("helper", "privileged"):
        # held at its exec, every process entering by the helper shows a sealed memfd
        entering = [p for p in held if procs[p]["exe"][0][0].startswith("/memfd:")]
        assert len(entering) >= 5, text


def _helper_path():
    """The compiled entry helper lxc-attach uses; None where it is not built (then the
    Python path runs, and these tests still hold it to the same standard)."""
    try:
        from lxctools.spawn import entry
    except ImportError:
        return None
    return entry.helper_path()
