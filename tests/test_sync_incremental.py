"""A sync with a SyncCache (the daemon's) ends in the very store state a full diff gives.

Two stores live through the same story: random edits of the queue file, broken files, and
between syncs the same deliveries published, failed, retried, left in flight, made unknown,
resent or dropped by hand. One store is synced with a cache (incremental: it reads only what
changed), the other without (the full diff). After every sync both hold the same rows, and the
reports say the same. Also: another apply in between means a full diff, and a delivery
dropped by hand stays canceled.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import publisher.store.plans as plans
from publisher.commands.plan import current_plan
from publisher.states import CANCELED_BY_SYNC, DeliveryState
from publisher.store import LoadState, PlanChanges, Store, Transition
from publisher.store.repo import D, P
from publisher.sync import SyncCache, SyncReport, sync_queue
from tests.conftest import (
    T0,
    Project,
    _create_pg_database,
    _drop_pg_database,
    skip_or_fail_without_postgres,
)
from tests.test_cli import cli

NOW = T0 - timedelta(days=1)
ACCOUNTS = {
    "alpha": {"network": "log", "slots": ["daily 09:00", "daily 18:00"]},
    "beta": {"network": "log", "slots": ["mon-fri 12:00"]},
    "gamma": {"network": "log"},
}


# --- a queue file as data


@dataclass
class Post:
    id: str
    accounts: list[str]
    text: str
    at: int | None = None  # hours after T0; None: slots
    not_after: int | None = None

    def yaml(self) -> list[str]:
        out = [f"  - id: {self.id}", f"    accounts: [{', '.join(self.accounts)}]"]
        if self.at is not None:
            when = (T0 + timedelta(hours=self.at)).isoformat()
            out.append(f'    at: "{when}"')
            if self.not_after is not None:
                end = (T0 + timedelta(hours=self.at + self.not_after)).isoformat()
                out.append(f'    not_after: "{end}"')
        out.append(f"    text: {json.dumps(self.text, ensure_ascii=False)}")
        return out


def queue_text(posts: list[Post]) -> str:
    if not posts:
        return "posts: []\n"
    return "\n".join(["posts:", *(line for p in posts for line in p.yaml())]) + "\n"


@dataclass
class Story:
    """A random life of a queue file and of its deliveries."""

    rng: Random
    posts: list[Post] = field(default_factory=list)
    n: int = 0
    removed: Post | None = None

    def new_post(self) -> Post:
        self.n += 1
        slotted = self.rng.random() < 0.3
        names = ["alpha", "beta"] if slotted else ["alpha", "beta", "gamma"]
        accounts = self.rng.sample(names, self.rng.randint(1, len(names)))
        at = None if slotted else self.rng.randint(1, 24 * 20)
        not_after = self.rng.choice([None, None, 2, 30])
        return Post(f"p{self.n}", accounts, f"Texte {self.n}", at, not_after)

    def edit(self) -> str:
        """Change the file; its new text (sometimes a broken one)."""
        posts, rng = self.posts, self.rng
        op = rng.choice(
            ["add", "add", "top", "remove", "move", "text", "time", "slot", "accounts", "back"]
        )
        if op == "add" or not posts:
            posts.insert(rng.randint(0, len(posts)), self.new_post())
        elif op == "top":
            posts.insert(0, self.new_post())
        elif op == "remove":
            self.removed = posts.pop(rng.randrange(len(posts)))
        elif op == "back" and self.removed is not None:
            posts.insert(rng.randint(0, len(posts)), self.removed)
            self.removed = None
        elif op == "move":
            p = posts.pop(rng.randrange(len(posts)))
            posts.insert(rng.randint(0, len(posts)), p)
        elif op == "text":
            rng.choice(posts).text += " édité"
        elif op == "time":
            p = rng.choice(posts)
            if p.at is not None:
                p.at += rng.choice([-3, 1, 5])
        elif op == "slot":
            p = rng.choice(posts)
            p.accounts = [a for a in p.accounts if a != "gamma"] or ["alpha"]
            p.at = None if p.at is not None else rng.randint(1, 24 * 20)
            p.not_after = None
        elif op == "accounts":
            p = rng.choice(posts)
            names = ["alpha", "beta"] + ([] if p.at is None else ["gamma"])
            p.accounts = rng.sample(names, rng.randint(1, len(names)))
        text = queue_text(posts)
        if rng.random() < 0.1:  # an editor mid-typing: never applied
            text = text.replace("text:", "txet:", 1) if posts else "posts:\n  - {id: [\n"
        return text


# --- the same world on two stores


async def world(store: Store, rng: Random, now: datetime) -> None:
    """Move some deliveries the way the engine and humans do (same choices on both stores:
    ``rng`` is seeded alike and the deliveries are taken in a stable order)."""
    deliveries = sorted(await store.all_deliveries(), key=lambda d: (d.post_id, d.account))
    for d in deliveries:
        roll = rng.random()
        if roll > 0.25:
            continue
        move = rng.choice(["publish", "fail", "retry", "unknown", "sending", "drop", "resend"])
        pending = d.state in (DeliveryState.SCHEDULED, DeliveryState.RETRYING)
        if move in ("publish", "fail", "retry", "unknown", "sending") and pending:
            [c] = await store.claim([d], now, "w", timedelta(minutes=5))
            state = {
                "publish": DeliveryState.PUBLISHED,
                "fail": DeliveryState.FAILED,
                "retry": DeliveryState.RETRYING,
                "unknown": DeliveryState.UNKNOWN,
                "sending": None,
            }[move]
            if state is None:
                continue
            await store.finish(
                [
                    Transition(
                        c.id,
                        c.fence,
                        state,
                        now,
                        due_at=now + timedelta(hours=1)
                        if state is DeliveryState.RETRYING
                        else None,
                        published_hash=c.content_hash if state is DeliveryState.PUBLISHED else None,
                        published_at=now if state is DeliveryState.PUBLISHED else None,
                        reason="test",
                    )
                ]
            )
        elif move in ("drop", "resend") and d.state in (
            DeliveryState.FAILED,
            DeliveryState.UNKNOWN,
        ):
            # What `publisher resolve ID drop|resend` writes.
            state = DeliveryState.CANCELED if move == "drop" else DeliveryState.RETRYING
            due = now if move == "resend" else None
            await store.finish(
                [
                    Transition(
                        d.id, d.fence, state, now, due_at=due, reason=f"resolved by hand: {move}"
                    )
                ]
            )


DELIVERY_COLUMNS = [c for c in D.c if c.name not in ("id",)]
POST_COLUMNS = list(P.c)


async def rows(store: Store) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every row of deliveries (ids aside: insert order may differ) and of posts."""

    def body(conn: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        deliveries = [tuple(r) for r in conn.execute(select(*DELIVERY_COLUMNS))]
        posts = [tuple(r) for r in conn.execute(select(*POST_COLUMNS))]
        return sorted(deliveries, key=repr), sorted(posts, key=repr)

    return await store.read(body)


def summary(report: SyncReport) -> tuple[Any, ...]:
    return (
        report.applied,
        report.skipped,
        report.added,
        report.updated,
        report.canceled,
        report.unchanged,
        sorted(report.notices),
        [str(w) for w in report.warnings],
        [str(e) for e in report.errors],
    )


async def play(project: Project, url_a: str, url_b: str, seed: int, steps: int) -> tuple[int, int]:
    """The story on both stores; how many syncs were incremental, and how many applied."""
    rng = Random(seed)
    story = Story(Random(seed + 1))
    for _ in range(rng.randint(2, 8)):
        story.posts.append(story.new_post())
    config = project.config()
    a, b = await Store.open(url_a), await Store.open(url_b)
    cache = SyncCache()
    incremental = applied = 0
    try:
        text = queue_text(story.posts)
        for step in range(steps):
            project.queue_path.write_text(text, encoding="utf-8")
            now = NOW + timedelta(hours=step * 7)
            got = await sync_queue(config, a, now, cache=cache)
            want = await sync_queue(config, b, now)
            assert summary(got) == summary(want), f"step {step}"
            assert await rows(a) == await rows(b), f"step {step}"
            if got.applied and not got.skipped:
                applied += 1
                incremental += cache.incremental
            seed_world = rng.randrange(1 << 30)
            await world(a, Random(seed_world), now)
            await world(b, Random(seed_world), now)
            text = story.edit()
    finally:
        await a.close()
        await b.close()
    return incremental, applied


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batching path taken with a few rows."""
    monkeypatch.setattr(plans, "IN_BATCH", 3)
    monkeypatch.setattr(plans, "WRITE_BATCH", 4)


def sqlite_pair(project: Project) -> tuple[str, str]:
    return (
        f"sqlite:///{project.root / 'incremental.db'}",
        f"sqlite:///{project.root / 'full.db'}",
    )


def with_accounts(project: Project) -> Project:
    project.accounts = {k: dict(v) for k, v in ACCOUNTS.items()}
    project.write_config()
    return project


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_incremental_equals_full_on_sqlite(
    project: Project, seed: int, small_batches: None
) -> None:
    with_accounts(project)
    incremental, applied = await play(project, *sqlite_pair(project), seed, steps=14)
    assert applied >= 8 and incremental == applied - 1  # all but the first


async def test_incremental_equals_full_on_postgres(project: Project, small_batches: None) -> None:
    skip_or_fail_without_postgres()
    with_accounts(project)
    names = [await _create_pg_database(), await _create_pg_database()]
    try:
        urls = [f"postgresql://postgres@127.0.0.1:5432/{n}" for n in names]
        incremental, applied = await play(project, urls[0], urls[1], 7, steps=10)
        assert incremental == applied - 1
    finally:
        for n in names:
            await _drop_pg_database(n)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10**6), steps=st.integers(2, 10))
def test_incremental_equals_full_generated(seed: int, steps: int, tmp_path_factory: Any) -> None:
    root = tmp_path_factory.mktemp("story")
    project = with_accounts(Project(root, f"sqlite:///{root / 'unused.db'}"))
    asyncio.run(play(project, *sqlite_pair(project), seed, steps))


# --- the conditions of the incremental diff


async def test_another_apply_in_between_means_a_full_diff(project: Project) -> None:
    with_accounts(project)
    config = project.config()
    url, other = sqlite_pair(project)
    cache = SyncCache()
    story = Story(Random(5))
    story.posts = [story.new_post() for _ in range(6)]
    store, reference = await Store.open(url), await Store.open(other)

    async def both(posts: list[Post], *, cached: bool = True) -> SyncReport:
        project.queue_path.write_text(queue_text(posts))
        await sync_queue(config, reference, NOW)
        return await sync_queue(config, store, NOW, cache=cache if cached else None)

    try:
        await both(story.posts)
        assert cache.churned  # a first sync: worth handing its freed memory back
        story.posts[0].text += " !"
        await both(story.posts)
        assert cache.incremental and not cache.churned  # a small edit: not worth a full GC
        # Another daemon (or `publisher run --once`) applies a file of its own...
        await both(story.posts[:-1], cached=False)
        # ...so this one's memory of the plan is stale: a full diff, and a right one.
        story.posts.append(story.new_post())
        got = await both(story.posts)
        assert not cache.incremental
        assert await rows(store) == await rows(reference)
        assert got.added == len(story.posts[-1].accounts)
        assert got.updated == len(story.posts[-2].accounts)  # canceled, back in the file
        await both(story.posts[1:])
        assert cache.incremental  # and from there on, incremental again
        assert await rows(store) == await rows(reference)
    finally:
        await store.close()
        await reference.close()


async def test_an_apply_racing_the_incremental_diff_is_caught(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the check of the last load and the apply: the apply refuses, a full diff
    follows, and the result is right."""
    with_accounts(project)
    config = project.config()
    url, other = sqlite_pair(project)
    story = Story(Random(9))
    story.posts = [story.new_post() for _ in range(5)]
    racer = story.posts[1:]
    cache = SyncCache()
    store, reference = await Store.open(url), await Store.open(other)
    try:
        project.queue_path.write_text(queue_text(story.posts))
        await sync_queue(config, store, NOW, cache=cache)
        await sync_queue(config, reference, NOW)
        real = store.plan_entries
        raced = []

        async def entries_then_race(ids: Any) -> Any:
            out = await real(ids)
            if not raced:
                raced.append(True)
                saved = project.queue_path.read_text()
                project.queue_path.write_text(queue_text(racer))
                await sync_queue(config, store, NOW + timedelta(minutes=1))  # not cached
                project.queue_path.write_text(saved)
            return out

        monkeypatch.setattr(store, "plan_entries", entries_then_race)
        final = [*story.posts, story.new_post()]
        project.queue_path.write_text(queue_text(final))
        await sync_queue(config, store, NOW + timedelta(minutes=2), cache=cache)
        assert raced and not cache.incremental

        project.queue_path.write_text(queue_text(racer))
        await sync_queue(config, reference, NOW + timedelta(minutes=1))
        project.queue_path.write_text(queue_text(final))
        await sync_queue(config, reference, NOW + timedelta(minutes=2))
        assert await rows(store) == await rows(reference)
    finally:
        await store.close()
        await reference.close()


async def test_apply_with_a_stale_expectation_writes_nothing(project: Project) -> None:
    store = await Store.open(project.database)
    try:
        load = LoadState(NOW, True, "f1", "applied", NOW)
        changes = PlanChanges(
            posts_upsert=[
                {
                    "id": "x",
                    "content_hash": "h",
                    "line": 1,
                    "removed_at": None,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            ]
        )
        assert await store.apply(PlanChanges(), load)
        later = LoadState(NOW + timedelta(minutes=1), True, "f2", "applied", NOW)
        assert not await store.apply(changes, later, expect=("f0", NOW))
        assert await store.post_index() == {}
        assert (await store.load_state()) == load
        assert await store.apply(changes, later, expect=("f1", NOW))
        assert set(await store.post_index()) == {"x"}
    finally:
        await store.close()


# --- a delivery dropped by hand stays dropped


async def test_a_delivery_dropped_by_hand_is_not_rescheduled(project: Project) -> None:
    for cached in (False, True):
        project.database = f"sqlite:///{project.root / f'drop-{cached}.db'}"
        project.write_config()
        config = project.config()
        cache = SyncCache() if cached else None
        project.write_queue("""\
            posts:
              - {id: a, at: 2026-12-01 09:00, accounts: [alpha, beta], text: Bonjour}
              - {id: b, at: 2026-12-01 10:00, accounts: [alpha], text: Salut}
            """)
        store = await Store.open(project.database)
        try:
            await sync_queue(config, store, NOW, cache=cache)
            [d] = await store.find("a", "alpha")
            [c] = await store.claim([d], T0, "w", timedelta(minutes=1))
            await store.finish([Transition(c.id, c.fence, DeliveryState.FAILED, T0, reason="boom")])
        finally:
            await store.close()
        code, _, err = await cli("resolve", str(d.id), "drop", "--config", str(project.config_path))
        assert code == 0, err
        store = await Store.open(project.database)
        try:
            # Any later sync (an edit elsewhere, SIGHUP) leaves it canceled, and says so.
            project.write_queue("""\
                posts:
                  - {id: a, at: 2026-12-01 09:00, accounts: [alpha, beta], text: Bonjour}
                  - {id: b, at: 2026-12-01 10:30, accounts: [alpha], text: Salut}
                """)
            report = await sync_queue(config, store, T0 + timedelta(minutes=1), cache=cache)
            [after] = await store.find("a", "alpha")
            assert after.state is DeliveryState.CANCELED
            assert after.reason == "resolved by hand: drop"
            assert cache is None or cache.incremental
            assert any("a → alpha: canceled by hand" in n for n in report.notices), report
            again = await sync_queue(
                config, store, T0 + timedelta(minutes=2), force=True, cache=cache
            )
            assert (await store.find("a", "alpha"))[0].state is DeliveryState.CANCELED
            assert again.updated == 0
            # What dry-run and validate show as still to go out: not the dropped one.
            view = await current_plan(config, T0 + timedelta(minutes=2))
            assert ("a", "alpha") not in {(p.post_id, p.account) for p in view.pending()}
            assert ("a", "beta") in {(p.post_id, p.account) for p in view.pending()}
        finally:
            await store.close()


async def test_a_delivery_canceled_by_sync_comes_back_with_its_post(project: Project) -> None:
    both = """\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Bonjour}
          - {id: b, at: 2026-12-01 10:00, accounts: [alpha], text: Salut}
        """
    cache = SyncCache()
    store = await Store.open(project.database)
    try:
        config = project.config()
        project.write_queue(both)
        await sync_queue(config, store, NOW, cache=cache)
        project.write_queue("""\
            posts:
              - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Bonjour}
            """)
        removed = await sync_queue(config, store, NOW, cache=cache)
        assert removed.canceled == 1
        [b] = await store.find("b")
        assert (b.state, b.reason) == (DeliveryState.CANCELED, CANCELED_BY_SYNC)
        project.write_queue(both)
        back = await sync_queue(config, store, NOW, cache=cache)
        assert cache.incremental and back.updated == 1
        [b] = await store.find("b")
        assert (b.state, b.reason) == (DeliveryState.SCHEDULED, "back in the queue file")
    finally:
        await store.close()
