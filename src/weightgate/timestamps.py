"""RFC 3339 date-times read from records and BOMs: parsed to aware instants, never compared as text
(`"9999"` sorts after every real date, and `11:00+01:00` after `10:30Z` though it is earlier)."""

from __future__ import annotations

import datetime
import re

# A full date-time with seconds and a zone, in ASCII digits only (`\d` would take Arabic-Indic digits too).
RFC3339 = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})",
                     re.ASCII)


def parse_rfc3339(value: object) -> datetime.datetime:
    """`value` as an aware time. Raises ValueError for anything that is not an RFC 3339 date-time with a zone."""
    match = RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{str(value)[:60]!r} is not an RFC 3339 date-time with a time zone")
    seconds, fraction, zone = match.groups()
    # Python 3.10's fromisoformat takes 3 or 6 fraction digits and no "Z".
    normalised = seconds + (f".{fraction[:6].ljust(6, '0')}" if fraction else "") + ("+00:00" if zone == "Z" else zone)
    try:
        return datetime.datetime.fromisoformat(normalised)
    except ValueError:
        raise ValueError(f"{str(value)[:60]!r} is not an RFC 3339 date-time with a time zone") from None
