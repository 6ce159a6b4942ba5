"""lxc-create -t download against mirrors built in the test: served over HTTP inside a private
network namespace (lo only; nothing touches the host's network) and as file:// directories.
Listing, create, cache reuse, --flush-cache, expiry, new builds, SHA-256 and GPG checks
(a throw-away key), tampering, a transfer cut half way and resumed, 404s and refused
connections, arch aliases, the interactive prompts, the progress bar on a terminal."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import ours
from imagekit import (BUILD, add_image, busybox_rootfs, make_key, sign, standard_meta,
                      write_index)
from lxcenv import world  # noqa: F401  (fixture)

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageserver.py")
D = ("-d", "busybox", "-r", "1.36", "-a", "amd64")


@pytest.fixture
def files(world):
    rootfs = busybox_rootfs(world, os.path.join(world.root, "rootfs.tar.xz"))
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"))
    return rootfs, meta


@pytest.fixture
def key():
    home = tempfile.mkdtemp(prefix="img-gpg-", dir="/tmp")
    try:
        yield home, make_key(home)
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


class Netns:
    def __init__(self, world):
        self.world = world
        self.name = f"img-dl-{os.getpid()}"
        self.servers = []
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)

    def serve(self, root, port=8080, cut=None, tls=None, slow=None):
        log = os.path.join(self.world.root, f"server-{port}.log")
        argv = ["ip", "netns", "exec", self.name, sys.executable, SERVER, root, str(port), log]
        if cut:
            argv += ["--cut", cut]
        if slow:
            argv += ["--slow", slow]
        if tls:
            argv += ["--tls", *tls]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        self.servers.append(proc)
        self.log = log
        return f"http://127.0.0.1:{port}"

    def requests(self):
        with open(self.log) as handle:
            return handle.read().splitlines()

    def create(self, *args, env=None, input=None):
        argv = ["ip", "netns", "exec", self.name, ours("lxc-create"), "-P", self.world.lp, *args]
        return subprocess.run(argv, capture_output=True, text=True, env=env or self.world.env,
                              input=input, timeout=120)

    def close(self):
        for proc in self.servers:
            proc.terminate()
            proc.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture
def netns(world):
    ns = Netns(world)
    try:
        yield ns
    finally:
        ns.close()


def mirror(world, files, key_home=None, name="mirror", **image):
    root = os.path.join(world.root, name)
    entry = add_image(root, *files, key_home=key_home, **image)
    write_index(root, [entry], key_home=key_home)
    return root, entry


def cache_dir(world, arch="amd64"):
    return os.path.join(world.root, "cache", "download", "busybox", "1.36", arch, "default")


def test_list_create_cache_flush_and_expiry_over_http(world, files, netns):
    root, _ = mirror(world, files)
    other = add_image(root, *files, dist="alpine", release="3.19", arch="arm64")
    write_index(root, [("busybox", "1.36", "amd64", "default", BUILD,
                        f"/images/busybox/1.36/amd64/default/{BUILD}/"), other])
    url = netns.serve(root)

    listed = netns.create("-n", "img-dl0", "-t", "download", "--", "--server", url, "--list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[-5:] == [
        "---", "DIST\tRELEASE\tARCH\tVARIANT\tBUILD", "---",
        f"busybox\t1.36\tamd64\tdefault\t{BUILD}", "---"] or \
        f"alpine\t3.19\tarm64\tdefault\t{BUILD}" in listed.stdout
    assert "alpine\t3.19\tarm64" in listed.stdout
    assert os.listdir(world.lp) == []

    made = netns.create("-n", "img-dl1", "-t", "download", "--", *D, "--server", url)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == [
        f"WARNING: {url} is plain HTTP and no --keyid was given: the image is not authenticated",
        "Downloading the image index", "Downloading the rootfs", "Downloading the metadata",
        "The image cache is now ready", "Unpacking the rootfs", "", "---",
        "Welcome to LXC_NAME"]
    cache = cache_dir(world)
    assert sorted(os.listdir(cache)) == ["build_id", "config", "create-message", "excludes",
                                         "fstab", "rootfs.tar.xz", "templates"]
    with open(os.path.join(cache, "build_id")) as handle:
        assert handle.read() == BUILD + "\n"
    rootfs = os.path.join(world.cdir("img-dl1"), "rootfs")
    assert os.path.isfile(os.path.join(rootfs, "bin/busybox"))
    with open(os.path.join(rootfs, "etc/hostname")) as handle:
        assert handle.read() == "img-dl1\n"
    config = open(os.path.join(world.cdir("img-dl1"), "config")).read()
    assert "# Distribution configuration\nlxc.mount.auto = proc:mixed sys:ro cgroup:mixed\n" in config
    assert "lxc.uts.name = img-dl1\n\n# Network configuration\nlxc.net.0.type = empty\n" in config
    gets = [r for r in netns.requests() if "rootfs.tar.xz" in r]
    assert len(gets) == 1

    again = netns.create("-n", "img-dl2", "-t", "download", "--", *D, "--server", url)
    assert again.returncode == 0, again.stderr
    assert "Using image from local cache" in again.stdout
    assert "Downloading" not in again.stdout
    assert len([r for r in netns.requests() if "rootfs.tar.xz" in r]) == 1

    flushed = netns.create("-n", "img-dl3", "-t", "download", "--", *D, "--server", url,
                           "--flush-cache")
    assert flushed.returncode == 0, flushed.stderr
    assert "Flushing the cache...\n" in flushed.stdout and "Downloading the rootfs" in flushed.stdout
    assert len([r for r in netns.requests() if "rootfs.tar.xz" in r]) == 2

    with open(os.path.join(cache, "expiry"), "w") as handle:
        handle.write(str(int(time.time()) - 10))
    expired = netns.create("-n", "img-dl4", "-t", "download", "--", *D, "--server", url)
    assert expired.returncode == 0, expired.stderr
    assert "The cached copy has expired, re-downloading...\n" in expired.stdout
    assert "The cache is already up to date\nUsing image from local cache\n" in expired.stdout
    forced = netns.create("-n", "img-dl5", "-t", "download", "--", *D, "--server", url,
                          "--force-cache")
    assert forced.returncode == 0 and "Downloading" not in forced.stdout

    # A new build on the server replaces the cache once the old one expired.
    new = add_image(root, *files, build="20250202_02:00")
    write_index(root, [new])
    os.utime(os.path.join(cache, "expiry"))
    newer = netns.create("-n", "img-dl6", "-t", "download", "--", *D, "--server", url)
    assert newer.returncode == 0, newer.stderr
    assert "Downloading the rootfs" in newer.stdout
    with open(os.path.join(cache, "build_id")) as handle:
        assert handle.read() == "20250202_02:00\n"
    # no partial or half-installed copies left; the lock file stays (removing it would race)
    assert [n for n in os.listdir(os.path.dirname(cache)) if n.startswith(".")] == [".default.lock"]


def test_gpg_signed_file_mirror_good_and_tampered(world, files, key):
    key_home, fpr = key
    root, entry = mirror(world, files, key_home=key_home)
    server = "file://" + root
    env = dict(world.env, GNUPGHOME=key_home)
    good = world.ours("lxc-create", "-n", "img-sig1", "-t", "download", "--", *D,
                      "--server", server, "--keyid", fpr)
    assert good.returncode == 1  # the key is not in root's own keyring and no keyserver here
    assert "Unable to fetch GPG key from keyserver" in good.stderr
    good = subprocess.run([ours("lxc-create"), "-P", world.lp, "-n", "img-sig1", "-t",
                           "download", "--", *D, "--server", server, "--keyid", fpr],
                          capture_output=True, text=True, env=env)
    assert good.returncode == 0, good.stderr
    assert "WARNING" not in good.stdout

    exported = os.path.join(world.root, "key.gpg")
    with open(exported, "wb") as handle:
        handle.write(subprocess.run(["gpg", "--export", fpr], env=env, capture_output=True,
                                    check=True).stdout)
    with_ring = world.ours("lxc-create", "-n", "img-sig2", "-t", "download", "--", *D,
                           "--server", server, "--keyid", fpr, "--keyring", exported,
                           "--flush-cache")
    assert with_ring.returncode == 0, with_ring.stderr

    # Tampered rootfs (another valid tarball, one file more) with matching SHA256SUMS: only
    # the signature catches it.
    image_dir = os.path.join(root, entry[5].lstrip("/"))
    evil = os.path.join(world.root, "evil")
    os.makedirs(evil)
    subprocess.run(["tar", "-C", evil, "-xJf", files[0]], check=True)
    with open(os.path.join(evil, "etc", "backdoor"), "w") as handle:
        handle.write("tampered\n")
    subprocess.run(["tar", "--numeric-owner", "-C", evil, "-cJf",
                    os.path.join(image_dir, "rootfs.tar.xz"), "."], check=True)
    add_sums = subprocess.run(["sh", "-c", "sha256sum meta.tar.xz rootfs.tar.xz > SHA256SUMS"],
                              cwd=image_dir, check=True)
    assert add_sums.returncode == 0
    bad = world.ours("lxc-create", "-n", "img-sig3", "-t", "download", "--", *D,
                     "--server", server, "--keyid", fpr, "--keyring", exported, "--flush-cache")
    assert bad.returncode == 1
    assert f"ERROR: Invalid signature for {server}{entry[5]}rootfs.tar.xz" in bad.stderr
    assert not os.path.exists(world.cdir("img-sig3"))
    assert not os.path.exists(cache_dir(world))  # flushed, and the bad image was not cached

    # Stale sums: the checksum catches it even without a key.
    sign(key_home, os.path.join(image_dir, "rootfs.tar.xz"))
    with open(os.path.join(image_dir, "SHA256SUMS"), "w") as handle:
        handle.write("0" * 64 + "  rootfs.tar.xz\n")
    stale = world.ours("lxc-create", "-n", "img-sig4", "-t", "download", "--", *D,
                       "--server", server)
    assert stale.returncode == 1 and "checksum mismatch" in stale.stderr
    assert not os.path.exists(world.cdir("img-sig4")) and not os.path.exists(cache_dir(world))

    # --no-validate: LXC's warning, no checks at all.
    unchecked = world.ours("lxc-create", "-n", "img-sig5", "-t", "download", "--", *D,
                           "--server", server, "--no-validate")
    assert unchecked.returncode == 0, unchecked.stderr
    assert unchecked.stdout.startswith("WARNING: Running without gpg validation!\n")
    assert os.path.exists(os.path.join(world.cdir("img-sig5"), "rootfs/etc/backdoor"))

    # A cache filled without validation is not trusted by a run that names a key.
    distrust = world.ours("lxc-create", "-n", "img-sig6", "-t", "download", "--", *D,
                          "--server", server, "--keyid", fpr, "--keyring", exported)
    assert f"The cached copy was not verified with key {fpr}, re-downloading" in distrust.stdout
    assert distrust.returncode == 1 and "checksum mismatch" in distrust.stderr

    # A tampered index fails its signature too.
    index = os.path.join(root, "meta/1.0/index-system")
    with open(index, "a") as handle:
        handle.write("evil;1;amd64;default;1;/x/\n")
    badindex = world.ours("lxc-create", "-n", "img-sig6", "-t", "download", "--", *D,
                          "--server", server, "--keyid", fpr, "--keyring", exported)
    assert badindex.returncode == 1
    assert "Invalid signature for " + server + "/meta/1.0/index-system" in badindex.stderr


def test_cut_transfer_is_resumed_with_range(world, files, netns):
    root, _ = mirror(world, files)
    url = netns.serve(root, cut="rootfs.tar.xz")
    made = netns.create("-n", "img-cut", "-t", "download", "--", *D, "--server", url)
    assert made.returncode == 0, made.stderr
    gets = [r.split() for r in netns.requests() if "rootfs.tar.xz" in r]
    assert len(gets) == 2 and gets[0][2] == "-"
    size = os.path.getsize(files[0])
    assert gets[1][2] == f"bytes={size // 2}-"
    with open(os.path.join(cache_dir(world), "rootfs.tar.xz"), "rb") as a, open(files[0], "rb") as b:
        assert a.read() == b.read()


def test_killed_download_resumes_in_the_next_run(world, files, netns):
    import signal

    root, _ = mirror(world, files)
    url = netns.serve(root, slow="rootfs.tar.xz")
    argv = ["ip", "netns", "exec", netns.name, ours("lxc-create"), "-P", world.lp, "-n",
            "img-res", "-t", "download", "--", *D, "--server", url]
    proc = subprocess.Popen(argv, env=world.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    part = os.path.join(os.path.dirname(cache_dir(world)), ".default.partial",
                        "rootfs.tar.xz.part")
    deadline = time.monotonic() + 60
    while not (os.path.exists(part) and os.path.getsize(part) > 16384):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # ip netns exec execs lxc-create: this is lxc-create
    proc.wait()
    kept = os.path.getsize(part)
    assert not os.path.exists(world.cdir("img-res")) or world.ours("lxc-ls", "-1").stdout == ""
    again = netns.create("-n", "img-res", "-t", "download", "--", *D, "--server", url)
    assert again.returncode == 0, again.stderr
    gets = [r.split() for r in netns.requests() if "rootfs.tar.xz " in r]
    assert gets[-1][2].startswith("bytes=") and int(gets[-1][2][6:-1]) >= kept
    with open(os.path.join(cache_dir(world), "rootfs.tar.xz"), "rb") as a, open(files[0], "rb") as b:
        assert a.read() == b.read()
    assert world.ours("lxc-ls", "-1").stdout == "img-res\n"


def test_two_creates_at_once_download_the_image_once(world, files, netns):
    root, _ = mirror(world, files)
    url = netns.serve(root, slow="rootfs.tar.xz")
    procs = [subprocess.Popen(["ip", "netns", "exec", netns.name, ours("lxc-create"), "-P",
                               world.lp, "-n", f"img-two{i}", "-t", "download", "--", *D,
                               "--server", url], env=world.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len([r for r in netns.requests() if "rootfs.tar.xz " in r]) == 1
    assert any("The cache is already up to date" in out for out, _ in outs)
    assert world.ours("lxc-ls", "-1").stdout == "img-two1\nimg-two2\n"


def test_errors_name_their_cause_and_leave_nothing(world, files, netns):
    root, entry = mirror(world, files)
    url = netns.serve(root)
    missing = netns.create("-n", "img-e1", "-t", "download", "--", "-d", "busybx", "-r", "1.36",
                           "-a", "amd64", "--server", url)
    assert missing.returncode == 1
    assert "Couldn't find a matching image" in missing.stderr
    assert 'did you mean "busybox"' in missing.stderr
    norel = netns.create("-n", "img-e1", "-t", "download", "--", "-d", "busybox", "-r", "9",
                         "-a", "amd64", "--server", url)
    assert "no release '9' of busybox" in norel.stderr and "1.36" in norel.stderr

    os.unlink(os.path.join(root, entry[5].lstrip("/"), "meta.tar.xz"))
    gone = netns.create("-n", "img-e2", "-t", "download", "--", *D, "--server", url)
    assert gone.returncode == 1
    assert f"Failed to download {url}{entry[5]}meta.tar.xz: HTTP 404" in gone.stderr

    refused = netns.create("-n", "img-e3", "-t", "download", "--", *D,
                           "--server", "http://127.0.0.1:9")
    assert refused.returncode == 1
    assert ("Failed to download http://127.0.0.1:9/meta/1.0/index-system: connection refused"
            in refused.stderr)
    dns = netns.create("-n", "img-e4", "-t", "download", "--", *D,
                       "--server", "no-such-host.invalid")
    assert dns.returncode == 1 and "cannot resolve no-such-host.invalid" in dns.stderr
    assert os.listdir(world.lp) == []
    # the rootfs already fetched is kept for the next try, under a dot name LXC ignores
    parent = os.path.dirname(cache_dir(world))
    assert sorted(os.listdir(parent)) == [".default.lock", ".default.partial"]


def test_arch_alias_interactive_and_env(world, files, netns):
    root, _ = mirror(world, files)
    url = netns.serve(root)
    alias = netns.create("-n", "img-a1", "-t", "download", "--", "-d", "busybox", "-r", "1.36",
                         "-a", "x86_64", "--server", url)
    assert alias.returncode == 0, alias.stderr
    asked = netns.create("-n", "img-a2", "-t", "download", "--", "--server", url,
                         input="busybox\n1.36\namd64\n")
    assert asked.returncode == 0, asked.stderr
    assert "---\n\nDistribution: \nRelease: \nArchitecture: \n\n" in asked.stdout
    env = dict(world.env, DOWNLOAD_DIST="busybox", DOWNLOAD_RELEASE="1.36",
               DOWNLOAD_ARCH="amd64", DOWNLOAD_SERVER=url)
    from_env = netns.create("-n", "img-a3", "-t", "download", env=env)
    assert from_env.returncode == 0, from_env.stderr
    assert "Using image from local cache" in from_env.stdout


def test_progress_bar_on_a_terminal_only(world, files, netns):
    pexpect = pytest.importorskip("pexpect")
    root, _ = mirror(world, files)
    url = netns.serve(root)
    child = pexpect.spawn("ip", ["netns", "exec", netns.name, ours("lxc-create"), "-P",
                                 world.lp, "-n", "img-p1", "-t", "download", "--", *D,
                                 "--server", url], env=world.env, timeout=60, encoding="utf-8")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    out = child.before
    assert "rootfs.tar.xz [" in out and "%" in out and "/s" in out
    assert "Unpacking [" in out
    plain = netns.create("-n", "img-p2", "-t", "download", "--", *D, "--server", url,
                         "--flush-cache")
    assert plain.returncode == 0 and "%" not in plain.stdout + plain.stderr
    quiet = netns.create("-q", "-n", "img-p3", "-t", "download", "--", *D, "--server", url)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def _tls_cert(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.mark.oracle
def test_same_container_and_shared_cache_as_real_lxc_download(world, files, netns):
    """Real lxc-download (HTTPS only, wget) against the same mirror over TLS with a test CA:
    same messages, config and rootfs; each one then uses the cache the other one filled."""
    if not os.access("/usr/share/lxc/templates/lxc-download", os.X_OK):
        pytest.skip("Debian's lxc-templates (lxc-download) is not installed")
    from conftest import real_lxc
    from lxcenv import SANE_PATH, tree
    from test_local_template import normalise

    root, _ = mirror(world, files)
    cert, key = _tls_cert(world.root)
    netns.serve(root, port=8443, tls=(cert, key))
    server = "127.0.0.1:8443"
    home = os.path.join(world.root, "home")
    os.makedirs(home)
    with open(os.path.join(home, ".wgetrc"), "w") as handle:
        handle.write(f"ca_certificate = {cert}\n")
    real_cache = os.path.join(world.root, "real-cache")
    real_env = dict(os.environ, LANG="C", PATH=SANE_PATH, HOME=home, LXC_CACHE_PATH=real_cache)

    def real(name, cache=real_cache):
        env = dict(real_env, LXC_CACHE_PATH=cache)
        return subprocess.run(["ip", "netns", "exec", netns.name, real_lxc("lxc-create"), "-P",
                               world.real_lp, "-f", world.net_conf, "-n", name, "-t", "download",
                               "--", *D, "--server", server],
                              capture_output=True, text=True, env=env, timeout=120)

    theirs = real("img-rd")
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    untrusted = netns.create("-n", "img-rd", "-t", "download", "--", *D, "--server", server)
    assert untrusted.returncode == 1
    assert (f"Failed to download https://{server}/meta/1.0/index-system: TLS certificate not "
            "trusted" in untrusted.stderr), untrusted.stderr
    ours_env = dict(world.env, SSL_CERT_FILE=cert)
    mine = netns.create("-n", "img-rd", "-t", "download", "--", *D, "--server", server,
                        env=ours_env)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout == theirs.stdout, (mine.stdout, theirs.stdout)
    assert "The image cache is now ready" in mine.stdout
    assert (normalise(world.config("img-rd"), world, "img-rd", False)
            == normalise(world.config("img-rd", True), world, "img-rd", True))
    mine_tree, real_tree = tree(world.cdir("img-rd")), tree(world.cdir("img-rd", True))
    assert mine_tree.pop("config")[0] == real_tree.pop("config")[0]
    assert mine_tree.pop("fstab")[:4] == real_tree.pop("fstab")[:4]
    assert mine_tree == real_tree
    # the caches hold the same files
    ours_cache = cache_dir(world)
    theirs_cache = os.path.join(real_cache, "download", "busybox", "1.36", "amd64", "default")
    assert sorted(os.listdir(ours_cache)) == sorted(os.listdir(theirs_cache))

    # each uses the other's cache without downloading
    swapped = netns.create("-n", "img-rd2", "-t", "download", "--", *D, "--server", server,
                           env=dict(ours_env, LXC_CACHE_PATH=real_cache))
    assert swapped.returncode == 0, swapped.stderr
    assert "Using image from local cache" in swapped.stdout and "Downloading" not in swapped.stdout
    back = real("img-rd2", cache=os.path.join(world.root, "cache"))
    assert back.returncode == 0, back.stderr
    assert "Using image from local cache" in back.stdout and "Downloading" not in back.stdout
