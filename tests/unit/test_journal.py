"""lxctools.journal.link: machine ids, where guest-mode files live, what is refused early."""

import pytest

from lxctools.config.parser import loads
from lxctools.errors import ConfigError
from lxctools.spawn import journal

UUID = "0f4e9d3c-1b2a-4c5d-8e7f-a1b2c3d4e5f6"


def test_machine_id_from_the_guest_else_from_container_uuid(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/machine-id").write_text("D755AEEA6BDD406EA88D34CFD52B6CAD\n")
    assert journal.machine_id(str(tmp_path), {}) == "d755aeea6bdd406ea88d34cfd52b6cad"
    (tmp_path / "etc/machine-id").write_text("uninitialized\n")
    assert journal.machine_id(str(tmp_path), {"container_uuid": UUID}) == UUID.replace("-", "")
    (tmp_path / "etc/machine-id").unlink()
    assert journal.machine_id(str(tmp_path), {}) is None


def test_guest_files_live_in_the_dir_or_the_overlay_upper():
    assert journal.guest_base("dir:/srv/c1/rootfs") == "/srv/c1/rootfs"
    assert journal.guest_base("/srv/c1/rootfs") == "/srv/c1/rootfs"
    assert journal.guest_base("overlay:/lower:/srv/c1/delta") == "/srv/c1/delta"
    assert journal.guest_base("loop:/srv/c1/disk.img") is None


def test_plan_refuses_what_cannot_work_and_defaults_to_nothing():
    conf = loads("lxc.rootfs.path = loop:/x.img\n")
    assert journal.plan(conf, "/x.img", False) is None  # unset: no
    conf.apply("lxctools.journal.link", "guest")
    with pytest.raises(journal.JournalError, match="dir or overlay"):
        journal.plan(conf, "/x.img", False)
    conf.apply("lxctools.journal.link", "host")
    with pytest.raises(journal.JournalError, match="privileged"):
        journal.plan(conf, "/x.img", True)
    conf.apply("lxctools.journal.link", "try-host")
    assert journal.plan(conf, "/x.img", True) is None
    assert journal.plan(conf, "/x.img", False)[0] == "try-host"
    with pytest.raises(ConfigError):
        loads("lxctools.journal.link = sometimes\n")
