"""The store on real SQLite files and a real PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from publisher.engine.decide import Triage
from publisher.states import DeliveryState, Outcome
from publisher.store import (
    Attempt,
    Delivery,
    LookupAsk,
    PlanChanges,
    SchemaTooNewError,
    Store,
    TakeDue,
    Transition,
)
from publisher.store.db import head_revision
from publisher.store.repo import LoadState

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def delivery(post: str, account: str = "alpha", due: datetime = NOW) -> dict[str, object]:
    return {
        "post_id": post,
        "account": account,
        "network": "log",
        "state": DeliveryState.SCHEDULED.value,
        "scheduled_at": due,
        "due_at": due,
        "not_after": None,
        "from_slot": False,
        "content_hash": "h-" + post,
        "content": "{}",
        "attempts": 0,
        "parts": "[]",
        "fence": 0,
        "updated_at": NOW,
    }


async def seeded(url: str, *posts: str) -> Store:
    store = await Store.open(url)
    changes = PlanChanges(
        posts_upsert=[
            {
                "id": p,
                "content_hash": "x",
                "line": 1,
                "removed_at": None,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for p in posts
        ],
        inserts=[delivery(p) for p in posts],
    )
    await store.apply(changes, LoadState(NOW, True, "f", "ok", NOW))
    return store


async def test_sqlite_is_wal_full_and_busy_timeout(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        mode, sync, busy = await store.read(
            lambda conn: [
                conn.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout")
            ]
        )
        assert (mode, sync) == ("wal", 2)  # 2 = FULL
        assert busy and busy >= 5000
    finally:
        await store.close()


async def test_migrations_upgrade_at_start_and_refuse_newer(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = await Store.open(f"sqlite:///{path}")
    await store.close()
    con = sqlite3.connect(path)
    assert con.execute("select version_num from alembic_version").fetchone() == (head_revision(),)
    con.execute("update alembic_version set version_num = 'ffff-from-the-future'")
    con.commit()
    con.close()
    with pytest.raises(SchemaTooNewError, match="newer publisher"):
        await Store.open(f"sqlite:///{path}")


async def test_models_match_migrations(db_url: str) -> None:
    """Alembic's autogenerate finds nothing to change: the migration is the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from publisher.store.models import SQLModel

    store = await Store.open(db_url)
    try:
        diff = await store.read(
            lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
        )
        assert diff == []
    finally:
        await store.close()


async def test_naive_datetimes_are_refused(db_url: str) -> None:
    store = await Store.open(db_url)
    try:
        with pytest.raises(Exception, match="naive"):
            await store.next_due() or await store.due(datetime(2026, 12, 1), 10)
    finally:
        await store.close()


async def test_claim_is_fenced_and_results_append_to_the_ledger(db_url: str) -> None:
    store = await seeded(db_url, "p1", "p2")
    try:
        due = await store.due(NOW, 10)
        assert [d.post_id for d in due] == ["p1", "p2"]
        won = await store.claim(due, NOW, "w1", timedelta(minutes=1))
        assert [d.state for d in won] == [DeliveryState.SENDING] * 2
        # A second claim of the same snapshot wins nothing.
        assert await store.claim(due, NOW, "w2", timedelta(minutes=1)) == []
        d1 = won[0]
        attempt = Attempt(d1.id, d1.post_id, d1.account, d1.network, 1, NOW, NOW, Outcome.PUBLISHED)
        ok = Transition(
            d1.id,
            d1.fence,
            DeliveryState.PUBLISHED,
            NOW,
            remote_id="r1",
            published_at=NOW,
            attempt=attempt,
        )
        stale = Transition(
            d1.id,
            d1.fence - 1,
            DeliveryState.FAILED,
            NOW,
            last_error="late writer",
            attempt=attempt,
        )
        assert await store.finish([ok]) == []
        assert await store.finish([stale]) == [d1.id]
        [after] = await store.find("p1")
        assert after.state is DeliveryState.PUBLISHED and after.remote_id == "r1"
        # The late attempt is in the ledger too (it happened), marked as not recorded.
        first, late = await store.attempts(post_id="p1")
        assert first.error is None
        assert late.error is not None and late.error.startswith("result not recorded")
    finally:
        await store.close()


async def plan_of(url: str, rows: list[dict[str, object]]) -> Store:
    store = await Store.open(url)
    posts = sorted({str(r["post_id"]) for r in rows})
    upserts = [
        {"id": p, "content_hash": "x", "line": 1, "removed_at": None}
        | {"created_at": NOW, "updated_at": NOW}
        for p in posts
    ]
    changes = PlanChanges(posts_upsert=upserts, inserts=rows)
    await store.apply(changes, LoadState(NOW, True, "f", "ok", NOW))
    return store


