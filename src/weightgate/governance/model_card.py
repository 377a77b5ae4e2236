"""Hugging Face model cards: README.md with YAML front matter, read with `huggingface_hub.ModelCard` from text
(never from the network), once and bounded.

A card that is one of the artifact's pinned files is captured from the verify pass's own stream
(`CardCapture`), so its bytes are read once and are exactly the bytes that were hashed; a card elsewhere in
the mirror is read on its own, bounded. Parsing turns the text into `ModelCardFacts`; the model card checks
judge them against the policy and the manifest.
"""

from __future__ import annotations

import enum
import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from weightgate.evidence.fetch import mirror_for, read_small
from weightgate.facts import ArtifactFacts
from weightgate.manifest import Artifact, Manifest
from weightgate.mirror import MirrorLocation
from weightgate.mirror.base import ListedEntry, Mirror, MirrorFile, MirrorUnavailable

MAX_CARD_BYTES = 1024 * 1024  # model cards are a few KiB; anything larger is not read as one
MAX_FRONT_MATTER_BYTES = 64 * 1024
DEFAULT_CARD_NAME = "README.md"  # where Hugging Face repositories keep their model card
# Hugging Face's own pattern for the metadata block (huggingface_hub.repocard.REGEX_YAML_BLOCK; a test compares
# them), kept here so a card is read as ModelCard reads it without importing the Hub client (_hf_card).
_FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


class CardStatus(str, enum.Enum):
    READ = "read"
    MISSING = "missing"  # no such file in the mirror
    UNREADABLE = "unreadable"  # could not be read, or larger than MAX_CARD_BYTES
    MALFORMED = "malformed"  # not UTF-8 text, or metadata the model card parser rejects
    NOT_CHECKED = "not-checked"  # offline, or the pinned file failed verification (integrity rules report it)


@dataclass(frozen=True)
class ModelCardFacts:
    artifact_id: str
    path: str
    uri: str
    status: CardStatus
    pinned: bool  # one of the artifact's pinned files (bytes verified in the same pass)
    sha256: str = ""
    present: frozenset[str] = frozenset()  # metadata keys with a non-empty value
    license: str | None = None  # as the card writes it (Hugging Face license id, e.g. apache-2.0 or other)
    license_name: str | None = None  # with license: other
    base_models: tuple[str, ...] = ()
    headings: tuple[str, ...] = ()
    reason: str = ""

    @property
    def read(self) -> bool:
        return self.status is CardStatus.READ


def card_path(artifact: Artifact) -> str | None:
    """The artifact's model card: `model_card.path`, else a pinned top-level README.md."""
    if artifact.model_card_path:
        return artifact.model_card_path
    return DEFAULT_CARD_NAME if any(f.path == DEFAULT_CARD_NAME for f in artifact.files) else None


def _is_pinned(artifact: Artifact, path: str) -> bool:
    return any(f.path == path for f in artifact.files)


# --- reading once ------------------------------------------------------------------------------------------

