"""A Hugging Face-compatible endpoint (an internal hub proxy such as olah): `hf://org/name`, read at a full commit.

Files are streamed from `<endpoint>/<repo>/resolve/<commit>/<path>` through the shared transport, so the same TLS,
redirect and credential rules apply as for any web mirror; nothing is written to a download cache. The public
hub is never contacted: without an internal endpoint an hf:// mirror is unavailable.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

from weightgate.facts import FileStatus
from weightgate.mirror.base import ListedEntry, MirrorFileError, MirrorUnavailable
from weightgate.mirror.local import unsafe_path_reason
from weightgate.mirror.settings import MirrorSettings
from weightgate.mirror.transport import (
    MAX_JSON_BYTES,
    HttpStream,
    Transport,
    bearer_or_netrc,
    display_url,
    origin_of,
    url_refusal,
)
from weightgate.refs import is_commit
from weightgate.strictjson import JsonRefused, strict_json

TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
REPO_TYPES = {"datasets": "datasets", "spaces": "spaces"}
MAX_TREE_PAGES = 1_000  # the hub pages trees by 1,000 entries; more pages than files the gate lists is a loop
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class HfRepo:
    kind: str  # "models", "datasets" or "spaces"
    repo_id: str  # org/name
    revision: str | None  # as written after '@' in the URI, if any

    @property
    def url_prefix(self) -> str:
        """The path prefix of the repo on the endpoint (models have none)."""
        return self.repo_id if self.kind == "models" else f"{self.kind}/{self.repo_id}"


def parse_hf_uri(uri: str) -> HfRepo:
    rest = uri.split(":", 1)[1].lstrip("/")
    rest, _, revision = rest.partition("@")
    parts = [p for p in rest.split("/") if p]
    kind = "models"
    if parts and parts[0] in REPO_TYPES:
        kind = REPO_TYPES[parts.pop(0)]
    elif parts and parts[0] == "models":
        parts.pop(0)
    if len(parts) != 2:
        raise MirrorUnavailable(f"{uri}: an hf:// mirror is hf://<org>/<name> (or hf://datasets/<org>/<name>)")
    return HfRepo(kind, "/".join(parts), revision or None)


def hf_endpoint(settings: MirrorSettings) -> str:
    if not settings.hf_endpoint:
        raise MirrorUnavailable("hf:// mirrors need an internal Hugging Face-compatible endpoint "
                                "(mirrors.hf_endpoint in the policy, or --hf-endpoint); weightgate does not pull "
                                "from the public hub at deploy time")
    refusal = url_refusal(settings.hf_endpoint, settings)
    if refusal:
        raise MirrorUnavailable(f"hf endpoint: {refusal}")
    return settings.hf_endpoint.rstrip("/")


def hf_transport(endpoint: str, settings: MirrorSettings) -> Transport:
    return Transport(settings, bearer_or_netrc(endpoint, settings.environ, TOKEN_VARS))


def resolve_revision(transport: Transport, endpoint: str, repo: HfRepo, ref: str) -> str:
    """The commit a branch or tag points at now, from the endpoint's API. Raises MirrorFileError."""
    answer = transport.get_json(f"{endpoint}/api/{repo.kind}/{repo.repo_id}/revision/{quote(ref, safe='')}")
    sha = answer.get("sha") if isinstance(answer, dict) else None
    if not is_commit(sha):  # whole and ASCII: "<40 hex>\n" is not a commit, and pin would write it
        raise MirrorFileError(FileStatus.UNREADABLE, f"{repo.repo_id}@{ref}: the endpoint answered no commit id")
    return str(sha)


class HfMirror:
    def __init__(self, uri: str, revision: str | None, settings: MirrorSettings) -> None:
        self.repo = parse_hf_uri(uri)
        commit = self.repo.revision or revision
        if commit is None or not is_commit(commit):
            shown = "no revision" if commit is None else f"revision {commit!r}"
            raise MirrorUnavailable(f"{uri}: {shown} is not a full 40-hex commit, so the bytes could move while "
                                    "being read; run `weightgate pin`")
        self.commit = commit
        self.endpoint = hf_endpoint(settings)
        self.uri = f"{self.endpoint}/{self.repo.url_prefix}/resolve/{commit}"
        self._transport = hf_transport(self.endpoint, settings)

    def uri_of(self, path: str) -> str:
        return f"{self.uri}/{path}"

    def open(self, path: str) -> HttpStream:
        reason = unsafe_path_reason(path)
        if reason:
            raise MirrorFileError(FileStatus.ESCAPED, f"{reason}; it is never followed")
        return self._transport.open_stream(f"{self.uri}/{quote(path)}", self.uri_of(path), self._same_commit)

    def _same_commit(self, resp: http.client.HTTPResponse) -> None:
        served = resp.getheader("X-Repo-Commit")
        if served is not None and served.strip().lower() != self.commit:
            raise MirrorFileError(FileStatus.UNREADABLE, f"endpoint served commit {served.strip()!r}, not the "
                                  f"pinned {self.commit}")

    def list_files(self) -> Iterator[ListedEntry]:
        """Every file in the repository's tree at the pinned commit (the hub's tree API, recursive, page by page
        through its `Link: rel=next` cursor). Raises MirrorUnavailable when the endpoint cannot list it."""
        url: str | None = f"{self.endpoint}/api/{self.repo.kind}/{self.repo.repo_id}/tree/{self.commit}/?recursive=true"
        for _ in range(MAX_TREE_PAGES):
            if url is None:
                return
            entries, url = self._tree_page(url)
            for entry in entries:
                if isinstance(entry, dict) and entry.get("type") == "file" and isinstance(entry.get("path"), str):
                    size = entry.get("size")
                    yield ListedEntry(entry["path"], size if isinstance(size, int) else None)
        raise MirrorUnavailable(f"{self.repo.repo_id}@{self.commit}: more than {MAX_TREE_PAGES} tree pages")

    def _tree_page(self, url: str) -> tuple[list[Any], str | None]:
        try:
            resp = self._transport.request(url, {"Accept": "application/json"})
            try:
                body = resp.read(MAX_JSON_BYTES + 1)
                link = resp.getheader("Link") or ""
            finally:
                resp.close()
        except MirrorFileError as e:
            raise MirrorUnavailable(f"{self.repo.repo_id}@{self.commit}: cannot list the tree: {e.reason}") from None
        except (OSError, http.client.HTTPException) as e:
            raise MirrorUnavailable(f"{display_url(url)}: tree listing broke off: {e}") from None
        try:
            entries = strict_json(body, "the tree answer") if len(body) <= MAX_JSON_BYTES else None
        except JsonRefused:
            entries = None
        if not isinstance(entries, list):
            raise MirrorUnavailable(f"{display_url(url)}: the tree answer is not a bounded JSON list")
        found = _NEXT_LINK.search(link)
        following = urljoin(url, found.group(1)) if found else None
        if following is not None and origin_of(following) != origin_of(self.endpoint):
            raise MirrorUnavailable(f"{display_url(url)}: the next tree page is on another origin")
        return entries, following
