"""lxc-top: CPU, block I/O and memory use of the running containers, refreshed.

LXC's screen (columns, widths, its size rounding, the TOTAL row, keys q r n c b m s k) and
its batch CSV. The figures come from each container's supervisor (the `stats` command,
cgroups/stats.py: v1, v2 or hybrid). Unlike LXC 5.0.2: batch mode (-b) needs no
terminal and is not cut to the terminal's height, --iterations N stops after N rounds, and
every -P is shown (LXC shows the first only).
"""

import sys

from ._common import make_parser, parse, run_tool

DESCRIPTION = """Show the CPU, block I/O and memory use of running containers.

lxc-top [-P PATH]... [-d DELAY] [-s n|c|b|m|s|k] [-r] [-b] [--iterations N]

Keys: q quits; r reverses; n c b m s k sort by name, CPU, block I/O, memory, memory+swap,
kernel memory (the current key again reverses)."""

SORT_KEYS = {"n": "name", "c": "cpu_ns", "b": "blkio_bytes", "m": "memory_bytes",
             "s": "memsw_bytes", "k": "kmem_bytes"}
CSV_HEADER = ("time_ms,container,cpu_nanos,cpu_sys_userhz,cpu_user_userhz,blkio_bytes,"
              "blkio_iops,mem_used_bytes,memsw_used_bytes,kernel_mem_used_bytes")
FIGURES = ("cpu_ns", "cpu_sys_hz", "cpu_user_hz", "blkio_bytes", "blkio_read_bytes",
           "blkio_write_bytes", "blkio_iops", "memory_bytes", "memsw_bytes", "kmem_bytes")
ESC = "\033"
CLEAR, NORMAL, BOLD, REVERSE = ESC + "[H" + ESC + "[J", ESC + "[0m", ESC + "[1m", ESC + "[7m"
USER_HZ = 100


def build_parser():
    parser = make_parser("lxc-top", DESCRIPTION, name=False, lxcpath=False, rcfile=False)
    parser.add_argument("-P", "--lxcpath", dest="lxcpaths", action="append", default=[],
                        metavar="PATH",
                        help="containers of PATH (repeatable; default: lxc.lxcpath)")
    parser.add_argument("-d", "--delay", type=float, metavar="DELAY",
                        help="seconds between refreshes (default 3; 300 with -b)")
    parser.add_argument("-s", "--sort", metavar="KEY", default="n",
                        help="sort by n (name), c (CPU), b (block I/O), m (memory), "
                             "s (memory+swap), k (kernel memory)")
    parser.add_argument("-r", "--reverse", action="store_true", help="reverse the order")
    parser.add_argument("-b", "--batch", action="store_true",
                        help="CSV lines for a file or a script, no screen")
    parser.add_argument("--iterations", type=int, metavar="N",
                        help="stop after N refreshes (beyond LXC)")
    return parser


def size_humanize(value):
    """LXC's lxc-top sizes: two decimals after its own rounding, bytes as "NNN.00   "."""
    if value > 1 << 30:
        return f"{value >> 30}.{(value & ((1 << 30) - 1)) // 10737419:02d} GiB"
    if value > 1 << 20:
        x = (value + 5243) & 0xFFFFFFFF
        return f"{x >> 20}.{((x & ((1 << 20) - 1)) * 100) >> 20:02d} MiB"
    if value > 1 << 10:
        x = value + 5
        return f"{x >> 10}.{((x & ((1 << 10) - 1)) * 100) >> 10:02d} KiB"
    return f"{value:3d}.00   "


def collect(lxcpaths):
    """[(name, {figure: int})] of every running container of LXCPATHS; absent figures 0."""
    from ..errors import NotRunning
    from ..api import monitor

    rows = []
    for lxcpath in lxcpaths:
        for name in monitor.running_names(lxcpath):
            try:
                stats = monitor.stats(lxcpath, name)
            except (NotRunning, OSError):
                continue  # stopped meanwhile
            rows.append((name, {key: int(stats.get(key) or 0) for key in FIGURES}))
    return rows


def ordered(rows, sort_by, reverse):
    """LXC's order: names ascending, figures largest first; -r turns either round."""
    key = SORT_KEYS.get(sort_by, "name")
    if key == "name":
        return sorted(rows, key=lambda row: row[0], reverse=reverse)
    return sorted(rows, key=lambda row: row[1][key], reverse=not reverse)


def totals(rows):
    return {key: sum(row[1][key] for row in rows) for key in FIGURES}


