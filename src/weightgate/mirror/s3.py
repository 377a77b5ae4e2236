"""An S3-compatible bucket: `s3://bucket/prefix` through the S3 API (the `s3` extra, boto3).

The endpoint is `--s3-endpoint`, the policy's `mirrors.s3_endpoint`, or the standard `AWS_ENDPOINT_URL(_S3)`;
credentials come from the standard AWS chain and never pass through weightgate's own code. A file pinned with a
`version_id` is read at exactly that object version; the object size from the response is compared with the pin
before any byte is read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from weightgate.facts import FileStatus
from weightgate.mirror.base import ListedEntry, MirrorFileError, MirrorUnavailable
from weightgate.mirror.local import unsafe_path_reason
from weightgate.mirror.settings import MirrorSettings
from weightgate.mirror.transport import url_refusal
from weightgate.refs import is_object_version_id

EXTRA_HINT = "s3:// mirrors need the `s3` extra: pip install 'weightgate[s3]'"
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
_DENIED_CODES = frozenset({"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "401",
                           "ExpiredToken", "InvalidToken", "NoSuchBucket"})


def s3_client(settings: MirrorSettings) -> Any:
    """A boto3 S3 client with weightgate's timeouts, bounded retries and TLS trust. Raises MirrorUnavailable."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise MirrorUnavailable(EXTRA_HINT) from None
    env = settings.environ
    endpoint = settings.s3_endpoint or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
    if endpoint is not None:
        refusal = url_refusal(endpoint, settings)
        if refusal:
            raise MirrorUnavailable(f"s3 endpoint: {refusal}")
    session = boto3.session.Session()
    config = Config(
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        connect_timeout=settings.timeout, read_timeout=settings.timeout,
        # Custom endpoints (SeaweedFS, MinIO, Ceph) rarely have wildcard DNS for virtual-host buckets.
        s3={"addressing_style": "path"} if endpoint else {},
        user_agent_extra="weightgate",
    )
    return session.client("s3", endpoint_url=endpoint, region_name=session.region_name or "us-east-1",
                          verify=str(settings.ca_bundle) if settings.ca_bundle else True, config=config)


def split_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if not parts.netloc:
        raise MirrorUnavailable(f"{uri}: an s3:// mirror is s3://<bucket>/<prefix>")
    return parts.netloc, parts.path.strip("/")


def client_error(error: Exception) -> MirrorFileError:
    """An S3 or connection error as a file status a user can act on."""
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            return MirrorFileError(FileStatus.MISSING, f"not found in the bucket ({code})")
        if code in _DENIED_CODES:
            return MirrorFileError(FileStatus.NOT_CHECKED, f"S3 refused access ({code}); check the AWS "
                                   "credentials and the bucket")
        return MirrorFileError(FileStatus.UNREADABLE, f"S3 error {code or type(error).__name__}")
    return MirrorFileError(FileStatus.NOT_CHECKED, f"S3 endpoint unusable: {type(error).__name__}: "
                           f"{str(error)[:200]}")


class S3File:
    def __init__(self, body: Any, size: int | None, uri: str, deadline: float) -> None:
        self._body = body
        self.size = size
        self.uri = uri
        self._deadline = deadline

    def readinto(self, buffer: memoryview) -> int:
        if time.monotonic() > self._deadline:
            raise TimeoutError("deadline exceeded while reading from S3 (slow or stalled endpoint)")
        try:
            data = self._body.read(len(buffer))
        except Exception as e:  # botocore and urllib3 raise their own types for a body cut off mid-file
            raise OSError(f"S3 body broke off: {type(e).__name__}: {str(e)[:200]}") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()


class S3Mirror:
    def __init__(self, uri: str, versions: Mapping[str, str], settings: MirrorSettings) -> None:
        self.bucket, self.prefix = split_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._versions = dict(versions)
        self._settings = settings
        self._client = s3_client(settings)

    def key_of(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def uri_of(self, path: str) -> str:
        version = self._versions.get(path)
        return f"{self.uri}/{path}" + (f"?versionId={quote(version, safe='')}" if version else "")

    def open(self, path: str) -> S3File:
        reason = unsafe_path_reason(path)
        if reason:
            raise MirrorFileError(FileStatus.ESCAPED, f"{reason}; it is never followed")
        version = self._versions.get(path)
        kwargs = {"VersionId": version} if version else {}
        try:
            resp = self._client.get_object(Bucket=self.bucket, Key=self.key_of(path), **kwargs)
        except Exception as e:
            raise client_error(e) from None
        if version and resp.get("VersionId") != version:
            resp["Body"].close()
            raise MirrorFileError(FileStatus.UNREADABLE, f"asked for version {version}, S3 served "
                                  f"{resp.get('VersionId')!r}")
        size = resp.get("ContentLength")
        return S3File(resp["Body"], size if isinstance(size, int) else None, self.uri_of(path),
                      time.monotonic() + self._settings.deadline)

    def _list_current_versions(self, prefix: str) -> Iterator[ListedEntry]:
        pages = self._client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            # A key whose latest entry is a delete marker has no current object: it is not listed.
            for item in page.get("Versions") or ():
                if item.get("IsLatest") is True:
                    version = item.get("VersionId")
                    entry = _entry(item, prefix, version if isinstance(version, str) else None)
                    if entry is not None:
                        yield entry

    def current_version(self, path: str) -> str | None:
        """The version id the key points at now (for `weightgate pin`); None in an unversioned bucket."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self.key_of(path))
        except Exception as e:
            raise client_error(e) from None
        version = head.get("VersionId")
        if version in (None, "", "null"):
            return None
        if not is_object_version_id(version):  # pin would write it into the manifest: it must mean what it says
            raise MirrorFileError(FileStatus.UNREADABLE, f"{path}: the server answered a version id that is not "
                                  f"printable ASCII without spaces: {str(version)[:80]!r}")
        return str(version)

    def list_files(self) -> Iterator[ListedEntry]:
        """Every current object under the prefix, page by page. Keys that are not plain relative paths under it
        (`a/../b`, `//`) are yielded as written: a deploy job's sync would still copy them. When files are pinned
        by version id, the object versions are listed (s3:ListBucketVersions), so each entry carries the version
        that is current now: a sync or a plain GET takes that one, not the pinned one."""
        prefix = f"{self.prefix}/" if self.prefix else ""
        try:
            if self._versions:
                yield from self._list_current_versions(prefix)
                return
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents") or ():
                    entry = _entry(item, prefix)
                    if entry is not None:
                        yield entry
        except Exception as e:  # botocore's client and connection errors
            raise MirrorUnavailable(f"{self.uri}: cannot list the prefix: {client_error(e).reason}") from None


def _entry(item: Mapping[str, Any], prefix: str, version: str | None = None) -> ListedEntry | None:
    key = str(item.get("Key", ""))
    size = item.get("Size")
    if key.endswith("/") and not size:
        return None  # a console "folder" marker: no bytes, and a sync makes it a directory
    return ListedEntry(key[len(prefix):], size if isinstance(size, int) else None,
                       version=None if version in (None, "", "null") else version)
