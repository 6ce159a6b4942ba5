"""Fetching image-server files: https (default), http and file:// URLs, resumable, verified.

download() writes to `TARGET.part` and renames to TARGET only once the whole body is there;
an interrupted transfer (connection cut, Ctrl-C, kill -9) leaves the .part, which the next
call continues with an HTTP Range request (a server that ignores Range sends the whole file
again and we start over). Transient failures are retried three times, as LXC's wget wrapper
does. Errors say what failed in words: DNS, refused connection, TLS, timeout, HTTP status.
"""

import os

from ..errors import LxcError

USER_AGENT = "lxc/5.0.2 compat:7 (lxctools)"
TRIES = 3
CHUNK = 1 << 16


class FetchError(LxcError):
    """A download failed; .status is the HTTP status when there was one."""

    def __init__(self, message, *, status=None, transient=False, hint=None):
        super().__init__(message, hint=hint)
        self.status = status
        self.transient = transient


def timeout():
    try:
        return float(os.environ.get("LXCTOOLS_DOWNLOAD_TIMEOUT", "30"))
    except ValueError:
        return 30.0


def server_base(server):
    """--server VALUE as a base URL: a bare host[:port] means https, as LXC's template."""
    server = server.rstrip("/")
    if "://" in server:
        scheme = server.split("://", 1)[0].lower()
        if scheme not in ("https", "http", "file"):
            raise LxcError(f"unsupported --server scheme {scheme}://",
                           hint="use a host name (https), http://HOST[:PORT] or file:///DIR")
        return server
    return "https://" + server


def join(base, path):
    return base.rstrip("/") + "/" + path.lstrip("/")


def _cause(exc, url):
    """(words, transient) for an exception of urllib/ssl/socket."""
    import socket
    import ssl
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}", exc.code >= 500
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        from urllib.parse import urlsplit

        return f"cannot resolve {urlsplit(url).hostname} (DNS: {reason.strerror})", True
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({reason.verify_message})", False
    if isinstance(reason, ssl.SSLError):
        return f"TLS error ({reason.reason or reason})", True
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused", True
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout():.0f} s", True
    if isinstance(reason, ConnectionError):
        return f"connection lost ({reason.strerror or reason})", True
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror, True
    return str(reason), True


def _open(url, offset):
    """(response-like, total size or None, resumed) for URL from byte OFFSET."""
    if url.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        path = unquote(urlsplit(url).path)
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            raise FetchError(f"Failed to download {url}: no such file", status=404) from None
        except OSError as exc:
            raise FetchError(f"Failed to download {url}: {exc.strerror}") from None
        size = os.fstat(handle.fileno()).st_size
        if offset:
            handle.seek(min(offset, size))
        return handle, size, bool(offset)
    import urllib.request

    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    import urllib.error

    try:
        response = urllib.request.urlopen(request, timeout=timeout())
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return None, offset, True  # the .part is already whole
        words, transient = _cause(exc, url)
        raise FetchError(f"Failed to download {url}: {words}", status=exc.code,
                         transient=transient) from None
    except Exception as exc:  # URLError, ssl, socket
        words, transient = _cause(exc, url)
        raise FetchError(f"Failed to download {url}: {words}", transient=transient) from None
    length = response.headers.get("Content-Length")
    resumed = offset > 0 and response.status == 206
    total = None
    if length is not None and length.isdigit():
        total = int(length) + (offset if resumed else 0)
    return response, total, resumed


def download(url, target, *, progress=None, resume=True):
    """Fetch URL into TARGET (atomically); returns TARGET."""
    part = target + ".part"
    attempt = 0
    while True:
        attempt += 1
        try:
            _attempt(url, part, progress, resume)
            break
        except FetchError as exc:
            if not exc.transient or attempt >= TRIES:
                if exc.transient and os.path.exists(part) and os.path.getsize(part):
                    exc.hint = exc.hint or "the part already received is kept: run the same " \
                                           "command again to resume"
                raise
    os.replace(part, target)
    return target


def _attempt(url, part, progress, resume):
    offset = os.path.getsize(part) if resume and os.path.exists(part) else 0
    response, total, resumed = _open(url, offset)
    if response is None:
        return
    if offset and not resumed:
        offset = 0  # the server sent the whole file
    if progress is not None:
        progress.total = total
        progress.start_offset = offset
    done = offset
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (0 if resumed else os.O_TRUNC),
                     0o644)
        try:
            if resumed:
                os.lseek(fd, offset, os.SEEK_SET)
                os.ftruncate(fd, offset)
            while True:
                try:
                    chunk = response.read(CHUNK)
                except Exception as exc:
                    words, _ = _cause(exc, url)
                    raise FetchError(f"Failed to download {url}: {words} after {done} bytes",
                                     transient=True) from None
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                done += len(chunk)
                if progress is not None:
                    progress.update(done)
        finally:
            os.close(fd)
    finally:
        response.close()
        if progress is not None:
            progress.finish()
    if total is not None and done < total:
        raise FetchError(f"Failed to download {url}: connection closed after {done} of "
                         f"{total} bytes", transient=True)


def fetch_optional(url, target):
    """download() that answers False for a 404 (a file the server may not publish)."""
    try:
        download(url, target, resume=False)
        return True
    except FetchError as exc:
        if exc.status == 404:
            return False
        raise


def sha256(path):
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def parse_sums(path):
    """{filename: hex digest} from a SHA256SUMS file (`HEX  NAME` or `HEX *NAME`)."""
    sums = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) >= 2 and len(fields[0]) == 64:
                sums[os.path.basename(fields[1].lstrip("*"))] = fields[0].lower()
    return sums


def check_sum(path, name, sums, url):
    expected = sums.get(name)
    if expected is None:
        return False
    actual = sha256(path)
    if actual != expected:
        raise LxcError(f"ERROR: checksum mismatch for {url}: SHA-256 is {actual}, the server's "
                       f"SHA256SUMS says {expected}",
                       hint="the download is damaged or was tampered with; nothing was kept")
    return True
