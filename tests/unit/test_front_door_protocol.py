"""The compiled front door (native/lxc-front.c) and the Python side agree on the protocol:
the states, the supervisor's commands it sends, the socket name of an lxcpath and a name,
the default lxcpath read from lxc.conf, how -P is normalised. Run as `lxc-front`, the
program prints what it computed; these tests compare that with monitor/commands.py and
paths.py (the single definition on the Python side)."""

import inspect
import os
import subprocess
import sys

import pytest

import lxctools

BINARY = os.path.join(os.path.dirname(lxctools.__file__), "libexec", "lxc-front")


def front(*args, env=None, cwd=None):
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"the front door was not built ({BINARY}): pip install -e . builds it")
    done = subprocess.run([BINARY, *args], capture_output=True, env=env, cwd=cwd)
    return done.returncode, done.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def protocol():
    """{word: [values]} of `lxc-front protocol`; "sends" and "reads" (one line per request)
    as [[command, field...], ...]."""
    code, out = front("protocol")
    assert code == 0
    known = {"sends": [], "reads": []}
    for line in out.splitlines():
        word, *values = line.split()
        if word in ("sends", "reads"):
            known[word].append(values)
        else:
            known[word] = values
    return known


def protocol_module():
    """The monitor's typed protocol module (issue 20), where this tree has it."""
    import importlib
    for name in ("lxctools.monitor.protocol", "lxctools.monitor.protocol"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def test_states_are_the_protocols():
    from lxctools.monitor.commands import STATES
    assert tuple(protocol()["states"]) == tuple(STATES)


def test_commands_are_the_supervisors():
    from lxctools.monitor.supervisor import Supervisor
    for command in protocol()["commands"]:
        assert callable(getattr(Supervisor, "cmd_" + command, None)), command


def test_requests_and_replies_are_the_protocols():
    """Every request the front door sends is a command of the supervisor, with fields it
    takes; every field it reads is one of the reply's (the typed protocol module's classes
    where it exists, else the supervisor's handlers and the replies they build)."""
    import inspect as _inspect
    from lxctools.monitor.supervisor import Supervisor

    known = protocol()
    module = protocol_module()
    if module is None:
        for command, *fields in known["sends"]:
            source = _inspect.getsource(getattr(Supervisor, "cmd_" + command))
            for field in fields:
                assert f'"{field}"' in source, (command, field)
        for command, *fields in known["reads"]:
            source = (_inspect.getsource(Supervisor) if command != "error" else "\"error\"")
            for field in fields:
                assert f'"{field}"' in source, (command, field)
        return
    assert known["version"] == [str(module.VERSION)]
    assert known["sender-pidfd"] == [module.SENDER_PIDFD]
    requests = {cls.CMD: cls for cls in vars(module).values()
                if isinstance(cls, type) and getattr(cls, "CMD", None)}
    for command, *fields in known["sends"]:
        assert command in requests, command
        names = {name for name, _types, _default in requests[command].FIELDS}
        assert set(fields) <= names, (command, fields, names)
    for command, *fields in known["reads"]:
        reply = module.ErrorReply if command == "error" else requests[command].REPLY
        names = {name for name, _types, _default in reply.FIELDS}
        assert set(fields) <= names, (command, fields, names)


def test_timeouts_and_limits_are_the_pythons():
    from lxctools.api.container import MAX_NAME
    from lxctools.monitor.commands import request
    known = protocol()
    assert float(known["timeout"][0]) == inspect.signature(request).parameters["timeout"].default
    assert int(known["max-name"][0]) == MAX_NAME
    from lxctools.monitor import lxcsocket
    assert int(known["lxc-sun-path"][0]) == lxcsocket._SUN_PATH  # noqa: SLF001
    # lxc-stop -k waits this long for STOPPED (monitor/control.py stop)
    from lxctools.monitor import control
    assert f'wait_for(lxcpath, name, ["STOPPED"], {known["kill-wait"][0]})' in \
        inspect.getsource(control.stop)


@pytest.mark.parametrize("name", ["c1", "a-much-longer-name.with.dots_and_more", "x" * 254,
                                  "ünïcode", "sp ace"])
def test_socket_name_is_the_pythons(tmp_path, name):
    from lxctools.monitor.commands import socket_name
    for lxcpath in (str(tmp_path), "/", "/tmp", os.path.join(str(tmp_path), ".")):
        code, out = front("socket-name", lxcpath, name)
        assert code == 0
        expected = socket_name(lxcpath, name)
        assert "\0" + out[1:] == expected and out[0] == "@"


@pytest.mark.parametrize("text", [
    None,  # no lxc.conf: the default
    "lxc.lxcpath = /srv/lxc\n",
    "lxc.lxcpath = /srv/lxc///\n",
    "lxc.lxcpath=/srv/a b  \n",
    "\t lxc.lxcpath \t=\t/srv/tab\n",
    "# lxc.lxcpath = /no\nlxc.lxcpath = /yes\n",
    "lxc.lxcpathx = /no\nlxc.lxcpath = /yes\n",
    "xlxc.lxcpath = /no\n",
    "lxc.lxcpath = /first\nlxc.lxcpath = /second\n",
    "lxc.lxcpath = /srv/no-newline",
    "lxc.lxcpath =",
    "lxc.lxcpath =\nlxc.lxcpath = /after\n",
    "lxc.lxcpath = /x # not a comment\n",
    "lxc.default_config = /d\n",
])
def test_default_lxcpath_is_the_pythons(tmp_path, text):
    conf = tmp_path / "lxc.conf"
    if text is not None:
        conf.write_text(text)
    env = dict(os.environ, LXC_GLOBAL_CONF=str(conf))
    expected = subprocess.run([sys.executable, "-c",
                               "from lxctools.paths import default_lxcpath; "
                               "print(default_lxcpath())"],
                              capture_output=True, text=True, env=env, check=True).stdout[:-1]
    code, out = front("lxcpath", env=env)
    if code:
        assert expected == "", "only an empty lxcpath is left to Python"
    else:
        assert out == expected


@pytest.mark.parametrize("given", ["/srv/lxc", "/srv/lxc/", "/srv/lxc///", "/", "rel",
                                   "rel/deeper/", "/a/./b", "/a/../b", "//a", "a/..", ".",
                                   "/a//b"])
def test_normalized_lxcpath_is_the_pythons(tmp_path, given):
    """What the front door takes, it spells as paths.normalize_lxcpath; what it does not
    ("." "..", "//": abspath folds them by text, stat would by the links) goes to Python."""
    from lxctools.paths import normalize_lxcpath
    code, out = front("normalize", given, cwd=str(tmp_path))
    here = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        expected = normalize_lxcpath(given)
    finally:
        os.chdir(here)
    if code == 0:
        assert out == expected
    else:
        parts = given.split("/")
        assert "." in parts or ".." in parts or "//" in given.rstrip("/"), given


def test_tools_are_the_front_door_table():
    """The names lxc-front answers to, the table setup.py installs it under and the names
    `lxctools --as` runs are the same."""
    import tomllib

    from lxctools.cli.about import FRONT_DOOR
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "pyproject.toml"), "rb") as handle:
        table = tomllib.load(handle)["tool"]["lxctools"]["front-door"]
    assert sorted(protocol()["tools"]) == sorted(table) == sorted(FRONT_DOOR)


