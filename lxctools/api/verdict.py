"""The config engine's verdict on a config that includes others, saved for the compiled
lxc-ls (native/lxc-front.c cached_keys), which cannot run the engine: with it, `lxc-ls -f`
over configs that include common.conf is answered in C. Written by api/listing.py
engine_keys, removed by lxc-destroy (Container.destroy). A module of its own, below both:
it imports neither."""

import os

# Each line of the file is one word and its values; the front door trusts the verdict only while every path the
# engine looked at stats exactly as recorded (mode, device, inode, size, mtime and ctime in
# ns; or the same errno), else it hands the listing to Python, which saves a new one.
VERDICT_MAGIC = "lxctools-ls-verdict 1"
# Only files whose ctime is this much in the past are recorded: a change within the same
# timestamp tick as the one recorded (filesystems keep coarse clocks) would keep every field
# the same. Any later change sets the ctime to a newer time, which the front door sees.
VERDICT_SETTLED_NS = 1_000_000_000


def verdict_path(lxcpath, name):
    from ..paths import lxcpath_key, runtime_dir
    return os.path.join(runtime_dir(), "lxctools", "ls", lxcpath_key(lxcpath), name)


def _plain(text):
    """Printable ASCII without a newline: what the front door's line format carries (it
    leaves anything else to Python, as its own scan does)."""
    return isinstance(text, str) and text.isascii() and text.isprintable()


def verdict_lines(config_path, seen, keys, now_ns):
    """The verdict file's text, or None when it cannot be trusted later (a path or value
    the format does not carry, a file changed in the last second)."""
    auto = keys["lxc.start.auto"]
    if auto is not None and not (_plain(auto) and auto.strip() == auto and auto):
        return None
    if not all(_plain(g) and g and not any(c.isspace() for c in g) for g in keys["lxc.group"]):
        return None
    lines = [VERDICT_MAGIC, "auto" + (f" {auto}" if auto is not None else "")]
    lines += [f"group {g}" for g in keys["lxc.group"]]
    lines.append(f"idmap {len(keys['lxc.idmap'])}")
    if not seen or seen[0] != ("file", config_path):
        return None
    for _kind, path in seen:
        if not _plain(path):
            return None
        try:
            st = os.stat(path)
        except OSError as exc:
            lines.append(f"error {exc.errno} {path}")
            continue
        if st.st_ctime_ns > now_ns - VERDICT_SETTLED_NS:
            return None
        lines.append(f"stat {st.st_mode} {st.st_dev} {st.st_ino} {st.st_size} "
                     f"{st.st_mtime_ns} {st.st_ctime_ns} {path}")
    return "\n".join(lines) + "\n"


def forget_verdict(lxcpath, name):
    """lxc-destroy: NAME's saved verdict goes, and the lxcpath's directory of them when that
    leaves it empty (never trusted for a new config anyway: its stat differs)."""
    path = verdict_path(lxcpath, name)
    try:
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass


def save_verdict(lxcpath, name, config_path, seen, keys):
    """Write NAME's verdict (verdict_lines) atomically; nothing when it cannot be trusted
    or written (the front door then asks Python, as without it)."""
    import time

    text = verdict_lines(config_path, seen, keys, time.time_ns())
    if text is None:
        return
    path = verdict_path(lxcpath, name)
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o600)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass
