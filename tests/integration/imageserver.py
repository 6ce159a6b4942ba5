"""A test image server: serves a mirror directory over HTTP with Range support, can cut one
transfer half way, and logs every request (method, path, Range) one per line.

    python imageserver.py ROOT PORT LOG [--cut SUFFIX] [--slow SUFFIX] [--tls CERT KEY]

Run inside a private network namespace (ip netns exec) by the download tests.
"""

import http.server
import os
import sys
import time


class Handler(http.server.SimpleHTTPRequestHandler):
    cut = None
    slow = None
    log_path = None
    cut_done = False

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        with open(self.log_path, "a") as log:
            log.write(f"GET {self.path} {self.headers.get('Range', '-')}\n")
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404, "Not Found")
            return
        size = os.path.getsize(path)
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read()
        cls = type(self)
        if cls.cut and self.path.endswith(cls.cut) and not cls.cut_done and start == 0:
            cls.cut_done = True
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            import socket
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if cls.slow and self.path.endswith(cls.slow):
            for i in range(0, len(data), 4096):
                self.wfile.write(data[i:i + 4096])
                self.wfile.flush()
                time.sleep(0.05)
            return
        self.wfile.write(data)


def main():
    root, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    Handler.log_path = log
    if "--slow" in sys.argv:
        Handler.slow = sys.argv[sys.argv.index("--slow") + 1]
    if "--cut" in sys.argv:
        Handler.cut = sys.argv[sys.argv.index("--cut") + 1]
    os.chdir(root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if "--tls" in sys.argv:
        import ssl

        i = sys.argv.index("--tls")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[i + 1], sys.argv[i + 2])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
