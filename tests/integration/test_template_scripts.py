"""templates/lxc-{busybox,download,local} (issue 22, item 5): LXC's template protocol over our
native templates. Real LXC's lxc-create runs the copies tools/install-templates.py installs
and gets what our own lxc-create -t NAME makes (config, tree); a download through it lands in
the cache real LXC and we share; the installer never replaces a file it did not install."""

import os
import subprocess
import sys

import pytest

from conftest import REPO, real_lxc
from imagekit import add_image, busybox_rootfs, standard_meta, write_index
from lxcenv import SANE_PATH, tree, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.oracle
INSTALL = os.path.join(REPO, "tools", "install-templates.py")


def install(root, *extra):
    return subprocess.run([sys.executable, INSTALL, "--root", root, *extra],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def scripts(world):
    """The installed copies, in a private root: DIR/lxc-lxctools-NAME."""
    root = os.path.join(world.root, "sysroot")
    done = install(root)
    assert done.returncode == 0, done.stderr
    return os.path.join(root, "usr/share/lxc/templates")


def real_create(world, name, template, *args):
    """Real LXC's lxc-create with our default config, our cache dir (never the host's)."""
    env = dict(os.environ, LANG="C", PATH=SANE_PATH, LXC_CACHE_PATH=world.env["LXC_CACHE_PATH"],
               LXC_GLOBAL_CONF=world.lxc_conf)
    return subprocess.run([real_lxc("lxc-create"), "-P", world.real_lp, "-n", name,
                           "-f", world.net_conf, "-t", template, "--", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def body(world, name, real):
    """The config without the header naming the template, lxcpath spelled LXCPATH."""
    text = world.config(name, real).replace(world.real_lp if real else world.lp, "LXCPATH")
    lines = [line for line in text.splitlines() if not line.startswith("# Template used")
             and not line.startswith("# Parameters passed") and not line.startswith("#lxc.include")
             and line.strip()]
    return lines


def test_installed_copies_name_the_python_lxctools_is_installed_in(scripts):
    for name in ("busybox", "download", "local"):
        path = os.path.join(scripts, f"lxc-lxctools-{name}")
        assert os.access(path, os.X_OK)
        with open(path) as handle:
            assert handle.readline() == f"#!{sys.executable}\n"


def test_local_through_real_lxc_is_ours(world, scripts):
    rootfs = busybox_rootfs(world, os.path.join(world.root, "rootfs.tar.xz"))
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"))
    theirs = real_create(world, "ts-l", os.path.join(scripts, "lxc-lxctools-local"),
                         "-m", meta, "-f", rootfs)
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    mine = world.ours("lxc-create", "-n", "ts-l", "-t", "local", "--", "-m", meta, "-f", rootfs)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout == theirs.stdout  # "Unpacking the rootfs", the create message
    assert body(world, "ts-l", True) == body(world, "ts-l", False)
    assert tree(os.path.join(world.cdir("ts-l", True), "rootfs")) == \
        tree(os.path.join(world.cdir("ts-l"), "rootfs"))
    with open(os.path.join(world.cdir("ts-l", True), "rootfs", "etc", "hostname")) as handle:
        assert handle.read() == "ts-l\n"
    # the header is LXC's, naming the script it ran
    assert (f"# Template used to create this container: {scripts}/lxc-lxctools-local"
            in world.config("ts-l", True))


def test_download_through_real_lxc_is_ours_and_shares_the_cache(world, scripts):
    mirror = os.path.join(world.root, "mirror")
    rootfs = busybox_rootfs(world, os.path.join(world.root, "rootfs.tar.xz"))
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"))
    write_index(mirror, [add_image(mirror, rootfs, meta)])
    args = ("--server", "file://" + mirror, "-d", "busybox", "-r", "1.36", "-a", "amd64",
            "--no-validate")
    theirs = real_create(world, "ts-d", os.path.join(scripts, "lxc-lxctools-download"), *args)
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert "Downloading the image index" in theirs.stdout
    mine = world.ours("lxc-create", "-n", "ts-d", "-t", "download", "--", *args)
    assert mine.returncode == 0, mine.stderr
    assert "Using image from local cache" in mine.stdout  # the one real LXC's run filled
    assert body(world, "ts-d", True) == body(world, "ts-d", False)
    assert tree(os.path.join(world.cdir("ts-d", True), "rootfs")) == \
        tree(os.path.join(world.cdir("ts-d"), "rootfs"))


def test_busybox_through_real_lxc_starts_under_real_lxc(world, scripts):
    theirs = real_create(world, "ts-b", os.path.join(scripts, "lxc-lxctools-busybox"))
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    mine = world.ours("lxc-create", "-n", "ts-b", "-t", "busybox")
    assert mine.returncode == 0, mine.stderr
    assert body(world, "ts-b", True) == body(world, "ts-b", False)
    assert world.real("lxc-start", "-n", "ts-b").returncode == 0
    try:
        inside = world.real("lxc-attach", "-n", "ts-b", "--", "hostname")
        assert inside.stdout.strip() == "ts-b", inside.stderr
    finally:
        world.real("lxc-stop", "-n", "ts-b", "-k")


def test_a_template_error_fails_real_lxcs_create_and_leaves_nothing(world, scripts):
    theirs = real_create(world, "ts-e", os.path.join(scripts, "lxc-lxctools-local"),
                         "-m", "/nonexistent-meta", "-f", "/nonexistent-rootfs")
    assert theirs.returncode != 0
    assert "Rootfs file /nonexistent-rootfs does not exist" in theirs.stderr
    assert not os.path.exists(world.cdir("ts-e", True))


def test_the_checkout_scripts_speak_the_protocol_to_our_lxc_create(world):
    """templates/lxc-local as it is in the repository, run by our lxc-create as any
    external template (absolute -t): the same container as -t local."""
    rootfs = busybox_rootfs(world, os.path.join(world.root, "rootfs.tar.xz"))
    meta = standard_meta(world, os.path.join(world.root, "meta.tar.xz"))
    saved = world.env
    world.env = dict(world.env, PATH=os.path.dirname(sys.executable) + ":" + SANE_PATH)
    try:
        script = world.ours("lxc-create", "-n", "ts-c", "-t",
                            os.path.join(REPO, "templates", "lxc-local"), "--", "-m", meta,
                            "-f", rootfs)
    finally:
        world.env = saved
    assert script.returncode == 0, script.stderr
    native = world.ours("lxc-create", "-n", "ts-n", "-t", "local", "--", "-m", meta, "-f", rootfs)
    assert native.returncode == 0, native.stderr
    assert [x.replace("ts-c", "N") for x in body(world, "ts-c", False)] == \
        [x.replace("ts-n", "N") for x in body(world, "ts-n", False)]


def test_installer_leaves_what_it_did_not_install(world):
    root = os.path.join(world.root, "sysroot")
    tdir = os.path.join(root, "usr/share/lxc/templates")
    os.makedirs(tdir)
    debian = os.path.join(tdir, "lxc-download")
    with open(debian, "w") as handle:
        handle.write("#!/bin/sh\n# Debian's\n")
    refused = install(root, "--as-lxc")
    assert refused.returncode == 1
    assert f"refused    {debian}: not installed by lxctools" in refused.stdout
    with open(debian) as handle:
        assert handle.read() == "#!/bin/sh\n# Debian's\n"
    assert os.path.exists(os.path.join(tdir, "lxc-busybox"))  # the others went in
    again = install(root, "--as-lxc")
    assert f"unchanged  {tdir}/lxc-busybox" in again.stdout  # ours: replaced in place
    forced = install(root, "--as-lxc", "--force")
    assert forced.returncode == 0 and f"replaced   {debian}" in forced.stdout
    # an edit of ours is the admin's: kept
    with open(os.path.join(tdir, "lxc-local"), "a") as handle:
        handle.write("# edited\n")
    edited = install(root, "--as-lxc", "--uninstall")
    assert edited.returncode == 1 and os.path.exists(os.path.join(tdir, "lxc-local"))
    assert not os.path.exists(os.path.join(tdir, "lxc-busybox"))
    assert not os.path.exists(debian)  # installed by --force: ours now
