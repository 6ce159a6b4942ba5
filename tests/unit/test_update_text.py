"""config.legacy.update_text: lxc-update-config's rewrite, as pure text in, text out."""

from lxctools.config.legacy import update_text
from lxctools.config.parser import loads


def test_keys_renamed_spacing_and_comments_kept():
    text = "# my box\nlxc.utsname=c1\n  lxc.tty   =  2\n#lxc.aa_profile = unconfined\nlxc.tty.max = 3\n"
    assert update_text(text) == ("# my box\nlxc.uts.name=c1\n  lxc.tty.max   =  2\n"
                                 "#lxc.apparmor.profile = unconfined\nlxc.tty.max = 3\n")


def test_network_counter_follows_type_lines():
    text = ("lxc.network.type = veth\nlxc.network.ipv4 = 10.0.0.2/24\n"
            "lxc.network.ipv4.gateway = auto\n# lxc.network.type = veth\nlxc.network.type = empty\n"
            "lxc.network.flags = up\nlxc.network.5.ipv6 = fd00::2/64\n")
    assert update_text(text) == (
        "lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.0.0.2/24\n"
        "lxc.net.0.ipv4.gateway = auto\n# lxc.net.1.type = veth\nlxc.net.2.type = empty\n"
        "lxc.net.2.flags = up\nlxc.net.5.ipv6.address = fd00::2/64\n")


def test_rootfs_prefix_dropped_keys_and_limits():
    text = ("lxc.rootfs = /srv/c1\nlxc.rootfs.backend = btrfs\nlxc.pivotdir = x\n# lxc.kmsg = 0\n"
            "lxc.limit.nofile = 10\nlxc.rootfs.mount = /mnt\n")
    assert update_text(text) == ("lxc.rootfs.path = btrfs:/srv/c1\nlxc.prlimit.nofile = 10\n"
                                 "lxc.rootfs.mount = /mnt\n")
    assert update_text("lxc.rootfs = overlay:/a:/b\n") == "lxc.rootfs.path = overlay:/a:/b\n"


def test_current_files_unchanged_and_result_reads_without_warnings():
    current = "lxc.uts.name = c\nlxc.net.0.type = empty\nlxc.mount.entry = a b none bind 0 0\n"
    assert update_text(current) == current
    old = "lxc.utsname = c\nlxc.network.type = empty\nlxc.id_map = u 0 1000 1\nlxc.haltsignal = SIGPWR\n"
    warnings = []
    conf = loads(update_text(old), warn=lambda *a, **k: warnings.append(a))
    assert warnings == []
    assert conf.get("lxc.uts.name") == "c" and conf.get("lxc.net.0.type") == "empty"
    assert update_text(update_text(old)) == update_text(old)
