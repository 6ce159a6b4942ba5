"""Every module says what it is; a long one says why it is long (issue 20, item 6)."""

import ast
import glob
import os

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "lxctools")
LONG = 500  # lines


def _modules():
    for path in sorted(glob.glob(os.path.join(ROOT, "**", "*.py"), recursive=True)):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        yield os.path.relpath(path, ROOT), text, ast.get_docstring(ast.parse(text))


def test_every_module_and_package_has_a_docstring():
    missing = [path for path, _text, doc in _modules() if not doc]
    assert not missing, "no docstring (its first line says what the module is): " + \
        ", ".join(missing)


def test_a_module_over_500_lines_says_why_at_its_top():
    unexplained = [f"{path} ({text.count(chr(10))} lines)" for path, text, doc in _modules()
                   if text.count("\n") > LONG and "Size:" not in (doc or "")]
    assert not unexplained, "long modules without a 'Size:' paragraph in their docstring: " + \
        ", ".join(unexplained)
