"""lxc-checkpoint on this host: CRIU missing, too old, or failing `criu check` is named before
anything is frozen (issue 23.4), with LXC's usage errors and exit codes. CRIU cannot work on
this machine's kernel (criu check: "vdso: Unexpected rt vDSO area bounds"), so checkpoints
and restores themselves are tested in the VM (tests/vm/test_systemd_checkpoint.py).

"Nothing was frozen" is proved two ways: the container's init and a process of its own keep
their pids and run on, its cgroup was never frozen (cgroup.freeze or freezer.state), and
with a stand-in criu that logs how it was called, nothing but `--version` and `check` ran."""

import os
import shutil
import stat
import subprocess

import pytest

from lxcenv import world  # noqa: F401  (fixture)


def write_stub(directory, version="3.17.1", check_rc=0, check_says=""):
    """A criu that logs each call and answers --version and check as told; any other call
    (a dump: the container would be frozen) is logged and fails."""
    os.makedirs(directory, exist_ok=True)
    log = os.path.join(directory, "calls")
    path = os.path.join(directory, "criu")
    with open(path, "w") as handle:
        handle.write(f"""#!/bin/sh
echo "$*" >> {log}
case "$1" in
  --version) {f'echo "Version: {version}"' if version else 'echo "something else"'}; exit 0 ;;
  check) printf '%s' "{check_says}" >&2; exit {check_rc} ;;
esac
exit 3
""")
    os.chmod(path, stat.S_IRWXU)
    return log


def calls(log):
    if not os.path.exists(log):
        return []
    with open(log) as handle:
        return [line.split()[0] if line.split() else "" for line in handle]


def running_container(world, name):
    made = world.ours("lxc-create", "-n", name, "-t", "busybox")
    assert made.returncode == 0, made.stderr
    started = world.ours("lxc-start", "-n", name)
    assert started.returncode == 0, started.stderr
    # a process of its own that must survive the failed checkpoint untouched
    world.ours("lxc-attach", "-n", name, "--", "/bin/sh", "-c",
               "sleep 1000 </dev/null >/dev/null 2>&1 &")
    return settled_pid_set(world, name)


def settled_pid_set(world, name):
    """The container's processes once its boot has settled: busybox's rcS done (it starts
    syslogd, then exits and init starts the gettys) and the same set twice in a row. Taken
    while rcS still ran, the set would change by itself and read as the checkpoint's doing.
    A wait for a condition, not a timing assertion."""
    import time
    previous = None
    deadline = time.monotonic() + 30
    while True:
        now = pid_set(world, name)
        if now == previous and not any(p.endswith(" rcS") for p in now):
            return now
        assert time.monotonic() < deadline, f"the container's boot never settled: {now}"
        previous = now
        time.sleep(0.3)


def pid_set(world, name):
    found = world.ours("lxc-attach", "-n", name, "--", "/bin/ps", "-o", "pid,comm")
    assert found.returncode == 0, found.stderr
    return sorted(line.split(None, 1)[0] + " " + line.split(None, 1)[1].strip()
                  for line in found.stdout.splitlines()[1:]
                  if line.strip() and "ps" not in line.split(None, 1)[1])


def never_frozen(world, name):
    info = world.ours("lxc-info", "-n", name, "-s", "-H")
    assert info.stdout.strip() == "RUNNING"
    from lxctools.monitor import commands
    answer = commands.request(world.lp, name, "info")
    for h in answer["cgroups"]["hierarchies"]:
        if h["version"] == 2:
            with open(os.path.join(h["limit"], "cgroup.freeze")) as handle:
                assert handle.read().strip() == "0"
        elif "freezer" in h["controllers"]:
            with open(os.path.join(h["limit"], "freezer.state")) as handle:
                assert handle.read().strip() == "THAWED"


