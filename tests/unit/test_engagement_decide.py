"""The pure decisions of engagement collection (``publisher.engine.engagement``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from publisher.adapters.base import (
    AmbiguousError,
    Attention,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from publisher.adapters.engagement import PostGone, PostNumbers
from publisher.config import ReadingAge
from publisher.engine import engagement as decide
from publisher.engine.decide import RetryPolicy
from publisher.engine.engagement import AccountReading, FollowerRetry
from publisher.store.records import (
    PublishedPost,
    ReadingGone,
    ReadingMissed,
    ReadingRetry,
    ReadingTaken,
)

P = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
AGES = (ReadingAge("1h", H), ReadingAge("24h", D))
POLICY = RetryPolicy(max_attempts=3, base_delay=timedelta(seconds=10), max_delay=H, jitter=0)


def post(
    n: int = 1, account: str = "a", planned: frozenset[int] = frozenset(), gone: bool = False
) -> PublishedPost:
    return PublishedPost(n, f"p{n}", account, "mastodon", f"r{n}", P, planned, gone)


def test_plan_gives_each_age_its_window_and_skips_closed_ones() -> None:
    readings = decide.plan(post(), AGES, P)
    assert [(r.age_label, r.due_at, r.until_at) for r in readings] == [
        ("1h", P + H, P + 2 * H),
        ("24h", P + D, P + 2 * D),
    ]
    # Collection turned on three hours after the post: the 1h window has closed.
    assert [r.age_label for r in decide.plan(post(), AGES, P + 3 * H)] == ["24h"]
    assert [r.age_label for r in decide.plan(post(), AGES, P + 2 * H - timedelta(seconds=1))] == [
        "1h",
        "24h",
    ]
    assert decide.plan(post(planned=frozenset({3600})), AGES, P)[0].age_label == "24h"
    assert decide.plan(post(gone=True), AGES, P) == []


def test_due_readings_are_batched_per_account_and_never_asked_twice_in_one() -> None:
    accounts = {
        "a": AccountReading("a", AGES, batch=2),
        "b": AccountReading("b", AGES, batch=1),
    }
    due = [
        decide.plan(post(1), AGES, P)[0],
        decide.plan(post(2), AGES, P)[0],
        decide.plan(post(3), AGES, P)[0],
        decide.plan(post(4, "b"), AGES, P)[0],
    ]
    out = decide.sort_due(due, accounts, P + H)
    assert [[r.post_id for r in b] for b in out.reads] == [["p1", "p2"], ["p3"], ["p4"]]
    assert out.missed == []
    both = decide.plan(post(1), AGES, P)  # the same post at two ages, due together
    out = decide.sort_due(both, accounts, P + D)
    assert [r.age_label for b in out.reads for r in b] == ["24h"]
    assert out.missed == [ReadingMissed(both[0].key, "not read within its window (1h)")]


def test_a_reading_of_an_age_no_longer_configured_is_dropped() -> None:
    [r, _] = decide.plan(post(), AGES, P)
    accounts = {"a": AccountReading("a", (ReadingAge("24h", D),))}
    out = decide.sort_due([r], accounts, P + H)
    assert out.reads == [] and out.missed == [ReadingMissed(r.key, "age 1h is not configured")]
    out = decide.sort_due([r], {}, P + H)
    assert [m.key for m in out.missed] == [r.key]


def test_taken_gone_and_left_out() -> None:
    r1, r2, r3 = (decide.plan(post(n), AGES, P)[0] for n in (1, 2, 3))
    answer = [
        PostNumbers("r1", {"likes": 2}, ("quotes",), {"bookmarks": 1}),
        PostGone("r2", "404"),
    ]
    changes = decide.taken([r1, r2, r3], answer, P + H)
    assert isinstance(changes[0], ReadingTaken) and isinstance(changes[1], ReadingGone)
    snap = changes[0].snapshot
    assert (snap.counts, snap.unavailable, snap.extra, snap.taken_at) == (
        {"likes": 2},
        ("quotes",),
        {"bookmarks": 1},
        P + H,
    )
    assert changes[1].snapshot.gone
    assert decide.unanswered([r1, r2, r3], answer) == [r3]
    assert decide.left_out(r3, P + H, POLICY, 0.5) == ReadingRetry(
        r3.key, P + H + timedelta(seconds=10), decide.ANSWER_MISSING
    )


def test_failures_follow_the_publishing_retry_rules_within_the_window() -> None:
    [r, _] = decide.plan(post(), AGES, P)
    now = P + H
    out = decide.failed([r], TransientError("503"), now, POLICY, 0.5)
    [retry] = out.changes
    assert isinstance(retry, ReadingRetry) and "503" in retry.error
    assert (retry.key, retry.at) == (r.key, now + timedelta(seconds=10))
    assert out.hold_until is None
    # A read creates nothing: ambiguous is retried like a transient.
    out = decide.failed([r], AmbiguousError("timeout"), now, POLICY, 0.5)
    assert isinstance(out.changes[0], ReadingRetry)
    # Past its window: missed, not retried forever.
    late = P + 2 * H - timedelta(seconds=5)
    out = decide.failed([r], TransientError("503"), late, POLICY, 0.5)
    assert isinstance(out.changes[0], ReadingMissed)
    out = decide.failed([r], PermanentError("400 bad"), now, POLICY, 0.5)
    assert isinstance(out.changes[0], ReadingMissed) and out.hold_until is None


def test_a_rate_limit_or_credentials_hold_the_accounts_readings() -> None:
    [r, _] = decide.plan(post(), AGES, P)
    now = P + H
    reset = now + timedelta(minutes=5)
    out = decide.failed([r], RateLimitedError("429", reset_at=reset), now, POLICY, 0.5)
    [retry] = out.changes
    assert out.hold_until == reset
    assert isinstance(retry, ReadingRetry) and (retry.key, retry.at) == (r.key, reset)
    err = PermanentError("401", attention=Attention.CREDENTIALS)
    out = decide.failed([r], err, now, POLICY, 0.5)
    assert out.hold_until == now + timedelta(minutes=15)
    assert isinstance(out.changes[0], ReadingRetry)


def test_follower_counts_once_a_day() -> None:
    accounts = [AccountReading("a", AGES), AccountReading("b", AGES), AccountReading("c", ())]
    due, nxt = decide.followers_due(accounts, {"b": P}, {}, {}, P + H)
    assert due == ["a"] and nxt == P + D
    due, nxt = decide.followers_due(accounts, {"a": P, "b": P}, {}, {}, P + D)
    assert due == ["a", "b"] and nxt is None
    retry = {"a": FollowerRetry(P + 2 * H, 1)}
    held = {"b": P + 3 * H}
    due, nxt = decide.followers_due(accounts, {}, retry, held, P + H)
    assert due == [] and nxt == P + 2 * H
    again = decide.follower_failed(TransientError("503"), None, P, POLICY, 0.5)
    assert again == FollowerRetry(P + timedelta(seconds=10), 1)
    given_up = decide.follower_failed(TransientError("503"), FollowerRetry(P, 2), P, POLICY, 0.5)
    assert given_up == FollowerRetry(P + D, 0)


def test_next_wake() -> None:
    assert decide.next_wake(None, None) is None
    assert decide.next_wake(P + D, None, P + H) == P + H
