"""The template scripts in templates/ (lxc-busybox, lxc-download, lxc-local): LXC's template
protocol over our native templates, so that real LXC's lxc-create (or any tool that runs
LXC templates) gets lxctools' safe unpack, verified and cached download, image cache.

The protocol, as LXC 5.0.2's lxc-create runs a template (checked with a script that
records what it is given):

    TEMPLATE --path=LXCPATH/NAME --name=NAME --rootfs=ROOTFS [TEMPLATE ARGS...]
             [--mapped-uid N --mapped-gid N]     (an lxc.idmap container; run in its userns)

with LXCPATH/NAME/config already written (the default config or -f FILE) and ROOTFS made.
The template fills ROOTFS and appends to the config; lxc-create reads it back and puts its
header on top. Exit status 0 on success; anything else and lxc-create removes the container.
"""

import os
import sys

from ._common import run_tool

PROTOCOL = ("path", "name", "rootfs", "mapped-uid", "mapped-gid")


def split_protocol(argv):
    """({option: value} of LXC's own arguments, the template's arguments in their order).
    Both `--opt=value` and `--opt value`, as getopt in LXC's shell templates takes them."""
    given, rest = {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        key, eq, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if key in PROTOCOL:
            if not eq:
                if i + 1 >= len(argv):
                    from ..errors import UsageError
                    raise UsageError(f"--{key} needs a value")
                value = argv[i + 1]
                i += 1
            given[key] = value
        else:
            rest.append(arg)
        i += 1
    return given, rest


def body(name, argv):
    from ..config.document import ConfigDocument
    from ..errors import LxcError, UsageError
    from ..templates import TemplateContext
    from ..templates.runner import native_module
    from .. import log

    given, rest = split_protocol(argv)
    module = native_module(name)
    if module is None:
        raise LxcError(f"the {name} template is not part of this lxctools")
    if any(a in ("-h", "--help") for a in rest):
        # the template's own usage (its parser prints it), whatever else is missing
        given.setdefault("path", os.getcwd())
        given.setdefault("name", "help")
    if "path" not in given or "name" not in given:
        raise UsageError("--path and --name are required (lxc-create passes them)",
                         hint=f"lxc-create -n NAME -t {os.path.abspath(sys.argv[0])} -- "
                              "TEMPLATE OPTIONS")
    path = os.path.abspath(given["path"])
    rootfs = os.path.abspath(given.get("rootfs") or os.path.join(path, "rootfs"))
    config_path = os.path.join(path, "config")
    if os.path.exists(config_path):
        doc = ConfigDocument.read(config_path, warn=log.warn)
        mode = os.stat(config_path).st_mode & 0o777
    else:
        doc = ConfigDocument(config_path, "", warn=None)
        mode = 0o640
    mapped = {k: int(given[k]) for k in ("mapped-uid", "mapped-gid") if k in given}
    ctx = TemplateContext(name=given["name"], lxcpath=os.path.dirname(path), path=path,
                          rootfs=rootfs, config=doc, mapped_uid=mapped.get("mapped-uid", -1),
                          mapped_gid=mapped.get("mapped-gid", -1),
                          progress=sys.stderr.isatty())
    os.makedirs(rootfs, exist_ok=True)
    try:
        module.create(ctx, rest)
    except LxcError as exc:
        if any(a in ("-h", "--help") for a in rest):
            return exc.exit_code  # the usage is printed: its status as LXC's script's
        raise
    ctx.config.save(config_path, mode=mode)
    return 0


def main(name, argv=None):
    """Run the native template NAME as LXC runs a template script."""
    argv = sys.argv[1:] if argv is None else argv
    return run_tool(f"lxc-{name}", lambda args: body(name, args), argv)
