"""Problems with the *input* (usage, unreadable manifest or policy): exit 2, never a traceback.

What the gate *finds* in artifacts is a Finding, not an exception.
"""

from __future__ import annotations


class WeightgateError(Exception):
    """A usage or input problem. `str(err)` is the message a user sees; `hint` says what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def diagnostics(self) -> str:
        text = str(self)
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class InputFileError(WeightgateError):
    """A manifest, policy or other input file cannot be read or parsed."""


class PolicyError(WeightgateError):
    """The policy is invalid: the gate cannot decide anything without a valid policy."""


class OutputError(WeightgateError):
    """A report could not be written."""
