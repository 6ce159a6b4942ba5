"""Container: the one public object every lxc-* tool calls (shaped like python-lxc's).

Sections below belong to different areas of the project; each fills its own methods.
"""

import os

from ..errors import LxcError, NotDefined
from ..paths import default_lxcpath, normalize_lxcpath


def valid_name(name):
    """LXC refuses names that are empty, contain '/', or are '.' / '..'."""
    return bool(name) and "/" not in name and name not in (".", "..") and "\0" not in name


class Container:
    def __init__(self, name, config_path=None, *, rcfile=None):
        if not valid_name(name):
            raise LxcError(f'invalid container name "{name}"',
                           hint="a name may not be empty, contain '/', or be '.' or '..'")
        self.name = name
        self.lxcpath = normalize_lxcpath(config_path) if config_path else default_lxcpath()
        self.rcfile = rcfile
        self._doc = None
        if os.path.exists(os.path.join(self.dir, "partial")):
            self._settle_partial()

    def _settle_partial(self):
        """A `partial` marker whose creator died means a half-made container: remove it."""
        from ..runtime.partial import remove_if_stale
        from ..storage.remove import remove_tree

        return remove_if_stale(self.dir, remove_tree)

    # -- identity and config (foundation) ------------------------------------------------
    @property
    def dir(self):
        return os.path.join(self.lxcpath, self.name)

    @property
    def config_file_name(self):
        return self.rcfile or os.path.join(self.dir, "config")

    @property
    def defined(self):
        # A container still being created (locked `partial` marker) is not defined yet.
        return (os.path.exists(os.path.join(self.dir, "config"))
                and not os.path.exists(os.path.join(self.dir, "partial")))

    def load_config(self, path=None, warn=None):
        from ..config.document import ConfigDocument
        from .. import log

        target = path or self.config_file_name
        if not os.path.exists(target):
            raise NotDefined(f"{self.name} doesn't exist" if target == os.path.join(self.dir, "config")
                             else f"config file {target} does not exist", path=None)
        self._doc = ConfigDocument.read(target, warn=warn or log.warn)
        return self._doc

    @property
    def document(self):
        if self._doc is None:
            self.load_config()
        return self._doc

    @property
    def conf(self):
        return self.document.conf

    def get_config_item(self, key):
        return self.document.get_item(key)

    def set_config_item(self, key, value):
        self.document.set_item(key, value)
        return True

    def clear_config_item(self, key):
        self.document.clear_item(key)
        return True

    def save_config(self, path=None):
        self.document.save(path)
        return True

    # -- create / destroy (create issue) -------------------------------------------------
    def create(self, template=None, args=(), bdev="dir", dir=None, config_file=None,
               quiet=False):
        """lxc-create: TEMPLATE is a native name, an lxc-NAME script, an absolute path, or
        "none" (and its prefixes). Raises LxcError; a failed create leaves nothing behind."""
        from .create import create
        from .locking import container_lock

        if self.rcfile:
            raise LxcError("--rcfile cannot be used with create", hint="use -f FILE")
        create(name=self.name, lxcpath=self.lxcpath, template=template, args=list(args),
               bdev=bdev, rootfs_dir=dir, config_file=config_file, quiet=quiet,
               lock=lambda: container_lock(self.lxcpath, self.name))
        self._doc = None
        return True

    def destroy(self, force=False, snapshots=False, dry_run=False):
        """lxc-destroy. Returns the paths removed (with dry_run: the paths that would go)."""
        from . import destroy as destroyer
        from .locking import container_lock

        if not self.defined:
            raise NotDefined("Container is not defined")
        if self.running:
            if not force:
                raise LxcError(f"{self.name} is running",
                               hint="stop it first (lxc-stop), or use lxc-destroy -f")
            if dry_run:
                raise LxcError(f"{self.name} is running: -f would stop it first",
                               hint="run without --dry-run, or stop it first")
            self.stop(kill=True)
            if not self.defined:  # an ephemeral container removes itself when it stops
                return []
        with container_lock(self.lxcpath, self.name):
            removed = destroyer.destroy(self.name, self.lxcpath, self.config_file_name,
                                        self.document, snapshots=snapshots, dry_run=dry_run)
        self._doc = None
        return removed

    # -- runtime (runtime issue) ---------------------------------------------------------
    @property
    def state(self):
        """STOPPED, STARTING, RUNNING, STOPPING, ABORTING, FREEZING, FROZEN or THAWED."""
        return "STOPPED"

    @property
    def running(self):
        return self.state not in ("STOPPED",)

    @property
    def init_pid(self):
        return -1

    def start(self, **options):
        raise NotImplementedError("lxc-start lands with the runtime issue")

    def stop(self, **options):
        raise NotImplementedError("lxc-stop lands with the runtime issue")
