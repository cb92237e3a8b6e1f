"""Problems found in the user's files, each pointing at ``file:line:column``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str
    line: int
    column: int
    field: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        if self.field:
            return f"{where}: {prefix}{self.field}: {self.message}"
        return f"{where}: {prefix}{self.message}"


class InvalidFileError(Exception):
    """A file that must not be applied; carries every problem found, not only the first."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


def quoted(value: object, limit: int = 60) -> str:
    """``repr`` of what an editor wrote, cut short: a message quotes a 4,000-character id
    or key in a line someone can still read."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def kind_of(value: object) -> str:
    """What a value is, in an editor's words: "got a list", "got the number 3"."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The choice an editor most likely meant: a near spelling, or a word it contains."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=2, cutoff=0.6)
    if close:
        ratios = [difflib.SequenceMatcher(None, word, c).ratio() for c in close]
        # brand-x is as close to brand-a as to brand-b: suggesting one would mislead.
        return close[0] if len(close) == 1 or ratios[0] > ratios[1] else None
    tokens = set(re.split(r"[_\-.\s]+", word.lower()))
    for choice in choices:
        if len(choice) >= 3 and (choice in tokens or choice.startswith(word.lower())):
            return choice
    return None
