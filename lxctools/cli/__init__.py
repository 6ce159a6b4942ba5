"""One module per lxc-* tool: parse options, call the API (api/), return an exit code."""
