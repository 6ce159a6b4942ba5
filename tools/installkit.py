"""What the install tools share (install-etc.py, install-templates.py): write a file only
where it is ours to write, and say what was done.

A manifest under the root (var/lib/lxctools/installed.json) holds the sha256 of each file we
installed. A file already at a destination is replaced only when it is what we installed
(its hash is in the manifest: the admin did not edit it) or the same bytes; anything else
is someone else's (Debian's lxc package, the admin's edit) and is left alone unless
--force. Writes are atomic (temp file, fsync, rename) and keep no half file.
"""

import hashlib
import json
import os
import sys

MANIFEST = "var/lib/lxctools/installed.json"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commands(root=ROOT):
    """{command: "module:function"} for every command lxctools installs: pyproject.toml's
    [project.scripts] (console scripts) and [tool.lxctools.front-door] (the compiled front
    door, or a Python script where it was not built: setup.py)."""
    import tomllib

    with open(os.path.join(root, "pyproject.toml"), "rb") as handle:
        data = tomllib.load(handle)
    return dict(sorted({**data["project"]["scripts"],
                        **data["tool"]["lxctools"]["front-door"]}.items()))


def digest(data):
    return hashlib.sha256(data).hexdigest()


class Installer:
    def __init__(self, root="/", force=False, dry_run=False, out=print):
        self.root = root
        self.force = force
        self.dry_run = dry_run
        self.out = out
        self.path = os.path.join(root, MANIFEST)
        try:
            with open(self.path) as handle:
                self.manifest = json.load(handle)
        except (OSError, ValueError):
            self.manifest = {}
        self.refused = []
        self.actions = {}  # path -> what install() or remove() did there

    def target(self, dest):
        """DEST (relative to the root) as a path on this machine."""
        return os.path.join(self.root, dest.lstrip("/"))

    def install(self, dest, data, mode, replace=True):
        """Write DATA (bytes) at DEST; one line says what happened. REPLACE=False: a file
        that is there stays whoever made it (sample configs)."""
        path = self.target(dest)
        self.actions[path] = action = self._install(path, dest, data, mode, replace)
        return action

    def _install(self, path, dest, data, mode, replace):
        key = "/" + dest.lstrip("/")
        try:
            with open(path, "rb") as handle:
                current = handle.read()
        except FileNotFoundError:
            current = None
        if current is not None:
            if current == data:
                self._note(key, data)
                self.out(f"unchanged  {path}")
                return "unchanged"
            ours = self.manifest.get(key) == digest(current)
            if not replace and not self.force:
                self.out(f"kept       {path} (already there; --force replaces it)")
                return "kept"
            if not ours and not self.force:
                self.refused.append(path)
                self.out(f"refused    {path}: not installed by lxctools (or edited since); "
                         "--force replaces it")
                return "refused"
        if self.dry_run:
            self.out(f"would {'replace' if current is not None else 'install'} {path}")
            return "dry-run"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.lxctools-new"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        self._note(key, data)
        self.out(f"{'replaced' if current is not None else 'installed':<10} {path}")
        return "replaced" if current is not None else "installed"

    def link(self, dest, target):
        """A symlink at DEST to TARGET (a command of an environment off PATH, linked into
        /usr/local/bin). A file or another link there is replaced only if we made it."""
        path = self.target(dest)
        key = "/" + dest.lstrip("/")
        mark = "link:" + target
        try:
            current = os.readlink(path)
        except FileNotFoundError:
            current = None
        except OSError:  # there, and not a link: someone's file
            current = ""
        if current == target:
            self._mark(key, mark)
            self.out(f"unchanged  {path} -> {target}")
            action = "unchanged"
        elif current is not None and self.manifest.get(key) != "link:" + current \
                and not self.force:
            self.refused.append(path)
            self.out(f"refused    {path}: not installed by lxctools; --force replaces it")
            action = "refused"
        elif self.dry_run:
            self.out(f"would link {path} -> {target}")
            action = "dry-run"
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.lxctools-new"
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            os.symlink(target, tmp)
            os.rename(tmp, path)
            self._mark(key, mark)
            action = "replaced" if current is not None else "linked"
            self.out(f"{action:<10} {path} -> {target}")
        self.actions[path] = action
        return action

    def remove(self, dest):
        """Remove DEST if it is what we installed (unless --force)."""
        path = self.target(dest)
        key = "/" + dest.lstrip("/")
        if os.path.islink(path):
            ours, why = self.manifest.get(key) == "link:" + os.readlink(path), ""
        else:
            try:
                with open(path, "rb") as handle:
                    current = handle.read()
            except FileNotFoundError:
                self.manifest.pop(key, None)
                return "absent"
            ours, why = self.manifest.get(key) == digest(current), " (or edited since)"
        if not ours and not self.force:
            self.refused.append(path)
            self.out(f"refused    {path}: not installed by lxctools{why}")
            return "refused"
        if not self.dry_run:
            os.unlink(path)
            self.manifest.pop(key, None)
        self.out(f"removed    {path}")
        return "removed"

    def _note(self, key, data):
        self._mark(key, digest(data))

    def _mark(self, key, value):
        if not self.dry_run:
            self.manifest[key] = value

    def exit_status(self):
        """What the installing tool exits with: 1, saying so, when a file was left alone."""
        if not self.refused:
            return 0
        print(f"{len(self.refused)} file(s) left as they were: --force replaces them",
              file=sys.stderr)
        return 1

    def save(self):
        if self.dry_run:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".new"
        with open(tmp, "w") as handle:
            json.dump(self.manifest, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.rename(tmp, self.path)
