"""Sync: the file is the plan, the database the record; whole or nothing; idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from publisher.states import DeliveryState
from publisher.store import Store, Transition
from publisher.sync import sync_queue
from tests.conftest import T0, Project

NOW = T0 - timedelta(days=1)


async def snapshot(store: Store) -> list[tuple[object, ...]]:
    return sorted(
        (d.post_id, d.account, d.state.value, d.due_at, d.content_hash, d.reason)
        for d in await store.all_deliveries()
    )


async def test_add_edit_remove_and_idempotent(project: Project, db_url: str) -> None:
    project.database = db_url
    project.write_config()
    config = project.config()
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha, beta], text: Bonjour}
          - {id: b, at: 2026-12-01 10:00, accounts: [alpha], text: Hello}
        """)
    store = await Store.open(db_url)
    try:
        report = await sync_queue(config, store, NOW)
        assert (report.added, report.updated, report.canceled) == (3, 0, 0)
        before = await snapshot(store)
        # The same file twice changes nothing, not even updated_at.
        again = await sync_queue(config, store, NOW + timedelta(minutes=1), force=True)
        assert (again.added, again.updated, again.canceled) == (0, 0, 0)
        assert await snapshot(store) == before
        # Edit a's text and move b; remove nothing yet.
        project.write_queue("""\
            posts:
              - {id: a, at: 2026-12-01 09:00, accounts: [alpha, beta], text: Bonjour à tous}
              - {id: b, at: 2026-12-01 11:00, accounts: [alpha], text: Hello}
            """)
        report = await sync_queue(config, store, NOW)
        assert (report.added, report.updated, report.canceled) == (0, 3, 0)
        [b] = await store.find("b")
        assert b.due_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
        assert "Bonjour à tous" in (await store.find("a", "alpha"))[0].content_json
        # Remove b and beta from a: canceled, kept in the ledger.
        project.write_queue("""\
            posts:
              - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Bonjour à tous}
            """)
        report = await sync_queue(config, store, NOW)
        assert report.canceled == 2
        states = {(d.post_id, d.account): d.state for d in await store.all_deliveries()}
        assert states == {
            ("a", "alpha"): DeliveryState.SCHEDULED,
            ("a", "beta"): DeliveryState.CANCELED,
            ("b", "alpha"): DeliveryState.CANCELED,
        }
    finally:
        await store.close()


async def test_edit_after_publish_is_not_sent_again_and_is_reported(
    project: Project, db_url: str
) -> None:
    project.database = db_url
    project.write_config()
    config = project.config()
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Version 1}
        """)
    store = await Store.open(db_url)
    try:
        await sync_queue(config, store, NOW)
        [d] = await store.claim(await store.due(T0, 10), T0, "w", timedelta(minutes=1))
        await store.finish(
            [
                Transition(
                    d.id,
                    d.fence,
                    DeliveryState.PUBLISHED,
                    T0,
                    published_hash=d.content_hash,
                    published_at=T0,
                    remote_id="r",
                )
            ]
        )
        project.write_queue("""\
            posts:
              - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Version 2}
            """)
        report = await sync_queue(config, store, T0 + timedelta(minutes=5))
        assert any("already published" in n for n in report.notices)
        [after] = await store.find("a")
        assert after.state is DeliveryState.PUBLISHED
        assert await store.due(T0 + timedelta(hours=1), 10) == []
    finally:
        await store.close()


async def test_invalid_file_applies_nothing_and_keeps_the_last_good_plan(
    project: Project, db_url: str
) -> None:
    project.database = db_url
    project.write_config()
    config = project.config()
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Un}
          - {id: b, at: 2026-12-01 10:00, accounts: [alpha], text: Deux}
        """)
    store = await Store.open(db_url)
    try:
        await sync_queue(config, store, NOW)
        before = await snapshot(store)
        project.write_queue("""\
            posts:
              - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Un modifié}
              - {id: b, at: 2026-12-01 10:00, acounts: [alpha], text: Deux}
            """)
        report = await sync_queue(config, store, NOW)
        assert not report.applied and report.errors
        assert any("acounts" in str(e) for e in report.errors)
        assert await snapshot(store) == before
        load = await store.load_state()
        assert load is not None and not load.ok and "acounts" in (load.message or "")
    finally:
        await store.close()
