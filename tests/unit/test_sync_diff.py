"""The sync's pure diff (``diff_plan``) on exact plans (issue 22): the rows it writes for a new
delivery and a post, when a post is written again, what an incremental diff counts without
reading it, and the notice each kept-as-is delivery gets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.config import Config
from publisher.diagnostics import Diagnostic, Severity
from publisher.queuefile import QueueFile
from publisher.schedule import PlannedDelivery, plan_deliveries
from publisher.states import CANCELED_BY_SYNC
from publisher.states import DeliveryState as S
from publisher.store import PlanEntry
from publisher.sync import diff_plan
from tests.test_schedule import account, make_config, queue

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
TEXT = """
    posts:
      - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: one}
      - {id: b, at: 2026-12-01 10:00, accounts: [alpha], text: two, not_after: 2026-12-01 11:00}
      - {id: c, at: 2026-12-01 11:00, accounts: [alpha], text: three}
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path, ZoneInfo("Europe/Paris"), account("alpha"))


def plan(cfg: Config, text: str = TEXT) -> tuple[QueueFile, list[PlannedDelivery]]:
    q = queue(cfg, text)
    return q, plan_deliveries(q, cfg, NOW, {})


def stored(p: PlannedDelivery, state: S = S.SCHEDULED, n: int = 1, **changes: object) -> PlanEntry:
    entry = PlanEntry(
        id=n,
        post_id=p.post_id,
        account=p.account,
        state=state,
        scheduled_at=p.due_at,
        due_at=p.due_at,
        not_after=p.not_after,
        from_slot=p.from_slot,
        content_hash=p.content_hash,
        published_hash=None,
    )
    return replace(entry, **changes)  # type: ignore[arg-type]


def posts_of(q: QueueFile, cfg: Config) -> dict[str, tuple[str, int, datetime | None]]:
    return {p.id: (p.post_hash(cfg.accounts), p.line, None) for p in q.posts}


def test_a_first_sync_inserts_every_delivery_and_post(cfg: Config) -> None:
    q, planned = plan(cfg)
    warned = replace(q, warnings=(Diagnostic(str(q.path), 1, 1, "", "w", Severity.WARNING),))
    changes, report = diff_plan(warned, planned, cfg, {}, {}, NOW)
    assert (report.added, report.updated, report.unchanged, report.canceled) == (3, 0, 0, 0)
    assert report.warnings == list(warned.warnings)
    rows = list(changes.inserts)
    assert [(r["post_id"], r["state"]) for r in rows] == [(p, "scheduled") for p in "abc"]
    assert all(
        (r["attempts"], r["fence"], r["parts"], r["updated_at"]) == (0, 0, "[]", NOW) for r in rows
    )
    posts = list(changes.posts_upsert)
    assert [(r["id"], r["removed_at"], r["created_at"], r["line"]) for r in posts] == [
        ("a", None, NOW, 2),
        ("b", None, NOW, 3),
        ("c", None, NOW, 4),
    ]


@pytest.mark.parametrize(
    ("stored_post", "written"),
    [
        (lambda h, line: (h, line, None), False),  # as stored: not written again
        (lambda h, line: ("other", line, None), True),  # its content changed
        (lambda h, line: (h, line + 1, None), True),  # it moved in the file
        (lambda h, line: (h, line, NOW - timedelta(days=1)), True),  # it is back in the file
    ],
)
def test_a_post_is_written_again_only_when_it_changed(
    cfg: Config, stored_post: object, written: bool
) -> None:
    q, planned = plan(cfg)
    index = {(p.post_id, p.account): stored(p, n=i) for i, p in enumerate(planned)}
    posts = posts_of(q, cfg)
    h, line, _ = posts["b"]
    posts["b"] = stored_post(h, line)  # type: ignore[operator]
    changes, _ = diff_plan(q, planned, cfg, index, posts, NOW)
    rows = list(changes.posts_upsert)
    assert [r["id"] for r in rows] == (["b"] if written else [])
    for r in rows:  # an existing post keeps its created_at
        assert "created_at" not in r and r["removed_at"] is None and r["line"] == line


def test_posts_gone_from_the_file_are_removed_once(cfg: Config) -> None:
    q, planned = plan(cfg)
    posts = posts_of(q, cfg)
    posts["gone"] = ("h", 9, None)
    posts["long-gone"] = ("h", 9, NOW - timedelta(days=3))
    changes, _ = diff_plan(q, planned, cfg, {}, posts, NOW)
    assert changes.posts_removed == ["gone"]


def test_an_incremental_diff_counts_the_posts_it_did_not_read(cfg: Config) -> None:
    q, planned = plan(cfg)
    index = {("c", "alpha"): stored(planned[2], n=3, content_hash="old")}
    changes, report = diff_plan(q, planned, cfg, index, posts_of(q, cfg), NOW, fetched={"c"})
    assert (report.added, report.unchanged, report.updated) == (0, 2, 1)
    assert [u["id"] for u in changes.updates] == [3]


