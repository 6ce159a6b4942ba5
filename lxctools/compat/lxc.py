"""python-lxc's `lxc` module on lxctools: the same names, signatures and return conventions
(True/False instead of exceptions, tuples of names, KeyError for unknown keys), so scripts and
Ansible's lxc_container module written for Debian's python3-lxc run on lxctools unchanged.

Each method is a thin adapter over lxctools.api.container.Container, which raises LxcError;
here a failure prints its message on stderr (where liblxc logs) and returns False.
Differences from python-lxc: docs/python-api.md.

Size: python-lxc's whole module surface, one thin adapter per name.
"""

import errno
import os
import re
import sys
import time

from ..api import attach as _attach
from ..api.container import Container as _ApiContainer
from ..errors import LxcError
from ..paths import default_lxcpath, global_value

__all__ = [
    "CLONE_NEWCGROUP", "CLONE_NEWIPC", "CLONE_NEWNET", "CLONE_NEWNS", "CLONE_NEWPID",
    "CLONE_NEWUSER", "CLONE_NEWUTS", "Container", "ContainerNetwork", "ContainerNetworkList",
    "LXC_ATTACH_CLEAR_ENV", "LXC_ATTACH_DEFAULT", "LXC_ATTACH_DROP_CAPABILITIES",
    "LXC_ATTACH_KEEP_ENV", "LXC_ATTACH_LSM_EXEC", "LXC_ATTACH_LSM_NOW",
    "LXC_ATTACH_MOVE_TO_CGROUP", "LXC_ATTACH_REMOUNT_PROC_SYS", "LXC_ATTACH_SET_PERSONALITY",
    "LXC_CLONE_KEEPBDEVTYPE", "LXC_CLONE_KEEPMACADDR", "LXC_CLONE_KEEPNAME",
    "LXC_CLONE_MAYBE_SNAPSHOT", "LXC_CLONE_SNAPSHOT", "LXC_CREATE_QUIET",
    "arch_to_personality", "attach_run_command", "attach_run_shell", "default_config_path",
    "get_global_config_item", "list_containers", "version"]

version = "5.0.2"
default_config_path = default_lxcpath()

# liblxc's values (lxc/attach_options.h, lxccontainer.h), so scripts pass the same numbers.
from ..api.attach import (  # noqa: E402,F401  (re-exported: python-lxc's names)
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER,
    CLONE_NEWUTS, LXC_ATTACH_CLEAR_ENV, LXC_ATTACH_DEFAULT, LXC_ATTACH_DROP_CAPABILITIES,
    LXC_ATTACH_KEEP_ENV, LXC_ATTACH_LSM_EXEC, LXC_ATTACH_LSM_NOW, LXC_ATTACH_MOVE_TO_CGROUP,
    LXC_ATTACH_REMOUNT_PROC_SYS, LXC_ATTACH_SET_PERSONALITY)

LXC_CLONE_KEEPNAME = 1 << 0
LXC_CLONE_KEEPMACADDR = 1 << 1
LXC_CLONE_SNAPSHOT = 1 << 2
LXC_CLONE_KEEPBDEVTYPE = 1 << 3
LXC_CLONE_MAYBE_SNAPSHOT = 1 << 4
LXC_CREATE_QUIET = 1 << 0
# migrate()'s commands, as lxccontainer.h numbers them
LXC_MIGRATE_PRE_DUMP = 0
LXC_MIGRATE_DUMP = 1
LXC_MIGRATE_RESTORE = 2
LXC_MIGRATE_FEATURE_CHECK = 3

# What liblxc 5.0.2's get_keys("lxc.net.N") lists after type/script.up/script.down for a
# NIC of each type (an "empty" NIC has only those three).
_NIC_COMMON_KEYS = ["flags", "link", "name", "hwaddr", "mtu", "ipv6.address", "ipv6.gateway",
                    "ipv4.address", "ipv4.gateway"]
