"""lxc.idmap: user namespaces and their id maps (userns.py: parse, write, run as a
namespace's root) and a tree's owners shifted into a map (idshift.py).

May import kernel/ and the shared modules only: cgroups/, templates/, spawn/ and the
API build on it.
"""
