"""A private LXC world for side-by-side tests: our lxcpath and real LXC's, a default config with
`lxc.net.0.type = empty` (never the host's lxcbr0 one), and runners for both tool sets."""

import os
import re
import subprocess

import pytest

from conftest import ours, real_lxc, require_root

NET_CONF = "lxc.net.0.type = empty\n"
# Real LXC runs helpers (lxc-usernsexec) through PATH: never let it find a pyenv shim of ours.
SANE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class World:
    def __init__(self, tmp_path):
        self.root = str(tmp_path)
        self.lp = os.path.join(self.root, "ours")        # our lxcpath
        self.real_lp = os.path.join(self.root, "real")   # real LXC's lxcpath
        self.net_conf = os.path.join(self.root, "net.conf")
        with open(self.net_conf, "w") as handle:
            handle.write(NET_CONF)
        self.lxc_conf = os.path.join(self.root, "lxc.conf")
        with open(self.lxc_conf, "w") as handle:
            handle.write(f"lxc.default_config = {self.net_conf}\n")
        self.env = dict(os.environ, LXC_GLOBAL_CONF=self.lxc_conf,
                        LXC_CACHE_PATH=os.path.join(self.root, "cache"))
        self.env.pop("LXCTOOLS_PURE_PYTHON", None)
        self.tools = {}  # tool name -> the program run for it (attach_door)

    def tool(self, name):
        return self.tools.get(name) or ours(name)

    def ours(self, tool, *args, lxcpath=None, timeout=120, input=None):
        return subprocess.run([self.tool(tool), "-P", lxcpath or self.lp, *args],
                              capture_output=True, text=True, env=self.env, timeout=timeout,
                              input=input)

    def attach_door(self, door):
        """lxc-attach through DOOR: "front", the compiled front door alone (a copy whose
        Python tool is a stub that fails: every attach must be answered in C), or "python",
        the Python tool (LXCTOOLS_PURE_PYTHON=1)."""
        if door == "python":
            self.env = dict(self.env, LXCTOOLS_PURE_PYTHON="1")
            return
        import shutil

        import lxctools
        binary = os.path.join(os.path.dirname(lxctools.__file__), "libexec", "lxc-front")
        assert os.access(binary, os.X_OK), f"the front door was not built ({binary})"
        bindir = os.path.join(self.root, "front-only")
        os.makedirs(bindir, exist_ok=True)
        shutil.copy(binary, os.path.join(bindir, "lxc-attach"))
        stub = os.path.join(bindir, "lxctools")
        with open(stub, "w") as handle:
            handle.write("#!/bin/sh\necho 'lxc-attach: FELL BACK TO PYTHON' >&2\nexit 99\n")
        os.chmod(stub, 0o755)
        self.tools["lxc-attach"] = os.path.join(bindir, "lxc-attach")

    def real(self, tool, *args, lxcpath=None, timeout=120, confine=True):
        """Real LXC: always our lxcpath choice and, for lxc-create, our -f config."""
        # Only lxc-create's own options count: a template's "-f" (lxc-local's fstree) after
        # "--" must not let the host's default.conf (veth on lxcbr0) in.
        own = args[:args.index("--")] if "--" in args else args
        extra = ["-f", self.net_conf] if tool == "lxc-create" and "-f" not in own else []
        done = subprocess.run([real_lxc(tool), "-P", lxcpath or self.real_lp, *extra, *args],
                              capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, LANG="C", PATH=SANE_PATH))
        if (confine and tool == "lxc-create" and done.returncode == 0 and "-n" in own
                and own[own.index("-n") + 1:][:1] and _template(own) == "busybox"):
            confine_as_ours(os.path.join(lxcpath or self.real_lp, own[own.index("-n") + 1]))
        return done

    def cdir(self, name, real=False):
        return os.path.join(self.real_lp if real else self.lp, name)

    def config(self, name, real=False):
        with open(os.path.join(self.cdir(name, real), "config")) as handle:
            return handle.read()


def _template(args):
    for flag in ("-t", "--template"):
        if flag in args and args.index(flag) + 1 < len(args):
            return args[args.index(flag) + 1]
    return None


def confine_as_ours(container_dir):
    """Give real LXC's busybox container the lines our busybox template writes before LXC's
    own (common.conf from the lxcpath's copy, which real LXC reads too): the same container
    on both sides. LXC's template leaves it unconfined (docs/SECURITY.md); side-by-side
    tests compare the runtimes, not that choice, which test_secure_defaults.py tests."""
    from lxctools.templates.busybox import secure_defaults

    path = os.path.join(container_dir, "config")
    with open(path) as handle:
        lines = handle.read().split("\n")
    unprivileged = any(line.startswith("lxc.idmap") for line in lines)
    at = next(i for i, line in enumerate(lines) if line.startswith("lxc.signal.halt"))
    lines[at:at] = secure_defaults(os.path.dirname(container_dir), unprivileged)
    with open(path, "w") as handle:
        handle.write("\n".join(lines))


