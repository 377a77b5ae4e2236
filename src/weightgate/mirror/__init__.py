"""Mirrors: where the deployed bytes are read from. Locating a mirror is pure; opening one may do I/O."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weightgate.manifest import Artifact, Manifest
from weightgate.mirror.base import Mirror, MirrorUnavailable


@dataclass(frozen=True)
class MirrorLocation:
    """Where an artifact's files live: a URI, plus the local directory when it is on this machine."""

    uri: str
    local_path: Path | None

    @property
    def scheme(self) -> str:
        return "file" if self.local_path is not None else urlsplit(self.uri).scheme.lower()

    @property
    def host(self) -> str:
        return (urlsplit(self.uri).hostname or "").lower()


def _is_uri(text: str) -> bool:
    return "://" in text or text.startswith(("hf:", "s3:", "gs:"))


def _location(text: str, base: Path) -> MirrorLocation:
    if text.startswith("file://"):
        path = Path(unquote(urlsplit(text).path))
        return MirrorLocation(path.resolve().as_uri(), path.resolve())
    if _is_uri(text):
        return MirrorLocation(text, None)
    path = (base / text).resolve()
    return MirrorLocation(path.as_uri(), path)


def locate_mirror(artifact: Artifact, manifest: Manifest, override: str | None) -> MirrorLocation | None:
    """The artifact's mirror. `--mirror` (override) replaces the manifest's `mirror_base`; relative artifact
    mirrors are joined to that base (or the manifest's folder). With a base and no artifact mirror, the
    artifact lives at `<base>/<artifact id>`."""
    manifest_dir = manifest.path.resolve().parent
    base_text = override if override is not None else manifest.mirror_base
    if artifact.mirror is not None and _is_uri(artifact.mirror):
        return _location(artifact.mirror, manifest_dir)
    if base_text is None:
        return _location(artifact.mirror, manifest_dir) if artifact.mirror is not None else None
    base = _location(base_text, Path.cwd() if override is not None else manifest_dir)
    sub = artifact.mirror if artifact.mirror is not None else artifact.id
    if base.local_path is not None:
        return _location(sub, base.local_path)
    return MirrorLocation(f"{base.uri.rstrip('/')}/{sub.strip('/')}", None)


def open_mirror(location: MirrorLocation) -> Mirror:
    """A Mirror for the location. Raises MirrorUnavailable with a message a user can act on."""
    if location.local_path is not None:
        from weightgate.mirror.local import LocalMirror

        return LocalMirror(location.local_path)
    raise MirrorUnavailable(
        f"{location.scheme}:// mirrors are not supported by this version of weightgate; use a local directory "
        "or file:// URI"
    )
