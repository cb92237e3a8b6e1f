"""Pure decisions of engagement collection (issue 16): what to read, when, and after a failure.

Each function takes ``now`` and returns values; only the collector's loop
(``publisher.engine.collect``) reads the clock and talks to the store and the networks.

A reading at age A of a post published at P is due at P + A and may be taken until P + 2A
(its window): later than that, the figure would not be one of its age, and weeks compare
only if each age means what it says. A reading that fails is retried with the publishing
retry rules (``[retry]``, ``decide.after_error``) within its window, then missed. A rate
limit holds the account's readings (never its publishing) until the network's reset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from publisher.adapters.base import AdapterError
from publisher.adapters.engagement import PostGone, PostNumbers, PostReading
from publisher.config import ReadingAge
from publisher.engine.decide import (
    GiveUp,
    HoldAccount,
    RetryAt,
    RetryPolicy,
    Unresolved,
    after_error,
    backoff,
)
from publisher.store.records import (
    PublishedPost,
    Reading,
    ReadingChange,
    ReadingGone,
    ReadingMissed,
    ReadingRetry,
    ReadingTaken,
    SnapshotOutcome,
)

FOLLOWERS_EVERY = timedelta(days=1)
# How long a claimed reading is this daemon's: past it (this daemon died mid-read), another
# daemon may take it. Far longer than any request may last (``request_timeout``).
READ_LEASE = timedelta(minutes=10)
ANSWER_MISSING = "the network's answer left this post out"


@dataclass(frozen=True)
class AccountReading:
    """What collection needs of one account: its ages and how its network reads."""

    account: str
    ages: tuple[ReadingAge, ...]  # shortest first
    batch: int = 1
    followers: bool = True

    @property
    def horizon(self) -> timedelta:
        """How far back a publication may still have a reading to take."""
        return 2 * self.ages[-1].age if self.ages else timedelta(0)


def window_end(due_at: datetime, age: timedelta) -> datetime:
    """The last moment a reading of ``age`` due at ``due_at`` is still one of its age."""
    return due_at + age


def plan(post: PublishedPost, ages: Sequence[ReadingAge], now: datetime) -> list[Reading]:
    """The readings to add for a published post: each configured age not planned yet whose
    window has not closed (a post published before collection was turned on gets only the
    ages it is still young enough for). A post found gone gets none."""
    if post.gone:
        return []
    out = []
    for a in ages:
        seconds = int(a.age.total_seconds())
        due = post.published_at + a.age
        until = window_end(due, a.age)
        if seconds in post.planned or until <= now:
            continue
        out.append(
            Reading(
                post.delivery_id,
                a.age,
                a.label,
                post.post_id,
                post.account,
                post.network,
                post.remote_id,
                post.published_at,
                due,
                until,
            )
        )
    return out


@dataclass(frozen=True)
class Batches:
    """Due readings sorted out: those to read now (each batch one request of one account)
    and those that will not be taken."""

    reads: list[list[Reading]] = field(default_factory=list)
    missed: list[ReadingMissed] = field(default_factory=list)


def sort_due(
    due: Sequence[Reading], accounts: Mapping[str, AccountReading], now: datetime
) -> Batches:
    """Group due readings into reads of at most the account's batch, one remote id once per
    batch. Readings past their window, or of an age no longer configured (or of an account
    whose collection is off), are missed."""
    out = Batches()
    open_batches: dict[str, list[Reading]] = {}
    for r in due:
        acc = accounts.get(r.account)
        if acc is None or all(a.age != r.age for a in acc.ages):
            out.missed.append(ReadingMissed(r.key, f"age {r.age_label} is not configured"))
            continue
        if r.until_at <= now:
            out.missed.append(ReadingMissed(r.key, f"not read within its window ({r.age_label})"))
            continue
        batch = open_batches.get(r.account)
        if (
            batch is None
            or len(batch) >= max(acc.batch, 1)
            or any(b.remote_id == r.remote_id for b in batch)
        ):
            batch = open_batches[r.account] = []
            out.reads.append(batch)
        batch.append(r)
    return out


def taken(
    batch: Sequence[Reading], answer: Iterable[PostReading], now: datetime
) -> list[ReadingChange]:
    """A successful read's results: each reading's snapshot, or the post gone. A reading the
    answer left out (the network returned fewer posts than asked) is retried like a failure
    by the caller: it is returned among ``unanswered``."""
    by_id: dict[str, PostReading] = {}
    for item in answer:
        by_id.setdefault(item.remote_id, item)
    out: list[ReadingChange] = []
    for r in batch:
        found = by_id.get(r.remote_id)
        if isinstance(found, PostNumbers):
            out.append(
                ReadingTaken(
                    r.snapshot(now, dict(found.counts), tuple(found.unavailable), dict(found.extra))
                )
            )
        elif isinstance(found, PostGone):
            out.append(ReadingGone(r.snapshot(now, {}, outcome=SnapshotOutcome.GONE)))
    return out


def unanswered(batch: Sequence[Reading], answer: Iterable[PostReading]) -> list[Reading]:
    """The readings of a batch its answer said nothing about."""
    ids = {item.remote_id for item in answer}
    return [r for r in batch if r.remote_id not in ids]


@dataclass(frozen=True)
class Failed:
    """A read's failure decided: what to write for each reading, and whether the account's
    collection waits (a rate limit, or credentials to fix) until ``hold_until``."""

    changes: list[ReadingChange]
    hold_until: datetime | None = None
    reason: str = ""


def failed(
    batch: Sequence[Reading],
    err: AdapterError,
    now: datetime,
    policy: RetryPolicy,
    rand: float,
) -> Failed:
    """After a read of ``batch`` failed with ``err``: the publishing retry rules, bounded by
    each reading's window. Credentials to fix hold the account's collection and recheck
    later; publishing finds out for itself and is never failed by a read."""
    changes: list[ReadingChange] = []
    hold: datetime | None = None
    reason = err.reason
    for r in batch:
        step = after_error(err, r.attempts + 1, now, policy, rand)
        if isinstance(step, HoldAccount):
            hold = step.until
            changes.append(_retry_or_miss(r, step.until, step.reason))
        elif isinstance(step, RetryAt):
            if step.account_limited_until is not None:
                hold = step.account_limited_until
            changes.append(_retry_or_miss(r, step.at, step.reason))
        elif isinstance(step, Unresolved):  # a read creates nothing: as a transient
            changes.append(
                _retry_or_miss(r, now + backoff(r.attempts + 1, policy, rand), step.reason)
            )
        else:
            assert isinstance(step, GiveUp)
            changes.append(ReadingMissed(r.key, step.reason))
    return Failed(changes, hold, reason)


def left_out(r: Reading, now: datetime, policy: RetryPolicy, rand: float) -> ReadingChange:
    """A reading the network's answer did not mention: retried, then missed."""
    if r.attempts + 1 >= policy.max_attempts:
        return ReadingMissed(r.key, f"{ANSWER_MISSING} {r.attempts + 1} times")
    return _retry_or_miss(r, now + backoff(r.attempts + 1, policy, rand), ANSWER_MISSING)


