#!/usr/bin/env python3
"""Install etc/ for the init system this host runs: the systemd units where systemd runs,
the OpenRC script where OpenRC runs, nothing of either elsewhere; the sample configs only
where the admin has none; the bash completion.

    tools/install-etc.py [--root DIR] [--bindir DIR] [--init auto|systemd|openrc|none|all]
                         [--no-completion] [--force] [--dry-run]

The running init is found as its tools find it: systemd by /run/systemd/system (what
sd_booted() looks at), OpenRC by /run/openrc. A Debian host on sysvinit gets no service
file: its /etc/init.d/lxc is Debian's lxc package's and stays. --init names one anyway
(e.g. building an image for another host). A file that is there and was not installed by
lxctools -- Debian's, an admin's, one of ours edited since -- is never replaced without
--force (tools/installkit.py: var/lib/lxctools/installed.json); every file is named with
what was done.

@BINDIR@ in the units and the script becomes the directory of our lxc-* commands (default:
this interpreter's scripts directory, where pip put them), @LIBEXECDIR@ where lxc-containers
goes. Units go to /etc/systemd/system and /etc/systemd/user, which take precedence over
Debian lxc's /lib/systemd/system/lxc*.service. lxc.service runs lxc-containers, which reads
/etc/default/lxc as LXC's unit does (LXC_AUTO, BOOTGROUPS, OPTIONS, SHUTDOWNDELAY,
STOPOPTS); the OpenRC script reads the same names from /etc/conf.d/lxc.
"""

import argparse
import os
import sys
import sysconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ETC = os.path.join(ROOT, "etc")
sys.path.insert(0, os.path.join(ROOT, "tools"))

from installkit import Installer  # noqa: E402

LIBEXECDIR = "/usr/libexec/lxctools"

# (source under etc/, destination under the root, mode, replace an existing file of ours?)
SYSTEMD = [
    ("lxc-containers", LIBEXECDIR + "/lxc-containers", 0o755, True),
    ("systemd/system/lxc.service", "etc/systemd/system/lxc.service", 0o644, True),
    ("systemd/system/lxc@.service", "etc/systemd/system/lxc@.service", 0o644, True),
    ("systemd/system/lxc-net.service", "etc/systemd/system/lxc-net.service", 0o644, True),
    ("systemd/user/lxc.service", "etc/systemd/user/lxc.service", 0o644, True),
    ("systemd/user/lxc@.service", "etc/systemd/user/lxc@.service", 0o644, True),
    ("default/lxc", "etc/default/lxc", 0o644, False),
]
OPENRC = [
    ("openrc/lxc", "etc/init.d/lxc", 0o755, True),
    ("openrc/lxc-net", "etc/init.d/lxc-net", 0o755, True),
    ("openrc/conf.d-lxc", "etc/conf.d/lxc", 0o644, False),
]
SAMPLES = [
    ("lxc/default.conf", "etc/lxc/default.conf", 0o644, False),
    ("lxc/lxc.conf", "etc/lxc/lxc.conf", 0o644, False),
    ("lxc/lxc-usernet", "etc/lxc/lxc-usernet", 0o644, False),
]
COMPLETION = "etc/bash_completion.d/lxctools"


def detect_init(root):
    """The init systems running on the host at ROOT: ["systemd"], ["openrc"] or []."""
    found = []
    if os.path.isdir(os.path.join(root, "run/systemd/system")):
        found.append("systemd")
    if os.path.isdir(os.path.join(root, "run/openrc")):
        found.append("openrc")
    return found


def render(source, bindir, libexecdir=LIBEXECDIR):
    with open(os.path.join(ETC, source)) as handle:
        return handle.read().replace("@BINDIR@", bindir).replace("@LIBEXECDIR@", libexecdir)


def chosen_inits(init, root):
    if init == "auto":
        return detect_init(root)
    if init == "all":
        return ["systemd", "openrc"]
    if init == "none":
        return []
    return [init]


def plan(init, root):
    """The (source, destination, mode, replace) rows for INIT."""
    inits = chosen_inits(init, root)
    rows = []
    if "systemd" in inits:
        rows += SYSTEMD
    if "openrc" in inits:
        rows += OPENRC
    return rows + SAMPLES


def launchers():
    """Every command lxctools installs (what the completion covers)."""
    from installkit import commands
    return sorted(commands(ROOT))


def completion_script():
    """bash completion of every lxc-* tool through argcomplete, one file (loaded at start-up
    by bash-completion from /etc/bash_completion.d, before Debian lxc's lazy ones)."""
    import argcomplete

    return ("# lxctools: bash completion of the lxc-* tools (tools/install-etc.py)\n"
            + argcomplete.shellcode(launchers(), shell="bash"))


def install(root="/", bindir=None, init="auto", dry_run=False, out=sys.stdout, completion=True,
            force=False):
    """Install what fits; returns the Installer (its .refused lists what was left alone).
    The paths written are the ones its lines call installed or replaced."""
    bindir = bindir or sysconfig.get_path("scripts")
    kit = Installer(root, force=force, dry_run=dry_run, out=lambda line: out.write(line + "\n"))
    inits = chosen_inits(init, root)
    if init == "auto" and not inits:
        out.write("no systemd or OpenRC runs here: no service file installed (a sysvinit "
                  "host keeps its own /etc/init.d/lxc; --init systemd|openrc installs one "
                  "anyway)\n")
    for source, dest, mode, replace in plan(init, root):
        kit.install(dest, render(source, bindir).encode(), mode, replace=replace)
    if completion:
        kit.install(COMPLETION, completion_script().encode(), 0o644)
    kit.save()
    return kit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/", help="install below DIR (default /)")
    parser.add_argument("--bindir", help="directory of the lxc-* commands")
    parser.add_argument("--init", choices=("auto", "systemd", "openrc", "none", "all"),
                        default="auto",
                        help="auto (default): the init that runs here; none: no service file")
    parser.add_argument("--no-completion", action="store_true",
                        help="do not install /etc/bash_completion.d/lxctools")
    parser.add_argument("--force", action="store_true",
                        help="replace files lxctools did not install (or that were edited)")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    kit = install(args.root, args.bindir, args.init, args.dry_run,
                  completion=not args.no_completion, force=args.force)
    if not args.dry_run and args.root == "/" and "systemd" in chosen_inits(args.init, "/"):
        print("then: systemctl daemon-reload && systemctl enable lxc.service")
    return kit.exit_status()


if __name__ == "__main__":
    sys.exit(main())