_NIC_TYPE_KEYS = {"veth": ["veth.pair", "veth.ipv4.route", "veth.ipv6.route", "veth.vlan.id"],
                  "macvlan": ["macvlan.mode"], "vlan": ["vlan.id"],
                  "ipvlan": ["ipvlan.mode", "ipvlan.isolation"]}
_NIC_KEY = re.compile(r"lxc\.net\.(\d+)(\.|$)")

# PER_LINUX32 / PER_LINUX, for the names liblxc on x86-64 knows
_PERSONALITIES = {"i386": 0x0008, "i486": 0x0008, "i586": 0x0008, "i686": 0x0008,
                  "x86": 0x0008, "linux32": 0x0008, "x86_64": 0x0000, "amd64": 0x0000,
                  "linux64": 0x0000}


def _complain(exc):
    hint = getattr(exc, "hint", None)
    sys.stderr.write(f"lxc: {exc}" + (f" ({hint})" if hint else "") + "\n")
    sys.stderr.flush()


def get_global_config_item(key):
    value = global_value(key)
    if value is None:
        raise KeyError("Invalid configuration key")
    return value


def arch_to_personality(arch):
    if isinstance(arch, bytes):
        arch = arch.decode()
    if arch not in _PERSONALITIES:
        raise KeyError("Failed to lookup architecture.")
    return _PERSONALITIES[arch]


def attach_run_command(cmd):
    """Exec CMD inside the container: a program name, a list, or (program, argv)."""
    return _attach.attach_run_command(cmd)


def attach_run_shell(payload=None):
    """Exec the user's shell inside the container."""
    return _attach.attach_run_shell(payload)


