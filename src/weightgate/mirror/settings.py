"""How network mirrors are reached: endpoints, trust, limits. Built once per run from the policy and the CLI.

Nothing here does I/O; the transport and the mirror kinds read these values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from weightgate.policy import Policy

REQUEST_TIMEOUT_S = 30.0  # connect, and each read: a silent server fails the file after this long
FILE_DEADLINE_S = 3600.0  # one file, all attempts and resumes included: a slow trickle cannot stall the gate
MAX_ATTEMPTS = 3  # failed requests per file (first try, 5xx retries and resumes together)
BACKOFF_S = 0.5  # doubled after each failed attempt
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class EndpointOptions:
    """What the command line says about endpoints; each value overrides the policy's."""

    ca_bundle: Path | None = None
    hf_endpoint: str | None = None
    s3_endpoint: str | None = None
    mlflow_tracking_uri: str | None = None


@dataclass(frozen=True)
class MirrorSettings:
    """How mirrors may be reached: plain HTTP or not, trust anchors, approved roots, public hubs, endpoints,
    timeouts and retries, and where credentials come from."""

    allow_http: bool = False
    ca_bundle: Path | None = None  # extra trust anchors (an internal CA); verification is never turned off
    approved_roots: tuple[str, ...] = ()
    public_hubs: frozenset[str] = frozenset()
    hf_endpoint: str | None = None
    s3_endpoint: str | None = None
    mlflow_tracking_uri: str | None = None
    timeout: float = REQUEST_TIMEOUT_S
    deadline: float = FILE_DEADLINE_S
    max_attempts: int = MAX_ATTEMPTS
    backoff: float = BACKOFF_S
    # Credentials and endpoint defaults come from here (os.environ unless a test passes its own).
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False, compare=False)


def with_endpoints(policy: Policy, options: EndpointOptions) -> Policy:
    """The policy with the command line's endpoint options applied, so checks and mirrors see one truth."""
    return replace(
        policy,
        ca_bundle=options.ca_bundle.resolve() if options.ca_bundle else policy.ca_bundle,
        hf_endpoint=options.hf_endpoint or policy.hf_endpoint,
        s3_endpoint=options.s3_endpoint or policy.s3_endpoint,
        mlflow_tracking_uri=options.mlflow_tracking_uri or policy.mlflow_tracking_uri,
    )


def settings_for(policy: Policy, environ: Mapping[str, str] | None = None) -> MirrorSettings:
    return MirrorSettings(
        allow_http=policy.allow_http, ca_bundle=policy.ca_bundle, approved_roots=policy.approved_roots,
        public_hubs=policy.public_hubs, hf_endpoint=policy.hf_endpoint, s3_endpoint=policy.s3_endpoint,
        mlflow_tracking_uri=policy.mlflow_tracking_uri, timeout=policy.request_timeout_s,
        deadline=policy.file_deadline_s, max_attempts=policy.max_attempts,
        environ=dict(os.environ) if environ is None else dict(environ),
    )
