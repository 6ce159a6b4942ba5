"""A seeded mutation fuzzer over container configs (issue 24.8), shared by
test_fuzz_config.py: valid configs (a busybox container's, every key's example, includes of
our shipped files and of a directory, a seccomp profile, an fstab) mutated by byte flips,
truncation, duplicated, dropped and garbled keys, long values, NUL and bad UTF-8 bytes,
include loops and chains, special files, and values of one key given to another.

A case is reproducible from (seed, index): Fuzzer(seed, ...).case(index) is the same on every
run, so a failure report names what to rerun (LXCTOOLS_FUZZ_SEED, LXCTOOLS_FUZZ_ONLY)."""

import os
import random

from lxctools.config import keys as K

# values that have broken parsers before, or might: empty, signs, bases, huge, quotes, paths
TRICKY = ["", " ", "=", "==", "-1", "-0", "+1", "0x", "0x10", "010", "08", "4294967295",
          "4294967296", "18446744073709551615", "18446744073709551616",
          "99999999999999999999999999", "none", "\t", "'", '"', "'a", '"a', "a b c", "\\",
          "lxc.cap.drop", "/dev/zero", "../../..", "/", "//", ".", "..", "a=b=c", ":", "::",
          ":a:", "u 0 0 1", "g 0 100000 65536", "SIGKILL", "SIGRTMIN+40", "unlimited:0",
          "1:unlimited", "proc:mixed sys cgroup:force", "0.0.0.0/33", "fe80::1/129", "auto",
          "dev", "x" * 300, "\u00fc" * 40, "\u200b", "[1,2,==]", "%s%s%n", "$(reboot)",
          "`id`", "lxc.include = /etc/passwd", "#", "# comment", "a\tb", "\u00b2", "\u0663",
          "1" * 5000, "0x" + "f" * 5000, "SIGRTMIN+" + "9" * 5000, "9" * 5000 + "ms"]
BAD_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\x28", b"\x80",
            b"\xc0\xaf", b"\xf4\x90\x80\x80"]
SECCOMP = """2
denylist
reject_force_umount
[all]
kexec_load errno 1
open_by_handle_at errno 1
init_module errno 1
mount errno 1 [2,0,SCMP_CMP_MASKED_EQ,0x1000]
keyctl errno 38
[x86_64]
finit_module errno 1
"""
FSTAB = """# fuzzed fstab
proc proc proc nodev,noexec,nosuid 0 0
/srv srv none bind,ro,create=dir,optional 0 0
tmpfs tmp tmpfs size=10m,mode=1777,create=dir 0 0
"""


def concrete(name):
    """A key name the table has as a family made concrete."""
    return {"lxc.cgroup2": "lxc.cgroup2.memory.max", "lxc.cgroup": "lxc.cgroup.memory.limit_in_bytes",
            "lxc.sysctl": "lxc.sysctl.net.ipv4.ip_forward", "lxc.proc": "lxc.proc.oom_score_adj",
            "lxc.prlimit": "lxc.prlimit.nofile", "lxc.namespace.share": "lxc.namespace.share.net",
            "lxc.net": "lxc.net.0"}.get(name, name)


def key_examples():
    """[(key, example)] of every row of the table (NIC keys on NIC 1, a veth)."""
    out = []
    for row in K.KEYS:
        for example in row.examples:
            out.append((concrete(row.name), example))
    for row in K.NET_KEYS:
        if row.net_types and "veth" not in row.net_types:
            continue  # NIC 1 is a veth: keep the starting config valid
        for example in row.examples:
            out.append((f"lxc.net.1.{row.name}", example))
    return out


class Case:
    """One fuzzed config: the container's config text plus the side files it names."""

    def __init__(self, index, config, files, ops, key):
        self.index = index
        self.config = config    # bytes of LXCPATH/NAME/config
        self.files = files      # {absolute path: bytes} written next to it (includes, profile)
        self.ops = ops          # the mutations applied, for the failure report
        self.key = key          # the key lxc-info -c asks for

    def describe(self):
        return f"case {self.index}: {', '.join(self.ops)}; lxc-info -c {self.key}"


