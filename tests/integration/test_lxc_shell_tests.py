"""LXC's own shell tests (src/tests/lxc-test-* of LXC 5.0.2, as Debian's lxc-tests package
installs them, @VARIABLES@ filled in) run against our tools (issue 19, item 4).

The scripts are Debian's, not ours: `./setup test` installs the package, nothing of LXC's is
in this repository. They call lxc-* through PATH, so ours go first on it. They write to
/var/lib/lxc and /etc/lxc, so each runs in namespaces of its own (`unshare -m -n -p -f
--mount-proc`): a tmpfs over /var/lib/lxc and /etc/lxc, whose default.conf is ours (an empty
network with lo up: never the host's veth on lxcbr0), a network namespace with only lo (no
NIC a script asks for can reach the host's), a PID namespace (whatever a failed script leaves
running dies with it) and a runtime dir of its own. tests/LXC_SHELL_TESTS.md lists every
script of the package: run here, or not and why.
"""

import os
import shutil
import subprocess

import pytest

from conftest import SCRIPTS, ours_for_anyone, require_root

pytestmark = pytest.mark.root

TESTS_DIR = "/usr/bin"
# the scripts run, and what each checks (tests/LXC_SHELL_TESTS.md says the same)
RUN = {
    "lxc-test-autostart": "lxc-autostart -L/-g/-r/-s/-k with lxc.start.auto, lxc.group, "
                          "lxc.start.delay; lxc-wait -t",
    "lxc-test-exit-code": "lxc-execute and lxc-attach hand back the command's exit code",
    "lxc-test-createconfig": "lxc-create -f expands hwaddr xx digits",
    "lxc-test-cloneconfig": "lxc-copy -s keeps NICs and hooks, new hwaddrs, hook paths moved",
    "lxc-test-snapdeps": "overlay snapshot clones: lxc_snapshots bookkeeping, origin kept "
                         "while clones exist",
    "lxc-test-procsys": "a rootfs without /proc and /sys still gets them",
    "lxc-test-rootfs": "lxc.rootfs.options = ro / rw",
    "lxc-test-symlink": "an lxcpath that is a symlink works; mount targets through symlinks "
                        "and a symlinked /proc are refused",
    "lxc-test-no-new-privs": "lxc.no_new_privs = 1 stops a setuid ping from lxc-attach --uid",
    "lxc-test-lxc-attach": "lxc-attach's stdio: redirections, pipes, stdout/stderr apart, "
                           "-l trace -o on every tool",
    "lxc-test-usernsexec": "lxc-usernsexec -m maps: owners of files made inside, seen outside "
                           "(as an ordinary user with subuids, through sudo)",
}
NOT_RUN = {
    "lxc-test-automount": "cgroup v1 era: the script exits 0 at once on any kernel with "
                          "cgroup namespaces (a run would pass without checking anything); "
                          "cgroup mount.auto is tested in test_cgroups.py",
    "lxc-test-apparmor-generated": "needs AppArmor, which this host lacks; the VM test "
                                   "tests/vm/test_systemd_apparmor.py checks the same",
    "lxc-test-apparmor-mount": "needs AppArmor (see lxc-test-apparmor-generated)",
    "lxc-test-checkpoint-restore": "a liblxc program (real LXC's checkpoint, not ours), and "
                                   "CRIU fails on this kernel (criu check); ours is tested "
                                   "in the VM (tests/vm/test_systemd_checkpoint.py)",
    "lxc-test-unpriv": "its user's default.conf asks for a veth on lxcbr0 (a host bridge: "
                       "against this project's network rule), it needs sudo and cgmanager or "
                       "v1 hierarchies it may mkdir in; unprivileged containers are tested in "
                       "test_unprivileged.py",
    "lxc-test-usernic": "drives LXC's setuid lxc-user-nic (not ours) with host bridges "
                        "(brctl in the host's network namespace)",
}

DEFAULT_CONF = "lxc.net.0.type = empty\nlxc.net.0.flags = up\n"

# the namespaces' set-up, then the script (its exit status is the run's), then what it left
# running stopped and our supervisors waited for: they leave once their last container stops
# (LXCTOOLS_SUPERVISOR_IDLE=0), one spawned for a start that failed after its 5 s; the end of
# the PID namespace would SIGKILL them, and their monitor cgroups (named after this tmpfs
# lxcpath, gone with the namespace) would stay on the host
SETUP = r"""
set -e
mount -t tmpfs -o mode=0755 lxctools-shelltest /var/lib/lxc
mount -t tmpfs -o mode=0755 lxctools-shelltest /etc/lxc
printf '%s' "$DEFAULT_CONF" > /etc/lxc/default.conf
ip link set lo up
# a script that runs lxc-* as another user through sudo (its PATH is sudo's secure_path)
# gets ours in LXC's place: bound over /usr/bin's in this mount namespace only
for tool in $OURS_OVER_LXC; do mount --bind "$tool" "/usr/bin/${tool##*/}"; done
cd /tmp
status=0
"$@" || status=$?
for name in $(lxc-ls 2>/dev/null); do lxc-stop -k -n "$name" >/dev/null 2>&1 || true; done
i=0
while pgrep -x "lxc monitor" >/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
exit $status
"""
# the ordinary user lxc-test-usernsexec makes (removed afterwards: the script leaves it)
USERNSEXEC_USER = "lxctools-unsx"
# per script: (arguments, tools of ours an ordinary user runs)
EXTRA = {"lxc-test-usernsexec": (["--user", USERNSEXEC_USER], ["lxc-usernsexec"])}


