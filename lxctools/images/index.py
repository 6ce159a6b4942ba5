"""The image server's index (`meta/1.0/index-system[.7]`): one image per line,
`DIST;RELEASE;ARCH;VARIANT;BUILD;PATH`, as images.linuxcontainers.org and distrobuilder
publish it. Parsing, LXC's listing, matching with architecture aliases, "did you mean".
"""

from ..errors import LxcError

# Kernel names (uname -m) to the names image servers use.
ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "armv8l": "armhf",
                "i686": "i386", "i586": "i386", "ppc64le": "ppc64el"}


class Image:
    __slots__ = ("dist", "release", "arch", "variant", "build", "path")

    def __init__(self, dist, release, arch, variant, build, path):
        self.dist, self.release, self.arch = dist, release, arch
        self.variant, self.build, self.path = variant, build, path


def parse(text):
    images = []
    for line in text.splitlines():
        fields = line.split(";")
        if len(fields) < 6:
            continue
        fields = fields[:6]
        if not fields[4] or not fields[5]:
            continue  # LXC skips lines without a build or a path
        images.append(Image(*fields))
    return images


def canonical_arch(arch):
    return ARCH_ALIASES.get(arch, arch) if arch else arch


def host_arch():
    return canonical_arch(__import__("os").uname().machine)


def _arch_matches(wanted, have):
    return wanted == have or canonical_arch(wanted) == canonical_arch(have)


def listing(images, dist=None, release=None, arch=None, variant=None):
    """LXC's table: blank, ---, header, ---, rows (filtered by what was given), ---."""
    lines = ["", "---", "DIST\tRELEASE\tARCH\tVARIANT\tBUILD", "---"]
    for image in images:
        if dist and image.dist != dist:
            continue
        if release and image.release != release:
            continue
        if arch and not _arch_matches(arch, image.arch):
            continue
        if variant and image.variant != variant:
            continue
        lines.append("\t".join((image.dist, image.release, image.arch, image.variant,
                                image.build)))
    lines.append("---")
    return lines


def find(images, dist, release, arch, variant):
    """The first image matching exactly (the arch through its aliases), or LXC's error with a
    hint saying what the server does have."""
    for image in images:
        if (image.dist, image.release, image.variant) == (dist, release, variant) \
                and _arch_matches(arch, image.arch):
            return image
    raise LxcError("ERROR: Couldn't find a matching image", hint=_suggest(images, dist, release,
                                                                          arch, variant))


def _close(word, choices):
    import difflib

    choices = sorted(set(choices))
    close = difflib.get_close_matches(word or "", choices, n=1, cutoff=0.5)
    if close:
        return f'did you mean "{close[0]}"? (available: {", ".join(choices)})'
    return "available: " + (", ".join(choices) or "none")


def _suggest(images, dist, release, arch, variant):
    same = [i for i in images if i.dist == dist]
    if not same:
        return f"no distribution {dist!r}: " + _close(dist, [i.dist for i in images])
    rel = [i for i in same if i.release == release]
    if not rel:
        return f"no release {release!r} of {dist}: " + _close(release, [i.release for i in same])
    arc = [i for i in rel if _arch_matches(arch, i.arch)]
    if not arc:
        return f"no {arch} image of {dist} {release}: " + _close(arch, [i.arch for i in rel])
    return f"no variant {variant!r} of {dist} {release} {arch}: " + _close(
        variant, [i.variant for i in arc])
