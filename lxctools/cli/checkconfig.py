"""lxc-checkconfig: LXC's kernel and cgroup checks, same sections and verdicts, then a host
readiness section for the calling user. CONFIG=FILE and MODNAME=NAME work as in LXC."""

import os
import sys

from .. import version_line
from ._common import make_parser, parse, run_tool

PROG = "lxc-checkconfig"

GREEN, RED, YELLOW, NORMAL = "\033[1;32m", "\033[1;31m", "\033[1;33m", "\033[0;39m"

EPILOG = """environment:
  CONFIG=FILE    read the kernel configuration from FILE (plain or gzip)
  MODNAME=NAME   kernel module that provides /proc/config.gz (default: configs)

The first line names lxctools' own version and the LXC release it follows; real LXC prints
"LXC version X" there. Exit status: 0, or 1 when no kernel configuration can be found.
"""


def build_parser():
    parser = make_parser(PROG, "Check the kernel, cgroups and this host for running containers.",
                         name=False, lxcpath=False, rcfile=False, logging=False, epilog=EPILOG)
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text (LXC's layout) or json (the same facts)")
    return parser


def body(argv):
    args = parse(build_parser(), argv)

    from .. import hostcheck

    try:
        report = hostcheck.run(hostcheck.Roots.from_env())
    except hostcheck.NoKernelConfig as exc:
        return _no_config(exc, args.format)
    if args.format == "json":
        _print_json(report)
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        argv0 = sys.argv[0] if os.path.basename(sys.argv[0]) == PROG else PROG
        sys.stdout.write(render_text(report, colour=colour, argv0=argv0))
    return 0


def _no_config(exc, fmt):
    if fmt == "json":
        from ._common import print_json
        print_json({"version": version_line(), "kernel_config": None,
                    "error": "unable to retrieve kernel configuration",
                    "searched": exc.searched, "messages": exc.messages})
    else:
        sys.stdout.write(version_line() + "\n" + "".join(m + "\n" for m in exc.messages))
    err = sys.stderr.write
    err(f"{PROG}: unable to retrieve kernel configuration\n\n")
    if exc.module_file:
        err(f"Try modprobe {os.environ.get('MODNAME') or 'configs'} module, or\n")
    err("Try recompiling with IKCONFIG_PROC, installing the kernel headers,\n"
        "or specifying the kernel configuration path with:\n"
        f"  CONFIG=<path> {PROG}\n")
    return 1


def _paint(word, code, colour):
    return f"{code}{word}{NORMAL}" if colour else word


def _check_line(check, colour):
    from .. import hostcheck as H

    state = check.state
    if state == H.NOTE:
        return [check.text]
    if state == H.LIST:
        # LXC prints these headers with a trailing space.
        return [f"{check.label}: "] + [f" - {item}" for item in check.items]
    if state in (H.ENABLED, H.MISSING, H.REQUIRED):
        code = {H.ENABLED: GREEN, H.MISSING: YELLOW, H.REQUIRED: RED}[state]
        if state == H.MISSING and check.required:
            code = RED
        suffix = f", {check.value}" if check.value else ""
        return [f"{check.label}: {_paint(state, code, colour)}{suffix}"]
    if state == H.INFO:
        lines = [f"{check.label}: {check.value}"]
    else:
        code = {H.OK: GREEN, H.WARNING: YELLOW, H.FAILED: RED}[state]
        detail = f" ({check.value})" if check.value else ""
        lines = [f"{check.label}: {_paint(state, code, colour)}{detail}"]
    if check.fix:
        lines += [f"  fix: {line}" for line in check.fix.splitlines()]
    return lines


def render_text(report, *, colour=False, argv0=PROG):
    lines = [version_line()]
    lines += report.messages
    if report.kernel_version is None:
        lines.append("")
    for section in report.sections:
        lines += ["", f"--- {section.title} ---"]
        for check in section.checks:
            lines += _check_line(check, colour)
    lines += ["", "Note : Before booting a new kernel, you can check its configuration",
              f"usage : CONFIG=/path/to/config {argv0}", ""]
    return "\n".join(lines) + "\n"


def _print_json(report):
    from ._common import print_json

    version = report.kernel_version
    print_json({
        "version": version_line(),
        "kernel_config": report.kernel_config,
        "kernel_version": ".".join(map(str, version)) if version else None,
        "messages": report.messages,
        "sections": {s.title: [c.as_dict() for c in s.checks] for s in report.sections},
    })


def main(argv=None):
    return run_tool(PROG, body, argv)
