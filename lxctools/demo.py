"""The README's main job: create and start a busybox container from the embedded offline
template, run a command in it, show how to attach -- and, on a terminal, attach."""

import os
import subprocess
import sys
import sysconfig

BIN = sysconfig.get_path("scripts")
NAME = "demo"


def tool(name):
    return os.path.join(BIN, name)


def show(*args, check=True):
    print("$", os.path.basename(args[0]), *args[1:], flush=True)
    proc = subprocess.run([tool(args[0]), *args[1:]], check=False)
    if check and proc.returncode != 0:
        sys.exit(proc.returncode)
    return proc.returncode


def demo_config():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(here, "etc", "demo.conf")


def main():
    if os.geteuid() != 0:
        print("the demo runs containers: run it as root", file=sys.stderr)
        return 1
    exists = subprocess.run([tool("lxc-info"), "-n", NAME], capture_output=True).returncode == 0
    if not exists:
        show("lxc-create", "-n", NAME, "-t", "busybox", "-f", demo_config())
    running = subprocess.run([tool("lxc-info"), "-n", NAME, "-sH"], capture_output=True,
                             text=True).stdout.strip() == "RUNNING"
    if not running:
        show("lxc-start", "-n", NAME)
    show("lxc-info", "-n", NAME)
    show("lxc-attach", "-n", NAME, "--", "sh", "-c",
         "echo hello from $(hostname); cat /etc/os-release 2>/dev/null | head -1; ps")
    show("lxc-ls", "-f")
    print(f"""
The container "{NAME}" is running. From here:
  {tool('lxc-attach')} -n {NAME}            a shell inside (exit or Ctrl-D to leave)
  {tool('lxc-console')} -n {NAME} -t 0      its console (Ctrl-a q to leave)
  {tool('lxc-stop')} -n {NAME}              stop it
  {tool('lxc-destroy')} -n {NAME}           remove it
""", flush=True)
    if sys.stdin.isatty() and sys.stdout.isatty():
        print(f"Attaching now: lxc-attach -n {NAME}", flush=True)
        os.execv(tool("lxc-attach"), [tool("lxc-attach"), "-n", NAME])
    return 0


if __name__ == "__main__":
    sys.exit(main())
