"""lxc-attach against a hostile container (issue 17, items 1 and 2): the container is root
and waits for the host's admin to attach.

1. Its /dev/pts is replaced by symlinks aimed at a 0600 host file: an interactive attach
   must never open that file (inotify on the host sees every open), and must either work on
   a real pty or refuse clearly.
"""

import ctypes
import os
import struct
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


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_symlinked_devpts_never_hands_out_a_host_file(hostile, plant):
    import pexpect
    from conftest import ours

    world, name, secret = hostile
    script = (PLANTS[plant] + f"; ln -s /dev/ptmx $D/ptmx; rm -f /dev/ptmx; "
              f"ln -s {secret} /dev/ptmx; i=0; while [ $i -lt 512 ]; do "
              f"ln -s {secret} $D/$i; i=$((i+1)); done; ls $D | wc -l")
    planted = world.ours("lxc-attach", "-n", name, "--", "sh", "-c", script)
    assert planted.returncode == 0 and planted.stdout.strip() == "513", planted.stderr
    before = os.stat(secret)
    watch = OpenWatch(secret)
    child = pexpect.spawn(ours("lxc-attach"), ["-P", world.lp, "-n", name], env=world.env,
                          encoding="utf-8", timeout=30, dimensions=(24, 80))
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
