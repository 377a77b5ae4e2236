"""Mirrors: where the deployed bytes are read from. Locating a mirror is pure; opening one may do I/O."""

from __future__ import annotations

import enum
import functools
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Protocol
from urllib.parse import unquote, urlsplit

from weightgate.mirror.base import Mirror, MirrorUnavailable
from weightgate.mirror.settings import MirrorSettings
from weightgate.textsafety import redact_url

if TYPE_CHECKING:  # `scan` imports the mirrors without building the manifest model
    from weightgate.manifest import Artifact, Manifest


class MirrorKind(str, enum.Enum):
    LOCAL = "local"
    HTTP = "http"  # https://, or http:// where the policy allows it
    S3 = "s3"
    HF = "hf"
    MLFLOW = "mlflow"  # models:/ and runs:/


_KINDS = {"https": MirrorKind.HTTP, "http": MirrorKind.HTTP, "s3": MirrorKind.S3, "hf": MirrorKind.HF,
          "models": MirrorKind.MLFLOW, "runs": MirrorKind.MLFLOW}


@dataclass(frozen=True)
class MirrorLocation:
    """Where an artifact's files live: a URI, plus the local directory when it is on this machine."""

    uri: str
    local_path: Path | None
    revision: str | None = None  # hf:// mirrors: the commit to read (the artifact's pinned source revision)
    versions: tuple[tuple[str, str], ...] = ()  # s3:// mirrors: (file path, object version id) pins

    @property
    def scheme(self) -> str:
        return "file" if self.local_path is not None else urlsplit(self.uri).scheme.lower()

    @property
    def host(self) -> str:
        if self.local_path is not None:
            return ""  # file:///... names no host (and splitting the URI of every local artifact costs)
        return (urlsplit(self.uri).hostname or "").lower()

    @property
    def kind(self) -> MirrorKind | None:
        return MirrorKind.LOCAL if self.local_path is not None else _KINDS.get(self.scheme)


def _is_uri(text: str) -> bool:
    return "://" in text or text.startswith(("hf:", "s3:", "gs:", "models:/", "runs:/"))


def _location(text: str, base: Path, real: Callable[[str], str] = os.path.realpath) -> MirrorLocation:
    if text.startswith("file://"):
        path = Path(unquote(urlsplit(text).path))
        return MirrorLocation(path.resolve().as_uri(), path.resolve())
    if _is_uri(text):
        return MirrorLocation(text, None)
    path = Path(real(os.path.join(base, text)))  # realpath normalises as Path's `/` would, without a Path built
    return MirrorLocation(path.as_uri(), path)


class _RealPaths:
    """`os.path.realpath`, remembering the folders it resolved: thousands of artifacts under one base share every
    folder but the last, so each needs one `lstat` rather than one per component (the resolution of every
    location was a tenth of an offline check of 10,000 artifacts, issue 18). A last component that is a symlink,
    `.` or `..` takes the full resolution, so the answer is always realpath's."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        head, tail = os.path.split(path)
        if not tail or tail in (".", "..") or not os.path.isabs(head):
            return os.path.realpath(path)
        parent = self._folders.get(head)
        if parent is None:
            parent = self._folders[head] = self(head)
        candidate = os.path.join(parent, tail)
        try:
            if stat.S_ISLNK(os.lstat(candidate).st_mode):
                return os.path.realpath(candidate)
        except OSError:
            pass  # not there (yet): realpath keeps the name as written, and so does this
        return candidate


def locate_mirror(artifact: Artifact, manifest: Manifest, override: str | None) -> MirrorLocation | None:
    """The artifact's mirror, with what a network mirror needs to read pinned bytes (commit, version ids)."""
    return _with_read_facts(artifact, _locate(artifact, _Bases(manifest, override)))


def locate_mirrors(manifest: Manifest, override: str | None) -> dict[str, MirrorLocation | None]:
    """Every artifact's mirror (as `locate_mirror`), resolving the manifest's folder and base once, not once per
    artifact: resolving them again was a tenth of an offline check of 10,000 artifacts (issue 18)."""
    bases = _Bases(manifest, override)
    return {a.id: _with_read_facts(a, _locate(a, bases)) for a in manifest.artifacts}


def _with_read_facts(artifact: Artifact, location: MirrorLocation | None) -> MirrorLocation | None:
    if location is None or location.kind not in (MirrorKind.HF, MirrorKind.S3):
        return location
    revision = artifact.source.revision if artifact.source.registry == "huggingface" else None
    # `version_id` is read from the file entries as written (the manifest schema allows it on each file).
    raw_files = artifact.raw.get("files") or []
    versions = tuple((str(f["path"]), str(f["version_id"])) for f in raw_files
                     if isinstance(f, dict) and f.get("version_id") and f.get("path"))
    return MirrorLocation(location.uri, None, revision, versions)


class _Bases:
    """The manifest's folder and its mirror base (`--mirror` replaces `mirror_base`), each resolved when first
    needed, once."""

    def __init__(self, manifest: Manifest, override: str | None) -> None:
        self._manifest = manifest
        self._override = override
        self.text = override if override is not None else manifest.mirror_base
        self.real = _RealPaths()

    @functools.cached_property
    def manifest_dir(self) -> Path:
        return self._manifest.path.resolve().parent

    @functools.cached_property
    def base(self) -> MirrorLocation:
        assert self.text is not None
        return _location(self.text, Path.cwd() if self._override is not None else self.manifest_dir)


