"""An HTTPS proxy in front of nginx that injects one network fault per request, chosen by the URL.

`https://127.0.0.1:PORT/<fault>/<path>` forwards `GET /<path>` to nginx and applies `<fault>` to the answer, so
each test picks its fault through the mirror URI alone. The proxy counts requests per URL and remembers which
ones carried an Authorization header, so tests can check that retries are bounded and credentials stay home.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from servers.nginx import Nginx
from servers.process import HOST, free_port
from servers.tls import TestCA

FORWARDED = ("Range", "If-Range", "Authorization")
TRICKLE_PAUSE_S = 0.2
TRICKLE_LIMIT_S = 10.0  # the trickle stops by itself even if the client never gives up
FAULTS = (
    "ok",  # pass through
    "redirect-same",  # 302 to the same origin: followed
    "redirect-away",  # 302 to https://localhost:PORT (another host name, same proxy)
    "redirect-http",  # 302 to nginx's plain-http port: a downgrade
    "truncate",  # full Content-Length, half the body, clean close; every time
    "truncate-once",  # the first request for a path is truncated, later ones (the Range resume) pass
    "truncate-once-norange",  # like truncate-once, but Range is ignored: resuming is impossible
    "drop",  # half the body, then a TCP reset
    "wrong-length",  # Content-Length 10 bytes longer than the body
    "slow",  # one byte every TRICKLE_PAUSE_S
    "error503",  # always 503
    "error503-once",  # 503 for the first request of a path, then pass through
)


@dataclass
class Seen:
    requests: Counter[str] = field(default_factory=Counter)  # "/<fault>/<path>" -> count
    authorized: list[tuple[str, str]] = field(default_factory=list)  # (Host header, path) with Authorization
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultProxy:
    def __init__(self, upstream: Nginx, ca: TestCA) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.seen = Seen()
        self._upstream_ctx = ssl.create_default_context(cafile=str(ca.pem))
        cert = ca.issue("proxy", "127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert.cert), str(cert.key))
        self.server = ThreadingHTTPServer((HOST, self.port), _handler(self))
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)
        self.thread.start()

    def url(self, fault: str, host: str = HOST) -> str:
        assert fault in FAULTS, fault
        return f"https://{host}:{self.port}/{fault}"

    def count(self, fault: str, path: str) -> int:
        with self.seen.lock:
            return self.seen.requests[f"/{fault}/{path.lstrip('/')}"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fetch(self, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        conn = http.client.HTTPSConnection(HOST, self.upstream.https_port, timeout=10, context=self._upstream_ctx)
        conn.request("GET", path, headers=headers)
        return conn.getresponse()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            fault, _, rest = self.path.lstrip("/").partition("/")
            with proxy.seen.lock:
                proxy.seen.requests[self.path] += 1
                count = proxy.seen.requests[self.path]
                if self.headers.get("Authorization"):
                    proxy.seen.authorized.append((self.headers.get("Host", ""), self.path))
            self.close_connection = True
            if fault not in FAULTS:
                self._answer(404, b"unknown fault")
            elif fault.startswith("redirect-"):
                self._redirect(fault, rest)
            elif fault == "error503" or (fault == "error503-once" and count == 1):
                self._answer(503, b"try later")
            else:
                self._forward(fault, "/" + rest, count)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, fault: str, rest: str) -> None:
            target = {
                "redirect-same": f"https://{HOST}:{proxy.port}/ok/{rest}",
                "redirect-away": f"https://localhost:{proxy.port}/ok/{rest}",
                "redirect-http": f"{proxy.upstream.http_url}/{rest}",
            }[fault]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _forward(self, fault: str, path: str, count: int) -> None:
            headers = {k: v for k in FORWARDED if (v := self.headers.get(k)) is not None}
            if fault == "truncate-once-norange":
                headers.pop("Range", None)
            resp = proxy.fetch(path, headers)
            body = resp.read()
            self.send_response(resp.status)
            for name in ("Content-Range", "ETag", "Last-Modified", "Accept-Ranges", "Content-Type"):
                if resp.getheader(name):
                    self.send_header(name, resp.getheader(name) or "")
            announced = len(body) + 10 if fault == "wrong-length" else len(body)
            self.send_header("Content-Length", str(announced))
            self.end_headers()
            cut = fault in ("truncate", "drop") or (fault.startswith("truncate-once") and count == 1)
            if cut:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if fault == "drop":  # linger 0: the close sends a TCP reset instead of a clean FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            elif fault == "slow":
                self._trickle(body)
            else:
                self.wfile.write(body)

        def _trickle(self, body: bytes) -> None:
            stop = time.monotonic() + TRICKLE_LIMIT_S
            try:
                for i in range(len(body)):
                    if time.monotonic() > stop:
                        break
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(TRICKLE_PAUSE_S)
            except OSError:
                pass  # the client gave up: that is the point

    return Handler
