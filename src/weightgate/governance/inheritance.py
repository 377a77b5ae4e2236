"""License inheritance along the lineage: each artifact's effective restrictions (its own license's plus
every base's, transitively), each with the chain it came down. Used by the license checks and the ML-BOM."""

from __future__ import annotations

from dataclasses import dataclass

from weightgate.governance.licenses import LicenseParseError, LicenseVerdict, judge_license, parse_license
from weightgate.governance.policy import LicensePolicy, Restriction
from weightgate.lineage import BaseLink, Lineage
from weightgate.manifest import Artifact


def verdict_of(text: str | None, policy: LicensePolicy) -> LicenseVerdict | str | None:
    """The verdict on a license expression, or why it could not be judged; None when there is no license."""
    if text is None:
        return None
    verdicts = _verdicts_under(policy)
    verdict = verdicts.get(text)
    if verdict is None:
        try:
            verdict = judge_license(parse_license(text), policy)
        except LicenseParseError as e:
            verdict = str(e)
        if len(verdicts) < MAX_REMEMBERED_VERDICTS:
            verdicts[text] = verdict
    return verdict


# Thousands of artifacts share a handful of license expressions, and three checks and the reports ask about each
# (judging them again was a tenth of an offline check of 10,000 artifacts, issue 18). A verdict depends only on the
# expression and the (immutable) policy, so it is remembered per policy object, for the last few policies.
MAX_REMEMBERED_VERDICTS = 4096
_REMEMBERED_POLICIES = 4
_verdicts: dict[int, tuple[LicensePolicy, dict[str, LicenseVerdict | str]]] = {}


def _verdicts_under(policy: LicensePolicy) -> dict[str, LicenseVerdict | str]:
    entry = _verdicts.get(id(policy))
    if entry is None or entry[0] is not policy:  # the policy held in the entry keeps its id from being reused
        while len(_verdicts) >= _REMEMBERED_POLICIES:
            del _verdicts[next(iter(_verdicts))]
        entry = _verdicts[id(policy)] = (policy, {})
    return entry[1]


@dataclass(frozen=True)
class Inherited:
    """A restriction and the chain it comes down: links from the artifact up to the license that sets it."""

    restriction: Restriction
    chain: tuple[BaseLink, ...]
    origin_license: str


class RestrictionIndex:
    """Each artifact's effective restrictions: every base's (transitively) and its own license's."""

    def __init__(self, lineage: Lineage, policy: LicensePolicy) -> None:
        self._lineage = lineage
        self._policy = policy
        self._memo: dict[str, dict[Restriction, Inherited]] = {}

    def own(self, text: str | None) -> frozenset[Restriction]:
        verdict = verdict_of(text, self._policy)
        return verdict.restrictions if isinstance(verdict, LicenseVerdict) else frozenset()

    def inherited(self, artifact_id: str, visiting: frozenset[str] = frozenset()) -> dict[Restriction, Inherited]:
        """What the artifact inherits from its bases (not its own license), first chain found per restriction."""
        result: dict[Restriction, Inherited] = {}
        for link in self._lineage.links(artifact_id):
            for restriction, origin in self._through(link, visiting | {artifact_id}).items():
                result.setdefault(restriction, origin)
        return result

    def _through(self, link: BaseLink, visiting: frozenset[str]) -> dict[Restriction, Inherited]:
        target = link.target
        if target is None:
            license_text = link.ref.license
            return {r: Inherited(r, (link,), license_text or "") for r in sorted(self.own(license_text))}
        if target.id in visiting:
            return {}  # a cycle; reported by the lineage check
        effective = self.effective(target, visiting)
        return {r: Inherited(r, (link, *i.chain), i.origin_license) for r, i in effective.items()}

    def effective(self, artifact: Artifact, visiting: frozenset[str] = frozenset()) -> dict[Restriction, Inherited]:
        if artifact.id in self._memo:
            return self._memo[artifact.id]
        # Inherited first: a restriction is traced to the license it started from, so findings name the
        # whole chain even where an intermediate artifact repeats it in its own license.
        result = dict(self.inherited(artifact.id, visiting))
        license_text = artifact.license.spdx if artifact.license else None
        for restriction in sorted(self.own(license_text)):
            result.setdefault(restriction, Inherited(restriction, (), license_text or ""))
        # Memoised even inside a cycle, where the result may miss what comes round it: a cycle is a WG616
        # error of its own, and without the memo a lineage full of shared bases would be walked exponentially.
        self._memo[artifact.id] = result
        return result
