"""Mount targets through symlinks are refused (issue 19, item 2), as LXC's safe_mount refuses
them (CVE-2015-1335): an lxc.mount.entry or lxc.mount.fstab target any component of which is
a symlink in the rootfs, and a rootfs whose /proc is a symlink, make lxc-start fail with an
error naming the path -- on ours and on real LXC, side by side. Ours also makes nothing
through the link with create=dir|file (LXC's mkdir_p follows it before refusing the mount:
not compared, our side asserts it). LXC's own lxc-test-symlink runs against ours in
test_lxc_shell_tests.py."""

import os

import pytest

from lxcenv import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.root


def make(world, name, real, extra):
    tool = world.real if real else world.ours
    proc = tool("lxc-create", "-n", name, "-t", "busybox")
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(world.cdir(name, real), "config"), "a") as handle:
        handle.write(extra)
    return os.path.join(world.cdir(name, real), "rootfs")


def start(world, name, real):
    """(exit status, stderr) of a daemon start, the container stopped again."""
    tool = world.real if real else world.ours
    proc = tool("lxc-start", "-n", name)
    running = False
    if proc.returncode == 0:
        running = tool("lxc-wait", "-n", name, "-s", "RUNNING", "-t", "10").returncode == 0
    tool("lxc-stop", "-n", name, "-k")
    return (0 if proc.returncode == 0 and running else 1), proc.stderr


def share(tmp_path):
    src = tmp_path / "share"
    src.mkdir(exist_ok=True)
    (src / "shared").write_text("from the host\n")
    (tmp_path / "share-file").write_text("file from the host\n")
    return src


