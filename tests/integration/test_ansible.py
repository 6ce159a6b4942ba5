"""Ansible on lxctools: community.general.lxc_container (create, start, container_command,
freeze, clone, stop, destroy) and the community.general.lxc connection plugin (command, copy,
fetch), both through the drop-in `import lxc` (compat/python-lxc). The playbook checks each
step with our own lxc-info / lxc-attach / lxc-ls; this test checks the recap and the end
state again."""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, SCRIPTS, require_root
from lxcenv import SANE_PATH

PLAYBOOK = os.path.join(REPO, "tests", "integration", "ansible", "lxc_container.yml")
DROPIN = os.path.join(REPO, "compat", "python-lxc")
# The guest gets the host's bash and python binaries; their libraries and stdlib come from
# the busybox template's read-only binds of /lib and /usr/lib.
GUEST_PYTHON = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def ansible_world(tmp_path):
    require_root()
    playbook = os.path.join(SCRIPTS, "ansible-playbook")
    probe = subprocess.run([sys.executable, "-c",
                            "import ansible_collections.community.general"], capture_output=True)
    if not os.path.exists(playbook) or probe.returncode:
        pytest.skip("Ansible is not installed in this interpreter "
                    "(pip install ansible: it bundles community.general)")
    if not os.path.exists(GUEST_PYTHON):
        pytest.skip(f"{GUEST_PYTHON} (the host's Debian python, copied into the guest for the "
                    "connection play's modules) is missing")
    lp = tmp_path / "lxc"
    lp.mkdir()
    (tmp_path / "net.conf").write_text("lxc.net.0.type = empty\n")
    # lxc.lxcpath too: lxc_container and the connection plugin open lxc.Container(name)
    # without a config_path, so the default lxcpath must be the private one.
    (tmp_path / "lxc.conf").write_text(f"lxc.lxcpath = {lp}\n"
                                       f"lxc.default_config = {tmp_path / 'net.conf'}\n")
    env = dict(os.environ, LXC_GLOBAL_CONF=str(tmp_path / "lxc.conf"), PYTHONPATH=DROPIN,
               LXCTOOLS_LXC="lxctools", PATH=f"{SCRIPTS}:{SANE_PATH}", ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=str(tmp_path / "ansible-remote-tmp"))
    yield playbook, str(lp), env, tmp_path
    for name in os.listdir(lp):
        subprocess.run([os.path.join(SCRIPTS, "lxc-stop"), "-P", str(lp), "-n", name, "-k"],
                       capture_output=True, env=env)


def test_playbook_through_lxctools(ansible_world):
    playbook, lp, env, tmp = ansible_world
    inventory = tmp / "inventory.ini"
    inventory.write_text(
        "[local]\n"
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        "[guest]\n"
        f"api-ans ansible_connection=community.general.lxc "
        f"ansible_python_interpreter=/usr/bin/python3\n")
    fetched = tmp / "fetched"
    proc = subprocess.run(
        [playbook, "-i", str(inventory), PLAYBOOK, "-e", f"lxcpath={lp}", "-e", "cname=api-ans",
         "-e", "bash=/bin/bash", "-e", f"python={GUEST_PYTHON}", "-e", f"fetched={fetched}"],
        capture_output=True, text=True, env=env, timeout=400, cwd=str(tmp))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    recap = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=(\d+)",
                            proc.stdout, re.M))
    assert recap == {"localhost": "0", "api-ans": "0"}, proc.stdout[-3000:]
    for step in ("create (busybox)", "run a command inside", "restart with a config item",
                 "freeze", "clone", "destroy",
                 "copy", "fetch", "check it is frozen", "check they are gone"):
        assert f"TASK [{step}" in proc.stdout
    assert fetched.read_text() == "ran in api-ans as 0\n"
    listed = subprocess.run([os.path.join(SCRIPTS, "lxc-ls"), "-P", lp, "-1"],
                            capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and listed.stdout == ""
