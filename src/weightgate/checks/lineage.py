"""WG615-WG617: base-model references resolve to artifacts in the manifest or to pinned external
references, and the lineage has no cycles."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.lineage import build_lineage, cycles, external_problems


def dangling_bases(ctx: CheckContext) -> Iterator[Finding]:
    for links in build_lineage(ctx.manifest).bases.values():
        for link in links:
            if link.dangling:
                yield Finding(rules.LINEAGE_DANGLING, f"{link.derived.id}: base model {link.name!r} is not an "
                              "artifact in this manifest", ctx.manifest.location((*link.ref.key, "artifact")),
                              link.derived.id)


def lineage_cycles(ctx: CheckContext) -> Iterator[Finding]:
    lineage = build_lineage(ctx.manifest)
    for cycle in cycles(lineage):
        first = cycle[0]
        closing = next(link for link in lineage.links(first) if link.target is not None
                       and link.target.id == (cycle[1] if len(cycle) > 1 else first))
        yield Finding(rules.LINEAGE_CYCLE, f"{first}: base models form a cycle: {' → '.join((*cycle, first))}",
                      ctx.manifest.location(closing.ref.key), first, evidence=(("cycle", " → ".join(cycle)),))


def external_bases(ctx: CheckContext) -> Iterator[Finding]:
    for links in build_lineage(ctx.manifest).bases.values():
        for link in links:
            problems = external_problems(link.ref) if link.external else []
            if problems:
                yield Finding(rules.LINEAGE_INCOMPLETE, f"{link.derived.id}: external base {link.name} has "
                              + "; ".join(problems), ctx.manifest.location(link.ref.key), link.derived.id)


CHECKS = (dangling_bases, lineage_cycles, external_bases)
