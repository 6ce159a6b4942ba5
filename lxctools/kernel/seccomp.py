"""libseccomp through pyseccomp (its ctypes binding): filters per architecture, rules, the
program they make; loading it (load_bpf) is a prctl of our own.

Imported only where a profile is compiled: loading libseccomp costs a few milliseconds.
"""

import errno as _errno
import os


class _Hint:
    """What pyseccomp's annotations (Union[str, bytes, None], Iterable[int]...) evaluate to
    with the typing stand-in: anything, subscripted or not."""

    def __getitem__(self, _item):
        return self


def _typing_stand_in(types):
    """A stand-in for `typing` while pyseccomp is imported: it takes only annotation names
    and the no-op cast and overload from it, and importing the real one costs ~3 ms of a
    supervisor's cold start (bench RESULTS run 14)."""
    module = types.ModuleType("typing")
    module.Any = module.Collection = module.Iterable = module.Union = _Hint()
    module.cast = lambda _type, value: value
    module.overload = lambda function: function
    return module


def _import_pyseccomp():
    """pyseccomp looks libc and libseccomp up with ctypes.util.find_library, which runs
    ldconfig (~14 ms): answer with the sonames when they load, as kernel/libc.py does. And
    importing ctypes.util at all costs ~10 ms (it imports shutil, subprocess and tempfile):
    pyseccomp gets a stand-in for the import, unless something loaded the real one already.
    The same for `typing` (_typing_stand_in); should a later pyseccomp want more of it than
    the stand-in has, it is imported again with the real one."""
    import sys
    import types

    if "typing" in sys.modules:
        return _import_pyseccomp_with(sys, types)
    # (nothing else imports typing meanwhile: pyseccomp's own imports do not, and the
    # supervisor's other thread, the cgroup move, imports nothing that does)
    stand_in = sys.modules["typing"] = _typing_stand_in(types)
    try:
        return _import_pyseccomp_with(sys, types)
    except Exception:  # noqa: BLE001 - a pyseccomp that wants more of typing: the real one
        sys.modules.pop("pyseccomp", None)
        if sys.modules.get("typing") is stand_in:
            del sys.modules["typing"]
        return _import_pyseccomp_with(sys, types)
    finally:
        # the stand-in goes: a later `import typing` gets the real module
        if sys.modules.get("typing") is stand_in:
            del sys.modules["typing"]


def _import_pyseccomp_with(sys, types):
    import ctypes

    sonames = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}

    def quick(name):
        soname = sonames.get(name)
        if soname:
            try:
                ctypes.CDLL(soname)
                return soname
            except OSError:
                pass
        import ctypes.util as real_util  # an unusual host: the real search
        return real_util.find_library(name)

    real = sys.modules.get("ctypes.util")
    if real is not None:
        saved = real.find_library
        real.find_library = quick
        try:
            import pyseccomp
        finally:
            real.find_library = saved
        return pyseccomp
    stand_in = types.ModuleType("ctypes.util")
    stand_in.find_library = quick
    sys.modules["ctypes.util"] = ctypes.util = stand_in
    try:
        import pyseccomp
    finally:
        # the stand-in goes: a later `import ctypes.util` gets the real module
        if sys.modules.get("ctypes.util") is stand_in:
            del sys.modules["ctypes.util"]
        if getattr(ctypes, "util", None) is stand_in:
            del ctypes.util
    return pyseccomp


_sc = _import_pyseccomp()

# host machine -> (native arch, compat arches a process may also use), as LXC pairs them
_COMPAT = {"x86_64": ("x86_64", ("x86", "x32")), "aarch64": ("arm64", ("arm",)),
           "ppc64": ("ppc64", ("ppc",)), "mips64": ("mips64", ("mips", "mips64n32")),
           "mipsel64": ("mipsel64", ("mipsel", "mipsel64n32"))}
ARCHES = {"x86": _sc.Arch.X86, "x86_64": _sc.Arch.X86_64, "x32": _sc.Arch.X32,
          "arm": _sc.Arch.ARM, "arm64": _sc.Arch.AARCH64, "ppc": _sc.Arch.PPC,
          "ppc64": _sc.Arch.PPC64, "ppc64le": _sc.Arch.PPC64LE, "mips": _sc.Arch.MIPS,
          "mips64": _sc.Arch.MIPS64, "mips64n32": _sc.Arch.MIPS64N32, "mipsel": _sc.Arch.MIPSEL,
          "mipsel64": _sc.Arch.MIPSEL64, "mipsel64n32": _sc.Arch.MIPSEL64N32,
          "s390": _sc.Arch.S390, "s390x": _sc.Arch.S390X, "riscv64": _sc.Arch.RISCV64}
OPS = {"!=": _sc.NE, "<": _sc.LT, "<=": _sc.LE, "==": _sc.EQ, ">=": _sc.GE, ">": _sc.GT,
       "&=": _sc.MASKED_EQ}
MNT_FORCE = 1
NR_ERROR = -1  # libseccomp's __NR_SCMP_ERROR


def host_arches():
    """(native arch name, compat arch names) for this machine, in LXC's section names."""
    machine = os.uname().machine  # platform.machine()'s answer; platform costs ~2 ms
    if machine in _COMPAT:
        return _COMPAT[machine]
    aliases = {"i686": "x86", "i386": "x86", "armv7l": "arm", "ppc64le": "ppc64le",
               "s390x": "s390x", "riscv64": "riscv64"}
    return aliases.get(machine, machine), ()


