#!/usr/bin/env python3
"""Write bin/lxc-* from [tool.lxctools.launchers] in pyproject.toml.

Run after adding a tool; tests/unit/test_launchers.py fails when bin/ and the table differ."""

import os
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TEMPLATE = '''#!python -S
"""{tool}: an lxctools launcher.

Started with -S: site's .pth hooks (editable finders, certificate shims) cost 20-40 ms on
every command. The install's site-packages and the plain paths its .pth files name are added
by hand; anything unusual falls back to the full site set-up.
"""
import sys


def _site_packages():
    import os

    version = "python%d.%d" % sys.version_info[:2]
    prefixes = [sys.prefix]
    # A venv: without site, sys.prefix stays the base interpreter's, so look for pyvenv.cfg
    # where site would (beside the executable's directory); it also says whether the base
    # interpreter's packages count too.
    venv = os.path.dirname(os.path.dirname(sys.executable))
    try:
        with open(os.path.join(venv, "pyvenv.cfg")) as handle:
            cfg = handle.read().replace(" ", "").lower()
        prefixes = [venv]
        if "include-system-site-packages=true" in cfg:
            prefixes.append(sys.base_prefix)
    except OSError:
        pass
    found = []
    for prefix in prefixes:
        lib = os.path.join(prefix, "lib", version, "site-packages")
        found.append(lib)
        try:
            names = sorted(n for n in os.listdir(lib) if n.endswith(".pth"))
        except OSError:
            continue
        for name in names:
            try:
                with open(os.path.join(lib, name)) as handle:
                    lines = handle.read().splitlines()
            except OSError:
                continue
            for line in lines:
                line = line.strip()
                if line and not line.startswith(("#", "import ", "import\\t")) and os.path.isdir(line):
                    found.append(line)
    return found


sys.path.extend(_site_packages())
try:
    from {module} import {func}
except ImportError:
    import site
    site.main()
    from {module} import {func}
sys.exit({func}())
'''


def launchers():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        return tomllib.load(handle)["tool"]["lxctools"]["launchers"]


def render(tool, target):
    module, func = target.split(":")
    return TEMPLATE.format(tool=tool, module=module, func=func)


def add_no_site_flag(bindir):
    """pip rewrites "#!python -S" to "#!/path/to/python", dropping the flag: put it back on
    our installed launchers (setup does this after every install)."""
    for tool in launchers():
        path = os.path.join(bindir, tool)
        try:
            with open(path) as handle:
                text = handle.read()
        except OSError:
            continue
        first, sep, rest = text.partition("\n")
        if first.startswith("#!") and not first.endswith(" -S") and "python" in first:
            with open(path + ".tmp", "w") as handle:
                handle.write(first + " -S" + sep + rest)
            os.chmod(path + ".tmp", 0o755)
            os.replace(path + ".tmp", path)


def main():
    if sys.argv[1:2] == ["--fix-installed"]:
        add_no_site_flag(sys.argv[2])
        return 0
    for tool, target in launchers().items():
        path = os.path.join(ROOT, "bin", tool)
        with open(path, "w") as handle:
            handle.write(render(tool, target))
        os.chmod(path, 0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main())
