"""lxc-device, lxc-top and lxc-unshare, real, as root, beside real LXC 5.0.2 where both can run
(lxc-behaviour.md 2.19-2.21).

Network cases run only inside a netns each test makes (dv-...), with a veth pair made there:
nothing is created in the host's network namespace. Real LXC's lxc-device cannot take part
in them: it looks for interfaces in PID 1's network namespace (unreadable on this machine,
and the host's anyway, whatever namespace it runs in)."""

import os
import re
import stat
import subprocess
import time
import uuid

import pytest

from conftest import ours, ours_for_anyone, real_lxc
from lxcenv import lxc_messages, world  # noqa: F401  (fixture)

pytestmark = [pytest.mark.root, pytest.mark.oracle]

HOST_NS = {name: os.readlink(f"/proc/self/ns/{name}")
           for name in ("mnt", "uts", "ipc", "net", "pid", "cgroup")}
SANE_ENV = dict(os.environ, LANG="C", PATH="/usr/sbin:/usr/bin:/sbin:/bin")


def last_message(stderr, name=None):
    """The tool's own last error line without its prefix and LXC's source location."""
    text = lxc_messages(stderr)
    text = re.sub(r"^(lxc-\w+): \.\./src/lxc/[\w/]+\.c: \w+: \d+ ", r"\1: ", text, flags=re.M)
    lines = [x for x in text.splitlines() if ": hint: " not in x and x.strip()]
    line = lines[-1].split(": ", 1)[1]
    return line.replace(name, "NAME") if name else line


@pytest.fixture
def netns():
    """A network namespace of the test's own (dv-...), removed afterwards."""
    made = []

    def make():
        name = f"dv-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        return name

    yield make
    for name in made:
        subprocess.run(["ip", "netns", "del", name], check=False)


def in_ns(ns, *argv, timeout=120, input=None, env=None):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          timeout=timeout, input=input, env=env)


# -- lxc-unshare ------------------------------------------------------------------------------
def unshare_both(*args, timeout=60):
    mine = subprocess.run([ours("lxc-unshare"), *args], capture_output=True, text=True,
                          timeout=timeout)
    real = subprocess.run([real_lxc("lxc-unshare"), *args], capture_output=True, text=True,
                          timeout=timeout, env=SANE_ENV)
    return mine, real


@pytest.mark.parametrize("args, stdout", [
    (("-s", "UTSNAME", "-H", "dv-host", "--", "hostname"), "dv-host\n"),
    (("-s", "PID", "--", "sh", "-c", "echo $$"), "1\n"),
    (("-s", "PID|MOUNT", "--", "sh", "-c", "echo $$"), "1\n"),
    (("-s", "USER", "--", "id", "-u"), "65534\n"),
    (("-s", "USER", "-u", "daemon", "--", "id", "-u"), "1\n"),
    (("-s", "USER|UTSNAME", "-u", "1", "-H", "dv-u", "--", "sh", "-c", "id -u; hostname"),
     "1\ndv-u\n"),
    (("-s", "NETWORK", "--", "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"),
     "lo\n"),
    (("-s", "PID", "--", "true"), ""),
])
def test_unshare_outputs_like_lxc(args, stdout):
    mine, real = unshare_both(*args)
    assert (mine.returncode, mine.stdout) == (real.returncode, real.stdout) == (0, stdout), \
        (mine.stderr, real.stderr)


def test_unshare_namespaces_differ_from_the_callers():
    names = {"MOUNT": "mnt", "UTSNAME": "uts", "IPC": "ipc", "NETWORK": "net", "PID": "pid",
             "CGROUP": "cgroup", "mnt": "mnt", "uts": "uts", "Net": "net"}
    for word, ns in names.items():
        # a PID namespace shows in the children of its maker: readlink is the command's child
        command = f"readlink /proc/self/ns/{ns}; readlink /proc/self/ns/{'uts' if ns != 'uts' else 'ipc'}"
        mine, real = unshare_both("-s", word, "--", "sh", "-c", command)
        for proc in (mine, real):
            assert proc.returncode == 0, (word, proc.stderr)
            new, other = proc.stdout.split()
            assert new.startswith(f"{ns}:[") and new != HOST_NS[ns], (word, proc.stdout)
            # and only that one
            assert other == HOST_NS["uts" if ns != "uts" else "ipc"], (word, proc.stdout)


