"""Images built inside tests: a busybox rootfs tarball (from our busybox template) and
metadata tarballs, made with the system's tar so that our extractor reads what GNU tar writes."""

import os
import subprocess

META_CONFIG = ("lxc.mount.auto = proc:mixed sys:ro cgroup:mixed\n"
               "lxc.signal.halt = SIGUSR1\n"
               "lxc.arch = x86_64\n"
               "# LXC_NAME in a comment, substituted as LXC does\n")


def busybox_rootfs(world, out, name="img-src", compress="J", prepare=None):
    """A rootfs tarball OUT from a busybox container made by our template (with /etc/hostname
    and /etc/hosts carrying placeholders for the `templates` list); PREPARE(rootfs) may add
    more before it is packed (numeric owners, xattrs and holes kept)."""
    made = world.ours("lxc-create", "-n", name, "-t", "busybox")
    assert made.returncode == 0, made.stderr
    rootfs = os.path.join(world.cdir(name), "rootfs")
    with open(os.path.join(rootfs, "etc/hostname"), "w") as handle:
        handle.write("LXC_NAME\n")
    with open(os.path.join(rootfs, "etc/hosts"), "w") as handle:
        handle.write("127.0.0.1 localhost LXC_NAME\n")
    if prepare:
        prepare(rootfs)
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-S", "-C", rootfs,
                    f"-c{compress}f", out, "."], check=True)
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


# -- image-server mirrors -------------------------------------------------------------------
BUILD = "20250101_01:00"


def sha256(path):
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def gpg(home, *args, input=None):
    return subprocess.run(["gpg", "--batch", "--no-tty", "--quiet", *args], input=input,
                          env=dict(os.environ, GNUPGHOME=home), capture_output=True, check=True)


def make_key(home):
    """A throw-away signing key in HOME (short path: gpg-agent's socket lives there);
    returns its fingerprint."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    gpg(home, "--passphrase", "", "--quick-gen-key", "img test <img@test.invalid>", "ed25519",
        "sign", "never")
    out = gpg(home, "--list-keys", "--with-colons").stdout.decode()
    return [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")][0]


def sign(home, path):
    gpg(home, "--yes", "--armor", "--detach-sign", "-o", path + ".asc", path)


def add_image(root, rootfs_tar, meta_tar, dist="busybox", release="1.36", arch="amd64",
              variant="default", build=BUILD, key_home=None, sums=True):
    import shutil

    rel = f"images/{dist}/{release}/{arch}/{variant}/{build}"
    directory = os.path.join(root, rel)
    os.makedirs(directory, exist_ok=True)
    shutil.copy(rootfs_tar, os.path.join(directory, "rootfs.tar.xz"))
    shutil.copy(meta_tar, os.path.join(directory, "meta.tar.xz"))
    if sums:
        with open(os.path.join(directory, "SHA256SUMS"), "w") as handle:
            for name in ("meta.tar.xz", "rootfs.tar.xz"):
                handle.write(f"{sha256(os.path.join(directory, name))}  {name}\n")
    if key_home:
        for name in ("meta.tar.xz", "rootfs.tar.xz"):
            sign(key_home, os.path.join(directory, name))
    return (dist, release, arch, variant, build, f"/{rel}/")


def write_index(root, entries, key_home=None, name="index-system"):
    os.makedirs(os.path.join(root, "meta/1.0"), exist_ok=True)
    path = os.path.join(root, "meta/1.0", name)
    with open(path, "w") as handle:
        for entry in entries:
            handle.write(";".join(entry) + "\n")
    if key_home:
        sign(key_home, path)
    return path
