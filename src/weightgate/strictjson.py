"""The one JSON reader for everything weightgate believes or judges: evidence (eval reports, signatures, review
and decision records), registry and server answers, BOMs and trust configs.

JSON that two readers can read two ways is refused, never resolved: a key written twice in one object (Python's
`json` keeps the last, other parsers the first or refuse), and `NaN`/`Infinity`, which are not JSON at all
(RFC 8259) but which Python accepts and turns into numbers that compare false with everything, so a threshold
check on them passes whichever way it is written. Files inside artifacts (configs, tokenizers) are not read
here: they are judged the way their loaders read them (formats/jsontext.py).
"""

from __future__ import annotations

import json
from typing import Any

MAX_SHOWN_KEY_CHARS = 80


class JsonRefused(ValueError):
    """Not JSON weightgate reads: not UTF-8, not JSON, nested too deeply, or ambiguous (AmbiguousJson)."""


class AmbiguousJson(JsonRefused):
    """Well-formed enough for a lenient parser, but readers disagree on what it says: a repeated key, NaN or
    Infinity."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise AmbiguousJson(f"the key {json.dumps(key)[:MAX_SHOWN_KEY_CHARS]} appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise AmbiguousJson(f"{name} is not a JSON number")


def strict_json(data: bytes | str, what: str, *, allow_bom: bool = False) -> Any:
    """`data` parsed as JSON, or JsonRefused saying why (`what` names it in the message). A UTF-8 byte order mark
    is accepted only with `allow_bom` (eval harnesses on Windows write one)."""
    try:
        text = data if isinstance(data, str) else data.decode("utf-8-sig" if allow_bom else "utf-8")
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except AmbiguousJson as e:
        raise AmbiguousJson(f"{what}: {e}") from None
    except UnicodeDecodeError as e:
        raise JsonRefused(f"{what} is not JSON: not UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise JsonRefused(f"{what} is not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except (ValueError, RecursionError) as e:
        raise JsonRefused(f"{what} is not JSON: {type(e).__name__}") from None