@pytest.mark.parametrize("case", ["missing", "too old", "no version", "check fails"])
def test_criu_trouble_is_named_before_anything_is_frozen(world, tmp_path, case):
    name = "ckpt" + case.replace(" ", "")[:6]
    before = running_container(world, name)
    stubs = str(tmp_path / "stubs")
    log = os.path.join(stubs, "calls")
    path = "/nonexistent-ckpt"
    if case == "too old":
        write_stub(stubs, version="1.8")
        path = stubs
    elif case == "no version":
        write_stub(stubs, version=None)
        path = stubs
    elif case == "check fails":
        write_stub(stubs, check_rc=1, check_says=(
            "Error (criu/cr-check.c:1234): seccomp: no PTRACE_O_SUSPEND_SECCOMP\\n"
            "Error (criu/crtools.c:260): Could not initialize kernel features detection.\\n"))
        path = stubs
    ckpt = str(tmp_path / "dump")
    env_path = f"{path}:/usr/bin:/bin"
    from conftest import ours
    done = subprocess.run([ours("lxc-checkpoint"), "-P", world.lp, "-n", name, "-D", ckpt, "-s"],
                          capture_output=True, text=True, timeout=120,
                          env=dict(world.env, PATH=env_path))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    expected = {"missing": "criu not found",
                "too old": "criu 1.8 (" + os.path.join(stubs, "criu") + ") is too old: "
                           "lxc-checkpoint needs CRIU 2.0 or newer",
                "no version": "--version did not say its version (it said: something else)",
                "check fails": "criu check failed on this kernel"}[case]
    assert expected in done.stderr, done.stderr
    if case == "check fails":
        # what CRIU said, without its source places
        assert "seccomp: no PTRACE_O_SUSPEND_SECCOMP" in done.stderr
        assert "cr-check.c" not in done.stderr
    assert "nothing was frozen" in done.stderr or case == "no version"
    assert "hint:" in done.stderr
    assert "dump" not in calls(log)
    assert not os.path.exists(ckpt)
    never_frozen(world, name)
    assert pid_set(world, name) == before
    assert world.ours("lxc-stop", "-n", name, "-k").returncode == 0


def test_this_hosts_criu_check_is_named(world, tmp_path):
    """The real CRIU of this host (Debian's criu package; apt-get install criu): when its
    `criu check` fails on this kernel, lxc-checkpoint says what it said and freezes nothing;
    where it passes, the preflight passes too (and the VM tests do the rest)."""
    criu = shutil.which("criu")
    assert criu, "this host's test set-up installs criu (apt-get install criu)"
    check = subprocess.run([criu, "check"], capture_output=True, text=True)
    from lxctools.spawn import criu as engine
    if check.returncode == 0:
        assert engine.preflight()[0] == criu
        return
    first = engine.errors_of(check.stdout + check.stderr)[0]
    name = "ckpthost"
    before = running_container(world, name)
    ckpt = str(tmp_path / "dump")
    done = world.ours("lxc-checkpoint", "-n", name, "-D", ckpt)
    assert done.returncode == 1
    assert f"criu check failed on this kernel ({os.uname().release}): {first}" in done.stderr
    assert not os.path.exists(ckpt)
    never_frozen(world, name)
    assert pid_set(world, name) == before
    # the restore says the same before it asks any supervisor
    world.ours("lxc-stop", "-n", name, "-k")
    os.makedirs(ckpt)
    with open(os.path.join(ckpt, "inventory.img"), "wb"):
        pass
    done = world.ours("lxc-checkpoint", "-n", name, "-D", ckpt, "-r")
    assert done.returncode == 1
    assert "criu check failed on this kernel" in done.stderr
    assert world.ours("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"


def test_python_api_says_false_and_why(world, tmp_path):
    import sys
    made = world.ours("lxc-create", "-n", "ckptapi", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    script = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r});"
              "from lxctools.compat import lxc;"
              f"c = lxc.Container('ckptapi', {world.lp!r});"
              f"print(c.checkpoint({str(tmp_path / 'd')!r}, stop=True, verbose=True));"
              f"print(c.restore({str(tmp_path / 'd')!r}));"
              f"print(c.migrate(lxc.LXC_MIGRATE_DUMP, {str(tmp_path / 'd')!r}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=world.env, timeout=120)
    assert done.stdout.split() == ["False", "False", "-1"], done.stderr
    assert "ckptapi not running, not checkpointing" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args,message", [
    (["-r", "-s", "-D", "d"], "-s not compatible with -r"),
    (["-F", "-D", "d"], "-d/-F not compatible with -r"),
    (["-d", "-D", "d"], "-d/-F not compatible with -r"),
    ([], "-D is required"),
    (["-r", "-p", "-D", "d"], "-p not compatible with -r"),
])
def test_usage_errors_as_lxc(world, args, message):
    """LXC's checker: the same words and exit code as Debian's lxc-checkpoint."""
    mine = world.ours("lxc-checkpoint", "-n", "x", *args)
    theirs = world.real("lxc-checkpoint", "-n", "x", *args)
    assert mine.returncode == theirs.returncode == 1
    assert message in mine.stderr
    # LXC logs the reason to its log ("none" by default): only this line reaches stderr
    assert "lxc-checkpoint: could not parse command line" in theirs.stderr
    assert "lxc-checkpoint: could not parse command line" in mine.stderr


