"""The API every tool and python-lxc's module call: Container (container.py) and the
transactions behind it (create, clone, snapshot, destroy over transaction.py), listing,
locks, and the way to a running container's supervisor (monitor.py).

May import runtime/, storage/, config/, kernel/ and the shared modules (errors, paths, log,
atomic); never cli/ or compat/ (import-linter's layers contract).
"""
