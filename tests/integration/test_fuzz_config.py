"""Fuzzed configs through lxc-info -c KEY, lxc-info and lxc-start --explain (never a real
start): no traceback, no hang, no crash, and every refusal is a message (issue 24.8).

The cases (tests/integration/configfuzz.py) are seeded: LXCTOOLS_FUZZ_CASES sets how many
(default 300, in-process: the CLI entry points called in this process, each call under a
timer), LXCTOOLS_FUZZ_SEED which (default 24), LXCTOOLS_FUZZ_ONLY=I,J reruns single cases.
A sample also goes through the real launchers (the installed lxc-info and lxc-start) in
processes of their own. A failure report names each failing case and keeps its files."""

import io
import os
import shutil
import signal
import subprocess
import sys
import traceback

import pytest

from configfuzz import Fuzzer
from conftest import module_busybox, ours

NAME = "fz-box"
SEED = int(os.environ.get("LXCTOOLS_FUZZ_SEED", "24"))
CASES = int(os.environ.get("LXCTOOLS_FUZZ_CASES", "300"))
ONLY = [int(i) for i in os.environ.get("LXCTOOLS_FUZZ_ONLY", "").split(",") if i.strip()]
LAUNCHED = 12          # cases also run through the real launchers
CALL_TIMEOUT = 10      # seconds for one in-process call; a hang fails the case


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    lp, config = module_busybox(root, NAME)
    with open(config) as handle:
        base = handle.read()
    work = str(root / "work")
    yield Fuzzer(SEED, lp, NAME, base, work)
    subprocess.run([ours("lxc-stop"), "-P", lp, "-n", NAME, "-k"], capture_output=True)


class Hang(BaseException):
    """Raised by the timer in the call that took too long."""


def _alarm(signum, frame):
    raise Hang()


def call(main, argv):
    """MAIN(ARGV) in this process: (exit code or "hang"/"crash", stdout, stderr or traceback)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CALL_TIMEOUT)
    try:
        sys.stdout, sys.stderr = out, err
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue(), err.getvalue()
    except Hang:
        return "hang", out.getvalue(), traceback.format_exc()
    except BaseException:  # noqa: BLE001 - what the fuzzer looks for
        return "crash", out.getvalue(), traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        sys.stdout, sys.stderr = saved


def judge(label, code, out, err):
    """What is wrong with one call's result, or None."""
    if code in ("hang", "crash"):
        return f"{label}: {code}\n{err}"
    if "Traceback" in out + err:
        return f"{label}: printed a traceback\n{out}{err}"
    if code != 0 and not err.strip():
        return f"{label}: exit {code} without a word"
    if code not in (0, 1, 2):
        return f"{label}: exit {code}"
    return None


def commands(fuzzer, case):
    lp = fuzzer.lxcpath
    return [("lxc-info -c", "info", ["-P", lp, "-n", NAME, "-c", case.key]),
            ("lxc-info", "info", ["-P", lp, "-n", NAME]),
            ("lxc-start --explain", "start", ["-P", lp, "-n", NAME, "--explain"])]


def keep(fuzzer, case, where):
    """Copy CASE's files to WHERE/case-N for the report."""
    target = os.path.join(where, f"case-{case.index}")
    shutil.copytree(fuzzer.work, os.path.join(target, "work"), dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("fifo", "sparse"))
    shutil.copy(fuzzer.config_path, os.path.join(target, "config"))
    return target


def test_fuzzed_configs_in_process(fuzzer, tmp_path):
    from lxctools.cli import info, start

    mains = {"info": info.main, "start": start.main}
    failures = []
    for index in ONLY or range(CASES):
        case = fuzzer.case(index)
        fuzzer.write(case)
        for label, tool, argv in commands(fuzzer, case):
            problem = judge(label, *call(mains[tool], argv))
            if problem:
                failures.append(f"{case.describe()}\n  {problem}\n  kept in "
                                f"{keep(fuzzer, case, str(tmp_path))}")
                break
    assert not failures, (f"{len(failures)} of {len(ONLY) or CASES} fuzzed configs failed "
                          f"(seed {SEED}):\n" + "\n".join(failures[:10]))


def test_fuzzed_configs_through_the_launchers(fuzzer, tmp_path):
    """A sample of the same cases run as the user runs them: the installed commands, each in
    a process of its own, killed after 30 s. A signal death (the interpreter crashing), a
    traceback or a hang fails."""
    step = max(1, CASES // LAUNCHED)
    failures = []
    for index in (ONLY or range(0, CASES, step))[:LAUNCHED]:
        case = fuzzer.case(index)
        fuzzer.write(case)
        for label, tool, argv in commands(fuzzer, case):
            try:
                proc = subprocess.run([ours(f"lxc-{tool}"), *argv], capture_output=True,
                                      text=True, errors="replace", timeout=30,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                failures.append(f"{case.describe()}: {label}: hang")
                continue
            if proc.returncode < 0:
                failures.append(f"{case.describe()}: {label}: killed by signal "
                                f"{-proc.returncode}")
            problem = judge(label, proc.returncode, proc.stdout, proc.stderr)
            if problem:
                failures.append(f"{case.describe()}\n  {problem}")
    assert not failures, "\n".join(failures[:10])


def test_the_fuzzer_is_seeded_and_mutates():
    """The same seed gives the same cases; the cases differ from each other and cover every
    mutation."""
    work = "/nonexistent-fuzz-work"
    one = Fuzzer(7, "/lp", "c", "lxc.uts.name = c\n", work)
    two = Fuzzer(7, "/lp", "c", "lxc.uts.name = c\n", work)
    cases = [one.case(i) for i in range(400)]
    assert [c.config for c in cases[:50]] == [two.case(i).config for i in range(50)]
    assert len({c.config for c in cases}) > 300
    seen = {op.split("@")[0] for c in cases for op in c.ops[1:]}
    assert seen == {op.__name__.strip("_") for op in Fuzzer.OPS}


@pytest.mark.parametrize("dots", ["..", "."])
def test_dot_names_are_refused_by_every_tool(fuzzer, tmp_path, dots):
    """The audit's good news, kept: ".." as a name is refused (real LXC 5.0.2 writes
    LXCPATH/../config, and its lxc-destroy -n .. removes the lxcpath's parent)."""
    lp = tmp_path / "lp"
    lp.mkdir()
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("still here\n")
    before = sorted(os.listdir(tmp_path))
    box = ["-P", fuzzer.lxcpath, "-n", NAME]
    runs = [["lxc-create", "-P", str(lp), "-n", dots, "-t", "none"],
            ["lxc-destroy", "-P", str(lp), "-n", dots, "-f"],
            ["lxc-start", "-P", str(lp), "-n", dots],
            ["lxc-info", "-P", str(lp), "-n", dots, "-c", "lxc.uts.name"],
            ["lxc-stop", "-P", str(lp), "-n", dots, "-k"],
            ["lxc-snapshot", "-P", str(lp), "-n", dots],
            ["lxc-copy", *box, "-N", dots, "-p", str(lp)],
            ["lxc-copy", *box, "-N", dots, "-p", str(lp), "-s"]]
    for argv in runs:
        proc = subprocess.run([ours(argv[0]), *argv[1:]], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode != 0, argv
        assert f'invalid container name "{dots}"' in proc.stderr, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert sorted(os.listdir(tmp_path)) == before and os.listdir(lp) == []
    assert sentinel.read_text() == "still here\n"