def test_supervisor_spawn_is_the_pythons():
    """What the compiled lxc-start runs as the lxcpath's supervisor it spawns, and the
    descriptor it waits on, are what `lxctools` and daemon.serve_spawned take."""
    from lxctools.cli.about import SUPERVISE
    from lxctools.monitor.daemon import READY_FD, serve_spawned
    assert protocol()["supervise"] == [SUPERVISE, str(READY_FD)]
    assert inspect.signature(serve_spawned).parameters["ready_fd"].default == READY_FD


def test_the_supervisors_start_imports_exist():
    """What a supervisor imports ahead (daemon.preload skips a name it cannot import: a
    stale one would only make cold starts slower, unseen)."""
    import importlib

    from lxctools.monitor.daemon import START_IMPORTS
    for name in START_IMPORTS:
        importlib.import_module(name)


def test_lxc_ls_columns_are_the_listings():
    from lxctools.api.listing import FANCY_DEFAULT
    assert tuple(protocol()["fancy"]) == tuple(FANCY_DEFAULT)


@pytest.mark.parametrize("entry", ["c1", "c1.tmp", "c1.123.tmp", "c.1.123.tmp", ".123.tmp",
                                   "c1..tmp", "c1.12a.tmp", "c1.123.tmpx", "123.tmp", ".tmp",
                                   "a.b.tmp", "x.0.tmp"])
def test_temp_records_are_the_pythons(entry):
    from lxctools.monitor.commands import is_temp_record
    assert front("temp-record", entry) == (0, "1" if is_temp_record(entry) else "0")


def test_attach_plan_is_the_entry_helpers():
    """The compiled lxc-attach writes the caller's part of the entry helper's plan itself:
    its header, tags, chunk size, --clear-env's PATH and the namespaces it names are
    spawn/entry.py's, attach.py's and kernel/libc.py's."""
    from lxctools.attach.attach import DEFAULT_PATH
    from lxctools.kernel.libc import JOIN_ORDER
    from lxctools.spawn import entry

    known = protocol()
    assert known["plan"] == [entry.PLAN_MAGIC.decode(), str(entry.PLAN_VERSION),
                             "tty", str(entry.TAG_TTY), "target_ids", str(entry.TAG_TARGET_IDS),
                             "cwd", str(entry.TAG_CWD), "env", str(entry.TAG_ENV),
                             "arg", str(entry.TAG_ARG), "winsize", str(entry.TAG_WINSIZE),
                             "chunk", str(entry.CHUNK)]
    assert known["attach-path"] == [DEFAULT_PATH]
    assert tuple(known["namespaces"]) == JOIN_ORDER


