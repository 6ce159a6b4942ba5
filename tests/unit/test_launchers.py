"""bin/lxc-* are generated from pyproject.toml's [tool.lxctools.launchers]: they must agree,
and each must name a module with main()."""

import importlib
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_generator():
    spec = importlib.util.spec_from_file_location("make_launchers",
                                                  os.path.join(ROOT, "tools/make-launchers.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_launcher_is_generated_from_the_table():
    gen = load_generator()
    table = gen.launchers()
    assert sorted(os.listdir(os.path.join(ROOT, "bin"))) == sorted(table)
    for tool, target in table.items():
        with open(os.path.join(ROOT, "bin", tool)) as handle:
            assert handle.read() == gen.render(tool, target), f"run tools/make-launchers.py ({tool})"
        assert os.access(os.path.join(ROOT, "bin", tool), os.X_OK)


def test_launchers_start_without_site():
    gen = load_generator()
    for tool in gen.launchers():
        with open(os.path.join(ROOT, "bin", tool)) as handle:
            assert handle.readline() == "#!python -S\n"
