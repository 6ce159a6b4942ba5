"""The lxc.* config engine: pure code, no kernel calls.

keys.py holds the one table of keys; values.py the value grammars; model.py the expanded
configuration; parser.py the file syntax and includes; document.py the on-disk text that is
saved back with comments and order kept; legacy.py the pre-3.0 key names.

Imports only the shared modules (errors, paths, log, atomic): no other package of
lxctools (a forbidden contract in pyproject.toml).
"""
