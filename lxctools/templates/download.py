"""The download template, native: images from an image server (images.linuxcontainers.org or
any mirror speaking its protocol), cached, verified, safely unpacked (lxc-behaviour.md 3.2).

    lxc-create -n NAME -t download -- -d DIST -r RELEASE -a ARCH [--variant V] [--server S]
        [--keyid ID [--keyring FILE] [--keyserver KS] | --no-validate]
        [--flush-cache | --force-cache] [-l|--list]

Same options, messages, cache layout (`/var/cache/lxc/download/DIST/RELEASE/ARCH/VARIANT`,
`~/.cache/lxc` for an lxc.idmap container, `LXC_CACHE_PATH` overrides: real LXC and we share
it), build id and expiry handling as LXC's lxc-download, plus: `--server` also takes
`http://HOST[:PORT]` and `file:///DIR` mirrors; every file is checked against the image's
SHA256SUMS when the server publishes one; with `--keyid` (or `--keyring`) the index, rootfs
and metadata must carry a good `.asc` signature by that key (LXC's pre-5.0 protocol); downloads
resume, show progress on a terminal, and name their cause when they fail; `--list` exits 0;
architectures are aliased (x86_64 = amd64, aarch64 = arm64, ...).
Defaults come from DOWNLOAD_DIST, DOWNLOAD_RELEASE, DOWNLOAD_ARCH, DOWNLOAD_VARIANT,
DOWNLOAD_SERVER, DOWNLOAD_KEYID, DOWNLOAD_KEYSERVER and DOWNLOAD_KEYRING when set.
"""

import os
import sys

from ..errors import LxcError
from ..paths import SYSTEM_CACHE, home

COMPAT_LEVEL = 7
DEFAULT_SERVER = "images.linuxcontainers.org"
KEY_MARK = ".lxctools-verified-key"  # in a cache dir: the key its files were checked with

USAGE = """LXC container image downloader (lxctools native)

Special arguments:
[ -h | --help ]: Print this help message and exit
[ -l | --list ]: List all available images and exit

Required arguments:
[ -d | --dist <distribution> ]: The name of the distribution
[ -r | --release <release> ]: Release name/version
[ -a | --arch <architecture> ]: Architecture of the container

Optional arguments:
[ --variant <variant> ]: Variant of the image (default: "default")
[ --server <server> ]: Image server (default: "images.linuxcontainers.org");
                       also http://HOST[:PORT] or file:///DIR for mirrors
[ --keyid <keyid> ]: GPG key the image files must be signed with (validation on)
[ --keyring <file> ]: Take that key from this keyring file (no keyserver needed)
[ --keyserver <keyserver> ]: GPG keyserver to retrieve the key from
[ --no-validate ]: Disable GPG validation and the checksum check (not recommended)
[ --flush-cache ]: Flush the local copy (if present)
[ --force-cache ]: Force the use of the local copy even if expired

LXC internal arguments (do not pass manually!):
[ --name <name> ]: The container name
[ --path <path> ]: The path to the container
[ --rootfs <rootfs> ]: The path to the container's rootfs
[ --mapped-uid <map> ]: A uid map (user namespaces)
[ --mapped-gid <map> ]: A gid map (user namespaces)
"""

LONG = ["dist=", "release=", "arch=", "help", "list", "variant=", "server=", "keyid=",
        "keyring=", "keyserver=", "no-validate", "flush-cache", "force-cache", "verbose",
        "name=", "path=", "rootfs=", "mapped-uid=", "mapped-gid="]


def usage():
    return USAGE


class Options:
    def __init__(self):
        env = os.environ
        self.dist = env.get("DOWNLOAD_DIST") or None
        self.release = env.get("DOWNLOAD_RELEASE") or None
        self.arch = env.get("DOWNLOAD_ARCH") or None
        self.variant = env.get("DOWNLOAD_VARIANT") or "default"
        self.server = env.get("DOWNLOAD_SERVER") or DEFAULT_SERVER
        self.keyid = env.get("DOWNLOAD_KEYID") or None
        self.keyserver = env.get("DOWNLOAD_KEYSERVER") or None
        self.keyring = env.get("DOWNLOAD_KEYRING") or None
        self.validate = True
        self.flush = self.force = self.list = False
        self.rootfs = None


def parse_args(argv):
    from .local import parse_args as getopt_args

    opts, _rest = getopt_args(argv, "d:r:a:hl", LONG, "download")
    o = Options()
    for key, value in opts:
        if key in ("-h", "--help"):
            o.help = True
            return o
        if key in ("-d", "--dist"):
            o.dist = value
        elif key in ("-r", "--release"):
            o.release = value
        elif key in ("-a", "--arch"):
            o.arch = value
        elif key == "--variant":
            o.variant = value
        elif key == "--server":
            o.server = value
        elif key == "--keyid":
            o.keyid = value
        elif key == "--keyring":
            o.keyring = value
        elif key == "--keyserver":
            o.keyserver = value
        elif key == "--no-validate":
            o.validate = False
        elif key == "--flush-cache":
            o.flush = True
        elif key == "--force-cache":
            o.force = True
        elif key in ("-l", "--list"):
            o.list = True
        elif key == "--rootfs":
            o.rootfs = value
    return o


