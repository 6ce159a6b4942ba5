#!/usr/bin/env python3
"""Write bin/lxc-* from [tool.lxctools.launchers] in pyproject.toml.

Run after adding a tool; tests/unit/test_launchers.py fails when bin/ and the table differ.

--fix-installed BINDIR (./setup runs it after every pip install): puts back the -S pip drops,
then installs the compiled front door (native/lxc-front.c, built by setup.py into
lxctools/libexec/lxc-front) as BINDIR's lxc-info, lxc-wait, lxc-stop and lxc-ls; their Python
launchers move to BINDIR/../libexec/lxctools/, where the front door execs them for whatever
it does not answer itself. Without a built front door the Python launchers stay (or come
back) in BINDIR."""

import os
import shutil
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


# the tools the compiled front door answers (native/lxc-front.c dispatches on these names)
FRONT_DOOR = ("lxc-info", "lxc-wait", "lxc-stop", "lxc-ls")


def add_no_site_flag(bindir):
    """pip rewrites "#!python -S" to "#!/path/to/python", dropping the flag: put it back on
    our installed launchers (setup does this after every install)."""
    for tool in launchers():
        path = os.path.join(bindir, tool)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if not data.startswith(b"#!"):
            continue  # the compiled front door
        text = data.decode()
        first, sep, rest = text.partition("\n")
        if first.startswith("#!") and not first.endswith(" -S") and "python" in first:
            with open(path + ".tmp", "w") as handle:
                handle.write(first + " -S" + sep + rest)
            os.chmod(path + ".tmp", 0o755)
            os.replace(path + ".tmp", path)


def front_door_binary():
    """lxctools/libexec/lxc-front of the lxctools this interpreter imports (the install the
    launchers run), or None when it was not built."""
    import importlib.util

    spec = importlib.util.find_spec("lxctools")
    package = (os.path.dirname(spec.origin) if spec and spec.origin
               else os.path.join(ROOT, "lxctools"))
    path = os.path.join(package, "libexec", "lxc-front")
    return path if os.access(path, os.X_OK) else None


def python_launcher_dir(bindir):
    """Where the front door finds the Python tools: PREFIX/libexec/lxctools (lxc-front.c's
    python_tool computes the same from its own path)."""
    return os.path.join(os.path.dirname(os.path.abspath(bindir)), "libexec", "lxctools")


def is_script(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"#!"
    except OSError:
        return False


def install_front_door(bindir, binary):
    """BINDIR's front-door tools become copies of BINARY (the built front door); their
    Python launchers go to python_launcher_dir. With no BINARY, the Python launchers come
    back to BINDIR."""
    pydir = python_launcher_dir(bindir)
    for tool in FRONT_DOOR:
        path = os.path.join(bindir, tool)
        python = os.path.join(pydir, tool)
        if is_script(path):
            # pip (re)wrote the Python launcher: it is the newest
            os.makedirs(pydir, exist_ok=True)
            shutil.move(path, python)
        if not is_script(python):
            continue  # nothing of ours to serve
        if binary is None:
            shutil.move(python, path)
            continue
        shutil.copyfile(binary, path + ".tmp")
        os.chmod(path + ".tmp", 0o755)
        os.replace(path + ".tmp", path)


def main():
    if sys.argv[1:2] == ["--fix-installed"]:
        add_no_site_flag(sys.argv[2])
        add_no_site_flag(python_launcher_dir(sys.argv[2]))
        install_front_door(sys.argv[2], front_door_binary())
        return 0
    for tool, target in launchers().items():
        path = os.path.join(ROOT, "bin", tool)
        with open(path, "w") as handle:
            handle.write(render(tool, target))
        os.chmod(path, 0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main())
