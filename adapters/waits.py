"""How long a network asks us to wait, read once for every network from its answer's headers.

A refusal for now (429, a usage cap) says when to come back in one of two ways:

* **relative**: ``Retry-After: 120`` (delay-seconds, RFC 9110), or a count of minutes in a
  network's own header. Read with ``delay``; the result is a ``timedelta``.
* **absolute**: a reset header (``X-RateLimit-Reset``, ``RateLimit-Reset``, ...) as epoch
  seconds or an ISO 8601 time, or ``Retry-After`` as an HTTP-date. Read with ``reset_time``,
  which compares it with ``now`` (the clock seam: pass ``self.context.clock.now()``, never
  the wall clock); a time already past means "no wait", ``None``.

Every result is **bounded**: a header can hold any digits, and ``timedelta(seconds=10**20)``
or ``now + timedelta(days=10**9)`` overflow. A wait longer than ``MAX_WAIT`` is clamped to
it: no network documents a window longer than a day (X's 24-hour post cap is the longest),
so a longer one is a broken header, and after a day we simply ask again. Nothing here raises
on what a network sent; unreadable values are ``None``.

``wait_from(headers, now, reset=(...))`` combines both for the usual 429: the first reset
header that names a future time wins, else ``Retry-After``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from multidict import CIMultiDict

MAX_WAIT = timedelta(hours=24)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Wait:
    """What a refusal asked for: an absolute ``reset_at``, a relative ``retry_after``, or
    neither (then the engine backs off as for a transient failure)."""

    reset_at: datetime | None = None
    retry_after: timedelta | None = None


def delay(seconds: float) -> timedelta | None:
    """``seconds`` as a wait: None unless positive, at most ``MAX_WAIT``."""
    if math.isnan(seconds) or seconds <= 0:
        return None
    if seconds >= MAX_WAIT.total_seconds():  # inf included
        return MAX_WAIT
    return timedelta(seconds=seconds)


def seconds(value: str | None) -> timedelta | None:
    """Delay-seconds as ``Retry-After`` sends them (``"120"``; a fraction is tolerated)."""
    text = (value or "").strip()
    if not _NUMBER.fullmatch(text):
        return None
    if len(text.split(".")[0]) > 12:  # beyond any clamp: no float needed to know it
        return MAX_WAIT
    return delay(float(text))


def instant(value: str | None) -> datetime | None:
    """An absolute time as networks send one: epoch seconds (fractions too), ISO 8601 (``Z``
    or an offset; none means UTC) or an HTTP-date. Times past year 9999 come back as the
    latest time there is, for the caller to clamp; anything unreadable is None."""
    text = (value or "").strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        if len(text.split(".")[0]) > 12:  # past year 33658: far beyond any clamp
            return _LATEST
        try:
            return _EPOCH + timedelta(seconds=float(text))
        except OverflowError:
            return _LATEST
    try:
        when: datetime | None = datetime.fromisoformat(
            text.replace("Z", "+00:00").replace("z", "+00:00")
        )
    except ValueError:
        when = _http_date(text)
    if when is None:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _http_date(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def reset_time(value: str | None, now: datetime) -> datetime | None:
    """A reset header's time if it is still to come, at most ``MAX_WAIT`` after ``now``."""
    when = instant(value)
    if when is None or when <= now:
        return None
    return min(when, now + MAX_WAIT)


def retry_after(value: str | None, now: datetime) -> Wait:
    """``Retry-After`` in either of its forms: delay-seconds or an HTTP-date."""
    relative = seconds(value)
    if relative is not None:
        return Wait(retry_after=relative)
    if value and not _NUMBER.fullmatch(value.strip()):
        when = _http_date(value.strip())
        if when is not None:
            when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
            if when > now:
                return Wait(reset_at=min(when, now + MAX_WAIT))
    return Wait()


def wait_from(headers: Mapping[str, str], now: datetime, *, reset: Sequence[str] = ()) -> Wait:
    """The wait a refusal's headers ask for: the first of the ``reset`` headers (names in a
    network's spelling, matched case-insensitively) that names a time to come, else
    ``Retry-After``."""
    found = CIMultiDict(headers)
    for name in reset:
        when = reset_time(found.get(name), now)
        if when is not None:
            return Wait(reset_at=when)
    return retry_after(found.get("Retry-After"), now)