def action(kind, value=0):
    return {"kill": _sc.KILL, "allow": _sc.ALLOW, "trap": _sc.TRAP, "notify": _sc.NOTIFY,
            "log": _sc.LOG, "errno": _sc.ERRNO(value)}[kind]


def resolve(arch_name, syscall):
    """The syscall's number on ARCH_NAME (native when None); None when it has none."""
    arch = _sc.Arch.NATIVE if arch_name is None else ARCHES[arch_name]
    nr = _sc.resolve_syscall(arch, syscall)
    return None if nr == NR_ERROR else nr


# Linux syscalls newer than the libseccomp a host may have (2.5.4 knows up to
# futex_requeue, Linux 6.7): a profile may name them; they cannot be filtered here, so they
# are skipped with a warning, as LXC skips names its libseccomp cannot resolve. Any other
# name libseccomp does not know is a mistake, refused (with the closest known name).
NEWER_SYSCALLS = frozenset((
    "statmount listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal "
    "uretprobe setxattrat getxattrat listxattrat removexattrat open_tree_attr file_getattr "
    "file_setattr uprobe").split())


def known_names():
    """Every syscall name libseccomp knows on this host's native arch (pseudo syscalls of
    other arches included); ~40 ms, only for "did you mean"."""
    names = set()
    for nr in list(range(0, 1100)) + list(range(-12000, -100)):
        try:
            name = _sc.resolve_syscall(_sc.Arch.NATIVE, nr)
        except (OSError, ValueError, TypeError):
            continue
        if name:
            names.add(name.decode() if isinstance(name, bytes) else name)
    return sorted(names)


class Filter:
    """One libseccomp context per architecture (rules of an arch section go to that arch
    only), merged into one program at load time."""

    def __init__(self, default_kind, default_value=0):
        native, compat = host_arches()
        self.native = native
        default = action(default_kind, default_value)
        self.contexts = {native: self._context(default, None)}
        for name in compat:
            self.contexts[name] = self._context(default, ARCHES[name])

    @staticmethod
    def _context(default, arch):
        ctx = _sc.SyscallFilter(default)
        ctx.set_attr(_sc.Attr.CTL_NNP, 0)  # no_new_privs is lxc.no_new_privs's business
        try:
            ctx.set_attr(_sc.Attr.API_TSKIP, 1)
        except OSError:
            pass
        if arch is not None:
            ctx.add_arch(arch)
            ctx.remove_arch(_sc.Arch.NATIVE)
        return ctx

    def add(self, arch_name, kind, value, syscall, args=()):
        """Add SYSCALL with ACTION on ARCH_NAME (None = every arch here). Returns False when
        the syscall does not exist on any of them."""
        targets = self.contexts if arch_name is None else \
            {arch_name: self.contexts[arch_name]} if arch_name in self.contexts else {}
        added = False
        cmp_args = [_sc.Arg(i, OPS[op], a, b) for i, op, a, b in args]
        native_nr = _sc.resolve_syscall(_sc.Arch.NATIVE, syscall)
        if native_nr == NR_ERROR:
            return False  # LXC: undefined on the host's native arch, skipped
        for name, ctx in targets.items():
            arch = _sc.Arch.NATIVE if name == self.native else ARCHES[name]
            if _sc.resolve_syscall(arch, syscall) < 0:
                continue  # a pseudo syscall: not on this arch
            # libseccomp takes the native number and translates it for the context's arch
            ctx.add_rule_exactly(action(kind, value), native_nr, *cmp_args)
            added = True
        return added

    def reject_force_umount(self):
        nr = _sc.resolve_syscall(_sc.Arch.NATIVE, "umount2")
        for name, ctx in self.contexts.items():
            arch = _sc.Arch.NATIVE if name == self.native else ARCHES[name]
            if _sc.resolve_syscall(arch, "umount2") >= 0:
                ctx.add_rule_exactly(_sc.ERRNO(_errno.EACCES), nr,
                                     _sc.Arg(1, _sc.MASKED_EQ, MNT_FORCE, MNT_FORCE))

    def add_number(self, kind, nr):
        """Version 1 profiles name syscalls by native number."""
        self.contexts[self.native].add_rule_exactly(action(kind), nr)

    def _merged(self):
        main = self.contexts[self.native]
        for name, ctx in self.contexts.items():
            if name != self.native:
                main.merge(ctx)
        self.contexts = {self.native: main}
        return main

    def export_bpf(self):
        """The program load() would load, as raw struct sock_filter records: for a process
        that loads it itself (native/lxc-entry.c, which has no libseccomp)."""
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        with os.fdopen(fd, "w+b") as handle:
            self._merged().export_bpf(handle)
            handle.seek(0)
            return handle.read()


def load_bpf(program):
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) with PROGRAM, raw struct sock_filter
    records (8 bytes each, Filter.export_bpf's): what libseccomp's load does with our attributes
    (no no_new_privs, no flags, no notify listener: lxctools has no notify proxy) without
    generating the program in the caller, a start's init (~0.4 ms of its path);
    native/lxc-entry.c loads it the same way. Needs CAP_SYS_ADMIN or no_new_privs."""
    import ctypes

    from . import libc

    count = len(program) // 8
    if count == 0 or count * 8 != len(program) or count > 0xFFFF:
        raise OSError(_errno.EINVAL, "not a seccomp program")

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    records = ctypes.create_string_buffer(program, len(program))
    fprog = _Fprog(count, ctypes.addressof(records))
    libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog))


_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def active():
    """The Seccomp: field of /proc/self/status (0 none, 1 strict, 2 filter); None if absent."""
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Seccomp:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None
