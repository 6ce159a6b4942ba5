#!/usr/bin/env python3
"""Debian test hosts in a VM: build the images, boot one, run a command in it.

    vmkit.py run [--image NAME] [--disk NAME]... [--timeout S] [--quiet] -- COMMAND [ARGS...]
    vmkit.py build [--image NAME]...      build (or find in the cache) and say where
    vmkit.py check                        can a VM boot here? (exit 0, or 1 with why)
    vmkit.py tier [--image NAME]...       the VM tier of the test suite (tests/vm/tier.py)

Images are made from Debian packages only: the kernel package linux-image-amd64 depends on
(`apt-get download`, unpacked with dpkg-deb), a `debootstrap --variant=minbase` root with
the image's packages, an ext4 image made from the tree (`mkfs.ext4 -d`, no loop mount) and a
busybox initramfs that mounts it. Each lives in CACHE/images/NAME-KEY, KEY a hash of its
recipe (package list, kernel package and version, REVISION, the files baked in), so a second
run finds it at once; CACHE is $LXCTOOLS_VM_CACHE or /var/cache/lxctools-vm.

A run boots qemu (KVM only when kvm_intel or kvm_amd is loaded: this machine's /dev/kvm is a
PVM one that cannot run a stock kernel; TCG otherwise) with the image's disk snapshot=on (the
image stays pristine), no network device (-nic none), and two 9p shares: a control directory
(the script to run, the wheels, and back: stdout, stderr, status) and the checkout, mounted in
the VM at the same absolute path. Inside, lxctools and the test tools are installed from
wheels built on the host into a venv baked in the image (/opt/lxctools, on PATH first), and
COMMAND runs as root from the same directory as on the host.

Standard library only: it runs under whatever python3 the host has.
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GUEST = os.path.join(HERE, "guest")
CACHE = os.environ.get("LXCTOOLS_VM_CACHE", "/var/cache/lxctools-vm")
SUITE = "bookworm"
# Bump when the way an image is made changes in a way the package list does not show.
REVISION = 1
VENV = "/opt/lxctools"
# What the harness installs in the VM's venv beside lxctools (the wheels are built on the host).
VM_PYTHON_EXTRAS = ["pytest", "pexpect"]

# Every image: what lxctools and its tests use on a host, and what the harness needs
# (9p mounts, python3 for the venv).
BASE_PACKAGES = [
    "kmod", "iproute2", "procps", "util-linux", "python3", "python3-venv", "python3-pip",
    "busybox-static", "uidmap", "iputils-ping", "libseccomp2", "xz-utils", "zstd",
    "ca-certificates", "e2fsprogs", "rsync",
]

IMAGES = {
    # Debian 12 as installed: systemd as PID 1, cgroup2 only, AppArmor (which loads LXC's
    # profiles at boot; without it real LXC starts no container), Debian's lxc beside ours,
    # dnsmasq-base as lxc recommends (lxc-net's bridge: inside the VM only), nftables for
    # lxc-net's NAT (ours and Debian's), criu for lxc-checkpoint (ours and LXC's: CRIU fails
    # on this machine's kernel, Debian's works) with iptables, which criu 3.17 locks a
    # dumped container's network with (iptables-restore).
    "debian-systemd": {
        "init": "systemd",
        "packages": BASE_PACKAGES + [
            "systemd", "systemd-sysv", "udev", "dbus", "dbus-user-session", "libpam-systemd",
            "systemd-container", "apparmor", "lxc", "dnsmasq-base", "nftables", "criu",
            "iptables",
        ],
        "append": "systemd.unified_cgroup_hierarchy=1 systemd.show_status=error",
    },
    # Debian's openrc package with its own PID 1, openrc-init (as Gentoo can boot), cgroups
    # mounted by OpenRC's cgroups service; Debian's initscripts for what Gentoo's OpenRC
    # mounts itself (/dev/pts, /dev/shm, ...: Debian's openrc leaves that to them), installed
    # after debootstrap (which would resolve its "sysv-rc | openrc" to sysv-rc, conflicting
    # with openrc); Debian's lxc beside ours, with apparmor (Debian's kernel enables it:
    # without LXC's profiles loaded real LXC starts nothing).
    "debian-openrc": {
        "init": "openrc",
        "packages": BASE_PACKAGES + ["openrc", "sysvinit-utils", "lxc", "dnsmasq-base",
                                     "apparmor"],
        "after_debootstrap": ["initscripts"],
        "append": "init=/sbin/openrc-init",
    },
}
DEFAULT_IMAGE = "debian-systemd"

# Units that only slow a boot under emulation (masked in the systemd image).
MASKED_UNITS = [
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
    "fstrim.timer", "systemd-networkd-wait-online.service", "getty@tty1.service",
    "serial-getty@ttyS0.service", "man-db.timer", "dpkg-db-backup.timer",
]
# Module trees no test host needs: left out of the image (about half the kernel's modules).
MODULE_SKIP = ["kernel/drivers/gpu", "kernel/drivers/media", "kernel/drivers/net/wireless",
               "kernel/sound", "kernel/drivers/infiniband", "kernel/drivers/staging",
               "kernel/drivers/iio", "kernel/drivers/bluetooth", "kernel/net/bluetooth",
               "kernel/drivers/net/ethernet", "kernel/drivers/scsi"]
INITRD_MODULES = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic", "crc32c_intel"]
HOST_TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "debootstrap": "debootstrap",
              "mkfs.ext4": "e2fsprogs", "cpio": "cpio", "depmod": "kmod",
              "dpkg-deb": "dpkg", "apt-get": "apt"}
BUILD_SPACE = 3 << 30   # a build tree plus the image (measured ~1.3 GiB at the peak)
RUN_SPACE = 1 << 30     # snapshot=on writes the guest's changes to a temp file


class VMError(Exception):
    """Why a VM cannot be built or booted (shown as is, no traceback)."""


def log(message):
    print(f"vm: {message}", file=sys.stderr, flush=True)


def sh(*argv, **kwargs):
    kwargs.setdefault("check", True)
    return subprocess.run(argv, **kwargs)


# ---------------------------------------------------------------------------------------
# Can a VM boot here?

def why_not(need_build=True):
    """None when this host can build and boot the images, else the reason in a sentence."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, mkfs, the 9p shares' owners)"
    if os.uname().machine != "x86_64":
        return f"the images are amd64; this host is {os.uname().machine}"
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items()
                      if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}")})
    if missing:
        return f"missing host packages: {' '.join(missing)} (apt-get install {' '.join(missing)})"
    os.makedirs(CACHE, exist_ok=True)
    free = shutil.disk_usage(CACHE).free
    need = BUILD_SPACE if need_build else RUN_SPACE
    if free < need:
        return (f"not enough space in {CACHE}: {free >> 20} MiB free, {need >> 20} MiB needed "
                f"(set LXCTOOLS_VM_CACHE to a roomier place)")
    tmp = tempfile.gettempdir()
    if shutil.disk_usage(tmp).free < RUN_SPACE:
        return f"not enough space in {tmp} for the disk snapshot ({RUN_SPACE >> 20} MiB)"
    return None


