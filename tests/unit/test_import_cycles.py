"""No import cycles among lxctools' modules, counting the imports inside functions too.

A lazy import still ties two modules together: to change one you must know the other, and a
cycle is how a layer ends up calling back into the one above it (issue 20). This is the check
of the project's tools/import-cycles.py, carried here so that the suite (and CI through
./setup test) runs it on every checkout. import-linter's layers contract does not catch these:
it only sees imports between its layers, not the loops inside one.
"""

import ast
import os
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "lxctools")


def _modules(root):
    top = os.path.dirname(os.path.abspath(root))
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                module = os.path.relpath(path, top)[:-3].replace(os.sep, ".")
                if module.endswith(".__init__"):
                    module = module[: -len(".__init__")]
                found[module] = path
    return found


def _resolve(module, is_package, level, target):
    """The absolute name `from .TARGET` means in MODULE (LEVEL dots)."""
    if not level:
        return target
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph(root=ROOT):
    """{module: {modules of the package it imports, anywhere in its code}}. An import of a
    package the module is inside of (its own __init__) is not an edge: Python runs that
    first anyway."""
    found = _modules(root)
    package = os.path.basename(os.path.abspath(root))
    graph = {m: set() for m in found}
    for module, path in found.items():
        is_package = path.endswith("__init__.py")
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node.level, node.module)
                if base is None:
                    continue
                names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for name in names:
                parts = name.split(".")
                while parts and ".".join(parts) not in found:
                    parts.pop()
                target = ".".join(parts)
                if parts and target != module and not module.startswith(target + ".") \
                        and target != package:
                    graph[module].add(target)
    return graph


def cycles(graph):
    """Strongly connected groups of more than one module (Tarjan, iteratively)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def describe(graph, group):
    members = set(group)
    return "\n".join(f"  {m} -> {', '.join(sorted(graph[m] & members))}" for m in group)


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles (each module -> the ones it imports in its group):\n" + \
        "\n\n".join(describe(graph, group) for group in found)


@pytest.mark.parametrize("files, expected", [
    # a lazy import inside a function closes the loop as well as one at the top
    ({"a.py": "from . import b\n", "b.py": "def f():\n    from .a import x\n"}, [["p.a", "p.b"]]),
    ({"a.py": "from .b import y\n", "b.py": "import os\n"}, []),
    # a three-module ring through a subpackage and an absolute import
    ({"a.py": "from .sub import c\n", "sub/__init__.py": "", "sub/c.py": "import p.b\n",
      "b.py": "def g():\n    from . import a\n"}, [["p.a", "p.b", "p.sub.c"]]),
    # a module importing its own package's __init__ is no cycle
    ({"__init__.py": "from .a import x\n", "a.py": "from . import b\n", "b.py": "import p\n"}, []),
])
def test_the_check_finds_cycles(tmp_path, files, expected):
    """The check itself: it must see lazy imports, relative and absolute forms, subpackages."""
    root = tmp_path / "p"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    if not (root / "__init__.py").exists():
        (root / "__init__.py").write_text("")
    assert cycles(import_graph(str(root))) == expected


if __name__ == "__main__":
    graph = import_graph(sys.argv[1] if len(sys.argv) > 1 else ROOT)
    groups = cycles(graph)
    for n, group in enumerate(groups, 1):
        print(f"cycle {n}: {len(group)} modules\n{describe(graph, group)}")
    print(f"{len(groups)} import cycles")
    sys.exit(1 if groups else 0)
