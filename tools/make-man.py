#!/usr/bin/env python3
"""Write man/*.1 from each tool's argparse parser and man/lxc.container.conf.5 from the key
table, so the pages cannot drift from the code.

Run after changing a tool's options or a key; tests/unit/test_man.py fails when a page and
its source differ. Tools named in [tool.lxctools.launchers] whose module is not written yet
get no page (they appear once the module exists and this script is re-run)."""

import argparse
import importlib
import importlib.util
import os
import re
import textwrap
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# A fixed date: a page must regenerate byte for byte, whatever day the check runs.
DATE = "2026-11-22"
SOURCE = "lxctools"


def tools():
    """{tool: module name} for every launcher whose cli module exists."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        table = tomllib.load(handle)["tool"]["lxctools"]["launchers"]
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


def _key_entry(name, key):
    lines = [".TP", f"\\fB{esc(name)}\\fR"]
    facts = []
    if key.doc:
        facts.append(key.doc[:1].upper() + key.doc[1:] + ".")
    facts.append(f"Value: {_grammar_name(key)}.")
    if key.kind == "list":
        facts.append("Repeatable: each line adds a value; an empty value clears the list.")
    if key.net_types:
        facts.append(f"Only for type {', '.join(key.net_types)}.")
    if key.examples:
        facts.append(f"Example: {name.replace('*', 'KEY')} = {key.examples[0]}")
    lines += wrap(" ".join(facts))
    return lines


def render_keys():
    from lxctools.config import keys as k
    from lxctools.config import legacy

    lines = [f'.TH LXC.CONTAINER.CONF 5 "{DATE}" "{SOURCE}" "lxctools file formats"',
             ".SH NAME", "lxc.container.conf \\- container configuration keys read by lxctools",
             ".SH DESCRIPTION",
             "A container's configuration is a file of \\fIkey\\fR = \\fIvalue\\fR lines;",
             "lines starting with # are comments. A repeatable key accumulates values and an",
             "empty value clears it; for any other key the last line wins.",
             "\\fBlxc.include\\fR reads a file, or every *.conf file of a directory, in place.",
             ".PP",
             "The keys below are lxctools' key table, the one every tool reads, checks and",
             "completes from. Each entry names the part of the runtime that applies it.",
             ".SH KEYS"]
    by_subsystem = {}
    for key in k.KEYS:
        by_subsystem.setdefault(key.subsystem, []).append(key)
    for subsystem in sorted(by_subsystem):
        lines.append(f".SS {esc(subsystem)}")
        for key in by_subsystem[subsystem]:
            name = f"{key.name}.*" if key.family and key.name != "lxc.net" else key.name
            lines += _key_entry(name, key)
    lines += [".SS network interfaces",
              "Each \\fBlxc.net.\\fIN\\fB.*\\fR group describes one interface, N counting",
              "from 0; \\fBlxc.net\\fR with an empty value removes every interface."]
    for key in k.NET_KEYS:
        lines += _key_entry(f"lxc.net.N.{key.name}", key)
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
    lines += [".TE", ".SH SEE ALSO"] + see_also(sorted(tools()))
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
    return out


def main():
    mandir = os.path.join(ROOT, "man")
    os.makedirs(mandir, exist_ok=True)
    wanted = pages()
    for name in os.listdir(mandir):
        if name not in wanted and name.endswith((".1", ".5")):
            os.unlink(os.path.join(mandir, name))
    for name, text in wanted.items():
        with open(os.path.join(mandir, name), "w") as handle:
            handle.write(text)
    print(f"wrote {len(wanted)} pages to {mandir}")


if __name__ == "__main__":
    main()
