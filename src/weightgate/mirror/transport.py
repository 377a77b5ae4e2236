"""HTTP(S) for every network mirror (web server, Hugging Face-compatible endpoint, MLflow REST).

One place decides how weightgate talks to a server:
- TLS is always verified (the system store, or the configured CA bundle); there is no switch to turn it off.
- Plain http only when the policy allows it.
- Redirects are followed only inside the mirror's own origin or an approved mirror root; credentials are sent
  only to the origin they belong to, never to a host a redirect leads to.
- Connection errors, 429 and 5xx are retried a bounded number of times with backoff; a body cut off mid-file
  resumes with a Range request (the resumed bytes feed the same sha256, so a wrong resume cannot pass).
- Every request has a timeout and every file an overall deadline, so a trickling server cannot stall the gate.

Credentials never reach a message, a log line or a URI shown to the user: `Credential` hides its value from
repr, and errors name URLs and status codes only.
"""

from __future__ import annotations

import base64
import http.client
import logging
import netrc
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from weightgate import __version__
from weightgate.facts import FileStatus
from weightgate.mirror.base import MirrorFileError
from weightgate.mirror.settings import MAX_REDIRECTS, MirrorSettings
from weightgate.strictjson import JsonRefused, strict_json
from weightgate.textsafety import redact_url

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 16 * 1024 * 1024  # API answers (revision info, model versions) are small
MAX_DISCARD_BYTES = 64 * 1024  # of a redirect or error body read before the connection is dropped
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_DEFAULT_PORTS = {"https": 443, "http": 80}

ResponseCheck = Callable[[http.client.HTTPResponse], None]


@dataclass(frozen=True)
class Credential:
    """An Authorization header value bound to the one origin it may be sent to."""

    origin: str
    source: str  # where it came from, for messages (never the value)
    header_value: str = field(repr=False)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return f"{scheme}://{host}:{port}"


def display_url(url: str) -> str:
    """The URL with any credentials (user info, signed query parameters) redacted, safe to show."""
    return redact_url(url)


def url_refusal(url: str, settings: MirrorSettings) -> str | None:
    """Why weightgate will not request `url` at all, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        return f"{parts.scheme or 'a scheme-less'} URL is not HTTP(S)"
    if parts.scheme == "http" and not settings.allow_http:
        return "plain http is not allowed by the policy (set mirrors.allow_http only for a trusted network)"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are refused; use WEIGHTGATE_MIRROR_TOKEN or .netrc"
    if not parts.hostname:
        return "URL has no host"
    return None


def approved_origin(url: str, settings: MirrorSettings) -> bool:
    """May credentials go to `url`? Only over https, and only under a URL the policy lists in
    `mirrors.approved_roots` (a policy without URL roots approves no host for credentials)."""
    return url.lower().startswith("https://") and any(
        "://" in root and url.startswith(root) for root in settings.approved_roots)


def bearer_or_netrc(url: str, environ: Mapping[str, str], token_vars: tuple[str, ...]) -> Credential | None:
    """The first token found in `token_vars`, else the .netrc entry for the URL's host, else None."""
    origin = origin_of(url)
    for var in token_vars:
        token = environ.get(var, "").strip()
        if token:
            return Credential(origin, var, f"Bearer {token}")
    return netrc_credential(url, environ)


def basic_credential(url: str, source: str, user: str, password: str) -> Credential:
    value = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return Credential(origin_of(url), source, f"Basic {value}")


def netrc_credential(url: str, environ: Mapping[str, str]) -> Credential | None:
    path = Path(environ["NETRC"]) if environ.get("NETRC") else Path(environ.get("HOME", "~")).expanduser() / ".netrc"
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(urlsplit(url).hostname or "")
    except (OSError, netrc.NetrcParseError):
        log.warning("ignoring unreadable .netrc at %s", path)  # its text may hold secrets: never echo it
        return None
    if entry is None or not entry[0]:
        return None
    return basic_credential(url, ".netrc", entry[0], entry[2] or "")