def _component(what, value):
    """A cache path component: no slashes, no dot names (a release of "../.." must not make
    --flush-cache remove something else)."""
    if not value or "/" in value or value in (".", "..") or "\0" in value:
        raise LxcError(f"ERROR: invalid {what} {value!r}",
                       hint="names on the image server contain no '/'")
    return value


def cache_base(mode):
    override = os.environ.get("LXC_CACHE_PATH")
    if override:
        return override
    if mode == "system" and os.geteuid() == 0:
        return SYSTEM_CACHE
    return os.path.join(home(), ".cache/lxc")


class Session:
    """One run of the template: options, mode, server, temp dir, verifier."""

    def __init__(self, ctx, o, tmp):
        from ..images import fetch, meta

        self.ctx = ctx
        self.o = o
        self.tmp = tmp
        self.mode = meta.image_mode(ctx.config.conf)
        self.base = fetch.server_base(o.server)
        self.verifier = None

    def say(self, text):
        self.ctx.say(text)

    def url(self, path):
        from ..images import fetch

        return fetch.join(self.base, path)

    def setup_validation(self):
        from ..images import gpg

        o = self.o
        if not o.validate:
            self.say("WARNING: Running without gpg validation!")
            return
        if o.keyid or o.keyring:
            import tempfile

            # A short path: gpg's agent sockets live in its home (108-byte limit).
            self.verifier = gpg.Verifier(o.keyid or gpg.DEFAULT_KEYID,
                                         tempfile.mkdtemp(prefix="lxctools-gpg."))
            self.verifier.obtain(keyring=o.keyring, keyserver=o.keyserver, say=self.say)
        elif self.base.startswith("http://"):
            self.say(f"WARNING: {self.base} is plain HTTP and no --keyid was given: "
                     "the image is not authenticated")

    def signed(self, url, path, what):
        """Check PATH (downloaded from URL) against URL.asc when validating."""
        if self.verifier is None:
            return
        from ..images import fetch

        asc = path + ".asc"
        try:
            fetch.download(url + ".asc", asc, resume=False)
        except fetch.FetchError as exc:
            if exc.status == 404:
                raise LxcError(f"ERROR: Invalid signature for {what}",
                               hint=f"the server has no {url}.asc") from None
            raise
        try:
            self.verifier.verify(path, asc, what)
        finally:
            os.unlink(asc)

    def index(self):
        from ..images import fetch, index

        self.say("Downloading the image index")
        target = os.path.join(self.tmp, "index")
        name = f"meta/1.0/index-{self.mode}"
        for suffix in (f".{COMPAT_LEVEL}", ""):
            url = self.url(name + suffix)
            try:
                fetch.download(url, target, resume=False)
            except fetch.FetchError:
                if suffix:
                    continue  # LXC falls back to the unversioned index on any failure
                raise
            break
        self.signed(url, target, url)
        with open(target, encoding="utf-8", errors="replace") as handle:
            return index.parse(handle.read())


