"""Pure decisions of the engine. Each takes ``now`` (and any randomness) as arguments.

The worker loop is the only place that reads the clock; these functions only compute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from publisher.adapters.base import (
    AdapterError,
    AmbiguousError,
    Attention,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from publisher.durations import format_duration
from publisher.states import Outcome
from publisher.triage import Triage


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    jitter: float = 0.2


@dataclass(frozen=True)
class RetryAt:
    at: datetime
    reason: str
    outcome: Outcome
    account_limited_until: datetime | None = None  # the whole account waits until then
    attention: Attention | None = None


@dataclass(frozen=True)
class GiveUp:
    reason: str
    outcome: Outcome
    attention: Attention | None = None


@dataclass(frozen=True)
class Unresolved:
    """The request may have landed: resolve by lookup or idempotency, never resend blindly."""

    reason: str
    remote_id: str | None = None


@dataclass(frozen=True)
class HoldAccount:
    """The account's credentials (or its API version) stopped working: flag it, and its
    deliveries wait for a fix."""

    until: datetime
    reason: str
    attention: Attention


CREDENTIALS_RECHECK = timedelta(minutes=15)
# What holds an account instead of failing its deliveries: the operator's to fix, not the post.
OPERATOR_FIXES = frozenset({Attention.CREDENTIALS, Attention.VERSION, Attention.MEDIA_HOST})

Step = RetryAt | GiveUp | Unresolved | HoldAccount


def backoff(attempt: int, policy: RetryPolicy, rand: float) -> timedelta:
    """Capped exponential backoff with jitter; ``rand`` in [0, 1)."""
    doublings = min(max(attempt - 1, 0), 64)
    # Rate limits do not count against max_attempts, so ``attempt`` has no bound: past
    # max_delay stop doubling, or base_delay * 2**n overflows timedelta (about 2**45 * 30s).
    if policy.base_delay.total_seconds() * 2.0**doublings >= policy.max_delay.total_seconds():
        capped = policy.max_delay
    else:
        capped = policy.base_delay * 2**doublings
    factor = 1 + policy.jitter * (2 * rand - 1)
    delay: timedelta = capped * factor
    return delay


def after_error(
    err: AdapterError, attempt: int, now: datetime, policy: RetryPolicy, rand: float
) -> Step:
    """What to do after attempt number ``attempt`` (1-based) failed with ``err``."""
    if isinstance(err, PermanentError):
        if err.attention in OPERATOR_FIXES:
            # Nothing is dropped for a revoked token, a retired API version or a misconfigured
            # media host (every post with media would fail alike): the account
            # waits for a human, and is tried again now and then.
            return HoldAccount(now + CREDENTIALS_RECHECK, err.reason, err.attention)
        return GiveUp(err.reason, Outcome.PERMANENT, err.attention)
    if isinstance(err, AmbiguousError):
        return Unresolved(err.reason, err.remote_id)
    if isinstance(err, RateLimitedError):
        # Never before the time the network gave; without one, back off as for a transient.
        if err.reset_at is not None:
            until = max(err.reset_at, now)
        elif err.retry_after is not None:
            until = now + err.retry_after
        else:
            until = now + backoff(attempt, policy, rand)
        # Rate limits are waits, not failures: they do not use up the retry budget,
        # max_lateness and not_after bound them instead.
        return RetryAt(
            until,
            f"rate-limited until {until:%Y-%m-%d %H:%M:%S}Z: {err.reason}",
            Outcome.RATE_LIMITED,
            account_limited_until=until,
            attention=err.attention,
        )
    assert isinstance(err, TransientError)
    if attempt >= policy.max_attempts:
        return GiveUp(
            f"gave up after {attempt} attempts; last error: {err.reason}", Outcome.TRANSIENT
        )
    delay = backoff(attempt, policy, rand)
    return RetryAt(
        now + delay, f"{err.reason} (retry in {format_duration(delay)})", Outcome.TRANSIENT
    )


def lateness(
    scheduled_at: datetime, not_after: datetime | None, now: datetime, max_lateness: timedelta
) -> str | None:
    """Why a delivery is too late to publish now, or None if it may still go out."""
    if not_after is not None and now > not_after:
        return f"not published before not_after ({not_after:%Y-%m-%d %H:%M}Z)"
    late = now - scheduled_at
    if late > max_lateness:
        return (
            f"{format_duration(late)} late, more than max_lateness {format_duration(max_lateness)}"
        )
    return None


def cap_deferral(
    published: Sequence[datetime],
    now: datetime,
    zone: ZoneInfo,
    max_per_day: int | None,
    min_interval: timedelta | None,
) -> tuple[datetime, str] | None:
    """When an account may publish next under its caps, if not now. ``published`` is sorted."""
    until = now
    reason = ""
    for _ in range(4):  # each cap may push past the other's boundary; a few rounds settle it
        moved = False
        if min_interval is not None and published:
            earliest = published[-1] + min_interval
            if earliest > until:
                until = earliest
                reason = f"min_interval {format_duration(min_interval)} since the last post"
                moved = True
        if max_per_day is not None:
            local = until.astimezone(zone)
            day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            next_day = (day_start + timedelta(days=1, hours=2)).replace(hour=0)
            day_start_utc = day_start.astimezone(zone).astimezone(now.tzinfo)
            count = sum(
                1 for t in published if day_start_utc <= t < next_day.astimezone(now.tzinfo)
            )
            if count >= max_per_day:
                until = next_day.astimezone(now.tzinfo)
                reason = f"max_per_day {max_per_day} reached"
                moved = True
        if not moved:
            break
    return None if until == now else (until, reason)


@dataclass(frozen=True)
class AccountRules:
    max_per_day: int | None
    min_interval: timedelta | None


def triage(
    candidates: Sequence[Any],
    now: datetime,
    free: int,
    *,
    zone: ZoneInfo,
    max_lateness: timedelta,
    per_account: int,
    rules: Mapping[str, AccountRules],
    history: Mapping[str, list[datetime]],
    in_flight: Mapping[str, int],
) -> Triage:
    """Which due deliveries go now, which are too late, which wait for a cap. Pure.

    ``history`` holds each account's recent publications (including in-flight ones, across
    every daemon) and ``in_flight`` its requests out now; both come from the store inside the
    claiming transaction, so caps hold across workers.
    """
    out = Triage()
    taken = dict(in_flight)
    seen = {a: list(times) for a, times in history.items()}
    for d in candidates:
        why = lateness(d.scheduled_at, d.not_after, now, max_lateness)
        if why is not None:
            out.missed.append((d, why))
            continue
        rule = rules.get(d.account)
        if rule is None:
            out.deferred.append(
                (d, now + timedelta(hours=1), f"account {d.account} is not configured")
            )
            continue
        if taken.get(d.account, 0) >= per_account or len(out.chosen) >= free:
            continue
        cap = cap_deferral(seen.get(d.account, []), now, zone, rule.max_per_day, rule.min_interval)
        if cap is not None:
            out.deferred.append((d, cap[0], cap[1]))
            continue
        out.chosen.append(d)
        taken[d.account] = taken.get(d.account, 0) + 1
        seen.setdefault(d.account, []).append(now)
    return out
