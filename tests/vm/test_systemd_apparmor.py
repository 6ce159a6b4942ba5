"""AppArmor on Debian 12 as installed (its kernel enables AppArmor, Debian's lxc package loads
LXC's profiles at boot), in the VM: lxc.apparmor.profile unset (LXC's default
lxc-container-default-cgns), generated, unconfined, a named profile, allow_nesting and raw,
side by side with real LXC on the same host. Each confined container is attacked from inside
the way docs/SECURITY.md's "no LSM" paragraph describes (fresh proc/sysfs/cgroup mounts, the
kernel's knobs, a read-write remount of the host's read-only /lib binds); the test fails if
an attack works, and an unconfined container shows each harmless one does work there."""

import os
import re
import subprocess
import time

import pytest

from conftest import ours as ours_tool, real_lxc
from lxcenv import world  # noqa: F401  (fixture)

BASE = "lxc.net.0.type = empty\n"
PROFILES = "/sys/kernel/security/apparmor/profiles"
NAMESPACES = "/sys/kernel/security/apparmor/policy/namespaces"

# Each attack prints NAME=0 when it worked. The harmless ones first (a mount in the
# container's own tree); the others write what is there already, or print help to the
# kernel log, should they ever get through.
ATTACKS = r"""
mkdir -p /mnt/p /mnt/s /mnt/c /mnt/t /mnt/x
mount -t proc proc /mnt/p 2>/dev/null; echo proc_elsewhere=$?
mount -t sysfs sysfs /mnt/s 2>/dev/null; echo sysfs_elsewhere=$?
mount -t cgroup2 cgroup2 /mnt/c 2>/dev/null; echo cgroup2_elsewhere=$?
mount --bind /mnt/x /mnt/t 2>/dev/null; echo bind_mine=$?
mount -o remount,bind,rw /mnt/t 2>/dev/null; echo remount_rw_mine=$?
mount -o remount,rw /sys/fs/cgroup 2>/dev/null; echo remount_rw_cgroup=$?
mount -o remount,rw /proc/sys 2>/dev/null; echo remount_rw_proc_sys=$?
mkdir -p /mnt/ps; mount --bind /proc/sys /mnt/ps 2>/dev/null; echo bind_of_proc_sys=$?
mount -o remount,bind,rw /mnt/ps 2>/dev/null
cat /mnt/ps/kernel/core_pattern > /tmp/cp0; cat /tmp/cp0 > /mnt/ps/kernel/core_pattern 2>/dev/null; echo proc_sys_copy_write=$?
for lib in LIBS; do
  mount -o remount,bind,rw $lib 2>/dev/null; echo remount_rw_$(echo $lib | tr / _)=$?
  touch $lib/.lxctools-aa-attack 2>/dev/null; echo write_$(echo $lib | tr / _)=$?
done
mount -t proc proc /proc 2>/dev/null; echo fresh_proc=$?
cat /proc/sys/kernel/core_pattern > /tmp/cp; cat /tmp/cp > /proc/sys/kernel/core_pattern 2>/dev/null; echo core_pattern=$?
echo h > /proc/sysrq-trigger 2>/dev/null; echo sysrq=$?
mount -o remount,rw /sys 2>/dev/null
cat /sys/kernel/uevent_helper > /tmp/uh 2>/dev/null; cat /tmp/uh > /sys/kernel/uevent_helper 2>/dev/null; echo uevent_helper=$?
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
printf lxc-container-default-cgns > /sys/kernel/security/apparmor/.remove 2>/dev/null; echo apparmor_remove=$?
mount -t tmpfs tmpfs /mnt/x 2>/dev/null; echo tmpfs=$?
"""
# what must fail under any of LXC's profiles (and worked unconfined: see below)
BLOCKED = {"proc_elsewhere", "sysfs_elsewhere", "cgroup2_elsewhere", "remount_rw_mine",
           "remount_rw_cgroup", "remount_rw_proc_sys", "proc_sys_copy_write", "core_pattern",
           "sysrq", "uevent_helper", "apparmor_remove"}
# what a confined container may still do (a bind of /proc/sys elsewhere too, under LXC's
# profiles: its rules name a bind's source but AppArmor lets this one through; the copy
# stays read-only, and remounting it read-write is what is refused: proc_sys_copy_write)
ALLOWED = {"bind_mine", "tmpfs", "fresh_proc"}