class Fuzzer:
    """Cases for the container NAME in LXCPATH whose busybox config is BASE (text); side files
    live in WORK (a directory of their own)."""

    def __init__(self, seed, lxcpath, name, base, work):
        self.seed = seed
        self.lxcpath = lxcpath
        self.name = name
        self.base = base if base.endswith("\n") else base + "\n"
        self.work = work
        self.config_path = os.path.join(lxcpath, name, "config")
        os.makedirs(os.path.join(work, "conf.d"), exist_ok=True)
        self.examples = key_examples()

    # -- the valid starting points ---------------------------------------------------------
    def bases(self):
        from lxctools.paths import template_config_dir

        shipped = template_config_dir()
        every = "".join(f"{k} = {v}\n" for k, v in self.examples
                        if k not in ("lxc.cap.keep", "lxc.namespace.keep", "lxc.include",
                                     "lxc.rootfs.path", "lxc.net.0")
                        and not k.startswith("lxc.hook"))
        return [
            ("busybox", self.base),
            ("every key", self.base + "lxc.net.1.type = veth\n" + every),
            ("includes", self.base + f"lxc.include = {shipped}/common.conf\n"
                                     f"lxc.include = {self.work}/conf.d\n"
                                     f"lxc.include = {self.work}/extra.conf\n"),
            ("profile and fstab", self.base + f"lxc.seccomp.profile = {self.work}/p.seccomp\n"
                                              f"lxc.mount.fstab = {self.work}/fstab\n"),
        ]

    def side_files(self):
        return {
            os.path.join(self.work, "extra.conf"): b"lxc.environment = FUZZ=1\nlxc.tty.max = 2\n",
            os.path.join(self.work, "conf.d", "10-a.conf"): b"lxc.cap.drop = sys_time\n",
            os.path.join(self.work, "conf.d", "20-b.conf"): b"lxc.mount.auto = proc:mixed\n",
            os.path.join(self.work, "p.seccomp"): SECCOMP.encode(),
            os.path.join(self.work, "fstab"): FSTAB.encode(),
        }

    # -- one case --------------------------------------------------------------------------
    def case(self, index):
        rng = random.Random(f"{self.seed}:{index}")
        label, text = rng.choice(self.bases())
        files = self.side_files()
        data = text.encode()
        ops = [label]
        target = None  # None: the main config; else a side file's path
        if rng.random() < 0.25:
            target = rng.choice(sorted(files))
        for _ in range(rng.choice((1, 1, 2, 3, 4))):
            op = rng.choice(self.OPS)
            if target is None:
                data = op(self, rng, data, files)
            else:
                files[target] = op(self, rng, files[target], files)
            ops.append(op.__name__.strip("_") + (f"@{os.path.basename(target)}" if target else ""))
        key = self.pick_key(rng, data)
        return Case(index, data, files, ops, key)

    def pick_key(self, rng, data):
        keys = []
        for line in data.split(b"\n"):
            head = line.split(b"=", 1)[0].strip()
            if head.startswith(b"lxc."):
                keys.append(head.decode("utf-8", "replace"))
        if keys and rng.random() < 0.7:
            return rng.choice(keys)
        return rng.choice(self.examples)[0]

    # -- mutations (data: bytes) -> bytes ---------------------------------------------------
    def _flip(self, rng, data, files):
        if not data:
            return b"\xff"
        at = rng.randrange(len(data))
        return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]

    def _truncate(self, rng, data, files):
        return data[:rng.randrange(len(data) + 1)]

    def _duplicate_line(self, rng, data, files):
        lines = data.split(b"\n")
        at = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[at])
        return b"\n".join(lines)

    def _drop_line(self, rng, data, files):
        lines = data.split(b"\n")
        del lines[rng.randrange(len(lines))]
        return b"\n".join(lines)

    def _swap_lines(self, rng, data, files):
        lines = data.split(b"\n")
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[a], lines[b] = lines[b], lines[a]
        return b"\n".join(lines)

    def _garble_key(self, rng, data, files):
        lines = data.split(b"\n")
        keyed = [i for i, ln in enumerate(lines) if b"=" in ln]
        if not keyed:
            return data
        i = rng.choice(keyed)
        key, _, value = lines[i].partition(b"=")
        key = bytearray(key)
        if key:
            at = rng.randrange(len(key))
            how = rng.randrange(6)
            if how == 0:
                key[at] = rng.randrange(32, 127)
            elif how == 1:
                del key[at]
            elif how == 2:
                key.insert(at, rng.choice(b"._-xX0"))
            elif how == 3 and at + 1 < len(key):
                key[at], key[at + 1] = key[at + 1], key[at]
            elif how == 4:
                key = bytearray(bytes(key).upper())
            else:
                key = bytearray(bytes(key) + b"." + rng.choice([b"x", b"0", b"", b"."]))
        lines[i] = bytes(key) + b"=" + value
        return b"\n".join(lines)

    def _long_value(self, rng, data, files):
        lines = data.split(b"\n")
        keyed = [i for i, ln in enumerate(lines) if b"=" in ln]
        n = rng.choice((300, 4096, 70000, 200000))
        value = rng.choice([b"A" * n, b"9" * n, b"/a" * (n // 2), b"x " * (n // 2),
                            b"sys_admin " * (n // 10), b"u 0 100000 1 " * (n // 14)])
        if not keyed:
            return data + b"lxc.uts.name = " + value + b"\n"
        i = rng.choice(keyed)
        lines[i] = lines[i].partition(b"=")[0] + b"= " + value
        return b"\n".join(lines)

    def _many_lines(self, rng, data, files):
        line = rng.choice([b"lxc.idmap = u 0 100000 1", b"lxc.cap.drop = sys_admin",
                           b"lxc.mount.entry = /srv srv none bind,create=dir 0 0",
                           b"lxc.environment = A=1", b"lxc.cgroup2.pids.max = 10"])
        count = rng.choice((300, 400, 3000))
        if line.startswith(b"lxc.idmap"):
            # distinct lines (a repeated one is refused at once): ids one apart
            extra = b"".join(b"lxc.idmap = u %d %d 1\n" % (i, 100000 + i) for i in range(count))
        else:
            extra = (line + b"\n") * count
        return data + b"\n" + extra

    def _nul(self, rng, data, files):
        at = rng.randrange(len(data) + 1)
        return data[:at] + b"\0" + data[at:]

    def _bad_utf8(self, rng, data, files):
        at = rng.randrange(len(data) + 1)
        return data[:at] + rng.choice(BAD_UTF8) + data[at:]

    def _crlf(self, rng, data, files):
        return data.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n", b" \n", b"\t\n"]))

    def _key_value(self, rng, data, files):
        key, example = rng.choice(self.examples)
        if rng.random() < 0.5:
            value = rng.choice(TRICKY)
        else:
            value = rng.choice(self.examples)[1]  # another key's value
        if rng.random() < 0.2:
            value = example + " " + rng.choice(TRICKY)
        line = f"{key} = {value}".encode("utf-8", "surrogateescape")
        lines = data.split(b"\n")
        lines.insert(rng.randrange(len(lines) + 1), line)
        return b"\n".join(lines)

    def _net_index(self, rng, data, files):
        index = rng.choice(["7", "99999", "18446744073709551616", "-1", "0x1", "01", "", "a"])
        sub = rng.choice(["type = veth", "type = empty", "link = br0", "", "name = eth9",
                          "ipv4.address = 10.0.0.1/24", "flags = up"])
        line = f"lxc.net.{index}.{sub}" if sub else f"lxc.net.{index} ="
        return data + b"\n" + line.encode() + b"\n"

    def _include(self, rng, data, files):
        """Includes that loop, nest, or name what is not a config."""
        work = self.work
        how = rng.randrange(9)
        if how == 0:
            line = f"lxc.include = {self.config_path}"                    # itself
        elif how == 1:
            a, b = os.path.join(work, "loop-a.conf"), os.path.join(work, "loop-b.conf")
            files[a] = f"lxc.include = {b}\n".encode()
            files[b] = f"lxc.tty.max = 1\nlxc.include = {a}\n".encode()   # a -> b -> a
            line = f"lxc.include = {a}"
        elif how == 2:
            loop = os.path.join(work, "loopdir")
            files[os.path.join(loop, "x.conf")] = f"lxc.include = {loop}\n".encode()
            line = f"lxc.include = {loop}"                                # a directory in itself
        elif how == 3:
            depth = rng.choice((20, 40, 200))
            for i in range(depth):
                nxt = f"lxc.include = {work}/chain{i + 1}.conf\n" if i + 1 < depth else ""
                files[os.path.join(work, f"chain{i}.conf")] = (
                    f"lxc.environment = C{i}=1\n" + nxt).encode()
            line = f"lxc.include = {work}/chain0.conf"                    # a long chain
        elif how == 4:
            line = "lxc.include = " + rng.choice(["/dev/zero", "/dev/null", "/dev/urandom",
                                                  f"{work}/fifo", "/proc/self/status", "/",
                                                  f"{work}/missing.conf", f"{work}/sparse",
                                                  "relative/x.conf", "", "/etc/passwd"])
        elif how == 5:
            line = "lxc.seccomp.profile = " + rng.choice(["/dev/zero", f"{work}/fifo", "/",
                                                          "/etc/passwd", f"{work}/sparse",
                                                          "/dev/null", "relative.seccomp"])
        elif how == 6:
            line = "lxc.mount.fstab = " + rng.choice(["/dev/zero", f"{work}/fifo", "/",
                                                      "/etc/passwd", f"{work}/sparse",
                                                      "/proc/self/mounts"])
        elif how == 7:
            line = f"lxc.include = {work}/extra.conf\nlxc.include = {work}/extra.conf"
        else:
            line = "lxc.rootfs.path = " + rng.choice(["/dev/zero", f"{work}/fifo", "/",
                                                      f"{work}/sparse", "dir:/etc/passwd",
                                                      "overlay:/a", "loop:/dev/null",
                                                      "btrfs:", "zfs:x", "nbd:x"])
        return data + b"\n" + line.encode() + b"\n"

    OPS = [_flip, _flip, _truncate, _duplicate_line, _drop_line, _swap_lines, _garble_key,
           _garble_key, _long_value, _many_lines, _nul, _bad_utf8, _crlf, _key_value,
           _key_value, _key_value, _net_index, _include, _include]

    # -- putting a case on disk ------------------------------------------------------------
    def write(self, case):
        """Write CASE's config and side files (removing the previous case's extra files)."""
        import shutil

        keep = {"conf.d", "fifo", "sparse", "extra.conf", "p.seccomp", "fstab"}
        for entry in os.listdir(self.work):
            if entry not in keep:
                path = os.path.join(self.work, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
        if not os.path.exists(os.path.join(self.work, "fifo")):
            os.mkfifo(os.path.join(self.work, "fifo"))
        sparse = os.path.join(self.work, "sparse")
        if not os.path.exists(sparse):
            with open(sparse, "wb") as handle:
                handle.truncate(40 << 20)  # 40 MiB of holes: not a config
        for path, data in case.files.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
        with open(self.config_path, "wb") as handle:
            handle.write(case.config)
