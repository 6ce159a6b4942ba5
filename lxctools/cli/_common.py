"""What every lxc-* tool shares: LXC's common options, name handling, and run_tool(), the
one place where an exception becomes one stderr line, a hint, and LXC's exit code.

Kept light: argparse only. Heavy imports belong inside each tool's main().
"""

import argparse
import os
import sys

from .. import LXC_COMPAT_VERSION
from ..errors import LxcError

# argparse looks every message up through gettext while it builds a parser: that imports
# locale and searches for catalogs on each call (~2 ms a command). LXC's tools speak English
# only, and so do ours.
argparse._ = lambda message: message
argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural


def _terminal_width():
    """What argparse would ask shutil for (importing it costs ~3 ms: bz2, lzma, fnmatch)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns
    except OSError:
        return 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position,
                         width if width is not None else _terminal_width() - 2)


class Parser(argparse.ArgumentParser):
    """argparse with LXC's conventions: usage errors exit 1. Help goes to stdout (LXC writes
    it to stderr; stdout lets `lxc-start --help | less` work, and no script reads help)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: {message}\n{self.prog}: could not parse command line\n")
        raise SystemExit(1)

    def print_help(self, file=None):
        super().print_help(file or sys.stdout)


class _Usage(argparse.Action):
    """--usage: the usage lines alone, exit 0 (as LXC's tools)."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                         nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_usage(sys.stdout)
        parser.exit(0)


def make_parser(prog, description, *, name=True, name_required=True, lxcpath=True, rcfile=True,
                logging=True, epilog=None):
    parser = Parser(prog=prog, description=description, epilog=epilog,
                    formatter_class=_Formatter)
    group = parser.add_argument_group("common options")
    if name:
        opt = group.add_argument("-n", "--name", metavar="NAME", help="name of the container")
        opt.completer = complete_names
    if lxcpath:
        group.add_argument("-P", "--lxcpath", metavar="PATH",
                           help="use PATH as the container path (default: lxc.lxcpath)")
    if rcfile:
        group.add_argument("--rcfile", metavar="FILE", help="load configuration FILE instead of NAME's")
    if logging:
        group.add_argument("-o", "--logfile", metavar="FILE", help="write the log to FILE")
        group.add_argument("-l", "--logpriority", metavar="LEVEL",
                           help="log priority: TRACE DEBUG INFO NOTICE WARN ERROR CRIT ALERT FATAL")
        group.add_argument("-q", "--quiet", action="store_true", help="no output on stderr")
    group.add_argument("--version", action="version", version=LXC_COMPAT_VERSION,
                       help="print the LXC version whose interface this follows "
                            "(lxctools --version: our own)")
    group.add_argument("--usage", action=_Usage, help="a short usage message")
    parser.set_defaults(_name_required=name and name_required)
    return parser


def getopt_values(parser, argv):
    """ARGV with getopt's rule made explicit for argparse: an option that takes a value takes
    the next word, whatever it looks like (LXC's tools accept `-n -x`, a container named
    "-x"; argparse would see an option there). Such pairs become `-n=-x`. Stops at `--`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            out.extend(argv[i:])
            break
        action = parser._option_string_actions.get(word)  # noqa: SLF001 - argparse has no API
        # nargs None: exactly one value (flags have nargs 0, optional values "?")
        if (action is not None and action.nargs is None and i + 1 < len(argv)
                and argv[i + 1].startswith("-") and argv[i + 1] != "-"):
            out.append(f"{word}={argv[i + 1]}")
            i += 2
            continue
        out.append(word)
        i += 1
    return out


def closest_options(parser, words):
    """" (did you mean --daemon?)" for mistyped long options among WORDS, else "".
    difflib is imported here, on the error path only."""
    import difflib

    known = [o for o in parser._option_string_actions if o.startswith("--")]
    meant = []
    for word in words:
        option = word.split("=", 1)[0]
        if not option.startswith("--") or option in known:
            continue
        found = difflib.get_close_matches(option, known, n=1, cutoff=0.6)
        if found:
            meant.append(f"{found[0]} for {option}" if len(words) > 1 else found[0])
    return f" (did you mean {', '.join(meant)}?)" if meant else ""


def parse(parser, argv, *, positional_name=True):
    """Parse ARGV; like LXC, a first non-option argument stands for -n when -n is absent."""
    if "_ARGCOMPLETE" in os.environ:
        import argcomplete
        argcomplete.autocomplete(parser)
    args, rest = parser.parse_known_args(getopt_values(parser, argv))
    extra = [a for a in rest if a != "--"]
    if hasattr(args, "name"):
        if args.name is None and positional_name and extra and not extra[0].startswith("-"):
            args.name = extra.pop(0)
    unknown = [a for a in extra if a.startswith("-")]
    if unknown or (extra and not getattr(args, "_accept_extra", False)):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}"
                     + closest_options(parser, unknown))
    if getattr(args, "_name_required", False) and not getattr(args, "name", None):
        sys.stderr.write(f"{parser.prog}: No container name specified\n")
        raise SystemExit(1)
    if getattr(args, "lxcpath", None):
        from ..paths import normalize_lxcpath
        args.lxcpath = normalize_lxcpath(args.lxcpath)
    GIVEN.update(name=getattr(args, "name", None), lxcpath=getattr(args, "lxcpath", None))
    if hasattr(args, "logfile"):
        from .. import log
        log.setup(parser.prog, getattr(args, "name", None), args.logfile, args.logpriority, args.quiet)
    return args


# What this command line named (set by parse()): hints repeat it so they can be pasted.
GIVEN = {"name": None, "lxcpath": None}