def _locate(artifact: Artifact, bases: _Bases) -> MirrorLocation | None:
    """The artifact's mirror. `--mirror` (override) replaces the manifest's `mirror_base`; relative artifact
    mirrors are joined to that base (or the manifest's folder). With a base and no artifact mirror, the
    artifact lives at `<base>/<artifact id>`."""
    if artifact.mirror is not None and _is_uri(artifact.mirror):
        return _location(artifact.mirror, bases.manifest_dir)
    if bases.text is None:
        return _location(artifact.mirror, bases.manifest_dir, bases.real) if artifact.mirror is not None else None
    base = bases.base
    sub = artifact.mirror if artifact.mirror is not None else artifact.id
    if base.local_path is not None:
        return _location(sub, base.local_path, bases.real)
    return MirrorLocation(f"{base.uri.rstrip('/')}/{sub.strip('/')}", None)


class MirrorRules(Protocol):
    """What the policy (or the MirrorSettings built from it) says about where bytes may come from."""

    @property
    def approved_roots(self) -> tuple[str, ...]: ...
    @property
    def public_hubs(self) -> frozenset[str]: ...
    @property
    def allow_http(self) -> bool: ...
    @property
    def hf_endpoint(self) -> str | None: ...
    @property
    def s3_endpoint(self) -> str | None: ...
    @property
    def mlflow_tracking_uri(self) -> str | None: ...


def is_public_host(host: str, public_hubs: frozenset[str]) -> bool:
    return any(host == hub or host.endswith("." + hub) for hub in public_hubs)


def is_public(location: MirrorLocation, rules: MirrorRules) -> bool:
    if location.scheme == "hf":
        # hf:// is read from the policy's internal endpoint; without one it means huggingface.co.
        endpoint = rules.hf_endpoint
        return endpoint is None or is_public_host((urlsplit(endpoint).hostname or "").lower(), rules.public_hubs)
    return is_public_host(location.host, rules.public_hubs)


def plain_http_url(location: MirrorLocation, rules: MirrorRules) -> str | None:
    """The plain-http URL the artifact's bytes would travel over, if the policy does not allow that."""
    if rules.allow_http:
        return None
    endpoint = {MirrorKind.HF: rules.hf_endpoint, MirrorKind.S3: rules.s3_endpoint,
                MirrorKind.MLFLOW: rules.mlflow_tracking_uri}.get(location.kind) if location.kind else None
    url = location.uri if location.kind is MirrorKind.HTTP else endpoint
    return url if url is not None and url.lower().startswith("http://") else None


def under_root(location: MirrorLocation, roots: tuple[str, ...]) -> bool:
    target = str(location.local_path) + "/" if location.local_path is not None else location.uri
    return any(target == root or target.startswith(root) for root in roots)


def mirror_refusal(location: MirrorLocation, rules: MirrorRules) -> str | None:
    """Why an artifact's mirror is not opened at all, decided from the policy before any I/O (WG202, WG203,
    WG206 report the same facts): a public hub, a location outside the approved roots, plain http."""
    shown = redact_url(location.uri)
    if is_public(location, rules):
        hint = " (set an internal Hugging Face-compatible endpoint)" if location.scheme == "hf" else ""
        return f"mirror {shown} is a public hub; it is never read at deploy time{hint}"
    if rules.approved_roots and not under_root(location, rules.approved_roots):
        return f"mirror {shown} is not under an approved root; it is never opened (mirrors.approved_roots)"
    url = plain_http_url(location, rules)
    if url is not None:
        return f"mirror {redact_url(url)} would be read over plain http, which the policy does not allow"
    return None


def open_approved_mirror(location: MirrorLocation, settings: MirrorSettings | None = None) -> Mirror:
    """`open_mirror` for an artifact's mirror named by the manifest: refused (MirrorUnavailable, so its files
    are `not-checked` with the reason) before any connection when the policy does not approve it, so no
    request and no credential goes to a host the manifest chose."""
    settings = settings if settings is not None else MirrorSettings()
    refusal = mirror_refusal(location, settings)
    if refusal is not None:
        raise MirrorUnavailable(refusal)
    return open_mirror(location, settings)


def _assert_never(value: NoReturn) -> NoReturn:
    raise AssertionError(f"unhandled mirror kind {value!r}")


def open_mirror(location: MirrorLocation, settings: MirrorSettings | None = None) -> Mirror:
    """A Mirror for the location. Raises MirrorUnavailable with a message a user can act on. Network mirrors
    import their modules (and optional dependencies) only here."""
    settings = settings if settings is not None else MirrorSettings()
    kind = location.kind
    if kind is None:
        raise MirrorUnavailable(f"{location.scheme}:// mirrors are not supported; use a local directory, "
                                "file://, https://, s3://, hf:// or models:/")
    if kind is MirrorKind.LOCAL:
        from weightgate.mirror.local import LocalMirror

        assert location.local_path is not None
        return LocalMirror(location.local_path)
    if kind is MirrorKind.HTTP:
        from weightgate.mirror.http import HttpMirror

        return HttpMirror(location.uri, settings)
    if kind is MirrorKind.S3:
        from weightgate.mirror.s3 import S3Mirror

        return S3Mirror(location.uri, dict(location.versions), settings)
    if kind is MirrorKind.HF:
        from weightgate.mirror.hf import HfMirror

        return HfMirror(location.uri, location.revision, settings)
    if kind is MirrorKind.MLFLOW:
        from weightgate.mirror.mlflow import MlflowMirror

        return MlflowMirror(location.uri, settings)
    _assert_never(kind)
