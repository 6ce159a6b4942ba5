"""Images built inside tests: a busybox rootfs tarball (from our busybox template) and
metadata tarballs, made with the system's tar so that our extractor reads what GNU tar writes."""

import os
import subprocess

META_CONFIG = ("lxc.mount.auto = proc:mixed sys:ro cgroup:mixed\n"
               "lxc.signal.halt = SIGUSR1\n"
               "lxc.arch = x86_64\n"
               "# LXC_NAME in a comment, substituted as LXC does\n")


def busybox_rootfs(world, out, name="img-src", compress="J"):
    """A rootfs tarball OUT from a busybox container made by our template (with /etc/hostname
    and /etc/hosts carrying placeholders for the `templates` list)."""
    made = world.ours("lxc-create", "-n", name, "-t", "busybox")
    assert made.returncode == 0, made.stderr
    rootfs = os.path.join(world.cdir(name), "rootfs")
    with open(os.path.join(rootfs, "etc/hostname"), "w") as handle:
        handle.write("LXC_NAME\n")
    with open(os.path.join(rootfs, "etc/hosts"), "w") as handle:
        handle.write("127.0.0.1 localhost LXC_NAME\n")
    subprocess.run(["tar", "--numeric-owner", "-C", rootfs, f"-c{compress}f", out, "."],
                   check=True)
    world.ours("lxc-destroy", "-n", name)
    return out


def meta_tarball(directory, out, files):
    """A metadata tarball OUT holding FILES {name: text}."""
    os.makedirs(directory, exist_ok=True)
    for fname, text in files.items():
        with open(os.path.join(directory, fname), "w") as handle:
            handle.write(text)
    subprocess.run(["tar", "-C", directory, "-cJf", out, *files], check=True)
    return out


def standard_meta(world, out, **extra):
    files = {"config": META_CONFIG, "templates": "/etc/hostname\n/etc/hosts\n",
             "fstab": "proc proc proc nodev 0 0\n# LXC_ROOTFS\n",
             "create-message": "Welcome to LXC_NAME\n", "excludes": "./var/log\n"}
    files.update(extra)
    files = {k: v for k, v in files.items() if v is not None}
    return meta_tarball(os.path.join(world.root, "meta-" + os.path.basename(out)), out, files)
