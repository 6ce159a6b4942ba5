"""The monitor: what keeps containers running and answers for them, LXC's "[lxc monitor]".

One supervisor per container (supervisor.py, its concerns in record.py, serve.py and
console.py, on loop.py's event loop) and one process per lxcpath that holds them
(daemon.py), their sockets and records (wire.py), the typed protocol spoken on them
(protocol.py), LXC's own command socket, both halves (lxcsocket.py), the client every tool
goes through (commands.py: settles a dead supervisor's record first), stop/reboot/wait
(control.py), and another container asked from inside (peers.py).

May import attach/ (the console relay of lxc-start -F), spawn/ (the start it runs) and every
package below them, and the shared modules; never api/ or cli/, which reach it through
api/monitor.py. Inside it: wire, protocol < lxcsocket < peers < loop, record, serve,
console < supervisor < daemon < commands < control (docs/ARCHITECTURE.md).
"""
