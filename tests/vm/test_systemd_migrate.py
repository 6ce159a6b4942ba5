"""lxc-checkpoint --migrate (issue 23 item 3): a running busybox container moved to "another
host" -- checkpointed with a pre-dump in the VM's first boot, its directory and images carried
by rsync to another lxcpath given as HOST:LXCPATH (rsync's remote form, through an RSYNC_RSH
that runs the far side here: the VM has no second machine to ssh to), the source destroyed,
and restored in the VM's second boot (a new kernel, nothing left of the first but the disk)
from what was carried alone. The pause and the whole move are printed (MIGRATE lines) for
bench/RESULTS.md: the pause is the dump (from the freeze), the final copy and the restore;
the reboot between the two halves is not in it (two running hosts have none)."""

import json
import os
import re
import shutil
import stat
import subprocess
import time

import pytest

from conftest import ours
from lxcenv import World
from test_systemd_checkpoint import busy, processes, same_container, state, tail
from vmtier import STATE, request_reboot

ROOT = os.path.join(STATE, "migrate")
NAME = "ckmig"
CONFIG = "lxc.net.0.type = empty\n"


def paths():
    return {"src": os.path.join(ROOT, "src"), "dst": os.path.join(ROOT, "dst"),
            "work": os.path.join(ROOT, "work"), "state": os.path.join(ROOT, "state.json"),
            "rsh": os.path.join(ROOT, "fake-ssh")}


def test_migrate_carries_a_running_container_with_a_pre_dump():
    p = paths()
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    world = World(ROOT)
    # rsync's remote shell: "ssh HOST COMMAND..." run here, as the far side would run it
    with open(p["rsh"], "w") as handle:
        handle.write('#!/bin/sh\nshift\nexec "$@"\n')
    os.chmod(p["rsh"], stat.S_IRWXU)
    conf = os.path.join(ROOT, "ck.conf")
    with open(conf, "w") as handle:
        handle.write(CONFIG)
    made = world.ours("lxc-create", "-n", NAME, "-t", "busybox", "-f", conf, lxcpath=p["src"])
    assert made.returncode == 0, made.stderr

    def run(tool, *args, lxcpath=p["src"]):
        return world.ours(tool, *args, lxcpath=lxcpath)

    assert run("lxc-start", "-n", NAME).returncode == 0
    before = busy(run, NAME)
    # refused before anything is touched: a destination that exists, a relative one
    os.makedirs(os.path.join(p["dst"], NAME))
    done = run("lxc-checkpoint", "-n", NAME, "-D", p["work"], "--migrate", p["dst"])
    assert done.returncode == 1 and "exists already" in done.stderr, done.stderr
    os.rmdir(os.path.join(p["dst"], NAME))
    done = run("lxc-checkpoint", "-n", NAME, "-D", p["work"], "--migrate", "otherhost:dst")
    assert done.returncode == 1 and "must be an absolute path" in done.stderr, done.stderr
    assert not os.path.exists(p["work"])
    assert processes(run, NAME) == before
    started = time.monotonic()
    moved = subprocess.run(
        [ours("lxc-checkpoint"), "-P", p["src"], "-n", NAME, "-D", p["work"],
         "--migrate", f"otherhost:{p['dst']}"], capture_output=True, text=True, timeout=600,
        env=dict(world.env, RSYNC_RSH=p["rsh"]))
    took = time.monotonic() - started
    assert moved.returncode == 0, moved.stderr + tail(os.path.join(p["work"], "final",
                                                                   "dump.log"))
    steps = {step: int(ms) for step, ms in re.findall(
        r"(?:: |, )(pre-dump|live copy|dump|final copy) (\d+) ms", moved.stdout)}
    # (stderr too: one tier run saw exit 0 with no step line, not reproduced since)
    assert set(steps) == {"pre-dump", "live copy", "dump", "final copy"}, \
        (moved.stdout, moved.stderr, tail(os.path.join(p["work"], "final", "dump.log")))
    restore = moved.stdout.splitlines()[1]
    target = os.path.join(p["dst"], NAME)
    assert restore == (f"restore it there: lxc-checkpoint -P {p['dst']} -n {NAME} -r "
                       f"-D {target}/checkpoint/final")
    assert state(run, NAME) == "STOPPED"
    # what the target has: the config pointing at its own rootfs, the rootfs, both images
    with open(os.path.join(target, "config")) as handle:
        config = handle.read()
    assert f"lxc.rootfs.path = dir:{target}/rootfs\n" in config
    assert p["src"] not in config
    assert os.path.exists(os.path.join(target, "rootfs", "bin", "busybox"))
    assert os.path.exists(os.path.join(target, "checkpoint", "pre", "inventory.img"))
    assert os.path.exists(os.path.join(target, "checkpoint", "final", "inventory.img"))
    assert os.readlink(os.path.join(target, "checkpoint", "final", "parent")) == "../pre"
    # the source is gone: the second boot has only what was carried
    assert run("lxc-destroy", "-n", NAME).returncode == 0
    shutil.rmtree(p["work"])
    shutil.rmtree(p["src"])  # its copy of our includes too: the target has its own
    with open(p["state"], "w") as handle:
        json.dump({"before": {str(k): v for k, v in before.items()}, "steps": steps,
                   "command": took * 1000}, handle)
    request_reboot()


@pytest.mark.after_reboot
def test_the_migrated_container_is_restored_on_the_other_host():
    p = paths()
    with open(p["state"]) as handle:
        saved = json.load(handle)
    before = {int(k): v for k, v in saved["before"].items()}
    world = World(ROOT)

    def run(tool, *args):
        return world.ours(tool, *args, lxcpath=p["dst"])

    directory = os.path.join(p["dst"], NAME, "checkpoint", "final")
    started = time.monotonic()
    done = run("lxc-checkpoint", "-n", NAME, "-r", "-D", directory)
    restored = (time.monotonic() - started) * 1000
    assert done.returncode == 0, done.stderr + tail(os.path.join(directory, "restore.log"))
    assert state(run, NAME) == "RUNNING"
    same_container(run, NAME, before)
    steps = saved["steps"]
    pause = steps["dump"] + steps["final copy"] + restored
    total = saved["command"] + restored
    print(f"\nMIGRATE ours busybox: pre-dump {steps['pre-dump']} ms, live copy "
          f"{steps['live copy']} ms, dump {steps['dump']} ms, final copy "
          f"{steps['final copy']} ms, restore {restored:.0f} ms; pause {pause:.0f} ms, "
          f"total {total:.0f} ms (reboot between not counted)")
    assert run("lxc-stop", "-n", NAME, "-t", "30").returncode == 0
    assert state(run, NAME) == "STOPPED"
    assert run("lxc-destroy", "-n", NAME).returncode == 0
    shutil.rmtree(ROOT)
