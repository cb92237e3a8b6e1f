"""When each listening stream is read next, and what a failed read does: pure decisions.

A stream is an account's inbox, or one watch searched through one account. Each takes
``now`` and returns values; only the listener's loop (``publisher.engine.listen``) reads the
clock. A failed read follows the publishing retry rules (``decide.after_error``): a rate
limit holds the account's listening until its reset, credentials to fix hold it and
recheck later, anything else backs off; past ``max_attempts`` it waits for the next interval.
A read never fails a post, and a post never waits for a read.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.adapters.base import AdapterError
from publisher.config import Config
from publisher.engine.decide import (
    HoldAccount,
    RetryAt,
    RetryPolicy,
    Unresolved,
    after_error,
    backoff,
)
from publisher.listenconfig import watch_accounts
from publisher.store.inbox import INBOX, watch_stream

# Another page is waiting: read it this soon (not at once: the network's limits are shared
# with publishing, and a burst of pages never starves the engine's requests).
MORE_GAP = timedelta(seconds=2)
# The first reads after a start are spread over this much (or the interval, if shorter).
SPREAD = timedelta(seconds=60)
# A per-post network reads the comments of the account's posts this young, this many.
OWN_POSTS_AGE = timedelta(days=14)
OWN_POSTS_LIMIT = 50


@dataclass(frozen=True)
class Stream:
    account: str
    name: str  # "inbox" or "watch:<name>"
    every: timedelta
    terms: tuple[str, ...] = ()  # a watch's terms; () for the inbox
    alert: bool = False  # a watch whose every new item is alerted

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.name)


def streams(config: Config, listening: Iterable[str]) -> list[Stream]:
    """The streams to read: each listening account's inbox, and each watch through each
    account that searches for it. ``listening``: accounts whose adapter can listen."""
    can = set(listening)
    out = [
        Stream(name, INBOX, acc.listen_interval)
        for name, acc in config.accounts.items()
        if acc.listen and acc.enabled and name in can
    ]
    for w in config.watches:
        for account in watch_accounts(w, config.accounts):
            if account in can and config.accounts[account].enabled:
                out.append(Stream(account, watch_stream(w.name), w.every, tuple(w.terms), w.alert))
    return out


def first_reads(
    streams: Iterable[Stream], read_at: Mapping[tuple[str, str], datetime], now: datetime
) -> dict[tuple[str, str], datetime]:
    """When each stream is first read after a start: one interval after its last read (a
    restart does not re-read everything at once), soon if never read or overdue: spread
    over ``SPREAD`` (or the interval, if shorter) by a stable hash of the stream, so 500
    accounts starting together do not ask at the same second, then every interval after."""
    out = {}
    for s in streams:
        last = read_at.get(s.key)
        soon = now + spread(s)
        out[s.key] = soon if last is None else max(soon, min(last + s.every, now + s.every))
    return out


def spread(stream: Stream) -> timedelta:
    """A stable offset in [0, min(SPREAD, every)) for ``stream``."""
    window = min(SPREAD, stream.every)
    slot = zlib.crc32(f"{stream.account}\0{stream.name}".encode()) / 2**32
    return timedelta(seconds=int(window.total_seconds() * slot))


def after_read(stream: Stream, more: bool, now: datetime) -> datetime:
    return now + MORE_GAP if more else now + stream.every


@dataclass(frozen=True)
class ReadFailed:
    next_at: datetime  # when this stream is tried again
    attempts: int  # consecutive failures so far (0 after giving up until the next interval)
    hold_until: datetime | None  # the whole account's listening waits until then
    reason: str


def after_failure(
    stream: Stream,
    err: AdapterError,
    attempts: int,
    now: datetime,
    policy: RetryPolicy,
    rand: float,
) -> ReadFailed:
    """``attempts``: this failure's number in a row (1 for the first)."""
    step = after_error(err, attempts, now, policy, rand)
    if isinstance(step, HoldAccount):
        return ReadFailed(step.until, attempts, step.until, step.reason)
    if isinstance(step, RetryAt):
        return ReadFailed(step.at, attempts, step.account_limited_until, step.reason)
    if isinstance(step, Unresolved):  # a read creates nothing: as a transient
        return ReadFailed(now + backoff(attempts, policy, rand), attempts, None, step.reason)
    return ReadFailed(now + stream.every, 0, None, step.reason)  # given up until next time
