#!/usr/bin/env python3
"""Install templates/lxc-{busybox,download,local} where LXC's lxc-create looks for
templates, so that real LXC (and any tool that runs LXC templates) can use lxctools'
native templates: `lxc-create -t lxctools-download -- -d debian -r bookworm -a amd64`.

    tools/install-templates.py [--root DIR] [--dir DIR] [--as-lxc] [--force] [--dry-run]
                               [--uninstall]

Each copy's first line names this interpreter (the Python lxctools is installed in: the
scripts import it). Default: LXCTEMPLATEDIR (/usr/share/lxc/templates) as lxc-lxctools-NAME,
beside Debian's own lxc-NAME, which stay LXC's. --as-lxc installs them as lxc-NAME instead;
a file there that lxctools did not install (Debian's, or one edited since) is left alone
unless --force (tools/installkit.py keeps what was installed in var/lib/lxctools/).
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from installkit import Installer  # noqa: E402

NAMES = ("busybox", "download", "local")
LXC_TEMPLATE_DIR = "/usr/share/lxc/templates"


def script(name, python):
    """templates/lxc-NAME with its first line naming PYTHON."""
    with open(os.path.join(ROOT, "templates", f"lxc-{name}"), "rb") as handle:
        lines = handle.read().split(b"\n")
    lines[0] = b"#!" + os.fsencode(python)
    return b"\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/", help="install below DIR (a chroot, a test)")
    parser.add_argument("--dir", default=LXC_TEMPLATE_DIR,
                        help=f"the template directory (default {LXC_TEMPLATE_DIR})")
    parser.add_argument("--as-lxc", action="store_true",
                        help="install as lxc-NAME, where LXC's own would be")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter the scripts run with (default: this one)")
    parser.add_argument("--force", action="store_true",
                        help="replace files lxctools did not install")
    parser.add_argument("--dry-run", action="store_true", help="say what would be done")
    parser.add_argument("--uninstall", action="store_true", help="remove what was installed")
    args = parser.parse_args(argv)
    kit = Installer(args.root, force=args.force, dry_run=args.dry_run)
    for name in NAMES:
        dest = os.path.join(args.dir, f"lxc-{name}" if args.as_lxc else f"lxc-lxctools-{name}")
        if args.uninstall:
            kit.remove(dest)
        else:
            kit.install(dest, script(name, args.python), 0o755)
    kit.save()
    return 1 if kit.refused else 0


if __name__ == "__main__":
    sys.exit(main())