def read(path):
    with open(path) as handle:
        return handle.read()


def make(world, name, extra="", real=False):
    conf = os.path.join(world.root, f"{name}.conf")
    with open(conf, "w") as handle:
        handle.write(BASE + extra)
    run = world.real if real else world.ours
    made = run("lxc-create", "-n", name, "-t", "busybox", "-f", conf)
    assert made.returncode == 0, made.stderr
    return run


def start(run, name):
    started = run("lxc-start", "-n", name)
    assert started.returncode == 0, started.stderr
    return int(run("lxc-info", "-n", name, "-pH").stdout)


def label(pid):
    """/proc/PID/attr/current as LXC reads it (the mode cut off)."""
    return read(f"/proc/{pid}/attr/current").strip().rsplit(" (", 1)[0]


def normal(text, world, real):
    """A label with its lxcpath (as the profile's name and as its namespace) named LP."""
    lxcpath = world.real_lp if real else world.lp
    return text.replace(lxcpath.replace("/", "-"), "LP-").replace(lxcpath, "LP")


def attached_label(world, name, real):
    """The label of a process lxc-attach started in NAME, seen from the host."""
    if real:
        argv = [real_lxc("lxc-attach"), "-P", world.real_lp]
        env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    else:
        argv, env = [ours_tool("lxc-attach"), "-P", world.lp], world.env
    proc = subprocess.Popen([*argv, "-n", name, "--", "sleep", "300"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    if (read(f"/proc/{pid}/comm").strip() == "sleep"
                            and f"lxc.payload.{name}" in read(f"/proc/{pid}/cgroup")):
                        return label(pid)
                except OSError:
                    pass
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        raise AssertionError(f"no attached sleep seen in {name}")
    finally:
        proc.kill()
        proc.wait()


def monitor_pid(lxcpath):
    """Our supervisor of LXCPATH (its title: "[lxc monitor] LXCPATH NAME...")."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if read(f"/proc/{pid}/cmdline").startswith(f"[lxc monitor] {lxcpath} "):
                return int(pid)
        except OSError:
            pass
    raise AssertionError(f"no supervisor of {lxcpath}")


def ro_lib_binds(world, name, real):
    """Container paths of the host's /lib directories the busybox template binds read-only."""
    found = re.findall(r"^lxc\.mount\.entry = (/\S+) (\S+) none ro,bind", world.config(name, real),
                       re.M)
    return [("/" + target) for source, target in found if "lib" in target]


def attack(run, name, libs):
    script = ATTACKS.replace("LIBS", " ".join(libs) or "/nonexistent")
    done = run("lxc-attach", "-n", name, "--", "sh", "-c", script)
    results = dict(re.findall(r"^(\w+)=(\d+)$", done.stdout, re.M))
    assert BLOCKED | ALLOWED <= set(results), done.stdout + done.stderr
    return {key: value == "0" for key, value in results.items()}


def assert_confined(worked, where):
    got_through = sorted(k for k in worked if worked[k] and (k in BLOCKED or k.startswith(
        ("remount_rw__", "write__"))))
    assert got_through == [], f"{where}: attacks that worked: {got_through}"
    assert all(worked[k] for k in ALLOWED), f"{where}: too strict: {worked}"


def test_lxc_profiles_are_loaded_here():
    """What the rest stands on: AppArmor on, LXC's profiles loaded by Debian's packages."""
    assert read("/sys/module/apparmor/parameters/enabled").strip() == "Y"
    loaded = read(PROFILES)
    assert "lxc-container-default-cgns (enforce)" in loaded
    assert os.access("/usr/sbin/apparmor_parser", os.X_OK)


@pytest.mark.parametrize("profile", ["default", "generated"])
def test_confined_like_real_lxc_and_the_attacks_fail(world, profile):
    extra = "" if profile == "default" else "lxc.apparmor.profile = generated\n"
    name = f"aa-{profile[:3]}"
    labels, worked = {}, {}
    for real in (False, True):
        run = make(world, name, extra, real=real)
        pid = start(run, name)
        try:
            labels[real] = normal(label(pid), world, real)
            # attached processes run under init's label, whatever lxc-attach runs under
            # (read from the host: inside a stacked namespace a label reads "unconfined")
            assert normal(attached_label(world, name, real), world, real) == labels[real]
            if profile == "generated":
                cdir = world.cdir(name, real)
                assert os.listdir(os.path.join(cdir, "apparmor"))  # LXC's place for it
            libs = ro_lib_binds(world, name, real)
            assert libs, world.config(name, real)
            worked[real] = attack(run, name, libs)
            for lib in libs:
                host = lib.replace("/", "", 1)
                assert not os.path.exists(f"/{host}/.lxctools-aa-attack")
            if profile == "generated" and not real:
                # a supervisor killed mid-life: the one that adopts the container unloads
                # the profile at the stop (it is in the record)
                os.kill(monitor_pid(world.lp), 9)
        finally:
            assert run("lxc-stop", "-n", name, "-k").returncode == 0
        if profile == "generated":
            # unloaded and removed at the stop, as LXC does
            assert not os.path.exists(os.path.join(world.cdir(name, real), "apparmor"))
            assert f"lxc-{name}_<" not in read(PROFILES)
            assert not [n for n in os.listdir(NAMESPACES) if n.startswith(f"lxc-{name}_")]
    expected = ("lxc-container-default-cgns" if profile == "default"
                else f"lxc-{name}_<LP>//&:lxc-{name}_<LP->:unconfined")
    assert labels == {False: expected, True: expected}
    assert_confined(worked[False], "ours")
    assert_confined(worked[True], "real LXC")  # the attacks are the ones LXC stops
    assert worked[False] == worked[True]


def test_unconfined_the_same_attacks_work(world):
    """The control: without AppArmor the harmless attacks do get through (so the test above
    would see them), in ours as in real LXC."""
    extra = "lxc.apparmor.profile = unconfined\n"
    for real in (False, True):
        run = make(world, "aa-unc", extra, real=real)
        pid = start(run, "aa-unc")
        try:
            assert label(pid) == "unconfined"
            script = ("mkdir -p /mnt/p /mnt/x /mnt/t; mount -t proc proc /mnt/p; echo p=$?; "
                      "mount --bind /mnt/x /mnt/t; mount -o remount,bind,rw /mnt/t; echo r=$?; "
                      "cat /proc/sys/kernel/core_pattern > /tmp/cp; "
                      "cat /tmp/cp > /mnt/p/sys/kernel/core_pattern; echo c=$?")
            done = run("lxc-attach", "-n", "aa-unc", "--", "sh", "-c", script)
            assert done.stdout.split() == ["p=0", "r=0", "c=0"], done.stderr
        finally:
            run("lxc-stop", "-n", "aa-unc", "-k")


def test_named_profile_nesting_and_raw(world):
    """A named profile (Debian's lxc ships lxc-container-default-with-nesting), the generated
    profile with allow_nesting (any mount) and with raw lines, as real LXC."""
    cases = {
        "aa-nam": ("lxc.apparmor.profile = lxc-container-default-with-nesting\n",
                   "mkdir -p /mnt/p; mount -t proc proc /mnt/p; echo r=$?"),
        # what Debian's default.conf gives every container LXC creates: any mount, so a
        # fresh proc elsewhere reaches core_pattern (docs/SECURITY.md says so)
        "aa-nes": ("lxc.apparmor.profile = generated\nlxc.apparmor.allow_nesting = 1\n",
                   "mkdir -p /mnt/p; mount -t proc proc /mnt/p; echo r=$?; "
                   "cat /mnt/p/sys/kernel/core_pattern > /tmp/cp; "
                   "cat /tmp/cp > /mnt/p/sys/kernel/core_pattern; echo w=$?"),
        "aa-raw": ("lxc.apparmor.profile = generated\n"
                   "lxc.apparmor.raw = deny /etc/hostname w,\n",
                   "echo x >> /etc/hostname; echo r=$?; echo y >> /etc/passwd; echo w=$?"),
    }
    for name, (extra, script) in cases.items():
        answers = {}
        for real in (False, True):
            run = make(world, name, extra, real=real)
            pid = start(run, name)
            try:
                answers[real] = (normal(label(pid), world, real),
                                 run("lxc-attach", "-n", name, "--", "sh", "-c",
                                     script + " 2>/dev/null").stdout.split())
            finally:
                run("lxc-stop", "-n", name, "-k")
        assert answers[False] == answers[True], (name, answers)
        if name == "aa-nam":  # that profile allows proc mounts below /var/cache/lxc only
            assert answers[False][0] == "lxc-container-default-with-nesting"
            assert answers[False][1] != ["r=0"]
        if name == "aa-nes":
            assert answers[False][1] == ["r=0", "w=0"]
        if name == "aa-raw":
            assert answers[False][1] == ["r=1", "w=0"]


def test_attach_elevated_lsm_and_the_python_paths(world):
    """lxc-attach -e LSM keeps the caller's label (as LXC); the Python transient (where the
    entry helper is not built) and lxc-execute's init take the container's label too."""
    run = make(world, "aa-att")
    start(run, "aa-att")
    try:
        cat = ["cat", "/proc/self/attr/current"]
        assert run("lxc-attach", "-n", "aa-att", "--elevated-privileges=LSM", "--",
                   *cat).stdout.strip() == "unconfined"
        env = dict(world.env, LXCTOOLS_ENTRY="python")
        done = subprocess.run([ours_tool("lxc-attach"), "-P", world.lp, "-n", "aa-att",
                               "--", *cat], capture_output=True, text=True, env=env)
        assert done.stdout.strip() == "lxc-container-default-cgns (enforce)", done.stderr
    finally:
        run("lxc-stop", "-n", "aa-att", "-k")
    # lxc-execute: its init (PID 1) and the command under the container's label, as LXC's;
    # ours with the compiled init and with the Python one (which never execs)
    both = ["sh", "-c", "cat /proc/self/attr/current; cat /proc/1/attr/current"]
    confined = ["lxc-container-default-cgns (enforce)"] * 2
    for real in (False, True):
        runner = make(world, "aa-exe", real=real)
        done = runner("lxc-execute", "-n", "aa-exe", "--", *both)
        assert done.stdout.split("\n")[:2] == confined, done.stdout + done.stderr
    done = subprocess.run([ours_tool("lxc-execute"), "-P", world.lp, "-n", "aa-exe", "--",
                           *both], capture_output=True, text=True, env=env)
    assert done.stdout.split("\n")[:2] == confined, done.stdout + done.stderr


def test_clear_errors(world):
    """A profile that is not loaded, and generated without apparmor_parser: the start fails
    saying which and how to fix it (LXC fails too, its reason in its log only)."""
    for real in (False, True):
        run = make(world, "aa-bad", "lxc.apparmor.profile = no-such-profile\n", real=real)
        done = run("lxc-start", "-n", "aa-bad")
        assert done.returncode != 0
        assert run("lxc-info", "-n", "aa-bad", "-sH").stdout.strip() == "STOPPED"
    ours = world.ours("lxc-start", "-n", "aa-bad")
    assert 'AppArmor profile "no-such-profile" is not loaded' in ours.stderr, ours.stderr
    assert "lxc.apparmor.profile" in ours.stderr

    # an lxcpath of its own: its supervisor starts in the namespace without the parser
    lxcpath = os.path.join(world.root, "noparser")
    conf = os.path.join(world.root, "aa-nop.conf")
    with open(conf, "w") as handle:
        handle.write(BASE + "lxc.apparmor.profile = generated\n")
    made = world.ours("lxc-create", "-n", "aa-nop", "-t", "busybox", "-f", conf, lxcpath=lxcpath)
    assert made.returncode == 0, made.stderr
    hidden = ("mount --bind /dev/null /usr/sbin/apparmor_parser && exec "
              f"{ours_tool('lxc-start')} -P {lxcpath} -n aa-nop")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", hidden],
                          capture_output=True, text=True, env=world.env)
    assert done.returncode != 0
    assert "Cannot use generated profile: apparmor_parser not available" in done.stderr, \
        done.stderr
    assert "apt install apparmor" in done.stderr


def test_checkconfig_reports_apparmor(world):
    # the VM's kernel has no config file to read (CONFIG= names one; the readiness part,
    # what this test reads, looks at the running host)
    config = os.path.join(world.root, "config")
    with open(config, "w") as handle:
        handle.write(f"# Linux/x86 {os.uname().release} Kernel Configuration\n")
    out = subprocess.run([ours_tool("lxc-checkconfig")], capture_output=True, text=True,
                         env=dict(world.env, CONFIG=config)).stdout
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert re.search(r"^LSM: .*AppArmor", out, re.M), out
    assert re.search(r"^AppArmor default profile: .*lxc-container-default-cgns loaded", out,
                     re.M), out
    assert re.search(r"^apparmor_parser: .*/apparmor_parser", out, re.M), out
