"""One file per team (``queue = "queue.d/*.yaml"``): each file applied whole or kept alone."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from watchfiles import Change

from publisher.clock import FakeClock
from publisher.config import Config, SecretPolicy
from publisher.diagnostics import Diagnostic, InvalidFileError
from publisher.engine.observe import Health
from publisher.engine.watch import pattern_filter
from publisher.states import DeliveryState
from publisher.store import Store, Transition
from publisher.sync import SyncCache, SyncReport, sync_queue
from tests.conftest import T0, Project

NOW = T0 - timedelta(days=1)
S = DeliveryState.SCHEDULED
GOOD_A = """\
    posts:
      - {id: launch, at: 2026-12-01 09:00, accounts: [alpha], text: Team A launches}
      - {id: later, accounts: [alpha], text: A slot post}
    """
GOOD_B = """\
    posts:
      - {id: launch, at: 2026-12-01 10:00, accounts: [alpha, beta], text: Team B launches}
      - {id: b-slot, accounts: [alpha], text: B's slot post}
    """
BROKEN_B = """\
    posts:
      - {id: launch, at: 2026-12-01 10:00, accounts: [alpha, beta], text: Team B launches}
      - {id: b-slot, accounts: [alpha], text: B's slot post}
      - {id: oops, at: not a time, accounts: [alpha], text: Broken}
    """


def use_pattern(project: Project) -> Config:
    text = project.config_path.read_text(encoding="utf-8")
    text = text.replace('queue = "queue.yaml"', 'queue = "queue.d/*.yaml"')
    project.config_path.write_text(text, encoding="utf-8")
    (project.root / "queue.d").mkdir(exist_ok=True)
    return project.config(SecretPolicy.WARN)  # an editors' checkout may have none


def write(project: Project, name: str, text: str) -> Path:
    path = project.root / "queue.d" / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


async def states(store: Store) -> dict[tuple[str, str], DeliveryState]:
    return {(d.post_id, d.account): d.state for d in await store.all_deliveries()}


@pytest.fixture
def team_project(project: Project) -> Project:
    project.accounts["alpha"]["slots"] = ["mon-sun 09:00", "mon-sun 18:00"]
    project.write_config()
    return project


@pytest.mark.parametrize("cached", [False, True])
async def test_one_broken_file_keeps_its_plan_the_others_apply(
    team_project: Project, db_url: str, cached: bool
) -> None:
    project = team_project
    project.database = db_url
    project.write_config()
    config = use_pattern(project)
    write(project, "team-a.yaml", GOOD_A)
    write(project, "team-b.yaml", GOOD_B)
    cache = SyncCache() if cached else None
    store = await Store.open(db_url)
    try:
        report = await sync_queue(config, store, NOW, cache=cache)
        assert report.summary().startswith("queue applied: 5 added")
        first = await states(store)
        assert set(first) == {
            ("team-a.yaml:launch", "alpha"),
            ("team-a.yaml:later", "alpha"),
            ("team-b.yaml:launch", "alpha"),
            ("team-b.yaml:launch", "beta"),
            ("team-b.yaml:b-slot", "alpha"),
        }
        taken = {d.due_at for d in await store.all_deliveries()}
        # B breaks, and A changes: A is applied, B keeps its plan (nothing canceled).
        write(project, "team-b.yaml", BROKEN_B)
        write(project, "team-a.yaml", GOOD_A.replace("Team A launches", "Team A ships"))
        report = await sync_queue(config, store, NOW + timedelta(minutes=1), cache=cache)
        assert report.applied and report.failed
        assert report.kept_files == ["team-b.yaml"]
        assert (report.added, report.updated, report.canceled) == (0, 1, 0)
        [err] = report.errors
        assert err.file == str(project.root / "queue.d" / "team-b.yaml")
        assert (err.line, err.column) > (1, 1)
        assert "not applied, 1 error(s) in team-b.yaml" in report.summary()
        assert await states(store) == first
        assert "Team A ships" in (await store.find("team-a.yaml:launch"))[0].content_json
        load = await store.load_state()
        assert load is not None and not load.ok and "team-b.yaml" in (load.message or "")
        assert load.applied_at == NOW + timedelta(minutes=1)
        # A new slot post in A does not take the slot B's kept delivery holds.
        write(
            project,
            "team-a.yaml",
            GOOD_A + "  - {id: more, accounts: [alpha], text: Another slot post}\n",
        )
        report = await sync_queue(config, store, NOW + timedelta(minutes=2), cache=cache)
        assert (report.added, report.canceled, report.kept_files) == (1, 0, ["team-b.yaml"])
        # While the same file is kept, a daemon's re-sync stays incremental.
        assert cache is None or cache.incremental
        [more] = await store.find("team-a.yaml:more")
        assert more.due_at not in taken
        assert await states(store) == {**first, ("team-a.yaml:more", "alpha"): S}
        # B fixed: applied, its deliveries as they were where unchanged.
        write(project, "team-b.yaml", GOOD_B.replace("Team B launches", "B launches"))
        report = await sync_queue(config, store, NOW + timedelta(minutes=3), cache=cache)
        assert not report.failed and report.kept_files == []
        assert cache is None or not cache.incremental  # a file fixed: read it all
        assert report.updated == 2
        load = await store.load_state()
        assert load is not None and load.ok
        # Removing B withdraws its posts, like posts deleted from one file.
        (project.root / "queue.d" / "team-b.yaml").unlink()
        report = await sync_queue(config, store, NOW + timedelta(minutes=4), cache=cache)
        assert report.canceled == 3
        after = await states(store)
        assert after[("team-b.yaml:launch", "beta")] is DeliveryState.CANCELED
        assert after[("team-a.yaml:launch", "alpha")] is DeliveryState.SCHEDULED
    finally:
        await store.close()


async def publish(store: Store, post_id: str, account: str) -> None:
    [d] = await store.find(post_id, account)
    [c] = await store.claim([d], T0, "w", timedelta(minutes=1))
    done = Transition(
        c.id,
        c.fence,
        DeliveryState.PUBLISHED,
        T0,
        published_hash=c.content_hash,
        published_at=T0,
        remote_id="r",
    )
    assert await store.finish([done]) == []


@pytest.mark.parametrize("cached", [False, True])
async def test_a_post_moved_to_another_file_keeps_its_identity(
    team_project: Project, cached: bool
) -> None:
    config = use_pattern(team_project)
    write(team_project, "team-a.yaml", GOOD_A)
    write(team_project, "team-b.yaml", "posts: []\n")
    cache = SyncCache() if cached else None
    store = await Store.open(team_project.database)
    try:
        await sync_queue(config, store, NOW, cache=cache)
        await publish(store, "team-a.yaml:launch", "alpha")
        # `launch` (published) and `later` move, unchanged, from A to B.
        write(team_project, "team-a.yaml", "posts: []\n")
        write(team_project, "team-b.yaml", GOOD_A)
        report = await sync_queue(config, store, NOW + timedelta(minutes=1), cache=cache)
        assert (report.added, report.canceled) == (0, 0), report.summary()
        moved = [w for w in report.warnings if "moved here from team-a.yaml" in w.message]
        assert len(moved) == 2
        assert moved[0].file == str(team_project.root / "queue.d" / "team-b.yaml")
        after = await states(store)
        assert after == {
            ("team-a.yaml:launch", "alpha"): DeliveryState.PUBLISHED,
            ("team-a.yaml:later", "alpha"): DeliveryState.SCHEDULED,
        }
        # The next sync (the same files) keeps it so: nothing added, nothing withdrawn.
        report = await sync_queue(
            config, store, NOW + timedelta(minutes=2), cache=cache, force=True
        )
        assert (report.added, report.canceled) == (0, 0)
        assert await states(store) == after
        # The same id with other content in B is another post: said, and A's is withdrawn.
        write(team_project, "team-b.yaml", GOOD_A.replace("A slot post", "Other text"))
        report = await sync_queue(config, store, NOW + timedelta(minutes=3), cache=cache)
        assert (report.added, report.canceled) == (1, 1)
        [note] = [w for w in report.warnings if "this is a new post" in w.message]
        assert "team-a.yaml:later" in note.message
        after = await states(store)
        assert after[("team-a.yaml:later", "alpha")] is DeliveryState.CANCELED
        assert after[("team-b.yaml:later", "alpha")] is DeliveryState.SCHEDULED
    finally:
        await store.close()


@pytest.mark.parametrize("cached", [False, True])
async def test_a_renamed_file_keeps_its_posts(team_project: Project, cached: bool) -> None:
    config = use_pattern(team_project)
    write(team_project, "team-a.yaml", GOOD_A)
    cache = SyncCache() if cached else None
    store = await Store.open(team_project.database)
    try:
        await sync_queue(config, store, NOW, cache=cache)
        before = await states(store)
        (team_project.root / "queue.d" / "team-a.yaml").rename(
            team_project.root / "queue.d" / "marketing.yaml"
        )
        for minutes in (1, 2):  # and again: the identities are carried at every sync
            report = await sync_queue(
                config, store, NOW + timedelta(minutes=minutes), cache=cache, force=True
            )
            assert (report.added, report.updated, report.canceled) == (0, 0, 0)
            assert await states(store) == before
        assert cache is None or cache.incremental
    finally:
        await store.close()


async def test_no_file_or_every_file_broken_applies_nothing(team_project: Project) -> None:
    config = use_pattern(team_project)
    write(team_project, "team-a.yaml", GOOD_A)
    store = await Store.open(team_project.database)
    try:
        await sync_queue(config, store, NOW)
        before = await states(store)
        (team_project.root / "queue.d" / "team-a.yaml").rename(
            team_project.root / "queue.d" / "team-a.yaml.bak"
        )
        report = await sync_queue(config, store, NOW + timedelta(minutes=1))
        assert not report.applied
        [err] = report.errors
        assert "no queue file matches" in err.message
        assert err.file == str(team_project.root / "queue.d" / "*.yaml")
        assert await states(store) == before
        write(team_project, "team-a.yaml", BROKEN_B)
        report = await sync_queue(config, store, NOW + timedelta(minutes=2))
        assert not report.applied and report.summary().startswith("queue not applied")
        assert await states(store) == before
        load = await store.load_state()
        assert load is not None and not load.ok
    finally:
        await store.close()


async def test_files_in_subdirectories_and_hidden_files(team_project: Project) -> None:
    text = team_project.config_path.read_text(encoding="utf-8")
    team_project.config_path.write_text(
        text.replace('queue = "queue.yaml"', 'queue = "teams/**/*.yaml"'), encoding="utf-8"
    )
    config = team_project.config()
    (team_project.root / "teams" / "eu").mkdir(parents=True)
    (team_project.root / "teams" / "top.yaml").write_text(textwrap.dedent(GOOD_B), "utf-8")
    (team_project.root / "teams" / "eu" / "fr.yaml").write_text(textwrap.dedent(GOOD_B), "utf-8")
    (team_project.root / "teams" / ".fr.yaml").write_text("not: [valid", "utf-8")
    store = await Store.open(team_project.database)
    try:
        report = await sync_queue(config, store, NOW)
        assert not report.failed, report.summary()
        assert {k[0] for k in await states(store)} == {
            "top.yaml:launch",
            "top.yaml:b-slot",
            "eu/fr.yaml:launch",
            "eu/fr.yaml:b-slot",
        }
    finally:
        await store.close()


async def test_an_id_too_long_with_its_file_name_is_located(team_project: Project) -> None:
    config = use_pattern(team_project)
    long_id = "x" * 125
    write(
        team_project,
        "team-a.yaml",
        f"posts:\n  - {{id: {long_id}, at: 2026-12-01 09:00, accounts: [alpha], text: Hi}}\n",
    )
    write(team_project, "team-b.yaml", GOOD_B)
    store = await Store.open(team_project.database)
    try:
        report = await sync_queue(config, store, NOW)
        assert report.kept_files == ["team-a.yaml"]
        [err] = report.errors
        assert (err.line, err.column, err.field) == (2, 5, "id")
        assert "more than 128" in err.message
    finally:
        await store.close()


def test_feeds_into_a_file_of_the_pattern_is_refused(team_project: Project) -> None:
    team_project.extra = '\n[feeds]\ninto = "queue.d/feed.yaml"\n'
    team_project.write_config()
    with pytest.raises(InvalidFileError) as err:
        use_pattern(team_project)
    [d] = err.value.diagnostics
    assert d.field == "feeds.into" and "nor one of its pattern's" in d.message
    team_project.extra = '\n[feeds]\ninto = "incoming/feed.yaml"\n'
    team_project.write_config()
    use_pattern(team_project)


@pytest.mark.parametrize("cached", [False, True])
async def test_a_published_post_moved_while_its_new_file_is_broken_is_not_sent_again(
    team_project: Project, cached: bool
) -> None:
    config = use_pattern(team_project)
    write(team_project, "team-a.yaml", GOOD_A)
    write(team_project, "team-b.yaml", "posts: []\n")
    cache = SyncCache() if cached else None
    store = await Store.open(team_project.database)
    try:
        await sync_queue(config, store, NOW, cache=cache)
        await publish(store, "team-a.yaml:launch", "alpha")
        # Moved out of A into B, but B has an error: A's posts are withdrawn meanwhile.
        write(team_project, "team-a.yaml", "posts: []\n")
        write(team_project, "team-b.yaml", GOOD_A + "  - {id: bad, at: soon}\n")
        report = await sync_queue(config, store, NOW + timedelta(minutes=1), cache=cache)
        assert report.kept_files == ["team-b.yaml"] and report.canceled == 1
        # B fixed: the posts are A's, removed then, and come back as they were.
        write(team_project, "team-b.yaml", GOOD_A)
        report = await sync_queue(config, store, NOW + timedelta(minutes=2), cache=cache)
        assert report.added == 0, report.summary()
        assert any("where it had been removed" in w.message for w in report.warnings)
        assert await states(store) == {
            ("team-a.yaml:launch", "alpha"): DeliveryState.PUBLISHED,
            ("team-a.yaml:later", "alpha"): DeliveryState.SCHEDULED,
        }
    finally:
        await store.close()


def test_the_watch_wakes_for_the_pattern_files_only(tmp_path: Path) -> None:
    (tmp_path / "queue.d").mkdir()
    directory, recursive, relevant = pattern_filter(tmp_path / "queue.d" / "*.yaml")
    assert (directory, recursive) == (tmp_path / "queue.d", False)
    assert relevant(Change.modified, str(tmp_path / "queue.d" / "team-a.yaml"))
    assert not relevant(Change.modified, str(tmp_path / "queue.d" / "team-a.yaml.swp"))
    assert not relevant(Change.modified, str(tmp_path / "queue.db"))
    # `**/` matches no directory too, as glob does; a base not there yet: its parent, deep.
    directory, recursive, relevant = pattern_filter(tmp_path / "teams" / "**" / "*.yaml")
    assert (directory, recursive) == (tmp_path, True)
    assert relevant(Change.added, str(tmp_path / "teams" / "top.yaml"))
    assert relevant(Change.added, str(tmp_path / "teams" / "eu" / "fr.yaml"))
    assert not relevant(Change.added, str(tmp_path / "other" / "fr.yaml"))


async def test_another_daemons_partial_apply_is_seen_by_this_ones_cache(
    team_project: Project,
) -> None:
    config = use_pattern(team_project)
    write(team_project, "team-a.yaml", GOOD_A)
    write(team_project, "team-b.yaml", GOOD_B)
    mine, other = SyncCache(), SyncCache()  # two daemons on one store
    store = await Store.open(team_project.database)
    try:
        await sync_queue(config, store, NOW, cache=mine)
        # The other daemon applies A's edit while B is broken.
        write(team_project, "team-a.yaml", GOOD_A.replace("Team A launches", "Edited"))
        write(team_project, "team-b.yaml", BROKEN_B)
        report = await sync_queue(config, store, NOW + timedelta(minutes=1), cache=other)
        assert report.kept_files == ["team-b.yaml"] and report.updated == 1
        # Back to the files this daemon applied last: its memory is not the store's plan.
        write(team_project, "team-a.yaml", GOOD_A)
        write(team_project, "team-b.yaml", GOOD_B)
        report = await sync_queue(config, store, NOW + timedelta(minutes=2), cache=mine)
        assert not mine.incremental and report.updated == 1
        [d] = await store.find("team-a.yaml:launch")
        assert "Team A launches" in d.content_json
    finally:
        await store.close()


def test_health_says_a_queue_file_was_left_out() -> None:
    health = Health(FakeClock(NOW))
    health.on_pass(NOW, None)
    partial = SyncReport(applied=True, added=1, kept_files=["team-b.yaml"])
    partial.errors = [Diagnostic("queue.d/team-b.yaml", 3, 9, "at", "not a time")]
    health.on_sync(partial, NOW)
    code, body = health.verdict()
    assert code == 503
    assert body["problems"] == [
        "the last queue load left a queue file out: queue applied: 1 added, 0 updated, "
        "0 canceled, 0 unchanged; not applied, 1 error(s) in team-b.yaml: their last good "
        "plan stays"
    ]
    health.on_sync(SyncReport(applied=True), NOW)
    assert health.verdict()[0] == 200
