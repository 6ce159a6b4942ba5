"""AppArmor as LXC applies it: lxc.apparmor.profile, .allow_nesting, .allow_incomplete, .raw.

Decided in the supervisor before anything is cloned (`prepare`, as LXC's apparmor_prepare):
- `unchanged`: nothing is done; the container runs under whatever the supervisor runs under.
- unset: LXC's default profile, `lxc-container-default-cgns` (`lxc-container-default` on a
  kernel without cgroup namespaces). Debian's and Ubuntu's lxc package ship it
  (/etc/apparmor.d/lxc-containers) and load it at boot; when it is not loaded but that file
  is there, it is loaded here with apparmor_parser; when neither, the start fails saying so.
- a name: that profile, which must be loaded (checked before the start, with the fix).
- `unconfined`: unconfined (nothing to do when the supervisor is).
- `generated`: a profile written for the container (aaprofile.py) to
  LXCPATH/NAME/apparmor/, loaded with `apparmor_parser -rWL CACHE`, in an AppArmor policy
  namespace of its own when the kernel can stack (the container may then load its own
  policy there, as LXC's); removed and unloaded when the container stops.
A host without AppArmor runs the container unconfined (LXC: its "nop" LSM), and lxc-start
says so when the config asks for a profile. A kernel without mount mediation refuses a
confined start unless lxc.apparmor.allow_incomplete = 1 (the profile could not stop mounts).

The label is switched to at the exec of the container's init (`exec LABEL` written to
/proc/self/attr/apparmor/exec, or /proc/self/attr/exec on older kernels), from an fd the
setup process opened before pivot_root (the container's /proc is never trusted). LXC
switches with `changeprofile` just before its exec; on exec is the same for init, and keeps
what runs before (mount and autodev hooks, the setup itself) under the supervisor's label.
Attached processes get the label the container's init runs under (read from the host's
/proc, as LXC reads it from init's pidfd), on exec too, unless lxc-attach -e says LSM.
"""

import os

from .. import log
from ..errors import LxcError

DEFAULT_PROFILE = "lxc-container-default"
DEFAULT_PROFILE_CGNS = "lxc-container-default-cgns"
UNCHANGED = "unchanged"
GENERATED = "generated"
UNCONFINED = "unconfined"
# where Debian's and Ubuntu's lxc packages keep LXC's profiles (loaded at boot by apparmor)
LXC_PROFILES = "/etc/apparmor.d/lxc-containers"


class AppArmorError(LxcError):
    """The configured AppArmor confinement cannot be applied."""


class Host:
    """What this host's AppArmor offers (LXC's lsm_apparmor_ops_init)."""

    def __init__(self, sys_root="/sys"):
        self.securityfs = os.path.join(sys_root, "kernel/security/apparmor")
        self.enabled = _read(os.path.join(sys_root, "module/apparmor/parameters/enabled"))[:1] == "Y"
        features = os.path.join(self.securityfs, "features")
        # without mount mediation a profile cannot stop mounts (LXC: "incomplete")
        self.mounts = os.path.exists(os.path.join(features, "mount/mask"))
        version = _read(os.path.join(features, "domain/version")).strip().split(".")
        try:
            major, minor = int(version[0]), int(version[1])
        except (ValueError, IndexError):
            major = minor = 0
        self.can_stack = (_read(os.path.join(features, "domain/stack")).startswith("yes")
                          and (major, minor) >= (1, 2))
        self.stacked = self.can_stack and _read(
            os.path.join(self.securityfs, ".ns_stacked")).startswith("yes")
        self._parser = None

    def parser(self):
        """apparmor_parser's path, or None."""
        if self._parser is None:
            import shutil
            self._parser = shutil.which("apparmor_parser", path=os.environ.get("PATH", "")
                                        + ":/sbin:/usr/sbin") or ""
        return self._parser or None

    def loaded(self):
        """The names of the loaded profiles (of the root policy namespace), or None when
        the list cannot be read."""
        text = _read(os.path.join(self.securityfs, "profiles"), None)
        if text is None:
            return None
        return {line.rsplit(" (", 1)[0] for line in text.splitlines() if line}


def _read(path, default=""):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return default


