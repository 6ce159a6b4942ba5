"""tools/install-package.py under a temporary root: the man pages into PREFIX/share/man, the
links of --link-into, and no file or link of someone else's replaced without --force
(./setup's end-to-end run: tests/integration/test_setup_install.py)."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load():
    spec = importlib.util.spec_from_file_location(
        "install_package", os.path.join(ROOT, "tools/install-package.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PACKAGE = load()


def run(root, *args):
    return PACKAGE.main(["--root", str(root), "--prefix", "/opt/lxctools", "--no-completion",
                         *args])


def test_pages_and_links_then_uninstall(tmp_path, capsys):
    root = tmp_path / "root"
    (root / "opt/lxctools/bin").mkdir(parents=True)
    os.makedirs(root / "usr/local/bin")
    (root / "usr/local/bin/lxc-ls").write_text("#!/bin/sh\n# the admin's own\n")
    assert run(root, "--link-into", "/usr/local") == 1  # refused: lxc-ls is someone else's
    out = capsys.readouterr()
    assert f"refused    {root}/usr/local/bin/lxc-ls: not installed by lxctools" in out.out
    assert (root / "usr/local/bin/lxc-ls").read_text().endswith("the admin's own\n")
    assert os.readlink(root / "usr/local/bin/lxc-start") == "/opt/lxctools/bin/lxc-start"
    for base in ("opt/lxctools", "usr/local"):
        page = root / base / "share/man/man1/lxc-start.1"
        assert page.read_bytes() == open(os.path.join(ROOT, "man/lxc-start.1"), "rb").read()
        assert (root / base / "share/man/man5/lxc.container.conf.5").exists()
    assert run(root, "--link-into", "/usr/local") == 1  # again: unchanged, still refused
    assert "unchanged  " in capsys.readouterr().out
    assert run(root, "--link-into", "/usr/local", "--uninstall") == 1
    assert not os.path.lexists(root / "usr/local/bin/lxc-start")
    assert not (root / "opt/lxctools/share/man/man1/lxc-start.1").exists()
    assert (root / "usr/local/bin/lxc-ls").exists()  # not ours: stays
    assert run(root, "--link-into", "/usr/local", "--force") == 0
    assert os.readlink(root / "usr/local/bin/lxc-ls") == "/opt/lxctools/bin/lxc-ls"


def test_pyproject_data_files_name_every_man_page():
    # a `pip install .` (not editable) installs the pages through these: one list per section
    import glob
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        data_files = tomllib.load(handle)["tool"]["setuptools"]["data-files"]
    listed = {(section, path) for section, paths in data_files.items() for path in paths}
    pages = {(f"share/man/man{path.rsplit('.', 1)[1]}", os.path.relpath(path, ROOT))
             for path in glob.glob(os.path.join(ROOT, "man", "*.[1-8]"))}
    assert listed == pages
