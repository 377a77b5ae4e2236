"""Untrusted text made fit to show: one place decides how manifest text, file paths, mirror URIs, server
messages and artifact strings reach a terminal, a log, a CI runner, Markdown, CSV or a report file.

Every channel starts from `shown()` (one line, nothing a terminal or a runner interprets) and adds only what
it needs on top (`markdown_text`, `workflow_data`/`workflow_property`, `csv_cell`). Credentials written into
URLs are cut out by `redact_url` / `redact_urls` before any of that.

Why each class of character is escaped (issue 14, class 3):
- C0 controls, DEL and C1 controls: ESC starts ANSI sequences that recolour, move the cursor, retitle the
  window or hide text; CR overwrites a line already printed; LF starts a new line an attacker chooses.
- U+2028/U+2029 and U+0085 are line breaks to some viewers and log collectors.
- Bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069) reorder what a reviewer reads
  ("Trojan Source"), and the invisible marks U+200E/U+200F/U+061C do the same silently.
- A line that starts with `::` is a GitHub workflow command (`::add-mask::`, `::error ...::`,
  `::stop-commands::`); the runner trims leading white space first.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

# Characters never shown raw: C0 (LF, CR and TAB included), DEL, C1, Unicode line/paragraph separators,
# bidi controls and the invisible direction marks.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_UNSAFE_KEEP_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e"
                                  "\u200f\u061c]")
_UNSAFE_KEEP_CR_LF = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e"
                                "\u200f\u061c]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_COMMAND_LINE = re.compile(r"^(\s*):", re.MULTILINE)
# ASCII punctuation CommonMark lets a backslash escape: escaping all of it keeps manifest text literal.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
REDACTED = "REDACTED"
# Query parameters that carry a secret in presigned or tokenised URLs (matched case-insensitively).
_SECRET_PARAMS = re.compile(
    r"^(x-amz-(signature|credential|security-token)|x-goog-(signature|credential)|signature|sig|"
    r"token|access_token|auth|authorization|api[-_]?key|apikey|key|secret|password|passwd|pwd|"
    r"awsaccesskeyid)$", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown(text: object) -> str:
    """One line fit for a terminal, a log or a CI runner: every control, line-break and bidi character as a
    visible escape (`\\x1b`, `\\n`, `\\u202e`), credentials in URLs redacted. Use it for any single value."""
    value = str(text)
    if value.isascii() and value.isprintable() and "://" not in value:
        return value  # no control to escape (printable ASCII holds none) and no URL: most values, at C speed
    return _UNSAFE.sub(_escape_char, redact_urls(value))


def shown_lines(text: object) -> str:
    """Several lines (a report, an error with its hint) for a terminal or a log: newlines kept, every other
    control escaped, and no line may begin as a workflow command (a leading `:` becomes `\\x3a`)."""
    safe = _UNSAFE_KEEP_NEWLINE.sub(_escape_char, redact_urls(str(text)))
    return _COMMAND_LINE.sub(lambda m: m.group(1) + "\\x3a", safe)


def markdown_text(text: object) -> str:
    """Untrusted text as literal Markdown: one line, every punctuation character backslash-escaped so that
    no link, image, HTML tag, table cell break or mention can be injected."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", shown(" ".join(str(text).split())))


def workflow_data(text: object) -> str:
    """A workflow command's message. CR and LF become `%0D`/`%0A` (the runner shows them as line breaks inside
    the annotation, never as new commands), other controls are escaped; `%` first, so the escapes it
    introduces are not escaped again."""
    safe = _UNSAFE_KEEP_CR_LF.sub(_escape_char, redact_urls(str(text)))
    return safe.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: object) -> str:
    """A workflow command's property value, where `:` ends the properties and `,` separates them."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def csv_cell(text: object) -> str:
    """A CSV cell a spreadsheet will not evaluate: a leading `=`, `+`, `-`, `@` (or tab/CR) makes it a
    formula, so such a cell is prefixed with `'`; controls are escaped as everywhere else."""
    value = shown(text)
    return "'" + value if value.startswith(CSV_FORMULA_STARTS) else value


def redact_url(url: str) -> str:
    """The URL with credentials cut out: user info (`user:pass@`) and secret-bearing query parameters
    (`token=`, `X-Amz-Signature=`, `sig=`, ...) become REDACTED. Other text is returned as it is."""
    if "@" not in url and "?" not in url:
        return url  # no user info and no query: nothing to redact (every local path takes this way)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAMS.match(k) for k, _ in pairs):
            query = urlencode([(k, REDACTED if _SECRET_PARAMS.match(k) else v) for k, v in pairs], safe="/:")
    if netloc == parts.netloc and query == parts.query:
        return url
    return parts._replace(netloc=netloc, query=query).geturl()


def redact_urls(text: str) -> str:
    """Every URL inside free text (a message, a reason, an error) with its credentials redacted."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group()), text)


class EscapingFormatter(logging.Formatter):
    """Log records quote URIs, paths and server answers: every line is escaped like any other output."""

    def format(self, record: logging.LogRecord) -> str:
        return shown_lines(super().format(record))