def test_not_running_and_not_defined(world, tmp_path):
    made = world.ours("lxc-create", "-n", "ckptstop", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    done = world.ours("lxc-checkpoint", "-n", "ckptstop", "-D", str(tmp_path / "d"))
    assert done.returncode == 1
    assert "ckptstop not running, not checkpointing" in done.stderr
    done = world.ours("lxc-checkpoint", "-n", "nosuch", "-D", str(tmp_path / "d"))
    assert done.returncode == 1 and "nosuch is not defined" in done.stderr
    # a restore from a directory with no checkpoint: named, nothing started
    os.makedirs(tmp_path / "empty")
    done = world.ours("lxc-checkpoint", "-n", "ckptstop", "-r", "-D", str(tmp_path / "empty"))
    assert done.returncode == 1 and "no checkpoint in" in done.stderr
    assert world.ours("lxc-info", "-n", "ckptstop", "-sH").stdout.strip() == "STOPPED"


def test_migrate_refuses_before_anything_is_frozen_or_carried(world, tmp_path):
    """lxc-checkpoint --migrate (api/migrate.py): a destination that exists or is not an
    absolute path, options it cannot take, and this host's CRIU trouble are named before the
    pre-dump; the container runs on untouched and nothing reaches the destination. (The move
    itself: tests/vm/test_systemd_migrate.py.)"""
    name = "ckptmig"
    before = running_container(world, name)
    dest = str(tmp_path / "dest")
    work = str(tmp_path / "work")
    os.makedirs(os.path.join(dest, name))
    done = world.ours("lxc-checkpoint", "-n", name, "-D", work, "--migrate", dest)
    assert done.returncode == 1
    assert f"{os.path.join(dest, name)} exists already" in done.stderr
    done = world.ours("lxc-checkpoint", "-n", name, "-D", work, "--migrate", "host:rel/path")
    assert done.returncode == 1 and "must be an absolute path" in done.stderr
    done = world.ours("lxc-checkpoint", "-n", name, "-D", work, "--migrate", dest, "-p")
    assert done.returncode == 1
    assert "--migrate not compatible with -r, -p or --predump-dir" in done.stderr
    os.rmdir(os.path.join(dest, name))
    check = subprocess.run(["criu", "check"], capture_output=True, text=True)
    if check.returncode != 0:
        # this machine's kernel: criu check fails (vdso), named as it said it
        from lxctools.spawn import criu as engine
        done = world.ours("lxc-checkpoint", "-n", name, "-D", work, "--migrate", dest)
        assert done.returncode == 1
        first = engine.errors_of(check.stdout + check.stderr)[0]
        assert f"criu check failed on this kernel ({os.uname().release}): {first}" \
            in done.stderr
        assert "Traceback" not in done.stderr
    assert os.listdir(dest) == []
    assert not os.path.exists(work)
    never_frozen(world, name)
    assert pid_set(world, name) == before
    assert world.ours("lxc-stop", "-n", name, "-k").returncode == 0


def test_migrate_target_config_and_includes_point_at_the_target(tmp_path):
    """The config the target reads, and the lxcpath's copy of our includes it names, carried
    with their paths moved to the target's lxcpath (api/migrate.py)."""
    from lxctools.api import migrate
    src = str(tmp_path / "src")
    cdir = os.path.join(src, "c1")
    os.makedirs(os.path.join(cdir, "rootfs"))
    inc = os.path.join(src, ".lxctools-include", "0badcafe")
    os.makedirs(inc)
    with open(os.path.join(inc, "common.conf"), "w") as handle:
        handle.write(f"lxc.seccomp.profile = {inc}/common.seccomp\n")
    with open(os.path.join(inc, "common.seccomp"), "w") as handle:
        handle.write("2\ndenylist\n")
    with open(os.path.join(cdir, "config"), "w") as handle:
        handle.write(f"lxc.include = {inc}/common.conf\n"
                     f"lxc.rootfs.path = dir:{cdir}/rootfs\nlxc.uts.name = c1\n"
                     f"lxc.hook.pre-start = {cdir}/hook\nlxc.net.0.type = empty\n"
                     "lxc.net.0.hwaddr = 00:16:3e:00:00:01\n")
    dst = str(tmp_path / "dst")
    text = migrate.target_config(cdir, "c1", f"{cdir}/rootfs", dst)
    assert f"lxc.rootfs.path = dir:{dst}/c1/rootfs" in text
    assert f"lxc.hook.pre-start = {dst}/c1/hook" in text
    assert f"lxc.include = {dst}/.lxctools-include/0badcafe/common.conf" in text
    assert "lxc.uts.name = c1" in text and "00:16:3e:00:00:01" in text
    assert src not in text
    migrate.carry_includes(cdir, dst, dst)
    carried = os.path.join(dst, ".lxctools-include", "0badcafe")
    with open(os.path.join(carried, "common.conf")) as handle:
        assert handle.read() == f"lxc.seccomp.profile = {carried}/common.seccomp\n"
    with open(os.path.join(carried, "common.seccomp")) as handle:
        assert handle.read() == "2\ndenylist\n"


def test_python_api_feature_check_names_what_criu_check_said(world):
    """python-lxc's migrate(LXC_MIGRATE_FEATURE_CHECK): 0 where CRIU works on this kernel;
    here (criu check fails: the vdso error) -1, with what it said on stderr."""
    import sys
    made = world.ours("lxc-create", "-n", "ckptfeat", "-t", "busybox")
    assert made.returncode == 0, made.stderr
    script = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r});"
              "from lxctools.compat import lxc;"
              f"c = lxc.Container('ckptfeat', {world.lp!r});"
              "print(c.migrate(lxc.LXC_MIGRATE_FEATURE_CHECK, '/nonexistent'))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=world.env, timeout=120)
    check = subprocess.run(["criu", "check"], capture_output=True, text=True)
    if check.returncode == 0:
        assert done.stdout.split() == ["0"], done.stderr
        return
    from lxctools.spawn import criu as engine
    assert done.stdout.split() == ["-1"], done.stderr
    first = engine.errors_of(check.stdout + check.stderr)[0]
    assert f"criu check failed on this kernel ({os.uname().release}): {first}" in done.stderr
    assert "Traceback" not in done.stderr


