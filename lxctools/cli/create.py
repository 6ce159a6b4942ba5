"""lxc-create: make a container from a template (busybox, local, download, an lxc-NAME script,
an absolute path, or none)."""

import sys

from ._common import complete_templates, make_parser, parse, run_tool, lxcpath_of, name_prefixed

DESCRIPTION = """Create a container.

lxc-create -n NAME -t TEMPLATE [-f CONFIG] [-B dir|btrfs|loop|best] [--dir DIR]
           [--fstype TYPE] [--fssize SIZE[bkmgt]] [-P LXCPATH] [-- TEMPLATE ARGS]

TEMPLATE is busybox, local, download (built in), NAME for an executable lxc-NAME in the
template directories, an absolute path to an executable, or "none" (config only)."""

# Options of LXC's other backing stores: accepted so that scripts parse, refused with the type.
_STORE_OPTIONS = (("--lvname", "lvm"), ("--vgname", "lvm"), ("--thinpool", "lvm"),
                  ("--rbdname", "rbd"), ("--rbdpool", "rbd"), ("--rbduser", "rbd"),
                  ("--zfsroot", "zfs"))


def build_parser():
    parser = make_parser("lxc-create", DESCRIPTION, rcfile=False)
    opt = parser.add_argument("-t", "--template", metavar="TEMPLATE", help="template to use (required)")
    opt.completer = complete_templates
    parser.add_argument("-f", "--config", metavar="FILE",
                        help="initial configuration (default: lxc.default_config)")
    parser.add_argument("-B", "--bdev", metavar="TYPE", help="backing store type: dir (default), btrfs (a subvolume; the "
                             "lxcpath must be on btrfs), loop (an image file LXCPATH/NAME/rootdev), "
                             "best (btrfs there, else dir)")
    parser.add_argument("--dir", metavar="DIR", help="place the rootfs at DIR")
    parser.add_argument("--fstype", metavar="TYPE",
                        help="filesystem of a -B loop image (default ext4: mkfs.TYPE makes it)")
    parser.add_argument("--fssize", metavar="SIZE[bkmgt]",
                        help="size of a -B loop image (default 1G; no unit = MiB)")
    for option, kind in _STORE_OPTIONS:
        parser.add_argument(option, metavar="VALUE", help=f"({kind} backing store)")
    return parser


def split_template_args(argv):
    """(our options, the template's arguments after the first --)."""
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1:]
    return list(argv), []


def template_help(template):
    from ..templates.runner import resolve
    from ..errors import LxcError
    import subprocess

    try:
        tpl = resolve(template)
    except LxcError:
        return
    if tpl.kind == "native" and hasattr(tpl.module, "usage"):
        sys.stdout.write("\n" + tpl.module.usage())
    elif tpl.kind == "external":
        sys.stdout.flush()
        subprocess.run([tpl.path, "-h"], check=False)


def body(argv):
    ours, template_args = split_template_args(argv)
    parser = build_parser()
    if "-h" in ours or "--help" in ours:
        parser.print_help()
        known, _ = parser.parse_known_args([a for a in ours if a not in ("-h", "--help")])
        if known.template:
            template_help(known.template)
        return 0
    args = parse(parser, ours)
    from ..api.container import Container
    from ..errors import LxcError

    try:
        for option, kind in _STORE_OPTIONS:
            if getattr(args, option[2:]) is not None:
                raise LxcError(f"{option} is only valid with a {kind} backing store",
                               hint="lxctools creates dir, btrfs and loop storage")
        fssize = None
        if args.fstype is not None or args.fssize is not None:
            # As LXC: only with a block store (loop here; lvm and rbd are not built) or best.
            bdev = args.bdev or ""
            if not ("loop".startswith(bdev) and bdev) and not ("best".startswith(bdev) and bdev):
                raise LxcError("Filesystem type and size are only valid with block devices",
                               hint="--fstype and --fssize go with -B loop")
            from ..storage.loop import parse_size
            fssize = parse_size(args.fssize) if args.fssize is not None else None
        container = Container(args.name, lxcpath_of(args))
        container.create(args.template, template_args, bdev=args.bdev, dir=args.dir,
                         config_file=args.config, quiet=args.quiet, fstype=args.fstype,
                         fssize=fssize)
    except LxcError as exc:
        raise name_prefixed(exc, args.name)
    from .. import log
    log.info(f'Created container "{args.name}" with template "{args.template or "none"}"',
             "lxc_create")
    return 0


def main(argv=None):
    return run_tool("lxc-create", body, argv)
