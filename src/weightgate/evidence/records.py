"""Reading signed records from where deploy steps and auditors keep them: one JSON Lines file, a folder of
them, or a mirror URI (a file, or a listable folder: local, s3://, hf://), through the same mirrors (TLS, limits,
credentials from the environment) as artifact files. Every read is bounded; a store that cannot be read is an
error the caller turns into a refusal, never an empty result, so unreachable storage fails closed.

Writing goes the other way: one new object per record (`<digest hex>-<time>-<host>-<random>.intoto.jsonl`), so
pods starting together never append to the same file and an S3 bucket (which cannot append) takes records too.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from weightgate.errors import OutputError
from weightgate.evidence.dsse import RecordRejected, strict_json
from weightgate.evidence.fetch import read_small
from weightgate.mirror import MirrorLocation, open_mirror
from weightgate.mirror.base import MAX_LISTED_FILES, EntryKind, Mirror, MirrorNotListable, MirrorUnavailable
from weightgate.mirror.settings import MirrorSettings
from weightgate.textsafety import redact_url

MAX_RECORD_FILE_BYTES = 64 * 1024 * 1024  # one JSON Lines file (as `check --attest` writes for a whole run)
MAX_TOTAL_RECORD_BYTES = 512 * 1024 * 1024  # everything read from one source
MAX_RECORD_FILES = 50_000
RECORD_SUFFIXES = (".jsonl", ".json")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class RecordsUnavailable(Exception):
    """The records could not all be read: the caller must not decide as if they were absent."""


@dataclass(frozen=True)
class RecordLine:
    source: str  # the file's URI (credentials redacted), for messages and for naming the record relied on
    line: int
    data: bytes  # one record, stripped


def location_of(reference: str) -> MirrorLocation:
    """A folder or file path, a file:// URI, or a network URI, as a mirror location."""
    if reference.startswith("file://"):
        path = Path(unquote(urlsplit(reference).path)).resolve()
        return MirrorLocation(path.as_uri(), path)
    if "://" in reference or reference.startswith(("hf:", "s3:", "models:/", "runs:/")):
        return MirrorLocation(reference, None)
    path = Path(reference).resolve()
    return MirrorLocation(path.as_uri(), path)


def read_records(reference: str, settings: MirrorSettings | None = None) -> list[RecordLine]:
    """Every non-empty line of the record file, or of every `*.jsonl`/`*.json` file under the folder. Raises
    RecordsUnavailable when anything could not be read whole."""
    settings = settings or MirrorSettings()
    location = location_of(reference)
    if location.local_path is not None and location.local_path.is_file():
        folder = location.local_path.parent
        return _read_files(open_mirror(MirrorLocation(folder.as_uri(), folder), settings), [location.local_path.name])
    if location.local_path is None and reference.rstrip("/").endswith(RECORD_SUFFIXES):
        parent, _, name = reference.rstrip("/").rpartition("/")
        return _read_files(_open(location_of(parent), settings), [name])
    mirror = _open(location, settings)
    return _read_files(mirror, _record_files(mirror))


def _open(location: MirrorLocation, settings: MirrorSettings) -> Mirror:
    try:
        return open_mirror(location, settings)
    except MirrorUnavailable as e:
        raise RecordsUnavailable(f"records at {redact_url(location.uri)} cannot be reached: {e}") from None


def _record_files(mirror: Mirror) -> list[str]:
    try:
        entries = list(itertools.islice(mirror.list_files(), MAX_LISTED_FILES + 1))
    except (MirrorNotListable, MirrorUnavailable, OSError) as e:
        raise RecordsUnavailable(f"records folder {redact_url(mirror.uri)} cannot be listed: {e}") from None
    if len(entries) > MAX_LISTED_FILES:
        raise RecordsUnavailable(f"records folder {redact_url(mirror.uri)} holds more than {MAX_LISTED_FILES} "
                                 "entries")
    names = sorted(e.path for e in entries if e.kind is EntryKind.FILE and e.path.endswith(RECORD_SUFFIXES)
                   and not e.path.rsplit("/", 1)[-1].startswith("."))
    if len(names) > MAX_RECORD_FILES:
        raise RecordsUnavailable(f"records folder {redact_url(mirror.uri)} holds {len(names)} record files, more "
                                 f"than {MAX_RECORD_FILES}")
    return names


