#!/usr/bin/env python3
"""Write man/*.1 from each tool's argparse parser and man/lxc.container.conf.5 from the key
table, so the pages cannot drift from the code.

Run after changing a tool's options or a key; tests/unit/test_man.py fails when a page and
its source differ. Commands named in pyproject.toml ([project.scripts], [tool.lxctools.front-door]) whose module is not written yet
get no page (they appear once the module exists and this script is re-run)."""

import argparse
import importlib
import importlib.util
import os
import re
import textwrap
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# A fixed date: a page must regenerate byte for byte, whatever day the check runs.
DATE = "2026-11-22"
SOURCE = "lxctools"


def tools():
    """{tool: module name} for every launcher whose cli module exists."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from installkit import commands

    table = commands(ROOT)
    found = {}
    for tool, target in sorted(table.items()):
        module = target.split(":")[0]
        if importlib.util.find_spec(module) is not None:
            found[tool] = module
    return found


def parser_of(tool, module):
    mod = importlib.import_module(module)
    if hasattr(mod, "build_parser"):
        return mod.build_parser()
    if tool == "lxc-unfreeze":
        # lxc-unfreeze is lxc-freeze's body under another name
        from lxctools.cli.freeze import build_parser
        return build_parser("lxc-unfreeze", "Unfreeze")
    return None


def _command_style(usage, tool):
    """lxc-config's USAGE: every line "TOOL ARGS: what it does"."""
    lines = [l.strip() for l in usage.replace("Usage:", "").splitlines() if l.strip()]
    return all(l.startswith(tool + " ") and ":" in l for l in lines)


def usage_options(tool, usage):
    """Option strings a hand-written USAGE text names (tools that parse argv by hand, as
    LXC's do): what their page must list."""
    found = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage))
    if _command_style(usage, tool):
        found |= {"-h", "--help", "--usage"}  # lxc-config answers these with its usage
    return found


def _getopt_entries(usage):
    """(synopsis lines, [[option head, text]], other lines) of a getopt-style USAGE."""
    synopsis, entries, notes = [], [], []
    for raw in usage.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.lower().startswith("usage:"):
            synopsis.append(line[len("usage:"):].strip())
        elif line.startswith("-"):
            parts = re.split(r"\s{2,}", line, maxsplit=1)
            entries.append([parts[0], parts[1] if len(parts) > 1 else ""])
        elif raw.startswith("   ") and entries:
            entries[-1][1] += " " + line
        else:
            notes.append(line)
    return synopsis, entries, notes


def _head(text):
    """"-u UID, -g GID" as roff: options bold, their arguments italic."""
    out = []
    for piece in text.split(", "):
        opt, _, arg = piece.partition(" ")
        out.append(f"\\fB{esc(opt)}\\fR" + (f" \\fI{esc(arg)}\\fR" if arg else ""))
    return ", ".join(out)


def render_handwritten(tool, module):
    """A page for a tool that parses its arguments by hand: from its USAGE text (and ITEMS)."""
    mod = importlib.import_module(module)
    first = " ".join((mod.__doc__ or tool).strip().split("\n\n")[0].split())
    summary = first.split(":", 1)[-1].strip().split(". ")[0].rstrip(".")
    lines = [f'.TH {tool.upper()} 1 "{DATE}" "{SOURCE}" "lxctools commands"',
             ".SH NAME", *wrap(f"{tool} \0 {summary}"), ".SH SYNOPSIS", ".nf"]
    if _command_style(mod.USAGE, tool):
        usage = [l for l in mod.USAGE.replace("Usage:", "").splitlines() if l.strip()]
        for line in usage:
            lines += wrap(line.strip().partition(":")[0].strip())
        lines += [".fi", ".SH OPTIONS"]
        for line in usage:
            command, _, what = line.strip().partition(":")
            head = command.split()[1]
            lines += [".TP", f"\\fB{esc(head)}\\fR" if head.startswith("-") else f"\\fI{esc(head)}\\fR"]
            lines += wrap(what.strip())
        lines += [".TP", "\\fB\\-h\\fR, \\fB\\-\\-help\\fR, \\fB\\-\\-usage\\fR", "print the usage"]
    else:
        synopsis, entries, notes = _getopt_entries(mod.USAGE)
        for line in synopsis:
            lines += wrap(line, indent="    ")
        lines += [".fi", ".SH DESCRIPTION"]
        lines += wrap(summary[:1].upper() + summary[1:] + ".")
        if notes:
            lines += [".PP"] + wrap(" ".join(notes))
        lines.append(".SH OPTIONS")
        for head, text in entries:
            lines += [".TP", _head(head)] + (wrap(text) or ["\\&"])
        listed = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", " ".join(h for h, _ in entries)))
        for opt in sorted(usage_options(tool, mod.USAGE) - listed):
            lines += [".TP", f"\\fB{esc(opt)}\\fR",
                      "print the usage and exit" if opt in ("-h", "--help") else "see SYNOPSIS"]
    items = getattr(mod, "ITEMS", [])
    if items:
        lines += [".SH ITEMS", "An item may be abbreviated to a prefix; the first match counts.",
                  ".PP", ".nf", *(esc(i) for i in items), ".fi"]
    lines += [".SH SEE ALSO"] + see_also(t for t in sorted(tools()) if t != tool) + [
        "\\fBlxc.container.conf\\fR(5)"]
    return "\n".join(lines) + "\n"