class Transport:
    """Requests to one mirror. Thread-safe: each request opens its own connection."""

    def __init__(self, settings: MirrorSettings, credential: Credential | None = None) -> None:
        self.settings = settings
        self.credential = credential
        self._context: ssl.SSLContext | None = None

    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            ca = self.settings.ca_bundle
            # create_default_context verifies certificates and host names; nothing here can turn that off.
            self._context = ssl.create_default_context(cafile=str(ca) if ca else None)
        return self._context

    def redirect_refusal(self, start: str, target: str) -> str | None:
        refusal = url_refusal(target, self.settings)
        if refusal:
            return f"redirect to {display_url(target)} refused: {refusal}"
        if origin_of(target) == origin_of(start):
            return None
        host = (urlsplit(target).hostname or "").lower()
        if any(host == hub or host.endswith("." + hub) for hub in self.settings.public_hubs):
            return f"redirect to public hub {host} refused"
        if any(target.startswith(root) for root in self.settings.approved_roots if "://" in root):
            return None
        return (f"redirect to {origin_of(target)} leads outside the mirror and the approved mirror roots; "
                "it is never followed")

    def _headers(self, url: str, extra: Mapping[str, str]) -> dict[str, str]:
        headers = {"User-Agent": f"weightgate/{__version__}", "Accept-Encoding": "identity", **extra}
        # Never over plain http, whatever the policy allows for the bytes: a token in clear text is spent.
        if (self.credential is not None and self.credential.origin == origin_of(url)
                and url.lower().startswith("https://")):
            headers["Authorization"] = self.credential.header_value
        return headers

    def _send(self, url: str, headers: Mapping[str, str], timeout: float) -> http.client.HTTPResponse:
        parts = urlsplit(url)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout,
                                               context=self._ssl())
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", target, headers=self._headers(url, headers))
            return conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def request(self, url: str, headers: Mapping[str, str] | None = None, deadline: float | None = None,
                attempts: list[int] | None = None) -> http.client.HTTPResponse:
        """GET `url`, following allowed redirects and retrying transient failures. Returns a 2xx response;
        raises MirrorFileError for everything else. `attempts` (a one-item counter) is shared with resumes
        so the whole file stays within `max_attempts` failed requests."""
        refusal = url_refusal(url, self.settings)
        if refusal:
            raise MirrorFileError(FileStatus.NOT_CHECKED, f"{display_url(url)}: {refusal}")
        failures = attempts if attempts is not None else [0]
        deadline = deadline if deadline is not None else time.monotonic() + self.settings.deadline
        current, hops = url, 0
        while True:
            try:
                resp = self._send(current, headers or {}, self._timeout(deadline))
            except ssl.SSLCertVerificationError as e:
                raise MirrorFileError(FileStatus.NOT_CHECKED, f"TLS verification of {origin_of(current)} failed: "
                                      f"{e.verify_message}; give the internal CA with --ca-bundle or "
                                      "mirrors.ca_bundle") from None
            except (OSError, http.client.HTTPException) as e:
                self._failed(failures, deadline, current, f"request failed: {_describe(e)}",
                             FileStatus.NOT_CHECKED if isinstance(e, (ConnectionRefusedError, socket.gaierror))
                             else FileStatus.UNREADABLE)
                continue
            if 300 <= resp.status < 400 and resp.getheader("Location"):
                target = urljoin(current, resp.getheader("Location") or "")
                _discard(resp)
                hops += 1
                refusal = self.redirect_refusal(url, target)
                if refusal:
                    raise MirrorFileError(FileStatus.ESCAPED, refusal)
                if hops > MAX_REDIRECTS:
                    raise MirrorFileError(FileStatus.UNREADABLE, f"more than {MAX_REDIRECTS} redirects")
                log.info("following redirect to %s", display_url(target))
                current = target
                continue
            if resp.status in RETRY_STATUSES:
                _discard(resp)
                self._failed(failures, deadline, current, f"server answered HTTP {resp.status}", FileStatus.UNREADABLE)
                continue
            if 200 <= resp.status < 300:
                return resp
            _discard(resp)
            raise _status_error(resp.status, current)

    def _timeout(self, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MirrorFileError(FileStatus.UNREADABLE, f"deadline of {self.settings.deadline:g} s exceeded")
        return min(self.settings.timeout, remaining)

    def _failed(self, failures: list[int], deadline: float, url: str, reason: str, status: FileStatus) -> None:
        """Count a failed attempt; raise when the budget or the deadline is spent, else back off."""
        failures[0] += 1
        log.info("%s: %s (attempt %d of %d)", display_url(url), reason, failures[0], self.settings.max_attempts)
        if failures[0] >= self.settings.max_attempts:
            raise MirrorFileError(status, f"{reason} ({failures[0]} attempts)")
        pause = self.settings.backoff * 2 ** (failures[0] - 1)
        if time.monotonic() + pause >= deadline:
            raise MirrorFileError(status, f"{reason}; deadline of {self.settings.deadline:g} s exceeded")
        time.sleep(pause)

    def get_json(self, url: str) -> Any:
        """A small JSON document (an API answer), read with a size bound."""
        resp = self.request(url, {"Accept": "application/json"})
        try:
            body = resp.read(MAX_JSON_BYTES + 1)
        except (OSError, http.client.HTTPException) as e:
            raise MirrorFileError(FileStatus.UNREADABLE, f"{display_url(url)}: {_describe(e)}") from None
        finally:
            resp.close()
        if len(body) > MAX_JSON_BYTES:
            raise MirrorFileError(FileStatus.UNREADABLE, f"{display_url(url)}: answer larger than {MAX_JSON_BYTES}")
        try:
            return strict_json(body, "answer")
        except JsonRefused as e:
            raise MirrorFileError(FileStatus.UNREADABLE, f"{display_url(url)}: {e}") from None

    def open_stream(self, url: str, shown_uri: str, check: ResponseCheck | None = None) -> HttpStream:
        deadline = time.monotonic() + self.settings.deadline
        attempts = [0]
        resp = self.request(url, deadline=deadline, attempts=attempts)
        try:
            if check is not None:
                check(resp)
            _require_identity(resp)
            if resp.status != 200:
                raise MirrorFileError(FileStatus.UNREADABLE, f"unexpected HTTP {resp.status} for a whole file")
        except BaseException:
            resp.close()
            raise
        return HttpStream(self, url, shown_uri, resp, deadline, attempts)


class HttpStream:
    """One file's body. `size` is the announced length (known before reading) or None for chunked bodies."""

    def __init__(self, transport: Transport, url: str, uri: str, resp: http.client.HTTPResponse, deadline: float,
                 attempts: list[int]) -> None:
        self._transport = transport
        self._url = url
        self.uri = uri
        self._resp = resp
        self._deadline = deadline
        self._attempts = attempts
        self._offset = 0
        length = resp.getheader("Content-Length")
        self.size: int | None = int(length) if length and length.isascii() and length.isdigit() \
            and not resp.chunked else None
        etag = resp.getheader("ETag") or ""
        # If-Range needs a strong validator; a weak ETag or none at all falls back to Last-Modified.
        self._validator = etag if etag and not etag.startswith("W/") else resp.getheader("Last-Modified")

    def readinto(self, buffer: memoryview) -> int:
        while True:
            if time.monotonic() > self._deadline:
                raise TimeoutError(f"deadline of {self._transport.settings.deadline:g} s exceeded after "
                                   f"{self._offset} bytes (slow or stalled server)")
            try:
                # read1: at most one socket read, so the deadline is checked while a server trickles bytes
                # (readinto would block until the whole buffer is full).
                data = self._resp.read1(len(buffer))
            except (OSError, http.client.HTTPException) as e:
                self._resume(_describe(e))
                continue
            n = len(data)
            buffer[:n] = data
            if n == 0 and self.size is not None and self._offset < self.size:
                self._resume("connection closed early")
                continue
            self._offset += n
            return n

    def _resume(self, reason: str) -> None:
        """Reopen the body at the current offset with a Range request; OSError when that is not possible."""
        self._resp.close()
        where = f"after {self._offset} of {self.size if self.size is not None else '?'} bytes"
        try:
            self._transport._failed(self._attempts, self._deadline, self._url, reason, FileStatus.UNREADABLE)
            headers = {"Range": f"bytes={self._offset}-"}
            if self._validator:
                headers["If-Range"] = self._validator
            resp = self._transport.request(self._url, headers, self._deadline, self._attempts)
        except MirrorFileError as e:
            raise OSError(f"download broke off {where} and could not be resumed: {e.reason}") from None
        try:
            self._check_resumed(resp)
        except OSError:
            resp.close()
            raise
        log.info("resumed %s at byte %d", display_url(self._url), self._offset)
        self._resp = resp

    def _check_resumed(self, resp: http.client.HTTPResponse) -> None:
        _require_identity_os(resp)
        if resp.status == 200 and self._offset == 0:
            return
        match = _CONTENT_RANGE.match(resp.getheader("Content-Range") or "")
        if resp.status != 206 or match is None:
            raise OSError(f"server cannot resume at byte {self._offset} (HTTP {resp.status}); the file changed "
                          "or Range is not supported")
        total = None if match.group(3) == "*" else int(match.group(3))
        if int(match.group(1)) != self._offset or (self.size is not None and total != self.size):
            raise OSError(f"resumed range {match.group(0)!r} does not continue the {self.size}-byte file at byte "
                          f"{self._offset}")

    def close(self) -> None:
        self._resp.close()


def _require_identity(resp: http.client.HTTPResponse) -> None:
    encoding = (resp.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise MirrorFileError(FileStatus.UNREADABLE, f"server sent {encoding}-encoded bytes although only "
                              "identity was accepted; the raw file cannot be hashed")


def _require_identity_os(resp: http.client.HTTPResponse) -> None:
    try:
        _require_identity(resp)
    except MirrorFileError as e:
        raise OSError(e.reason) from None


def _status_error(status: int, url: str) -> MirrorFileError:
    if status in (404, 410):
        return MirrorFileError(FileStatus.MISSING, f"not found in the mirror (HTTP {status})")
    if status in (401, 403):
        return MirrorFileError(FileStatus.NOT_CHECKED, f"access to {origin_of(url)} denied (HTTP {status}); check "
                               "the mirror credentials")
    return MirrorFileError(FileStatus.UNREADABLE, f"server answered HTTP {status}")


def _discard(resp: http.client.HTTPResponse) -> None:
    try:
        resp.read(MAX_DISCARD_BYTES)
    except (OSError, http.client.HTTPException):
        pass
    finally:
        resp.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, http.client.IncompleteRead):
        return f"body cut off after {len(error.partial)} bytes of this response"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    text = str(error) or type(error).__name__
    return text if len(text) < 200 else text[:200] + "…"
