"""Loop devices: attach an image file to a free /dev/loopN with LO_FLAGS_AUTOCLEAR.

With autoclear the kernel detaches the device when its last user goes: the caller mounts
it, then closes the fd, and the mount is then the only user. A loop-backed rootfs is only
mounted inside the container's own mount namespace, so when that namespace dies (the
container stops, or everything in it is killed) the mount goes and the device is freed;
if the caller dies before mounting, closing its fd frees the device. Nothing to clean up.
"""

import errno
import fcntl
import os
import struct

LOOP_SET_FD = 0x4C00
LOOP_CLR_FD = 0x4C01
LOOP_SET_STATUS64 = 0x4C04
LOOP_GET_STATUS64 = 0x4C05
LOOP_CONFIGURE = 0x4C0A        # Linux 5.8: fd + status in one step
LOOP_CTL_GET_FREE = 0x4C82

LO_FLAGS_READ_ONLY = 1
LO_FLAGS_AUTOCLEAR = 4

_NAME_SIZE = 64
# struct loop_info64: 5 u64 (device, inode, rdevice, offset, sizelimit), 4 u32 (number,
# encrypt_type, encrypt_key_size, flags), file_name[64], crypt_name[64], key[32], 2 u64 init
_INFO64 = struct.Struct("=QQQQQIIII64s64s32sQQ")
_FLAGS_OFFSET = 5 * 8 + 3 * 4


def _info64(path, flags):
    name = os.fsencode(path)[:_NAME_SIZE - 1]
    return _INFO64.pack(0, 0, 0, 0, 0, 0, 0, 0, flags, name, b"", b"", 0, 0)


def _config(image_fd, flags, path):
    # struct loop_config: u32 fd, u32 block_size, struct loop_info64, u64 reserved[8]
    return struct.pack("=II", image_fd, 0) + _info64(path, flags) + bytes(64)


def attach(path, *, readonly=False, autoclear=True, control="/dev/loop-control", tries=20):
    """Attach the file PATH to a free loop device; returns (device fd, "/dev/loopN").

    Close the fd once the device is mounted: with autoclear the device then lives exactly as
    long as the mount. Raises OSError naming the file."""
    flags = (LO_FLAGS_AUTOCLEAR if autoclear else 0) | (LO_FLAGS_READ_ONLY if readonly else 0)
    mode = os.O_RDONLY if readonly else os.O_RDWR
    image = os.open(path, mode | os.O_CLOEXEC)
    try:
        ctl = os.open(control, os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(tries):
                number = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
                device = f"/dev/loop{number}"
                try:
                    dev = os.open(device, mode | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue  # udev has not made the node yet: ask again
                try:
                    _configure(dev, image, flags, path)
                    return dev, device
                except OSError as exc:
                    os.close(dev)
                    if exc.errno == errno.EBUSY:
                        continue  # another process took it between GET_FREE and ours
                    raise OSError(exc.errno, f"attaching {path} to {device}: "
                                             f"{os.strerror(exc.errno)}") from None
            raise OSError(errno.EBUSY, f"attaching {path}: no free loop device")
        finally:
            os.close(ctl)
    finally:
        os.close(image)


def _configure(dev, image, flags, path):
    try:
        fcntl.ioctl(dev, LOOP_CONFIGURE, _config(image, flags, path))
        return
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTTY):
            raise
    # Kernels before 5.8: two steps (a window where the device has no autoclear yet).
    fcntl.ioctl(dev, LOOP_SET_FD, image)
    try:
        fcntl.ioctl(dev, LOOP_SET_STATUS64, _info64(path, flags))
    except OSError:
        fcntl.ioctl(dev, LOOP_CLR_FD, 0)
        raise


def backing_flags(dev_fd):
    """lo_flags of an attached device (tests check autoclear)."""
    raw = fcntl.ioctl(dev_fd, LOOP_GET_STATUS64, bytes(_INFO64.size))
    return struct.unpack_from("=I", raw, _FLAGS_OFFSET)[0]
