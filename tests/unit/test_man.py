"""man/ is generated from the argparse parsers and the key table (tools/make-man.py): a page
that lists an option the tool lacks, or lacks one it has, fails here."""

import importlib
import importlib.util
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "man")


def load_generator():
    spec = importlib.util.spec_from_file_location("make_man", os.path.join(ROOT, "tools/make-man.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = load_generator()


def read(name):
    with open(os.path.join(MAN, name)) as handle:
        return handle.read()


def unescape(text):
    return text.replace("\\-", "-").replace("\\e", "\\")


def page_options(text):
    """Option strings named in the heads of a page's option entries (the line after .TP)."""
    lines = text.splitlines()
    found = set()
    for before, head in zip(lines, lines[1:]):
        if before == ".TP" and head.startswith("\\fB\\-"):
            found.update(unescape(m) for m in re.findall(r"\\fB(\\-[^\\]*(?:\\-[^\\]*)*)\\fR", head))
    return found


def test_every_tool_module_has_a_page_and_nothing_else_does():
    pages = {n for n in os.listdir(MAN) if n.endswith(".1")}
    assert pages == {f"{tool}.1" for tool in GEN.tools()}, "run tools/make-man.py"


@pytest.mark.parametrize("tool", sorted(GEN.tools()))
def test_page_lists_exactly_the_parsers_options(tool):
    parser = GEN.parser_of(tool, GEN.tools()[tool])
    if parser is None:  # parsed by hand (lxc-config, as LXC's): its USAGE text is the source
        in_parser = GEN.usage_options(tool, importlib.import_module(GEN.tools()[tool]).USAGE)
    else:
        in_parser = GEN.option_strings(parser)
    in_page = page_options(read(f"{tool}.1"))
    assert in_parser - in_page == set(), f"options missing from man/{tool}.1: run tools/make-man.py"
    assert in_page - in_parser == set(), f"man/{tool}.1 lists options {tool} lacks: run tools/make-man.py"
    assert in_page


def test_pages_regenerate_byte_for_byte():
    for name, text in GEN.pages().items():
        assert read(name) == text, f"man/{name} is stale: run tools/make-man.py"


def test_container_conf_lists_every_key_and_only_keys():
    from lxctools.config import keys

    text = read("lxc.container.conf.5")
    lines = text.splitlines()
    in_page = {unescape(head[3:-3]) for before, head in zip(lines, lines[1:])
               if before == ".TP" and head.startswith("\\fBlxc")}
    wanted = set(keys.all_key_names(net_index=0))
    wanted = {n.replace("lxc.net.0.", "lxc.net.N.") for n in wanted} | {"lxc.net"}
    assert in_page == wanted


def test_option_heads_are_found():
    # page_options must see both spellings and a value, or the tests above prove nothing
    assert {"-n", "--name", "-P", "--lxcpath", "-e", "--elevated-privileges"} <= \
        page_options(read("lxc-attach.1"))


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(MAN) if n[-2:] in (".1", ".5")))
def test_mandoc_lint_clean(name):
    mandoc = shutil.which("mandoc")
    if mandoc is None:
        pytest.skip("mandoc is not installed (./setup test installs it)")
    proc = subprocess.run([mandoc, "-T", "lint", "-W", "style", os.path.join(MAN, name)],
                          capture_output=True, text=True)
    assert proc.stdout + proc.stderr == ""
    assert proc.returncode == 0


def test_system_conf_lists_every_lxc_conf_key():
    from lxctools import paths

    lines = read("lxc.system.conf.5").splitlines()
    in_page = {unescape(head[3:-3]) for before, head in zip(lines, lines[1:])
               if before == ".TP" and head.startswith("\\fBlxc")}
    assert in_page == set(paths.GLOBAL_DEFAULTS)
