"""The build step setuptools cannot infer from pyproject.toml: the compiled parts.

native/lxc-entry.c (the entry helper of lxc-attach), native/lxc-execinit.c (the init of
lxc-execute) and native/lxc-front.c (the compiled front door) become lxctools/libexec/
lxc-entry, lxc-execinit and lxc-front, statically linked (libc only), on every `pip install`
(in the wheel) and `pip install -e` (in the checkout). The commands of pyproject.toml's
[tool.lxctools.front-door] (lxc-info, lxc-ls, ...) go into the wheel's scripts as copies of
lxc-front; the rest are [project.scripts] console scripts.

Without a C compiler or static libc (CC=false shows it) the install still succeeds: the
front-door commands become Python scripts for their entry points and lxctools runs the
other two in Python (spawn/entry.py says so once; docs/SECURITY.md says what that costs).

Why a setuptools step and not meson-python or scikit-build-core: three static executables
from three C files need no build system, and the whole `pip wheel` took 9 s here against
meson-python's 14 s (bench/RESULTS.md, run 9), most of it the build environment's set-up.
"""

import os
import shutil
import subprocess
import sys
import tomllib

from setuptools import Command, setup
from setuptools.command.build import build
from distutils.command.build_scripts import build_scripts  # setuptools adds nothing to it
from setuptools.command.install_scripts import install_scripts
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
# (source, target): each built on its own, so one that fails leaves the others
HELPERS = [(os.path.join("native", name + ".c"), os.path.join("lxctools", "libexec", name))
           for name in ("lxc-entry", "lxc-execinit", "lxc-front")]
FRONT = os.path.join("lxctools", "libexec", "lxc-front")


def front_door_commands():
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as handle:
        return tomllib.load(handle)["tool"]["lxctools"]["front-door"]


# "#!python": pip writes the installing interpreter there (it does so for a wheel's scripts)
PYTHON_SCRIPT = '''#!python
"""{tool}: lxctools' Python tool. The compiled front door (native/lxc-front.c) was not built
when lxctools was installed (no C compiler): setup.py wrote this script in its place."""
import sys
from {module} import {func}
sys.exit({func}())
'''


class build_entry(Command):
    description = "compile native/lxc-entry.c, lxc-execinit.c and lxc-front.c into lxctools/libexec (static)"
    # --inplace: into the checkout's lxctools/libexec, what an editable install runs (for
    # a developer who changed native/: `python setup.py build_entry --inplace`)
    user_options = [("inplace", "i", "build into the checkout (as pip install -e does)")]
    boolean_options = ["inplace"]

    def initialize_options(self):
        self.inplace = False
        self.editable_mode = False  # set by setuptools for pip install -e: build in place
        self.build_lib = None
        self.built = []

    def finalize_options(self):
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def run(self):
        for source, target in HELPERS:
            self.build_one(source, self.target(target))

    def target(self, relative):
        inplace = self.editable_mode or self.inplace
        return os.path.join(HERE if inplace else self.build_lib, relative)

    def build_one(self, source, target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        cc = os.environ.get("CC", "cc")
        flags = ["-Os", "-s", "-Wall", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong"]
        failures = []
        # static-pie keeps address randomisation; plain -static where the toolchain lacks it
        for link in (["-static-pie", "-fPIE"], ["-static"]):
            cmd = [cc, *link, *flags, "-o", target + ".tmp", os.path.join(HERE, source)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True)
            except OSError as exc:  # no such compiler
                failures.append(f"{' '.join(cmd)}: {exc}")
                break
            if proc.returncode == 0:
                os.replace(target + ".tmp", target)
                self.built.append(target)
                return
            failures.append(f"{' '.join(cmd)}: {proc.stderr.strip()[-300:]}")
        if os.path.exists(target):
            os.unlink(target)  # never leave a helper built from older sources
        print(f"warning: {os.path.basename(target)} was not built; lxctools will run it in "
              "Python (docs/SECURITY.md):\n  " + "\n  ".join(failures), file=sys.stderr)

    def get_outputs(self):
        return self.built

    def get_output_mapping(self):
        return {}

    def get_source_files(self):
        return [source for source, _target in HELPERS]


class build_front_door(build_scripts):
    """The wheel's scripts: each front-door command a copy of the built lxc-front, or the
    Python script for its entry point where it was not built. Written straight into the
    scripts build directory: distutils' copy would read the executable as text."""

    def run(self):
        self.run_command("build_entry")
        built = self.get_finalized_command("build_entry").target(FRONT)
        binary = built if os.access(built, os.X_OK) else None
        os.makedirs(self.build_dir, exist_ok=True)
        for tool, entry in front_door_commands().items():
            path = os.path.join(self.build_dir, tool)
            if binary:
                shutil.copyfile(binary, path + ".tmp")
            else:
                module, func = entry.split(":")
                with open(path + ".tmp", "w") as handle:
                    handle.write(PYTHON_SCRIPT.format(tool=tool, module=module, func=func))
            os.chmod(path + ".tmp", 0o755)
            os.replace(path + ".tmp", path)

    def get_outputs(self):
        return [os.path.join(self.build_dir, tool) for tool in front_door_commands()]

    def get_source_files(self):
        return []  # the sdist's: native/*.c come with build_entry's


class install_front_door(install_scripts):
    """setuptools installs the scripts build directory only for listed scripts: ours are
    made by build_front_door, not listed."""

    def run(self):
        self.run_command("egg_info")
        if not self.skip_build:
            self.run_command("build_scripts")
        self.outfiles = self.copy_tree(self.build_dir, self.install_dir)
        if not self.no_ep:
            self._install_ep_scripts()


class WithScripts(Distribution):
    """The wheel (and the editable wheel) gets its scripts only from a distribution that
    says it has some."""

    def has_scripts(self):
        return True


build.sub_commands.append(("build_entry", None))

setup(distclass=WithScripts,
      cmdclass={"build_entry": build_entry, "build_scripts": build_front_door,
                "install_scripts": install_front_door})
