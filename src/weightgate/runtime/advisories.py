"""Known vulnerabilities, offline: an OSV snapshot (a zip or folder of OSV JSON records, as the OSV project
exports per ecosystem), pinned by sha256 in the policy, indexed once, matched with `packaging`.

The index is an SQLite file kept beside the snapshot and named by the snapshot's sha256, holding each PyPI
package's records: a run looks up only the packages it has (a 300-requirement lock is 300 indexed queries), so
matching takes milliseconds however large the snapshot is. Any snapshot the gate cannot read whole, or that
holds no PyPI record, raises SnapshotError: an empty database never means "no vulnerabilities".
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightgate.facts import artifact_digest
from weightgate.strictjson import JsonRefused, strict_json

if TYPE_CHECKING:  # packaging is imported by the functions that match versions (start-up of every check), and
    # sqlite3, zipfile and tempfile by those that index a snapshot: most checks configure none (issue 18)
    import sqlite3

    from packaging.version import Version

MAX_SNAPSHOT_BYTES = 1024 * 1024 * 1024  # the OSV PyPI export is ~40 MiB zipped; far larger is not a snapshot
MAX_RECORD_BYTES = 4 * 1024 * 1024  # one advisory record; the largest published ones are a few hundred KiB
MAX_RECORDS = 1_000_000
CHUNK_BYTES = 1024 * 1024
ECOSYSTEM = "PyPI"
INDEX_FORMAT = "1"  # bump when the index layout changes: old indexes are then rebuilt, never misread
_FRACTION = re.compile(r"(\.\d{6})\d+")


class SnapshotError(Exception):
    """The snapshot cannot be used; the message says why (a WG704 finding, or exit 2 for `advisories update`)."""


@dataclass(frozen=True)
class CvssRating:
    score: float
    label: str  # critical, high, medium, low, none
    vector: str
    method: str  # CVSS_V4, CVSS_V3, CVSS_V2


@dataclass(frozen=True)
class Advisory:
    """One OSV record, as far as a finding and the BOM need it."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    rating: CvssRating | None
    fixed: tuple[str, ...]  # fixed versions of the matched package, lowest first
    published: datetime.datetime | None
    modified: datetime.datetime | None
    references: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """The id with its aliases (CVE, GHSA, PYSEC), each once."""
        return tuple(dict.fromkeys((self.id, *self.aliases)))

    @property
    def ids_shown(self) -> str:
        aliases = [a for a in self.ids if a != self.id]
        return f"{self.id} ({', '.join(aliases)})" if aliases else self.id


@dataclass(frozen=True)
class SnapshotInfo:
    sha256: str  # hex
    records: int  # OSV records read
    pypi_records: int  # of which name a PyPI package
    newest_modified: datetime.datetime | None  # how fresh the data is: the latest change any record carries
    index_path: str


def osv_time(value: Any) -> datetime.datetime | None:
    """An OSV timestamp (RFC 3339, UTC), or None when absent or malformed."""
    if not isinstance(value, str):
        return None
    text = _FRACTION.sub(r"\1", value.strip())
    text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


# --- reading a snapshot -------------------------------------------------------------------------------------

def snapshot_sha256(path: Path) -> str:
    """The digest a policy pins: a zip's sha256, or for a folder the artifact digest of its `*.json` files
    (sha256 over sorted `path NUL sha256 NUL size` lines), as hex. Raises SnapshotError."""
    if path.is_dir():
        files = [(rel, *_file_sha256(path / rel)) for rel in _json_members(path)]
        return artifact_digest(files).removeprefix("sha256:")
    if not path.is_file():
        raise SnapshotError(f"{path} does not exist" if not path.exists() else f"{path} is not a file or folder")
    return _file_sha256(path)[0]


