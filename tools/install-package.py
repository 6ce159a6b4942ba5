#!/usr/bin/env python3
"""Install what makes lxctools a package beside its Python code (./setup runs it with the
interpreter lxctools was installed into): the man pages, the bash completion, and for an
environment whose bin/ is not on PATH, links to its commands.

    tools/install-package.py [--prefix DIR] [--link-into DIR] [--no-completion]
                             [--root DIR] [--force] [--dry-run] [--uninstall]

- man/*.N go to PREFIX/share/man/manN (PREFIX: this interpreter's environment, sys.prefix).
  man-db puts DIR/share/man on its path for every DIR/bin on PATH, so `man lxc-start` finds
  them wherever the commands are found. (`pip install .` puts the same files there through
  pyproject's data-files; an editable install, ./setup's, does not.)
- --link-into DIR (./setup gives /usr/local for the /opt/lxctools environment it makes on a
  Python that pip may not install into): DIR/bin/lxc-* link to the environment's commands and
  the man pages go to DIR/share/man too.
- The completion of every tool: /etc/bash_completion.d/lxctools, which bash-completion
  sources when an interactive shell starts (tools/install-etc.py writes the same file).

Files are written through tools/installkit.py: never over a file lxctools did not install
without --force; --uninstall removes what it installed (the same options name the same files).
"""

import argparse
import glob
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from installkit import Installer  # noqa: E402

COMPLETION = "etc/bash_completion.d/lxctools"


def install_etc():
    spec = importlib.util.spec_from_file_location("install_etc",
                                                  os.path.join(ROOT, "tools/install-etc.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def man_pages():
    """[(section, path)] of man/*.N."""
    return sorted((os.path.splitext(path)[1][1:], path)
                  for path in glob.glob(os.path.join(ROOT, "man", "*.[1-8]")))


def plan(prefix, link_into, completion):
    """([(dest, source path)] files, [(dest, target)] links)."""
    files = []
    for base in [prefix] + ([link_into] if link_into else []):
        for section, path in man_pages():
            files.append((os.path.join(base, "share/man", f"man{section}",
                                       os.path.basename(path)), path))
    links = []
    if link_into:
        scripts = os.path.join(prefix, "bin")
        for tool in install_etc().launchers():
            links.append((os.path.join(link_into, "bin", tool), os.path.join(scripts, tool)))
    if completion:
        files.append(("/" + COMPLETION, None))
    return files, links


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default=sys.prefix,
                        help="the environment lxctools is installed in (default: this Python's)")
    parser.add_argument("--link-into", metavar="DIR",
                        help="also link the commands into DIR/bin and the man pages into "
                             "DIR/share/man (e.g. /usr/local)")
    parser.add_argument("--no-completion", action="store_true",
                        help="no /etc/bash_completion.d/lxctools")
    parser.add_argument("--root", default="/", help="install below DIR (a chroot, a test)")
    parser.add_argument("--force", action="store_true",
                        help="replace files lxctools did not install")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--uninstall", action="store_true", help="remove what was installed")
    args = parser.parse_args(argv)
    prefix = os.path.abspath(args.prefix)
    if not os.path.isdir(os.path.join(args.root, prefix.lstrip("/"), "bin")) \
            and not args.uninstall:
        parser.error(f"{prefix}/bin is not there: --prefix names the environment lxctools "
                     "is installed in")
    kit = Installer(args.root, force=args.force, dry_run=args.dry_run, out=print)
    files, links = plan(prefix, args.link_into, not args.no_completion)
    if args.uninstall:
        for dest, _ in files + links:
            kit.remove(dest)
    else:
        for dest, source in files:
            if source is None:
                data = install_etc().completion_script().encode()
            else:
                with open(source, "rb") as handle:
                    data = handle.read()
            kit.install(dest, data, 0o644)
        for dest, target in links:
            kit.link(dest, target)
    kit.save()
    return kit.exit_status()


if __name__ == "__main__":
    sys.exit(main())
