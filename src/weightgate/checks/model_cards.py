"""WG631-WG633: Hugging Face model cards. The policy lists, per artifact class, that a card is required and
which metadata fields and sections it needs; where the card's claims overlap the manifest (license, base
model) they must agree, since a card is self-reported and the manifest is what was reviewed."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding, Location
from weightgate.governance.licenses import LicenseParseError, parse_license
from weightgate.governance.model_card import CardStatus, ModelCardFacts, card_path, hf_repo_id
from weightgate.manifest import Artifact, Manifest

UNREADABLE = (CardStatus.MISSING, CardStatus.UNREADABLE, CardStatus.MALFORMED)
SPDX_SUFFIXES = ("", "-only", "-or-later")  # Hugging Face's `gpl-3.0` is SPDX's GPL-3.0-only or -or-later


def required_cards(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        if artifact.artifact_class in ctx.policy.model_cards.required and card_path(artifact) is None:
            yield Finding(rules.MODEL_CARD_MISSING, f"{artifact.id}: the policy requires a model card for a "
                          f"{artifact.artifact_class}; pin its README.md or set `model_card.path`",
                          ctx.at(artifact, "id"), artifact.id)


def readable_cards(ctx: CheckContext) -> Iterator[Finding]:
    if ctx.offline:
        return
    for artifact in ctx.manifest.artifacts:
        card = ctx.governance.model_cards.get(artifact.id)
        if card is not None and card.status in UNREADABLE:
            yield Finding(rules.MODEL_CARD_MISSING, f"{artifact.id}: model card {card.uri} is {card.status.value}: "
                          f"{card.reason}", _card_location(ctx, artifact), artifact.id, file_path=card.path)


def complete_cards(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        requirement = ctx.policy.model_cards.required.get(artifact.artifact_class)
        card = ctx.governance.model_cards.get(artifact.id)
        if requirement is None or card is None or not card.read:
            continue
        missing = [f"field `{f}`" for f in requirement.fields if f not in card.present]
        missing += [f"section {s!r}" for s in requirement.sections
                    if not any(s.lower() in h.lower() for h in card.headings)]
        if missing:
            yield Finding(rules.MODEL_CARD_INCOMPLETE, f"{artifact.id}: model card {card.path} has no "
                          f"{', '.join(missing)} (required for a {artifact.artifact_class})",
                          _card_location(ctx, artifact), artifact.id, file_path=card.path,
                          evidence=tuple(("missing", m) for m in missing))


def _card_location(ctx: CheckContext, artifact: Artifact) -> Location:
    if artifact.model_card_path:
        return ctx.at(artifact, "model_card", "path")
    entry = next((f for f in artifact.files if f.path == card_path(artifact)), None)
    return ctx.manifest.location(entry.key) if entry else ctx.at(artifact, "id")


# --- agreement with the manifest ---------------------------------------------------------------------------

def _card_license_ids(card: ModelCardFacts) -> set[str]:
    """What the card's license can mean as SPDX ids (lower-case): the id itself with SPDX's -only/-or-later
    forms, or `LicenseRef-<name>` for Hugging Face's `other` + `license_name` and for non-SPDX ids."""
    names = [card.license_name] if (card.license or "").lower() == "other" and card.license_name else [card.license]
    ids = set()
    for name in (n.lower() for n in names if n):
        ids.update({name + suffix for suffix in SPDX_SUFFIXES} | {f"licenseref-{name}"})
    return ids


def license_agreement(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        card = ctx.governance.model_cards.get(artifact.id)
        if card is None or not card.read or card.license is None or artifact.license is None:
            continue
        if card.license.lower() == "other" and not card.license_name:
            continue  # "other" without a name claims nothing to compare
        try:
            manifest_ids = {i.lower() for i in parse_license(artifact.license.spdx).ids}
        except LicenseParseError:
            continue  # WG608 reports the manifest's license
        if not _card_license_ids(card) & manifest_ids:
            shown = f"other ({card.license_name})" if card.license.lower() == "other" else card.license
            yield Finding(rules.MODEL_CARD_DISAGREES, f"{artifact.id}: the model card says license {shown!r}, "
                          f"the manifest says {artifact.license.spdx}", ctx.at(artifact, "license", "spdx"),
                          artifact.id, file_path=card.path,
                          evidence=(("card_license", shown), ("manifest_license", artifact.license.spdx)))


def _manifest_bases(manifest: Manifest, artifact: Artifact) -> tuple[set[str], int]:
    """Hugging Face repo ids of the artifact's declared bases, and how many bases have none (internal ones)."""
    repos: set[str] = set()
    unknown = 0
    for ref in artifact.base_models:
        target = manifest.artifact(ref.artifact) if ref.artifact else None
        uri = target.source.uri if target is not None else ref.uri
        repo = hf_repo_id(uri) if uri else None
        if repo is None:
            unknown += 1
        else:
            repos.add(repo)
    return repos, unknown


def base_model_agreement(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        card = ctx.governance.model_cards.get(artifact.id)
        if card is None or not card.read or not card.base_models:
            continue
        claimed = {hf_repo_id(b) or b.lower() for b in card.base_models}
        declared, unknown = _manifest_bases(ctx.manifest, artifact)
        undeclared = sorted(claimed - declared)
        unnamed = sorted(declared - claimed)
        problems = []
        if len(undeclared) > unknown:  # more than internal bases could stand for
            problems.append(f"the card names base model(s) {', '.join(map(repr, undeclared))} that `base_models` "
                            "does not declare (an undeclared base brings its own license and provenance)")
        if unnamed:
            problems.append(f"`base_models` declares {', '.join(unnamed)}, which the card's base_model does not name")
        if problems:
            yield Finding(rules.MODEL_CARD_DISAGREES, f"{artifact.id}: {'; '.join(problems)}",
                          ctx.at(artifact, "base_models") if artifact.base_models else ctx.at(artifact, "id"),
                          artifact.id, file_path=card.path,
                          evidence=(("card_base_model", ", ".join(sorted(claimed))),
                                    ("manifest_base_models", ", ".join(sorted(declared)))))


CHECKS = (required_cards, readable_cards, complete_cards, license_agreement, base_model_agreement)
