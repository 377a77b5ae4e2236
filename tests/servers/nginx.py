"""nginx serving a mirror directory over HTTPS (and plain http on a second port, for the allow_http tests).

Started as `nginx -c ABS_CONF -g 'daemon off;'` so the process we hold is the master. Its ETag is mtime+size,
never content: weightgate must trust only its own sha256. `/private/` answers only a request with the session's
bearer token.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from servers.process import HOST, ServerProcess, free_port, port_open, require_program
from servers.tls import TestCA

INSTALL_HINT = "install Debian's nginx-light (apt-get install nginx-light)"


@dataclass
class Nginx:
    root: Path  # files written here are served at /
    https_port: int
    http_port: int
    token: str  # the bearer token /private/ requires
    process: ServerProcess

    @property
    def https_url(self) -> str:
        return f"https://{HOST}:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def put(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _config(folder: Path, root: Path, cert: Path, key: Path, https_port: int, http_port: int, token: str) -> str:
    temp = folder / "temp"
    temps = "\n".join(f"  {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                        "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the 0700 pytest temp folders
    return f"""{user}worker_processes 1;
pid {folder / 'nginx.pid'};
error_log {folder / 'error.log'} warn;
events {{ worker_connections 256; }}
http {{
  access_log {folder / 'access.log'};
{temps}
  default_type application/octet-stream;
  server {{
    listen {HOST}:{https_port} ssl;
    listen {HOST}:{http_port};
    ssl_certificate {cert};
    ssl_certificate_key {key};
    root {root};
    location /private/ {{
      if ($http_authorization != "Bearer {token}") {{ return 401; }}
    }}
  }}
}}
"""


def start_nginx(folder: Path, ca: TestCA) -> Nginx:
    binary = require_program("nginx", INSTALL_HINT, (Path("/usr/sbin"),))
    root = folder / "www"
    root.mkdir(parents=True)
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "temp" / kind).mkdir(parents=True)
    cert = ca.issue("nginx")
    https_port, http_port = free_port(), free_port()
    token = secrets.token_hex(16)
    conf = folder / "nginx.conf"
    conf.write_text(_config(folder, root, cert.cert, cert.key, https_port, http_port, token))
    process = ServerProcess("nginx", [binary, "-c", str(conf), "-g", "daemon off;"], folder / "nginx.out")
    process.wait_ready(lambda: port_open(https_port) and port_open(http_port), timeout=10)
    return Nginx(root, https_port, http_port, token, process)
