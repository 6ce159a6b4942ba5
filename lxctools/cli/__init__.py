"""One module per lxc-* tool: parse options, call the API (api/), return an exit code.

The top layer (beside compat/): may import anything below it, but reaches a supervisor only
through api/ (api/monitor.py): the monitor's modules are forbidden here (pyproject.toml).
"""