def pasteable(hint, name=None, lxcpath=None):
    """HINT with the user's own -n and -P: "-n NAME" becomes the name given, and each
    `lxc-TOOL -n X` without a -P of its own gets the -P the user gave (the hint's command
    would otherwise act on the default lxcpath)."""
    import re
    import shlex

    name = name or GIVEN["name"]
    lxcpath = lxcpath or GIVEN["lxcpath"]
    if name:
        hint = hint.replace("-n NAME", "-n " + shlex.quote(name))
    if not lxcpath:
        return hint
    out, at = [], 0
    for found in re.finditer(r"\blxc-[a-z-]+ -n [^\s(),;]+", hint):
        rest = re.split(r"[(),;]| or ", hint[found.end():], maxsplit=1)[0]
        out.append(hint[at:found.end()])
        if not re.search(r"(^|\s)(-P|--lxcpath)\b", rest):
            out.append(" -P " + shlex.quote(lxcpath))
        at = found.end()
    return "".join(out) + hint[at:]


def lxcpath_of(args):
    if getattr(args, "lxcpath", None):
        return args.lxcpath
    from ..paths import default_lxcpath
    return default_lxcpath()


def run_tool(prog, body, argv=None):
    """Run BODY(argv) -> exit code; turn every failure into LXC's exit code and one clear line."""
    if argv is None:
        argv = sys.argv[1:]
    try:
        code = body(argv)
        return 0 if code is None else code
    except LxcError as exc:
        quiet = "-q" in argv or "--quiet" in argv
        if not quiet:
            report(prog, exc)
        _log_failure(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except BrokenPipeError as exc:
        if _stdout_gone():
            # The reader went away (lxc-ls | head); that is not our failure.
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            return 0
        # A pipe or socket of the tool's own (a supervisor that closed its connection, a
        # helper that died): a failure, never a silent success with nothing done.
        error = LxcError(f"lost a connection it needed ({exc.strerror or exc})",
                         hint="run it again; if it keeps failing, run it with -l DEBUG -o FILE")
        if "-q" not in argv and "--quiet" not in argv:
            report(prog, error)
        _log_failure(error)
        return 1
    except OSError as exc:
        # The last resort: an environment error (read-only or full filesystem, a name too
        # long) nobody nearer the failure put into words. One line naming the path, the fix.
        from ..errors import os_error
        error = os_error(exc)
        if "-q" not in argv and "--quiet" not in argv:
            report(prog, error)
        _log_failure(error)
        return 1


def _stdout_gone():
    """Is the reader of stdout gone (a pipe or socket whose other end closed: poll says
    POLLERR or POLLHUP)? True too when stdout is no file descriptor (nothing to tell)."""
    import select

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    try:
        events = poller.poll(0)
    except OSError:
        return True
    return any(mask & (select.POLLERR | select.POLLHUP) for _fd, mask in events)


def _log_failure(exc):
    """The error into -o's file too, as LXC's tools log theirs (with -q, as Ansible runs
    lxc-create, the log is the only place it shows). Not when it says the container is
    already in the asked state (exit 0, as LXC's "is already running")."""
    if exc.exit_code == 0:
        return
    from .. import log
    log.error(str(exc) + (f" (hint: {exc.hint})" if exc.hint else ""))


def name_prefixed(exc, name):
    """Put "NAME: " first in EXC's line, as LXC's tools prefix every message with the name."""
    if name and not exc.message.startswith(f"{name}: "):
        exc.message = f"{name}: {exc.where()}{exc.message}"
        exc.path = exc.line = None
    return exc


def report(prog, exc):
    sys.stderr.write(f"{prog}: {exc}\n")
    if exc.hint:
        sys.stderr.write(f"{prog}: hint: {pasteable(exc.hint)}\n")


def complete_names(prefix, parsed_args=None, **_):
    """argcomplete: container names in the chosen lxcpath."""
    lxcpath = getattr(parsed_args, "lxcpath", None) if parsed_args else None
    if not lxcpath:
        from ..paths import default_lxcpath
        lxcpath = default_lxcpath()
    try:
        entries = os.listdir(lxcpath)
    except OSError:
        return []
    return sorted(e for e in entries if e.startswith(prefix) and not e.startswith(".")
                  and os.path.exists(os.path.join(lxcpath, e, "config")))


def complete_running(prefix, parsed_args=None, **_):
    """argcomplete: only running containers (attach, console, stop act on nothing else)."""
    from ..paths import default_lxcpath
    from ..api.monitor import running_names

    lxcpath = getattr(parsed_args, "lxcpath", None) or default_lxcpath()
    # settle=False: a tab press must not spawn a supervisor
    return sorted(n for n in running_names(lxcpath, settle=False) if n.startswith(prefix))


def complete_keys(prefix, **_):
    import re
    from ..config.keys import all_key_names

    nic = re.match(r"lxc\.net\.(\d+)\.", prefix)  # keep the NIC index being typed
    return [k for k in all_key_names(int(nic.group(1)) if nic else 0) if k.startswith(prefix)]


def complete_define(prefix, **_):
    """argcomplete for -s KEY=VAL: a key, then the "=" the value follows."""
    if "=" in prefix:
        return []
    return [k + "=" for k in complete_keys(prefix) if not k.endswith(".*")]


def complete_templates(prefix, **_):
    from ..templates.runner import available_templates
    return [t for t in available_templates() if t.startswith(prefix)]


def use_completer(parser, option, completer):
    parser._option_string_actions[option].completer = completer


def print_json(data):
    import json
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
