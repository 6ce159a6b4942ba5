"""lxc-unpriv-start and lxc-unpriv-attach: lxc-start / lxc-attach for an ordinary user, in a
delegated systemd scope only where the host needs one (cgroups/scope.py)."""

import os
import sys

from ._common import run_tool


def usage(tool):
    return (f"Usage: lxc-unpriv-{tool} [lxc-{tool} OPTIONS]\n\n"
            f"On a host with cgroup2 only, where the user's own cgroup is not delegated\n"
            f"and a systemd user session runs, lxc-{tool} runs in a systemd scope with\n"
            f"Delegate=yes (as Debian's lxc-unpriv-{tool} always does); anywhere else\n"
            f"lxc-{tool} runs as it is.\n\n"
            f"  --usage    print this text; every other option is lxc-{tool}'s\n")


def relaunch(tool, argv):
    """Run lxc-TOOL with ARGV, in this process or through systemd-run."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--usage"]:
        sys.stdout.write(usage(tool))
        return 0
    from ..cgroups.scope import scope_for

    found = scope_for(os.getuid())
    if found is None:
        if tool == "start":
            from .start import main
        else:
            from .attach import main
        return main(argv)
    prefix, env = found
    launcher = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), f"lxc-{tool}")

    def body(_argv):
        from ..errors import LxcError

        os.environ.update(env)
        try:
            os.execvp(prefix[0], prefix + [launcher, *argv])
        except OSError as exc:
            raise LxcError(f"cannot run {prefix[0]}: {exc.strerror}",
                           hint="this host has cgroup2 only and your cgroup is not delegated: "
                                "systemd-run makes a delegated scope (install systemd's "
                                "tools), or ask root to delegate a cgroup to you") from None

    return run_tool(f"lxc-unpriv-{tool}", body, argv)
