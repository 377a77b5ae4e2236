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


@dataclass(frozen=True)
class _SpdxSymbol:
    aliases: tuple[str, ...]
    is_exception: bool
    lowered_names: tuple[str, ...]  # the id and its aliases in lower case, for matching


@functools.cache
def _spdx_symbols() -> dict[str, _SpdxSymbol]:
    """SPDX id -> its aliases, from the license index license-expression ships, without its
    LicenseRef aliases (e.g. `LicenseRef-Apache` would silently become Apache-2.0): user-defined LicenseRef
    ids stay literal and must be declared."""
    from license_expression import get_license_index

    symbols: dict[str, _SpdxSymbol] = {}
    for entry in get_license_index():
        key = entry.get("spdx_license_key") or ""
        if not key or key.lower().startswith(USER_DEFINED_PREFIXES) or key in symbols:
            continue
        aliases = tuple(a for a in entry.get("other_spdx_license_keys") or ()
                        if not a.lower().startswith(USER_DEFINED_PREFIXES))
        symbols[key] = _SpdxSymbol(aliases, bool(entry.get("is_exception")),
                                   tuple(name.lower() for name in (key, *aliases)))
    return symbols


def _licensing_for(text: str) -> Any:
    """A licensing that knows the SPDX symbols whose id or an alias occurs in `text` (ignoring case).

    The parser only recognises known ids and aliases as substrings of the text, so the others could never
    match: the result is the one a licensing of all ~2,600 symbols gives, without building that licensing,
    which cost more than the rest of an offline check."""
    from license_expression import LicenseSymbol, Licensing

    lowered = text.lower()
    return Licensing([
        LicenseSymbol(key, aliases=symbol.aliases, is_exception=symbol.is_exception)
        for key, symbol in _spdx_symbols().items()
        if any(name in lowered for name in symbol.lowered_names)
    ])


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
    licensing = _licensing_for(text)
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
    return license_id in _spdx_symbols()


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