def accelerator():
    """KVM when the host's KVM can run a stock kernel (a real vmx/svm one), else TCG."""
    if os.path.exists("/dev/kvm") and (os.path.isdir("/sys/module/kvm_intel")
                                       or os.path.isdir("/sys/module/kvm_amd")):
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg,thread=multi,tb-size=512"]


# ---------------------------------------------------------------------------------------
# The recipe and its key

def mirror():
    """The Debian mirror this host's apt uses (LXCTOOLS_VM_MIRROR overrides)."""
    if os.environ.get("LXCTOOLS_VM_MIRROR"):
        return os.environ["LXCTOOLS_VM_MIRROR"]
    found = []
    for path in ["/etc/apt/sources.list"] + sorted(
            os.path.join("/etc/apt/sources.list.d", n)
            for n in (os.listdir("/etc/apt/sources.list.d")
                      if os.path.isdir("/etc/apt/sources.list.d") else [])):
        try:
            text = open(path, encoding="utf-8").read()
        except OSError:
            continue
        # one-line style: deb [opts] URI SUITE COMPONENTS
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if m.group(2) == SUITE:
                found.append(m.group(1))
        # deb822 style: a stanza with URIs: and Suites: naming the suite
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(.+)$", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split() and \
                    not re.search(r"^Types:.*deb-src", stanza, re.M):
                found.extend(uris.group(1).split())
    for uri in found:
        if "security" not in uri:
            return uri
    return "http://deb.debian.org/debian"


