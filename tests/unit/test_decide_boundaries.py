"""The engine's pure decisions at their boundaries, as tables (issue 22).

``publisher/engine/decide.py`` is exercised end to end by the engine and error-table tests,
which left wrong boundaries alive under mutation: ``min_interval`` counted from the oldest
post, backoff dividing instead of multiplying, ``>`` against ``>=`` at ``max_lateness``,
``not_after``, free slots and the per-account limit. Each row here pins one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from publisher.adapters.base import (
    AdapterError,
    AmbiguousError,
    Attention,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from publisher.engine.decide import (
    CREDENTIALS_RECHECK,
    AccountRules,
    GiveUp,
    HoldAccount,
    RetryAt,
    RetryPolicy,
    Step,
    Unresolved,
    after_error,
    backoff,
    cap_deferral,
    lateness,
    triage,
)
from publisher.states import Outcome

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # 10:00 in Paris
PARIS = ZoneInfo("Europe/Paris")
POLICY = RetryPolicy(
    max_attempts=8, base_delay=timedelta(seconds=30), max_delay=timedelta(hours=1), jitter=0.2
)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
TICK = timedelta(microseconds=1)


# --- backoff -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "rand", "delay"),
    [
        (1, 0.5, 30 * S),  # the first retry waits base_delay
        (2, 0.5, 60 * S),  # then it doubles: base * 2 ** (attempt - 1)
        (3, 0.5, 120 * S),
        (4, 0.5, 240 * S),
        (7, 0.5, 1920 * S),
        (8, 0.5, H),  # 3840s is past max_delay: capped
        (0, 0.5, 30 * S),  # never below base_delay
        (-3, 0.5, 30 * S),
        (70, 0.5, H),
        (10**9, 0.5, H),  # rate limits do not count attempts: no overflow however many
        (1, 0.0, 24 * S),  # jitter: rand 0 takes 20% off
        (1, 0.25, 27 * S),
        (1, 0.75, 33 * S),  # rand 0.75 adds 10%
        (2, 0.0, 48 * S),
        (8, 0.0, 48 * M),  # the cap is jittered too
        (8, 0.75, 66 * M),
    ],
)
def test_backoff(attempt: int, rand: float, delay: timedelta) -> None:
    assert backoff(attempt, POLICY, rand) == delay


def test_backoff_reaches_max_delay_exactly_at_the_doubling_that_meets_it() -> None:
    policy = RetryPolicy(base_delay=30 * S, max_delay=120 * S, jitter=0.0)
    assert [backoff(a, policy, 0.5) for a in range(1, 6)] == [
        30 * S,
        60 * S,
        120 * S,
        120 * S,
        120 * S,
    ]


def test_backoff_stops_doubling_after_64_doublings() -> None:
    """The exponent is bounded, not only the delay: a microsecond base with no practical cap
    shows the bound (2**64 µs is about 585,000 years, still below ``timedelta.max``)."""
    policy = RetryPolicy(base_delay=TICK, max_delay=timedelta.max, jitter=0.0)
    assert backoff(65, policy, 0.5) == TICK * 2**64
    assert backoff(66, policy, 0.5) == TICK * 2**64
    assert backoff(64, policy, 0.5) == TICK * 2**63


# --- after_error ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorRow:
    id: str
    err: AdapterError
    attempt: int
    step: Step


ERROR_ROWS = [
    ErrorRow(
        "revoked token: the account waits, nothing is dropped",
        PermanentError("token revoked", attention=Attention.CREDENTIALS),
        1,
        HoldAccount(NOW + CREDENTIALS_RECHECK, "token revoked", Attention.CREDENTIALS),
    ),
    ErrorRow(
        "retired API version: the account waits too, the operator updates it",
        PermanentError("426 version not served", attention=Attention.VERSION),
        1,
        HoldAccount(NOW + CREDENTIALS_RECHECK, "426 version not served", Attention.VERSION),
    ),
    ErrorRow(
        "misconfigured media host: every post with media would fail alike, the account waits",
        PermanentError("public URL answers 403", attention=Attention.MEDIA_HOST),
        1,
        HoldAccount(NOW + CREDENTIALS_RECHECK, "public URL answers 403", Attention.MEDIA_HOST),
    ),
    ErrorRow(
        "a missing permission: given up (the post may need one the others do not)",
        PermanentError("no publish_video", attention=Attention.PERMISSION),
        1,
        GiveUp("no publish_video", Outcome.PERMANENT, Attention.PERMISSION),
    ),
    ErrorRow(
        "refused content: given up at once",
        PermanentError("duplicate", attention=Attention.CONTENT),
        1,
        GiveUp("duplicate", Outcome.PERMANENT, Attention.CONTENT),
    ),
    ErrorRow(
        "permanent without attention",
        PermanentError("bad request"),
        3,
        GiveUp("bad request", Outcome.PERMANENT, None),
    ),
    ErrorRow(
        "ambiguous: resolved by lookup, with the id if the network gave one",
        AmbiguousError("timed out after sending", remote_id="r-1"),
        2,
        Unresolved("timed out after sending", "r-1"),
    ),
    ErrorRow(
        "ambiguous without an id",
        AmbiguousError("connection reset"),
        1,
        Unresolved("connection reset", None),
    ),
    ErrorRow(
        "rate limit with a reset ahead: back exactly then",
        RateLimitedError("429", reset_at=NOW + 90 * S, attention=Attention.FLAGGED),
        1,
        RetryAt(
            NOW + 90 * S,
            "rate-limited until 2026-12-02 09:01:30Z: 429",
            Outcome.RATE_LIMITED,
            account_limited_until=NOW + 90 * S,
            attention=Attention.FLAGGED,
        ),
    ),
    ErrorRow(
        "rate limit with a reset already past: now, never before",
        RateLimitedError("429", reset_at=NOW - 5 * S),
        1,
        RetryAt(
            NOW,
            "rate-limited until 2026-12-02 09:00:00Z: 429",
            Outcome.RATE_LIMITED,
            account_limited_until=NOW,
        ),
    ),
    ErrorRow(
        "rate limit with both: the absolute reset wins",
        RateLimitedError("429", reset_at=NOW + 10 * S, retry_after=5 * M),
        1,
        RetryAt(
            NOW + 10 * S,
            "rate-limited until 2026-12-02 09:00:10Z: 429",
            Outcome.RATE_LIMITED,
            account_limited_until=NOW + 10 * S,
        ),
    ),
    ErrorRow(
        "rate limit with Retry-After",
        RateLimitedError("slow down", retry_after=2 * M),
        4,
        RetryAt(
            NOW + 2 * M,
            "rate-limited until 2026-12-02 09:02:00Z: slow down",
            Outcome.RATE_LIMITED,
            account_limited_until=NOW + 2 * M,
        ),
    ),
    ErrorRow(
        "rate limit without a time: backoff, however many attempts",
        RateLimitedError("429"),
        20,
        RetryAt(
            NOW + H,
            "rate-limited until 2026-12-02 10:00:00Z: 429",
            Outcome.RATE_LIMITED,
            account_limited_until=NOW + H,
        ),
    ),
    ErrorRow(
        "rate limit without a time, second attempt",
        RateLimitedError("429"),
        2,
        RetryAt(
            NOW + 60 * S,
            "rate-limited until 2026-12-02 09:01:00Z: 429",
            Outcome.RATE_LIMITED,
            account_limited_until=NOW + 60 * S,
        ),
    ),
    ErrorRow(
        "transient, first attempt",
        TransientError("503"),
        1,
        RetryAt(NOW + 30 * S, "503 (retry in 30s)", Outcome.TRANSIENT),
    ),
    ErrorRow(
        "transient, one attempt before the budget ends",
        TransientError("503"),
        7,
        RetryAt(NOW + 1920 * S, "503 (retry in 32m)", Outcome.TRANSIENT),
    ),
    ErrorRow(
        "transient at max_attempts: given up",
        TransientError("503"),
        8,
        GiveUp("gave up after 8 attempts; last error: 503", Outcome.TRANSIENT),
    ),
    ErrorRow(
        "transient past max_attempts",
        TransientError("503"),
        9,
        GiveUp("gave up after 9 attempts; last error: 503", Outcome.TRANSIENT),
    ),
]


@pytest.mark.parametrize("row", ERROR_ROWS, ids=lambda r: r.id)
def test_after_error(row: ErrorRow) -> None:
    assert after_error(row.err, row.attempt, NOW, POLICY, 0.5) == row.step


# --- lateness ------------------------------------------------------------------------------

LATE = 15 * M


@pytest.mark.parametrize(
    ("scheduled", "not_after", "why"),
    [
        (NOW, None, None),
        (NOW - LATE, None, None),  # exactly max_lateness late: still goes
        (NOW - LATE - TICK, None, "15m late, more than max_lateness 15m"),
        (NOW - 2 * H, None, "2h late, more than max_lateness 15m"),
        (NOW + H, None, None),  # early (claimed ahead) is never late
        (NOW, NOW, None),  # now == not_after: still goes
        (NOW, NOW - TICK, "not published before not_after (2026-12-02 08:59Z)"),
        (NOW - 2 * H, NOW - M, "not published before not_after (2026-12-02 08:59Z)"),
        (NOW - 2 * H, NOW + M, "2h late, more than max_lateness 15m"),
    ],
)
def test_lateness(scheduled: datetime, not_after: datetime | None, why: str | None) -> None:
    assert lateness(scheduled, not_after, NOW, LATE) == why


# --- cap_deferral --------------------------------------------------------------------------

PARIS_MIDNIGHT_NEXT = datetime(2026, 12, 3, 0, 0, tzinfo=PARIS).astimezone(UTC)
PARIS_MIDNIGHT = datetime(2026, 12, 2, 0, 0, tzinfo=PARIS).astimezone(UTC)


@pytest.mark.parametrize(
    ("published", "max_per_day", "min_interval", "expected"),
    [
        ([], None, None, None),
        ([], 1, 30 * M, None),
        # min_interval counts from the latest post, not the oldest
        ([NOW - 50 * M, NOW - 10 * M], None, 30 * M, (NOW + 20 * M, "min_interval 30m")),
        ([NOW - 30 * M], None, 30 * M, None),  # exactly min_interval ago: now
        ([NOW - 30 * M + TICK], None, 30 * M, (NOW + TICK, "min_interval 30m")),
        # max_per_day counts the zone's calendar day
        ([NOW - H, NOW - 2 * H], 2, None, (PARIS_MIDNIGHT_NEXT, "max_per_day 2")),
        ([NOW - H], 2, None, None),  # one below the cap
        # 00:00 in Paris is today there (and yesterday in UTC); a microsecond before is not
        ([PARIS_MIDNIGHT], 1, None, (PARIS_MIDNIGHT_NEXT, "max_per_day 1")),
        ([PARIS_MIDNIGHT - TICK], 1, None, None),
    ],
)
def test_cap_deferral(
    published: list[datetime],
    max_per_day: int | None,
    min_interval: timedelta | None,
    expected: tuple[datetime, str] | None,
) -> None:
    got = cap_deferral(sorted(published), NOW, PARIS, max_per_day, min_interval)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got[0] == expected[0]
    assert got[1].startswith(expected[1]), got[1]


def test_cap_reasons_in_full() -> None:
    assert cap_deferral([NOW - M], NOW, PARIS, None, 30 * M) == (
        NOW + 29 * M,
        "min_interval 30m since the last post",
    )
    assert cap_deferral([NOW - M], NOW, PARIS, 1, None) == (
        PARIS_MIDNIGHT_NEXT,
        "max_per_day 1 reached",
    )


def test_max_per_day_then_min_interval_from_a_post_late_the_day_before() -> None:
    """23:50 local, one a day, 30 minutes apart: midnight is too close to 23:50 (00:20)."""
    late = datetime(2026, 12, 2, 23, 50, tzinfo=PARIS).astimezone(UTC)
    now = late + 5 * M
    assert cap_deferral([late], now, PARIS, 1, 30 * M) == (
        late + 30 * M,
        "min_interval 30m since the last post",
    )


def test_min_interval_into_a_full_day_then_the_day_after() -> None:
    """min_interval pushes into tomorrow, where the cap is already reached: the day after."""
    zone = ZoneInfo("UTC")
    day = datetime(2026, 12, 3, tzinfo=UTC)
    published = [day - 10 * M, day + M]  # tomorrow's post is already planned (in flight)
    got = cap_deferral(published, day - 5 * M, zone, 1, 30 * M)
    assert got == (day + timedelta(days=1), "max_per_day 1 reached")


def test_max_per_day_across_the_autumn_dst_change() -> None:
    """The 25-hour day of Paris's fall back: the next day still starts at local midnight."""
    oct25 = datetime(2026, 10, 25, 12, 0, tzinfo=PARIS).astimezone(UTC)
    got = cap_deferral([oct25 - H], oct25, PARIS, 1, None)
    assert got == (
        datetime(2026, 10, 26, 0, 0, tzinfo=PARIS).astimezone(UTC),
        "max_per_day 1 reached",
    )