class Decisions:
    """A ``decide`` for ``take_due`` that keeps what it was given: earliest first, within the
    slots and ``per_account`` (requests in flight included)."""

    def __init__(self, per_account: int = 10) -> None:
        self.per_account = per_account
        self.seen: list[tuple[list[str], dict[str, int], int]] = []

    def __call__(
        self,
        candidates: list[Delivery],
        history: dict[str, list[datetime]],
        in_flight: dict[str, int],
        granted: datetime,
        slots: int,
    ) -> Triage:
        self.seen.append(([d.post_id for d in candidates], dict(in_flight), slots))
        held = dict(in_flight)
        chosen = []
        for d in candidates:
            if len(chosen) < slots and held.get(d.account, 0) < self.per_account:
                chosen.append(d)
                held[d.account] = held.get(d.account, 0) + 1
        return Triage(chosen=chosen)


async def test_a_pass_shares_its_slots_between_lookups_and_claims(db_url: str) -> None:
    """One transaction: due unknowns to look up first (those of accounts this daemon serves
    and is not already busy with), then claims in the slots left, lookups counted in flight."""
    unknown = DeliveryState.UNKNOWN.value
    store = await plan_of(
        db_url,
        [
            delivery("a1"),
            delivery("a2"),
            delivery("a3"),
            delivery("u-beta", "beta") | {"state": unknown},
            delivery("u-gamma", "gamma") | {"state": unknown},  # no adapter here
            delivery("u-delta", "delta") | {"state": unknown},  # already being looked up
            delivery("u-later", "beta", NOW + timedelta(hours=1)) | {"state": unknown},
        ],
    )
    try:
        [busy] = await store.find("u-delta")
        decide = Decisions()
        ask = LookupAsk(3, frozenset({"alpha", "beta", "delta"}), frozenset({busy.id}))
        lease = timedelta(minutes=5)
        took = await store.take_due(TakeDue(NOW, 3, "w1", lease, decide, lookups=ask))
        assert [d.post_id for d in took.lookups] == ["u-beta"]
        assert decide.seen == [(["a1", "a2", "a3"], {"beta": 1}, 2)]
        assert [d.post_id for d in took.plan.chosen] == ["a1", "a2"]
        assert {d.state for d in took.plan.chosen} == {DeliveryState.SENDING}
        # Committed: a second pass finds a3 only, and the lookup was not claimed by it.
        again = await store.take_due(TakeDue(NOW, 3, "w1", lease, Decisions()))
        assert [d.post_id for d in again.plan.chosen] == ["a3"] and again.lookups == []
        [beta] = await store.find("u-beta")
        assert beta.state is DeliveryState.UNKNOWN  # looking it up is the engine's next step
    finally:
        await store.close()


async def test_a_pass_says_when_the_next_work_is_due_once_its_claims_are_out(
    db_url: str,
) -> None:
    """The next due time leaves out the accounts held, and those this very pass brought to
    their limit in flight: their work waits for a slot, which wakes the daemon anyway."""
    later = NOW + timedelta(hours=2)
    rows = [delivery("a1"), delivery("a2"), delivery("a3"), delivery("e1", "epsilon", later)]
    lease = timedelta(minutes=5)
    # (per_account given to the pass, expected next due): a3 is due now but alpha is full.
    for per_account, expect in ((2, later), (None, NOW)):
        store = await plan_of(db_url, rows)
        try:
            took = await store.take_due(
                TakeDue(NOW, 5, "w1", lease, Decisions(2), per_account=per_account)
            )
            assert [d.post_id for d in took.plan.chosen] == ["a1", "a2"]
            assert took.next_due == expect, per_account
        finally:
            await store.wipe()
            await store.close()
    store = await plan_of(db_url, rows)
    try:
        # No slot free: nothing claimed, and accounts held before the pass are left out.
        held = await store.take_due(
            TakeDue(NOW, 0, "w1", lease, Decisions(), exclude_accounts=frozenset({"alpha"}))
        )
        assert held.plan.chosen == [] and held.next_due == later
    finally:
        await store.close()


