"""Debian guests built with debootstrap for the tests and the benchmark, cached on disk.

Building one takes about a minute and needs the Debian mirror, so each is cached under
CACHE/<name>-<hash of its recipe>/ and rebuilt only when the recipe changes. CI runs on the
same machine as the session that submitted, so the cache survives between runs.
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys

CACHE = os.environ.get("LXCTOOLS_GUEST_CACHE", "/var/cache/lxctools-test/guests")
MIRROR = os.environ.get("LXCTOOLS_DEBIAN_MIRROR", "http://deb.debian.org/debian")

RECIPES = {
    # The systemd guest: Debian 12 minbase + systemd as PID 1.
    "debian-systemd": {"suite": "bookworm", "variant": "minbase",
                       "include": ["systemd", "systemd-sysv", "dbus"]},
    # sysvinit as PID 1.
    "debian-sysvinit": {"suite": "bookworm", "variant": "minbase",
                        "include": ["sysvinit-core"]},
}


def recipe_key(name):
    recipe = RECIPES[name]
    digest = hashlib.sha256(json.dumps([recipe, MIRROR], sort_keys=True).encode()).hexdigest()[:12]
    return f"{name}-{digest}"


def guest_dir(name):
    return os.path.join(CACHE, recipe_key(name))


def rootfs(name):
    """The cached rootfs tree of guest NAME, built on first use. Do not modify it: copy it."""
    base = guest_dir(name)
    tree = os.path.join(base, "rootfs")
    done = os.path.join(base, "done")
    if os.path.exists(done):
        return tree
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(done):
            return tree
        if os.path.exists(tree):
            shutil.rmtree(tree)
        recipe = RECIPES[name]
        cmd = ["debootstrap", f"--variant={recipe['variant']}",
               f"--include={','.join(recipe['include'])}", recipe["suite"], tree, MIRROR]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(tree, ignore_errors=True)
            raise RuntimeError(f"debootstrap of {name} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        # The guest's apt caches are not needed and only make copies slower.
        shutil.rmtree(os.path.join(tree, "var/cache/apt/archives"), ignore_errors=True)
        os.makedirs(os.path.join(tree, "var/cache/apt/archives/partial"), exist_ok=True)
        with open(done, "w") as handle:
            handle.write(" ".join(cmd) + "\n")
    return tree


def tarball(name):
    """rootfs.tar.xz of guest NAME (numeric owners, xattrs), built once from the tree."""
    tree = rootfs(name)
    path = os.path.join(guest_dir(name), "rootfs.tar.xz")
    if os.path.exists(path):
        return path
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        tar = subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", tree,
                                "-cf", "-", "."], stdout=subprocess.PIPE)
        xz = subprocess.run(["xz", "-T0", "-3", "-c"], stdin=tar.stdout, stdout=out)
        tar.stdout.close()
        if tar.wait() != 0 or xz.returncode != 0:
            os.unlink(tmp)
            raise RuntimeError(f"could not pack {tree}")
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    for guest in sys.argv[1:] or list(RECIPES):
        print(guest, rootfs(guest), tarball(guest), flush=True)
