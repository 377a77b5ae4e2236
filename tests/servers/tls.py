"""A certificate authority made for the test session, and server certificates it signs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class ServerCert:
    cert: Path  # leaf + chain, PEM
    key: Path


class TestCA:
    __test__ = False  # not a test class, despite the name

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA()
        self.folder = folder
        self.pem = folder / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.pem))

    def issue(self, name: str, *hosts: str) -> ServerCert:
        leaf = self._ca.issue_cert(*(hosts or ("127.0.0.1", "localhost")))
        cert, key = self.folder / f"{name}.crt", self.folder / f"{name}.key"
        leaf.private_key_pem.write_to_path(str(key))
        with cert.open("wb") as f:
            for blob in leaf.cert_chain_pems:
                f.write(blob.bytes())
        return ServerCert(cert, key)