# --- triage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    id: str
    account: str
    scheduled_at: datetime = NOW
    not_after: datetime | None = None


RULES = {
    "a": AccountRules(max_per_day=None, min_interval=None),
    "b": AccountRules(max_per_day=None, min_interval=None),
    "capped": AccountRules(max_per_day=None, min_interval=10 * M),
}


def run(
    candidates: list[Due],
    *,
    free: int = 10,
    per_account: int = 10,
    history: dict[str, list[datetime]] | None = None,
    in_flight: dict[str, int] | None = None,
) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, datetime, str]]]:
    out = triage(
        candidates,
        NOW,
        free,
        zone=PARIS,
        max_lateness=LATE,
        per_account=per_account,
        rules=RULES,
        history=history or {},
        in_flight=in_flight or {},
    )
    return (
        [d.id for d in out.chosen],
        [(d.id, why) for d, why in out.missed],
        [(d.id, at, why) for d, at, why in out.deferred],
    )


@pytest.mark.parametrize(
    ("free", "per_account", "in_flight", "chosen"),
    [
        (3, 10, {}, ["1", "2", "3"]),
        (2, 10, {}, ["1", "2"]),  # as many as there are free workers
        (0, 10, {}, []),
        (3, 2, {}, ["1", "2"]),  # per-account limit
        (3, 2, {"a": 1}, ["1"]),  # requests already out count against it
        (3, 2, {"a": 2}, []),
        (3, 2, {"b": 2}, ["1", "2"]),  # another account's do not
    ],
)
def test_triage_limits(
    free: int, per_account: int, in_flight: dict[str, int], chosen: list[str]
) -> None:
    dues = [Due("1", "a"), Due("2", "a"), Due("3", "a")]
    got, missed, deferred = run(dues, free=free, per_account=per_account, in_flight=in_flight)
    assert (got, missed, deferred) == (chosen, [], [])


