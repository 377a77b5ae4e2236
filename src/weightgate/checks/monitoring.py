"""WG634-WG635: services in the environments (or on the targets) the policy names must say how they are
monitored; artifacts from a source with a recorded incident must have been validated after it."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.governance.deployment import publisher_of


def service_monitoring(ctx: CheckContext) -> Iterator[Finding]:
    policy = ctx.policy.monitoring
    for service in ctx.manifest.services:
        if not policy.requires(service) or (service.monitoring or "").strip():
            continue
        where = [f"environment {service.environment!r}"] if service.environment else []
        where += [f"targets {', '.join(service.targets)}"] if service.targets else []
        yield Finding(rules.MONITORING_MISSING, f"service {service.name}: the policy requires monitoring for "
                      f"services in {' and '.join(where)}, and `monitoring` is not set",
                      ctx.manifest.location((*service.key, "name")),
                      evidence=(("service", service.name), ("environment", service.environment or "")))


def source_incidents(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        publisher = publisher_of(artifact.source)
        for incident in ctx.policy.incidents:
            if incident.date > ctx.today or not incident.matches(artifact.source, publisher):
                continue  # an incident after the day judged had not happened yet
            validated = artifact.last_validated
            if validated is not None and validated >= incident.date:
                continue
            when = f"last validated {validated}" if validated else "never recorded as validated"
            note = f" ({incident.note})" if incident.note else ""
            yield Finding(rules.SOURCE_INCIDENT, f"{artifact.id}: the incident clock ran out: its source matches "
                          f"the incident {incident.pattern!r} of {incident.date}{note}, and it was {when}, before the "
                          "incident",
                          ctx.at(artifact, "last_validated") if validated else ctx.at(artifact, "source"),
                          artifact.id, evidence=(("clock", "incident"), ("incident", incident.pattern),
                                                 ("date", str(incident.date)),
                                                 ("policy", f"{incident.location.path}:{incident.location.line}")))


CHECKS = (service_monitoring, source_incidents)