class Container:
    """python-lxc's Container, by name and lxcpath (config_path)."""

    def __init__(self, name, config_path=None):
        try:
            self._api = _ApiContainer(name, config_path)
        except LxcError as exc:
            raise ValueError(str(exc)) from None
        self._consoles = []
        self.network = ContainerNetworkList(self)

    # -- identity and state ---------------------------------------------------------------
    @property
    def name(self):
        return self._api.name

    @property
    def config_file_name(self):
        return self._api.config_file_name

    @property
    def defined(self):
        return self._api.defined

    @property
    def state(self):
        return self._api.state

    @property
    def running(self):
        return self._api.running

    @property
    def init_pid(self):
        return self._api.init_pid

    @property
    def controllable(self):
        return os.access(self._api.lxcpath, os.W_OK)

    def get_config_path(self):
        return self._api.lxcpath

    def set_config_path(self, path):
        self._api = _ApiContainer(self.name, path)
        return True

    # -- config items ---------------------------------------------------------------------
    def _doc(self):
        """The container's config in memory: its file when defined, else an empty one that
        create() will use (python-lxc lets you set items before creating)."""
        if self._api._doc is None:
            from ..config.document import ConfigDocument
            if self.defined:
                self._api.load_config()
            else:
                self._api._doc = ConfigDocument(None, "")
        return self._api._doc

    @staticmethod
    def _known(key):
        from ..config import keys
        if keys.lookup(key) is None:
            raise KeyError("Invalid configuration key")

    def get_config_item(self, key):
        """'' when unset, a list for keys that hold several values; KeyError if unknown."""
        self._known(key)
        if self._api._doc is None and not self.defined:
            raise KeyError("Invalid configuration key")  # no config yet, as liblxc
        conf = self._doc().conf
        if key == "lxc.net":
            indices = sorted(conf.nic_indices())
            if not indices:
                raise KeyError("Invalid configuration key")
            return [conf.value(f"lxc.net.{i}.type") or "" for i in indices]
        nic = _NIC_KEY.match(key)
        if nic and int(nic.group(1)) not in conf.nic_indices():
            raise KeyError("Invalid configuration key")
        try:
            text = conf.get(key)
        except LxcError:
            raise KeyError("Invalid configuration key") from None
        if isinstance(conf.value(key), list):
            return list(conf.value(key))
        if "\n" in text:
            return text.split("\n")
        return text

    def get_running_config_item(self, key):
        """KEY from the config the container was started with; None when unset, unknown
        or not running (python-lxc's answer for all three)."""
        try:
            info = self._api.running_info()
        except LxcError:
            return None
        value = (info.get("conf") or {}).get(key)
        if value is None:
            return None
        return "\n".join(value) if isinstance(value, list) else value

    def set_config_item(self, key, value):
        """Set KEY (a list sets each value); False if the value is refused."""
        self._known(key)
        doc = self._doc()
        before = list(doc.lines)
        try:
            doc.clear_item(key)
            for entry in (value if isinstance(value, list) else [value]):
                doc.set_item(key, str(entry))
        except LxcError as exc:
            doc.lines = before
            doc._reload()
            _complain(exc)
            return False
        return True

    def append_config_item(self, key, value):
        self._known(key)
        try:
            self._doc().append_item(key, str(value))
        except LxcError as exc:
            _complain(exc)
            return False
        return True

    def clear_config_item(self, key):
        try:
            self._known(key)
            if self._api._doc is None and not self.defined:
                return False
            doc = self._doc()
            if key == "lxc.net" and not doc.conf.nic_indices():
                return False
            doc.clear_item(key)
        except (KeyError, LxcError):
            return False
        return True

    def clear_config(self):
        self._api._doc = None
        return True

    def get_keys(self, key=None):
        """The keys below KEY (all keys without one); for "lxc.net.N" the sub-keys NIC N's
        type accepts, in liblxc's order. KeyError for an unknown prefix or a missing NIC."""
        nic = re.fullmatch(r"lxc\.net\.(\d+)\.?", key or "")
        if nic:
            if self._api._doc is None and not self.defined:
                raise KeyError("Invalid configuration key")
            kind = self._doc().conf.value(f"lxc.net.{nic.group(1)}.type")
            if not kind:
                raise KeyError("Invalid configuration key")
            names = ["type", "script.up", "script.down"]
            if kind != "empty":
                names += _NIC_COMMON_KEYS + _NIC_TYPE_KEYS.get(kind, [])
            return names
        names = self._api.get_keys(key)
        if not names:
            raise KeyError("Invalid configuration key")
        return names

    def load_config(self, path=None):
        try:
            self._api.load_config(path)
        except LxcError:
            return False
        return True

    def save_config(self, path=None):
        doc = self._doc()
        target = path or self.config_file_name
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            doc.save(target)
        except (OSError, LxcError) as exc:
            _complain(exc)
            return False
        return True

    # -- create / destroy ------------------------------------------------------------------
    def create(self, template=None, flags=0, args=(), bdevtype=None, fssize=0):
        """Create the container from TEMPLATE with ARGS (a sequence, or a dict of long
        options); the items set before become its config, as with python-lxc."""
        if isinstance(args, dict):
            args = [part for key, value in args.items() for part in (f"--{key}", str(value))]
        if self.defined:
            sys.stderr.write(f"lxc: Container {self.name} already exists\n")
            return False
        doc = self._api._doc
        config_file = None
        try:
            if doc is not None and doc.lines:
                import tempfile
                handle = tempfile.NamedTemporaryFile("w", prefix="lxctools-create-",
                                                     suffix=".conf", delete=False)
                with handle:
                    handle.write(doc.text())
                config_file = handle.name
            self._api.create(template=template or None, args=list(args),
                             bdev=bdevtype or "dir", config_file=config_file,
                             quiet=bool(flags & LXC_CREATE_QUIET), fssize=fssize or None)
        except LxcError as exc:
            _complain(exc)
            return False
        finally:
            if config_file:
                os.unlink(config_file)
        self._api._doc = None
        return True

    def destroy(self):
        if not self.defined or self.running:
            return False
        try:
            self._api.destroy()
        except LxcError as exc:
            _complain(exc)
            return False
        self.clear_config()
        return True

    # -- running ---------------------------------------------------------------------------
    def start(self, useinit=False, daemonize=True, close_fds=False, cmd=None):
        """Start (CMD: the argv to run instead of lxc.init.cmd; USEINIT: run it under our init,
        as lxc-execute). Returns once the container runs, or, with daemonize=False, once it
        has stopped."""
        if self.running or not self.defined:
            return False
        try:
            code = self._api.start(list(cmd) if cmd else None, foreground=not daemonize,
                                   execute=bool(useinit))
        except LxcError as exc:
            _complain(exc)
            return False
        self._api._doc = None
        # in the foreground the container ran: its command's exit status does not count,
        # as with liblxc
        return code == 0 or not daemonize

    def stop(self):
        """Kill the container now (python-lxc's stop); True when it is not running after."""
        try:
            self._api.stop(kill=True)
        except LxcError:
            pass
        return not self.running

    def shutdown(self, timeout=-1):
        """Ask init to halt (lxc.signal.halt) and wait up to TIMEOUT seconds (-1: forever)."""
        if not self.running:
            return True
        try:
            self._api.stop(timeout=timeout, nokill=True)
        except LxcError:
            pass
        return not self.running

    def reboot(self):
        if not self.running:
            return False
        try:
            self._api.stop(timeout=0, reboot=True)
        except LxcError as exc:
            _complain(exc)
            return False
        return True

    def checkpoint(self, directory, stop=False, verbose=False):
        """Dump the running container into DIRECTORY with CRIU (STOP: stopped after)."""
        try:
            return bool(self._api.checkpoint(directory, stop=stop, verbose=verbose))
        except LxcError as exc:
            _complain(exc)
            return False

    def restore(self, directory, verbose=False):
        """Bring the container back from a checkpoint in DIRECTORY."""
        try:
            return bool(self._api.restore(directory, verbose=verbose))
        except LxcError as exc:
            _complain(exc)
            return False
        finally:
            self._api._doc = None

    def migrate(self, cmd, directory, stop=False, verbose=False, predump_dir=None,
                action_script=None, **_options):
        """liblxc's migrate(): 0 on success, as the C API (LXC_MIGRATE_*). The page server,
        ghost limit and inode options CRIU's remote modes take are not supported."""
        try:
            if cmd == LXC_MIGRATE_PRE_DUMP:
                self._api.checkpoint(directory, verbose=verbose, pre_dump=True,
                                     predump_dir=predump_dir, action_script=action_script)
            elif cmd == LXC_MIGRATE_DUMP:
                self._api.checkpoint(directory, stop=stop, verbose=verbose,
                                     predump_dir=predump_dir, action_script=action_script)
            elif cmd == LXC_MIGRATE_RESTORE:
                self._api.restore(directory, verbose=verbose, action_script=action_script)
            elif cmd == LXC_MIGRATE_FEATURE_CHECK:
                from ..spawn import criu
                criu.preflight("checkpoint")
            else:
                return -22  # -EINVAL
        except LxcError as exc:
            _complain(exc)
            return -1
        return 0

    def freeze(self):
        try:
            return self._api.freeze()
        except LxcError:
            return False

    def unfreeze(self):
        try:
            return self._api.unfreeze()
        except LxcError:
            return not self.running  # thawing a stopped container succeeds, as liblxc

    def wait(self, state, timeout=-1):
        if isinstance(state, str):
            state = state.upper()
        # liblxc answers from the current state first, so timeout 0 is a plain check
        if self.state in (state.split("|") if isinstance(state, str) else state):
            return True
        if timeout == 0:
            return False
        return bool(self._api.wait(state, timeout))

    # -- cgroups ---------------------------------------------------------------------------
    def get_cgroup_item(self, key):
        try:
            return self._api.get_cgroup_item(key)
        except LxcError:
            raise KeyError("Invalid cgroup entry") from None

    def set_cgroup_item(self, key, value):
        try:
            return self._api.set_cgroup_item(key, value)
        except LxcError:
            return False

    # -- devices (lxc-device's API) ----------------------------------------------------------
    def _device(self, method, *args):
        try:
            return getattr(self._api, method)(*args)
        except LxcError:
            return False

    def add_device_node(self, path, destpath=None):
        return self._device("add_device_node", path, destpath)

    def remove_device_node(self, path, destpath=None):
        return self._device("remove_device_node", path, destpath)

    def attach_interface(self, src_ifname, dst_ifname=None):
        return self._device("attach_interface", src_ifname, dst_ifname)

    def detach_interface(self, ifname, dst_ifname=None):
        return self._device("detach_interface", ifname, dst_ifname)

    def add_device_net(self, name, destname=None):
        return self.attach_interface(name, destname)

    def remove_device_net(self, name):
        return self.detach_interface(name)

    # -- network ---------------------------------------------------------------------------
    def get_interfaces(self):
        return tuple(self._api.get_interfaces())

    def get_ips(self, interface=None, family=None, scope=None, timeout=0):
        """Addresses inside the container as liblxc lists them: not lo's (unless INTERFACE
        names it), IPv6 of SCOPE (an IPv6 scope id; default 0, not link-local); retried each
        second up to TIMEOUT (or $LXC_GETIP_TIMEOUT) while there are none."""
        from ..network import netinfo

        timeout = int(os.environ.get("LXC_GETIP_TIMEOUT", timeout))
        wanted_scope = 0 if scope is None else int(scope)
        while True:
            pid = self.init_pid
            found = []
            if pid > 0:
                for iface, fam, scope_id, address in netinfo.address_records(pid):
                    if interface and iface != interface or not interface and iface == "lo":
                        continue
                    if family and fam != family:
                        continue
                    if fam == "inet6" and scope_id != wanted_scope:
                        continue
                    found.append(address)
            if found or timeout <= 0:
                return tuple(found)
            timeout -= 1
            time.sleep(1)

    # -- consoles --------------------------------------------------------------------------
    def console_getfd(self, ttynum=-1):
        """The master fd of tty TTYNUM (0: the console); the tty stays allocated to this
        object until it is garbage collected. False when not running."""
        if not self.running:
            return False
        try:
            fd, channel = self._api.console_getfd(ttynum)
        except LxcError as exc:
            _complain(exc)
            return False
        self._consoles.append(channel)
        return fd

    def console(self, ttynum=-1, stdinfd=0, stdoutfd=1, stderrfd=2, escape=1):
        """Connect STDINFD/STDOUTFD to tty TTYNUM until the escape (Ctrl+a q) is typed."""
        if not self.running:
            return False
        from ..attach import terminal
        try:
            fd, channel = self._api.console_getfd(ttynum)
        except LxcError as exc:
            _complain(exc)
            return False
        saved = [os.dup(0), os.dup(1)]
        try:
            os.dup2(stdinfd, 0)
            os.dup2(stdoutfd, 1)
            terminal.proxy(fd, escape, extra_fds=[channel.sock.fileno()])
        finally:
            os.dup2(saved[0], 0)
            os.dup2(saved[1], 1)
            for copy in saved:
                os.close(copy)
            os.close(fd)
            channel.close()
        return True

    # -- attach ----------------------------------------------------------------------------
    def attach(self, run, payload=None, **options):
        """Call RUN(PAYLOAD) inside the container in a child; its pid, -ECONNREFUSED when
        not running (liblxc's answer from the unreachable command socket)."""
        if not self.running:
            return -errno.ECONNREFUSED
        return self._api.attach(run, payload, **options)

    def attach_wait(self, run, payload=None, **options):
        """attach() and wait: the wait status, -1 when it could not run."""
        if not self.running:
            return -errno.ECONNREFUSED
        return self._api.attach_wait(run, payload, **options)

    # -- copies (need lxc-copy / lxc-snapshot's API; False until it exists) ----------------
    def _copy_api(self, method, *args, **kwargs):
        target = getattr(self._api, method, None)
        if target is None:
            sys.stderr.write(f"lxc: {method} is not available in this lxctools version\n")
            return False
        try:
            return target(*args, **kwargs)
        except LxcError as exc:
            _complain(exc)
            return False
        except ImportError:  # the API names a module not in this version yet
            sys.stderr.write(f"lxc: {method} is not available in this lxctools version\n")
            return False

    def clone(self, newname, config_path=None, flags=0, bdevtype=None, bdevdata=None,
              newsize=0, hookargs=()):
        done = self._copy_api("clone", newname, config_path=config_path,
                              snapshot=bool(flags & LXC_CLONE_SNAPSHOT),
                              keepname=bool(flags & LXC_CLONE_KEEPNAME),
                              keepmac=bool(flags & LXC_CLONE_KEEPMACADDR),
                              bdev=bdevtype, newsize=newsize)
        return Container(newname, config_path or self._api.lxcpath) if done else False

    def rename(self, new_name):
        done = self._copy_api("rename", new_name)
        return Container(new_name, self._api.lxcpath) if done else False

    def snapshot(self, comment_path=None):
        return self._copy_api("snapshot", comment_path)

    def snapshot_list(self):
        found = self._copy_api("snapshot_list")
        return tuple(found) if found is not False else ()

    def snapshot_restore(self, name, newname=None):
        return bool(self._copy_api("snapshot_restore", name, newname))

    def snapshot_destroy(self, name):
        return bool(self._copy_api("snapshot_destroy", name))


