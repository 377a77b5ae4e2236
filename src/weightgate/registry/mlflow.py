"""The MLflow Model Registry as a registry backend, over MLflow's REST API.

An entry id is `<registered model>/<version>`. MLflow records sizes but no content digests, so the digest a
registry entry binds to is the model version's `weightgate.digest` tag (set at promotion from weightgate's own
verification); its stage is the `weightgate.stage` tag when present, else MLflow's `current_stage`.
"""

from __future__ import annotations

from typing import Any

from weightgate.facts import FileStatus
from weightgate.findings import Location
from weightgate.mirror.base import MirrorFileError, MirrorUnavailable
from weightgate.mirror.mlflow import mlflow_transport, model_version, tracking_uri
from weightgate.mirror.settings import MirrorSettings
from weightgate.refs import is_version_number
from weightgate.registry import RegistryRecord, RegistryUnavailable

DIGEST_TAG = "weightgate.digest"
STAGE_TAG = "weightgate.stage"


class MlflowRegistry:
    name: str | None = "mlflow"

    def __init__(self, settings: MirrorSettings) -> None:
        try:
            self.uri = tracking_uri(settings)
        except MirrorUnavailable as e:
            raise RegistryUnavailable(str(e)) from None
        self._transport = mlflow_transport(self.uri, settings)

    def entry(self, entry_id: str) -> RegistryRecord | None:
        name, _, version = entry_id.rpartition("/")
        if not name or not is_version_number(version):
            return None  # not a model version id: no such entry
        try:
            mv = model_version(self._transport, self.uri, name, version)
        except MirrorFileError as e:
            if e.status is FileStatus.MISSING:
                return None
            raise RegistryUnavailable(f"MLflow registry at {self.uri}: {e.reason}") from None
        tags = _tags(mv)
        stage = (tags.get(STAGE_TAG) or str(mv.get("current_stage") or "")).lower()
        return RegistryRecord(
            id=entry_id, digest=tags.get(DIGEST_TAG), stage=stage if stage not in ("", "none") else None,
            approvals=(), location=Location(f"{self.uri}/#/models/{name}/versions/{version}"),
        )


def _tags(mv: dict[str, Any]) -> dict[str, str]:
    tags = mv.get("tags") or []
    return {str(t.get("key")): str(t.get("value")) for t in tags if isinstance(t, dict)}