def test_migrates_live_copy_never_walks_a_running_containers_rootfs(world, tmp_path):
    """The live copy (--migrate's step 2) runs as host root while the container runs. Its
    root swaps a directory of its rootfs for a symlink to a host directory of 0600 files with
    the same names, over and over: rsync walking the rootfs by path would, between its
    listing and its open, read the host's files and carry them to DEST. The live copy leaves
    the rootfs to the copy after the dump (nothing runs then): no host file is opened, and
    no rootfs reaches DEST before it."""
    import uuid

    from lxctools.api.migrate import live_copy
    from lxctools.errors import LxcError

    from test_attach_hostile import OpenWatch

    name = "ckpt-live-" + uuid.uuid4().hex[:6]
    running_container(world, name)
    secrets = tmp_path / "host-secrets"
    secrets.mkdir(mode=0o700)
    names = [f"f{i}" for i in range(300)]
    for entry in names:
        path = secrets / entry
        path.write_text("HOST SECRET\n")
        path.chmod(0o600)
    # one watch on the directory sees every open of it and of each file in it
    watch = OpenWatch(str(secrets))
    swap = (f"mkdir /d; for f in {' '.join(names)}; do echo container > /d/$f; done; "
            f"while :; do mv /d /d.real; ln -s {secrets} /d; rm /d; mv /d.real /d; done")
    world.ours("lxc-attach", "-n", name, "--", "/bin/sh", "-c",
               f"{swap} </dev/null >/dev/null 2>&1 &")
    container_dir = world.cdir(name)
    dest = tmp_path / "target" / name
    try:
        failures = []
        for _ in range(5):
            try:
                live_copy(container_dir, os.path.join(container_dir, "rootfs"), f"{dest}/")
            except LxcError as exc:  # a walk of the swapping rootfs: files vanish under it
                failures.append(exc.message)
    finally:
        world.ours("lxc-stop", "-n", name, "-k")
    opened = watch.events()
    assert opened == [], f"the live copy read the host's files through the container: {opened}"
    assert failures == [] and os.path.isfile(dest / "config"), failures
    assert not os.path.exists(dest / "rootfs"), "a running container's rootfs was walked"
