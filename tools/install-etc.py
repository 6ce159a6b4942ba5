#!/usr/bin/env python3
"""Install etc/ where the host's init system expects it: systemd units, the OpenRC script,
and the sample configs (only where the admin has none).

    tools/install-etc.py [--root DIR] [--bindir DIR] [--init auto|systemd|openrc|all]
                         [--no-completion] [--dry-run]

@BINDIR@ in the units and the script becomes the directory of our lxc-* commands (default:
this interpreter's scripts directory, where pip put them). Units go to /etc/systemd/system and
/etc/systemd/user, which take precedence over Debian lxc's /lib/systemd/system/lxc*.service.
Bash completion for every tool goes to /etc/bash_completion.d/lxctools (docs/completion.md).
"""

import argparse
import os
import sys
import sysconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ETC = os.path.join(ROOT, "etc")

# (source under etc/, destination under the root, mode, replace an existing file?)
SYSTEMD = [
    ("systemd/system/lxc.service", "etc/systemd/system/lxc.service", 0o644, True),
    ("systemd/system/lxc@.service", "etc/systemd/system/lxc@.service", 0o644, True),
    ("systemd/user/lxc.service", "etc/systemd/user/lxc.service", 0o644, True),
    ("systemd/user/lxc@.service", "etc/systemd/user/lxc@.service", 0o644, True),
    ("default/lxc", "etc/default/lxc", 0o644, False),
]
OPENRC = [("openrc/lxc", "etc/init.d/lxc", 0o755, True)]
SAMPLES = [
    ("lxc/default.conf", "etc/lxc/default.conf", 0o644, False),
    ("lxc/lxc.conf", "etc/lxc/lxc.conf", 0o644, False),
    ("lxc/lxc-usernet", "etc/lxc/lxc-usernet", 0o644, False),
]


def detect_init(root):
    found = []
    if os.path.isdir(os.path.join(root, "run/systemd/system")):
        found.append("systemd")
    if os.path.exists(os.path.join(root, "sbin/openrc-run")) or \
            os.path.isdir(os.path.join(root, "run/openrc")):
        found.append("openrc")
    return found


def render(source, bindir):
    with open(os.path.join(ETC, source)) as handle:
        return handle.read().replace("@BINDIR@", bindir)


def plan(init, root):
    """The (source, destination, mode, replace) rows for INIT."""
    if init == "auto":
        inits = detect_init(root) or ["systemd", "openrc"]
    elif init == "all":
        inits = ["systemd", "openrc"]
    else:
        inits = [init]
    rows = []
    if "systemd" in inits:
        rows += SYSTEMD
    if "openrc" in inits:
        rows += OPENRC
    return rows + SAMPLES


def launchers():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        return sorted(tomllib.load(handle)["tool"]["lxctools"]["launchers"])


def completion_script():
    """bash completion of every lxc-* tool through argcomplete, one file (loaded at start-up
    by bash-completion from /etc/bash_completion.d, before Debian lxc's lazy ones)."""
    import argcomplete

    return ("# lxctools: bash completion of the lxc-* tools (tools/install-etc.py)\n"
            + argcomplete.shellcode(launchers(), shell="bash"))


def install(root="/", bindir=None, init="auto", dry_run=False, out=sys.stdout, completion=True):
    sys.path.insert(0, ROOT)
    from lxctools.atomic import atomic_write

    bindir = bindir or sysconfig.get_path("scripts")
    done = []
    for source, dest, mode, replace in plan(init, root):
        path = os.path.join(root, dest)
        if os.path.exists(path) and not replace:
            out.write(f"kept     {path} (exists)\n")
            continue
        out.write(f"{'would install' if dry_run else 'install'}  {path}\n")
        if not dry_run:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, render(source, bindir).encode(), mode)
        done.append(path)
    if completion:
        path = os.path.join(root, "etc/bash_completion.d/lxctools")
        out.write(f"{'would install' if dry_run else 'install'}  {path}\n")
        if not dry_run:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, completion_script(), 0o644)
        done.append(path)
    return done


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/", help="install below DIR (default /)")
    parser.add_argument("--bindir", help="directory of the lxc-* commands")
    parser.add_argument("--init", choices=("auto", "systemd", "openrc", "all"), default="auto")
    parser.add_argument("--no-completion", action="store_true",
                        help="do not install /etc/bash_completion.d/lxctools")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    install(args.root, args.bindir, args.init, args.dry_run, completion=not args.no_completion)
    if not args.dry_run and args.root == "/" and "systemd" in detect_init("/"):
        print("then: systemctl daemon-reload && systemctl enable lxc.service")
    return 0


if __name__ == "__main__":
    sys.exit(main())