def kernel_package():
    """(package, version) of the kernel image linux-image-amd64 depends on, as apt sees it."""
    out = sh("apt-cache", "show", "--no-all-versions", "linux-image-amd64",
             capture_output=True, text=True, check=False).stdout
    m = re.search(r"^Depends:.*?(linux-image-[0-9][^\s,]*-amd64)\s*\(=\s*([^)\s]+)\)", out, re.M)
    if not m:
        raise VMError("apt knows no linux-image-amd64: run apt-get update")
    return m.group(1), m.group(2)


def guest_files():
    return sorted(os.listdir(GUEST))


def recipe(name):
    spec = IMAGES[name]
    pkg, version = kernel_package()
    digest = hashlib.sha256()
    for file in guest_files():
        with open(os.path.join(GUEST, file), "rb") as handle:
            digest.update(file.encode() + b"\0" + handle.read() + b"\0")
    # and the code that makes an image: a change to it is a new recipe without a REVISION bump
    import inspect
    for function in (_build_into, _customize, _initramfs, _skip_modules, _put, _chroot,
                     _first_boot):
        digest.update(inspect.getsource(function).encode())
    wheels = sorted(n for n in os.listdir(dependency_wheels()) if n.endswith(".whl"))
    return {"image": name, "suite": SUITE, "init": spec["init"], "wheels": wheels,
            "packages": sorted(spec["packages"]),
            "after_debootstrap": spec.get("after_debootstrap", []),
            "kernel": [pkg, version],
            "revision": REVISION, "masked": MASKED_UNITS, "module_skip": MODULE_SKIP,
            "initrd_modules": INITRD_MODULES, "venv": VENV, "build_code": digest.hexdigest()}


def recipe_key(rec):
    text = json.dumps(rec, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:16]


# ---------------------------------------------------------------------------------------
# Building

