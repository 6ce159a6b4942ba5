"""Pure parts of create/destroy/ls/info: lxc-ls layouts, column parsing, the quick config scan
(checked against the config engine), template resolution, backing store choice, the partial
marker's lock semantics, safe removal in a tmp dir, lxc-info's forms."""

import os
import subprocess
import sys

import pytest

from lxctools.api.listing import Entry, engine_keys, quick_keys
from lxctools.cli.info import human_size
from lxctools.config.model import ends_with_newline
from lxctools.cli.ls import format_fancy, format_names, parse_columns
from lxctools.errors import LxcError
from lxctools.api import partial
from lxctools.templates import runner
from lxctools.storage import backends
from lxctools.storage.remove import RemoveBlocked, remove_tree


def entry(name, **kw):
    e = Entry(name)
    for k, v in kw.items():
        setattr(e, k, v)
    return e


def test_fancy_pads_each_column_to_header_or_longest_plus_one_space():
    rows = [entry("crt-a", state="STOPPED", autostart="1", groups=["web", "db"], unprivileged=True),
            entry("crt-longername-x", state="STOPPED", autostart="0")]
    out = format_fancy(rows, ["NAME", "STATE", "AUTOSTART", "GROUPS", "IPV4", "IPV6", "UNPRIVILEGED"])
    assert out == (
        "NAME             STATE   AUTOSTART GROUPS  IPV4 IPV6 UNPRIVILEGED \n"
        "crt-a            STOPPED 1         web, db -    -    true         \n"
        "crt-longername-x STOPPED 0         -       -    -    false        \n")


def test_fancy_running_values():
    rows = [entry("c", state="RUNNING", pid=42, ram=3 * 1048576 + 524288, ipv4=["10.0.0.2", "10.0.0.3"])]
    out = format_fancy(rows, ["NAME", "PID", "RAM", "SWAP", "IPV4"])
    assert out.splitlines()[1] == "c    42  3.50MB -      10.0.0.2, 10.0.0.3 "


def test_names_wrap_like_lxc():
    names = ["crt-a", "crt-b1", "crt-c", "crt-longername-x", "crt-n1"]
    assert format_names(names, 60, False) == (
        "crt-a            crt-b1           crt-c           \n"
        "crt-longername-x crt-n1           \n")
    # not a terminal: width 0, one padded name per line (LXC does exactly this)
    assert format_names(names, 0, False).splitlines()[0] == "crt-a           "
    assert format_names(names, 60, True) == "".join(n + "\n" for n in names)
    assert format_names([], 80, False) == ""


def test_columns_are_case_insensitive_and_unknown_reported():
    assert parse_columns("name,State,pid") == (["NAME", "STATE", "PID"], [])
    assert parse_columns("NAME,BAD") == (["NAME"], ["BAD"])


@pytest.mark.parametrize("text", [
    "lxc.start.auto = 1\nlxc.group = web\nlxc.group = db onboot\n",
    "  lxc.group=web\nlxc.group =\nlxc.group = x\nlxc.idmap = u 0 100000 65536\n",
    "# lxc.start.auto = 1\nlxc.start.auto = 0\nlxc.uts.name = \"q\"\n",
    "lxc.idmap = u 0 1 2\nlxc.idmap = g 0 1 2\nlxc.idmap =\n",
])
def test_quick_scan_agrees_with_the_engine(tmp_path, text):
    path = tmp_path / "config"
    path.write_text(text)
    assert quick_keys(str(path)) == engine_keys(str(path))


def test_quick_scan_defers_includes_and_legacy_keys_to_the_engine(tmp_path):
    inc = tmp_path / "inc.conf"
    inc.write_text("lxc.group = fromfile\n")
    path = tmp_path / "config"
    path.write_text(f"lxc.include = {inc}\n")
    assert quick_keys(str(path)) is None
    assert engine_keys(str(path))["lxc.group"] == ["fromfile"]
    path.write_text("lxc.id_map = u 0 100000 65536\n")
    assert quick_keys(str(path)) is None


@pytest.mark.parametrize("value,kind", [("n", "none"), ("no", "none"), ("none", "none"),
                                        ("busybox", "native")])
def test_resolve(value, kind):
    assert runner.resolve(value).kind == kind


def test_resolve_refusals():
    with pytest.raises(LxcError, match="A template must be specified"):
        runner.resolve(None)
    with pytest.raises(LxcError, match='did you mean "busybox"'):
        runner.resolve("busybx")
    with pytest.raises(LxcError, match="not found"):
        runner.resolve("/nonexistent/lxc-x")
    with pytest.raises(LxcError, match="not found"):
        runner.resolve("../x")


def test_local_and_download_dispatch_to_native_modules_when_present():
    import importlib.util
    for name in ("local", "download"):
        if importlib.util.find_spec(f"lxctools.templates.{name}") is None:
            continue  # not landed yet: the runner then looks for lxc-NAME scripts
        assert runner.resolve(name).kind == "native"


