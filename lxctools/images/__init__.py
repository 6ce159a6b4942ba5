"""Image files for the local and download templates: safe tar extraction (extract.py), the
progress bar (progress.py), image metadata as LXC's templates apply it (meta.py), and the
image-server client: index, verified and resumable downloads, cache (fetch.py, index.py,
gpg.py). Nothing here is imported on lxc-create's start-up path: the templates import it.

May import config/, kernel/ and the shared modules only.
"""