def test_triage_free_counts_all_accounts_and_skipped_ones_wait() -> None:
    dues = [Due("1", "a"), Due("2", "a"), Due("3", "b"), Due("4", "b")]
    assert run(dues, free=3, per_account=1) == (["1", "3"], [], [])


def test_triage_misses_the_late_and_defers_the_unknown() -> None:
    dues = [
        Due("late", "a", scheduled_at=NOW - LATE - TICK),
        Due("just", "a", scheduled_at=NOW - LATE),
        Due("closed", "a", not_after=NOW - TICK),
        Due("who", "nobody"),
    ]
    chosen, missed, deferred = run(dues)
    assert chosen == ["just"]
    assert missed == [
        ("late", "15m late, more than max_lateness 15m"),
        ("closed", "not published before not_after (2026-12-02 08:59Z)"),
    ]
    assert deferred == [("who", NOW + H, "account nobody is not configured")]


def test_triage_a_late_delivery_is_missed_even_with_no_free_worker() -> None:
    chosen, missed, _ = run([Due("late", "a", scheduled_at=NOW - H)], free=0)
    assert chosen == [] and [m[0] for m in missed] == ["late"]


def test_triage_a_chosen_delivery_counts_for_the_next_one_of_its_account() -> None:
    """The first goes now; min_interval then holds the second of the same account."""
    chosen, _, deferred = run([Due("1", "capped"), Due("2", "capped"), Due("3", "a")])
    assert chosen == ["1", "3"]
    assert deferred == [("2", NOW + 10 * M, "min_interval 10m since the last post")]


