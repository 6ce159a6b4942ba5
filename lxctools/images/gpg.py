"""GPG verification of image-server files (the `.asc` signatures LXC's template checked
before 5.0), in a throw-away GNUPGHOME holding only the trusted key.

The key comes from --keyring FILE when given, else from the caller's own keyring (GNUPGHOME
or ~/.gnupg), else from the keyserver (`gpg --recv-keys`, three tries, as LXC did). A file
passes only with a good signature made by that key (VALIDSIG's fingerprint must end with
the key id).
"""

import os
import shutil
import subprocess

from ..errors import LxcError

DEFAULT_KEYID = "0xE7FB0CAEC8173D669066514CBAEFF88C22F6E216"
DEFAULT_KEYSERVER = "hkp://keyserver.ubuntu.com"


def _norm(keyid):
    keyid = keyid.strip().upper()
    return keyid[2:] if keyid.startswith("0X") else keyid


class Verifier:
    def __init__(self, keyid, home):
        self.keyid = _norm(keyid)
        self.home = home
        self.gpg = shutil.which("gpg") or shutil.which("gpg2")
        if self.gpg is None:
            raise LxcError("ERROR: Missing required tool: gpg",
                           hint="apt-get install gpg, or pass --no-validate")

    def _run(self, *args, home=None, check=False, input=None):
        env = dict(os.environ, GNUPGHOME=home or self.home, LC_ALL="C")
        return subprocess.run([self.gpg, "--batch", "--no-tty", "--quiet", *args], env=env,
                              capture_output=True, input=input, check=check)

    def close(self):
        """Stop the agents gpg started for our GNUPGHOME (dirmngr after --recv-keys)."""
        if os.path.isdir(self.home):
            gpgconf = shutil.which("gpgconf")
            if gpgconf:
                subprocess.run([gpgconf, "--homedir", self.home, "--kill", "all"],
                               capture_output=True, check=False)

    def has_key(self):
        return self._run("--list-keys", self.keyid).returncode == 0

    def obtain(self, keyring=None, keyserver=None, say=print):
        """Put the key into our GNUPGHOME; raise LxcError when it cannot be had."""
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        if keyring:
            imported = self._run("--import", keyring)
            if imported.returncode != 0 or not self.has_key():
                raise LxcError(f"ERROR: key {self.keyid} is not in {keyring}",
                               hint=imported.stderr.decode(errors="replace").strip() or None)
            return
        own_home = os.environ.get("GNUPGHOME") or os.path.join(os.path.expanduser("~"), ".gnupg")
        if os.path.isdir(own_home):
            exported = self._run("--export", self.keyid, home=own_home)
            if exported.returncode == 0 and exported.stdout:
                self._run("--import", input=exported.stdout)
                if self.has_key():
                    return
        server = keyserver or DEFAULT_KEYSERVER
        say("Retrieving the GPG key")
        for _ in range(3):
            fetched = self._run("--keyserver", server, "--recv-keys", self.keyid)
            if fetched.returncode == 0 and self.has_key():
                return
        raise LxcError("ERROR: Unable to fetch GPG key from keyserver",
                       hint=f"key {self.keyid} from {server}: "
                            + (fetched.stderr.decode(errors="replace").strip().splitlines()
                               or ["no answer"])[-1]
                            + "; --keyring FILE uses a local copy of the key")

    def verify(self, path, signature, what):
        result = self._run("--status-fd", "1", "--verify", signature, path)
        status = result.stdout.decode(errors="replace").splitlines()
        valid = [line.split()[2] for line in status if line.startswith("[GNUPG:] VALIDSIG ")]
        if result.returncode == 0 and any(fpr.upper().endswith(self.keyid) for fpr in valid):
            return
        reason = "bad signature" if any(" BADSIG " in line for line in status) else (
            "no signature by the key" if result.returncode == 0 else
            (result.stderr.decode(errors="replace").strip().splitlines() or ["gpg failed"])[-1])
        raise LxcError(f"ERROR: Invalid signature for {what}",
                       hint=f"{reason} (key {self.keyid}); nothing was kept")
