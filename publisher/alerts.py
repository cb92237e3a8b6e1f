"""Which new inbox items a human hears about at once (issue 20): pure decisions.

Two rules, both from ``[alerts]``: an item whose text holds one of the alert terms (or that
a watch with ``alert = true`` found) is sent on its own; a volume spike (more than
``per_hour`` items for one account in an hour, or ``factor`` times its usual hourly rate
with at least ``min_items``) is sent once per account and hour. The listener reads the
clock and the store, and sends what these functions return through ``[notify]``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import regex

HOUR = timedelta(hours=1)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def matching_term(text: str, terms: Sequence[str]) -> str | None:
    """The first of ``terms`` found in ``text`` as a whole word or phrase (any case, any
    Unicode form): "Acme" finds "acme's" and "#acme" but not "acmeology"."""
    folded = _fold(text)
    for term in terms:
        t = _fold(term.strip())
        if not t:
            continue
        pattern = rf"(?<![\p{{L}}\p{{N}}_]){regex.escape(t)}(?![\p{{L}}\p{{N}}_])"
        if regex.search(pattern, folded):
            return term
    return None


def window_of(at: datetime) -> datetime:
    """The clock hour ``at`` falls in (UTC): one spike alert per account and hour."""
    return at.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Spike:
    account: str
    window: datetime  # the hour it is about
    count: int  # items received in the last hour
    usual: float  # the account's usual items per hour (over the baseline)
    rule: str  # "per_hour" or "factor"


def spikes(
    received: Mapping[str, Sequence[datetime]],
    now: datetime,
    *,
    per_hour: int | None,
    factor: float | None,
    baseline: timedelta,
    min_items: int,
) -> list[Spike]:
    """The accounts whose last hour (``now - 1h``, ``now``] is a spike, from the times their
    items were received over (``now - baseline - 1h``, ``now``]: the hour itself is not part
    of its own baseline."""
    out = []
    start = now - HOUR
    hours = baseline / HOUR
    for account, times in sorted(received.items()):
        recent = sum(1 for t in times if start < t <= now)
        before = sum(1 for t in times if start - baseline < t <= start)
        usual = before / hours if hours > 0 else 0.0
        if per_hour is not None and recent > per_hour:
            out.append(Spike(account, window_of(now), recent, usual, "per_hour"))
        elif factor is not None and recent >= min_items and recent > factor * usual:
            out.append(Spike(account, window_of(now), recent, usual, "factor"))
    return out
