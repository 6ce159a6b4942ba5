"""The README's main job: show lxctools working on this machine.

Grows with the project: once lxc-create/lxc-start/lxc-attach exist it creates, starts and
enters a busybox container; until then it runs lxc-checkconfig / lxc-config.
"""

import os
import shutil
import subprocess
import sys
import sysconfig

BIN = sysconfig.get_path("scripts")


def tool(name):
    return os.path.join(BIN, name)


def main():
    steps = []
    if os.path.exists(tool("lxc-checkconfig")):
        steps.append([tool("lxc-checkconfig")])
    steps.append([tool("lxc-config"), "-l"])
    for step in steps:
        print("$", " ".join(os.path.basename(s) if s.startswith(BIN) else s for s in step), flush=True)
        subprocess.run(step, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