def test_unshare_refusals_like_lxc():
    cases = [("-s", "PID"),                                   # no command
             ("--", "true"),                                  # no namespace
             ("-s", "PID", "-H", "x", "--", "true"),
             ("-s", "PID", "-M", "--", "true"),
             ("-s", "PID", "-i", "eth0", "--", "true")]
    for args in cases:
        mine, real = unshare_both(*args)
        assert mine.returncode == real.returncode == 1, args
        assert last_message(mine.stderr) == last_message(real.stderr), args
    # a bad namespace name, a user that does not exist: a command-line error in both
    for args in (("-s", "PID|FOO", "--", "true"), ("-s", "USER", "-u", "dv-nosuch", "--", "id")):
        mine, real = unshare_both(*args)
        assert mine.returncode == real.returncode == 1, args
        assert mine.stderr.endswith("lxc-unshare: could not parse command line\n")
        assert real.stderr.endswith("lxc-unshare: could not parse command line\n")
    mine, _ = unshare_both("-s", "PID|FOO", "--", "true")
    assert "invalid namespace name 'FOO'" in mine.stderr


def test_unshare_exit_codes():
    """0 and 1 as LXC; other codes passed on (LXC turns every failure into 1); a command that
    cannot be run: 127 (LXC: 1)."""
    for command, mine_code, real_code in ((["true"], 0, 0), (["false"], 1, 1),
                                          (["sh", "-c", "exit 3"], 3, 1),
                                          (["dv-no-such-command"], 127, 1)):
        mine, real = unshare_both("-s", "PID|MOUNT", "--", *command)
        assert (mine.returncode, real.returncode) == (mine_code, real_code), command
    mine, _ = unshare_both("-s", "PID", "--", "dv-no-such-command")
    assert "Failed to exec: 'dv-no-such-command'" in mine.stderr
    # killed by a signal: 128+N
    mine = subprocess.run([ours("lxc-unshare"), "-s", "MOUNT", "--", "sh", "-c", "kill -9 $$"],
                          capture_output=True, text=True, timeout=30)
    assert mine.returncode == 137


def test_unshare_as_an_ordinary_user():
    """nobody: the USER namespace lets it have the others, as with LXC; without USER the same
    refusal (our reason as a hint)."""
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    cases = [(("-s", "USER", "--", "id", "-u"), "65534\n"),
             (("-s", "USER", "-u", "1", "--", "id", "-u"), "1\n"),
             (("-s", "USER|UTSNAME", "-H", "dv-x", "--", "hostname"), "dv-x\n"),
             (("-s", "USER|MOUNT|PID", "--", "sh", "-c", "echo $$"), "1\n"),
             (("-s", "USER|NETWORK", "--", "sh", "-c", "tail -n +3 /proc/net/dev | wc -l"),
              "1\n")]
    for args, stdout in cases:
        mine = subprocess.run(as_nobody + [ours_for_anyone("lxc-unshare"), *args],
                              capture_output=True, text=True, timeout=60)
        real = subprocess.run(as_nobody + [real_lxc("lxc-unshare"), *args],
                              capture_output=True, text=True, timeout=60, env=SANE_ENV)
        assert (mine.returncode, mine.stdout) == (real.returncode, real.stdout) == (0, stdout), \
            (args, mine.stderr, real.stderr)
    mine = subprocess.run(as_nobody + [ours_for_anyone("lxc-unshare"), "-s", "PID", "--",
                                       "true"], capture_output=True, text=True, timeout=60)
    real = subprocess.run(as_nobody + [real_lxc("lxc-unshare"), "-s", "PID", "--", "true"],
                          capture_output=True, text=True, timeout=60, env=SANE_ENV)
    assert mine.returncode == real.returncode == 1
    assert "Operation not permitted" in mine.stderr and "add it to -s" in mine.stderr
    assert "Traceback" not in mine.stderr


