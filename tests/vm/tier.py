"""The VM tier of the test suite: the tests whose answer differs on the hosts LXC users run,
each image's in one boot (pytest inside the VM over the shared checkout).

    vmkit.py tier [--image NAME]...

What runs where (tests/vm/conftest.py collects test_systemd_*.py only under systemd and
test_openrc_*.py only under OpenRC):
- debian-systemd: tests/vm/test_systemd_*.py, and the network tests this machine's kernel
  cannot run (vlan, ipvlan: it has no 8021q or ipvlan driver) with the rest of their file;
  the supervisor's proof by pid on a kernel without SO_PEERPIDFD (6.1: natively, where this
  machine's 6.18 needs LXCTOOLS_PEER_FALLBACK=1).
- debian-openrc: tests/vm/test_openrc_*.py, with the debian-systemd image's disk attached
  (/dev/vdb): the root of the systemd guest that boots on the OpenRC host.
A skip inside the VM is a failure; a test may ask for a reboot, after which the tests marked
after_reboot run (tests/vm/vmtier.py).
"""

import argparse
import os
import sys
import time

import vmkit

TIERS = {
    "debian-systemd": ["tests/vm", "tests/integration/test_network_host.py",
                       "tests/integration/test_peer_pid_reuse.py"],
    "debian-openrc": ["tests/vm"],
}
# other images whose root disk an image's tier attaches (LXCTOOLS_VM_DISKS inside)
DISKS = {"debian-openrc": ["debian-systemd"]}
BOOTS = 3  # a test may ask for a reboot (vmtier.request_reboot), and one of the next boot's
TIMEOUT = 1500  # per boot; the whole of .ci/run must stay well under 60 minutes


def pytest_argv(paths):
    return ["env", "PYTHONPATH=tests/vm", "python3", "-m", "pytest", "-p", "no:cacheprovider",
            "-p", "vmtier", "-v", "-ra", "--tb=short", *paths]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="vmkit.py tier")
    parser.add_argument("--image", action="append", choices=sorted(TIERS))
    args = parser.parse_args(argv)
    results = []
    started = time.monotonic()
    for image in args.image or list(TIERS):
        print(f"=== VM tier: {image} ({' '.join(TIERS[image])}) ===", flush=True)
        try:
            result = vmkit.run(pytest_argv(TIERS[image]), image=image, timeout=TIMEOUT,
                               cwd=vmkit.REPO, boots=BOOTS, disks=DISKS.get(image, []))
        except vmkit.VMError as error:
            vmkit.log(str(error))
            results.append((image, None, {}))
            continue
        if result.status is None:
            vmkit.report_failure(result, image, TIMEOUT)
        results.append((image, result.status, result.timings))
    print(f"=== VM tier: {time.monotonic() - started:.0f} s ===")
    for image, status, timings in results:
        verdict = {0: "passed", None: "no result"}.get(status, f"failed (exit {status})")
        print(f"  {image}: {verdict}; qemu start to pytest {timings.get('boot_to_script', '?')} s,"
              f" {timings.get('boots', '?')} boot(s) in {timings.get('total', '?')} s")
    return 0 if all(status == 0 for _, status, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
