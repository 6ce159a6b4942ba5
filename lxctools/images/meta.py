"""Image metadata as LXC's local and download templates apply it (lxc-behaviour.md 3.2-3.3).

An image's metadata directory holds `config` (required), and optionally `config-user`,
`excludes[-user]`, `templates`, `fstab`, `create-message`, `expiry`, each possibly with a
compat suffix (`config.5`); relevant_file() picks the variant LXC would. merge_config()
rewrites the container's config the way the templates' sed lines do; substitute() fills the
LXC_* placeholders in the config, the fstab and the rootfs files the `templates` list names.
"""

import os
import re
import stat

from ..errors import LxcError
from ..paths import LXC_HOOK_DIR, template_config_dir

PLACEHOLDERS = ("LXC_NAME", "LXC_PATH", "LXC_ROOTFS", "LXC_TEMPLATE_CONFIG", "LXC_HOOK_DIR")

# sed's /lxc.net.0/ and /lxc./: "." is any character, and the match is anywhere in the line
# (comments too), exactly as LXC's templates select the lines they move.
_NET0 = re.compile(r"lxc.net.0")
_LXC = re.compile(r"lxc.")


def image_mode(conf):
    """"user" when the container has an lxc.idmap (LXC runs the template in that user
    namespace and picks the -user files), else "system"."""
    return "user" if conf.value("lxc.idmap") else "system"


def relevant_file(directory, name, mode, compat):
    path = os.path.join(directory, name)
    if os.path.exists(f"{path}-{mode}"):
        path = f"{path}-{mode}"
    if os.path.exists(f"{path}.{compat}"):
        path = f"{path}.{compat}"
    return path