def _file_sha256(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    total = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                total += len(chunk)
                if total > MAX_SNAPSHOT_BYTES:
                    raise SnapshotError(f"{path} is larger than {MAX_SNAPSHOT_BYTES} bytes; not read")
                hasher.update(chunk)
    except OSError as e:
        raise SnapshotError(f"{path} cannot be read: {e.strerror or e}") from e
    return hasher.hexdigest(), total


def _json_members(folder: Path) -> list[str]:
    members = []
    for root, _dirs, names in os.walk(folder):  # os.walk does not follow symlinked folders
        for name in names:
            full = Path(root) / name
            if name.endswith(".json") and not full.is_symlink():
                members.append(full.relative_to(folder).as_posix())
                if len(members) > MAX_RECORDS:
                    raise SnapshotError(f"{folder} holds more than {MAX_RECORDS} records; not read")
    return sorted(members)


def iter_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(member name, record) for every OSV JSON record in a zip or folder. A record that is not a JSON object
    with an id and `affected` list raises SnapshotError naming it: a corrupt snapshot is not half-read."""
    if path.is_dir():
        for member in _json_members(path):
            full = path / member
            if full.stat().st_size > MAX_RECORD_BYTES:
                raise SnapshotError(f"{member} is larger than {MAX_RECORD_BYTES} bytes")
            yield member, _record(member, full.read_bytes())
        return
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise SnapshotError(f"{path.name} is not a zip of OSV records ({e})") from e
    with archive:
        members = [i for i in archive.infolist() if i.filename.endswith(".json") and not i.is_dir()]
        if len(members) > MAX_RECORDS:
            raise SnapshotError(f"{path.name} holds more than {MAX_RECORDS} records; not read")
        for info in members:
            if info.file_size > MAX_RECORD_BYTES:
                raise SnapshotError(f"{info.filename} is larger than {MAX_RECORD_BYTES} bytes")
            try:
                with archive.open(info) as stream:
                    data = stream.read(MAX_RECORD_BYTES + 1)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
                raise SnapshotError(f"{info.filename} cannot be read from {path.name} ({e})") from e
            if len(data) > MAX_RECORD_BYTES:  # the zip's own size field lied
                raise SnapshotError(f"{info.filename} is larger than {MAX_RECORD_BYTES} bytes")
            yield info.filename, _record(info.filename, data)


def _record(member: str, data: bytes) -> dict[str, Any]:
    try:
        record = strict_json(data, member)
    except JsonRefused as e:
        raise SnapshotError(str(e)) from e
    if not (isinstance(record, dict) and isinstance(record.get("id"), str)
            and isinstance(record.get("affected", []), list)):
        raise SnapshotError(f"{member} is not an OSV record (no `id`, or `affected` is not a list)")
    return record


# --- the index ----------------------------------------------------------------------------------------------

def index_path_for(snapshot: Path, sha256: str) -> Path:
    """Beside the snapshot, named by its digest: a new snapshot gets a new index, never a stale one."""
    return snapshot.parent / f".{snapshot.name}.{sha256}.wgindex.sqlite"


def cache_dir() -> Path:
    """Where network snapshots are copied, and indexes kept when a snapshot's folder is read-only."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "weightgate" / "advisories"


def open_index(snapshot: Path, sha256: str, *, beside: bool = True) -> tuple[AdvisoryIndex, SnapshotInfo]:
    """The index of a snapshot whose digest the caller has checked, built on first use. Raises SnapshotError.

    The index is derived data that nothing pins: `beside=False` neither reads nor writes one beside the snapshot
    (only the user's cache), for runs where the snapshot's folder is the change under review (--policy-ref), which
    could otherwise bring a forged index that hides advisories."""
    import sqlite3

    cached = cache_dir() / f"{sha256}.wgindex.sqlite"
    candidates = [index_path_for(snapshot, sha256), cached] if beside else [cached]
    for candidate in candidates:
        index = _open_existing(candidate, sha256)
        if index is not None:
            return index, index.info(str(candidate))
    for candidate in candidates:
        with contextlib.suppress(OSError, sqlite3.Error):
            _build_index_file(snapshot, sha256, candidate)
            index = _open_existing(candidate, sha256)
            if index is not None:
                return index, index.info(str(candidate))
    # Nowhere to keep it (a read-only checkout and no home): index in memory for this run only.
    connection = sqlite3.connect(":memory:")
    _fill(connection, snapshot, sha256)
    index = AdvisoryIndex(connection)
    return index, index.info(":memory:")


def _open_existing(path: Path, sha256: str) -> AdvisoryIndex | None:
    import sqlite3

    if not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        index = AdvisoryIndex(connection)
        if index.meta("sha256") == sha256 and index.meta("format") == INDEX_FORMAT:
            return index
        connection.close()
    except sqlite3.Error:
        pass
    return None


def _build_index_file(snapshot: Path, sha256: str, target: Path) -> None:
    import sqlite3
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=target.name, suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        connection = sqlite3.connect(temporary)
        try:
            _fill(connection, snapshot, sha256)
        finally:
            connection.close()
        os.chmod(temporary, 0o644)  # derived from public advisory data: readable like the snapshot
        os.replace(temporary, target)  # readers see the whole index or none
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _fill(connection: sqlite3.Connection, snapshot: Path, sha256: str) -> None:
    connection.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE advisory (package TEXT NOT NULL, record TEXT NOT NULL);"
    )
    records = pypi_records = 0
    newest: datetime.datetime | None = None
    rows: list[tuple[str, str]] = []
    for _member, record in iter_records(snapshot):
        records += 1
        modified = osv_time(record.get("modified"))
        if modified is not None and (newest is None or modified > newest):
            newest = modified
        if record.get("withdrawn"):
            continue
        packages = _pypi_packages(record)
        pypi_records += bool(packages)
        rows.extend((name, json.dumps(_compact(record, name), separators=(",", ":"))) for name in packages)
    if not pypi_records:
        raise SnapshotError(f"{snapshot.name} holds {records} records and none for a {ECOSYSTEM} package: "
                            "an empty or foreign snapshot is not evidence of no vulnerabilities")
    connection.executemany("INSERT INTO advisory VALUES (?, ?)", rows)
    connection.execute("CREATE INDEX by_package ON advisory (package)")
    connection.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("format", INDEX_FORMAT), ("sha256", sha256), ("records", str(records)), ("pypi_records", str(pypi_records)),
        ("newest_modified", newest.isoformat() if newest else ""),
    ])
    connection.commit()


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pypi_packages(record: dict[str, Any]) -> set[str]:
    from packaging.utils import canonicalize_name

    names: set[str] = set()
    for affected in _list(record.get("affected")):
        package = affected.get("package") if isinstance(affected, dict) else None
        if isinstance(package, dict) and package.get("ecosystem") == ECOSYSTEM and isinstance(package.get("name"), str):
            names.add(canonicalize_name(package["name"]))
    return names


