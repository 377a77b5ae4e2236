"""The MLflow Model Registry as a mirror: `models:/<name>/<version>` (or `runs:/<run id>/<path>`).

The tracking server resolves a model version to its source (a run's artifact folder); the files are streamed
from the server's artifact endpoints through the shared transport, hashed by weightgate (MLflow records sizes,
not digests). Aliases and stages are refused here: they are mutable and `weightgate pin` turns them into a
version number. Talks REST only, so no MLflow client library is needed at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from weightgate.facts import FileStatus
from weightgate.mirror.base import ListedEntry, MirrorFileError, MirrorUnavailable
from weightgate.mirror.local import unsafe_path_reason
from weightgate.mirror.settings import MirrorSettings
from weightgate.mirror.transport import HttpStream, Transport, basic_credential, bearer_or_netrc, url_refusal
from weightgate.refs import MLFLOW_STAGES, is_version_number

MAX_LIST_PAGES = 1_000  # pages of one folder's listing; more is a server that never ends its cursor


@dataclass(frozen=True)
class MlflowRef:
    """A parsed models:/ or runs:/ URI. Exactly one of version, alias, stage is set for models:/."""

    kind: str  # "models" or "runs"
    name: str  # registered model name, or run id
    version: str | None = None
    alias: str | None = None
    stage: str | None = None
    path: str = ""  # runs:/ only: the artifact sub-folder


def parse_mlflow_uri(uri: str) -> MlflowRef:
    if uri.startswith("runs:/"):
        run_id, _, path = uri[len("runs:/"):].strip("/").partition("/")
        if not run_id:
            raise MirrorUnavailable(f"{uri}: a runs:/ mirror is runs:/<run id>/<path>")
        return MlflowRef("runs", run_id, path=path)
    if not uri.startswith("models:/"):
        raise MirrorUnavailable(f"{uri}: an MLflow mirror is models:/<name>/<version> or runs:/<run id>/<path>")
    rest = uri[len("models:/"):].strip("/")
    if "@" in rest:
        name, _, alias = rest.partition("@")
        return MlflowRef("models", name, alias=alias)
    name, _, version = rest.rpartition("/")
    if not name:
        raise MirrorUnavailable(f"{uri}: models:/ names no version")
    if is_version_number(version):
        return MlflowRef("models", name, version=version)
    if version.lower() in MLFLOW_STAGES:
        return MlflowRef("models", name, stage=version)
    raise MirrorUnavailable(f"{uri}: {version!r} is neither a version number nor a stage")


def tracking_uri(settings: MirrorSettings) -> str:
    uri = settings.mlflow_tracking_uri or settings.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise MirrorUnavailable("MLflow mirrors need a tracking server: mirrors.mlflow_tracking_uri in the policy, "
                                "--mlflow-tracking-uri, or MLFLOW_TRACKING_URI")
    refusal = url_refusal(uri, settings)
    if refusal:
        raise MirrorUnavailable(f"MLflow tracking server: {refusal}")
    return uri.rstrip("/")


def mlflow_transport(base: str, settings: MirrorSettings) -> Transport:
    env = settings.environ
    if env.get("MLFLOW_TRACKING_USERNAME") and not env.get("MLFLOW_TRACKING_TOKEN"):
        cred = basic_credential(base, "MLFLOW_TRACKING_USERNAME", env["MLFLOW_TRACKING_USERNAME"],
                                env.get("MLFLOW_TRACKING_PASSWORD", ""))
        return Transport(settings, cred)
    return Transport(settings, bearer_or_netrc(base, env, ("MLFLOW_TRACKING_TOKEN",)))


def model_version(transport: Transport, base: str, name: str, version: str) -> dict[str, Any]:
    answer = transport.get_json(f"{base}/api/2.0/mlflow/model-versions/get?"
                                + urlencode({"name": name, "version": version}))
    mv = answer.get("model_version") if isinstance(answer, dict) else None
    if not isinstance(mv, dict):
        raise MirrorFileError(FileStatus.UNREADABLE, f"models:/{name}/{version}: the server answered no version")
    return mv


def resolve_version(transport: Transport, base: str, ref: MlflowRef) -> str:
    """The version number an alias or stage points at now. Raises MirrorFileError."""
    if ref.version is not None:
        return ref.version
    if ref.alias is not None:
        answer = transport.get_json(f"{base}/api/2.0/mlflow/registered-models/alias?"
                                    + urlencode({"name": ref.name, "alias": ref.alias}))
        versions = [answer.get("model_version", {})] if isinstance(answer, dict) else []
    else:
        answer = transport.get_json(f"{base}/api/2.0/mlflow/registered-models/get-latest-versions?"
                                    + urlencode({"name": ref.name, "stages": ref.stage or ""}))
        versions = answer.get("model_versions", []) if isinstance(answer, dict) else []
    # The server's answer is an identifier pin writes into the manifest: ASCII digits, whole, or nothing.
    numbers = [str(v.get("version")) for v in versions
               if isinstance(v, dict) and is_version_number(str(v.get("version")))]
    if len(numbers) != 1:
        raise MirrorFileError(FileStatus.MISSING, f"models:/{ref.name}: {ref.alias or ref.stage!r} points at "
                              f"{len(numbers)} versions, not exactly one")
    return numbers[0]


class MlflowMirror:
    def __init__(self, uri: str, settings: MirrorSettings) -> None:
        self.ref = parse_mlflow_uri(uri)
        if self.ref.kind == "models" and self.ref.version is None:
            moving = f"alias {self.ref.alias!r}" if self.ref.alias else f"stage {self.ref.stage!r}"
            raise MirrorUnavailable(f"{uri}: {moving} can be moved to another version; run `weightgate pin`")
        self.base = tracking_uri(settings)
        self._transport = mlflow_transport(self.base, settings)
        self.uri = uri
        self.source = f"runs:/{self.ref.name}/{self.ref.path}".rstrip("/")
        self._run_id = self.ref.name if self.ref.kind == "runs" else ""
        if self.ref.kind == "models":
            assert self.ref.version is not None
            try:
                mv = model_version(self._transport, self.base, self.ref.name, self.ref.version)
            except MirrorFileError as e:
                raise MirrorUnavailable(f"{uri}: {e.reason}") from None
            if mv.get("status", "READY") != "READY":
                raise MirrorUnavailable(f"{uri}: model version status is {mv.get('status')!r}, not READY")
            self.source = str(mv.get("source") or self.source)
            self._run_id = str(mv.get("run_id") or "")

    def uri_of(self, path: str) -> str:
        return f"{self.source.rstrip('/')}/{path}"

    def _url(self, path: str) -> str:
        if self.ref.kind == "models":
            query = {"name": self.ref.name, "version": self.ref.version or "", "path": path}
            return f"{self.base}/model-versions/get-artifact?{urlencode(query, quote_via=quote)}"
        full = f"{self.ref.path}/{path}" if self.ref.path else path
        return f"{self.base}/get-artifact?{urlencode({'run_uuid': self.ref.name, 'path': full}, quote_via=quote)}"

    def open(self, path: str) -> HttpStream:
        reason = unsafe_path_reason(path)
        if reason:
            raise MirrorFileError(FileStatus.ESCAPED, f"{reason}; it is never followed")
        return self._transport.open_stream(self._url(path), self.uri_of(path))

    def list_files(self) -> Iterator[ListedEntry]:
        """Every file under the artifact folder, through the run artifacts list API (folder by folder, page by
        page). A model version is listed through the run it was logged from, when its source lies in that run's
        artifacts. Any other source cannot be listed through the tracking server: MirrorUnavailable, since
        `mlflow ... load_model` downloads the whole folder and what it holds must be known."""
        folder = self._run_folder()
        pending = [""]
        while pending:
            sub = pending.pop()
            for entry in self._list_folder(folder, sub):
                rel = str(entry.get("path", ""))[len(folder):].lstrip("/") if folder else str(entry.get("path", ""))
                if entry.get("is_dir"):
                    pending.append(rel)
                elif rel:
                    size = entry.get("file_size")
                    yield ListedEntry(rel, int(size) if isinstance(size, (int, str)) and is_version_number(str(size))
                                      else None)

    def _run_folder(self) -> str:
        """The artifact folder's path inside its run's artifacts."""
        if self.ref.kind == "runs":
            return self.ref.path.strip("/")
        if not self._run_id:
            raise MirrorUnavailable(f"{self.uri}: the model version names no run, so its files cannot be listed")
        prefix = f"runs:/{self._run_id}"
        if self.source == prefix or self.source.startswith(prefix + "/"):
            return self.source[len(prefix):].strip("/")
        try:
            run = self._transport.get_json(f"{self.base}/api/2.0/mlflow/runs/get?"
                                           + urlencode({"run_id": self._run_id}))
        except MirrorFileError as e:
            raise MirrorUnavailable(f"{self.uri}: cannot read run {self._run_id}: {e.reason}") from None
        info = run.get("run", {}).get("info", {}) if isinstance(run, dict) else {}
        root = str(info.get("artifact_uri") or "").rstrip("/") if isinstance(info, dict) else ""
        if not root or not (self.source == root or self.source.startswith(root + "/")):
            raise MirrorUnavailable(f"{self.uri}: its source lies outside run {self._run_id}'s artifacts, which "
                                    "is all the tracking server lists")
        return self.source[len(root):].strip("/")

    def _list_folder(self, folder: str, sub: str) -> Iterator[dict[str, Any]]:
        path = f"{folder}/{sub}".strip("/") if sub else folder
        token = ""
        for _ in range(MAX_LIST_PAGES):
            query = {"run_id": self._run_id, "path": path, **({"page_token": token} if token else {})}
            try:
                answer = self._transport.get_json(f"{self.base}/api/2.0/mlflow/artifacts/list?{urlencode(query)}")
            except MirrorFileError as e:
                raise MirrorUnavailable(f"{self.uri}: cannot list {path or '.'}: {e.reason}") from None
            files = answer.get("files", []) if isinstance(answer, dict) else []
            yield from (f for f in files if isinstance(f, dict))
            token = str(answer.get("next_page_token") or "") if isinstance(answer, dict) else ""
            if not token:
                return
        raise MirrorUnavailable(f"{self.uri}: more than {MAX_LIST_PAGES} listing pages for {path or '.'}")
