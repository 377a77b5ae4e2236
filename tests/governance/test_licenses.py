"""SPDX expressions parsed by license-expression and judged against a policy."""

import functools
from typing import Any

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


@functools.cache
def _full_spdx_licensing() -> Any:
    """A licensing of every SPDX symbol (LicenseRef aliases dropped): what parse_license used before it built a
    licensing of just the symbols the text mentions."""
    from license_expression import LicenseSymbol, Licensing, get_spdx_licensing

    symbols = {}
    for symbol in get_spdx_licensing().known_symbols.values():
        if symbol.key.lower().startswith(licenses.USER_DEFINED_PREFIXES) or symbol.key in symbols:
            continue
        aliases = tuple(a for a in symbol.aliases if not a.lower().startswith(licenses.USER_DEFINED_PREFIXES))
        symbols[symbol.key] = LicenseSymbol(symbol.key, aliases=aliases, is_exception=symbol.is_exception)
    return Licensing(list(symbols.values()))


def _full_spdx_parse(text: str) -> str:
    try:
        return str(_full_spdx_licensing().parse(text, validate=False, strict=True))
    except Exception as e:  # compared by kind: both must refuse the same texts
        return f"error {type(e).__name__}"


def _fast_parse(text: str) -> str:
    try:
        return str(licenses._licensing_for(text).parse(text, validate=False, strict=True))
    except Exception as e:
        return f"error {type(e).__name__}"


def test_parsing_with_the_symbols_a_text_mentions_equals_parsing_with_all_of_them():
    spdx = licenses._spdx_symbols()
    ids = sorted(spdx)
    aliases = sorted(a for symbol in spdx.values() for a in symbol.aliases)
    exceptions = [key for key, symbol in spdx.items() if symbol.is_exception][:20]
    texts = [*ids, *aliases, *(i.lower() for i in ids[::5]), *(i.upper() for i in ids[3::5]),
             *(f"{a} WITH {e}" for a, e in zip(ids[::97], exceptions, strict=False)),
             *(f"({a} OR {b}) AND {c}" for a, b, c in zip(ids[::61], ids[5::61], aliases[::41], strict=False)),
             "GPL 2.0", "MIT-0", "MIT AND MIT-0", "Apache-2.0 WITH", "mit or isc and zlib", "BSD-3-Clause-Clear",
             "Unknown-License OR MIT", "LicenseRef-x AND mit", "(", "MIT WITH GPL-2.0"]
    mismatches = [(t, _fast_parse(t), full) for t in texts if (full := _full_spdx_parse(t)) != _fast_parse(t)]
    assert mismatches == []
    assert len(ids) > 600 and len(texts) > 1000