def esc(text):
    """roff-escape one line of text (backslashes, hyphens, a leading dot or quote)."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return text


def wrap(text, indent=""):
    """Escaped roff lines of at most 80 bytes (mandoc's style limit), no line opening with
    a dot or quote. A NUL stands for the NAME section's \\- dash."""
    lines = textwrap.wrap(esc(text).replace("\0", "\\-"), width=78, subsequent_indent=indent,
                          break_on_hyphens=False, break_long_words=False)
    return ["\\&" + line if line.startswith((".", "'")) else line for line in lines]


def paragraphs(text):
    """Lines of roff for free text: blank lines become .PP, paragraphs refilled."""
    out = []
    for para in split_paragraphs(text):
        if out:
            out.append(".PP")
        out += wrap(" ".join(para.split()))
    return out


def split_paragraphs(text):
    return [p for p in re.split(r"\n\s*\n", text.strip("\n")) if p.strip()]


def option_strings(parser):
    """Every option string the parser accepts (what a page must list, and nothing else)."""
    names = set()
    for action in parser._actions:
        if action.help is argparse.SUPPRESS:
            continue
        names.update(action.option_strings)
    return names


def _expand_help(parser, action):
    formatter = parser._get_formatter()
    return formatter._expand_help(action) if action.help else ""


def _option_head(action):
    parts = []
    for opt in action.option_strings:
        piece = f"\\fB{esc(opt)}\\fR"
        if action.nargs != 0:
            metavar = action.metavar or action.dest.upper()
            if isinstance(metavar, tuple):
                metavar = " ".join(metavar)
            long = opt.startswith("--")
            value = f"\\fI{esc(metavar)}\\fR"
            if action.nargs == "?":
                piece += f"[={value}]" if long else f"[{value}]"
            else:
                piece += f"={value}" if long else f" {value}"
        parts.append(piece)
    return ", ".join(parts)


def see_also(names):
    return [f"\\fB{esc(t)}\\fR(1)," for t in names]


def render_tool(tool, parser):
    paras = split_paragraphs(parser.description or "")
    # a paragraph opening with the tool's name is the tool's own synopsis
    synopsis = [p for p in paras if p.split()[0] == tool]
    body = [p for p in paras if p not in synopsis]
    summary = " ".join(body[0].split()).rstrip(".") if body else tool
    summary = summary[:1].lower() + summary[1:]
    lines = [f'.TH {tool.upper()} 1 "{DATE}" "{SOURCE}" "lxctools commands"',
             ".SH NAME", *wrap(f"{tool} \0 {summary}"),
             ".SH SYNOPSIS", ".nf"]
    if not synopsis:
        usage = parser.format_usage().strip()
        synopsis = [usage[len("usage: "):] if usage.startswith("usage: ") else usage]
    for para in synopsis:
        for line in para.splitlines():
            lines += wrap(" ".join(line.split()), indent="    ")
    lines += [".fi", ".SH DESCRIPTION"]
    lines += paragraphs("\n\n".join(body))
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS]
        if not actions:
            continue
        title = {"options": "OPTIONS", "optional arguments": "OPTIONS",
                 "positional arguments": "ARGUMENTS"}.get(group.title, group.title.upper())
        lines.append(f".SH {esc(title)}")
        for action in actions:
            lines.append(".TP")
            if action.option_strings:
                lines.append(_option_head(action))
            else:
                lines.append(f"\\fI{esc(action.metavar or action.dest)}\\fR")
            text = _expand_help(parser, action)
            if action.choices and "%(choices)" not in (action.help or ""):
                text += f" (one of: {', '.join(map(str, action.choices))})"
            lines += wrap(text.strip()) or ["\\&"]
    if parser.epilog:
        lines.append(".SH NOTES")
        lines += paragraphs(parser.epilog)
    lines += [".SH SEE ALSO"] + see_also(t for t in sorted(tools()) if t != tool) + [
        "\\fBlxc.container.conf\\fR(5)"]
    return "\n".join(lines) + "\n"


