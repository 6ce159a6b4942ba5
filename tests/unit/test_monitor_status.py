"""What lxc-monitor shows for each way a container's init can end (supervisor.monitor_status):
a halt, poweroff or reboot through reboot(2) is 0 as LXC shows it; a kill is 128+N."""

import signal

from lxctools.monitor.supervisor import monitor_status


def test_clean_ends_are_0_and_kills_128_plus_n():
    assert monitor_status(signal.SIGINT) == 0    # halt/poweroff: reboot(2) in a PID ns
    assert monitor_status(signal.SIGHUP) == 0    # reboot
    assert monitor_status(signal.SIGKILL) == 137
    assert monitor_status(signal.SIGTERM) == 143
    assert monitor_status(3 << 8) == 3           # exit(3): lxc-execute's command
    assert monitor_status(0) == 0
