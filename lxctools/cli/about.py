"""lxctools: which lxctools this is.

Every lxc-* tool's --version prints the LXC release whose interface it follows (5.0.2), the
bare number LXC's tools print, because scripts compare it (LXC's own lxc-checkconfig prints
`lxc-start --version` as "LXC version ..."); this command names lxctools' own release."""

import sys

DESCRIPTION = """Show which lxctools this is: its own version and the LXC release it follows.

lxctools [--version]

Every lxc-* tool's --version prints that LXC release alone (e.g. 5.0.2), as LXC's tools do."""


def build_parser():
    import argparse

    from .. import version_line
    parser = argparse.ArgumentParser(prog="lxctools", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=version_line(),
                        help="print lxctools' version and the LXC release it follows")
    return parser


# The commands the compiled front door (native/lxc-front.c) is installed as: it runs
# `lxctools --as TOOL ARGS...` for whatever it leaves to Python (pyproject.toml's
# [tool.lxctools.front-door]; tests/unit/test_packaging.py checks the three agree). Through
# this console script, not an interpreter path compiled in: the wheel is built before pip
# knows which Python it lands in, and pip writes this script's first line for that Python.
FRONT_DOOR = ("lxc-attach", "lxc-info", "lxc-ls", "lxc-start", "lxc-stop", "lxc-wait")


# `lxctools --supervise LXCPATH`: how the compiled lxc-start runs the lxcpath's supervisor
# it spawns when a start finds none (native/lxc-front.c spawn_supervisor; not for people)
SUPERVISE = "--supervise"

# What the compiled lxc-start runs instead of this console script when its first line names
# the interpreter alone (pip's): `INTERPRETER -S -c SUPERVISE_PROGRAM --supervise LXCPATH`,
# the same text in native/lxc-front.c (tests/unit/test_front_door_protocol.py compares
# them). site's work (~3 ms of a cold start: its module, the .pth files' hooks, the console
# script's `import re`) is skipped where it changes nothing: in a venv without the system's
# packages, whose .pth files only name directories (setuptools' distutils shim aside: the
# supervisor imports no distutils), with no sitecustomize, it puts site-packages and those
# directories on sys.path as site would. Anywhere else, or should lxctools not import, it
# runs site itself: never another interpreter set-up than the console script's, at worst
# the same one.
SUPERVISE_PROGRAM = r"""import sys
if sys.path and sys.path[0] == "":
    del sys.path[0]  # -c's: the current directory (/) is no place to import from
def paths():
    import os
    if os.environ.get("__PYVENV_LAUNCHER__"):
        return None
    bindir = os.path.dirname(os.path.abspath(sys.executable))
    prefix = os.path.dirname(bindir)
    for conf in (os.path.join(bindir, "pyvenv.cfg"), os.path.join(prefix, "pyvenv.cfg")):
        if os.path.isfile(conf):
            break
    else:
        return None
    with open(conf, encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition("=")
            if key.strip().lower() == "include-system-site-packages" and value.strip().lower() != "false":
                return None
    site = "%s/lib/python%d.%d/site-packages" % (prefix, *sys.version_info[:2])
    found = [site]
    for name in sorted(os.listdir(site)):
        if name.startswith(("sitecustomize", "usercustomize")):
            return None
        if not name.endswith(".pth") or name == "distutils-precedence.pth":
            continue
        with open(os.path.join(site, name)) as handle:
            for line in handle:
                line = line.rstrip()
                if line.startswith(("import ", "import\t")):
                    return None
                path = os.path.abspath(os.path.join(site, line))
                if line and not line.startswith("#") and path not in found and os.path.exists(path):
                    found.append(path)
    for where in sys.path:
        for name in ("sitecustomize.py", "sitecustomize", "usercustomize.py", "usercustomize"):
            if os.path.exists(os.path.join(where, name)):
                return None
    return prefix, found
try:
    found = paths()
except (OSError, ValueError, UnicodeError):
    found = None
if found is None:
    import site
    site.main()
else:
    sys.prefix = sys.exec_prefix = found[0]
    sys.path.extend(found[1])
try:
    from lxctools.cli.about import main
except ImportError:
    if found is None:
        raise
    import site
    site.main()
    from lxctools.cli.about import main
sys.exit(main())
"""


def run_as(tool, argv):
    """Run the Python tool TOOL with ARGV as if it had been called by that name."""
    import importlib

    if tool not in FRONT_DOOR:
        sys.stderr.write(f"lxctools: --as takes one of {', '.join(FRONT_DOOR)}, not {tool!r}\n")
        return 1
    sys.argv = [tool, *argv]
    return importlib.import_module("lxctools.cli." + tool[4:].replace("-", "_")).main()


def main(argv=None):
    from .. import version_line
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--as"] and len(argv) > 1:
        return run_as(argv[1], argv[2:])
    if argv[:1] == [SUPERVISE] and len(argv) == 2:
        from ..api.monitor import serve_lxcpath
        return serve_lxcpath(argv[1])
    build_parser().parse_args(argv)
    sys.stdout.write(version_line() + "\n")
    return 0