def test_triage_history_is_read_per_account() -> None:
    history = {"capped": [NOW - 4 * M], "a": [NOW - M]}
    chosen, _, deferred = run([Due("1", "capped"), Due("2", "a")], history=history)
    assert chosen == ["2"]
    assert deferred == [("1", NOW + 6 * M, "min_interval 10m since the last post")]
    assert history == {"capped": [NOW - 4 * M], "a": [NOW - M]}  # the caller's lists untouched


# --- the edges mutation testing found after the tables above


def test_the_day_starts_at_midnight_to_the_microsecond() -> None:
    """``now`` with seconds: the day still starts at 00:00:00.000000 local."""
    now = datetime(2026, 12, 2, 10, 0, 30, 500000, tzinfo=PARIS).astimezone(UTC)
    first = datetime(2026, 12, 2, 0, 0, 0, 1, tzinfo=PARIS).astimezone(UTC)
    assert cap_deferral([first], now, PARIS, 1, None) == (
        PARIS_MIDNIGHT_NEXT,
        "max_per_day 1 reached",
    )


def test_a_post_at_the_next_midnight_counts_for_the_next_day() -> None:
    planned_tomorrow = PARIS_MIDNIGHT_NEXT  # in flight, at 00:00 tomorrow
    assert cap_deferral([NOW - H, planned_tomorrow], NOW, PARIS, 2, None) is None