def test_unshare_remount_gives_a_fresh_proc():
    """-M: /proc of the new PID namespace, /dev/shm and /dev/mqueue new (LXC 5.0.2 unmounts
    /proc and mounts nothing: its mount happens only when the umount fails)."""
    script = ("ls /proc | grep -c '^[0-9]'; readlink /proc/self/ns/pid;"
              "grep -E ' /(proc|dev/shm|dev/mqueue) ' /proc/self/mountinfo | cut -d' ' -f5,9")
    mine = subprocess.run([ours("lxc-unshare"), "-s", "MOUNT|PID|IPC", "-M", "--",
                           "sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert mine.returncode == 0, mine.stderr
    lines = mine.stdout.split("\n")
    assert int(lines[0]) <= 3  # sh, ls, grep of the new namespace only
    assert lines[1] != HOST_NS["pid"]
    assert sorted(lines[2:-1]) == ["/dev/mqueue mqueue", "/dev/shm shmfs", "/proc proc"]
    real = subprocess.run([real_lxc("lxc-unshare"), "-s", "MOUNT|PID", "-M", "--",
                           "ls", "/proc/self"], capture_output=True, text=True, timeout=30,
                          env=SANE_ENV)
    assert real.returncode == 1 and "No such file" in real.stderr  # LXC's /proc is gone
    # the caller's mounts are untouched
    with open("/proc/self/mountinfo") as handle:
        assert " /proc " in handle.read()
    # with NETWORK a fresh /sys too; a proc the kernel refuses (a new user namespace without
    # its own PID namespace) leaves the old one, with a warning, and the command runs
    mine = subprocess.run([ours("lxc-unshare"), "-s", "USER|NETWORK|MOUNT", "-M", "--",
                           "sh", "-c", "ls /sys/class/net; ls /proc/self/ns/net"],
                          capture_output=True, text=True, timeout=30)
    assert (mine.returncode, mine.stdout) == (0, "lo\n/proc/self/ns/net\n"), mine.stderr
    assert "warning: -M: /proc left as it was" in mine.stderr


def test_unshare_daemon_does_not_wait(tmp_path):
    mark = tmp_path / "done"
    for tool, env in ((ours("lxc-unshare"), None), (real_lxc("lxc-unshare"), SANE_ENV)):
        if mark.exists():
            mark.unlink()
        began = time.monotonic()
        # (no pipes: the command holds the caller's stdout and stderr)
        proc = subprocess.run([tool, "-d", "-s", "PID", "--", "sh", "-c",
                               f"sleep 1; touch {mark}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30, env=env)
        assert proc.returncode == 0 and time.monotonic() - began < 0.9, tool
        for _ in range(50):
            if mark.exists():
                break
            time.sleep(0.1)
        assert mark.exists(), tool


def test_unshare_moves_interfaces_in_a_test_netns(netns):
    ns = netns()
    for tool, end, env in ((ours("lxc-unshare"), "dv-u0", None),
                           (real_lxc("lxc-unshare"), "dv-r0", SANE_ENV)):
        assert in_ns(ns, "ip", "link", "add", end, "type", "veth", "peer", "name",
                     end + "p").returncode == 0
        # LXC moves the interface while the command already runs: give it a moment
        proc = in_ns(ns, tool, "-s", "NETWORK|MOUNT", "-i", end, "--", "sh", "-c",
                     "sleep 0.5; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort", env=env)
        assert (proc.returncode, proc.stdout) == (0, f"{end}\nlo\n"), (tool, proc.stderr)
        # the namespace died with the command, and the veth pair with it: the kernel tears a
        # dead network namespace down from a work queue after the command's exit (a loaded
        # host saw real LXC's pair still there at the first look)
        deadline = time.monotonic() + 10
        while end in (links := in_ns(ns, "ip", "-o", "link").stdout) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert end not in links, tool
    bad = in_ns(ns, ours("lxc-unshare"), "-s", "NETWORK", "-i", "dv-none", "--", "true")
    assert bad.returncode == 1 and 'Could not move interface "dv-none"' in bad.stderr


# -- lxc-top ----------------------------------------------------------------------------------
CONFIG = "lxc.net.0.type = empty\n"


def start_ours(world, *names, config=CONFIG, after=""):
    """Busybox containers made with CONFIG (-f) and started; AFTER goes at the end of their
    configs, after the template's lines (common.conf's device list among them)."""
    conf = os.path.join(world.root, "dv.conf")
    with open(conf, "w") as handle:
        handle.write(config)
    for name in names:
        assert world.ours("lxc-create", "-n", name, "-t", "busybox", "-f", conf).returncode == 0
        with open(os.path.join(world.cdir(name), "config"), "a") as handle:
            handle.write(after)
        assert world.ours("lxc-start", "-n", name).returncode == 0


def test_top_batch_rows_for_running_containers(world):
    start_ours(world, "dvt-b", "dvt-a")
    world.ours("lxc-attach", "-n", "dvt-b", "--", "sh", "-c",
               "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")  # some CPU for dvt-b
    proc = world.ours("lxc-top", "-b", "-d", "0.2", "--iterations", "2", input="")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == ("time_ms,container,cpu_nanos,cpu_sys_userhz,cpu_user_userhz,"
                        "blkio_bytes,blkio_iops,mem_used_bytes,memsw_used_bytes,"
                        "kernel_mem_used_bytes")
    rows = [line.split(",") for line in lines[1:]]
    assert [r[1] for r in rows] == ["dvt-a", "dvt-b"] * 2  # sorted by name, each round
    for row in rows:
        assert len(row) == 10 and all(x.isdigit() for x in row[:1] + row[2:]), row
        assert int(row[2]) > 0 and int(row[7]) > 0, row  # cpu and memory in use
    assert int(rows[2][0]) - int(rows[0][0]) >= 200  # the delay between rounds
    # sorted by CPU: the busy one first; -r turns it round
    by_cpu = world.ours("lxc-top", "-b", "-s", "c", "--iterations", "1").stdout.splitlines()
    assert [r.split(",")[1] for r in by_cpu[1:]] == ["dvt-b", "dvt-a"]
    by_cpu_r = world.ours("lxc-top", "-b", "-s", "c", "-r", "--iterations", "1").stdout
    assert [r.split(",")[1] for r in by_cpu_r.splitlines()[1:]] == ["dvt-a", "dvt-b"]
    # stopped containers are not shown
    world.ours("lxc-stop", "-n", "dvt-a", "-k")
    one = world.ours("lxc-top", "-b", "--iterations", "1").stdout.splitlines()
    assert [r.split(",")[1] for r in one[1:]] == ["dvt-b"]


def test_top_batch_header_and_columns_like_lxc(world):
    """Real LXC's batch mode needs a terminal on stdin and runs until killed: read its first
    lines through a pty, and compare with ours for a container of each."""
    pexpect = pytest.importorskip("pexpect")
    start_ours(world, "dvt-o")
    conf = os.path.join(world.root, "dv.conf")
    assert world.real("lxc-create", "-n", "dvt-r", "-t", "busybox", "-f", conf).returncode == 0
    assert world.real("lxc-start", "-n", "dvt-r").returncode == 0
    child = pexpect.spawn(real_lxc("lxc-top"), ["-P", world.real_lp, "-b", "-d", "1"],
                          dimensions=(40, 200), env=dict(SANE_ENV, **{
                              k: v for k, v in world.env.items() if k.startswith("LXC_")}),
                          encoding="utf-8", timeout=20)
    child.expect("dvt-r,[^\r\n]*\r\n")
    real_lines = (child.before + child.after).replace("\r", "").splitlines()
    child.terminate(force=True)
    mine = world.ours("lxc-top", "-b", "--iterations", "1").stdout.splitlines()
    assert mine[0] == real_lines[0]
    real_row, my_row = real_lines[-1].split(","), mine[1].split(",")
    assert len(real_row) == len(my_row) == 10
    assert (real_row[1], my_row[1]) == ("dvt-r", "dvt-o")
    # the same kind of figures: both containers use CPU and memory, same kernel accounting
    for index in (2, 7, 8, 9):
        assert (int(real_row[index]) > 0) == (int(my_row[index]) > 0), index


def test_top_screen_like_lxc(world):
    """The interactive screen on a terminal: LXC's header bytes, a row and the TOTAL row, q
    quits with 0 and the terminal as it was; without a terminal both refuse."""
    pexpect = pytest.importorskip("pexpect")
    start_ours(world, "dvt-s")
    conf = os.path.join(world.root, "dv.conf")
    assert world.real("lxc-create", "-n", "dvt-s", "-t", "busybox", "-f", conf).returncode == 0
    assert world.real("lxc-start", "-n", "dvt-s").returncode == 0
    screens = {}
    for label, tool, lxcpath, env in (
            ("mine", ours("lxc-top"), world.lp, world.env),
            ("real", real_lxc("lxc-top"), world.real_lp,
             dict(SANE_ENV, **{k: v for k, v in world.env.items() if k.startswith("LXC_")}))):
        child = pexpect.spawn(tool, ["-P", lxcpath, "-d", "1"], dimensions=(30, 160), env=env,
                              encoding="utf-8", timeout=20)
        child.expect("TOTAL 1 of 1[^\x1b]*")
        screens[label] = child.before + child.after
        child.send("q")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, label
    mine, real = screens["mine"], screens["real"]
    head_mine, head_real = mine[mine.rindex("\x1b[H"):], real[real.rindex("\x1b[H"):]
    # the same escape sequences and header; rows: the same name and layout
    assert head_mine.split("\x1b[0m")[0] == head_real.split("\x1b[0m")[0]
    row_mine = head_mine.split("\x1b[0m")[1].splitlines()[0]
    row_real = head_real.split("\x1b[0m")[1].splitlines()[0]
    assert row_mine[:18] == row_real[:18] == "dvt-s".ljust(18)
    # the same fields in the same order (widths and units vary with the figures: 916 KiB,
    # 1016 KiB, 1.03 MiB)
    def shape(row):
        figures = re.sub(r"\d+(\.\d+)?( (B|KiB|MiB|GiB|TiB)\b)?", "N", row)
        return re.sub(r"\s+", " ", figures).strip()
    assert shape(row_mine) == shape(row_real), (row_mine, row_real)
    # keys: m sorts by memory, m again reverses, r reverses; ^C quits with 0 and the
    # terminal's modes are back (stty runs after lxc-top on the same terminal)
    child = pexpect.spawn("sh", ["-c", f"trap true INT; {ours('lxc-top')} -P {world.lp} -d 5; "
                                 "echo rc=$?; "
                                 "stty -a"], dimensions=(30, 160), env=world.env,
                          encoding="utf-8", timeout=20)
    for key in "mmrn":
        child.expect("TOTAL 1 of 1")
        child.send(key)
    child.expect("TOTAL 1 of 1")
    child.sendintr()
    child.expect("rc=0")
    child.expect(pexpect.EOF)
    modes = child.before.split()
    assert "icanon" in modes and "echo" in modes and "-icanon" not in modes
    # without a terminal on stdin: the same refusal
    mine = world.ours("lxc-top", input="")
    real = world.real("lxc-top")
    assert mine.returncode == real.returncode == 1
    assert mine.stderr == "stdin is not a tty\nFailed to setup terminal\n"
    assert "stdin is not a tty" in real.stderr


# -- lxc-device -------------------------------------------------------------------------------
# a device cgroup that leaves out /dev/zero's numbers (1:5)
LOCKED = """lxc.net.0.type = empty
lxc.cgroup.devices.deny = a
lxc.cgroup.devices.allow = c *:* m
lxc.cgroup.devices.allow = b *:* m
lxc.cgroup.devices.allow = c 1:3 rwm
lxc.cgroup.devices.allow = c 1:8 rwm
lxc.cgroup.devices.allow = c 1:9 rwm
lxc.cgroup.devices.allow = c 5:* rwm
lxc.cgroup.devices.allow = c 136:* rwm
"""


def test_device_node_usable_inside_then_gone(world, tmp_path):
    start_ours(world, "dvd-o", after=LOCKED)
    attach = ("lxc-attach", "-n", "dvd-o", "--")
    denied = world.ours(*attach, "sh", "-c", "head -c 4 /dev/zero")
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr
    node = str(tmp_path / "dv-zero")
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    os.chmod(node, 0o666)  # whatever the umask: the node inside gets this mode
    add = world.ours("lxc-device", "-n", "dvd-o", "add", node, "/dev/dv/zero")
    assert add.returncode == 0, add.stderr
    inside = world.ours(*attach, "sh", "-c",
                        "ls -ln /dev/dv/zero; echo x > /dev/dv/zero && head -c 3 /dev/dv/zero "
                        "| od -An -tx1")
    assert inside.returncode == 0, inside.stderr
    listing, data = inside.stdout.splitlines()
    assert listing.split()[0] == "crw-rw-rw-" and listing.split()[4:6] == ["1,", "5"]
    assert data.split() == ["00", "00", "00"]
    assert "c 1:5 rwm" in world.ours("lxc-cgroup", "-n", "dvd-o", "devices.list").stdout
    # a prefix of del, and "--" before the words, as LXC
    gone = world.ours("lxc-device", "-n", "dvd-o", "--", "de", node, "/dev/dv/zero")
    assert gone.returncode == 0, gone.stderr
    after = world.ours(*attach, "ls", "/dev/dv/zero")
    assert after.returncode != 0 and "No such file" in after.stderr
    assert "c 1:5 rwm" not in world.ours("lxc-cgroup", "-n", "dvd-o", "devices.list").stdout
    # not a device node, no such file: refused with LXC's line and our reason
    for path in ("/etc/hostname", str(tmp_path / "missing")):
        bad = world.ours("lxc-device", "-n", "dvd-o", "a", path)
        assert bad.returncode == 1
        assert f"lxc-device: dvd-o: Failed to add {path} to dvd-o\n" in bad.stderr
        assert "hint:" in bad.stderr


def test_device_like_lxc(world):
    """lxc-device add/del /dev/loop-control beside real LXC: the same node inside, the same
    device list, the same exit codes and lines for the failures."""
    conf = os.path.join(world.root, "locked.conf")
    with open(conf, "w") as handle:
        handle.write(LOCKED)
    start_ours(world, "dvd-x", config=LOCKED)
    assert world.real("lxc-create", "-n", "dvd-x", "-t", "busybox", "-f", conf).returncode == 0
    assert world.real("lxc-start", "-n", "dvd-x").returncode == 0
    runs = {"ours": world.ours, "real": world.real}
    seen = {}
    for label, run in runs.items():
        add = run("lxc-device", "-n", "dvd-x", "add", "/dev/loop-control")
        assert add.returncode == 0, (label, add.stderr)
        node = run("lxc-attach", "-n", "dvd-x", "--", "ls", "-ln", "/dev/loop-control")
        listing = run("lxc-cgroup", "-n", "dvd-x", "devices.list").stdout
        delete = run("lxc-device", "-n", "dvd-x", "del", "/dev/loop-control")
        assert delete.returncode == 0, (label, delete.stderr)
        after = run("lxc-attach", "-n", "dvd-x", "--", "ls", "/dev/loop-control")
        seen[label] = (node.stdout.split()[:6], listing, after.returncode != 0,
                       run("lxc-cgroup", "-n", "dvd-x", "devices.list").stdout)
    assert seen["ours"] == seen["real"]
    assert "c 10:237 rwm" in seen["ours"][1] and "c 10:237 rwm" not in seen["ours"][3]
    for args in (("-n", "dvd-x", "x", "/dev/null"), ("-n", "dvd-x"), ("-n", "dvd-x", "add"),
                 ("-n", "dvd-none", "add", "/dev/null"), ("dvd-none", "add", "/dev/null")):
        mine, real = world.ours("lxc-device", *args), world.real("lxc-device", *args)
        assert mine.returncode == real.returncode == 1, args
        assert last_message(mine.stderr) == last_message(real.stderr), args


def test_device_root_only():
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           ours_for_anyone("lxc-device"), "-n", "x", "add", "/dev/null"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "lxc-device: lxc-device must be run as root" in proc.stderr


def test_device_moves_interfaces_in_a_test_netns(world, netns):
    """A veth end of a test netns into a container started in that netns (renamed), then
    back under another name; the host's namespace is never touched."""
    ns = netns()
    lp = os.path.join(world.root, "nslp")
    env = world.env
    conf = os.path.join(world.root, "dv.conf")
    with open(conf, "w") as handle:
        handle.write(CONFIG)
    tool = ours

    def run(name, *args):
        return in_ns(ns, tool(name), "-P", lp, *args, env=env)

    assert in_ns(ns, "ip", "link", "add", "dv-d0", "type", "veth", "peer", "name",
                 "dv-d1").returncode == 0
    assert run("lxc-create", "-n", "dvd-n", "-t", "busybox", "-f", conf).returncode == 0
    # `ip netns exec` mounts its own /sys: no cgroup hierarchy is visible there, so the
    # template's device rules could not be applied and lxc-start would refuse (rather than
    # start unconfined). This test is about interfaces: run it unconfined, on purpose.
    with open(os.path.join(lp, "dvd-n", "config"), "a") as handle:
        handle.write("lxc.cgroup.devices.deny =\nlxc.cgroup.devices.allow =\n"
                     "lxc.cgroup2.devices.deny =\nlxc.cgroup2.devices.allow =\n"
                     "lxctools.unconfined = 1\n")
    assert run("lxc-start", "-n", "dvd-n").returncode == 0
    try:
        inside = ("lxc-attach", "-n", "dvd-n", "--", "sh", "-c",
                  "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort")
        add = run("lxc-device", "-n", "dvd-n", "add", "dv-d0", "eth7")
        assert add.returncode == 0, add.stderr
        assert run(*inside).stdout == "eth7\nlo\n"
        assert "dv-d0" not in in_ns(ns, "ip", "-o", "link").stdout
        back = run("lxc-device", "-n", "dvd-n", "del", "eth7", "dv-d0b")
        assert back.returncode == 0, back.stderr
        assert run(*inside).stdout == "lo\n"
        assert "dv-d0b" in in_ns(ns, "ip", "-o", "link").stdout
        # without DEST the name stays
        assert run("lxc-device", "-n", "dvd-n", "add", "dv-d0b").returncode == 0
        assert run(*inside).stdout == "dv-d0b\nlo\n"
        # neither an interface nor a node: refused
        none = run("lxc-device", "-n", "dvd-n", "add", "dv-none")
        assert none.returncode == 1 and "Failed to add dv-none to dvd-n" in none.stderr
    finally:
        run("lxc-stop", "-n", "dvd-n", "-k")
    assert "dv-d0" not in in_ns(ns, "ip", "-o", "link").stdout  # died with the container


def test_device_node_in_a_container_with_a_user_namespace(world, tmp_path):
    """Its /dev belongs to its user namespace: host root can make no node there (LXC's
    mknod fails with EOVERFLOW) and a node made there could not be opened; the host's node
    is bind-mounted instead, and unmounted again by del."""
    import shutil
    import tempfile

    # the mapped root must reach its rootfs: not below pytest's 0700 directory
    lp = tempfile.mkdtemp(prefix="dv-lp-")
    os.chmod(lp, 0o755)
    conf = os.path.join(lp, "dv.conf")
    with open(conf, "w") as handle:
        handle.write(CONFIG + "lxc.idmap = u 0 420000 65536\nlxc.idmap = g 0 420000 65536\n")

    def run(*args):
        return world.ours(*args, lxcpath=lp)

    try:
        assert run("lxc-create", "-n", "dvd-u", "-t", "busybox", "-f", conf).returncode == 0
        assert run("lxc-start", "-n", "dvd-u").returncode == 0
        node = str(tmp_path / "dv-zero")
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 5))
        os.chmod(node, 0o666)
        add = run("lxc-device", "-n", "dvd-u", "add", node, "/dev/dv/zero")
        assert add.returncode == 0, add.stderr
        attach = ("lxc-attach", "-n", "dvd-u", "--")
        inside = run(*attach, "sh", "-c", "ls -ln /dev/dv/zero; echo x > /dev/dv/zero && "
                     "head -c 2 /dev/dv/zero | od -An -tx1")
        assert inside.returncode == 0, inside.stderr
        listing, data = inside.stdout.splitlines()
        assert listing.split()[0] == "crw-rw-rw-" and listing.split()[4:6] == ["1,", "5"]
        assert data.split() == ["00", "00"]
        assert run("lxc-device", "-n", "dvd-u", "del", node, "/dev/dv/zero").returncode == 0
        after = run(*attach, "sh", "-c", "ls /dev/dv; grep -c /dev/dv /proc/self/mountinfo")
        assert after.stdout == "0\n", after.stderr
    finally:
        run("lxc-stop", "-n", "dvd-u", "-k")
        run("lxc-destroy", "-n", "dvd-u")
        shutil.rmtree(lp, ignore_errors=True)


def test_device_python_lxc_api(world, tmp_path):
    """python-lxc's names over the same code: booleans, False for what fails."""
    from lxctools.compat import lxc

    start_ours(world, "dvd-p", after=LOCKED)
    node = str(tmp_path / "dv-zero")
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    c = lxc.Container("dvd-p", world.lp)
    assert c.add_device_node(node, "/dev/dv-zero") is True
    assert c.get_cgroup_item("devices.list").count("c 1:5 rwm") == 1
    assert world.ours("lxc-attach", "-n", "dvd-p", "--", "head", "-c", "1",
                      "/dev/dv-zero").returncode == 0
    assert c.remove_device_node(node, "/dev/dv-zero") is True
    assert "c 1:5 rwm" not in c.get_cgroup_item("devices.list")
    assert c.add_device_node("/etc/hostname") is False
    assert c.attach_interface("dv-none0") is False
    assert lxc.Container("dvd-none", world.lp).add_device_node(node) is False
