"""The plan lxctools hands to the compiled entry helper: both halves agree (spawn/entry.py
encodes, native/lxc-entry.c decodes; entry.py's docstring is the description)."""

import os
import re
import struct

from lxctools.spawn import entry

SOURCE = os.path.join(os.path.dirname(__file__), "..", "..", "native", "lxc-entry.c")


def _c_enum(text, name):
    body = re.search(r"enum %s \{(.*?)\};" % name, text, re.S).group(1)
    return {n: int(v) for n, v in re.findall(r"(\w+) = (\d+),", body)}


def test_tags_flags_and_version_match():
    with open(SOURCE) as handle:
        text = handle.read()
    tags = _c_enum(text, "tag")
    assert tags == {n: getattr(entry, n) for n in dir(entry) if n.startswith("TAG_")}
    flags = _c_enum(text, "flag")
    assert flags == {n: getattr(entry, n) for n in dir(entry) if n.startswith("F_")}
    assert int(re.search(r"#define PLAN_VERSION (\d+)", text).group(1)) == entry.PLAN_VERSION
    marker = re.search(r'plan_marker\[\][^=]*= "([^"]+)"', text).group(1)
    assert marker.encode() + b"\0" == entry.MARKER
    for name in tags:  # every tag is described in the docstring's table
        assert re.search(r"\n\s+%d\s+%s\s" % (tags[name], name[4:]), entry.__doc__), name


class _Options:
    command = ["sh", "-c", "exit 3"]
    stdio = (None, 7, -1)
    remount = True
    cwd = None


class _Security:
    no_new_privs = True
    touch_caps = True
    program = None

    def drop_mask(self):
        return (1 << 25) | (1 << 16)


class _Plan:
    options = _Options()
    fds = {"user": 11, "mnt": 12}
    security = _Security()
    prlimit_values = [(7, 1234, -1)]
    proc = [("oom_score_adj", "17")]
    tty_fds = [0, 2]
    persona = 8
    setup_ids = (0, 0)
    uid, gid = 1000, 1000
    cwd = "/tmp"
    env = {"PATH": "/bin", "container": "lxc"}


def _decode(records):
    out = []
    offset = 0
    while offset < len(records):
        tag, length = struct.unpack_from("=II", records, offset)
        assert offset % 8 == 0
        out.append((tag, records[offset + 8:offset + 8 + length]))
        offset += 8 + length + (-length % 8)
    assert offset == len(records)
    return out


def test_encoding():
    records, fds = entry.encode(_Plan(), api=True)
    got = _decode(records)
    tags = [tag for tag, _ in got]
    assert fds == [11, 12, 7]  # namespaces in joining order (user first), then stdio
    # no F_REMOUNT: -R only counts where the mount namespace is not joined
    assert got[0] == (entry.TAG_FLAGS, struct.pack("=I", entry.F_API | entry.F_NO_NEW_PRIVS
                                                   | entry.F_DROP_CAPS))
    assert (entry.TAG_NS, struct.pack("=II", 0, 0x10000000)) in got
    assert (entry.TAG_NS, struct.pack("=II", 1, 0x00020000)) in got
    assert (entry.TAG_STDIO, struct.pack("=iii", -1, 2, -1)) in got
    assert (entry.TAG_TTY, b"\0\2") in got
    assert (entry.TAG_PRLIMIT, struct.pack("=IQQ", 7, 1234, 2 ** 64 - 1)) in got
    assert (entry.TAG_PROC, b"oom_score_adj\0" + b"17\0") in got
    assert (entry.TAG_CAPS, struct.pack("=Q", (1 << 25) | (1 << 16))) in got
    assert (entry.TAG_CWD, b"/tmp\0") in got  # the mount namespace is joined
    assert [v for t, v in got if t == entry.TAG_ARG] == [b"sh\0", b"-c\0", b"exit 3\0"]
    assert tags.index(entry.TAG_PRLIMIT) < tags.index(entry.TAG_NS)


INIT_SOURCE = os.path.join(os.path.dirname(__file__), "..", "..", "native", "lxc-execinit.c")


def test_the_init_plan_matches_its_reader():
    """lxc-execute's init (native/lxc-execinit.c) and payload.exec_init agree on the marker,
    which sealed_copy looks for in the binary and the init at the head of its plan."""
    with open(INIT_SOURCE) as handle:
        text = handle.read()
    marker = re.search(r'#define INIT_MARKER "([^"]+)"', text).group(1)
    assert marker.encode() + b"\0" == entry.INIT_MARKER
    assert entry.init_plan(None, 1000, "/bin/sh") == entry.INIT_MARKER + b"-\0001000\0/bin/sh\0"
    assert entry.init_plan(0, None, b"/x\xff".decode("utf-8", "surrogateescape")) == \
        entry.INIT_MARKER + b"0\0-\0/x\xff\0"


def test_the_supervisor_attaches_in_the_states_python_does():
    """attach/facts.py answers the compiled lxc-attach in the states Container.attach_command
    attaches in, no other."""
    from lxctools.api.container import ATTACHABLE
    from lxctools.attach import facts

    assert facts.ATTACHABLE == ATTACHABLE
