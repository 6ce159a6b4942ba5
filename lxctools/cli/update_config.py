"""lxc-update-config: rewrite a pre-3.0 container config with LXC 3+ key names, in place,
keeping a copy as FILE.backup (as LXC's script does)."""

import sys

from ._common import run_tool

USAGE = """usage: lxc-update-config -c FILE | -h

  -c FILE, --config FILE   the container configuration to update; a copy of the original
                           is kept as FILE.backup
  -h, --help               print this usage
Keys of LXC before 3.0 get their current names (see lxc.container.conf(5)); comments,
order and spacing stay.
"""


def parse_args(argv):
    """LXC's getopt "c:h" with --config/--help: the path, or None after printing the usage."""
    import getopt

    from ..errors import UsageError

    try:
        opts, _ = getopt.gnu_getopt(argv, "c:h", ["config=", "help"])
    except getopt.GetoptError as exc:
        raise UsageError(str(exc), hint="lxc-update-config -c FILE") from None
    path = None
    for opt, value in opts:
        if opt in ("-h", "--help"):
            return None
        path = value
    if path is None:
        raise UsageError("no config given", hint="lxc-update-config -c FILE")
    return path


def body(argv):
    if not argv:
        sys.stdout.write(USAGE)
        return 0
    path = parse_args(argv)
    if path is None:
        sys.stdout.write(USAGE)
        return 0
    import os
    import shutil

    from ..atomic import atomic_write
    from ..config.legacy import update_text
    import errno

    from ..errors import os_error

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            text = handle.read()
        info = os.stat(path)
        shutil.copy2(path, path + ".backup")
    except OSError as exc:
        error = os_error(exc, path=exc.filename or path)
        if exc.errno in (errno.ENOENT, errno.EISDIR, errno.ENOTDIR):
            error.hint = ("give the container's config file: lxc-update-config -c "
                          "/var/lib/lxc/NAME/config")
        raise error from None
    updated = update_text(text)
    if updated != text:
        try:
            atomic_write(path, updated, info.st_mode & 0o7777, uid=info.st_uid, gid=info.st_gid)
        except OSError as exc:
            error = os_error(exc, path=path)
            error.hint = f"{error.hint + '; ' if error.hint else ''}the original is kept in {path}.backup"
            raise error from None
    return 0


def main(argv=None):
    return run_tool("lxc-update-config", body, argv)
