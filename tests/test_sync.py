"""Sync: the file is the plan, the database the record; whole or nothing; idempotent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from publisher.config import Config
from publisher.states import DeliveryState
from publisher.store import LoadState, PlanChanges, Store, Transition
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


class ClaimsBeforeItsFirstApply(Store):
    """A real store on which ``act`` runs just before the first apply: the daemon's engine
    (or a `publisher resolve`) changing a delivery between a sync's reading and its write."""

    act: Callable[[Store], Awaitable[None]] | None = None
    again = 0  # how many more applies ``act`` runs before

    async def apply(self, changes: PlanChanges, load: LoadState, **kw: Any) -> bool:
        act = self.act
        if self.again <= 0:
            self.act = None
        self.again -= 1
        if act is not None:
            await act(self)
        return await super().apply(changes, load, **kw)


V1 = "posts:\n  - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: V1}\n"


async def racing(
    project: Project, db_url: str, queue: str
) -> tuple[Config, ClaimsBeforeItsFirstApply]:
    """The project's queue synced into a store on which a race can be staged."""
    project.database = db_url
    project.write_config()
    config = project.config()
    project.write_queue(queue)
    plain = await Store.open(db_url)
    store = ClaimsBeforeItsFirstApply(plain.url, plain.backend)
    await sync_queue(config, store, NOW)
    return config, store


async def test_an_edit_racing_a_claim_is_not_written_into_the_delivery_in_flight(
    project: Project, db_url: str
) -> None:
    """The sync read the delivery scheduled; it is claimed before the apply. The edit must
    not land in the row in flight: the apply is undone, the plan read again, and the edit
    reported as not applied to what may already be out."""
    config, store = await racing(project, db_url, V1)
    try:
        [before] = await store.find("a")

        async def claim(s: Store) -> None:
            await s.claim(await s.due(T0, 10), T0, "w", timedelta(minutes=1))

        store.act = claim
        project.write_queue(
            "posts:\n  - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: V2}\n"
        )
        report = await sync_queue(config, store, T0)
        assert store.act is None  # the race happened
        [after] = await store.find("a")
        assert after.state is DeliveryState.SENDING
        assert after.content_json == before.content_json  # V1: what is being sent
        assert report.updated == 0
        assert any("the edit is not applied" in n for n in report.notices), report.notices
    finally:
        await store.close()


async def test_an_edit_racing_a_resend_by_hand_does_not_send_twice(
    project: Project, db_url: str
) -> None:
    """A failed delivery, edited (which schedules it afresh) while a human resends it and the
    engine takes it: unguarded, the edit would put the delivery in flight back to
    `scheduled`, to be sent a second time."""
    config, store = await racing(project, db_url, V1)
    try:
        [d] = await store.claim(await store.due(T0, 10), T0, "w", timedelta(minutes=1))
        failed = Transition(d.id, d.fence, DeliveryState.FAILED, T0, last_error="HTTP 403")
        assert await store.finish([failed]) == []

        async def resend_and_claim(s: Store) -> None:
            [f] = await s.find("a")
            again = Transition(f.id, f.fence, DeliveryState.RETRYING, T0, due_at=T0)
            assert await s.finish([again]) == []
            assert await s.claim(await s.due(T0, 10), T0, "w", timedelta(minutes=1))

        store.act = resend_and_claim
        project.write_queue(
            "posts:\n  - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: V2}\n"
        )
        report = await sync_queue(config, store, T0 + timedelta(minutes=1))
        assert store.act is None
        [after] = await store.find("a")
        assert after.state is DeliveryState.SENDING
        assert await store.due(T0 + timedelta(hours=1), 10) == []  # nothing to send again
        assert report.updated == 0
    finally:
        await store.close()


async def test_a_removal_racing_a_claim_reports_the_delivery_in_flight(
    project: Project, db_url: str
) -> None:
    config, store = await racing(project, db_url, V1)
    try:

        async def claim(s: Store) -> None:
            await s.claim(await s.due(T0, 10), T0, "w", timedelta(minutes=1))

        store.act = claim
        project.write_queue("posts: []\n")
        report = await sync_queue(config, store, T0)
        [after] = await store.find("a")
        assert after.state is DeliveryState.SENDING
        assert report.canceled == 0
        assert any("removed from the file, but it is sending" in n for n in report.notices)
    finally:
        await store.close()


async def test_a_sync_raced_at_every_apply_writes_nothing_and_asks_to_be_run_again(
    project: Project, db_url: str
) -> None:
    posts = [f"p{i}" for i in range(4)]

    def queue(text: str) -> str:
        return "posts:\n" + "".join(
            f"  - {{id: {p}, at: 2026-12-01 09:00, accounts: [alpha], text: {text} {p}}}\n"
            for p in posts
        )

    config, store = await racing(project, db_url, queue("V1"))
    try:

        async def claim_one(s: Store) -> None:
            await s.claim(await s.due(T0, 1), T0, "w", timedelta(minutes=1))

        store.act, store.again = claim_one, 2  # before each of the three full tries
        project.write_queue(queue("V2"))
        report = await sync_queue(config, store, T0)
        assert report.busy and report.skipped  # the daemon syncs again shortly
        rows = {d.post_id: d for d in await store.all_deliveries()}
        assert sorted(d.state.value for d in rows.values()) == ["scheduled"] + ["sending"] * 3
        assert all("V1" in d.content_json for d in rows.values())  # nothing half-applied
        report = await sync_queue(config, store, T0)
        assert report.updated == 1 and not report.busy
        [left] = [d for d in await store.all_deliveries() if d.state is DeliveryState.SCHEDULED]
        assert "V2" in left.content_json
    finally:
        await store.close()
