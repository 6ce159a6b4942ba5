"""What runs containers: the monitor (wire.py, protocol.py, supervisor.py, daemon.py,
commands.py, control.py, LXC's socket lxcsocket.py), the start's two sides (start.py,
payload.py, mounts.py, explain.py), attach, console, cgroups/, network/, security/, images/,
templates/, hostcheck/.

May import config/, kernel/ and the shared modules; never api/ or cli/ (import-linter's
layers contract). Inside, imports go one way: tests/unit/test_import_cycles.py.
"""