def installed():
    return sorted(n for n in os.listdir(TESTS_DIR) if n.startswith("lxc-test-")
                  and _is_script(os.path.join(TESTS_DIR, n)))


def _is_script(path):
    with open(path, "rb") as handle:
        return handle.read(2) == b"#!"


def require_package():
    if not os.path.exists(os.path.join(TESTS_DIR, "lxc-test-symlink")):
        pytest.fail("Debian's lxc-tests is not installed: ./setup test installs it")


def test_every_shell_test_of_the_package_is_listed():
    """A new LXC release's script is not silently left out: each is run or has a reason."""
    require_package()
    assert not set(RUN) & set(NOT_RUN)
    assert sorted(set(RUN) | set(NOT_RUN)) == installed()
    listed = open(os.path.join(os.path.dirname(os.path.dirname(__file__)),
                               "LXC_SHELL_TESTS.md")).read()
    for name in installed():
        assert f"`{name}`" in listed, f"{name} is missing from tests/LXC_SHELL_TESTS.md"


@pytest.mark.parametrize("script", sorted(RUN))
def test_lxc_shell_test_passes_against_ours(tmp_path, script):
    require_root()
    require_package()
    for tool in ("lxc-create", "lxc-start", "lxc-attach"):
        assert os.path.exists(os.path.join(SCRIPTS, tool)), f"ours are not in {SCRIPTS}"
    rundir = tmp_path / "run"
    rundir.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("LXC_", "LXCTOOLS_"))}
    args, for_anyone = EXTRA.get(script, ([], []))
    if for_anyone and not shutil.which("sudo"):
        pytest.fail(f"{script} needs sudo: ./setup test installs it")
    # LXCTOOLS_SUPERVISOR_IDLE=0 as in the rest of the suite: a supervisor lingering after
    # the script's last stop would be SIGKILLed with the PID namespace and leave its monitor
    # cgroup behind (the lxcpath, a tmpfs gone with the namespace, never gets another one)
    env.update(PATH=f"{SCRIPTS}:/usr/sbin:/usr/bin:/sbin:/bin", LANG="C",
               LXCTOOLS_SUPERVISOR_IDLE="0",
               DEFAULT_CONF=DEFAULT_CONF, LXCTOOLS_RUNDIR=str(rundir), TMPDIR="/tmp",
               OURS_OVER_LXC=" ".join(ours_for_anyone(tool) for tool in for_anyone))
    try:
        done = subprocess.run(
            ["unshare", "-m", "-n", "-p", "-f", "--mount-proc", "--propagation", "private",
             "sh", "-c", SETUP, "shelltest", os.path.join(TESTS_DIR, script), *args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=600)
    finally:
        if script == "lxc-test-usernsexec":
            subprocess.run(["userdel", "-r", USERNSEXEC_USER], capture_output=True)
            subprocess.run(["sed", "-i", f"/^{USERNSEXEC_USER}:/d", "/etc/subuid",
                            "/etc/subgid"], check=True)
        # lxc-test-symlink's own clean-up removes its link in the host's /var/lib unless
        # it was killed
        link = "/var/lib/lxcsym1"
        if os.path.islink(link) and os.readlink(link) == "/var/lib/lxc":
            os.unlink(link)
    out = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, f"{script} failed against ours:\n{out}"
    assert "Traceback" not in done.stderr, out


def test_the_runner_fails_a_failing_script(tmp_path):
    """The harness itself: a script that fails is reported as failing (a runner that always
    passed would make every test above worthless)."""
    require_root()
    script = tmp_path / "lxc-test-fails"
    script.write_text("#!/bin/sh\nlxc-create -t busybox -n fails >/dev/null\n"
                      "test -d /var/lib/lxc/fails/rootfs || exit 3\nexit 7\n")
    script.chmod(0o755)
    env = dict(os.environ, PATH=f"{SCRIPTS}:/usr/sbin:/usr/bin:/sbin:/bin",
               DEFAULT_CONF=DEFAULT_CONF, LXCTOOLS_RUNDIR=str(tmp_path), OURS_OVER_LXC="")
    env.pop("LXC_GLOBAL_CONF", None)
    done = subprocess.run(["unshare", "-m", "-n", "-p", "-f", "--mount-proc", "--propagation",
                           "private", "sh", "-c", SETUP, "shelltest", str(script)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 7, done.stderr
    # and the container it made went with the namespace's tmpfs
    assert not os.path.exists("/var/lib/lxc/fails")
    assert shutil.which("unshare")