class Lock:
    """flock on a file in the cache: one build of an image at a time, across processes."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another build ({self.path})")
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def kernel_tree(pkg, version):
    """CACHE/kernel/PKG_VERSION: the package unpacked (boot/vmlinuz-*, lib/modules/*)."""
    tree = os.path.join(CACHE, "kernel", f"{pkg}_{version}")
    if os.path.exists(os.path.join(tree, ".done")):
        return tree
    os.makedirs(os.path.dirname(tree), exist_ok=True)
    with Lock(tree + ".lock"):
        if os.path.exists(os.path.join(tree, ".done")):
            return tree
        shutil.rmtree(tree, ignore_errors=True)
        work = tempfile.mkdtemp(prefix="kernel.", dir=os.path.dirname(tree))
        try:
            log(f"downloading {pkg}={version}")
            # _apt cannot write into root's 0700 temp dirs: download as root (apt warns)
            got = sh("apt-get", "download", f"{pkg}={version}", cwd=work, check=False,
                     capture_output=True, text=True)
            debs = [n for n in os.listdir(work) if n.endswith(".deb")]
            if got.returncode != 0 or not debs:
                raise VMError(f"apt-get download {pkg}={version} failed: "
                              f"{got.stderr.strip()[-300:]}")
            sh("dpkg-deb", "-x", os.path.join(work, debs[0]), os.path.join(work, "root"))
            release = pkg[len("linux-image-"):]
            sh("depmod", "-b", os.path.join(work, "root"), release)
            os.rename(os.path.join(work, "root"), tree)
            open(os.path.join(tree, ".done"), "w").close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tree


def image_dir(name, key):
    return os.path.join(CACHE, "images", f"{name}-{key}")


def build(name):
    """The image NAME (built now unless the cache has its recipe): its directory."""
    if name not in IMAGES:
        raise VMError(f"unknown image {name!r}: one of {', '.join(IMAGES)}")
    rec = recipe(name)
    key = recipe_key(rec)
    final = image_dir(name, key)
    if os.path.exists(os.path.join(final, "recipe.json")):
        return final
    reason = why_not(need_build=True)
    if reason:
        raise VMError(reason)
    os.makedirs(os.path.join(CACHE, "images"), exist_ok=True)
    with Lock(os.path.join(CACHE, "images", f".{name}.lock")):
        if os.path.exists(os.path.join(final, "recipe.json")):
            return final
        started = time.monotonic()
        kernel = kernel_tree(*rec["kernel"])
        work = tempfile.mkdtemp(prefix=f".build-{name}-", dir=os.path.join(CACHE, "images"))
        try:
            _build_into(work, name, rec, kernel)
            os.rename(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        elapsed = time.monotonic() - started
        with open(os.path.join(final, "build-seconds"), "w") as handle:
            handle.write(f"{elapsed:.1f}\n")
        log(f"built {name} in {elapsed:.0f} s: {final}")
        # older recipes of this image go: the cache holds one of each
        for old in os.listdir(os.path.join(CACHE, "images")):
            if old.startswith(f"{name}-") and old != os.path.basename(final) and \
                    len(old) == len(name) + 17:
                shutil.rmtree(os.path.join(CACHE, "images", old), ignore_errors=True)
    return final


def _build_into(work, name, rec, kernel):
    spec = IMAGES[name]
    root = os.path.join(work, "root")
    pkg, _version = rec["kernel"]
    release = pkg[len("linux-image-"):]
    debs = os.path.join(CACHE, "debs")
    os.makedirs(debs, exist_ok=True)
    log(f"debootstrap {SUITE} for {name} (a few minutes)")
    # a private mount namespace: debootstrap's /proc and /sys mounts in the tree go with it
    got = sh("unshare", "-m", "--propagation", "private", "debootstrap", "--variant=minbase",
             f"--cache-dir={debs}", "--include=" + ",".join(rec["packages"]), SUITE, root,
             mirror(), check=False, capture_output=True, text=True)
    if got.returncode != 0:
        tail = (got.stdout + got.stderr).strip().splitlines()[-15:]
        raise VMError("debootstrap failed:\n  " + "\n  ".join(tail))
    if rec["after_debootstrap"]:
        # fetched by the host's apt, installed by dpkg inside: its dependencies are there
        os.makedirs(os.path.join(root, "tmp/late"))
        got = sh("apt-get", "download", *rec["after_debootstrap"], cwd=os.path.join(root, "tmp/late"),
                 check=False, capture_output=True, text=True)
        if got.returncode != 0:
            raise VMError(f"apt-get download {' '.join(rec['after_debootstrap'])} failed: "
                          f"{got.stderr.strip()[-300:]}")
        _chroot(root, "DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/late/*.deb >/dev/null\n"
                      "rm -rf /tmp/late")
    # the kernel's modules (less what no test host uses), indexed for this tree
    modules = os.path.join(root, "lib/modules", release)
    shutil.copytree(os.path.join(kernel, "lib/modules", release), modules, symlinks=True,
                    ignore=_skip_modules(os.path.join(kernel, "lib/modules", release)))
    sh("depmod", "-b", root, release)
    _customize(root, spec)
    image = os.path.join(work, "rootfs.ext4")
    # 3 GiB sparse: room for containers inside; snapshot=on never writes it back
    sh("mkfs.ext4", "-q", "-F", "-L", "lxctools-vm", "-E", "root_owner=0:0", "-d", root,
       image, "3G", stdout=subprocess.DEVNULL)
    shutil.copy(os.path.join(kernel, "boot", f"vmlinuz-{release}"), os.path.join(work, "vmlinuz"))
    _initramfs(work, root, release)
    shutil.rmtree(root)
    _first_boot(work, name)
    with open(os.path.join(work, "recipe.json"), "w") as handle:
        json.dump(rec, handle, indent=1, sort_keys=True)


def _first_boot(work, name):
    """Boot the new image once, writing to it: what a first boot does once (AppArmor compiles
    LXC's profiles into its cache: 20 s of every boot under TCG otherwise) is done, as on a
    host that has booted before. Nothing to run: the runner waits for the boot, powers off."""
    log(f"first boot of {name}")
    ctl = os.path.join(work, "first-boot")
    os.mkdir(ctl)
    try:
        result = _boot(qemu_argv(work, name, ctl, snapshot=False), ctl, 900, stream=False)
        state = ""
        try:
            state = open(os.path.join(ctl, "boot-state")).read().strip()
        except OSError:
            pass
        if state != "running":
            tail = "\n    ".join(result.console.strip().splitlines()[-25:])
            raise VMError(f"the first boot of {name} did not reach 'running' "
                          f"({state or 'no answer'}):\n    {tail}")
    finally:
        shutil.rmtree(ctl, ignore_errors=True)


def _skip_modules(base):
    def ignore(directory, names):
        rel = os.path.relpath(directory, base)
        return [n for n in names if os.path.normpath(os.path.join(rel, n)) in MODULE_SKIP]
    return ignore


def _put(root, path, source=None, *, text=None, mode=0o644):
    dest = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if source:
        shutil.copyfile(os.path.join(GUEST, source), dest)
    else:
        with open(dest, "w") as handle:
            handle.write(text)
    os.chmod(dest, mode)


def _chroot(root, script):
    got = sh("unshare", "-m", "--propagation", "private", "chroot", root, "/bin/sh", "-ec",
             script, check=False, capture_output=True, text=True,
             env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"})
    if got.returncode != 0:
        raise VMError(f"in the image's chroot: {script.splitlines()[0]}...: "
                      f"{(got.stdout + got.stderr).strip()[-500:]}")
    return got.stdout


def _customize(root, spec):
    init = spec["init"]
    _put(root, "/etc/hostname", text="lxctools-vm\n")
    _put(root, "/etc/hosts", text="127.0.0.1 localhost\n127.0.1.1 lxctools-vm\n")
    _put(root, "/etc/fstab", text="/dev/vda / ext4 rw,relatime 0 1\n")
    _put(root, "/etc/lxctools-vm/init", text=init + "\n")
    _put(root, "/etc/modprobe.d/lxctools-vm.conf", "modprobe.conf")
    _put(root, "/usr/local/sbin/lxctools-vm-run", "lxctools-vm-run", mode=0o755)
    # root without a password on the console (the VM has no network; for debugging by hand)
    _chroot(root, "passwd -d root >/dev/null")
    # the venv the harness installs lxctools into, with its dependencies and the test tools
    # (made natively here: a venv and these installs take minutes under TCG)
    shutil.copytree(dependency_wheels(), os.path.join(root, "tmp/wheels"))
    _chroot(root, f"python3 -m venv {VENV}\n"
                  f"{VENV}/bin/pip install -q --disable-pip-version-check --no-index "
                  f"--find-links /tmp/wheels {' '.join(_project_dependencies() + VM_PYTHON_EXTRAS)}\n"
                  "rm -rf /tmp/wheels")
    if init == "systemd":
        _put(root, "/etc/systemd/system/lxctools-vm.service", "lxctools-vm.service")
        _put(root, "/etc/systemd/journald.conf.d/lxctools-vm.conf",
             text="[Journal]\nStorage=volatile\n")
        _chroot(root, "systemctl enable lxctools-vm.service\n"
                      "systemctl mask " + " ".join(MASKED_UNITS))
    elif init == "openrc":
        _put(root, "/etc/init.d/lxctools-vm", "lxctools-vm.openrc", mode=0o755)
        # what a booted OpenRC host has in its runlevels (Debian's package leaves them empty
        # of its own services: its LSB scripts come through insserv)
        _chroot(root, "rc-update add lxctools-vm default\n"
                      "rc-update add cgroups sysinit\n")
    else:
        raise VMError(f"unknown init {init}")


def _initramfs(work, root, release):
    tree = os.path.join(work, "initrd")
    for d in ("bin", "proc", "sys", "dev", "newroot", "lib/modules"):
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    shutil.copy(os.path.join(root, "bin/busybox"), os.path.join(tree, "bin/busybox"))
    _put(tree, "/init", "init", mode=0o755)
    order = []
    for module in INITRD_MODULES:
        out = sh("modprobe", "-d", root, "-S", release, "--show-depends", module,
                 capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            words = line.split()
            if words[:1] == ["insmod"]:
                path = words[1]
                rel = "lib/modules/" + os.path.basename(path)
                if rel not in order:
                    shutil.copy(path, os.path.join(tree, rel))
                    order.append(rel)
    with open(os.path.join(tree, "modules.order"), "w") as handle:
        handle.write("".join(f"/{rel}\n" for rel in order))
    names = sh("sh", "-c", "find . | sort", cwd=tree, capture_output=True).stdout
    cpio = sh("cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", cwd=tree, input=names,
              capture_output=True).stdout
    import gzip
    with gzip.open(os.path.join(work, "initrd.gz"), "wb", compresslevel=6) as handle:
        handle.write(cpio)
    shutil.rmtree(tree)


# ---------------------------------------------------------------------------------------
# Wheels for the VM (it has no network)

def dependency_wheels():
    """CACHE/wheels/KEY: lxctools' dependencies and VM_PYTHON_EXTRAS (and theirs) as wheels,
    built on the host once (the VM has no network); baked into the images' venv."""
    deps = _project_dependencies() + VM_PYTHON_EXTRAS
    key = hashlib.sha256("\n".join(sorted(deps)).encode()).hexdigest()[:12]
    cached = os.path.join(CACHE, "wheels", key)
    if os.path.exists(os.path.join(cached, ".done")):
        return cached
    os.makedirs(cached, exist_ok=True)
    with Lock(cached + ".lock"):
        if not os.path.exists(os.path.join(cached, ".done")):
            got = sh(sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
                     "-w", cached, *deps, check=False, capture_output=True, text=True)
            if got.returncode != 0:
                raise VMError(f"pip wheel {' '.join(deps)} failed: {got.stderr.strip()[-500:]}")
            open(os.path.join(cached, ".done"), "w").close()
    return cached


def lxctools_wheel(into):
    """The checkout as a wheel in INTO (built afresh for every run)."""
    os.makedirs(into, exist_ok=True)
    got = sh(sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
             "--no-deps", "-w", into, REPO, check=False, capture_output=True, text=True)
    if got.returncode != 0:
        raise VMError(f"building the lxctools wheel failed: {got.stderr.strip()[-500:]}")


def _project_dependencies():
    try:
        import tomllib
    except ImportError:  # before 3.11: read the list by hand
        text = open(os.path.join(REPO, "pyproject.toml")).read()
        block = re.search(r"^dependencies = \[(.*?)\]", text, re.M | re.S).group(1)
        return re.findall(r'"([^"]+)"', block)
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


# ---------------------------------------------------------------------------------------
# Running

class Result:
    def __init__(self, status, stdout, stderr, timings, console, timed_out=False):
        self.status = status          # the command's exit status, None if it never ended
        self.stdout = stdout
        self.stderr = stderr
        self.timings = timings        # {"boot_to_script": s, "total": s, ...}
        self.console = console        # the serial console's text
        self.timed_out = timed_out


def _prepare():
    """What the VM's runner does while the boot goes on: mount the checkout at the same path
    and install lxctools."""
    q = shlex.quote
    return f"""\
set -e
mkdir -p {q(REPO)}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 src {q(REPO)}
# once per run (a reboot keeps the disk): the dependencies are in the image already
if [ ! -e {VENV}/.lxctools-installed ]; then
    {VENV}/bin/pip install -q --disable-pip-version-check --no-index --no-deps \\
        /run/lxctools-vm/wheels/lxctools-*.whl
    touch {VENV}/.lxctools-installed
fi
# the kernel's config where its package puts it on a real host (lxc-checkconfig reads it);
# given per run so that the images' recipe stays as it is
release=$(uname -r)
[ -e /boot/config-$release ] || cp /run/lxctools-vm/kernel-config /boot/config-$release
"""


def _script(argv, cwd, env):
    """What the VM's runner executes once booted: ARGV, in CWD, with our venv first on PATH."""
    q = shlex.quote
    exports = "".join(f"export {k}={q(v)}\n" for k, v in sorted(env.items()))
    return f"""\
ctl=/run/lxctools-vm
if [ "$(cat $ctl/prepare-status)" != 0 ]; then
    echo "vm: setting up the VM failed:" >&2
    cat $ctl/prepare.log >&2
    exit 125
fi
cut -d' ' -f1 /proc/uptime > $ctl/command-started.$LXCTOOLS_VM_BOOT
export PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 HOME=/root
{exports}cd {q(cwd)}
exec {shlex.join(argv)}
"""


def qemu_argv(directory, image, ctl, snapshot=True, memory="2G", cpus=2, reboots=False,
              disks=()):
    """qemu's command line: IMAGE's files in DIRECTORY, the control share CTL (and the
    checkout), the serial console into CTL/console.log, no network device. REBOOTS: a guest
    reboot restarts the machine (the disk snapshot lives on) instead of ending qemu. DISKS:
    more disk images, attached after the root one (/dev/vdb, /dev/vdc, ...), snapshot=on."""
    spec = IMAGES[image]
    console = os.path.join(ctl, "console.log")
    verbose = bool(os.environ.get("LXCTOOLS_VM_VERBOSE"))
    quiet = "" if verbose else "quiet loglevel=4 "
    cmdline = f"root=/dev/vda rw console=ttyS0 panic=-1 {quiet}lxctools.vm {spec['append']}"
    if verbose:
        cmdline = cmdline.replace("systemd.show_status=error", "systemd.show_status=yes")
        log(f"serial console: {console}")
    return ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none",
            *([] if reboots else ["-no-reboot"]), *accelerator(), "-m", memory, "-smp", str(cpus),
            "-kernel", os.path.join(directory, "vmlinuz"),
            "-initrd", os.path.join(directory, "initrd.gz"), "-append", cmdline,
            # snapshot=on: the guest's writes go to a temp file, the image stays pristine
            "-drive", f"file={os.path.join(directory, 'rootfs.ext4')},format=raw,if=virtio,"
                      f"snapshot={'on' if snapshot else 'off'},cache=unsafe",
            "-virtfs", f"local,path={ctl},mount_tag=ctl,security_model=passthrough,id=ctl",
            "-virtfs", f"local,path={REPO},mount_tag=src,security_model=passthrough,id=src",
            # snapshot=on here too: the guest may mount them read-write (a journal replay), the
            # image (another VM's root) never changes
            *[arg for disk in disks for arg in (
                "-drive", f"file={disk},format=raw,if=virtio,snapshot=on,cache=unsafe")],
            "-device", "virtio-rng-pci",
            "-chardev", f"file,id=con,path={console}", "-serial", "chardev:con",
            # no network device: the VM is sealed (nothing is made on the host's network)
            "-nic", "none"]


def run(argv, image=DEFAULT_IMAGE, timeout=1800, stream=True, env=None, cwd=None,
        memory="2G", cpus=2, boots=1, disks=()):
    """Boot IMAGE, run ARGV as root inside (cwd: CWD, default the caller's directory when it
    is in the checkout, else the checkout), power off. Returns a Result; never leaves qemu
    running. STREAM copies the command's output to ours as it comes. BOOTS > 1 lets ARGV ask
    for a reboot (touch /run/lxctools-vm/reboot) up to BOOTS - 1 times: each boot runs ARGV
    again with LXCTOOLS_VM_BOOT=N; the status is the first failing boot's. DISKS: names of
    other images whose root disk the VM gets too, in that order from /dev/vdb on (built if
    need be); ARGV finds them in LXCTOOLS_VM_DISKS ("NAME=/dev/vdb NAME=/dev/vdc")."""
    reason = why_not(need_build=False)
    if reason:
        raise VMError(reason)
    directory = build(image)
    extra = [os.path.join(build(name), "rootfs.ext4") for name in disks]
    env = dict(env or {})
    if disks:
        env["LXCTOOLS_VM_DISKS"] = " ".join(f"{name}=/dev/vd{chr(ord('b') + i)}"
                                            for i, name in enumerate(disks))
    cwd = cwd or os.getcwd()
    if not (cwd == REPO or cwd.startswith(REPO + "/")):
        cwd = REPO
    os.makedirs(os.path.join(CACHE, "runs"), exist_ok=True)
    ctl = tempfile.mkdtemp(prefix=f"{image}.", dir=os.path.join(CACHE, "runs"))
    try:
        lxctools_wheel(os.path.join(ctl, "wheels"))
        with open(os.path.join(directory, "recipe.json")) as handle:
            pkg, version = json.load(handle)["kernel"]
        shutil.copy(os.path.join(kernel_tree(pkg, version), "boot",
                                 f"config-{pkg[len('linux-image-'):]}"),
                    os.path.join(ctl, "kernel-config"))
        for name, text in (("prepare", _prepare()), ("script", _script(argv, cwd, env)),
                           ("max-boots", f"{boots}\n")):
            with open(os.path.join(ctl, name), "w") as handle:
                handle.write(text)
        qemu = qemu_argv(directory, image, ctl, memory=memory, cpus=cpus, reboots=boots > 1,
                         disks=extra)
        return _boot(qemu, ctl, timeout, stream)
    finally:
        shutil.rmtree(ctl, ignore_errors=True)


def _die_with_parent():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: qemu never outlives us


def _interrupt(*_):
    raise KeyboardInterrupt


def _boot(qemu, ctl, timeout, stream):
    files = {name: os.path.join(ctl, name) for name in ("stdout", "stderr")}
    offsets = {"stdout": 0, "stderr": 0}
    sinks = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    collected = {"stdout": bytearray(), "stderr": bytearray()}

    def pump():
        for name in ("stdout", "stderr"):
            try:
                with open(files[name], "rb") as handle:
                    handle.seek(offsets[name])
                    data = handle.read()
            except FileNotFoundError:
                continue
            if data:
                offsets[name] += len(data)
                collected[name] += data
                if stream:
                    sinks[name].write(data)
                    sinks[name].flush()

    started = time.monotonic()
    timings = {}
    timed_out = False
    # SIGTERM (CI's timeout, a kill of ./setup) ends qemu too: through the finally below
    previous = signal.signal(signal.SIGTERM, _interrupt)
    proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    try:
        while proc.poll() is None:
            pump()
            if "boot_to_script" not in timings and \
                    os.path.exists(os.path.join(ctl, "command-started.1")):
                timings["boot_to_script"] = round(time.monotonic() - started, 1)
            if time.monotonic() - started > timeout:
                timed_out = True
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        signal.signal(signal.SIGTERM, previous)
    qemu_out = proc.stdout.read().decode(errors="replace")
    pump()
    timings["total"] = round(time.monotonic() - started, 1)
    for name in ("script-started.1", "command-started.1"):
        try:
            key = "uptime_at_" + name[:-2].replace("-", "_")
            timings[key] = float(open(os.path.join(ctl, name)).read())
        except (OSError, ValueError):
            pass
    status = None
    try:
        boots = int(open(os.path.join(ctl, "boots")).read())
    except (OSError, ValueError):
        boots = 0
    timings["boots"] = boots
    for boot in range(1, boots + 1):
        try:
            code = int(open(os.path.join(ctl, f"status.{boot}")).read())
        except (OSError, ValueError):
            status = None  # a boot that never ended its script: no answer
            break
        if status in (None, 0):
            status = code
    try:
        console = open(os.path.join(ctl, "console.log"), errors="replace").read()
    except OSError:
        console = ""
    if qemu_out.strip():
        console += "\n[qemu] " + qemu_out
    return Result(status, bytes(collected["stdout"]).decode(errors="replace"),
                  bytes(collected["stderr"]).decode(errors="replace"), timings, console,
                  timed_out)


def report_failure(result, image, timeout):
    """Say why a run has no exit status, with the end of the serial console."""
    if result.timed_out:
        log(f"{image}: no result within {timeout} s: qemu stopped")
    else:
        log(f"{image}: the VM stopped without the command's exit status")
    path = os.path.join(CACHE, f"last-console-{image}.log")
    with open(path, "w") as handle:
        handle.write(result.console)
    tail = result.console.strip().splitlines()[-20:]
    log("serial console (end; all of it in " + path + "):\n    " + "\n    ".join(tail))


# ---------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog="vmkit.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p_run = sub.add_parser("run", help="run a command in a fresh boot")
    p_run.add_argument("--image", default=DEFAULT_IMAGE, choices=sorted(IMAGES))
    p_run.add_argument("--timeout", type=float, default=3600)
    p_run.add_argument("--quiet", action="store_true", help="no timings on stderr")
    p_run.add_argument("--boots", type=int, default=1,
                       help="allow COMMAND to reboot the VM (touch /run/lxctools-vm/reboot) "
                            "and run again, up to this many boots in all")
    p_run.add_argument("--disk", action="append", default=[], choices=sorted(IMAGES),
                       help="attach this image's root disk too (/dev/vdb, ...; snapshot=on), "
                            "named in $LXCTOOLS_VM_DISKS inside")
    p_run.add_argument("command", nargs=argparse.REMAINDER)
    p_build = sub.add_parser("build", help="build the images (or find them in the cache)")
    p_build.add_argument("--image", action="append", choices=sorted(IMAGES))
    sub.add_parser("check", help="can a VM boot here?")
    sub.add_parser("tier", help="the VM tier of the test suite (tests/vm/tier.py)",
                   add_help=False)
    args, rest = parser.parse_known_args(argv)
    if rest and args.action != "tier":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.action == "tier":
            import tier
            return tier.main(rest)
        if args.action == "check":
            reason = why_not(need_build=not _all_built())
            if reason:
                print(reason)
                return 1
            print("ok")
            return 0
        if args.action == "build":
            for name in args.image or sorted(IMAGES):
                print(build(name))
            return 0
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("no command: vmkit.py run [--image NAME] -- COMMAND [ARGS...]")
        result = run(command, image=args.image, timeout=args.timeout, boots=args.boots,
                     disks=args.disk)
        if result.status is None:
            report_failure(result, args.image, args.timeout)
            return 124 if result.timed_out else 125
        if not args.quiet:
            log(f"{args.image}: exit {result.status}; qemu start to command "
                f"{result.timings.get('boot_to_script', '?')} s, whole run "
                f"{result.timings['total']} s")
        return result.status
    except VMError as error:
        log(str(error))
        return 125
    except KeyboardInterrupt:
        log("interrupted")
        return 130


def _all_built():
    try:
        return all(os.path.exists(os.path.join(image_dir(n, recipe_key(recipe(n))), "recipe.json"))
                   for n in IMAGES)
    except VMError:
        return False


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