@pytest.fixture
def world(tmp_path):
    require_root()
    w = World(tmp_path)
    yield w
    # Containers a failed test left running: ours through their supervisors, real LXC's too.
    from lxctools.monitor.commands import active_names
    for name in active_names(w.lp):
        w.ours("lxc-stop", "-n", name, "-k")
    if os.path.isdir(w.real_lp):
        for name in os.listdir(w.real_lp):
            w.real("lxc-stop", "-n", name, "-k")
    # Whatever a failed test left: unmount anything below the tmp dir, then it is removed by pytest.
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    for point in sorted((p for p in points if p.startswith(w.root + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    remove_empty_cgroups(w)


def remove_empty_cgroups(w):
    """The monitor cgroups a test's crashes leave: ours, of a supervisor the test SIGKILLed
    (a live one removes its own; a killed one's is reused and removed by the lxcpath's next
    supervisor, which a test's temporary lxcpath never gets), and real LXC's
    lxc.monitor.NAME / lxc.payload.NAME of its containers here (LXC 5.0.2 leaves some).
    Only empty cgroups go (rmdir refuses any other): a running container elsewhere keeps
    its own. Waits a moment for a supervisor that is still on its way out."""
    import glob
    import time

    from lxctools.cgroups import host
    from lxctools.cgroups.monitor import PREFIX
    from lxctools.paths import lxcpath_key

    names = []
    if os.path.isdir(w.lp):
        names.append(PREFIX + lxcpath_key(w.lp))
    if os.path.isdir(w.real_lp):
        for name in os.listdir(w.real_lp):
            names += [f"lxc.monitor.{name}", f"lxc.payload.{name}"]
    if not names:
        return
    try:
        mounts = [h.mountpoint for h in host.read_mountinfo()]
    except OSError:
        return
    deadline = time.monotonic() + 3
    while True:
        left = []
        for mount in mounts:
            for name in names:
                for top in glob.glob(os.path.join(glob.escape(mount), glob.escape(name))) + \
                        glob.glob(os.path.join(glob.escape(mount), glob.escape(name) + "-[0-9]*")):
                    for path, _dirs, _files in sorted(os.walk(top), reverse=True):
                        try:
                            os.rmdir(path)
                        except OSError:
                            left.append(path)
        if not left or time.monotonic() > deadline:
            return
        time.sleep(0.2)


_LXC_SOURCE = re.compile(r"^(lxc-\w+): ([^:]*): \.\./src/lxc/[\w/]+\.c: \w+: \d+ ", re.M)


def busybox(world, name, extra=""):
    """Create a busybox container NAME with our lxc-create, append EXTRA to its config;
    returns its rootfs."""
    proc = world.ours("lxc-create", "-n", name, "-t", "busybox")
    assert proc.returncode == 0, proc.stderr
    if extra:
        with open(os.path.join(world.cdir(name), "config"), "a") as handle:
            handle.write(extra)
    return os.path.join(world.cdir(name), "rootfs")


def lxc_messages(stderr):
    """Real LXC's stderr with the 'file.c: func: line' part removed."""
    return _LXC_SOURCE.sub(r"\1: \2: ", stderr)


def tree(root):
    """{relative path: (type+mode, nlink, uid, gid, size or link target)} of a whole tree."""
    out = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                detail = os.readlink(path)
            elif os.path.isdir(path):
                detail = "dir"
            else:
                detail = st.st_size
            out[rel] = (oct(st.st_mode), st.st_nlink, st.st_uid, st.st_gid, detail)
    return out


def stop_and_resume(child, prompt):
    """On a shell with job control that pexpect CHILD drives (PROMPT: its prompt, a regex):
    `sleep 100`, ^Z, `fg`, ^C, `jobs`. Returns {"stopped": ^Z stopped the job, "status after
    fg and ^C": $? then, "jobs left": a stopped job remained}, with the prompt consumed."""
    import time

    shown = {}
    child.send("sleep 100\r")
    time.sleep(0.5)
    child.send("\x1a")
    shown["stopped"] = child.expect(["Stopped", prompt]) == 0
    child.expect(prompt)
    child.send("fg\r")
    child.expect("sleep 100")
    time.sleep(0.5)
    child.send("\x03")
    child.expect(prompt)
    child.send("echo status-$?\r")
    child.expect(r"status-(\d+)")
    shown["status after fg and ^C"] = child.match.group(1)
    child.expect(prompt)
    child.send("jobs; echo jobs-done\r")
    child.expect("jobs-done")
    shown["jobs left"] = "Stopped" in child.before.split("jobs; echo")[-1]
    child.expect(prompt)
    return shown


def python3_lxc_stop(name, lxcpath, new_pid_namespace=False):
    """What Debian's python3-lxc (liblxc 5.0.2) answers to Container(NAME, LXCPATH).stop():
    "True" or "False" (the first word it prints, then the stderr), run from a new pid
    namespace when asked; None when python3-lxc is not installed."""
    sane = dict(os.environ, PATH=SANE_PATH)
    if subprocess.run(["/usr/bin/python3", "-c", "import lxc"], env=sane,
                      capture_output=True).returncode != 0:
        return None
    script = ("import lxc, sys\nc = lxc.Container(sys.argv[1], sys.argv[2])\n"
              "print(c.stop(), c.state)\n")
    prefix = ["unshare", "--pid", "--fork"] if new_pid_namespace else []
    done = subprocess.run([*prefix, "/usr/bin/python3", "-c", script, name, lxcpath],
                          capture_output=True, text=True, timeout=120, env=sane)
    return (done.stdout.split()[:1] or [""])[0], done.stdout + done.stderr