def profile_name(name, lxcpath):
    """LXC's name for a container's generated profile: lxc-NAME_<LXCPATH>, or its FNV-1a
    64 hash in hex when that is too long for AppArmor."""
    full = f"lxc-{name}_<{lxcpath}>"
    data = full.encode("utf-8", "surrogateescape")
    if len(data) + 7 > 253:
        digest = 0xcbf29ce484222325
        for byte in data:
            digest = ((digest ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        return f"{digest:016x}"
    return full


def namespace_name(name, lxcpath):
    """The container's AppArmor policy namespace (and its profile file's name)."""
    return profile_name(name, lxcpath).replace("/", "-")


def label_of(pid="self"):
    """The AppArmor label PID runs under, without its mode (" (enforce)"), or None."""
    for attr in ("attr/apparmor/current", "attr/current"):
        try:
            with open(f"/proc/{pid}/{attr}", "rb") as handle:
                text = handle.read().decode("utf-8", "surrogateescape")
        except FileNotFoundError:
            continue
        except OSError:
            return None
        text = text.rstrip("\0\n")
        if text.endswith(")") and " (" in text:
            text = text.rsplit(" (", 1)[0]
        return text or None
    return None


class Decision:
    """What the container's init is switched to: LABEL (None: nothing to switch), and what
    to undo at the stop (a generated profile)."""

    def __init__(self, label, generated=None):
        self.label = label
        self.generated = generated  # (profile file, namespace dir, parser) or None

    def cleanup(self):
        """Unload and remove a generated profile (LXC's apparmor_cleanup)."""
        if not self.generated:
            return
        path, ns_dir, parser = self.generated
        self.generated = None
        if ns_dir:
            try:
                os.rmdir(ns_dir)
            except OSError as exc:
                log.debug(f"AppArmor namespace {ns_dir}: {exc.strerror}")
        _run_parser(parser, "-RWL", path, check=False)
        try:
            os.unlink(path)
            os.rmdir(os.path.dirname(path))
        except OSError:
            pass


def configured(conf):
    return conf.value("lxc.apparmor.profile") or None


def prepare(conf, name, lxcpath, host=None):
    """The Decision for CONF's container NAME of LXCPATH, or None (no AppArmor here, or
    nothing to do). Raises AppArmorError naming the key and the fix."""
    host = host or Host()
    label = configured(conf)
    if not host.enabled:
        if label and label not in (UNCONFINED, UNCHANGED):
            # lxc-start said so (confinement.lsm_ignored); LXC's log says it at INFO
            log.info(f"lxc.apparmor.profile = {label} ignored: AppArmor not enabled")
        return None
    if label == UNCHANGED:
        log.info("AppArmor profile unchanged per user request")
        return None
    generated = None
    if label == GENERATED:
        generated = _load_generated(conf, name, lxcpath, host)
        label = profile_name(name, lxcpath)
        if generated[1]:
            label += f"//&:{namespace_name(name, lxcpath)}:"
    try:
        current = label_of()
        if not host.can_stack and current not in (None, UNCONFINED):
            if not label or current == label:
                return None  # confined already, and nothing else asked for
            raise AppArmorError(f"lxctools runs under the AppArmor profile {current}, which "
                                f"cannot change to {label} (no stacking in this kernel)",
                                key="lxc.apparmor.profile",
                                hint="run lxc-start unconfined, or lxc.apparmor.profile = "
                                     "unchanged")
        if not label:
            label = (DEFAULT_PROFILE_CGNS if os.path.exists("/proc/self/ns/cgroup")
                     else DEFAULT_PROFILE)
        if label != UNCONFINED and not host.mounts:
            log.warn("Incomplete AppArmor support in your kernel (no mount mediation)")
            if (conf.value("lxc.apparmor.allow_incomplete") or "0") != "1":
                raise AppArmorError(
                    "this kernel's AppArmor cannot mediate mounts: the profile "
                    f"{label} would not stop the container's root from mounting",
                    key="lxc.apparmor.profile",
                    hint="lxc.apparmor.allow_incomplete = 1 to start it anyway, as LXC")
        if label == UNCONFINED:
            return Decision(None if current in (None, UNCONFINED) else UNCONFINED, generated)
        if generated is None:
            _require_loaded(label, host)
        return Decision(label, generated)
    except BaseException:
        if generated:
            Decision(None, generated).cleanup()
        raise


def _require_loaded(label, host):
    """A named profile must be loaded before anything starts: a failed switch at exec would
    only show as the container's setup failing. LXC's own default profiles are loaded from
    LXC_PROFILES when they are not (the apparmor service did not run, or LXC was not
    installed when it did)."""
    if "//" in label or label.startswith(":"):
        return  # a stack or another namespace's: the kernel judges at exec
    loaded = host.loaded()
    if loaded is None or label in loaded:
        return
    default = label in (DEFAULT_PROFILE, DEFAULT_PROFILE_CGNS)
    parser = host.parser()
    if default and parser and os.path.isfile(LXC_PROFILES):
        _run_parser(parser, "-r", LXC_PROFILES)
        loaded = host.loaded()
        if loaded is None or label in loaded:
            return
    if default:
        where = (f"{LXC_PROFILES} does not define it" if os.path.isfile(LXC_PROFILES)
                 else f"{LXC_PROFILES} (from the lxc package) is not installed")
        hint = ("install LXC's profiles (Debian/Ubuntu: apt install lxc, then "
                f"apparmor_parser -r {LXC_PROFILES}), or set lxc.apparmor.profile = "
                "generated (needs apparmor_parser), or unconfined")
    else:
        where = "no profile of that name is loaded"
        hint = (f"load it (apparmor_parser -r /etc/apparmor.d/FILE), or fix "
                f"lxc.apparmor.profile (loaded: cat {host.securityfs}/profiles)")
    raise AppArmorError(f'AppArmor profile "{label}" is not loaded: {where}',
                        key="lxc.apparmor.profile", hint=hint)


def _load_generated(conf, name, lxcpath, host):
    """Write and load the generated profile: (file, namespace dir or None, parser)."""
    from . import aaprofile
    from ..paths import cache_dir

    parser = host.parser()
    if not parser:
        raise AppArmorError("Cannot use generated profile: apparmor_parser not available",
                            key="lxc.apparmor.profile",
                            hint="install it (Debian/Ubuntu: apt install apparmor), or set "
                                 "lxc.apparmor.profile = lxc-container-default-cgns")
    namespace = None
    if host.can_stack and not host.stacked:
        namespace = namespace_name(name, lxcpath)
    flags = {"namespace": namespace,
             "nesting": (conf.value("lxc.apparmor.allow_nesting") or "0") == "1",
             "unprivileged": bool(conf.value("lxc.idmap")) or os.geteuid() != 0,
             "unix": _parser_knows_unix(parser),
             "cgns": os.path.exists("/proc/self/ns/cgroup")}
    text = aaprofile.generate(profile_name(name, lxcpath), flags,
                              conf.value("lxc.apparmor.raw") or [])
    directory = os.path.join(lxcpath, name, "apparmor")
    path = os.path.join(directory, namespace_name(name, lxcpath))
    ns_dir = None
    if namespace:
        ns_dir = os.path.join(host.securityfs, "policy/namespaces", namespace)
        try:
            os.mkdir(ns_dir, 0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise AppArmorError(f"cannot create the AppArmor namespace {ns_dir}: "
                                f"{exc.strerror}", key="lxc.apparmor.profile") from None
    generated = (path, ns_dir, parser)
    try:
        os.makedirs(os.path.join(cache_dir(), "apparmor"), 0o755, exist_ok=True)
        # the parser's cache is keyed by the file's mtime: rewrite only what changed
        if _read(path, None) != text:
            os.makedirs(directory, 0o755, exist_ok=True)
            from ..atomic import atomic_write
            atomic_write(path, text.encode("utf-8", "surrogateescape"), mode=0o600)
        _run_parser(parser, "-rWL", path)
    except BaseException:
        Decision(None, generated).cleanup()
        raise
    return generated


def _parser_knows_unix(parser):
    """apparmor_parser 2.10.95 and later understand unix rules (LXC's check)."""
    import subprocess

    try:
        out = subprocess.run([parser, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    import re
    match = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", out)
    if not match:
        return False
    version = tuple(int(x or 0) for x in match.groups())
    return version >= (2, 10, 95)


def _run_parser(parser, option, path, check=True):
    import subprocess
    from ..paths import cache_dir

    argv = [parser, option]
    if option.endswith("L"):
        argv.append(os.path.join(cache_dir(), "apparmor"))
    argv.append(path)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError as exc:
        if check:
            raise AppArmorError(f"cannot run {parser}: {exc.strerror}",
                                key="lxc.apparmor.profile") from None
        return
    if proc.returncode != 0 and check:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise AppArmorError(f'Failed to run apparmor_parser on "{path}": '
                            + (detail[-1] if detail else f"exit status {proc.returncode}"),
                            key="lxc.apparmor.profile",
                            hint="lxc.apparmor.raw lines are added to the profile as they "
                                 "are: check them" if option != "-r" else None)


# -- the switch, in the process that execs ------------------------------------------------

def open_exec_attr():
    """An fd on this task's AppArmor exec attribute, opened while the host's /proc is in
    view (the kernel lets only the task itself write it: the fd is no use to another)."""
    for path in ("/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"):
        try:
            return os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
    raise AppArmorError("cannot set the AppArmor profile: no /proc/self/attr/exec",
                        key="lxc.apparmor.profile")


def write_exec(fd, label):
    """Switch to LABEL at this task's next exec (and at the exec of what it forks)."""
    try:
        os.write(fd, f"exec {label}".encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise AppArmorError(f"Failed to change AppArmor profile to {label}: {exc.strerror}",
                            key="lxc.apparmor.profile",
                            hint="is the profile loaded? (cat /sys/kernel/security/"
                                 "apparmor/profiles)") from None


def open_current_attr():
    """An fd on this task's current AppArmor attribute (for `change_now`)."""
    for path in ("/proc/self/attr/apparmor/current", "/proc/self/attr/current"):
        try:
            return os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
    raise AppArmorError("cannot set the AppArmor profile: no /proc/self/attr/current",
                        key="lxc.apparmor.profile")


def change_now(fd, label):
    """Switch this task to LABEL at once (LXC's changeprofile: python-lxc's attach of a
    Python function, which runs without an exec)."""
    try:
        os.write(fd, f"changeprofile {label}".encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise AppArmorError(f"Failed to change AppArmor profile to {label}: {exc.strerror}",
                            key="lxc.apparmor.profile") from None
    finally:
        os.close(fd)
