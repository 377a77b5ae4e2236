"""SPDX license expressions: parsed with `license-expression`, judged against the policy's license lists
and declarations. Pure functions; the license checks turn verdicts into findings.

An expression is reduced to its options (disjunctive normal form): `A OR (B AND C)` lets the licensee pick
either {A} or {B, C}. An option containing a denied license is unusable; the expression's restrictions are
those every usable option carries, which is what the licensee can be held to whichever option they pick.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from weightgate.governance.policy import NEEDS_HUMAN_REVIEW, LicenseAction, LicensePolicy, Restriction

MAX_EXPRESSION_CHARS = 2000
MAX_OPTIONS = 64  # DNF can grow exponentially; a real license expression never comes close
USER_DEFINED_PREFIXES = ("licenseref-", "documentref-")


class LicenseParseError(ValueError):
    """The expression is not valid SPDX, or too large to judge."""


@dataclass(frozen=True)
class ParsedLicense:
    expression: str  # normalised by the parser (canonical SPDX ids)
    options: tuple[frozenset[str], ...]  # each option: the license ids that all apply together

    @property
    def ids(self) -> frozenset[str]:
        return frozenset().union(*self.options)


@dataclass(frozen=True)
class LicenseVerdict:
    parsed: ParsedLicense
    undeclared: tuple[str, ...]  # LicenseRef-* ids the policy does not declare
    denied: tuple[str, ...]  # non-empty only when every option contains a denied id
    needs_review: tuple[str, ...]  # ids of the best usable option that need a review record
    restrictions: frozenset[Restriction]


@functools.cache
def _licensing() -> Any:
    """An SPDX licensing without the LicenseRef aliases license-expression ships (e.g. `LicenseRef-Apache`
    would silently become Apache-2.0): user-defined LicenseRef ids stay literal and must be declared."""
    from license_expression import LicenseSymbol, Licensing, get_spdx_licensing

    symbols = {}
    for symbol in get_spdx_licensing().known_symbols.values():
        if symbol.key.lower().startswith(USER_DEFINED_PREFIXES) or symbol.key in symbols:
            continue
        aliases = tuple(a for a in symbol.aliases if not a.lower().startswith(USER_DEFINED_PREFIXES))
        symbols[symbol.key] = LicenseSymbol(symbol.key, aliases=aliases, is_exception=symbol.is_exception)
    return Licensing(list(symbols.values()))


def is_user_defined(license_id: str) -> bool:
    return license_id.lower().startswith(USER_DEFINED_PREFIXES)


@functools.lru_cache(maxsize=4096)
def parse_license(text: str) -> ParsedLicense:
    """Parse an SPDX expression. Raises LicenseParseError with a message a user can act on."""
    from license_expression import ExpressionError

    if not text.strip():
        raise LicenseParseError("the license expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise LicenseParseError(f"the license expression is longer than {MAX_EXPRESSION_CHARS} characters")
    licensing = _licensing()
    try:
        tree = licensing.parse(text, validate=False, strict=True)
    except (ExpressionError, AttributeError, TypeError) as e:
        # AttributeError/TypeError: the library trips on some malformed WITH forms instead of raising its own.
        raise LicenseParseError(f"{text!r} is not a valid SPDX expression: {e}") from e
    options = _options(tree)
    unknown = sorted(i for i in frozenset().union(*options) if not is_user_defined(i) and not _is_spdx(i))
    if unknown:
        what = "is not an SPDX license id" if len(unknown) == 1 else "are not SPDX license ids"
        raise LicenseParseError(f"{', '.join(unknown)} {what}; use the SPDX id, or a LicenseRef- declared in the "
                                "policy")
    return ParsedLicense(str(tree), options)


def _is_spdx(license_id: str) -> bool:
    return license_id in _licensing().known_symbols


def _options(node: Any) -> tuple[frozenset[str], ...]:
    """Disjunctive normal form: the alternatives the licensee may choose between."""
    from license_expression import AND, OR, LicenseSymbol, LicenseWithExceptionSymbol

    if isinstance(node, LicenseWithExceptionSymbol):
        # An exception only loosens its license; the license's own terms are what is judged.
        return (frozenset({node.license_symbol.key}),)
    if isinstance(node, LicenseSymbol):
        return (frozenset({node.key}),)
    if isinstance(node, OR):
        result = tuple(option for arg in node.args for option in _options(arg))
    elif isinstance(node, AND):
        result = (frozenset(),)
        for arg in node.args:
            result = tuple(a | b for a in result for b in _options(arg))
            _bound(result)
    else:
        raise LicenseParseError(f"unexpected element {node!r} in the license expression")
    return _bound(tuple(dict.fromkeys(result)))


def _bound(options: tuple[frozenset[str], ...]) -> tuple[frozenset[str], ...]:
    if len(options) > MAX_OPTIONS:
        raise LicenseParseError(f"the license expression has more than {MAX_OPTIONS} alternatives")
    return options


def restrictions_of(ids: Iterable[str], policy: LicensePolicy) -> frozenset[Restriction]:
    found: set[Restriction] = set()
    for license_id in ids:
        declaration = policy.declaration(license_id)
        if declaration is not None:
            found |= declaration.restrictions
    return frozenset(found)


def judge_license(parsed: ParsedLicense, policy: LicensePolicy) -> LicenseVerdict:
    undeclared = tuple(sorted(i for i in parsed.ids if is_user_defined(i) and policy.declaration(i) is None))
    usable = [o for o in parsed.options if not any(policy.action(i) is LicenseAction.DENY for i in o)]
    denied: tuple[str, ...] = ()
    if not usable:
        denied = tuple(sorted(i for i in parsed.ids if policy.action(i) is LicenseAction.DENY))
    candidates = usable or list(parsed.options)
    review = min((_review_ids(o, policy) for o in candidates), key=len)
    common = [restrictions_of(o, policy) for o in candidates]
    return LicenseVerdict(parsed, undeclared, denied, review, frozenset.intersection(*common))


def _review_ids(option: frozenset[str], policy: LicensePolicy) -> tuple[str, ...]:
    return tuple(sorted(
        i for i in option
        if policy.action(i) is LicenseAction.REVIEW or restrictions_of([i], policy) & NEEDS_HUMAN_REVIEW
    ))