def notices(cfg: Config, entry_of: dict[str, PlanEntry], text: str = TEXT) -> list[str]:
    q, planned = plan(cfg, text)
    index = {(p.post_id, p.account): entry_of[p.post_id] for p in planned if p.post_id in entry_of}
    _, report = diff_plan(q, planned, cfg, index, posts_of(q, cfg), NOW)
    return report.notices


def test_notices_of_deliveries_an_edit_does_not_touch(cfg: Config) -> None:
    _, planned = plan(cfg)
    a, b, c = planned
    assert notices(cfg, {"a": stored(a, S.CANCELED, reason=None)}) == [
        "a → alpha: canceled by hand (no reason recorded); it stays canceled although the "
        "post is in the queue file"
    ]
    assert notices(cfg, {"a": stored(a, S.CANCELED, reason="spam")}) == [
        "a → alpha: canceled by hand (spam); it stays canceled although the post is in the "
        "queue file"
    ]
    # published as the file has it now (its published hash), though stored otherwise
    assert (
        notices(cfg, {"b": stored(b, S.PUBLISHED, content_hash="x", published_hash=b.content_hash)})
        == []
    )
    assert notices(cfg, {"b": stored(b, S.PUBLISHED, content_hash="x", published_hash="y")}) == [
        "b → alpha: already published; the edited text is not sent again"
    ]
    assert notices(cfg, {"c": stored(c, S.CANCELED, reason=CANCELED_BY_SYNC)}) == []


def test_notices_of_deliveries_an_edit_revives(cfg: Config) -> None:
    _, planned = plan(cfg)
    a, b, _ = planned
    assert notices(cfg, {"a": stored(a, S.FAILED, content_hash="old")}) == [
        "a → alpha: failed before; edited, so it is scheduled again"
    ]
    moved = stored(b, S.MISSED, scheduled_at=b.due_at - timedelta(hours=1))
    assert notices(cfg, {"b": moved}) == ["b → alpha: missed before; rescheduled by the edit"]


def test_a_waiting_delivery_follows_the_file(cfg: Config) -> None:
    q, planned = plan(cfg)
    b = planned[1]
    entry = stored(b, S.RETRYING, n=7, not_after=None, reason="deferred: cap")
    changes, _ = diff_plan(q, planned, cfg, {("b", "alpha"): entry}, posts_of(q, cfg), NOW)
    [update] = changes.updates
    assert update["id"] == 7 and update["not_after"] == b.not_after
    assert "reason" not in update  # not moved: the deferral's reason stays
    moved = replace(entry, scheduled_at=b.due_at - timedelta(hours=1))
    changes, _ = diff_plan(q, planned, cfg, {("b", "alpha"): moved}, posts_of(q, cfg), NOW)
    [update] = changes.updates
    assert update["reason"] is None and update["due_at"] == b.due_at


def test_kept_assignments_are_the_slots_given_out_and_not_canceled(cfg: Config) -> None:
    from publisher.sync import kept_assignments

    _, planned = plan(cfg)
    a, b, c = planned
    index = {
        ("a", "alpha"): stored(a, from_slot=True),
        ("b", "alpha"): stored(b, from_slot=False),
        ("c", "alpha"): stored(c, S.CANCELED, from_slot=True),
    }
    assert kept_assignments(index) == {("a", "alpha"): a.due_at}


def test_an_unchanged_plan_is_counted_and_applied(cfg: Config) -> None:
    q, planned = plan(cfg)
    index = {(p.post_id, p.account): stored(p, n=i) for i, p in enumerate(planned)}
    changes, report = diff_plan(q, planned, cfg, index, posts_of(q, cfg), NOW)
    assert report.applied is True
    assert (report.unchanged, report.updated, report.added) == (3, 0, 0)
    assert not changes


def test_states_an_edit_leaves_alone_write_nothing(cfg: Config) -> None:
    _, planned = plan(cfg)
    a, b, _ = planned
    # in flight and unedited: no notice; failed and unedited: settled, no revival
    assert notices(cfg, {"a": stored(a, S.SENDING), "b": stored(b, S.FAILED)}) == []
    q, planned = plan(cfg)
    index = {("a", "alpha"): stored(a, S.SENDING), ("b", "alpha"): stored(b, S.FAILED)}
    changes, _ = diff_plan(q, planned, cfg, index, posts_of(q, cfg), NOW)
    assert changes.updates == []


def test_a_revived_delivery_starts_its_attempts_afresh(cfg: Config) -> None:
    q, planned = plan(cfg)
    entry = stored(planned[0], S.FAILED, n=4, content_hash="old")
    changes, _ = diff_plan(q, planned, cfg, {("a", "alpha"): entry}, posts_of(q, cfg), NOW)
    [update] = changes.updates
    assert (update["id"], update["state"], update["attempts"]) == (4, "scheduled", 0)


def test_a_delivery_that_now_takes_a_slot_says_so(cfg: Config) -> None:
    q, planned = plan(cfg)
    entry = stored(planned[0], n=5, from_slot=True)
    changes, _ = diff_plan(q, planned, cfg, {("a", "alpha"): entry}, posts_of(q, cfg), NOW)
    [update] = changes.updates
    assert update["from_slot"] is False
