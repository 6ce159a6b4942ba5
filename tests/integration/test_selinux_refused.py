"""lxc.selinux.context is refused at lxc-start (issue 17 item 4): lxctools applies no SELinux
context, and a container must not run without the confinement its config names. The error
names the file, line and key and says how to go on; nothing is started or left behind; the
other tools still read such a config (lxc-ls lists it, lxc-destroy removes it)."""

import os

import pytest

from lxcenv import busybox, world  # noqa: F401  (fixture)


@pytest.mark.parametrize("key", ["lxc.selinux.context", "lxc.selinux.context.keyring"])
def test_a_selinux_context_is_refused_with_file_line_and_key(world, key):
    busybox(world, "se-box", "lxc.net.0.type = empty\n")
    config = os.path.join(world.cdir("se-box"), "config")
    with open(config, "a") as handle:
        handle.write(f"{key} = system_u:system_r:lxc_t:s0\n")
    with open(config) as handle:
        line = len(handle.read().splitlines())
    for args in ([], ["-F", "--", "/bin/true"]):
        proc = world.ours("lxc-start", "-n", "se-box", *args)
        assert proc.returncode == 1
        assert (f"{config}:{line}: {key} = system_u:system_r:lxc_t:s0: lxctools does not "
                "apply SELinux contexts") in proc.stderr, proc.stderr
        assert f"remove {key}" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert world.ours("lxc-info", "-n", "se-box", "-sH").stdout == "STOPPED\n"
    assert world.ours("lxc-ls", "-1").stdout.split() == ["se-box"]
    with open(config) as handle:
        kept = [text for text in handle if not text.startswith("lxc.selinux")]
    with open(config, "w") as handle:
        handle.writelines(kept)
    assert world.ours("lxc-start", "-n", "se-box").returncode == 0
    assert world.ours("lxc-stop", "-n", "se-box", "-k").returncode == 0
    assert world.ours("lxc-destroy", "-n", "se-box").returncode == 0
