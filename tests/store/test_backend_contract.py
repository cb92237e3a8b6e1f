"""One table of cases for the store's ``Backend`` interface, run against both implementations:
``SqliteBackend`` on a real SQLite file and ``PostgresBackend`` on the real server.

A case says what the repository may rely on whichever the database: which rows a claim is
handed, what a claim and a result write, and what holds when two daemons' transactions meet
(run here in two threads, each with its own event loop and its own backend on the same
database, as two processes would).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from publisher import lifecycle
from publisher.lifecycle import Event
from publisher.states import DeliveryState, Outcome
from publisher.store import Attempt, Delivery, LoadState, PlanChanges, Store
from publisher.store.backend import Backend
from publisher.store.postgres import PostgresBackend
from publisher.store.sqlite import SqliteBackend
from publisher.store.tables import S
from tests.conftest import (
    PG_HOST,
    PG_PORT,
    _create_pg_database,
    _drop_pg_database,
    skip_or_fail_without_postgres,
)

T = TypeVar("T")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
HOLD = 0.6  # seconds the first of two meeting transactions keeps what it took


@dataclass
class World:
    """A backend under test, on its database, and a way to open another on the same one."""

    kind: str
    url: str
    backend: Backend

    @property
    def store(self) -> Store:
        return Store(self.url, self.backend)

    async def reopen(self) -> Backend:
        if self.kind == "sqlite":
            return await SqliteBackend.open(self.url)
        return await PostgresBackend.open(self.url)

    def elsewhere(
        self, fn: Callable[[Backend, Connection], T], after: threading.Event | None = None
    ) -> T:
        """``fn`` in a write transaction of another daemon: a backend of its own, opened in
        this thread's own event loop (call it in a thread); begun once ``after`` is set."""

        def body(conn: Connection, other: Backend) -> T:
            return fn(other, conn)

        async def go() -> T:
            other = await self.reopen()
            try:
                if after is not None:
                    assert await asyncio.to_thread(after.wait, 30), "the other never got in"
                return await other.run(True, body, other)
            finally:
                await other.close()

        return asyncio.run(go())


