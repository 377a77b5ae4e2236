"""A mirror on a web server or artifact repository: `https://host/prefix` (plain http only when allowed)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from weightgate.facts import FileStatus
from weightgate.mirror.base import ListedEntry, MirrorFileError, MirrorNotListable, MirrorUnavailable
from weightgate.mirror.local import unsafe_path_reason
from weightgate.mirror.settings import MirrorSettings
from weightgate.mirror.transport import (
    HttpStream,
    Transport,
    approved_origin,
    bearer_or_netrc,
    display_url,
    url_refusal,
)

TOKEN_VARS = ("WEIGHTGATE_MIRROR_TOKEN",)


class HttpMirror:
    def __init__(self, base_uri: str, settings: MirrorSettings) -> None:
        refusal = url_refusal(base_uri, settings)
        if refusal:
            raise MirrorUnavailable(f"{display_url(base_uri)}: {refusal}")
        self.uri = base_uri.rstrip("/")
        # The manifest names this host: the token goes only to an https origin the policy approved.
        approved = approved_origin(self.uri + "/", settings)
        self._transport = Transport(settings, bearer_or_netrc(self.uri, settings.environ, TOKEN_VARS)
                                    if approved else None)

    def uri_of(self, path: str) -> str:
        return f"{self.uri}/{path}"

    def open(self, path: str) -> HttpStream:
        reason = unsafe_path_reason(path)
        if reason:
            raise MirrorFileError(FileStatus.ESCAPED, f"{reason}; it is never followed")
        return self._transport.open_stream(f"{self.uri}/{quote(path)}", self.uri_of(path))

    def list_files(self) -> Iterator[ListedEntry]:
        # A web server has no standard listing (index pages are HTML meant for people, and often off): what else
        # the folder holds is unknown, and that is said, never assumed empty.
        raise MirrorNotListable(f"{display_url(self.uri)}: a web server offers no file listing, so nothing shows "
                                "that only the pinned files are there")
