"""What the console looks like on the stream it goes to: colour (--color, NO_COLOR, FORCE_COLOR) and lines
that fit the terminal (long digests shortened there; JSON and SARIF always carry the full values)."""

from __future__ import annotations

import enum
import re
import shutil
from collections.abc import Mapping

# A sha256 digest shown in full is 64 characters; on a terminal, its first 12 identify it to a reader.
SHORT_DIGEST_CHARS = 12
_DIGEST = re.compile(rf"\b([0-9a-f]{{{SHORT_DIGEST_CHARS}}})[0-9a-f]{{{64 - SHORT_DIGEST_CHARS}}}\b")


class ColorChoice(str, enum.Enum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def color_enabled(choice: str, isatty: bool, env: Mapping[str, str]) -> bool:
    """--color always/never decides; under auto, NO_COLOR (any non-empty value, no-color.org) turns colour off,
    then FORCE_COLOR (non-empty, not 0) turns it on, else a terminal gets colour and a log does not."""
    selected = ColorChoice(choice)
    if selected is ColorChoice.ALWAYS:
        return True
    if selected is ColorChoice.NEVER:
        return False
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    return isatty


def terminal_width(isatty: bool) -> int | None:
    """The terminal's width, or None for a log or a pipe (whose lines are never shortened)."""
    return shutil.get_terminal_size().columns if isatty else None


def fitted(line: str, width: int | None) -> str:
    """`line`, with its sha256 digests shortened to their first characters when it is wider than `width`."""
    if width is None or len(line) <= width:
        return line
    return _DIGEST.sub(lambda m: m.group(1) + "…", line)
