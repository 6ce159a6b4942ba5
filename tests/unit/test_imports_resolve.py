"""Every import of lxctools names a module that exists, the lazy ones inside functions too.

Importing every module (the suite does) only runs the imports at their tops: an import
inside a function that names a moved or renamed module fails on the path that runs it, maybe
in a rarely taken branch, long after the move. Packages move (issue 20 moved runtime/ into
top-level packages) and branches rebase onto the moves: this check reads every import
statement of the package, the tests, tools/ and bench/, and every string that names a
module of lxctools (a monkeypatch target, a `python -m` argument, a script a test runs),
and fails on any whose module is gone.
"""

import ast
import os
import re

import pytest

REPO = os.path.join(os.path.dirname(__file__), "..", "..")
WHERE = ("lxctools", "tests", "tools", "bench", "compat")
# where a string names a module: a script's import line, monkeypatch's and importlib's target
IMPORT_LINE = re.compile(r"(?:^|\n|;)\s*(?:from\s+(lxctools[\w.]*)\s+import|import\s+(lxctools[\w.]*))")
TARGET_CALLS = ("setattr", "delattr", "import_module", "find_spec")


def modules(repo):
    """Every module and package of lxctools under REPO, dotted."""
    found = set()
    top = os.path.join(repo, "lxctools")
    for directory, _dirs, files in os.walk(top):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(directory, name), repo)[:-3]
                dotted = rel.replace(os.sep, ".")
                found.add(dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted)
    return found


def python_files(repo, where=WHERE):
    for part in where:
        top = os.path.join(repo, part)
        for directory, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", "build") and not d.startswith(".")]
            for name in files:
                path = os.path.join(directory, name)
                if name.endswith(".py"):
                    yield path
                elif "." not in name and os.path.isfile(path):
                    try:  # a script without the suffix (bench/run): its first line says
                        with open(path, encoding="utf-8") as handle:
                            first = handle.readline()
                    except (OSError, UnicodeDecodeError):
                        continue
                    if first.startswith("#!") and "python" in first:
                        yield path


def _module_of(repo, path):
    rel = os.path.relpath(path, repo)
    if not rel.startswith("lxctools" + os.sep) or not rel.endswith(".py"):
        return None, False
    dotted = rel[:-3].replace(os.sep, ".")
    if dotted.endswith(".__init__"):
        return dotted[: -len(".__init__")], True
    return dotted, False


def _longest_module(dotted, known):
    parts = dotted.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def _strings(tree, known):
    """[(line, text)]: module names in strings that name no module: the imports of a script
    a test runs, a monkeypatch or importlib target, the module after a "-m"."""
    gone = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in IMPORT_LINE.finditer(node.value):
                name = match.group(1) or match.group(2)
                if name not in known:
                    gone.append((node.lineno, name))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in TARGET_CALLS and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str) and first.value.startswith("lxctools."):
                # a target names a module, then maybe an attribute of it: its package part
                # must be a module of ours beyond lxctools itself
                if _longest_module(first.value, known) in ("", "lxctools"):
                    gone.append((node.lineno, first.value))
        elif isinstance(node, (ast.List, ast.Tuple)):
            items = node.elts
            for before, after in zip(items, items[1:]):
                if isinstance(before, ast.Constant) and before.value == "-m" \
                        and isinstance(after, ast.Constant) and isinstance(after.value, str) \
                        and after.value.startswith("lxctools") and after.value not in known:
                    gone.append((node.lineno, after.value))
    return gone


def unresolved(repo, where=WHERE):
    """["path:line: what"] for each import or module-naming string that names no module."""
    known = modules(repo)
    problems = []
    for path in sorted(python_files(repo, where)):
        if os.path.abspath(path) == os.path.abspath(__file__):
            continue  # its own cases name modules that are gone, on purpose
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        try:
            tree = ast.parse(source, path)
        except SyntaxError:
            continue
        me, is_package = _module_of(repo, path)
        rel = os.path.relpath(path, repo)
        found = []  # (line, what), in the file's order
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    if me is None:
                        continue  # a test's own relative import
                    base = me.split(".") if is_package else me.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] == "lxctools" and target not in known:
                    found.append((node.lineno, f"no module {target}"))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "lxctools" and alias.name not in known:
                        found.append((node.lineno, f"no module {alias.name}"))
        found += [(line, f"{name!r} names no module") for line, name in _strings(tree, known)]
        problems += [f"{rel}:{line}: {what}" for line, what in sorted(found)]
    return problems


def test_every_import_names_a_module():
    found = unresolved(REPO)
    assert not found, "imports of modules that do not exist:\n" + "\n".join(found)


@pytest.mark.parametrize("files, expected", [
    # a lazy import inside a function, relative: its module moved away
    ({"lxctools/a/m.py": "def f():\n    from ..gone import x\n"},
     ["lxctools/a/m.py:2: no module lxctools.gone"]),
    # an absolute import in a test, a monkeypatch target, a script's import, a -m
    ({"tests/t.py": "import lxctools.gone.mod\n"
                    "def test(monkeypatch):\n"
                    "    monkeypatch.setattr('lxctools.gone.mod.attr', 1)\n"
                    "S = 'import os\\nfrom lxctools.gone import mod\\n'\n"
                    "A = ['python3', '-m', 'lxctools.gone.mod']\n"},
     ["tests/t.py:1: no module lxctools.gone.mod",
      "tests/t.py:3: 'lxctools.gone.mod.attr' names no module",
      "tests/t.py:4: 'lxctools.gone' names no module",
      "tests/t.py:5: 'lxctools.gone.mod' names no module"]),
    # what exists passes: a package's attribute, a sibling, an attribute in a target; a
    # config key that starts like a module (lxctools.net.usermode) is no module's name
    ({"lxctools/a/m.py": "from . import n\nfrom .n import X\nfrom .. import a\n",
      "lxctools/a/n.py": "X = 1\n",
      "tests/t.py": "def test(monkeypatch):\n    monkeypatch.setattr('lxctools.a.n.X', 2)\n"
                    "K = 'lxctools.net.usermode'\n"}, []),
])
def test_the_check_finds_what_is_gone(tmp_path, files, expected):
    """The check itself: it must see lazy, relative and absolute imports and strings."""
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in ("lxctools", "lxctools/a"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        init = tmp_path / package / "__init__.py"
        if not init.exists():
            init.write_text("")
    assert unresolved(str(tmp_path), ("lxctools", "tests")) == expected