def _read_files(mirror: Mirror, names: list[str]) -> list[RecordLine]:
    lines: list[RecordLine] = []
    total = 0
    for name in names:
        small = read_small(mirror, name, MAX_RECORD_FILE_BYTES)
        uri = redact_url(small.uri)
        if small.data is None:
            what = "is missing" if small.missing else f"cannot be read ({small.reason})"
            raise RecordsUnavailable(f"record file {uri} {what}")
        total += len(small.data)
        if total > MAX_TOTAL_RECORD_BYTES:
            raise RecordsUnavailable(f"records at {redact_url(mirror.uri)} exceed {MAX_TOTAL_RECORD_BYTES} bytes")
        lines.extend(RecordLine(uri, n, line.strip()) for n, line in enumerate(small.data.split(b"\n"), 1)
                     if line.strip())
    return lines


def claimed_statement(data: bytes) -> dict[str, Any] | None:
    """What a record says, *without* verifying it (a DSSE envelope or the envelope of a bundle): only to show it
    as a claim or to explain why nothing verified, never to decide. None when it is no in-toto statement."""
    try:
        document = strict_json(data, "the record")
        envelope = document.get("dsseEnvelope", document) if isinstance(document, dict) else None
        payload = base64.b64decode(envelope["payload"], validate=True) if isinstance(envelope, dict) else b""
        statement = strict_json(payload, "the payload")
    except (RecordRejected, KeyError, TypeError, ValueError, binascii.Error):
        return None
    if not isinstance(statement, dict) or not isinstance(statement.get("predicate"), dict) \
            or not isinstance(statement.get("subject"), list):
        return None
    return statement


# --- writing -----------------------------------------------------------------------------------------------

def record_name(digest: str, time: str, host: str) -> str:
    """A file name no other writer picks: digest, time, host (made safe) and random bits."""
    stamp = time.replace(":", "").replace("-", "")
    return (f"{digest.removeprefix('sha256:')}-{stamp}-{_UNSAFE_NAME.sub('_', host)[:64] or 'host'}-"
            f"{secrets.token_hex(4)}.intoto.jsonl")


def write_record(destination: str, name: str, line: str, settings: MirrorSettings | None = None) -> str:
    """Write one record (a JSON line) as a new file in a folder, or a new object under an s3:// prefix. Returns
    where it was written (credentials redacted). Raises OutputError."""
    location = location_of(destination)
    if location.local_path is not None:
        return _write_local(location.local_path, name, line)
    if location.scheme == "s3":
        return _write_s3(destination, name, line, settings or MirrorSettings())
    raise OutputError(f"records cannot be written to {redact_url(destination)}",
                      hint="--record-to takes a folder, a file:// URI or an s3:// prefix")


def _write_local(folder: Path, name: str, line: str) -> str:
    target = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # O_EXCL: never overwrite a record, even one another pod wrote under the same name.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as e:
        raise OutputError(f"cannot write the record {target}: {e.strerror or e}",
                          hint="the record folder must be writable by the admitting user") from e
    return target.as_uri()


def _write_s3(destination: str, name: str, line: str, settings: MirrorSettings) -> str:
    from weightgate.mirror.s3 import s3_client, split_s3_uri

    try:
        bucket, prefix = split_s3_uri(destination)
        key = f"{prefix}/{name}" if prefix else name
        s3_client(settings).put_object(Bucket=bucket, Key=key, Body=line.encode("utf-8"),
                                       ContentType="application/jsonl")
    except MirrorUnavailable as e:
        raise OutputError(f"cannot write the record to {redact_url(destination)}: {e}") from None
    except Exception as e:  # botocore's errors: the record was not written, and the caller must know
        raise OutputError(f"cannot write the record to {redact_url(destination)}: {type(e).__name__}: "
                          f"{str(e)[:200]}") from None
    return redact_url(f"s3://{bucket}/{key}")


def iter_sources(references: tuple[str, ...], settings: MirrorSettings | None = None
                 ) -> Iterator[tuple[str, list[RecordLine] | None, str]]:
    """(reference, its lines or None, why not) for each source: a trail shows what it could not read."""
    for reference in references:
        try:
            yield reference, read_records(reference, settings), ""
        except RecordsUnavailable as e:
            yield reference, None, str(e)