def _retry_or_miss(r: Reading, at: datetime, reason: str) -> ReadingChange:
    if at >= r.until_at:
        return ReadingMissed(r.key, f"not read within its window ({r.age_label}): {reason}")
    return ReadingRetry(r.key, at, reason)


# ------------------------------------------------------------------ followers


@dataclass(frozen=True)
class FollowerRetry:
    """An account's follower read that failed: tried again at ``at`` (attempt count kept)."""

    at: datetime
    attempts: int


def followers_due(
    accounts: Iterable[AccountReading],
    last: Mapping[str, datetime],
    retries: Mapping[str, FollowerRetry],
    held: Mapping[str, datetime],
    now: datetime,
) -> tuple[list[str], datetime | None]:
    """Which accounts' follower counts to read now (once a day each), and when the next one
    is due."""
    due: list[str] = []
    upcoming: list[datetime] = []
    for acc in accounts:
        if not acc.followers or not acc.ages:
            continue
        at = last[acc.account] + FOLLOWERS_EVERY if acc.account in last else now
        retry = retries.get(acc.account)
        if retry is not None:
            at = max(at, retry.at)
        hold = held.get(acc.account)
        if hold is not None and hold > at:
            at = hold
        if at <= now:
            due.append(acc.account)
        else:
            upcoming.append(at)
    return due, min(upcoming) if upcoming else None


def follower_failed(
    err: AdapterError, retry: FollowerRetry | None, now: datetime, policy: RetryPolicy, rand: float
) -> FollowerRetry:
    """A failed follower read: the publishing backoff; past ``max_attempts`` (or a permanent
    error) it waits for tomorrow's reading."""
    attempts = (retry.attempts if retry else 0) + 1
    step = after_error(err, attempts, now, policy, rand)
    if isinstance(step, RetryAt):
        return FollowerRetry(step.at, attempts)
    if isinstance(step, HoldAccount):
        return FollowerRetry(step.until, attempts)
    if isinstance(step, Unresolved):
        return FollowerRetry(now + backoff(attempts, policy, rand), attempts)
    return FollowerRetry(now + FOLLOWERS_EVERY, 0)


def next_wake(*times: datetime | None) -> datetime | None:
    """The earliest of these times (None: nothing to wait for)."""
    known = [t for t in times if t is not None]
    return min(known) if known else None