def _compact(record: dict[str, Any], name: str) -> dict[str, Any]:
    """What matching and reporting need of a record, for one package."""
    from packaging.utils import canonicalize_name

    # Only well-formed parts are kept: a range is a dict with a list of events, a version a string. What the
    # matcher then reads is always of the shape it expects, whatever the record held.
    affected = [
        {"ranges": [{"type": r.get("type"), "events": [e for e in r["events"] if isinstance(e, dict)]}
                    for r in _list(a.get("ranges")) if isinstance(r, dict) and isinstance(r.get("events"), list)],
         "versions": [v for v in _list(a.get("versions")) if isinstance(v, str)]}
        for a in _list(record.get("affected"))
        if isinstance(a, dict) and isinstance(a.get("package"), dict)
        and a["package"].get("ecosystem") == ECOSYSTEM and canonicalize_name(str(a["package"].get("name"))) == name
    ]
    database = record.get("database_specific")
    return {
        "id": record["id"], "aliases": [a for a in _list(record.get("aliases")) if isinstance(a, str)],
        "summary": record.get("summary") if isinstance(record.get("summary"), str) else "",
        "severity": _list(record.get("severity")),
        "db_severity": database.get("severity") if isinstance(database, dict) else None,
        "published": record.get("published"), "modified": record.get("modified"),
        "references": [r.get("url") for r in _list(record.get("references"))
                       if isinstance(r, dict) and isinstance(r.get("url"), str)][:5],
        "affected": affected,
    }


