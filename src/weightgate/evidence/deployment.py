"""Deployment records: what `weightgate admit` leaves behind for every deployment it admitted.

An in-toto Statement v1 (signed by `evidence.dsse`, like every record) whose subject is the artifact digest and
whose predicate says which service, environment and target loaded it, on which host or pod, when, from where,
on the strength of which decision record (by the sha256 of its line) and with which registry entry. `trail` and
`inventory --since` read them back to answer "what ran where, and when".
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from weightgate import __version__
from weightgate.admit import Admission
from weightgate.evidence.attestation import EXTENSION, VERIFIER_ID
from weightgate.evidence.dsse import STATEMENT_TYPE, sign_statement
from weightgate.textsafety import redact_url

DEPLOYMENT_PREDICATE_TYPE = "https://weightgate.dev/attestation/deployment/v1"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Deployment:
    service: str
    environment: str
    target: str | None  # the cluster, namespace or region, as the manifest's services name targets
    host: str  # the host or pod that loaded the bytes
    time: datetime.datetime


def deployment_statement(admission: Admission, deployment: Deployment) -> dict[str, Any]:
    """The statement about one admitted deployment. Only an admitted deployment has one."""
    if not admission.admitted or admission.statement is None:
        raise ValueError("only an admitted deployment is recorded")
    decision = admission.statement
    predicate = decision["predicate"]
    extension = predicate.get(EXTENSION) if isinstance(predicate.get(EXTENSION), dict) else {}
    relied_on: dict[str, Any] = {
        "digest": {"sha256": admission.record_sha256},
        "uri": admission.record.source if admission.record else None,
        "timeVerified": predicate.get("timeVerified"),
        "verificationResult": predicate.get("verificationResult"),
        "policy": predicate.get("policy"),
    }
    result: dict[str, Any] = {
        "service": deployment.service,
        "environment": deployment.environment,
        "target": deployment.target,
        "host": deployment.host,
        "time": deployment.time.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT),
        "location": redact_url(admission.target_uri),
        "files": admission.files,
        "decision": relied_on,
        "registryEntry": extension.get("registryEntry"),
        "admittedBy": {"id": VERIFIER_ID, "version": {"weightgate": __version__}},
    }
    hex_digest = admission.digest.removeprefix("sha256:").lower()
    names = [str(s.get("name", "")) for s in decision.get("subject", []) if isinstance(s, dict)]
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": names[0] if names else "artifact", "digest": {"sha256": hex_digest}}],
            "predicateType": DEPLOYMENT_PREDICATE_TYPE,
            "predicate": {k: v for k, v in result.items() if v is not None}}


def signed_line(admission: Admission, deployment: Deployment, signer: Any) -> tuple[str, str]:
    """The signed record as one JSON line, and the time it names."""
    document = deployment_statement(admission, deployment)
    return json.dumps(sign_statement(document, signer), sort_keys=True) + "\n", document["predicate"]["time"]
