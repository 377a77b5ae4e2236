"""Is this reviewer the artifact's owner? Separation of duties compares identities the way an attacker would try
to make them differ: Unicode compatibility forms (NFKC), case (casefold) and look-alike characters (the
Unicode confusables skeleton of UTS #39, with the data of the `confusable-homoglyphs` package), so that
`\u0430ppsec@example.com` (a Cyrillic a), or `APPSEC@EXAMPLE.COM`, is the same person as `appsec@example.com`.
"""

from __future__ import annotations

import functools
import json
import unicodedata

# Characters that render as nothing or as a space: dropped, so `app\u200bsec` is `appsec`.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Cc"})
# `skeleton` of each printable ASCII character after case folding, as the data gives it (a test derives it
# again from the data): identities in plain ASCII need not load the 900 kB of confusables.
ASCII_SKELETON = str.maketrans({"l": "1", "|": "1", "`": "'"})


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character -> the smallest code point among it and the characters the data lists as
    confusable with it: one step, so a look-alike maps to the ASCII letter it imitates (Cyrillic `\u0430` -> `a`,
    `l` -> `1`) without chains of look-alikes joining letters a reader tells apart."""
    from importlib import resources  # here: importing it costs every check 5 ms (start-up, issue 18)

    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    prototypes = {}
    for char, entries in data.items():
        if len(char) != 1:
            continue
        others = (str(e.get("c", "")).strip("\u200e\u200f") for e in entries)
        smallest = min((char, *(o for o in others if len(o) == 1)))
        if smallest != char:
            prototypes[char] = smallest
    return prototypes


def skeleton(identity: str) -> str:
    """The form two identities share when a person could not tell them apart."""
    text = unicodedata.normalize("NFKC", identity).casefold()
    text = "".join(c for c in text if unicodedata.category(c) not in _INVISIBLE_CATEGORIES)
    if text.isascii():  # most identities: no need to load the confusables data (50 ms) for them
        return text.translate(ASCII_SKELETON)
    return "".join(map(_prototype, text))


def _prototype(char: str) -> str:
    """Follow the smallest-look-alike map to its end (`|` -> `l` -> `1`): each step lowers the code point, so
    it ends; then fold case again, since a prototype may be a capital."""
    prototypes = _prototypes()
    while char in prototypes:
        char = prototypes[char]
    return unicodedata.normalize("NFKC", char).casefold()


def ascii_skeleton_table() -> dict[str, str]:
    """What `skeleton` maps each printable ASCII character to, from the full data (ASCII_SKELETON is this)."""
    table = {}
    for c in map(chr, range(32, 127)):
        full = "".join(map(_prototype, c.casefold()))
        if full != c:
            table[c] = full
    return table


def same_person(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and skeleton(str(a)) == skeleton(str(b))
