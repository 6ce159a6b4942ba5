"""Environment errors (issue 24.4): every tool against a read-only lxcpath, a full one and a
container name too long for a file name. No traceback anywhere; a tool that cannot do its
work exits non-zero with one line naming the path (or the name) and a hint with the fix;
what needs no write (info, ls, start, attach, stop...) still works."""

import os
import subprocess

import pytest

from conftest import ours, require_root

NET = "lxc.net.0.type = empty\n"


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", path],
                   check=True)


def umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def tool(name, *args, timeout=60):
    proc = subprocess.run([ours(name), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return proc


def make_box(root, lp, name):
    """A busybox container NAME with one snapshot in LP."""
    net = os.path.join(root, "net.conf")
    with open(net, "w") as handle:
        handle.write(NET)
    made = tool("lxc-create", "-P", lp, "-n", name, "-t", "busybox", "-f", net)
    assert made.returncode == 0, made.stderr
    snap = tool("lxc-snapshot", "-P", lp, "-n", name)
    assert snap.returncode == 0, snap.stderr
    return net


def every_tool(lp, name, net):
    """(label, argv, must fail): every tool on NAME in LP, in an order that can run through
    (the ones that need to write are expected to fail, the others to work)."""
    return [
        ("create busybox", ["lxc-create", "-P", lp, "-n", name + "-new", "-t", "busybox",
                            "-f", net], True),
        ("create none", ["lxc-create", "-P", lp, "-n", name + "-none", "-t", "none", "-f", net],
         True),
        ("info", ["lxc-info", "-P", lp, "-n", name], False),
        ("info -c", ["lxc-info", "-P", lp, "-n", name, "-c", "lxc.uts.name"], False),
        ("ls -f", ["lxc-ls", "-P", lp, "-f"], False),
        ("config", ["lxc-config", "lxc.lxcpath"], False),
        ("start", ["lxc-start", "-P", lp, "-n", name], False),
        ("cgroup", ["lxc-cgroup", "-P", lp, "-n", name, "pids.current"], False),
        ("attach", ["lxc-attach", "-P", lp, "-n", name, "--", "true"], False),
        ("device", ["lxc-device", "-P", lp, "-n", name, "add", "/dev/null", "/dev/ee-null"],
         False),
        ("freeze", ["lxc-freeze", "-P", lp, "-n", name], False),
        ("unfreeze", ["lxc-unfreeze", "-P", lp, "-n", name], False),
        ("stop", ["lxc-stop", "-P", lp, "-n", name, "-k"], False),
        ("execute", ["lxc-execute", "-P", lp, "-n", name, "--", "true"], False),
        ("copy", ["lxc-copy", "-P", lp, "-n", name, "-N", name + "-copy"], True),
        ("copy -s", ["lxc-copy", "-P", lp, "-n", name, "-N", name + "-snap", "-s"], True),
        ("snapshot", ["lxc-snapshot", "-P", lp, "-n", name], True),
        ("snapshot -L", ["lxc-snapshot", "-P", lp, "-n", name, "-L"], False),
        ("snapshot -r", ["lxc-snapshot", "-P", lp, "-n", name, "-r", "snap0", "-N",
                         name + "-back"], True),
        ("autostart -L", ["lxc-autostart", "-P", lp, "-a", "-L"], False),
        ("wait", ["lxc-wait", "-P", lp, "-n", name, "-s", "STOPPED", "-t", "1"], False),
        ("update-config", ["lxc-update-config", "-c", os.path.join(lp, name, "config")], None),
        ("destroy", ["lxc-destroy", "-P", lp, "-n", name, "-s"], None),
    ]


def check_all(cases, where, hint_word):
    problems = []
    for label, argv, must_fail in cases:
        proc = tool(*argv)
        out = proc.stdout + proc.stderr
        if "Traceback" in out:
            problems.append(f"{label}: traceback\n{out}")
        elif must_fail and proc.returncode == 0:
            problems.append(f"{label}: exited 0")
        elif must_fail is False and proc.returncode != 0:
            problems.append(f"{label}: exited {proc.returncode}: {out}")
        elif proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            if not any(where in ln for ln in lines) or not any(
                    "hint:" in ln and hint_word in ln for ln in lines):
                problems.append(f"{label}: no path or fix named: {out}")
    assert problems == [], "\n".join(problems)


def test_a_read_only_lxcpath(tmp_path):
    require_root()
    lp = str(tmp_path / "ro")
    mount_tmpfs(lp, "64m")
    try:
        net = make_box(str(tmp_path), lp, "ee-ro")
        subprocess.run(["mount", "-o", "remount,ro", lp], check=True)
        check_all(every_tool(lp, "ee-ro", net), lp, "read-only")
        # nothing half-made, and the container as it was
        # (.lxctools-include: the includes ee-ro's config names, from its create)
        assert sorted(os.listdir(lp)) == [".lxctools-include", "ee-ro"]
        assert tool("lxc-info", "-P", lp, "-n", "ee-ro", "-sH").stdout.strip() == "STOPPED"
    finally:
        tool("lxc-stop", "-P", lp, "-n", "ee-ro", "-k")
        umount(lp)


def test_a_full_lxcpath(tmp_path):
    require_root()
    lp = str(tmp_path / "full")
    mount_tmpfs(lp, "32m")
    try:
        net = make_box(str(tmp_path), lp, "ee-full")
        # the rest of the filesystem taken by one file
        subprocess.run(["dd", "if=/dev/zero", f"of={lp}/.filler", "bs=64k"], capture_output=True)
        stat = os.statvfs(lp)
        assert stat.f_bavail == 0
        cases = [c for c in every_tool(lp, "ee-full", net) if c[0] != "destroy"]
        check_all(cases, lp, "full")
        # the failed creates and copies left nothing (their rollback ran on a full disk)
        assert sorted(os.listdir(lp)) == [".filler", ".lxctools-include", "ee-full"]
        assert os.listdir(os.path.join(lp, "ee-full", "snaps")) == ["snap0"]
        # and with the space back, the same container copies and destroys fine
        os.unlink(os.path.join(lp, ".filler"))
        assert tool("lxc-copy", "-P", lp, "-n", "ee-full", "-N", "ee-full2").returncode == 0
        for name in ("ee-full2", "ee-full"):
            gone = tool("lxc-destroy", "-P", lp, "-n", name, "-s")
            assert gone.returncode == 0, gone.stderr
    finally:
        tool("lxc-stop", "-P", lp, "-n", "ee-full", "-k")
        umount(lp)


@pytest.mark.parametrize("size", [255, 250, 244])
def test_names_too_long(tmp_path, size):
    """255 bytes: no file .NAME (the lock) can exist; 244-254: the lock fits but not the
    cgroup lxc.payload.NAME nor the supervisor's record: create, copy and start refuse, the
    others work or say the container does not exist, never a traceback."""
    require_root()
    lp = str(tmp_path / "lp")
    os.makedirs(lp)
    net = str(tmp_path / "net.conf")
    with open(net, "w") as handle:
        handle.write(NET)
    name = "e" * size
    if size < 255:
        # such a container can exist (real LXC makes it with -t none): ours must cope with it
        os.makedirs(os.path.join(lp, name, "rootfs"))
        with open(os.path.join(lp, name, "config"), "w") as handle:
            handle.write(NET + f"lxc.rootfs.path = dir:{lp}/{name}/rootfs\nlxc.uts.name = long\n")
    for label, argv, _must_fail in every_tool(lp, name, net):
        if label == "destroy":
            continue
        proc = tool(*argv)
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out, f"{label}: {out}"
        if label.startswith(("create", "copy", "start", "execute", "snapshot -r")):
            assert proc.returncode != 0, f"{label}: {out}"
            assert "bytes long: at most 243" in out or "doesn't exist" in out or \
                "not defined" in out or "No container config" in out, f"{label}: {out}"
    assert sorted(os.listdir(lp)) == ([] if size == 255 else [name])
    if size < 255:
        gone = tool("lxc-destroy", "-P", lp, "-n", name, "-s")  # with the snapshot it made
        assert gone.returncode == 0, gone.stderr
        assert os.listdir(lp) == []