def test_two_full_days_in_a_row_take_two_rounds() -> None:
    """Today is full, and so is tomorrow (a post already planned there): the day after."""
    tomorrow_noon = datetime(2026, 12, 3, 12, 0, tzinfo=PARIS).astimezone(UTC)
    got = cap_deferral([NOW - H, tomorrow_noon], NOW, PARIS, 1, None)
    assert got == (
        datetime(2026, 12, 4, 0, 0, tzinfo=PARIS).astimezone(UTC),
        "max_per_day 1 reached",
    )


def test_the_time_given_is_in_the_zone_of_now() -> None:
    import os
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"  # the machine's own zone must not leak into the result
    time.tzset()
    try:
        got = cap_deferral([NOW - M], NOW, PARIS, 1, None)
        assert got is not None and got[0].tzinfo is UTC
        got = cap_deferral([NOW - M], NOW, PARIS, None, 30 * M)
        assert got is not None and got[0].tzinfo is UTC
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_triage_an_unknown_account_does_not_stop_the_pass() -> None:
    chosen, _, deferred = run([Due("who", "nobody"), Due("1", "a")])
    assert chosen == ["1"]
    assert [d[0] for d in deferred] == ["who"]


def test_triage_counts_days_in_the_configured_zone() -> None:
    """A post at 00:30 in Paris is yesterday in UTC: in Paris the day is already full."""
    rules = {"daily": AccountRules(max_per_day=1, min_interval=None)}
    early = datetime(2026, 12, 2, 0, 30, tzinfo=PARIS).astimezone(UTC)
    out = triage(
        [Due("1", "daily")],
        NOW,
        5,
        zone=PARIS,
        max_lateness=LATE,
        per_account=5,
        rules=rules,
        history={"daily": [early]},
        in_flight={},
    )
    assert out.chosen == []
    assert [(d.id, at, why) for d, at, why in out.deferred] == [
        ("1", PARIS_MIDNIGHT_NEXT, "max_per_day 1 reached")
    ]


def test_triage_an_account_with_a_cap_and_no_history() -> None:
    rules = {"daily": AccountRules(max_per_day=1, min_interval=10 * M)}
    out = triage(
        [Due("1", "daily"), Due("2", "daily")],
        NOW,
        5,
        zone=PARIS,
        max_lateness=LATE,
        per_account=5,
        rules=rules,
        history={},
        in_flight={},
    )
    assert [d.id for d in out.chosen] == ["1"]
    assert [(d.id, why) for d, _, why in out.deferred] == [("2", "max_per_day 1 reached")]