def test_header_lists_parameters():
    tpl = runner.Template("external", "x", path="/t/lxc-x")
    lines = runner.header(tpl, ["-d", "debian"])
    assert lines[0] == "# Template used to create this container: /t/lxc-x"
    assert lines[1] == "# Parameters passed to the template: -d debian"
    assert runner.header(tpl, [])[1] == "# Parameters passed to the template:"


def test_backing_store_choice():
    def no(path):
        return False

    def yes(path):
        return True

    assert backends.choose(None) == backends.choose("none") == backends.choose("dir") == "dir"
    assert backends.choose("best", "/l", on_btrfs=no) == "dir"
    assert backends.choose("lvm,dir", "/l", on_btrfs=no) == "dir"
    # LXC's best order: btrfs first (when the lxcpath is on btrfs), then zfs, lvm, dir.
    assert backends.choose("best", "/l", on_btrfs=yes) == "btrfs"
    assert backends.choose("btrfs", "/l", on_btrfs=yes) == "btrfs"
    assert backends.choose("btrfs,dir", "/l", on_btrfs=no) == "dir"
    assert backends.choose("zfs,btrfs", "/l", on_btrfs=yes) == "btrfs"
    with pytest.raises(LxcError, match="storage type zfs is not supported"):
        backends.choose("zfs", on_btrfs=yes)
    with pytest.raises(LxcError, match="none of the storage types lvm,zfs"):
        backends.choose("lvm,zfs", on_btrfs=yes)
    with pytest.raises(LxcError, match="invalid backing store type"):
        backends.choose("floppy")


def test_btrfs_refusal_names_the_filesystem(tmp_path):
    with pytest.raises(LxcError) as caught:
        backends.choose("btrfs", str(tmp_path / "not" / "yet"))
    assert "btrfs backing store needs a btrfs filesystem" in caught.value.message
    assert f"{tmp_path} is on " in caught.value.message
    assert not (tmp_path / "not").exists()


def test_btrfs_ioctl_numbers():
    from lxctools.kernel import btrfs
    # <linux/btrfs.h>, as computed by the kernel's _IOW/_IOR for these structures.
    assert btrfs.BTRFS_IOC_SUBVOL_CREATE == 0x5000940E
    assert btrfs.BTRFS_IOC_SNAP_DESTROY == 0x5000940F
    assert btrfs.BTRFS_IOC_SNAP_CREATE_V2 == 0x50009417
    assert btrfs.BTRFS_IOC_FS_INFO == 0x8400941F


def test_mount_of_picks_the_innermost_mount(tmp_path):
    from lxctools.kernel.mountinfo import mount_of
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text(
        "1 0 8:1 / / rw - ext4 /dev/vda rw\n"
        "2 1 0:40 / /srv/b rw shared:1 - btrfs /dev/loop3 rw\n"
        "3 2 0:41 / /srv/b\\040x rw - tmpfs tmpfs rw\n")
    assert mount_of("/srv/b/lp/c", str(tmp_path)) == ("/srv/b", "btrfs", "/dev/loop3")
    assert mount_of("/srv/bc", str(tmp_path)) == ("/", "ext4", "/dev/vda")
    assert mount_of("/srv/b x/y", str(tmp_path)) == ("/srv/b x", "tmpfs", "tmpfs")