@pytest.fixture(params=["sqlite", "postgres"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'queue.db'}"
        backend: Backend = await SqliteBackend.open(url)
        try:
            yield World("sqlite", url, backend)
        finally:
            await backend.close()
        return
    skip_or_fail_without_postgres()
    name = await _create_pg_database()
    url = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    backend = await PostgresBackend.open(url)
    try:
        yield World("postgres", url, backend)
    finally:
        await backend.close()
        await _drop_pg_database(name)


def row(
    post: str,
    account: str = "alpha",
    due: datetime = NOW,
    state: DeliveryState = DeliveryState.SCHEDULED,
    fence: int = 0,
) -> dict[str, object]:
    return {
        "post_id": post,
        "account": account,
        "network": "log",
        "state": state.value,
        "scheduled_at": due,
        "due_at": due,
        "not_after": None,
        "from_slot": False,
        "content_hash": "h-" + post,
        "content": "{}",
        "attempts": 0,
        "parts": "[]",
        "fence": fence,
        "updated_at": NOW,
    }


async def seed(w: World, *rows: dict[str, object]) -> dict[str, Delivery]:
    """The rows in the database, by post id."""
    posts = sorted({str(r["post_id"]) for r in rows})
    upserts = [
        {"id": p, "content_hash": "x", "line": 1, "removed_at": None}
        | {"created_at": NOW, "updated_at": NOW}
        for p in posts
    ]
    assert await w.store.apply(
        PlanChanges(posts_upsert=upserts, inserts=list(rows)),
        LoadState(NOW, True, "f", "ok", NOW),
    )
    return {d.post_id: d for d in await w.store.all_deliveries()}


def ids(found: list[Delivery]) -> list[str]:
    return [d.post_id for d in found]


async def in_tx(w: World, fn: Callable[[Backend, Connection], T], write: bool = True) -> T:
    def body(conn: Connection) -> T:
        return fn(w.backend, conn)

    return await w.backend.run(write, body)


# ---------------------------------------------------------------------------- the cases


async def due_candidates_are_the_claimable_ones_due_by_the_horizon(w: World) -> None:
    """Earliest first, within the limit, never an excluded or held account's, and only in
    the states a claim applies to."""
    early = NOW - timedelta(minutes=5)
    rows = [
        row("a-early", due=early),
        row("a-now"),
        row("a-soon", due=NOW + timedelta(seconds=1)),
        row("a-later", due=NOW + timedelta(hours=1)),
        row("b-excluded", "beta", early),
        row("h-held", "held", early),
    ]
    rows += [row(f"s-{s.value}", "gamma", early, s) for s in DeliveryState]
    await seed(w, *rows)
    await w.store.set_account_state("held", NOW, limited_until=NOW + timedelta(hours=1))
    horizon = NOW + timedelta(seconds=2)
    found = await in_tx(w, lambda b, c: b.due_candidates(c, NOW, horizon, 100, ["beta"]))
    claimable = {f"s-{s.value}" for s in lifecycle.APPLIES[Event.CLAIM]}
    assert ids(found)[:1] == ["a-early"]
    assert set(ids(found)) == {"a-early", "a-now", "a-soon"} | claimable
    assert [(d.due_at, d.id) for d in found] == sorted((d.due_at, d.id) for d in found)
    limited = await in_tx(w, lambda b, c: b.due_candidates(c, NOW, horizon, 2, ["beta"]))
    assert ids(limited) == ids(found)[:2]
    # A hold that has ended holds nothing.
    later = NOW + timedelta(hours=2)
    again = await in_tx(w, lambda b, c: b.due_candidates(c, later, later, 100, []))
    assert {"h-held", "b-excluded", "a-later"} <= set(ids(again))


async def due_unknown_is_what_a_lookup_is_due_for(w: World) -> None:
    early = NOW - timedelta(minutes=5)
    rows = [row(f"s-{s.value}", due=early, state=s) for s in DeliveryState]
    rows += [row("u-now", state=DeliveryState.UNKNOWN)]
    rows += [row("u-later", due=NOW + timedelta(minutes=1), state=DeliveryState.UNKNOWN)]
    await seed(w, *rows)
    found = await in_tx(w, lambda b, c: b.due_unknown(c, NOW, 100), write=False)
    looked_up = {f"s-{s.value}" for s in lifecycle.APPLIES[Event.TAKE_LOOKUP]}
    assert set(ids(found)) == looked_up | {"u-now"}
    assert ids(found)[-1] == "u-now"  # the latest due
    one = await in_tx(w, lambda b, c: b.due_unknown(c, NOW, 1), write=False)
    assert ids(one) == ids(found)[:1]


async def next_due_is_the_earliest_work_but_the_excluded_accounts(w: World) -> None:
    assert await in_tx(w, lambda b, c: b.next_due(c, []), write=False) is None
    t1, t2, t3 = (NOW + timedelta(minutes=m) for m in (1, 2, 3))
    await seed(
        w,
        row("a", "alpha", t2),
        row("b", "beta", t1),
        row("c", "gamma", t3, DeliveryState.UNKNOWN),  # a lookup is work too
        row("p", "delta", NOW, DeliveryState.PUBLISHED),  # done: no work
    )
    assert await in_tx(w, lambda b, c: b.next_due(c, []), write=False) == t1
    assert await in_tx(w, lambda b, c: b.next_due(c, ["beta"]), write=False) == t2
    left = await in_tx(w, lambda b, c: b.next_due(c, ["alpha", "beta"]), write=False)
    assert left == t3
    assert await in_tx(w, lambda b, c: b.next_due(c, ["alpha", "beta", "gamma"])) is None


async def mark_sending_claims_exactly_the_rows_given(w: World) -> None:
    rows = await seed(w, row("a1", fence=3), row("a2"), row("a3"))
    lease_until, when = NOW + timedelta(minutes=5), NOW + timedelta(seconds=1)
    chosen = [rows["a1"].id, rows["a2"].id]
    await in_tx(w, lambda b, c: b.mark_sending(c, chosen, "w1", lease_until, when))
    after = {d.post_id: d for d in await w.store.all_deliveries()}
    for name in ("a1", "a2"):
        d, before = after[name], rows[name]
        assert d.state is lifecycle.CLAIMED.state
        assert (d.attempts, d.fence) == (before.attempts + 1, before.fence + 1)
        assert d.updated_at == when
        assert await w.store.lease_holds(d, lease_until - timedelta(seconds=1))
        assert not await w.store.lease_holds(d, lease_until)
    assert after["a3"] == rows["a3"]
    # The lease is this worker's: its heartbeat finds both.
    assert await w.store.heartbeat("w1", lease_until) == 2


async def in_flight_is_the_databases_unless_the_daemon_is_alone(w: World) -> None:
    sending = DeliveryState.SENDING
    await seed(
        w,
        row("a1", state=sending),
        row("a2", state=sending),
        row("b1", "beta", state=sending),
        row("c1", "gamma"),
    )
    accounts = ["alpha", "beta", "gamma"]
    counted = await in_tx(w, lambda b, c: b.in_flight(c, accounts, None))
    assert counted == {"alpha": 2, "beta": 1}
    own = {"alpha": 1, "gamma": 4}
    given = await in_tx(w, lambda b, c: b.in_flight(c, accounts, own))
    # Alone on its database a daemon's own count is the whole truth; shared, only the
    # database knows the other daemons' requests.
    assert given == (counted if w.backend.shared else own)


async def lock_fences_reads_the_fences_asked(w: World) -> None:
    rows = await seed(w, row("a1", fence=4), row("a2", fence=7), row("a3", fence=1))
    asked = [rows["a1"].id, rows["a2"].id, 10_000]  # one that is not there
    fences = await in_tx(w, lambda b, c: b.lock_fences(c, asked))
    assert fences == {rows["a1"].id: 4, rows["a2"].id: 7}


async def write_results_writes_only_where_the_fence_holds(w: World) -> None:
    rows = await seed(w, row("a1", fence=2), row("a2", fence=5), row("a3", fence=1))
    at = NOW + timedelta(minutes=1)
    keys = ("published_at", "remote_id", "state", "updated_at")
    results = [
        {"b_id": rows["a1"].id, "b_fence": 2, "state": "published", "remote_id": "r1"},
        {"b_id": rows["a2"].id, "b_fence": 4, "state": "published", "remote_id": "r2"},  # stale
        {"b_id": rows["a3"].id, "b_fence": 1, "state": "published", "remote_id": None},
    ]
    results = [r | {"published_at": at, "updated_at": at} for r in results]
    await in_tx(w, lambda b, c: b.write_results(c, keys, results))
    after = {d.post_id: d for d in await w.store.all_deliveries()}
    assert after["a1"].state is DeliveryState.PUBLISHED and after["a1"].remote_id == "r1"
    assert after["a1"].published_at == at and after["a1"].updated_at == at
    assert after["a2"] == rows["a2"]  # its fence moved on: nothing written
    assert after["a3"].state is DeliveryState.PUBLISHED and after["a3"].remote_id is None
    assert after["a3"].fence == 1  # a result never moves the fence


async def insert_attempts_appends_to_the_ledger(w: World) -> None:
    rows = await seed(w, row("a1"))
    d = rows["a1"]
    first = Attempt(d.id, "a1", "alpha", "log", 1, NOW, NOW, Outcome.TRANSIENT, 503, "busy")
    second = Attempt(
        d.id, "a1", "alpha", "log", 2, NOW, NOW + timedelta(seconds=1), Outcome.PUBLISHED,
        remote_id="r1", remote_url="https://example.invalid/r1", worker="w1",
    )  # fmt: skip
    await in_tx(w, lambda b, c: b.insert_attempts(c, [first.row(), second.row()]))
    ledger = await w.store.attempts(post_id="a1")
    got = [{k: getattr(a, k) for k in first.row()} for a in ledger]
    assert got == [first.row(), second.row()]


async def run_commits_what_returns_and_undoes_what_raises(w: World) -> None:
    rows = await seed(w, row("a1"))
    account_state = {"limited_until": None, "attention": None, "attention_reason": None}

    def put(conn: Connection, account: str, fail: bool) -> str:
        conn.execute(insert(S).values(account=account, updated_at=NOW, **account_state))
        if fail:
            raise ValueError("after the insert")
        return account

    assert await w.backend.run(True, put, "kept", False) == "kept"
    with pytest.raises(ValueError, match="after the insert"):
        await w.backend.run(True, put, "undone", True)
    assert set(await w.store.account_states()) == {"kept"}
    assert await w.store.get(rows["a1"].id) == rows["a1"]  # a read sees what is committed


async def a_sync_turn_is_one_daemons_at_a_time_where_several_share(w: World) -> None:
    other = await w.reopen()
    try:
        async with w.backend.sync_turn() as mine:
            assert mine
            async with other.sync_turn() as theirs:
                # Alone on its file, a daemon's turn is always now.
                assert theirs is not w.backend.shared
        async with other.sync_turn() as theirs:
            assert theirs  # given back
    finally:
        await other.close()


async def server_now_is_the_servers_clock_or_none(w: World) -> None:
    value = await w.backend.server_now()
    if value is None:
        assert not w.backend.shared  # several daemons compare their clocks with the server's
        return
    assert value.tzinfo is not None
    assert abs(value - datetime.now(UTC)) < timedelta(minutes=1)


# -- two daemons meeting: the first keeps what it took for HOLD seconds


async def meet(
    w: World,
    first: Callable[[Backend, Connection], Any],
    second: Callable[[Backend, Connection], Any],
) -> tuple[Any, float, Any, float]:
    """``first`` then, once it holds what it took, ``second``, each in its own daemon's
    write transaction. Returns each one's result and when it ended (``second``'s, when its
    body returned; ``first``'s, just before it let go)."""
    holding = threading.Event()

    def one(b: Backend, conn: Connection) -> tuple[Any, float]:
        out = first(b, conn)
        holding.set()
        time.sleep(HOLD)
        return out, time.monotonic()

    def two(b: Backend, conn: Connection) -> tuple[Any, float]:
        out = second(b, conn)
        return out, time.monotonic()

    (r1, t1), (r2, t2) = await asyncio.gather(
        asyncio.to_thread(w.elsewhere, one), asyncio.to_thread(w.elsewhere, two, holding)
    )
    return r1, t1, r2, t2


async def an_account_locked_by_one_claim_waits_for_it_in_another(w: World) -> None:
    def lock(b: Backend, conn: Connection) -> None:
        b.lock_accounts(conn, ["alpha", "beta"])

    def lock_again(b: Backend, conn: Connection) -> None:
        b.lock_accounts(conn, ["beta"])

    _, first_ends, _, second_got_in = await meet(w, lock, lock_again)
    assert second_got_in >= first_ends  # caps reckoned under the lock hold across daemons


async def rows_one_claim_took_are_never_handed_to_another(w: World) -> None:
    rows = await seed(w, *(row(f"a{i}", due=NOW + timedelta(seconds=i)) for i in range(1, 6)))

    def claim(b: Backend, conn: Connection) -> list[str]:
        found = b.due_candidates(conn, NOW, NOW + timedelta(seconds=10), 2, [])
        b.mark_sending(conn, [d.id for d in found], "first", NOW + timedelta(minutes=5), NOW)
        return ids(found)

    def claim_other(b: Backend, conn: Connection) -> list[str]:
        found = b.due_candidates(conn, NOW, NOW + timedelta(seconds=10), 2, [])
        b.mark_sending(conn, [d.id for d in found], "second", NOW + timedelta(minutes=5), NOW)
        return ids(found)

    took, first_ends, other_took, other_done = await meet(w, claim, claim_other)
    assert took == ["a1", "a2"]
    assert other_took == ["a3", "a4"]  # the next ones: neither the first's, nor none
    if w.backend.shared:
        assert other_done < first_ends  # passed them over, without waiting for the first
    after = {d.post_id: d for d in await w.store.all_deliveries()}
    assert [after[f"a{i}"].fence for i in range(1, 6)] == [1, 1, 1, 1, 0]
    assert after["a5"] == rows["a5"]


async def a_row_whose_fence_was_read_for_a_result_is_not_claimed_meanwhile(w: World) -> None:
    rows = await seed(w, row("a1", fence=3))
    the_id = rows["a1"].id

    def read_fence(b: Backend, conn: Connection) -> dict[int, int]:
        return b.lock_fences(conn, [the_id])

    def claim(b: Backend, conn: Connection) -> None:
        b.mark_sending(conn, [the_id], "other", NOW + timedelta(minutes=5), NOW)

    fences, first_ends, _, claimed_at = await meet(w, read_fence, claim)
    assert fences == {the_id: 3}
    assert claimed_at >= first_ends  # the fence compared is the one the result meets
    [after] = await w.store.all_deliveries()
    assert after.fence == 4


Case = Callable[[World], Awaitable[None]]
CASES: list[Case] = [
    due_candidates_are_the_claimable_ones_due_by_the_horizon,
    due_unknown_is_what_a_lookup_is_due_for,
    next_due_is_the_earliest_work_but_the_excluded_accounts,
    mark_sending_claims_exactly_the_rows_given,
    in_flight_is_the_databases_unless_the_daemon_is_alone,
    lock_fences_reads_the_fences_asked,
    write_results_writes_only_where_the_fence_holds,
    insert_attempts_appends_to_the_ledger,
    run_commits_what_returns_and_undoes_what_raises,
    a_sync_turn_is_one_daemons_at_a_time_where_several_share,
    server_now_is_the_servers_clock_or_none,
    an_account_locked_by_one_claim_waits_for_it_in_another,
    rows_one_claim_took_are_never_handed_to_another,
    a_row_whose_fence_was_read_for_a_result_is_not_claimed_meanwhile,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
async def test_backend_contract(world: World, case: Case) -> None:
    await case(world)
