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

    # -- identity and config (foundation) ------------------------------------------------
    @property
    def dir(self):
        return os.path.join(self.lxcpath, self.name)

    @property
    def config_file_name(self):
        return self.rcfile or os.path.join(self.dir, "config")

    @property
    def defined(self):
        return os.path.exists(os.path.join(self.dir, "config"))

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
    def create(self, template=None, args=(), **options):
        raise NotImplementedError("lxc-create lands with the create issue")

    def destroy(self, **options):
        raise NotImplementedError("lxc-destroy lands with the create issue")

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