def header(total):
    memsw, kmem = total["memsw_bytes"] > 0, total["kmem_bytes"] > 0
    first = f"{'Container':<18} {'CPU':>12} {'CPU':>12} {'CPU':>12} {'BlkIO':>36} {'Mem':>10}"
    second = (f"{'Name':<18} {'Used':>12} {'Sys':>12} {'User':>12} {'Total(Read/Write)':>36} "
              f"{'Used':>10}")
    if memsw:
        first += f" {'MemSw':>10}"
        second += f" {'Used':>10}"
    if kmem:
        first += f" {'KMem':>10}"
        second += f" {'Used':>10}"
    return REVERSE + BOLD + first + "\n" + second + "\n" + NORMAL


def screen_row(name, figures, total):
    io = (f"{size_humanize(figures['blkio_bytes'])}({size_humanize(figures['blkio_read_bytes'])}"
          f"/{size_humanize(figures['blkio_write_bytes'])})")
    line = (f"{name[:18]:<18} {figures['cpu_ns'] / 1e9:12.2f} "
            f"{figures['cpu_sys_hz'] / USER_HZ:12.2f} {figures['cpu_user_hz'] / USER_HZ:12.2f} "
            f"{io:>36} {size_humanize(figures['memory_bytes']):>10}")
    if total["memsw_bytes"] > 0:
        line += f" {size_humanize(figures['memsw_bytes']):>10}"
    if total["kmem_bytes"] > 0:
        line += f" {size_humanize(figures['kmem_bytes']):>10}"
    return line


def csv_row(name, figures, now_ms):
    return ",".join(str(x) for x in (
        now_ms, name, figures["cpu_ns"], figures["cpu_sys_hz"], figures["cpu_user_hz"],
        figures["blkio_bytes"], figures["blkio_iops"], figures["memory_bytes"],
        figures["memsw_bytes"], figures["kmem_bytes"]))


def screen(rows, sort_by, reverse, height):
    rows = ordered(rows, sort_by, reverse)
    total = totals(rows)
    shown = rows[:max(height - 3, 0)]  # header (2 lines) and TOTAL
    out = [CLEAR, header(total)]
    out += [screen_row(name, figures, total) + "\n" for name, figures in shown]
    out.append(screen_row(f"TOTAL {len(shown)} of {len(rows)}", total, total))
    return "".join(out)


def batch(lxcpaths, sort_by, reverse, delay, iterations):
    import time

    out = sys.stdout
    out.write(CSV_HEADER + "\n")
    out.flush()
    done = 0
    while True:
        rows = ordered(collect(lxcpaths), sort_by, reverse)
        now_ms = time.time_ns() // 1000000
        out.write("".join(csv_row(name, figures, now_ms) + "\n" for name, figures in rows))
        out.flush()
        done += 1
        if iterations is not None and done >= iterations:
            return 0
        time.sleep(delay)


def interactive(lxcpaths, sort_by, reverse, delay, iterations):
    import os
    import select
    import termios

    if not os.isatty(0):
        sys.stderr.write("stdin is not a tty\nFailed to setup terminal\n")
        return 1
    saved = termios.tcgetattr(0)
    mode = termios.tcgetattr(0)
    mode[3] &= ~(termios.ECHO | termios.ICANON)  # keys one by one, unechoed; ^C still works
    mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
    termios.tcsetattr(0, termios.TCSAFLUSH, mode)
    done = 0
    try:
        while True:
            try:
                height = os.get_terminal_size(0).lines
            except OSError:
                height = 25
            sys.stdout.write(screen(collect(lxcpaths), sort_by, reverse, height))
            sys.stdout.flush()
            done += 1
            if iterations is not None and done >= iterations:
                return 0
            ready, _, _ = select.select([0], [], [], delay)
            if not ready:
                continue
            key = os.read(0, 1).decode(errors="replace")
            if key in ("q", ""):  # q, or the terminal went away
                return 0
            if key == "r":
                reverse = not reverse
            elif key in SORT_KEYS:
                reverse = not reverse if key == sort_by else False
                sort_by = key
    except KeyboardInterrupt:
        return 0
    finally:
        termios.tcsetattr(0, termios.TCSAFLUSH, saved)
        sys.stderr.write("\n")


def body(argv):
    args = parse(build_parser(), argv, positional_name=False)
    from ..paths import default_lxcpath, normalize_lxcpath

    lxcpaths = [normalize_lxcpath(p) for p in args.lxcpaths] or [default_lxcpath()]
    if args.delay is not None and args.delay < 0:
        raise_usage("the delay must be 0 or more seconds")
    if args.iterations is not None and args.iterations < 1:
        raise_usage("--iterations must be 1 or more")
    delay = args.delay if args.delay is not None else (300 if args.batch else 3)
    sort_by = (args.sort or "n")[:1]
    if args.batch:
        return batch(lxcpaths, sort_by, args.reverse, delay, args.iterations)
    return interactive(lxcpaths, sort_by, args.reverse, delay, args.iterations)


def raise_usage(message):
    build_parser().error(message)


def main(argv=None):
    return run_tool("lxc-top", body, argv)
