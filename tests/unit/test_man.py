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


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(MAN) if n[-2:] in (".1", ".5", ".7")))
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


def entries(text):
    """{head line: [body lines]} of a page's .TP entries."""
    lines = text.splitlines()
    out = {}
    for i, line in enumerate(lines):
        if line == ".TP" and i + 1 < len(lines):
            body = []
            for rest in lines[i + 2:]:
                if rest in (".TP",) or rest.startswith((".SH", ".SS")):
                    break
                body.append(rest)
            out[lines[i + 1]] = body
    return out


def test_keydocs_cover_the_key_table_exactly():
    from lxctools.config import keydocs, keys

    assert set(keydocs.DOCS) == {key.name for key in keys.KEYS}
    assert set(keydocs.NET_DOCS) == {key.name for key in keys.NET_KEYS}
    for name, (text, default) in [*keydocs.DOCS.items(), *keydocs.NET_DOCS.items()]:
        assert len(text) > 20 and text.endswith("."), name
        assert default and not default.endswith("."), name


def test_every_key_says_what_it_does_its_default_and_an_example():
    from lxctools.config import keydocs, keys

    found = {unescape(head[3:-3]): " ".join(body)
             for head, body in entries(read("lxc.container.conf.5")).items()
             if head.startswith("\\fBlxc")}
    for key in keys.KEYS:
        name = f"{key.name}.*" if key.family and key.name != "lxc.net" else key.name
        if name.startswith("lxctools."):
            continue  # their heads are \fBlxctools...: checked below
        body = unescape(found[name])
        text, default = keydocs.DOCS[key.name]
        assert text.split()[0] in body and f"Default: {default}" in " ".join(body.split()), name
        assert "Example:" in body and ".EX" in body, name
    for key in keys.NET_KEYS:
        body = unescape(found[f"lxc.net.N.{key.name}"])
        assert "Default:" in body and "Example:" in body, key.name
    own = [head for head in entries(read("lxc.container.conf.5")) if head.startswith("\\fBlxctools")]
    assert len(own) == sum(1 for key in keys.KEYS if key.name.startswith("lxctools."))


def test_every_option_of_every_tool_is_described():
    for tool in GEN.tools():
        for head, body in entries(read(f"{tool}.1")).items():
            if head.startswith("\\fB\\-"):
                assert body and body != ["\\&"], (tool, head)


def test_lxc7_overview_names_every_tool_the_files_and_the_unprivileged_setup():
    text = read("lxc.7")
    heads = entries(text)
    assert {unescape(h[3:-6]) for h in heads if h.endswith("\\fR(1)")} == set(GEN.tools())
    plain = unescape(text)
    for needle in (".SH UNPRIVILEGED CONTAINERS", "/etc/subuid", "lxc.idmap = u 0 100000 65536",
                   "lxc-usernet(5)", ".SH DIFFERENCES FROM LXC", ".SH FILES",
                   "/etc/default/lxc"):
        assert needle in plain, needle


def test_lxc_usernet_page_gives_the_format_and_an_example():
    text = unescape(read("lxc-usernet.5"))
    assert ".SH FORMAT" in text and "USER TYPE BRIDGE COUNT" in text
    assert "@GROUP TYPE BRIDGE COUNT" in text and "alice veth lxcbr0 10" in text


def test_pages_name_each_other():
    # SEE ALSO reaches the overview and the file formats from the config page
    text = read("lxc.container.conf.5")
    for page in ("\\fBlxc\\fR(7)", "\\fBlxc.system.conf\\fR(5)", "\\fBlxc\\-usernet\\fR(5)"):
        assert page in text