async def test_a_pass_claims_ahead_only_where_no_cap_is_reckoned_from_the_claim(
    db_url: str,
) -> None:
    soon, later = NOW + timedelta(milliseconds=800), NOW + timedelta(seconds=2)
    rows = [
        delivery("now"),
        delivery("soon"),
        delivery("soon-capped", "capped", soon),
        delivery("later", "alpha", later),
    ]
    rows[1]["due_at"] = rows[1]["scheduled_at"] = soon
    store = await plan_of(db_url, rows)
    try:
        took = await store.take_due(
            TakeDue(
                NOW,
                10,
                "w1",
                timedelta(minutes=5),
                Decisions(),
                ahead=timedelta(seconds=1),
                capped=frozenset({"capped"}),
            )
        )
        assert [d.post_id for d in took.plan.chosen] == ["now", "soon"]
        assert took.next_due == soon  # the capped account's, claimed at its time
        # Without a list of the capped accounts, every account may be: nothing goes ahead.
        took = await store.take_due(
            TakeDue(
                soon - timedelta(milliseconds=1),
                10,
                "w1",
                timedelta(minutes=5),
                Decisions(),
                ahead=timedelta(seconds=1),
            )
        )
        assert took.plan.chosen == []
    finally:
        await store.close()


async def test_sending_left_by_a_crash_becomes_unknown(db_url: str) -> None:
    store = await seeded(db_url, "p1")
    try:
        await store.claim(await store.due(NOW, 10), NOW, "dead", timedelta(minutes=1))
        found = await store.recover_in_flight(NOW + timedelta(minutes=5))
        assert [d.state for d in found] == [DeliveryState.UNKNOWN]
        [a] = await store.attempts(post_id="p1")
        assert a.outcome == Outcome.INTERRUPTED.value
        assert await store.due(NOW + timedelta(hours=1), 10) == []  # never resent blindly
    finally:
        await store.close()


def test_the_shortcut_head_is_alembics_head() -> None:
    from publisher.store.db import HEAD

    assert head_revision() == HEAD, "update publisher.store.db.HEAD with the new migration"


async def test_plain_sql_times_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    """The hot SQLite statements compare times as text: their format must be the ORM's."""
    from publisher.store import hot

    when = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)
    path = tmp_path / "q.db"
    store = await seeded(f"sqlite:///{path}")
    try:
        await store.apply(
            PlanChanges(inserts=[delivery("p9", due=when)]), LoadState(NOW, True, "f", "ok", NOW)
        )
    finally:
        await store.close()
    con = sqlite3.connect(path)
    (raw,) = con.execute("select due_at from deliveries where post_id = 'p9'").fetchone()
    con.close()
    assert raw == hot.stored(when) == hot.stored(when.astimezone(timezone(timedelta(hours=2))))
    assert hot.loaded(raw) == when
    with pytest.raises(ValueError, match="naive"):
        hot.stored(datetime(2026, 12, 1))


async def test_writes_waiting_together_share_one_commit_and_fail_alone(tmp_path: Path) -> None:
    """Group commit: one fsync for every write that queued up, a failing one rolled back alone."""
    import asyncio
    import threading

    from sqlalchemy import event

    from publisher.store.db import SQLiteRunner

    runner = SQLiteRunner(f"sqlite:///{tmp_path / 'g.db'}")
    commits: list[int] = []
    event.listen(runner.engine, "commit", lambda _conn: commits.append(1))
    try:
        await runner.run(True, lambda c: c.exec_driver_sql("CREATE TABLE t (v INTEGER)"))
        commits.clear()
        gate, entered = threading.Event(), threading.Event()

        def blocked(conn: object) -> str:
            entered.set()
            assert gate.wait(10)
            return "first"

        def put(conn: object, v: int, fail: bool = False) -> int:
            conn.exec_driver_sql(f"INSERT INTO t VALUES ({v})")  # type: ignore[attr-defined]
            if fail:
                raise ValueError(f"job {v} fails after its insert")
            return v

        first = asyncio.ensure_future(runner.run(True, blocked))
        assert await asyncio.to_thread(entered.wait, 10)  # the runner is inside it
        rest = [
            asyncio.ensure_future(runner.run(True, put, 1)),
            asyncio.ensure_future(runner.run(True, put, 2, True)),
            asyncio.ensure_future(runner.run(True, put, 3)),
        ]
        while len(runner._jobs) < 3:  # noqa: ASYNC110 - they queue behind the blocked one
            await asyncio.sleep(0.01)
        gate.set()
        assert await first == "first"
        results = await asyncio.gather(*rest, return_exceptions=True)
        assert results[0] == 1 and results[2] == 3
        assert isinstance(results[1], ValueError)
        assert len(commits) == 2  # the blocked one's, then one for the three that waited
        rows = await runner.run(
            False, lambda c: sorted(r[0] for r in c.exec_driver_sql("SELECT v FROM t"))
        )
        assert rows == [1, 3]
    finally:
        await runner.close()
