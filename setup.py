"""The build step setuptools cannot infer from pyproject.toml: the compiled helpers.

native/lxc-entry.c (the entry helper of lxc-attach), native/lxc-execinit.c (the init of
lxc-execute) and native/lxc-front.c (the compiled front door of lxc-info, lxc-wait,
lxc-stop and lxc-ls) become lxctools/libexec/lxc-entry, lxc-execinit and lxc-front, statically linked
(libc only), on every `pip install` (in the wheel) and `pip install -e` (in the checkout).
Without a C compiler or static libc the install still succeeds and lxctools runs those
processes in Python (spawn/entry.py says so once; the tools stay the Python launchers);
docs/SECURITY.md says what that costs. tools/make-launchers.py --fix-installed puts the
front door in place of the Python launchers it serves.
"""

import os
import subprocess
import sys

from setuptools import Command, setup
from setuptools.command.build import build

HERE = os.path.dirname(os.path.abspath(__file__))
# (source, target): each built on its own, so one that fails leaves the other
HELPERS = [(os.path.join("native", name + ".c"), os.path.join("lxctools", "libexec", name))
           for name in ("lxc-entry", "lxc-execinit", "lxc-front")]


class build_entry(Command):
    description = "compile native/lxc-entry.c, lxc-execinit.c and lxc-front.c into lxctools/libexec (static)"
    user_options = []

    def initialize_options(self):
        self.editable_mode = False  # set by setuptools for pip install -e: build in place
        self.build_lib = None
        self.built = []

    def finalize_options(self):
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def run(self):
        for source, target in HELPERS:
            self.build_one(source, os.path.join(HERE if self.editable_mode else self.build_lib,
                                                target))

    def build_one(self, source, target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        cc = os.environ.get("CC", "cc")
        flags = ["-Os", "-s", "-Wall", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong"]
        failures = []
        # static-pie keeps address randomisation; plain -static where the toolchain lacks it
        for link in (["-static-pie", "-fPIE"], ["-static"]):
            cmd = [cc, *link, *flags, "-o", target + ".tmp", os.path.join(HERE, source)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
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


build.sub_commands.append(("build_entry", None))

setup(cmdclass={"build_entry": build_entry})
