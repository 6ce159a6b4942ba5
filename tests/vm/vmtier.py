"""pytest plugin for the VM tier (`-p vmtier`, tests/vm/tier.py loads it inside the VM).

- A test skipped in the VM is a failure: the VM is where a test goes because the host cannot
  run it; skipping there too would hide that it never ran anywhere.
- Reboots: the harness runs pytest again after a reboot a test asked for (`request_reboot()`),
  with LXCTOOLS_VM_BOOT one higher. Tests marked `after_reboot` run only then (what survives
  a reboot: containers started at boot, a clean shutdown), every other test only in the
  first boot; `after_reboot(boot=3)` runs in the third boot, after a second-boot test asked
  for another reboot (tier.py's BOOTS allows three). State between the boots: files on the
  VM's disk (the snapshot lives on through the reboot; /run and /tmp do not).
"""

import os

import pytest

CTL = "/run/lxctools-vm"
STATE = "/var/lib/lxctools-vm-tests"  # on the VM's disk: kept through a reboot


def vm_boot():
    return int(os.environ.get("LXCTOOLS_VM_BOOT", "1"))


def request_reboot():
    """Reboot the VM (cleanly, through its init) once this pytest run ends."""
    with open(os.path.join(CTL, "reboot"), "w"):
        pass


HALT_MARK = "halted-cleanly"


def note_clean_halts(rootfs):
    """Make a busybox container leave a mark in its rootfs when it halts cleanly: busybox
    init runs its inittab's shutdown actions on lxc.signal.halt (SIGUSR1), never when
    killed. The mark outlives a reboot of the VM (the rootfs is on its disk)."""
    line = f"::shutdown:/bin/touch /{HALT_MARK}\n"
    with open(os.path.join(rootfs, "etc/inittab"), "a+") as handle:
        handle.seek(0)
        if line not in handle.read():
            handle.write(line)
    forget_clean_halt(rootfs)


def halted_cleanly(rootfs):
    return os.path.exists(os.path.join(rootfs, HALT_MARK))


def forget_clean_halt(rootfs):
    try:
        os.unlink(os.path.join(rootfs, HALT_MARK))
    except FileNotFoundError:
        pass


def pytest_configure(config):
    config.addinivalue_line("markers", "after_reboot(boot=2): runs in the VM's second boot "
                                       "(or the one BOOT names), after a test of the boot "
                                       "before called request_reboot()")


def boot_of(item):
    """The boot ITEM runs in: 1, or what its after_reboot mark says (2 by default)."""
    mark = item.get_closest_marker("after_reboot")
    return 1 if mark is None else mark.kwargs.get("boot", 2)


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        (keep if boot_of(item) == vm_boot() else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_sessionfinish(session, exitstatus):
    # a second boot whose tests all belong to the first: nothing to run is not a failure
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and vm_boot() > 1:
        session.exitstatus = pytest.ExitCode.OK


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in the VM tier, where it must run: {reason}"
