"""The engagement ledger on real SQLite files and a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from publisher.states import DeliveryState, Outcome
from publisher.store import Attempt, Store, Transition
from publisher.store.records import (
    FollowerCount,
    PublishedPost,
    Reading,
    ReadingGone,
    ReadingMissed,
    ReadingRetry,
    ReadingState,
    ReadingTaken,
    SnapshotOutcome,
)
from tests.store.test_store import NOW, seeded

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


async def published(url: str, *posts: str) -> Store:
    """A store where each of ``posts`` went out at NOW as ``r-<post>``."""
    store = await seeded(url, *posts)
    won = await store.claim(await store.due(NOW, 100), NOW, "w", timedelta(minutes=1))
    await store.finish(
        [
            Transition(
                d.id,
                d.fence,
                DeliveryState.PUBLISHED,
                NOW,
                remote_id="r-" + d.post_id,
                published_at=NOW,
                attempt=Attempt(
                    d.id, d.post_id, d.account, d.network, 1, NOW, NOW, Outcome.PUBLISHED
                ),
            )
            for d in won
        ]
    )
    return store


def reading(p: PublishedPost, age: timedelta, label: str) -> Reading:
    due = p.published_at + age
    return Reading(
        p.delivery_id,
        age,
        label,
        p.post_id,
        p.account,
        p.network,
        p.remote_id,
        p.published_at,
        due,
        due + age,
    )


async def test_readings_are_planned_once_taken_once_and_appended(db_url: str) -> None:
    store = await published(db_url, "p1", "p2")
    try:
        posts = await store.unplanned_posts(["alpha"], NOW - DAY, 100)
        assert [(p.post_id, p.remote_id) for p in posts] == [("p1", "r-p1"), ("p2", "r-p2")]
        plans = [
            reading(p, age, label) for p in posts for age, label in ((HOUR, "1h"), (DAY, "24h"))
        ]
        assert await store.plan_readings(plans, NOW) == 4
        assert await store.plan_readings(plans, NOW) == 0  # planned already: left as it is
        assert await store.unplanned_posts(["alpha"], NOW - DAY, 100) == []
        assert await store.next_reading_at(["alpha"]) == NOW + HOUR
        assert await store.next_reading_at(["beta"]) is None

        at = NOW + HOUR
        assert await store.due_readings(at - timedelta(seconds=1), ["alpha"], 10) == []
        due = await store.due_readings(at, ["alpha"], 10)
        assert [(r.post_id, r.age_label) for r in due] == [("p1", "1h"), ("p2", "1h")]
        won = await store.claim_readings(due, at, at + timedelta(minutes=5))
        assert won == due
        # Another daemon's claim of the same readings wins nothing; they are not due now.
        assert await store.claim_readings(due, at, at + timedelta(minutes=5)) == []
        assert await store.due_readings(at, ["alpha"], 10) == []

        taken = ReadingTaken(due[0].snapshot(at, {"likes": 3}, ("quotes",), {"bookmarks": 1}))
        assert await store.settle_readings([taken], at) == 1
        assert await store.settle_readings([taken], at) == 0  # never twice
        [snap] = await store.snapshots()
        assert (snap.post_id, snap.age, snap.age_label, snap.counts) == (
            "p1",
            HOUR,
            "1h",
            {"likes": 3},
        )
        assert snap.unavailable == ("quotes",) and snap.extra == {"bookmarks": 1}
        assert snap.outcome is SnapshotOutcome.TAKEN and not snap.gone
        assert snap.due_at == NOW + HOUR and snap.taken_at == at

        # p2's read failed: tried again later, with the error kept.
        later = at + timedelta(minutes=2)
        await store.settle_readings([ReadingRetry(due[1].key, later, "HTTP 503")], at)
        [again] = await store.due_readings(later, ["alpha"], 10)
        assert again.key == due[1].key and again.attempts == 1 and again.last_error == "HTTP 503"
        # ... and then found gone: every pending reading of it is done with.
        gone = ReadingGone(again.snapshot(later, {}, outcome=SnapshotOutcome.GONE))
        assert await store.settle_readings([gone], later) == 1
        states = {(r.post_id, r.age_label): r.state for r in await store.readings()}
        assert states == {
            ("p1", "1h"): ReadingState.TAKEN,
            ("p1", "24h"): ReadingState.PENDING,
            ("p2", "1h"): ReadingState.GONE,
            ("p2", "24h"): ReadingState.GONE,
        }
        assert [s.gone for s in await store.snapshots_of_post("p2")] == [True]
        [p1, p2] = await store.published_posts(["alpha"], NOW - DAY)
        assert p1.planned == {3600, 86400} and not p1.gone and p2.gone

        # A rate limit holds the account's readings; a missed one is never due again.
        await store.hold_readings("alpha", NOW + 2 * DAY, "rate-limited", later)
        assert await store.next_reading_at(["alpha"]) == NOW + 2 * DAY
        [last] = await store.due_readings(NOW + 2 * DAY, ["alpha"], 10)
        await store.settle_readings([ReadingMissed(last.key, "too late")], NOW + 2 * DAY)
        assert await store.next_reading_at(["alpha"]) is None
        assert len(await store.snapshots(account="alpha", since=NOW, until=NOW + 2 * DAY)) == 2
        assert await store.snapshots(account="beta") == []
        assert await store.snapshots(since=later + timedelta(seconds=1)) == []
    finally:
        await store.close()


async def test_follower_counts_append(db_url: str) -> None:
    store = await Store.open(db_url)
    try:
        for n, when in enumerate((NOW, NOW + DAY)):
            await store.add_follower_count(FollowerCount("alpha", "mastodon", when, 100 + n))
        await store.add_follower_count(FollowerCount("beta", "bluesky", NOW, 7))
        assert [c.count for c in await store.follower_counts("alpha")] == [100, 101]
        assert [c.count for c in await store.follower_counts(since=NOW + HOUR)] == [101]
        assert [c.account for c in await store.follower_counts(until=NOW + HOUR)] == [
            "alpha",
            "beta",
        ]
        assert await store.last_follower_counts(["alpha", "beta", "gamma"]) == {
            "alpha": NOW + DAY,
            "beta": NOW,
        }
        await store.wipe()
        assert await store.follower_counts() == []
    finally:
        await store.close()
