"""The store on real SQLite files and a real PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from publisher.states import DeliveryState, Outcome
from publisher.store import Attempt, PlanChanges, SchemaTooNewError, Store, Transition
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
