"""One module per lxc-* tool: parse options, call one Container method, return an exit code."""
