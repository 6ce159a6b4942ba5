"""Host checks behind lxc-checkconfig: LXC's kernel-config checks plus our host readiness.

Everything reads files through a Roots object so that tests can point it at a fake /proc,
/sys, /etc and kernel config. The result is plain data (Report -> Sections -> Checks); the
CLI renders it as LXC's text or as JSON.

May import the subsystems it checks (network/, security/, cgroups/), config/, kernel/ and
the shared modules; not spawn/ or the monitor.
"""

import os
from dataclasses import dataclass, field

# Verdicts LXC prints for kernel options, and the ones our readiness section adds.
ENABLED, MISSING, REQUIRED = "enabled", "missing", "required"
OK, WARNING, FAILED, INFO = "ok", "warning", "failed", "info"
LIST, NOTE = "list", "note"


@dataclass
class Roots:
    """Where the host's files are. None means "the real place" (or a PATH search)."""

    proc: str = "/proc"
    sys: str = "/sys"
    etc: str = "/etc"
    boot: str = "/boot"
    modules: str = "/lib/modules"
    kernel_config: str | None = None  # CONFIG=; default PROC/config.gz
    modname: str = "configs"  # MODNAME=
    release: str | None = None  # uname -r
    subuid: str | None = None  # default ETC/subuid
    subgid: str | None = None
    newuidmap: str | None = None  # default: found on PATH
    newgidmap: str | None = None
    busybox: str | None = None
    user_nic: str | None = None  # LXC's lxc-user-nic; default: where LXC installs it
    dev: str = "/dev"
    default_config: str | None = None  # default: lxctools.paths.default_config_path()
    path: str | None = None  # PATH for lookups; default os.environ["PATH"]

    @classmethod
    def from_env(cls, environ=None):
        environ = os.environ if environ is None else environ
        roots = cls()
        if environ.get("CONFIG"):
            roots.kernel_config = environ["CONFIG"]
        if environ.get("MODNAME"):
            roots.modname = environ["MODNAME"]
        roots.path = environ.get("PATH")
        return roots

    def in_proc(self, *parts):
        return os.path.join(self.proc, *parts)

    def in_etc(self, *parts):
        return os.path.join(self.etc, *parts)

    def host_path(self, path):
        """A path seen in /proc/self/mounts, moved under a fake /sys when one is injected."""
        if self.sys != "/sys" and (path == "/sys" or path.startswith("/sys/")):
            return self.sys + path[4:]
        return path

    def kernel_release(self):
        return self.release or os.uname().release

    def config_env(self):
        return self.kernel_config or self.in_proc("config.gz")

    def subid_file(self, kind):
        explicit = self.subuid if kind == "uid" else self.subgid
        return explicit or self.in_etc(f"sub{kind}")

    def search_path(self):
        path = self.path if self.path is not None else os.environ.get("PATH", "")
        return path or os.defpath


@dataclass
class User:
    """Who is asking: the readiness section is about this user."""

    name: str
    uid: int
    gid: int
    groups: tuple = ()
    home: str = "/"

    @classmethod
    def current(cls):
        import pwd

        uid = os.geteuid()
        try:
            entry = pwd.getpwuid(uid)
            name, home = entry.pw_name, entry.pw_dir
        except KeyError:
            name, home = str(uid), os.environ.get("HOME", "/")
        return cls(name=name, uid=uid, gid=os.getegid(), groups=tuple(os.getgroups()),
                   home=os.environ.get("HOME") or home)

    @property
    def is_root(self):
        return self.uid == 0


@dataclass
class Check:
    """One line of the report.

    state: enabled/missing/required (kernel options), ok/warning/failed/info (readiness),
    list (a label followed by items), note (a fixed line of LXC's, kept in `text`).
    required: a missing option LXC prints in red. fix: a copy-paste command (lines).
    """

    label: str
    state: str
    value: str | None = None
    required: bool = False
    fix: str | None = None
    option: str | None = None
    items: list | None = None
    text: str | None = None

    def as_dict(self):
        out = {"label": self.label, "state": self.state, "value": self.value,
               "required": self.required, "fix": self.fix}
        if self.option:
            out["option"] = self.option
        if self.items is not None:
            out["items"] = list(self.items)
        return out


@dataclass
class Section:
    title: str
    checks: list = field(default_factory=list)

    def add(self, *args, **kwargs):
        check = Check(*args, **kwargs)
        self.checks.append(check)
        return check


@dataclass
class Report:
    kernel_config: str | None = None
    kernel_version: tuple | None = None
    messages: list = field(default_factory=list)  # lines LXC prints before the sections
    sections: list = field(default_factory=list)

    def section(self, title):
        return next((s for s in self.sections if s.title == title), None)


class NoKernelConfig(Exception):
    """No kernel configuration anywhere: LXC's script gives guidance and exits 1."""

    def __init__(self, messages, searched, module_file):
        super().__init__("unable to retrieve kernel configuration")
        self.messages = messages
        self.searched = searched
        self.module_file = module_file


def run(roots=None, user=None, *, readiness=True):
    """Every check, in LXC's order, then our readiness section. Raises NoKernelConfig."""
    from . import kconfig, lxcchecks

    roots = roots or Roots.from_env()
    user = user or User.current()
    found = kconfig.locate(roots)
    report = Report(kernel_config=found.path, messages=list(found.messages))
    try:
        config = kconfig.KernelConfig.read(found.path)
    except (OSError, EOFError) as exc:  # EOFError: a truncated gzip file
        from ..errors import LxcError
        raise LxcError(f"cannot read kernel configuration: {getattr(exc, 'strerror', None) or exc}",
                       path=found.path, hint="CONFIG=<path> lxc-checkconfig reads another file") from None
    report.kernel_version = config.version
    if config.version is None:
        report.messages.append("WARNING: Unable to detect version from configuration, assuming latest")
    report.sections.extend(lxcchecks.sections(config, roots))
    if readiness:
        from . import readiness as ready
        report.sections.append(ready.section(roots, user, config))
    return report