class _CapturingFile:
    """A mirror file that keeps the first MAX_CARD_BYTES + 1 bytes it hands to the verify pass."""

    def __init__(self, inner: MirrorFile, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink
        self.size = inner.size
        self.uri = inner.uri

    def readinto(self, buffer: memoryview) -> int:
        n = self._inner.readinto(buffer)
        room = MAX_CARD_BYTES + 1 - len(self._sink)
        if room > 0:
            self._sink.extend(buffer[: min(n, room)])
        return n

    def close(self) -> None:
        self._inner.close()


class _CapturingMirror:
    def __init__(self, inner: Mirror, path: str, sink: bytearray) -> None:
        self._inner = inner
        self._path = path
        self._sink = sink
        self.uri = inner.uri

    def open(self, path: str) -> MirrorFile:
        handle = self._inner.open(path)
        if path != self._path:
            return handle
        self._sink.clear()  # a re-open starts the file over
        return _CapturingFile(handle, self._sink)

    def uri_of(self, path: str) -> str:
        return self._inner.uri_of(path)

    def list_files(self) -> Iterator[ListedEntry]:
        return self._inner.list_files()


class CardCapture:
    """Keeps the bytes of pinned model cards as the verify pass streams them (one buffer per artifact)."""

    def __init__(self, manifest: Manifest) -> None:
        self._paths = {a.id: p for a in manifest.artifacts if (p := card_path(a)) and _is_pinned(a, p)}
        self._bytes: dict[str, bytearray] = {}
        self._lock = threading.Lock()

    def wrap(self, artifact_id: str, mirror: Mirror) -> Mirror:
        path = self._paths.get(artifact_id)
        if path is None:
            return mirror
        with self._lock:
            sink = self._bytes.setdefault(artifact_id, bytearray())
        return _CapturingMirror(mirror, path, sink)

    def captured(self, artifact_id: str) -> bytes | None:
        data = self._bytes.get(artifact_id)
        return None if data is None else bytes(data)

    def captured_file(self, artifact_id: str, path: str) -> bytes | None:
        """The kept bytes of `path` when it is the artifact's pinned card (for a shard's facts)."""
        return self.captured(artifact_id) if self._paths.get(artifact_id) == path else None

    def keep(self, artifact_id: str, path: str, data: bytes) -> None:
        """Bytes another run's verify pass kept (`merge` of shards)."""
        if self._paths.get(artifact_id) == path:
            self._bytes[artifact_id] = bytearray(data[: MAX_CARD_BYTES + 1])


MirrorOpener = Callable[[MirrorLocation], Mirror]


def model_card_facts(manifest: Manifest, facts: Mapping[str, ArtifactFacts], capture: CardCapture,
                     locations: Mapping[str, MirrorLocation | None], opener: MirrorOpener,
                     offline: bool) -> dict[str, ModelCardFacts]:
    """Every artifact's model card: pinned ones from the capture, others read from the mirror (not offline)."""
    cards: dict[str, ModelCardFacts] = {}
    for artifact in manifest.artifacts:
        path = card_path(artifact)
        if path is None or artifact.id in cards:
            continue
        base = ModelCardFacts(artifact.id, path, path, CardStatus.NOT_CHECKED, _is_pinned(artifact, path))
        if offline:
            cards[artifact.id] = replace(base, reason="offline run: the model card was not read")
        elif base.pinned:
            cards[artifact.id] = _pinned_card(base, facts.get(artifact.id), capture.captured(artifact.id))
        else:
            try:
                mirror, inner = mirror_for(path, locations.get(artifact.id), opener)
            except MirrorUnavailable as e:
                cards[artifact.id] = replace(base, status=CardStatus.UNREADABLE, reason=str(e))
                continue
            small = read_small(mirror, inner, MAX_CARD_BYTES)
            if small.data is None:
                status = CardStatus.MISSING if small.missing else CardStatus.UNREADABLE
                cards[artifact.id] = replace(base, uri=small.uri, status=status, reason=small.reason)
            else:
                cards[artifact.id] = parse_card(replace(base, uri=small.uri), small.data)
    return cards


def _pinned_card(base: ModelCardFacts, facts: ArtifactFacts | None, data: bytes | None) -> ModelCardFacts:
    file = next((f for f in facts.files if f.path == base.path), None) if facts else None
    if file is None or not file.verified or data is None:
        reason = file.reason or file.status.value if file else "the artifact's files were not read"
        return replace(base, reason=f"the pinned card was not verified ({reason})")
    base = replace(base, uri=file.uri)
    if len(data) > MAX_CARD_BYTES:
        return replace(base, status=CardStatus.UNREADABLE, reason=f"larger than {MAX_CARD_BYTES} bytes")
    return parse_card(base, data)


# --- parsing -----------------------------------------------------------------------------------------------

def parse_card(base: ModelCardFacts, data: bytes) -> ModelCardFacts:
    """The card's metadata and section headings. Anything the parser rejects is MALFORMED, never an error."""
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return replace(base, status=CardStatus.MALFORMED, sha256=sha256, reason="the card is not UTF-8 text")
    match = _FRONT_MATTER.search(text)
    metadata: dict[str, Any] = {}
    body = text
    if match is not None:
        problem = _front_matter_problem(match.group(2))
        if problem:
            return replace(base, status=CardStatus.MALFORMED, sha256=sha256, reason=problem)
        try:
            metadata, body = _hf_card(text)
        except Exception as e:  # any parser failure on untrusted text is a finding, never a crash
            return replace(base, status=CardStatus.MALFORMED, sha256=sha256,
                            reason=f"the card's metadata is invalid: {type(e).__name__}: {e}"[:300])
    return replace(base, status=CardStatus.READ, sha256=sha256, present=_present(metadata),
                    license=_text(metadata.get("license")), license_name=_text(metadata.get("license_name")),
                    base_models=_texts(metadata.get("base_model")), headings=headings(body))


def _front_matter_problem(block: str) -> str | None:
    """Bound the metadata before the library walks it: aliases can make a small block expand without limit."""
    import yaml

    if len(block.encode()) > MAX_FRONT_MATTER_BYTES:
        return f"the card's metadata block is larger than {MAX_FRONT_MATTER_BYTES} bytes"
    try:
        for event in yaml.parse(block, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                return "the card's metadata uses YAML aliases, which model card metadata never needs"
    except yaml.YAMLError as e:
        return f"the card's metadata is not valid YAML: {str(e)[:200]}"
    return None


def _hf_card(text: str) -> tuple[dict[str, Any], str]:
    """The metadata and body as huggingface_hub's ModelCard reads a card: its metadata-block split (the
    _FRONT_MATTER pattern), `yaml.safe_load` of the block, a dict or nothing, and its own ModelCardData, which
    validates the evaluation results. ModelCard itself is not imported: it pulls in the Hub client's network
    stack (httpx, hf_api), 0.1-0.2 s of a check (issue 18). tests/checks/test_model_cards.py holds this to
    ModelCard, card by card."""
    import yaml
    from huggingface_hub.repocard_data import ModelCardData

    match = _FRONT_MATTER.search(text)
    if match is None:
        data: Any = {}
        body = text
    else:
        data = yaml.safe_load(match.group(2))
        body = text[match.end() :]
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError("repo card metadata block should be a dict")
    card = ModelCardData(**data, ignore_metadata_errors=False)
    return dict(card.to_dict()), body  # type: ignore[no-untyped-call]


def _present(metadata: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(k for k, v in metadata.items() if v not in (None, "", [], {}))


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _texts(value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    return tuple(v.strip() for v in values if isinstance(v, str) and v.strip())


def headings(markdown: str) -> tuple[str, ...]:
    """ATX (`## Intended uses`) and setext (underlined) headings, outside fenced code blocks."""
    found: list[str] = []
    fenced = False
    previous = ""
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced:
            atx = _ATX_HEADING.match(line)
            if atx:
                found.append(atx.group(1).strip())
            elif previous.strip() and _SETEXT_UNDERLINE.match(line):
                found.append(previous.strip())
        previous = "" if fenced else line
    return tuple(found)


# --- comparing with the manifest ---------------------------------------------------------------------------

def hf_repo_id(uri: str) -> str | None:
    """`org/name` of a Hugging Face model URI (hf://, https://huggingface.co/, or a bare `org/name`), lower-case
    and without a revision; None for anything else."""
    scheme, sep, rest = uri.strip().partition("://")
    if not sep:
        if ":" in uri:
            return None  # models:/..., runs:/... and other non-URL schemes
        rest = uri.strip()
    elif scheme.lower() != "hf":
        host, _, rest = rest.partition("/")
        if host.lower() not in ("huggingface.co", "hf.co", "www.huggingface.co"):
            return None
    segments = [s for s in rest.split("/") if s]
    if len(segments) < 2 or segments[0] in ("datasets", "spaces"):
        return None
    return f"{segments[0]}/{segments[1].partition('@')[0]}".lower()
