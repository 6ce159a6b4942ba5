"""The API every tool and python-lxc's module call: Container (container.py) and the
transactions behind it (create, clone, snapshot, destroy over transaction.py; the `partial`
marker of a container being made, partial.py), listing, locks, and the way to a running
container's supervisor (monitor.py).

May import monitor/ and every package below it, and the shared modules (errors, paths, log,
atomic, message); never cli/ or compat/ (import-linter's layers contract).
"""
