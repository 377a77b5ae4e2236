"""SPDX expressions parsed by license-expression and judged against a policy."""

import pytest

from weightgate.governance import licenses
from weightgate.governance.licenses import LicenseParseError, judge_license, parse_license
from weightgate.governance.policy import LicenseAction, LicenseDeclaration, LicensePolicy, Restriction

R = Restriction
POLICY = LicensePolicy(
    allowed=("MIT", "Apache-2.0"), denied=("AGPL-*",), review_required=("LicenseRef-*",),
    unlisted=LicenseAction.REVIEW,
    declared={"mit": LicenseDeclaration("MIT", frozenset({R.ATTRIBUTION})),
              "cc-by-nc-4.0": LicenseDeclaration("CC-BY-NC-4.0", frozenset({R.ATTRIBUTION, R.NON_COMMERCIAL})),
              "licenseref-acme": LicenseDeclaration("LicenseRef-acme", frozenset({R.ACCEPTABLE_USE}))},
)


@pytest.mark.parametrize(("text", "options"), [
    ("mit", [{"MIT"}]),
    ("GPL-2.0+", [{"GPL-2.0-or-later"}]),
    ("Apache-2.0 WITH LLVM-exception", [{"Apache-2.0"}]),
    ("MIT OR (Apache-2.0 AND LicenseRef-acme)", [{"MIT"}, {"Apache-2.0", "LicenseRef-acme"}]),
    ("(MIT OR ISC) AND (Zlib OR 0BSD)", [{"MIT", "Zlib"}, {"MIT", "0BSD"}, {"ISC", "Zlib"}, {"ISC", "0BSD"}]),
    ("LicenseRef-Apache", [{"LicenseRef-Apache"}]),  # stays literal: the library would alias it to Apache-2.0
])
def test_expressions_reduce_to_their_options(text, options):
    assert [set(o) for o in parse_license(text).options] == options


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("MIT AND", "not a valid SPDX expression"),
    ("MIT WITH", "not a valid SPDX expression"),
    ("Apache2", "Apache2 is not an SPDX license id"),
    ("Foo OR Bar", "Bar, Foo are not SPDX license ids"),
    ("MIT " * 600, "longer than"),
])
def test_invalid_expressions(text, message):
    with pytest.raises(LicenseParseError, match=message):
        parse_license(text)


def test_too_many_alternatives_fail_closed(monkeypatch):
    monkeypatch.setattr(licenses, "MAX_OPTIONS", 3)
    parse_license.cache_clear()  # parses are cached per expression; this one must see the lowered limit
    try:
        with pytest.raises(LicenseParseError, match="more than 3 alternatives"):
            parse_license("(MIT OR ISC) AND (Zlib OR 0BSD)")
    finally:
        parse_license.cache_clear()


@pytest.mark.parametrize(("text", "denied", "review", "restrictions"), [
    ("MIT", (), (), {R.ATTRIBUTION}),
    ("AGPL-3.0-only", ("AGPL-3.0-only",), (), set()),
    ("AGPL-3.0-only OR MIT", (), (), {R.ATTRIBUTION}),
    ("MIT AND LicenseRef-acme", (), ("LicenseRef-acme",), {R.ATTRIBUTION, R.ACCEPTABLE_USE}),
    ("MIT OR CC-BY-NC-4.0", (), (), {R.ATTRIBUTION}),  # the licensee can pick MIT
    ("CC-BY-NC-4.0", (), ("CC-BY-NC-4.0",), {R.ATTRIBUTION, R.NON_COMMERCIAL}),  # unlisted: review
])
def test_verdicts(text, denied, review, restrictions):
    verdict = judge_license(parse_license(text), POLICY)
    assert verdict.denied == denied
    assert verdict.needs_review == review
    assert verdict.restrictions == restrictions


def test_undeclared_licenserefs_are_named():
    assert judge_license(parse_license("MIT AND LicenseRef-other"), POLICY).undeclared == ("LicenseRef-other",)
