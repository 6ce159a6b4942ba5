"""The OpenRC script under the real openrc-run: start, status and stop of one container as
`lxc.NAME` (a symlink to `lxc`) and of the autostart set as `lxc`.

Debian's openrc package conflicts with sysv-rc, this host's rc, so it is not installed: its
.deb files are unpacked into a cache directory, and openrc-run runs in a private mount
namespace where an overlay adds its /lib/rc and /etc/runlevels and a tmpfs is its
/run/openrc (with the softlevel file a booted OpenRC would have made). Nothing of it is
visible outside that namespace; only the empty /run/openrc mount point is made, and removed."""

import glob
import os
import subprocess
import sysconfig

import pytest

from conftest import require_root
from lxcenv import World, world  # noqa: F401  (fixture)

SCRIPTS = sysconfig.get_path("scripts")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = "/var/tmp/lxctools-test-openrc"
RC_DIRS = ("started", "starting", "stopping", "inactive", "wasinactive", "exclusive", "failed",
           "hotplugged", "daemons", "options", "scheduled", "tmp")


def openrc_root():
    """Debian's openrc, librc1 and libeinfo1 unpacked (downloaded once with apt-get)."""
    tree = os.path.join(CACHE, "root")
    if os.path.exists(os.path.join(tree, "sbin/openrc-run")):
        return tree
    os.makedirs(CACHE, exist_ok=True)
    got = subprocess.run(["apt-get", "download", "openrc", "librc1", "libeinfo1"], cwd=CACHE,
                         capture_output=True, text=True, timeout=300)
    debs = glob.glob(os.path.join(CACHE, "*.deb"))
    if got.returncode != 0 or len(debs) < 3:
        pytest.skip(f"cannot fetch Debian's openrc packages: {got.stderr.strip()[-200:]}")
    for deb in debs:
        subprocess.run(["dpkg", "-x", deb, tree], check=True)
    return tree


def test_openrc_run_one_container_and_the_autostart_set(world, tmp_path):
    require_root()
    if os.path.exists("/run/openrc"):
        pytest.skip("/run/openrc exists: this host runs OpenRC; the private set-up would hide it")
    rc = openrc_root()
    initd = tmp_path / "init.d"
    confd = tmp_path / "conf.d"
    initd.mkdir()
    confd.mkdir()
    with open(os.path.join(ROOT, "etc/openrc/lxc")) as handle:
        (initd / "lxc").write_text(handle.read().replace("@BINDIR@", SCRIPTS))
    os.chmod(initd / "lxc", 0o755)
    os.symlink("lxc", initd / "lxc.doc-or")
    # openrc-run clears the environment: the lxcpath comes from conf.d, as a user would set it
    for svc in ("lxc", "lxc.doc-or"):
        (confd / svc).write_text(f"LXCPATH={world.lp}\n")
    for name, extra in (("doc-or", ""), ("doc-orauto", "lxc.start.auto = 1\n")):
        assert world.ours("lxc-create", "-n", name, "-t", "busybox").returncode == 0
        with open(os.path.join(world.cdir(name), "config"), "a") as handle:
            handle.write(extra)
    run = f"{rc}/sbin/openrc-run"
    info = f"{SCRIPTS}/lxc-info -P {world.lp} -sH -n"
    steps = [("status-before", f"{run} {initd}/lxc.doc-or status"),
             ("start", f"{run} {initd}/lxc.doc-or start"),
             ("state-started", f"{info} doc-or"),
             ("status-started", f"{run} {initd}/lxc.doc-or status"),
             ("stop", f"{run} {initd}/lxc.doc-or stop"),
             ("state-stopped", f"{info} doc-or"),
             ("all-start", f"{run} {initd}/lxc start"),
             ("all-state-auto", f"{info} doc-orauto"),
             ("all-state-other", f"{info} doc-or"),
             ("all-stop", f"{run} {initd}/lxc stop"),
             ("all-state-after", f"{info} doc-orauto")]
    script = [
        f"mount -t overlay overlay -o lowerdir={rc}/lib:/usr/lib /usr/lib || exit 90",
        f"mount -t overlay overlay -o lowerdir={rc}/etc:/etc /etc || exit 91",
        "mount -t tmpfs tmpfs /run/openrc || exit 92",
        "touch /run/openrc/softlevel",
        *(f"mkdir /run/openrc/{d}" for d in RC_DIRS),
        f"export LD_LIBRARY_PATH={rc}/lib/x86_64-linux-gnu",
    ]
    for label, command in steps:
        script.append(f"out=$({command} 2>&1); echo \"@@{label} $? $(echo $out | tr '\\n' ' ')\"")
    os.mkdir("/run/openrc")
    try:
        proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               "\n".join(script)], capture_output=True, text=True, timeout=300,
                              env=world.env)
    finally:
        os.rmdir("/run/openrc")
        for name in ("doc-or", "doc-orauto"):
            world.ours("lxc-stop", "-n", name, "-k")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            label, code, *words = line[2:].split(" ")
            results[label] = (int(code), " ".join(words).strip())
    assert results["status-before"][0] == 3 and "stopped (STOPPED)" in results["status-before"][1]
    assert results["start"][0] == 0 and "Starting container doc-or" in results["start"][1]
    assert results["state-started"] == (0, "RUNNING")
    assert results["status-started"][0] == 0 and "started (RUNNING)" in results["status-started"][1]
    assert results["stop"][0] == 0 and "Stopping container doc-or" in results["stop"][1]
    assert results["state-stopped"] == (0, "STOPPED")
    assert results["all-start"][0] == 0, results["all-start"]
    assert results["all-state-auto"] == (0, "RUNNING")
    assert results["all-state-other"] == (0, "STOPPED")  # not marked lxc.start.auto
    assert results["all-stop"][0] == 0, results["all-stop"]
    assert results["all-state-after"] == (0, "STOPPED")