def _grammar_name(key):
    doc = (getattr(key.grammar, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else getattr(key.grammar, "__name__", "text").replace("_", " ")


# a sample value for the rows of the key table that have none
EXAMPLES = {"lxc.include": "/usr/share/lxc/config/common.conf", "lxc.net": ""}
# the name a family's example uses for the part after its prefix
FAMILY_EXAMPLES = {"lxc.cgroup2": "lxc.cgroup2.memory.max", "lxc.cgroup": "lxc.cgroup.cpu.shares",
                   "lxc.namespace.share": "lxc.namespace.share.net",
                   "lxc.sysctl": "lxc.sysctl.net.ipv4.ip_forward",
                   "lxc.proc": "lxc.proc.oom_score_adj", "lxc.prlimit": "lxc.prlimit.nofile"}


def _key_entry(name, key, doc):
    """A key's .TP entry: what it does, its value, repeatable or not, its default and an
    example (DOC: keydocs' (text, default))."""
    text, default = doc
    lines = [".TP", f"\\fB{esc(name)}\\fR"]
    facts = [text]
    facts.append(f"Value: {_grammar_name(key)}.")
    if key.kind == "list":
        facts.append("Repeatable: each line adds a value; an empty value clears the list.")
    if key.net_types:
        facts.append(f"Only for type {', '.join(key.net_types)}.")
    facts.append(f"Default: {default}.")
    lines += wrap(" ".join(facts))
    example = key.examples[0] if key.examples else EXAMPLES[key.name]
    shown = FAMILY_EXAMPLES.get(key.name, name) if key.family else name
    lines += [".RS", ".PP", "Example:", ".EX", esc(f"{shown} = {example}".rstrip()), ".EE", ".RE"]
    return lines


CONTAINER_CONF_INTRO = """\
A container is described by one file, LXCPATH/NAME/config (LXCPATH is /var/lib/lxc for root,
~/.local/share/lxc for other users; see lxc.system.conf(5)). lxc-create writes it from the
default configuration (lxc.default_config: /etc/lxc/default.conf, or
~/.config/lxc/default.conf), the -f file and what the template adds; lxc-copy copies it; the
other tools read it, and lxc-start -s KEY=VALUE sets a key for one start.

Each line is KEY = VALUE, blanks around the = ignored, a value in matching quotes taken without
them; a line starting with # (after blanks) is a comment, and a line starting with neither
lxc. nor lxctools. is skipped, as liblxc skips it (so real LXC skips lxctools' own lxctools.*
keys). A repeatable key (marked below) accumulates one value per line, and the same key with
an empty value clears what came before; for any other key the last line wins. lxc.include
reads another file, or each *.conf file of a directory, where it stands. A key that is not
known, or a value its grammar refuses, is reported with the file, line and the key meant.

The keys are lxctools' key table, the one every tool reads, checks and completes from,
grouped by the part of the runtime that applies them. Network interfaces are
lxc.net.N.* groups, N counting from 0."""

CONTAINER_CONF_EXAMPLE = """\
# a privileged container on the bridge lxcbr0, started at boot
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = x86_64
lxc.rootfs.path = dir:/var/lib/lxc/web/rootfs
lxc.uts.name = web
lxc.net.0.type = veth
lxc.net.0.link = lxcbr0
lxc.net.0.flags = up
lxc.net.0.ipv4.address = 10.0.3.10/24
lxc.net.0.ipv4.gateway = 10.0.3.1
lxc.start.auto = 1
lxc.group = onboot
lxc.cgroup2.memory.max = 1G
lxc.mount.entry = /srv/www srv/www none bind,create=dir 0 0"""


def render_keys():
    from lxctools.config import keydocs
    from lxctools.config import keys as k
    from lxctools.config import legacy

    lines = [f'.TH LXC.CONTAINER.CONF 5 "{DATE}" "{SOURCE}" "lxctools file formats"',
             ".SH NAME", "lxc.container.conf \\- container configuration keys read by lxctools",
             ".SH DESCRIPTION"]
    lines += paragraphs(CONTAINER_CONF_INTRO)
    lines.append(".SH KEYS")
    by_subsystem = {}
    for key in k.KEYS:
        by_subsystem.setdefault(key.subsystem, []).append(key)
    for subsystem in sorted(by_subsystem):
        lines.append(f".SS {esc(subsystem)}")
        for key in by_subsystem[subsystem]:
            name = f"{key.name}.*" if key.family and key.name != "lxc.net" else key.name
            lines += _key_entry(name, key, keydocs.DOCS[key.name])
    lines += [".SS network interfaces",
              "Each \\fBlxc.net.\\fIN\\fB.*\\fR group describes one interface, N counting",
              "from 0; \\fBlxc.net\\fR with an empty value removes every interface."]
    for key in k.NET_KEYS:
        lines += _key_entry(f"lxc.net.N.{key.name}", key, keydocs.NET_DOCS[key.name])
    lines += [".SH EXAMPLE", ".EX", *(esc(line) for line in CONTAINER_CONF_EXAMPLE.splitlines()),
              ".EE", ".SH KEYS LXC DOCUMENTS AND DOES NOT READ"]
    for name, why in sorted(keydocs.LXC_DOCUMENTED_NOT_READ.items()):
        # italic, not bold: a bold head is a key of the table (tests/unit/test_man.py)
        lines += [".TP", f"\\fI{esc(name)}\\fR"] + wrap(why[:1].upper() + why[1:] + ".")
    lines += [".SH LEGACY KEYS",
              "Keys of LXC before 3.0 are read with a warning naming the current key;",
              "\\fBlxc\\-update\\-config\\fR(1) rewrites a file to the current names.",
              ".TS", "l l.", "Legacy key\tCurrent key"]
    for old, new in sorted(legacy.RENAMES.items()):
        lines.append(f"{esc(old)}\t{esc(new)}")
    lines += [f"{esc('lxc.limit.*')}\t{esc('lxc.prlimit.*')}",
              f"{esc('lxc.network.N.*')}\t{esc('lxc.net.N.*')}",
              f"{esc('lxc.network.ipv4')}\t{esc('lxc.net.N.ipv4.address')}",
              f"{esc('lxc.network.ipv6')}\t{esc('lxc.net.N.ipv6.address')}"]
    for old in sorted(legacy.DROPPED):
        lines.append(f"{esc(old)}\t(removed)")
    lines += [".TE", ".SH SEE ALSO", "\\fBlxc\\fR(7),", "\\fBlxc.system.conf\\fR(5),",
              "\\fBlxc\\-usernet\\fR(5),"] + see_also(sorted(tools()))
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join(lines) + "\n"


SYSTEM_KEY_DOCS = {
    "lxc.lxcpath": "Where containers live. Default: /var/lib/lxc for root, "
                   "~/.local/share/lxc for other users.",
    "lxc.default_config": "The configuration a new container starts from. Default: "
                          "/etc/lxc/default.conf for root, ~/.config/lxc/default.conf for others.",
    "lxc.bdev.lvm.vg": "Volume group of LVM-backed containers (read for compatibility; "
                       "lxctools creates dir-backed ones).",
    "lxc.bdev.lvm.thin_pool": "Thin pool of LVM-backed containers (compatibility).",
    "lxc.bdev.zfs.root": "ZFS dataset under which ZFS-backed containers go (compatibility).",
    "lxc.bdev.rbd.rbdpool": "Ceph pool of RBD-backed containers (compatibility).",
    "lxc.bdev.rbd.rbduser": "Ceph user of RBD-backed containers (compatibility).",
    "lxc.cgroup.use": "On cgroup v1, the controllers to use (comma-separated; unset: all).",
    "lxc.cgroup.pattern": "The cgroup a container's goes under, %n standing for its name "
                          "(unset: LXC 5's layout).",
    "lxctools.image_cache.size": "lxctools only: how much the unpacked-image cache "
                                 "(CACHE/lxctools/unpacked) may hold, e.g. 4G or 512M; 0 "
                                 "turns it off. The download and local templates keep each "
                                 "image's unpacked tree there and make later containers of "
                                 "the same image from it (btrfs snapshot, reflink or copy); "
                                 "least recently used trees go first. "
                                 "LXCTOOLS_IMAGE_CACHE_SIZE overrides it.",
}


def render_system_conf():
    from lxctools import paths

    lines = [f'.TH LXC.SYSTEM.CONF 5 "{DATE}" "{SOURCE}" "lxctools file formats"',
             ".SH NAME", "lxc.system.conf \\- settings of the lxc\\-* tools (lxc.conf)",
             ".SH DESCRIPTION"]
    lines += wrap("/etc/lxc/lxc.conf for root, ~/.config/lxc/lxc.conf for other users "
                  "(LXC_GLOBAL_CONF names another file): KEY = VALUE lines, # comments. "
                  "lxc-config -l lists the keys and lxc-config KEY shows a value.")
    lines.append(".SH KEYS")
    for key, default in paths.GLOBAL_DEFAULTS.items():
        text = SYSTEM_KEY_DOCS.get(key, "See lxc-config.")
        if default is not None:
            text += f" Default: {default}."
        lines += [".TP", f"\\fB{esc(key)}\\fR"] + wrap(text)
    lines += [".SH SEE ALSO", "\\fBlxc\\-config\\fR(1),", "\\fBlxc.container.conf\\fR(5)"]
    return "\n".join(lines) + "\n"


USERNET_DESCRIPTION = """\
/etc/lxc/lxc-usernet is read by LXC's setuid helper lxc-user-nic, which makes the veth pairs
of unprivileged containers: a user cannot create an interface in the host's network
namespace, so lxc-start asks the helper, and it does so only within the quotas this file
grants. lxctools calls the same helper as liblxc does, and reads this file itself first to
name what is missing before the helper would only say "Quota reached"."""

USERNET_FIELDS = [
    ("\\fIUSER\\fR, \\fB@\\fR\\fIGROUP\\fR",
     "A user name, or @ and a group name: every member of the group."),
    ("\\fITYPE\\fR", "veth, the only type lxc-user-nic makes."),
    ("\\fIBRIDGE\\fR", "The host bridge the host end is attached to (lxc.net.N.link of the "
                        "container), or an Open vSwitch bridge."),
    ("\\fICOUNT\\fR", "How many such interfaces may exist at once. The counts of every line "
                       "that matches the user (by name or by one of its groups) and the bridge "
                       "are added up."),
]

USERNET_AFTER = """\
lxc-checkconfig reports whether lxc-user-nic is present and setuid, and whether the file
grants the user anything. Without a bridge, lxctools.net.usermode = slirp4netns gives an
unprivileged container a user-mode network (see lxc.container.conf(5))."""


def render_usernet():
    lines = [f'.TH LXC\\-USERNET 5 "{DATE}" "{SOURCE}" "lxctools file formats"', ".SH NAME",
             "lxc\\-usernet \\- which users may attach how many veth interfaces to which bridge",
             ".SH DESCRIPTION"]
    lines += paragraphs(USERNET_DESCRIPTION)
    lines += [".SH FORMAT", "One grant per line, fields separated by blanks; # starts a comment.",
              ".PP", ".EX", "USER TYPE BRIDGE COUNT", "@GROUP TYPE BRIDGE COUNT", ".EE"]
    for head, text in USERNET_FIELDS:
        lines += [".TP", head] + wrap(text)
    lines += [".PP"] + wrap("What is in use is recorded by lxc-user-nic in /run/lxc/nics, "
                            "readable by root only; an interface leaves it when its container "
                            "stops.")
    lines += [".SH EXAMPLE", ".EX",
              esc("# alice: 10 interfaces on lxcbr0; each member of lxcusers: 2 on br0"),
              "alice veth lxcbr0 10", "@lxcusers veth br0 2", ".EE", ".PP",
              "The container's configuration then uses, as that user:", ".PP", ".EX",
              "lxc.net.0.type = veth", "lxc.net.0.link = lxcbr0", "lxc.net.0.flags = up", ".EE",
              ".PP"]
    lines += paragraphs(USERNET_AFTER)
    lines += [".SH SEE ALSO", "\\fBlxc\\fR(7),", "\\fBlxc.container.conf\\fR(5),",
              "\\fBlxc\\-start\\fR(1),", "\\fBlxc\\-checkconfig\\fR(1)"]
    return "\n".join(lines) + "\n"


LXC7_INTRO = """\
lxctools is the LXC command suite (lxc-create, lxc-start, lxc-attach, ...) with its own
runtime in Python: the same options, lxc.* keys, files, directory layout and exit codes as
LXC 5.0, and no liblxc. A container is a directory LXCPATH/NAME holding its configuration
(config, lxc.container.conf(5)) and usually its root filesystem (rootfs); the tools find it
by name (-n) in an lxcpath (-P, default lxc.lxcpath of lxc.system.conf(5)).

A container's life: lxc-create makes it from a template (busybox, download, local, or an
LXC template script), lxc-start runs its init in new namespaces under a supervisor
(lxc-start -F stays in the foreground), lxc-attach runs a command inside, lxc-console reaches
its ttys, lxc-info and lxc-ls report, lxc-freeze and lxc-unfreeze pause it, lxc-stop halts
it, lxc-copy and lxc-snapshot copy it, lxc-destroy removes it. lxc-autostart acts on the
containers marked lxc.start.auto (at boot: lxc.service)."""

LXC7_FILES = """\
/etc/lxc/lxc.conf (~/.config/lxc/lxc.conf): the tools' settings, lxc.system.conf(5).

/etc/lxc/default.conf (~/.config/lxc/default.conf): the configuration every new container
starts from.

/etc/lxc/lxc-usernet: the veth quotas of unprivileged users, lxc-usernet(5).

/var/lib/lxc (~/.local/share/lxc): the containers; /var/cache/lxc (~/.cache/lxc): downloaded
images.

/etc/default/lxc: what lxc.service starts at boot and how it stops the containers at
shutdown (LXC_AUTO, BOOTGROUPS, OPTIONS, SHUTDOWNDELAY, STOPOPTS); /etc/conf.d/lxc for
OpenRC."""

LXC7_UNPRIVILEGED = """\
Containers of an ordinary user run in a user namespace: root inside is an unprivileged id
on the host. The user needs subordinate ids, given by root in /etc/subuid and /etc/subgid
(usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER), and the same ranges
in ~/.config/lxc/default.conf:

    lxc.idmap = u 0 100000 65536
    lxc.idmap = g 0 100000 65536
    lxc.net.0.type = empty

newuidmap and newgidmap (Debian's uidmap package) write the mappings. Resource limits
(lxc.cgroup2.*) need a cgroup the user owns: lxc-unpriv-start and lxc-unpriv-attach run
lxc-start and lxc-attach in one delegated by the user's systemd where the host needs it. For
a network: a veth on a
bridge that root grants in lxc-usernet(5), or lxctools.net.usermode = slirp4netns, which needs
no grant. lxc-checkconfig says what is missing and how to fix it; lxc-create, lxc-start and
lxc-attach then work as for root, with the containers in ~/.local/share/lxc."""

LXC7_DIFFERENCES = """\
What lxctools adds or does otherwise than LXC 5.0.2:

The lxctools.* keys (lxctools.net.usermode, lxctools.journal.link, lxctools.unconfined),
which LXC skips.

AppArmor is applied as LXC applies it (lxc.apparmor.*: LXC's default profile, a generated
one, a named one); a named profile that is not loaded is refused before the start. SELinux
contexts are not applied: lxc-start refuses a config with lxc.selinux.context. Without an
LSM, confinement is the capability set, the cgroup device rules and seccomp, and lxc-start
warns about a privileged container that lacks them.

Errors name the file, line and key, with a hint to paste; options and keys a letter off get
the one meant. lxc-destroy --dry-run says what would be removed; lxc-info and lxc-ls take
--format json.

The busybox template is built in (no network), and download and local templates verify and
cache images and unpack them safely; templates/ holds lxc-busybox, lxc-download and
lxc-local for real LXC's lxc-create, installed as lxc-lxctools-NAME.

A container started by real LXC is seen, entered, frozen and stopped by lxctools' tools, and
lxctools answers LXC's command socket, so LXC's tools and python3-lxc work on containers
lxctools runs. Every lxc-* --version prints 5.0.2, the interface followed; lxctools
--version prints lxctools' own version."""


def tool_summaries(rendered):
    """{tool: its NAME line's summary} from the rendered section-1 pages."""
    out = {}
    for name, text in rendered.items():
        if not name.endswith(".1"):
            continue
        body = text.split(".SH NAME\n", 1)[1].split("\n.SH ", 1)[0]
        summary = " ".join(body.split()).split(" \\- ", 1)[1]
        out[name[:-2]] = summary.replace("\\-", "-").replace("\\e", "\\")  # wrap() escapes
    return out


def render_lxc7(rendered):
    lines = [f'.TH LXC 7 "{DATE}" "{SOURCE}" "lxctools overview"', ".SH NAME",
             "lxc \\- Linux containers with lxctools: an overview", ".SH DESCRIPTION"]
    lines += paragraphs(LXC7_INTRO)
    lines.append(".SH COMMANDS")
    for tool, summary in sorted(tool_summaries(rendered).items()):
        lines += [".TP", f"\\fB{esc(tool)}\\fR(1)"] + wrap(summary)
    lines.append(".SH FILES")
    lines += paragraphs(LXC7_FILES)
    lines.append(".SH UNPRIVILEGED CONTAINERS")
    intro, rest = LXC7_UNPRIVILEGED.split("\n\n    lxc.idmap", 1)
    sample, after = ("    lxc.idmap" + rest).split("\n\n", 1)
    lines += paragraphs(intro) + [".PP", ".EX"]
    lines += [esc(line.strip()) for line in sample.splitlines()] + [".EE", ".PP"]
    lines += paragraphs(after)
    lines.append(".SH DIFFERENCES FROM LXC")
    lines += paragraphs(LXC7_DIFFERENCES)
    lines += [".SH SEE ALSO", "\\fBlxc.container.conf\\fR(5),", "\\fBlxc.system.conf\\fR(5),",
              "\\fBlxc\\-usernet\\fR(5),"] + see_also(sorted(tools()))
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join(lines) + "\n"


def pages():
    """{file name under man/: text} for every page."""
    out = {}
    for tool, module in tools().items():
        parser = parser_of(tool, module)
        if parser is not None:
            out[f"{tool}.1"] = render_tool(tool, parser)
        else:
            out[f"{tool}.1"] = render_handwritten(tool, module)
    out["lxc.container.conf.5"] = render_keys()
    out["lxc.system.conf.5"] = render_system_conf()
    out["lxc-usernet.5"] = render_usernet()
    out["lxc.7"] = render_lxc7(out)
    return out


def main():
    mandir = os.path.join(ROOT, "man")
    os.makedirs(mandir, exist_ok=True)
    wanted = pages()
    for name in os.listdir(mandir):
        if name not in wanted and name.endswith((".1", ".5", ".7")):
            os.unlink(os.path.join(mandir, name))
    for name, text in wanted.items():
        with open(os.path.join(mandir, name), "w") as handle:
            handle.write(text)
    print(f"wrote {len(wanted)} pages to {mandir}")


if __name__ == "__main__":
    main()
