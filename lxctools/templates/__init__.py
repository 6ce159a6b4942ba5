"""Templates fill a new container's rootfs and config.

Native templates (busybox, local, download) are modules in this package exposing
    create(ctx: TemplateContext, argv: list[str]) -> None
which lay down ctx.rootfs and edit ctx.config (a ConfigDocument saved by the runner).
External templates are executables lxc-NAME run with LXC's argument protocol. The runner
(runner.py) chooses between them, and removes a half-made container on any failure.

May import images/, idmap/, config/, kernel/ and the shared modules; not the packages
beside it (cgroups/, network/, security/, storage/).
"""

from dataclasses import dataclass, field


@dataclass
class TemplateContext:
    name: str                 # container name
    lxcpath: str              # the lxcpath holding it
    path: str                 # container directory (LXC_PATH, --path)
    rootfs: str               # rootfs directory (--rootfs)
    config: object            # config.document.ConfigDocument of <path>/config
    mapped_uid: int = -1      # host uid of container root when unprivileged (--mapped-uid)
    mapped_gid: int = -1
    quiet: bool = False       # -q: no output
    progress: bool = False    # a progress bar may be drawn (stderr is a tty and not quiet)
    rootfs_shifted: bool = False  # the template gave the rootfs to lxc.idmap's ids itself
    extra: dict = field(default_factory=dict)

    def say(self, message):
        """A line of template output (LXC's templates print their progress)."""
        if not self.quiet:
            print(message, flush=True)
