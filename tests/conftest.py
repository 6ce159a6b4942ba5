"""Shared fixtures: where our console scripts live (never the PATH, which may find Debian's
lxc-* or a slow pyenv shim) and private lxcpaths."""

import os
import signal
import subprocess
import sys
import sysconfig

import pytest

SCRIPTS = sysconfig.get_path("scripts")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A suite started in the background of a shell without job control (`./setup test &`,
# nohup) inherits SIGINT and SIGQUIT ignored, and every tool it runs would too: the ^C tests
# would then fail for ours and LXC's alike, testing nothing. Give back what a terminal gives.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGQUIT) == signal.SIG_IGN:
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


# The lxcpath's supervisor lingers after its last container stops (monitor/daemon.py, its
# idle time). Each test's lxcpath is its own and pytest keeps them: the suite's supervisors
# leave at once, as before, unless a test asks for lingering (test_supervisor_idle.py);
# pytest_sessionfinish ends any that a failed test left lingering under the session's tmp.
os.environ["LXCTOOLS_SUPERVISOR_IDLE"] = "0"


def lingering_supervisors(under):
    """{pid: lxcpath} of our idle supervisors ("[lxc monitor] LXCPATH", no container named)
    whose lxcpath is below UNDER."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as handle:
                if handle.read().strip() != "lxc monitor":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                words = handle.read().rstrip(b"\0").decode(errors="replace").split(" ")
        except OSError:
            continue
        if (len(words) == 3 and words[:2] == ["[lxc", "monitor]"]
                and words[2].startswith(under.rstrip("/") + "/")):
            found[int(entry)] = words[2]
    return found


def pytest_sessionfinish(session):
    factory = getattr(session.config, "_tmp_path_factory", None)
    try:
        base = str(factory.getbasetemp()) if factory is not None else None
    except (OSError, ValueError):
        base = None
    if not base:
        return
    for pid in lingering_supervisors(base):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


def vm_init():
    """"systemd" or "openrc" inside a VM of the harness (tests/vm/vmkit.py: the kernel
    command line says lxctools.vm), None on any other host."""
    try:
        with open("/proc/cmdline") as handle:
            if "lxctools.vm" not in handle.read().split():
                return None
        with open("/etc/lxctools-vm/init") as handle:
            return handle.read().strip()
    except OSError:
        return None


# tests/vm/ is the VM tier: test_systemd_*.py are collected only inside the systemd image,
# test_openrc_*.py only inside the OpenRC one (./setup test boots them: tests/vm/tier.py).
collect_ignore_glob = [f"vm/test_{init}_*.py" for init in ("systemd", "openrc")
                       if init != vm_init()]
if vm_init():
    # the integration tests' helpers (lxcenv's World, ...) serve the VM's tests too
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))


def ours(tool):
    """Absolute path of our console script TOOL (e.g. "lxc-start")."""
    path = os.path.join(SCRIPTS, tool)
    if not os.path.exists(path):
        pytest.fail(f"{tool} is not installed in {SCRIPTS}: run pip install -e . first")
    return path


def run(tool, *args, check=False, env=None, input=None, timeout=120):
    """Run our TOOL with ARGS; returns CompletedProcess with text output."""
    proc = subprocess.run([ours(tool), *args], capture_output=True, text=True, env=env,
                          input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@pytest.fixture
def lxcpath(tmp_path):
    path = tmp_path / "lxc"
    path.mkdir()
    return str(path)


def ordinary_user(name, first_subid, count=65536):
    """A context: the ordinary user NAME made afresh with subordinate ids FIRST_SUBID..+COUNT
    and a ~/.config/lxc/default.conf mapping them (network empty). Yields {"name", "uid",
    "home", "base", "count", "lxcpath"}; afterwards kills the user's processes and its
    containers' (their root is the subuid base), removes its lxcpath, the user and its
    subordinate id lines."""
    import contextlib
    import pwd
    import time

    @contextlib.contextmanager
    def made():
        require_root()
        forget = ["sed", "-i", f"/^{name}:/d", "/etc/subuid", "/etc/subgid"]
        subprocess.run(["userdel", "-r", name], capture_output=True)
        subprocess.run(forget)
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True)
        subprocess.run(forget)  # useradd's own ranges: the user has FIRST_SUBID's alone
        ids = f"{first_subid}-{first_subid + count - 1}"
        try:
            subprocess.run(["usermod", "--add-subuids", ids, "--add-subgids", ids, name],
                           check=True)
            entry = pwd.getpwnam(name)
            conf = os.path.join(entry.pw_dir, ".config/lxc")
            os.makedirs(conf)
            with open(os.path.join(conf, "default.conf"), "w") as handle:
                handle.write(f"lxc.net.0.type = empty\nlxc.idmap = u 0 {first_subid} {count}\n"
                             f"lxc.idmap = g 0 {first_subid} {count}\n")
            subprocess.run(["chown", "-R", f"{name}:{name}",
                            os.path.join(entry.pw_dir, ".config")], check=True)
            yield {"name": name, "uid": entry.pw_uid, "home": entry.pw_dir,
                   "base": first_subid, "count": count,
                   "lxcpath": os.path.join(entry.pw_dir, ".local/share/lxc")}
        finally:
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
            subprocess.run(["pkill", "-KILL", "-u", str(first_subid)], capture_output=True)
            time.sleep(0.2)
            subprocess.run(["rm", "-rf", os.path.join("/home", name, ".local/share/lxc")],
                           capture_output=True)
            subprocess.run(["userdel", "-r", name], capture_output=True)
            subprocess.run(forget)

    return made()


def module_busybox(root, name):
    """A busybox container NAME made by our lxc-create in ROOT/lp (network empty), for a
    module's tests to share; returns (lxcpath, path of its config)."""
    require_root()
    lp = os.path.join(str(root), "lp")
    net = os.path.join(str(root), "net.conf")
    with open(net, "w") as handle:
        handle.write("lxc.net.0.type = empty\n")
    made = subprocess.run([ours("lxc-create"), "-P", lp, "-n", name, "-t", "busybox", "-f",
                           net], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    return lp, os.path.join(lp, name, "config")


def conf_lines(*lines):
    """A Conf from "KEY = VALUE" lines, as a config file's would be applied."""
    from lxctools.config.model import Conf

    conf = Conf()
    for line in lines:
        key, _, value = line.partition("=")
        conf.apply(key.strip(), value.strip())
    return conf


# LXC's common.conf device list, as (key below lxc.cgroup, value) pairs
COMMON_DEVICES = [
    ("devices.deny", "a"), ("devices.allow", "c *:* m"), ("devices.allow", "b *:* m"),
    ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 1:5 rwm"),
    ("devices.allow", "c 1:7 rwm"), ("devices.allow", "c 5:0 rwm"),
    ("devices.allow", "c 5:1 rwm"), ("devices.allow", "c 5:2 rwm"),
    ("devices.allow", "c 1:8 rwm"), ("devices.allow", "c 1:9 rwm"),
    ("devices.allow", "c 136:* rwm"), ("devices.allow", "c 10:229 rwm")]


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: runs real containers (namespaces, mounts, cgroups)")


def real_lxc(tool):
    """Path of real LXC's TOOL, installed from Debian as the oracle."""
    path = os.path.join("/usr/bin", tool)
    if not os.path.exists(path):
        pytest.fail(f"real LXC's {tool} is missing: the test set-up installs Debian's lxc")
    return path


_ANYONE_DIR = None


def ours_for_anyone(tool):
    """A launcher for our TOOL that an unprivileged user can run.

    Our console scripts live under root's Python (pyenv in /root, mode 0700 on CI machines),
    which nobody else may read, the way a real install under /usr/local would be readable. So
    copy the package and its dependencies once into a world-readable directory and launch it
    with the host's /usr/bin/python3 (>= 3.11 on Debian 12), falling back to our interpreter
    if that one is itself world-readable."""
    global _ANYONE_DIR
    import shutil
    import tempfile
    if _ANYONE_DIR is None:
        base = tempfile.mkdtemp(prefix="lxctools-anyone-")
        shutil.copytree(os.path.join(REPO, "lxctools"), os.path.join(base, "lxctools"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        # and the dependencies (pyroute2 for networks, ...): /usr/bin/python3 has
        # none of them
        import importlib.util
        for module in ("pyroute2", "pyseccomp", "argcomplete"):
            spec = importlib.util.find_spec(module)
            if spec is None:
                continue
            if spec.submodule_search_locations:
                source = list(spec.submodule_search_locations)[0]
                shutil.copytree(source, os.path.join(base, os.path.basename(source)),
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(spec.origin, base)
        for root, dirs, files in os.walk(base):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        _ANYONE_DIR = base
        import atexit
        atexit.register(shutil.rmtree, base, True)
    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                           capture_output=True, text=True)
    if probe.stdout.strip() != "True":
        pytest.fail("the unprivileged tests need a world-readable Python >= 3.11 at /usr/bin/python3")
    module = _script_module(tool)
    launcher = os.path.join(_ANYONE_DIR, tool)
    if not os.path.exists(launcher):
        with open(launcher, "w") as handle:
            # the suite's supervisors leave with their last container (see above), a
            # user's too, whose login shell (su -) starts from a clean environment
            handle.write(f"#!{python} -s\nimport os, sys\nsys.path.insert(0, {_ANYONE_DIR!r})\n"
                         "os.environ.setdefault('LXCTOOLS_SUPERVISOR_IDLE', '0')\n"
                         f"from {module} import main\nsys.exit(main())\n")
        os.chmod(launcher, 0o755)
    return launcher


def front_door_for_anyone(tool):
    """Our compiled front door as TOOL (lxc-start, lxc-info...), runnable by an unprivileged
    user: a copy of the installed one beside an `lxctools` launcher of the package copy
    ours_for_anyone makes, which is what it execs for whatever it hands to Python."""
    import shutil
    ours_for_anyone("lxc-start")  # the package copy
    front = os.path.join(_ANYONE_DIR, "front")
    os.makedirs(front, mode=0o755, exist_ok=True)
    launcher = os.path.join(front, "lxctools")
    if not os.path.exists(launcher):
        with open(launcher, "w") as handle:
            handle.write(f"#!/usr/bin/python3 -s\nimport os, sys\n"
                         f"sys.path.insert(0, {_ANYONE_DIR!r})\n"
                         "os.environ.setdefault('LXCTOOLS_SUPERVISOR_IDLE', '0')\n"
                         "from lxctools.cli.about import main\nsys.exit(main())\n")
        os.chmod(launcher, 0o755)
    path = os.path.join(front, tool)
    if not os.path.exists(path):
        shutil.copy(ours(tool), path)
        os.chmod(path, 0o755)
    return path


def _script_module(tool):
    return installed_commands()[tool].split(":")[0]


def installed_commands():
    """{command: "module:function"} of every command lxctools installs (tools/installkit.py)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("installkit",
                                                  os.path.join(REPO, "tools", "installkit.py"))
    kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kit)
    return kit.commands(REPO)


# LXCTOOLS_TEST_CGROUP_AUDIT=FILE: after each test, the monitor cgroups (lxc.monitor.lxctools-*)
# that appeared during it and are still there, empty, a moment later are appended to FILE with
# the test's id -- to find which test leaves one (a supervisor that ended without removing its
# own). Off by default: other work on the machine makes its own monitor cgroups.
_AUDIT = os.environ.get("LXCTOOLS_TEST_CGROUP_AUDIT")


def _monitor_cgroups():
    import glob
    return set(glob.glob("/sys/fs/cgroup/*/lxc.monitor.lxctools-*")
               + glob.glob("/sys/fs/cgroup/lxc.monitor.lxctools-*"))


if _AUDIT:
    @pytest.fixture(autouse=True)
    def _cgroup_audit(request):
        import time
        before = _monitor_cgroups()
        yield
        new = _monitor_cgroups() - before
        deadline = time.monotonic() + 2
        while new and time.monotonic() < deadline:
            time.sleep(0.2)
            new &= _monitor_cgroups()
        if new:
            with open(_AUDIT, "a") as handle:
                handle.write(f"{request.node.nodeid} {' '.join(sorted(new))}\n")