CASES = {
    # a directory on the way is a link (inside the rootfs: LXC still refuses it)
    "dir-component": ("{src} opt/xxx/dir none bind,create=dir 0 0",
                      lambda r: (os.makedirs(f"{r}/opt/xxx2"), os.symlink("xxx2", f"{r}/opt/xxx")),
                      "/opt/xxx"),
    # the last component is a link to a file (lxc-test-symlink's "final symlink")
    "final-file": ("{src}-file opt/xxx/file2 none bind 0 0",
                   lambda r: (os.makedirs(f"{r}/opt/xxx"), open(f"{r}/opt/xxx/src", "w").close(),
                              os.symlink("src", f"{r}/opt/xxx/file2")),
                   "/opt/xxx/file2"),
    # create=file through a linked parent
    "create-file": ("{src}-file opt/xxx/file none bind,create=file 0 0",
                    lambda r: (os.makedirs(f"{r}/opt/xxx2"), os.symlink("xxx2", f"{r}/opt/xxx")),
                    "/opt/xxx"),
    # a kernel file system, not a bind
    "tmpfs": ("tmpfs opt/xxx/t tmpfs create=dir 0 0",
              lambda r: (os.makedirs(f"{r}/opt/xxx2"), os.symlink("xxx2", f"{r}/opt/xxx")),
              "/opt/xxx"),
    # /proc itself a link (lxc.mount.auto proc:mixed of common.conf)
    "proc": ("",
             lambda r: (os.rename(f"{r}/proc", f"{r}/proc1"), os.symlink("proc1", f"{r}/proc")),
             "/proc"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_target_through_a_symlink_is_refused_as_by_lxc(world, tmp_path, case):
    line, plant, named = CASES[case]
    src = share(tmp_path)
    extra = f"lxc.mount.entry = {line.format(src=src)}\n" if line else ""
    outcome = {}
    for real in (True, False):
        rootfs = make(world, f"sym-{case}"[:30], real, extra)
        plant(rootfs)
        before = sorted(os.listdir(f"{rootfs}/opt/xxx2")) if os.path.isdir(
            f"{rootfs}/opt/xxx2") else None
        outcome[real] = start(world, f"sym-{case}"[:30], real)
        if not real and before is not None:
            # nothing was made through the link (LXC's mkdir_p makes xxx2/dir first)
            assert sorted(os.listdir(f"{rootfs}/opt/xxx2")) == before
    assert outcome[True][0] == 1, f"real LXC started it: {outcome[True][1]}"
    status, stderr = outcome[False]
    assert status == 1, "ours started a container whose mount target is a symlink"
    assert f"{named} in the rootfs is" in stderr, stderr
    assert "Traceback" not in stderr


def test_fstab_line_through_a_symlink_is_refused(world, tmp_path):
    src = share(tmp_path)
    fstab = tmp_path / "fstab"
    fstab.write_text(f"{src} opt/xxx/dir none bind,create=dir 0 0\n")
    outcome = {}
    for real in (True, False):
        rootfs = make(world, "sym-fstab", real, f"lxc.mount.fstab = {fstab}\n")
        os.makedirs(f"{rootfs}/opt/xxx2")
        os.symlink("xxx2", f"{rootfs}/opt/xxx")
        outcome[real] = start(world, "sym-fstab", real)
    assert outcome[True][0] == 1
    assert outcome[False][0] == 1
    assert "lxc.mount.fstab: target opt/xxx/dir: /opt/xxx in the rootfs is a symlink (to xxx2)" in \
        outcome[False][1], outcome[False][1]


def test_a_link_to_the_host_is_refused_and_the_host_untouched(world, tmp_path):
    """The attack: a rootfs link to a host directory on the way to a create=dir target.
    Main made the directories inside the rootfs (RESOLVE_IN_ROOT); now nothing is made and
    the start fails naming the link. (Not run on real LXC: its mkdir_p would create the
    directory on the host before refusing the mount.)"""
    host = tmp_path / "host-target"
    host.mkdir()
    src = share(tmp_path)
    for text in (str(host), "../" * 20 + str(host).lstrip("/")):
        rootfs = make(world, "sym-host", False,
                      f"lxc.mount.entry = {src} evil/deep/x none bind,create=dir 0 0\n")
        os.symlink(text, f"{rootfs}/evil")
        status, stderr = start(world, "sym-host", False)
        assert status == 1
        assert f"/evil in the rootfs is a symlink (to {text})" in stderr, stderr
        assert os.listdir(host) == []
        assert not os.path.exists(f"{rootfs}{host}")  # nor inside the rootfs
        assert world.ours("lxc-destroy", "-n", "sym-host").returncode == 0


def test_optional_entry_through_a_symlink_is_skipped_as_by_lxc(world, tmp_path):
    src = share(tmp_path)
    outcome = {}
    for real in (True, False):
        rootfs = make(world, "sym-opt", real,
                      f"lxc.mount.entry = {src} opt/xxx/dir none bind,create=dir,optional 0 0\n")
        os.makedirs(f"{rootfs}/opt/xxx2/dir")
        os.symlink("xxx2", f"{rootfs}/opt/xxx")
        tool = world.real if real else world.ours
        assert tool("lxc-start", "-n", "sym-opt").returncode == 0
        try:
            attach = tool("lxc-attach", "-n", "sym-opt", "--", "ls", "/opt/xxx/dir")
            outcome[real] = (attach.returncode, attach.stdout)
        finally:
            tool("lxc-stop", "-n", "sym-opt", "-k")
    assert outcome[False] == outcome[True] == (0, "")


def test_absolute_target_under_the_rootfs_path_as_lxc(world, tmp_path):
    """An absolute target that starts with the rootfs's host path is the rest of it (LXC's
    mount_entry_on_absolute_rootfs): mounted at /mnt/pre in the container on both sides,
    not at /HOSTPATH/mnt/pre."""
    src = share(tmp_path)
    seen = {}
    for real in (True, False):
        rootfs = os.path.join(world.cdir("sym-abs", real), "rootfs")
        make(world, "sym-abs", real,
             f"lxc.mount.entry = {src} {rootfs}/mnt/pre none bind,create=dir 0 0\n")
        tool = world.real if real else world.ours
        assert tool("lxc-start", "-n", "sym-abs").returncode == 0
        try:
            seen[real] = tool("lxc-attach", "-n", "sym-abs", "--", "cat",
                              "/mnt/pre/shared").stdout
        finally:
            tool("lxc-stop", "-n", "sym-abs", "-k")
        assert not os.path.exists(f"{rootfs}{rootfs}")
    assert seen[False] == seen[True] == "from the host\n"


def test_relative_source_is_taken_in_the_rootfs_without_links(world, tmp_path):
    """`relative`: the source is a path in the rootfs (LXC: ROOTFS/SOURCE). Ours opens it by
    fd with links refused: a link there to a host directory is refused, not bound."""
    host = tmp_path / "host-secret"
    host.mkdir()
    (host / "secret").write_text("host secret\n")
    rootfs = make(world, "sym-rel", False,
                  "lxc.mount.entry = srv/data mnt/data none bind,create=dir,relative 0 0\n")
    os.makedirs(f"{rootfs}/srv/data")
    with open(f"{rootfs}/srv/data/mine", "w") as handle:
        handle.write("the container's own\n")
    assert world.ours("lxc-start", "-n", "sym-rel").returncode == 0
    try:
        seen = world.ours("lxc-attach", "-n", "sym-rel", "--", "cat", "/mnt/data/mine")
        assert seen.stdout == "the container's own\n", seen.stderr
    finally:
        world.ours("lxc-stop", "-n", "sym-rel", "-k")
    os.rename(f"{rootfs}/srv/data", f"{rootfs}/srv/data.old")
    os.symlink(str(host), f"{rootfs}/srv/data")
    status, stderr = start(world, "sym-rel", False)
    assert status == 1
    assert "/srv/data in the rootfs is a symlink" in stderr, stderr