def read_text(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return handle.read()


def read_lines(path):
    """A metadata file's lines (no trailing newline); [] when it does not exist."""
    try:
        return read_text(path).splitlines()
    except FileNotFoundError:
        return []


def template_config(lxcpath):
    """LXC_TEMPLATE_CONFIG: the includes lxctools ships (common.conf, <distro>.common.conf,
    userns.conf, ...), never LXC's /usr/share/lxc/config, as the copy in LXCPATH with
    absolute paths that real LXC reads too (sharedconfig.py). $LXCTOOLS_TEMPLATE_CONFIG
    names another directory as it is."""
    if os.environ.get("LXCTOOLS_TEMPLATE_CONFIG"):
        return template_config_dir()
    from .sharedconfig import materialize

    return materialize(lxcpath)


class _Values(dict):
    """The placeholders' values; LXC_TEMPLATE_CONFIG's copy is made only when named."""

    def __init__(self, ctx):
        super().__init__(LXC_NAME=ctx.name, LXC_PATH=ctx.path, LXC_ROOTFS=ctx.rootfs,
                         LXC_HOOK_DIR=LXC_HOOK_DIR)
        self.lxcpath = os.path.dirname(os.path.abspath(ctx.path))

    def __missing__(self, key):
        if key != "LXC_TEMPLATE_CONFIG":
            raise KeyError(key)
        self[key] = value = template_config(self.lxcpath)
        return value


def values(ctx):
    return _Values(ctx)


def substitute(text, mapping):
    """sed s#LXC_NAME#...#g and friends, in LXC's order, as literal text."""
    for key in PLACEHOLDERS:
        if key in text:
            text = text.replace(key, mapping[key])
    return text


def merged_config(lines, distro_config, name, fstab_path=None):
    """The container's config after LXC's templates rework it: the lxc.net.0 lines and then
    every other lxc line moved out, the image config appended under '# Distribution
    configuration', the moved lines under '# Container specific configuration' (+ fstab,
    lxc.uts.name), the network lines under '# Network configuration'.

    LXC's `sed w FILE` makes its side files even when nothing matches, so the network
    section header is always written."""
    network, auto, kept = [], [], []
    for line in lines:
        if _NET0.search(line):
            network.append(line)
        elif _LXC.search(line):
            auto.append(line)
        else:
            kept.append(line)
    out = kept + ["", "# Distribution configuration"] + list(distro_config)
    out += ["", "# Container specific configuration"] + auto
    if fstab_path:
        out.append(f"lxc.mount.fstab = {fstab_path}")
    out.append(f"lxc.uts.name = {name}")
    out += ["", "# Network configuration"] + network
    return out


def open_in_rootfs(rootfs, relpath, flags):
    """An fd of RELPATH below ROOTFS, never following a symlink on the way (None if absent
    or not reachable that way): the image's own files cannot point us at the host's."""
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def rewrite_rootfs_file(rootfs, relpath, edit):
    """Apply EDIT(text) -> text to a regular file of the rootfs in place (mode and owner kept).
    Symlinks and missing files are left alone."""
    fd = open_in_rootfs(rootfs, relpath, os.O_RDWR)
    if fd is None:
        return False
    try:
        old = _regular_text(fd)
        if old is None:
            return False
        new = edit(old)
        if new != old:
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            _write_text(fd, new)
        return True
    finally:
        os.close(fd)


def _regular_text(fd):
    """The text of FD if it is a regular file, else None."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        return None
    with os.fdopen(os.dup(fd), "rb") as handle:
        return handle.read().decode("utf-8", "surrogateescape")


def _write_text(fd, text):
    view = memoryview(text.encode("utf-8", "surrogateescape"))
    while view:
        view = view[os.write(fd, view):]


def rewrite_layered_file(lower, upper, relpath, edit):
    """rewrite_rootfs_file for an overlay rootfs that is not mounted (lower = a shared image
    tree, never written): the edited file goes into UPPER, its parent directories made there
    with LOWER's owners and modes, as overlayfs's copy-up would. Unchanged files stay below."""
    if rewrite_rootfs_file(upper, relpath, edit):
        return True
    fd = open_in_rootfs(lower, relpath, os.O_RDONLY)
    if fd is None:
        return False
    try:
        st = os.fstat(fd)
        old = _regular_text(fd)
    finally:
        os.close(fd)
    if old is None:
        return False
    new = edit(old)
    if new == old:
        return True
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    low, up = os.open(lower, flags), os.open(upper, flags)
    try:
        for part in parts[:-1]:
            below = os.stat(part, dir_fd=low, follow_symlinks=False)
            try:
                os.mkdir(part, 0o700, dir_fd=up)
                os.chown(part, below.st_uid, below.st_gid, dir_fd=up, follow_symlinks=False)
                os.chmod(part, stat.S_IMODE(below.st_mode), dir_fd=up)
            except FileExistsError:
                pass
            nxt = os.open(part, flags, dir_fd=low)
            os.close(low)
            low = nxt
            nxt = os.open(part, flags, dir_fd=up)
            os.close(up)
            up = nxt
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                      | os.O_CLOEXEC, 0o600, dir_fd=up)
        try:
            _write_text(out, new)
            os.fchown(out, st.st_uid, st.st_gid)
            os.fchmod(out, stat.S_IMODE(st.st_mode))
        finally:
            os.close(out)
        return True
    finally:
        os.close(low)
        os.close(up)


def _rewriter(ctx):
    """How this create edits rootfs files: in place, or into the upper layer of an overlay
    whose lower layer is a shared image tree (rootcache)."""
    layers = ctx.extra.get("overlay_layers")
    if layers:
        lower, upper = layers
        return lambda relpath, edit: rewrite_layered_file(lower, upper, relpath, edit)
    return lambda relpath, edit: rewrite_rootfs_file(ctx.rootfs, relpath, edit)


def apply(ctx, metadir, compat, *, required=True):
    """Everything LXC's template does with the metadata once the rootfs is unpacked.

    Returns the create-message text (or None). ctx.config is replaced by the merged one."""
    from ..config.document import ConfigDocument
    from .. import log

    mode = image_mode(ctx.config.conf)
    configfile = relevant_file(metadir, "config", mode, compat)
    if not os.path.exists(configfile):
        if required:
            raise LxcError("ERROR: meta tarball is missing the configuration file",
                           hint="the metadata tarball needs a file named config "
                                "(lxc.* lines of the image)")
        distro = []
    else:
        distro = read_lines(configfile)
    fstab = relevant_file(metadir, "fstab", mode, compat)
    fstab_target = os.path.join(ctx.path, "fstab") if os.path.exists(fstab) else None
    lines = merged_config(ctx.config.lines, distro, ctx.name, fstab_target)
    mapping = values(ctx)
    text = substitute("\n".join(lines) + "\n", mapping)
    if fstab_target:
        from ..atomic import atomic_write

        atomic_write(fstab_target, substitute(read_text(fstab), mapping), 0o644)
    rewrite = _rewriter(ctx)
    for relpath in read_lines(relevant_file(metadir, "templates", mode, compat)):
        if relpath.strip():
            rewrite(relpath.strip(), lambda old: substitute(old, mapping))
    # mingetty calls vhangup(2), which fails in a user namespace (CentOS/Oracle images).
    rewrite("etc/init/tty.conf",
            lambda old: "".join(line.replace("mingetty", "mingetty --nohangup", 1)
                                for line in old.splitlines(keepends=True)))
    try:
        ctx.config = ConfigDocument(ctx.config.path, text, warn=log.warn)
    except LxcError as exc:
        exc.message = f"the image's config does not load: {exc.message}"
        raise
    message = relevant_file(metadir, "create-message", mode, compat)
    return read_text(message) if os.path.exists(message) else None


def show_create_message(ctx, text):
    if text is None or ctx.quiet:
        return
    print("")
    print("---")
    print(text, end="" if text.endswith("\n") else "\n", flush=True)


def excludes(metadir, mode, compat):
    return [line for line in read_lines(relevant_file(metadir, "excludes", mode, compat))
            if line.strip()]
