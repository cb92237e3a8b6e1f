"""LinkedIn's error documents, as far as they are there: ``message``, ``code``, and the
Rest.li ``errorDetails.inputErrors`` of a body that did not validate (``DUPLICATE_POST``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from publisher.adapters.transport import Answer
from publisher.adapters.waits import wait_from


@dataclass(frozen=True)
class Refusal:
    """LinkedIn's error document, as far as it is there."""

    message: str
    code: str
    input_codes: frozenset[str]

    @classmethod
    def of(cls, answer: Answer) -> Refusal:
        doc = answer.maybe_json()
        err: Mapping[str, Any] = doc if isinstance(doc, dict) else {}
        return cls(
            message=str(err.get("message") or "").strip(),
            code=str(err.get("code") or "").strip(),
            input_codes=frozenset(input_error_codes(err)),
        )

    @property
    def duplicate(self) -> bool:
        return (
            "DUPLICATE_POST" in self.input_codes
            or "DUPLICATE_POST" in self.code
            or "duplicate" in self.message.lower()
        )


def input_error_codes(err: Mapping[str, Any]) -> set[str]:
    """The ``code`` of each of Rest.li's ``errorDetails.inputErrors``."""
    details = err.get("errorDetails")
    inputs = details.get("inputErrors") if isinstance(details, dict) else None
    if not isinstance(inputs, list):
        return set()
    return {str(i.get("code")) for i in inputs if isinstance(i, dict) and i.get("code")}


def retry_after(
    headers: Mapping[str, str], now: datetime
) -> tuple[datetime | None, timedelta | None]:
    """A ``Retry-After`` header (seconds, or an HTTP date) as (reset_at, retry_after), bounded
    (``publisher.adapters.waits``): LinkedIn sends no reset header."""
    wait = wait_from(headers, now)
    return wait.reset_at, wait.retry_after