# What a supervisor's cold start must not import (bench RESULTS run 14: each is milliseconds
# of every cold `lxc-start -d` before its answer, with nothing of it used on that path)
NOT_ON_THE_START_PATH = ("socket", "selectors", "subprocess", "typing", "locale", "array")


def test_a_supervisors_start_path_imports_no_heavy_module():
    """The modules a supervisor imports to serve a start (daemon.serve's, START_IMPORTS)
    leave out socket.py, selectors, subprocess, typing, locale and array; pyseccomp still
    loads, and a later `import typing` gets the real module (not kernel/seccomp.py's
    stand-in)."""
    from lxctools.monitor.daemon import START_IMPORTS
    root = os.path.dirname(os.path.dirname(lxctools.__file__))
    site = os.path.dirname(__import__("pyseccomp").__file__)
    program = (
        "import sys, importlib\n"
        f"sys.path[:0] = [{root!r}, {site!r}]\n"
        "for name in ('lxctools.cli.about', 'lxctools.api.monitor', 'lxctools.monitor.daemon',\n"
        "             'lxctools.cgroups.monitor', 'threading', 'lxctools.kernel.libc',\n"
        "             'lxctools.monitor.loop', 'lxctools.kernel.fdlimit', *sys.argv[1:]):\n"
        "    importlib.import_module(name)\n"
        f"print(' '.join(m for m in {NOT_ON_THE_START_PATH!r} if m in sys.modules))\n"
        "from lxctools.kernel import seccomp\n"
        "assert seccomp.resolve(None, 'mount') > 0\n"
        "import typing\n"
        "assert typing.Union[int, str] != typing.Union[int, bytes]\n")
    done = subprocess.run([sys.executable, "-S", "-c", program, *START_IMPORTS],
                          capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_the_supervisor_program_is_the_pythons():
    """The program the compiled lxc-start runs the supervisor with (INTERPRETER -S -c ...)
    is cli/about.py's SUPERVISE_PROGRAM."""
    from lxctools.cli.about import SUPERVISE_PROGRAM
    assert bytes.fromhex(protocol()["supervise-program"][0]).decode() == SUPERVISE_PROGRAM


def _run_program(python, tmp_path, extra=""):
    """SUPERVISE_PROGRAM run as the front door runs it, up to its import of lxctools, then a
    report of sys.path, sys.prefix and whether site ran."""
    from lxctools.cli.about import SUPERVISE_PROGRAM
    head = SUPERVISE_PROGRAM[:SUPERVISE_PROGRAM.index("try:\n    from lxctools")]
    program = head + ("import json\n"
                      "print(json.dumps([sys.path, sys.prefix, sys.exec_prefix, 'site' in sys.modules]))")
    done = subprocess.run([python, "-S", "-c", extra + program, "--supervise", "/x"],
                          capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr
    import json
    return json.loads(done.stdout)


def _with_site(python):
    import json
    done = subprocess.run([python, "-c", "import sys, json; print(json.dumps([[p for p in sys.path if p], "
                           "sys.prefix, sys.exec_prefix]))"], capture_output=True, text=True, cwd="/")
    return json.loads(done.stdout)


def test_the_supervisor_program_sets_up_what_site_would(tmp_path):
    """In a venv without the system's packages whose .pth files name directories (one made
    here, like pip's, and the tests' own when they run in one): site skipped, the same
    sys.path (but -c's '') and prefixes as the console script's interpreter gets from site."""
    import venv
    where = tmp_path / "plain"
    venv.EnvBuilder(symlinks=True).create(where)
    site = next((where / "lib").glob("python3*/site-packages"))
    (tmp_path / "elsewhere").mkdir()
    (site / "elsewhere.pth").write_text(f"# a directory, as an editable install's\n{tmp_path / 'elsewhere'}\n")
    pythons = [str(where / "bin" / "python3")]
    if sys.prefix != sys.base_prefix:
        pythons.append(sys.executable)
    for python in pythons:
        path, prefix, exec_prefix, site_ran = _run_program(python, tmp_path)
        assert not site_ran, python
        assert (path, prefix, exec_prefix) == tuple(_with_site(python)), python
    assert str(tmp_path / "elsewhere") in _run_program(pythons[0], tmp_path)[0]


def test_the_supervisor_program_runs_site_where_it_must(tmp_path):
    """A venv that includes the system's packages, a .pth with an import hook, a
    sitecustomize: the program runs site itself (what the console script gets)."""
    import shutil
    import venv
    cases = {"system": dict(system_site_packages=True), "hook": {}, "custom": {}}
    for case, options in cases.items():
        where = tmp_path / case
        venv.EnvBuilder(symlinks=True, **options).create(where)
        site = next((where / "lib").glob("python3*/site-packages"))
        if case == "hook":
            (site / "hook.pth").write_text("import os\n")
        if case == "custom":
            (site / "sitecustomize.py").write_text("")
        python = str(where / "bin" / "python3")
        path, prefix, exec_prefix, site_ran = _run_program(python, tmp_path)
        assert site_ran, case
        assert (path, prefix, exec_prefix) == tuple(_with_site(python)), case
        shutil.rmtree(where)