def test_partial_marker_lock_follows_its_holder(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    assert partial.check(str(d)) is None
    # A holder in another process: ongoing while it lives, stale once it is killed.
    code = ("import sys, time; from lxctools.api.partial import Marker; "
            f"m = Marker({str(d)!r}); print('ready', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert partial.check(str(d)) == partial.ONGOING
        assert partial.remove_if_stale(str(d), remove_tree) == partial.ONGOING
    finally:
        child.kill()
        child.wait()
    assert partial.check(str(d)) == partial.STALE
    assert partial.remove_if_stale(str(d), remove_tree) == partial.REMOVED
    assert not d.exists()


def test_a_half_made_container_goes_though_its_dead_creators_writer_lingers(tmp_path):
    """lxc-snapshot/lxc-copy killed mid-copy: rsync's receiver (a fork of the rsync the tool
    ran, beyond PR_SET_PDEATHSIG's reach) writes on for up to a second. The next lookup must
    still remove the half-made container, not leave it with its marker gone half-way (CI saw
    `lxc-snapshot -L` answer "No snapshots" over a snap0 that stayed)."""
    d = tmp_path / "c"
    (d / "rootfs").mkdir(parents=True)
    # the creator holds the marker and starts a writer that outlives it by ~0.8 s
    code = ("import os, sys, time; from lxctools.api.partial import Marker; "
            f"m = Marker({str(d)!r}); root = {str(d / 'rootfs')!r}\n"
            "if os.fork() == 0:\n"
            "    os.close(m.fd); print('ready', flush=True); end = time.monotonic() + 1.5\n"
            "    i = 0\n"
            "    while time.monotonic() < end:\n"
            "        try:\n"
            "            if not os.path.isdir(f'{root}/d{i % 7}'):\n"
            "                os.mkdir(f'{root}/d{i % 7}')\n"
            "            open(f'{root}/d{i % 7}/f{i}', 'w').close()\n"
            "        except OSError:\n"
            "            pass\n"
            "        i += 1\n"
            "    os._exit(0)\n"
            "time.sleep(60)\n")
    creator = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert creator.stdout.readline().strip() == "ready"
    creator.kill()
    creator.wait()
    import time
    time.sleep(0.2)  # the writer is busy in the tree now
    assert partial.remove_if_stale(str(d), remove_tree) == partial.REMOVED
    assert not d.exists()
    time.sleep(1.5)  # the writer's end: it made nothing again (mkdir has no parent now)
    assert not d.exists()


def test_marker_finish_removes_it(tmp_path):
    m = partial.Marker(str(tmp_path))
    assert os.listdir(tmp_path) == ["partial"]
    m.finish()
    assert os.listdir(tmp_path) == []


def test_remove_tree_unlinks_symlinks_without_following(tmp_path):
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    c = tmp_path / "c"
    (c / "rootfs" / "deep" / "er").mkdir(parents=True)
    (c / "rootfs" / "deep" / "er" / "f").write_text("x")
    (c / "rootfs" / "link").symlink_to(outside)
    (c / "rootfs" / "locked").mkdir()
    (c / "rootfs" / "locked" / "g").write_text("y")
    os.chmod(c / "rootfs" / "locked", 0)
    (c / "rootfsln").symlink_to(outside)
    planned = remove_tree(str(c), dry_run=True)
    assert str(c / "rootfs" / "deep" / "er" / "f") in planned and c.exists()
    assert remove_tree(str(c)) == planned
    assert not c.exists()
    assert (outside / "precious").read_text() == "keep me"


def test_remove_tree_refuses_relative_paths():
    with pytest.raises(LxcError, match="relative"):
        remove_tree("some/dir")


def test_remove_tree_refuses_mount_points_before_removing_anything(tmp_path, monkeypatch):
    c = tmp_path / "c"
    (c / "rootfs" / "mnt").mkdir(parents=True)
    (c / "config").write_text("")
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    target = os.path.realpath(c / "rootfs" / "mnt")
    (proc / "self" / "mountinfo").write_text(
        f"99 1 8:1 /host {target.replace(' ', chr(92) + '040')} rw - ext4 /dev/sda1 rw\n")
    with pytest.raises(RemoveBlocked, match="is a mount point"):
        remove_tree(str(c), proc=str(proc))
    assert (c / "config").exists()


def test_info_forms():
    assert human_size(512) == "512 bytes"
    assert human_size(1536) == "1.50 KiB"
    assert human_size(3 * 1024 ** 3) == "3.00 GiB"
    assert ends_with_newline("lxc.mount.entry") and ends_with_newline("lxc.hook.pre-start")
    assert ends_with_newline("lxc.cgroup2.memory.max")
    assert not ends_with_newline("lxc.idmap") and not ends_with_newline("lxc.sysctl.net.x")


def test_loop_fssize_as_lxc_reads_it():
    from lxctools.storage.loop import DEFAULT_SIZE, parse_size
    assert parse_size(None) == DEFAULT_SIZE == 1 << 30
    assert parse_size("300") == 300 << 20           # no unit: MiB
    assert parse_size("2G") == parse_size("2g") == 2 << 30
    assert parse_size("512k") == 512 << 10
    assert parse_size("4096B") == 4096
    assert parse_size("1t") == 1 << 40
    assert parse_size("0x10M") == 16 << 20          # strtoull base 0, as LXC
    for bad in ("", "G", "1.5G", "12Q", "0", "-1"):
        with pytest.raises(LxcError):
            parse_size(bad)


def test_loop_ioctl_structures():
    from lxctools.kernel import loop
    # <linux/loop.h>: struct loop_info64 is 232 bytes, struct loop_config 304.
    assert loop._INFO64.size == 232
    assert len(loop._config(3, loop.LO_FLAGS_AUTOCLEAR, "/x")) == 304
    info = loop._info64("/img", loop.LO_FLAGS_AUTOCLEAR)
    assert int.from_bytes(info[loop._FLAGS_OFFSET:loop._FLAGS_OFFSET + 4], "little") == 4
    assert info[56:60] == b"/img"


def test_loop_choice():
    assert backends.choose("loop", "/l", on_btrfs=lambda p: False) == "loop"
    assert backends.choose("lvm,loop", "/l", on_btrfs=lambda p: False) == "loop"


def test_sparse_image_copy(tmp_path):
    from lxctools.storage.loop import copy_image
    src = tmp_path / "img"
    with open(src, "wb") as handle:
        handle.truncate(64 << 20)
        handle.seek(1 << 20)
        handle.write(b"a" * 4096)
        handle.seek(40 << 20)
        handle.write(b"b" * 10000)
    copy_image(str(src), str(tmp_path / "copy"))
    copy = tmp_path / "copy"
    assert copy.read_bytes() == src.read_bytes()
    assert os.stat(copy).st_blocks * 512 < (1 << 20)
    assert oct(os.stat(copy).st_mode & 0o777) == "0o600"