class ContainerNetwork:
    """lxc.net.INDEX.* of a container as attributes (python-lxc's c.network[0].link)."""

    def __init__(self, container, index):
        object.__setattr__(self, "container", container)
        object.__setattr__(self, "index", index)

    def _key(self, attr):
        key = attr.replace("_", ".")
        if key not in self.container.get_keys(f"lxc.net.{self.index}"):
            raise AttributeError(f"network has no attribute {attr!r}")
        return f"lxc.net.{self.index}.{key}"

    def __getattr__(self, attr):
        return self.container.get_config_item(self._key(attr))

    def __setattr__(self, attr, value):
        self.container.set_config_item(self._key(attr), value)

    def __delattr__(self, attr):
        self.container.clear_config_item(self._key(attr))

    def __repr__(self):
        kind = self.container.get_config_item(f"lxc.net.{self.index}.type")
        return f"'{kind}' network at index '{self.index}'"


class ContainerNetworkList:
    def __init__(self, container):
        self.container = container

    def __len__(self):
        try:
            return len(self.container.get_config_item("lxc.net"))
        except KeyError:
            return 0

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError("list index out of range")
        return ContainerNetwork(self.container, index)

    def add(self, network_type):
        return self.container.set_config_item(f"lxc.net.{len(self)}.type", network_type)

    def remove(self, index):
        if index >= len(self):
            raise IndexError("list index out of range")
        return self.container.clear_config_item(f"lxc.net.{index}")


def list_containers(active=True, defined=True, as_object=False, config_path=None):
    """Names (sorted) of the defined and/or running containers in CONFIG_PATH."""
    from ..api import listing

    lxcpath = config_path or default_config_path
    if not os.path.isdir(lxcpath):
        return ()
    names = set()
    if defined:
        names.update(listing.defined_names(lxcpath))
    if active:
        names.update(listing.active_names(lxcpath))
    ordered = tuple(sorted(names))
    if as_object:
        return tuple(Container(name, config_path) for name in ordered)
    return ordered
