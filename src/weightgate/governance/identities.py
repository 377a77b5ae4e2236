"""Is this reviewer the artifact's owner? Separation of duties compares identities the way an attacker would try
to make them differ: Unicode compatibility forms (NFKC), case (casefold) and look-alike characters (the
Unicode confusables skeleton of UTS #39, with the data of the `confusable-homoglyphs` package), so that
`\u0430ppsec@example.com` (a Cyrillic a), or `APPSEC@EXAMPLE.COM`, is the same person as `appsec@example.com`.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from importlib import resources

# Characters that render as nothing or as a space: dropped, so `app\u200bsec` is `appsec`.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Cc"})


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character -> one representative of its class (the smallest code point). Classes are
    joined transitively: a wider class can only make more identities equal, which is the safe direction here."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent.get(c, c) != c:
            parent[c] = parent.get(parent[c], parent[c])
            c = parent[c]
        return c

    for char, entries in data.items():
        if len(char) != 1:
            continue
        for entry in entries:
            other = str(entry.get("c", "")).strip("\u200e\u200f")
            if len(other) == 1:
                a, b = find(char), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {c: find(c) for c in parent}


def skeleton(identity: str) -> str:
    """The form two identities share when a person could not tell them apart."""
    text = unicodedata.normalize("NFKC", identity).casefold()
    text = "".join(c for c in text if unicodedata.category(c) not in _INVISIBLE_CATEGORIES)
    prototypes = _prototypes()
    mapped = "".join(prototypes.get(c, c) for c in text)
    return unicodedata.normalize("NFKC", mapped).casefold()


def same_person(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and skeleton(str(a)) == skeleton(str(b))
