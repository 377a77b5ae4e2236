"""OSV snapshots for tests, made from the real advisory records in tests/assets/osv/ (see its README)."""

from __future__ import annotations

import datetime
import hashlib
import zipfile
from pathlib import Path

from conftest import REPO_ROOT

OSV_ASSETS = REPO_ROOT / "tests" / "assets" / "osv"
# The newest `modified` among the real records: the snapshot's data is as fresh as this.
NEWEST_MODIFIED = datetime.datetime(2026, 7, 13, 16, 4, 24, 977686, tzinfo=datetime.timezone.utc)
# A day on which that data is less than 48 hours old (judged at noon UTC, as --as-of does).
FRESH_DAY = datetime.date(2026, 7, 14)
TORCH_WEIGHTS_ONLY = "PYSEC-2025-41"  # CVE-2025-32434, GHSA-53q9-r3pm-6pq6: fixed in torch 2.6.0


def real_records() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(OSV_ASSETS.glob("*.json"))}


def write_zip(path: Path, members: dict[str, bytes] | None = None) -> str:
    """An OSV zip as osv.dev exports one (one `<id>.json` per record at the top); returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (real_records() if members is None else members).items():
            archive.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()