class AdvisoryIndex:
    """Look-ups in one snapshot's index."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def meta(self, key: str) -> str | None:
        row = self._connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def info(self, index_path: str) -> SnapshotInfo:
        newest = self.meta("newest_modified") or ""
        return SnapshotInfo(self.meta("sha256") or "", int(self.meta("records") or 0),
                            int(self.meta("pypi_records") or 0),
                            datetime.datetime.fromisoformat(newest) if newest else None, index_path)

    def affecting(self, name: str, version: str) -> tuple[Advisory, ...]:
        """The advisories that list `version` of package `name` as affected."""
        from packaging.utils import canonicalize_name

        rows = self._connection.execute("SELECT record FROM advisory WHERE package = ?",
                                        (canonicalize_name(name),)).fetchall()
        found = []
        for (text,) in rows:
            record = strict_json(text, "an indexed advisory")  # the index is derived data beside the snapshot
            if any(affects(a, version) for a in record["affected"]):
                found.append(_advisory(record, version))
        return tuple(sorted(found, key=lambda a: a.id))

    def close(self) -> None:
        self._connection.close()


# --- matching ------------------------------------------------------------------------------------------------

def affects(affected: dict[str, Any], version: str) -> bool:
    """Whether one OSV `affected` entry covers `version`: its explicit `versions`, or an ECOSYSTEM or SEMVER
    range evaluated as the OSV schema says (events sorted by version, introduced/fixed/last_affected)."""
    from packaging.version import InvalidVersion, Version

    if version in affected.get("versions", ()):
        return True
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False  # `===` of a non-PEP 440 version: only an explicit listing can name it
    listed = affected.get("versions", ())
    if any(_same_version(v, parsed) for v in listed):
        return True
    return any(_in_range(r.get("events") or [], parsed) for r in affected.get("ranges", ())
               if isinstance(r, dict) and r.get("type") in ("ECOSYSTEM", "SEMVER"))


def _same_version(text: Any, version: Version) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return isinstance(text, str) and Version(text) == version
    except InvalidVersion:
        return False


def _event_key(event: dict[str, Any]) -> tuple[int, Version]:
    from packaging.version import Version

    kind, value = next(iter(event.items()))
    if kind == "introduced" and value == "0":
        return (0, Version("0"))
    return (1, Version(str(value)))


def _in_range(events: list[Any], version: Version) -> bool:
    from packaging.version import InvalidVersion

    usable = [e for e in events if isinstance(e, dict) and len(e) == 1
              and next(iter(e)) in ("introduced", "fixed", "last_affected")]
    try:
        ordered = sorted(usable, key=_event_key)
    except InvalidVersion:
        # A range the ecosystem's version rules cannot order: say affected rather than miss it; the explicit
        # versions list (checked first) is the precise answer when the record has one.
        return True
    affected = False
    for event in ordered:
        kind, value = next(iter(event.items()))
        bound = _event_key(event)[1]
        if kind == "introduced" and (value == "0" or version >= bound):
            affected = True
        elif (kind == "fixed" and version >= bound) or (kind == "last_affected" and version > bound):
            affected = False
    return affected


def fixed_versions(record: dict[str, Any], version: str) -> tuple[str, ...]:
    """The `fixed` versions above `version` in the record's ranges for this package, lowest first."""
    from packaging.version import InvalidVersion, Version

    found: set[str] = set()
    for affected in record["affected"]:
        for r in affected.get("ranges", ()):
            if not isinstance(r, dict) or r.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            for event in r.get("events") or ():
                if isinstance(event, dict) and isinstance(event.get("fixed"), str):
                    found.add(event["fixed"])
    try:
        current = Version(version)
        return tuple(sorted((f for f in found if _above(f, current)), key=Version))
    except InvalidVersion:
        return tuple(sorted(found))


def _above(text: str, version: Version) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text) > version
    except InvalidVersion:
        return False


def _advisory(record: dict[str, Any], version: str) -> Advisory:
    return Advisory(record["id"], tuple(record["aliases"]), record["summary"] or "",
                    cvss_rating(record["severity"], record.get("db_severity")), fixed_versions(record, version),
                    osv_time(record.get("published")), osv_time(record.get("modified")), tuple(record["references"]))


_METHODS = ("CVSS_V4", "CVSS_V3", "CVSS_V2")


def cvss_rating(severities: Any, database_severity: Any = None) -> CvssRating | None:
    """The record's CVSS base score and rating (CVSS v4, then v3, then v2), computed from the vector by the
    `cvss` library. Without a vector, a GHSA-style `database_specific.severity` gives the label alone."""
    import cvss  # imported when an advisory matches: most runs match nothing

    by_type = {s.get("type"): s.get("score") for s in severities if isinstance(s, dict)} \
        if isinstance(severities, list) else {}
    for method in _METHODS:
        vector = by_type.get(method)
        if not isinstance(vector, str):
            continue
        try:
            if method == "CVSS_V4":
                v4 = cvss.CVSS4(vector)
                return CvssRating(float(v4.base_score), str(v4.severity).lower(), vector, method)
            if method == "CVSS_V3":
                v3 = cvss.CVSS3(vector)
                return CvssRating(float(v3.scores()[0]), str(v3.severities()[0]).lower(), vector, method)
            v2 = cvss.CVSS2(vector)
            score = float(v2.scores()[0])
            return CvssRating(score, _v2_label(score), vector, method)
        except (cvss.CVSSError, ValueError, IndexError, KeyError):
            continue  # a malformed vector: try the next kind
    if isinstance(database_severity, str) and database_severity.lower() in ("critical", "high", "moderate", "low"):
        label = "medium" if database_severity.lower() == "moderate" else database_severity.lower()
        return CvssRating(0.0, label, "", "")
    return None


def _v2_label(score: float) -> str:
    # CVSS v2 defines no rating names; NVD's bands are the usual ones.
    return "high" if score >= 7.0 else "medium" if score >= 4.0 else "low"