def create(ctx, argv):
    import tempfile
    import shutil

    o = parse_args(argv)
    if getattr(o, "help", False):
        ctx.say(USAGE)
        raise LxcError("template help shown: nothing was created")
    if o.rootfs:
        ctx.rootfs = o.rootfs
    # In the container's directory, so that even a kill -9 leaves nothing elsewhere.
    tmp = tempfile.mkdtemp(prefix=".download.", dir=ctx.path)
    session = None
    try:
        session = Session(ctx, o, tmp)
        session.setup_validation()
        _run(session)
    finally:
        if session is not None and session.verifier is not None:
            session.verifier.close()
            shutil.rmtree(session.verifier.home, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _run(s):
    from ..images import index, meta

    o, ctx = s.o, s.ctx
    images = None
    if o.list or not (o.dist and o.release and o.arch):
        images = s.index()
        for line in index.listing(images, o.dist, o.release, o.arch, o.variant):
            ctx.say(line)
        if o.list:
            raise LxcError("image list shown: no container was created", exit_code=0)
        ctx.say("")
        o.dist = o.dist or _ask(ctx, "Distribution: ")
        o.release = o.release or _ask(ctx, "Release: ")
        o.arch = o.arch or _ask(ctx, "Architecture: ")
        ctx.say("")
    dist = _component("distribution", o.dist)
    release = _component("release", o.release)
    arch = _component("architecture", index.canonical_arch(o.arch))
    variant = _component("variant", o.variant)
    cache = os.path.join(cache_base(s.mode), "download", dist, release, arch, variant)

    use_cache = False
    if os.path.isdir(cache):
        if o.flush:
            ctx.say("Flushing the cache...")
            from ..images import rootcache

            rootcache.flush(source=os.path.join(cache, "rootfs.tar.xz"))
            _remove(cache)
        elif o.force:
            use_cache = True
        else:
            use_cache = not _expired(s, cache)
    if use_cache and not os.path.exists(os.path.join(cache, "rootfs.tar.xz")):
        use_cache = False  # a cache LXC or we left half made: fetch again
    if os.path.isdir(cache) and s.verifier is not None \
            and _read(os.path.join(cache, KEY_MARK)) != s.verifier.keyid:
        # Fetched without this key's check (by LXC, or with --no-validate): not trusted.
        ctx.say(f"The cached copy was not verified with key {s.verifier.keyid}, re-downloading...")
        use_cache = False
        _remove(os.path.join(cache, "build_id"))

    if not use_cache:
        images = images if images is not None else s.index()
        image = index.find(images, dist, release, arch, variant)
        if _read(os.path.join(cache, "build_id")) == image.build:
            ctx.say("The cache is already up to date")
            ctx.say("Using image from local cache")
        else:
            _fetch_image(s, image, cache)
    else:
        ctx.say("Using image from local cache")

    ctx.say("Unpacking the rootfs")
    from .local import unpack_rootfs

    excludes = meta.excludes(cache, s.mode, COMPAT_LEVEL)
    unpack_rootfs(ctx, os.path.join(cache, "rootfs.tar.xz"), ctx.rootfs, excludes, s.mode,
                  build_id=_read(os.path.join(cache, "build_id")))
    message = meta.apply(ctx, cache, COMPAT_LEVEL, required=True)
    meta.show_create_message(ctx, message)


def _ask(ctx, prompt):
    ctx.say(prompt)
    if ctx.quiet:
        return ""
    line = sys.stdin.readline()
    return line.strip()


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _expired(s, cache):
    from ..images import meta
    import time

    value = _read(meta.relevant_file(cache, "expiry", s.mode, COMPAT_LEVEL))
    if value is None:
        return False
    try:
        expired = int(value) < time.time()
    except ValueError:
        expired = True
    if expired:
        s.say("The cached copy has expired, re-downloading...")
    return expired


def _remove(path):
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _fetch_image(s, image, cache):
    """Download the image's files into a resumable partial dir, verify them, and install them
    as the new cache in one rename."""
    parent = os.path.dirname(cache)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    variant = os.path.basename(cache)
    import fcntl

    # Two creates fetching the same image at once would write the same .part files.
    lock = os.open(os.path.join(parent, f".{variant}.lock"),
                   os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            s.say("Waiting for another download of this image to finish...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if _read(os.path.join(cache, "build_id")) == image.build and (
                s.verifier is None or _read(os.path.join(cache, KEY_MARK)) == s.verifier.keyid):
            s.say("The cache is already up to date")  # the other download brought it
            return
        _fetch_locked(s, image, cache, parent, variant)
    finally:
        os.close(lock)


def _fetch_locked(s, image, cache, parent, variant):
    import tempfile
    from ..images import extract, fetch
    from ..images.progress import Progress

    partial = os.path.join(parent, f".{variant}.partial")
    if _read(os.path.join(partial, "build_id")) != image.build:
        _remove(partial)
    os.makedirs(partial, mode=0o755, exist_ok=True)
    with open(os.path.join(partial, "build_id"), "w") as handle:
        handle.write(image.build + "\n")

    sums = {}
    if s.o.validate:
        sums_path = os.path.join(s.tmp, "SHA256SUMS")
        if fetch.fetch_optional(s.url(fetch.join(image.path, "SHA256SUMS")), sums_path):
            sums = fetch.parse_sums(sums_path)
    files = {}
    for name, label in (("rootfs.tar.xz", "rootfs"), ("meta.tar.xz", "metadata")):
        s.say(f"Downloading the {label}")
        url = s.url(fetch.join(image.path, name))
        target = os.path.join(partial, name)
        if not os.path.exists(target):
            progress = Progress(f"  {name}", enabled=s.ctx.progress) if s.ctx.progress else None
            fetch.download(url, target, progress=progress)
        try:
            fetch.check_sum(target, name, sums, url)
            s.signed(url, target, url)
        except LxcError:
            os.unlink(target)  # never kept, never resumed from
            raise
        files[name] = target

    new = tempfile.mkdtemp(prefix=f".{variant}.new.", dir=parent)
    try:
        try:
            extract.extract(files["meta.tar.xz"], new, devices="refuse", owners=False)
        except extract.Refused:
            raise
        except LxcError as exc:
            raise LxcError("ERROR: Invalid metadata tarball", hint=exc.message) from None
        os.replace(files["rootfs.tar.xz"], os.path.join(new, "rootfs.tar.xz"))
        with open(os.path.join(new, "build_id"), "w") as handle:
            handle.write(image.build + "\n")
        if s.verifier is not None:
            with open(os.path.join(new, KEY_MARK), "w") as handle:
                handle.write(s.verifier.keyid + "\n")
        os.chmod(new, 0o755)
        old = None
        if os.path.lexists(cache):
            old = tempfile.mkdtemp(prefix=f".{variant}.old.", dir=parent)
            os.rename(cache, os.path.join(old, "x"))
        os.rename(new, cache)
        new = None
        if old:
            _remove(old)
    finally:
        if new:
            _remove(new)
    _remove(partial)
    s.say("The image cache is now ready")
