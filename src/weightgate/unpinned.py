"""What lies beside the pinned files: each artifact's location listed once, minus what the manifest references.

`from_pretrained` on a folder, a copy of the folder into a serving image and a snapshot download at the same
revision all take every file there, not only the pinned ones: an unpinned `pytorch_model.bin` or
`modeling_x.py` is loaded although nobody reviewed it. Pinned files are never re-read here (the verify pass
streams them); an unpinned file of a local mirror is read only for its first HEAD_BYTES, to tell code from data
by content as well as by name. Network mirrors are listed, never read.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from weightgate.facts import ListingStatus, MirrorListing, SupersededPin, UnpinnedFile
from weightgate.formats import CODE_ON_LOAD, Format
from weightgate.manifest import Artifact, Manifest
from weightgate.mirror import MirrorKind, MirrorLocation
from weightgate.mirror.base import (
    MAX_LISTED_FILES,
    EntryKind,
    ListedEntry,
    Mirror,
    MirrorFileError,
    MirrorNotListable,
    MirrorUnavailable,
)
from weightgate.mirror.local import unsafe_path_reason
from weightgate.textsafety import redact_url, redact_urls

log = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024  # of an unpinned local file read to tell its format (detect.HEAD_BYTES, without its imports)
# Unpinned files per location whose heads are read; past it, names decide (a file is still reported, WG310 at
# least), so a folder of junk costs at most MAX_SNIFFED_FILES * HEAD_BYTES of reading.
MAX_SNIFFED_FILES = 10_000
# Names Python imports or the dynamic loader maps: code whatever the bytes look like.
PROGRAM_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".pyw", ".so", ".dll", ".dylib")
# Names that loaders unpickle or deserialize with code (torch.load, joblib, Keras): code when the content is not
# known (network mirrors, symlinks), and for local files when the content agrees.
LOADER_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".keras", ".h5", ".hdf5")
# Formats whose usual loader can run code from the file: pickles and their containers, and Keras (Lambda layers).
CODE_FORMATS = CODE_ON_LOAD | {Format.KERAS_V3, Format.HDF5}
# Config keys that make transformers and diffusers import Python named by the config (trust_remote_code).
CUSTOM_CODE_KEYS = (b'"auto_map"', b'"custom_pipelines"')

MirrorOpener = Callable[[MirrorLocation], Mirror]


@dataclass(frozen=True)
class _Plan:
    """One location to list: the artifact it is reported for, what is referenced there, nested locations."""

    artifact_id: str
    location: MirrorLocation
    referenced: frozenset[str]
    nested: tuple[str, ...]  # sub-folders that are other artifacts' locations (listed for those)


def list_unpinned(manifest: Manifest, locations: Mapping[str, MirrorLocation | None], opener: MirrorOpener,
                  offline: bool) -> dict[str, MirrorListing]:
    """Each artifact's listing: the files under its location that the manifest does not reference. Offline,
    only local folders are listed (cheap); network mirrors are recorded as not checked."""
    listings: dict[str, MirrorListing] = {}
    for plan in _plans(manifest, locations):
        location = plan.location
        if offline and location.kind is not MirrorKind.LOCAL:
            listings[plan.artifact_id] = MirrorListing(plan.artifact_id, redact_url(location.uri),
                                                       ListingStatus.NOT_CHECKED,
                                                       reason="offline run: the mirror was not listed")
            continue
        try:
            mirror = opener(location)
        except MirrorUnavailable as e:  # WG308 reports the mirror itself
            listings[plan.artifact_id] = MirrorListing(plan.artifact_id, redact_url(location.uri),
                                                       ListingStatus.NOT_CHECKED, reason=redact_urls(str(e)))
            continue
        listings[plan.artifact_id] = _listing(plan, mirror, sniff=location.kind is MirrorKind.LOCAL)
    return listings


def _listing(plan: _Plan, mirror: Mirror, sniff: bool) -> MirrorListing:
    base = MirrorListing(plan.artifact_id, redact_url(mirror.uri), ListingStatus.LISTED)
    unpinned: list[UnpinnedFile] = []
    pinned_versions = dict(plan.location.versions)
    current: dict[str, str | None] = {}  # pinned-by-version paths seen, with the version the listing calls current
    seen = 0
    try:
        for entry in mirror.list_files():
            seen += 1
            if seen > MAX_LISTED_FILES:
                return _done(base, unpinned, MAX_LISTED_FILES, ListingStatus.TRUNCATED,
                             f"more than {MAX_LISTED_FILES} entries; the rest were not looked at")
            path = _normal(entry.path)
            if path in pinned_versions:
                current[path] = entry.version
            if path in plan.referenced or any(path.startswith(folder + "/") for folder in plan.nested):
                continue
            unpinned.append(_describe(entry, path, mirror, sniff and len(unpinned) < MAX_SNIFFED_FILES))
    except MirrorNotListable as e:
        return _done(base, unpinned, seen, ListingStatus.NOT_LISTABLE, str(e))
    except MirrorUnavailable as e:
        return _done(base, unpinned, seen, ListingStatus.UNAVAILABLE, str(e))
    superseded = tuple(
        SupersededPin(path, redact_url(mirror.uri_of(path)), version, current.get(path))
        for path, version in sorted(pinned_versions.items())
        if current.get(path) != version and (path in current or plan.location.kind is MirrorKind.S3)
    )
    return replace(_done(base, unpinned, seen, ListingStatus.LISTED, ""), superseded=superseded)


def _done(base: MirrorListing, unpinned: list[UnpinnedFile], seen: int, status: ListingStatus,
          reason: str) -> MirrorListing:
    return MirrorListing(base.artifact_id, base.uri, status, tuple(sorted(unpinned, key=lambda u: u.path)), seen,
                         redact_urls(reason))


def _describe(entry: ListedEntry, path: str, mirror: Mirror, sniff: bool) -> UnpinnedFile:
    uri = redact_url(mirror.uri_of(entry.path))
    if entry.kind is EntryKind.SYMLINK:
        return UnpinnedFile(path, uri, None, _code_by_name(path), link_target=entry.link_target)
    if entry.kind is EntryKind.SPECIAL:
        return UnpinnedFile(path, uri, None, _code_by_name(path), special=True)
    head = _head(mirror, entry.path) if sniff else None
    if head is None:
        return UnpinnedFile(path, uri, entry.size, _code_by_name(path))
    fmt = _format(head, entry.size)
    return UnpinnedFile(path, uri, entry.size, classify(path, fmt, head), fmt)


def classify(path: str, fmt: Format | None, head: bytes | None) -> str:
    """Why a file can run code when loaded or imported ("" when nothing says so). By name for modules and native
    libraries; by content when the first bytes are known, else by the names loaders unpickle."""
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(PROGRAM_SUFFIXES):
        return f"{name.rsplit('.', 1)[-1]} file: Python imports or the loader maps it by name"
    if fmt is None or head is None:
        return _code_by_name(path)
    if fmt in CODE_FORMATS:
        return f"its content is {fmt.value}, which runs code when loaded"
    if fmt in (Format.ZIP, Format.TAR) and (name.endswith(LOADER_SUFFIXES) or b".pkl" in head):
        return f"a {fmt.value} archive holding a pickle (torch.load unpickles it)"
    if fmt is Format.JSON and any(key in head for key in CUSTOM_CODE_KEYS):
        return "a config naming custom code (auto_map / custom_pipelines): transformers imports it"
    return ""


def _code_by_name(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(PROGRAM_SUFFIXES):
        return f"{name.rsplit('.', 1)[-1]} file: Python imports or the loader maps it by name"
    if name.endswith(LOADER_SUFFIXES):
        return f"{name.rsplit('.', 1)[-1]} file: loaders unpickle or deserialize it with code (content not read)"
    return ""


def _head(mirror: Mirror, path: str) -> bytes | None:
    """The first HEAD_BYTES of a regular file, or None when it cannot be opened as one (the mirror refuses
    symlinks out of the root, FIFOs and devices; a vanished file has nothing to load)."""
    try:
        handle = mirror.open(path)
    except (MirrorFileError, OSError):
        return None
    try:
        buffer = bytearray(HEAD_BYTES)
        view = memoryview(buffer)
        filled = 0
        while filled < HEAD_BYTES:
            n = handle.readinto(view[filled:])
            if not n:
                break
            filled += n
        return bytes(buffer[:filled])
    except OSError as e:
        log.info("%s: head not read: %s", mirror.uri_of(path), e)
        return None
    finally:
        handle.close()


def _format(head: bytes, size: int | None) -> Format:
    # Imported here: the detectors pull in the format modules, and a folder with no unpinned files needs none.
    from weightgate.formats.detect import detect_head

    return detect_head(head, size if size is not None else -1)


# --- what the manifest references at each location ---------------------------------------------------------


def _plans(manifest: Manifest, locations: Mapping[str, MirrorLocation | None]) -> Iterator[_Plan]:
    """One plan per distinct location, for the first artifact there (so a shared folder is reported once); the
    references of every artifact at a location count as referenced there."""
    first: dict[str, tuple[str, MirrorLocation]] = {}
    referenced: dict[str, set[str]] = {}
    for artifact in manifest.artifacts:
        location = locations.get(artifact.id)
        if location is None:
            continue
        first.setdefault(_key(location), (artifact.id, location))
        referenced.setdefault(_key(location), set()).update(_references(artifact, location))
    nested = _nested(list(first))
    for uri, (artifact_id, location) in first.items():
        yield _Plan(artifact_id, location, frozenset(referenced[uri] | _link_targets(location, referenced[uri])),
                    nested[uri])


def _nested(keys: list[str]) -> dict[str, tuple[str, ...]]:
    """For each location, the other locations under it (relative, in manifest order). The locations under `uri`
    are one run of the sorted keys, those starting with `uri/`: comparing every pair instead took 10 s of an
    offline check of 10,000 artifacts (issue 18)."""
    order = {key: i for i, key in enumerate(keys)}
    ranked = sorted(keys)
    nested = {}
    for uri in keys:
        prefix = uri + "/"
        at = bisect.bisect_left(ranked, prefix)
        under = []
        while at < len(ranked) and ranked[at].startswith(prefix):
            under.append(ranked[at])
            at += 1
        nested[uri] = tuple(other[len(prefix):] for other in sorted(under, key=order.__getitem__))
    return nested


def _link_targets(location: MirrorLocation, paths: set[str]) -> set[str]:
    """Where referenced symlinks of a local folder lead inside it (a Hugging Face cache snapshot links each file
    to a blob): those bytes are the referenced ones, streamed through the link."""
    root = location.local_path
    if root is None:
        return set()
    targets = set()
    for path in paths:
        if (root / path).is_symlink():
            real = Path(os.path.realpath(root / path))
            if root.resolve() in real.parents:
                targets.add(real.relative_to(root.resolve()).as_posix())
    return targets


def _key(location: MirrorLocation) -> str:
    return location.uri.rstrip("/")


def _references(artifact: Artifact, location: MirrorLocation) -> set[str]:
    """Paths under the location the manifest names for the artifact: pinned files, the signature bundle, the eval
    evidence and the model card (the latter three are checked by their own rules, so they are not 'unpinned')."""
    from weightgate.governance.model_card import card_path

    names = [f.path for f in artifact.files]
    names += [artifact.signature.bundle] if artifact.signature else []
    names += [artifact.eval_evidence.path] if artifact.eval_evidence else []
    names += [card] if (card := card_path(artifact)) else []
    return {path for name in names if (path := _relative(name, location)) is not None}


def _relative(reference: str, location: MirrorLocation) -> str | None:
    """`reference` as a path under the location, or None when it lies elsewhere (or is not a usable path)."""
    if "://" in reference:
        if reference.startswith("file://") and location.local_path is not None:
            target = Path(unquote(urlsplit(reference).path)).resolve()
            root = location.local_path.resolve()
            return target.relative_to(root).as_posix() if root in target.parents else None
        prefix = _key(location) + "/"
        return _normal(reference[len(prefix):]) if reference.startswith(prefix) else None
    return None if unsafe_path_reason(reference) else _normal(reference)


def _normal(path: str) -> str:
    return str(PurePosixPath(path))
