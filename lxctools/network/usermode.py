"""lxctools.net.usermode = slirp4netns: a user-space network stack (Debian's slirp4netns) gives
the container tap0 10.0.2.100/24, the gateway 10.0.2.2 (the host's loopback) and DNS at
10.0.2.3, without a bridge and without privileges.

slirp4netns joins the container's network namespace (and, for a non-root caller, its user
namespace first: that is where the caller holds CAP_NET_ADMIN), opens /dev/net/tun and makes
the tap device there. It opens /dev/net/tun with the caller's host uid: hosts without udev
leave the node at the kernel's 0600 root:root, which only root passes (an unprivileged
container started by root works, the same container started by its user does not). check()
finds that before anything is cloned.
"""

import os

from ..errors import LxcError

TUN = "/dev/net/tun"
KEY = "lxctools.net.usermode"


class UsermodeError(LxcError):
    """The user-mode network cannot come up."""


def check(own_netns, tun=TUN):
    """Before the clone: slirp4netns is installed, the container gets a network namespace of
    its own, and TUN is open to the caller. Returns slirp4netns's path."""
    import shutil

    if not own_netns:
        raise UsermodeError(f"{KEY} needs the container's own network namespace", key=KEY,
                            hint="drop lxc.net.N.type = none / lxc.namespace.keep = net")
    binary = shutil.which("slirp4netns", path="/usr/local/bin:/usr/bin:/bin")
    if binary is None:
        raise UsermodeError(f"{KEY} = slirp4netns: slirp4netns is not installed", key=KEY,
                            hint="apt-get install slirp4netns")
    if os.geteuid() != 0 and not os.access(tun, os.R_OK | os.W_OK):
        raise UsermodeError(f"{KEY} = slirp4netns: {tun} is {_describe(tun)}, not open to "
                            f"{_user_name()}: slirp4netns makes the container's tap device "
                            "through it with your uid", key=KEY,
                            hint=f"as root: chmod 0666 {tun} (what udev's default rule "
                                 'KERNEL=="tun", MODE="0666" does at boot; a host without '
                                 "udev needs it in a boot script)")
    return binary


def _describe(path):
    import grp
    import pwd
    import stat

    try:
        st = os.stat(path)
    except OSError as exc:
        return f"missing ({exc.strerror})"
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"mode {stat.S_IMODE(st.st_mode):04o} {owner}:{group}"


def _user_name():
    import pwd
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def start(binary, init_pid, user_namespace, timeout=10):
    """Run slirp4netns on INIT_PID's network namespace; returns the fd whose closing ends it
    (its --exit-fd). Its own words are in the error when it does not come up."""
    import subprocess
    import tempfile

    from ..kernel.fdlimit import readable

    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe2(os.O_CLOEXEC)
    args = [binary, "--configure", "--mtu=65520", f"--ready-fd={ready_w}",
            f"--exit-fd={exit_r}"]
    # a non-root caller holds CAP_NET_ADMIN over the container's network namespace only from
    # inside its user namespace
    if user_namespace:
        args.append(f"--userns-path=/proc/{init_pid}/ns/user")
    args += [str(init_pid), "tap0"]
    # an unlinked file, not a pipe: slirp4netns may write after we stopped reading
    output = tempfile.TemporaryFile()
    try:
        subprocess.Popen(args, pass_fds=(ready_w, exit_r), stdin=subprocess.DEVNULL,
                         stdout=output, stderr=output, start_new_session=True)
    finally:
        os.close(ready_w)
        os.close(exit_r)
    try:
        ready = bool(readable([ready_r], timeout))
        ok = ready and os.read(ready_r, 1) == b"1"
    finally:
        os.close(ready_r)
    if not ok:
        os.close(exit_w)
        output.seek(0)
        said = [line for line in output.read().decode(errors="replace").splitlines()
                if line.strip()]
        output.close()
        reason = f": {'; '.join(said[-3:])}" if said else (
            "" if ready else f" within {timeout} s")
        raise UsermodeError(f"slirp4netns did not bring the container's network up{reason}",
                            key=KEY, hint="against a running container: slirp4netns --configure "
                                          "[--userns-path=/proc/PID/ns/user] PID tap0")
    output.close()
    return exit_w
