"""The planner's boundaries that mutation testing found unpinned (issue 22).

File order among deliveries due at one instant, a re-plan handing back the very objects it
planned before (and new ones for any change), the planner not depending on the machine's own
time zone, the messages of what it refuses, and the edges of ``policy_violations``.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.config import Config
from publisher.diagnostics import Severity
from publisher.schedule import next_slot_times, plan_deliveries, plan_order, policy_violations
from publisher.slots import parse_slot
from tests.test_schedule import account, make_config, queue

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # Monday 08:00 in Paris


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(
        tmp_path,
        PARIS,
        account("alpha", "mon-fri 09:00", "mon-fri 17:30"),
        account("beta", "daily 12:00"),
        account("gamma"),
    )


@pytest.fixture
def far_zone() -> Iterator[None]:
    """The machine's own zone far from both UTC and the configured one (Paris)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"  # UTC+14
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


SAME_INSTANT = """
    posts:
      - {id: p0, at: 2026-12-01 09:00, accounts: [gamma, alpha], text: zero}
      - {id: p1, at: 2026-12-01 09:00, accounts: [beta], text: one}
      - {id: p2, at: 2026-12-01 08:00, accounts: [alpha], text: two}
      - {id: p3, at: 2026-12-01 09:00, accounts: [alpha, beta, gamma], text: three}
"""
# Due time first, then the post's place in the file, then the account's place in the post.
SAME_INSTANT_ORDER = [
    ("p2", "alpha"),
    ("p0", "gamma"),
    ("p0", "alpha"),
    ("p1", "beta"),
    ("p3", "alpha"),
    ("p3", "beta"),
    ("p3", "gamma"),
]


def test_deliveries_due_at_one_instant_keep_file_order(cfg: Config) -> None:
    q = queue(cfg, SAME_INSTANT)
    planned = plan_deliveries(q, cfg, NOW, {})
    assert [(p.post_id, p.account) for p in planned] == SAME_INSTANT_ORDER


def test_plan_order_sorts_as_the_plan_does(cfg: Config) -> None:
    q = queue(cfg, SAME_INSTANT)
    unordered = plan_deliveries(q, cfg, NOW, {}, ordered=False)
    assert [(p.post_id, p.account) for p in unordered] == [
        ("p0", "gamma"),
        ("p0", "alpha"),
        ("p1", "beta"),
        ("p2", "alpha"),
        ("p3", "alpha"),
        ("p3", "beta"),
        ("p3", "gamma"),
    ]
    some = [p for p in reversed(unordered) if p.account != "beta"]
    assert [(p.post_id, p.account) for p in plan_order(q, some)] == [
        k for k in SAME_INSTANT_ORDER if k[1] != "beta"
    ]


def test_kept_slots_are_from_slot_and_in_utc(cfg: Config, far_zone: None) -> None:
    q = queue(cfg, "posts:\n  - {id: a, accounts: [alpha], text: one}\n")
    kept_at = datetime(2026, 12, 1, 17, 30, tzinfo=PARIS)
    [p] = plan_deliveries(q, cfg, NOW, {("a", "alpha"): kept_at})
    assert (p.due_at, p.from_slot) == (kept_at, True)
    assert p.due_at.tzinfo is UTC


def test_slots_do_not_depend_on_the_machines_zone(cfg: Config, far_zone: None) -> None:
    """The configured zone's days, whatever the machine's own zone is."""
    zone = ZoneInfo("Pacific/Pago_Pago")  # UTC-11: a day behind the machine's
    after = datetime(2026, 11, 30, 23, 30, tzinfo=zone)  # Monday evening there
    got = list(itertools.islice(next_slot_times([parse_slot("mon 23:45")], zone, after), 2))
    assert got == [
        datetime(2026, 11, 30, 23, 45, tzinfo=zone),
        datetime(2026, 12, 7, 23, 45, tzinfo=zone),
    ]
    q = queue(cfg, "posts:\n  - {id: a, accounts: [alpha], text: one}\n")
    [p] = plan_deliveries(q, cfg, NOW.astimezone(zone), {})
    assert p.due_at == datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)
    assert p.due_at.tzinfo is UTC


def test_taken_times_compare_as_instants(cfg: Config, far_zone: None) -> None:
    """A kept slot given in another zone still blocks that instant for the next post."""
    q = queue(
        cfg,
        "posts:\n  - {id: a, accounts: [alpha], text: one}\n"
        "  - {id: b, accounts: [alpha], text: two}\n",
    )
    kept = {
        ("a", "alpha"): datetime(2026, 11, 30, 9, 0, tzinfo=PARIS).astimezone(
            ZoneInfo("Asia/Tokyo")
        )
    }
    got = {p.post_id: p.due_at for p in plan_deliveries(q, cfg, NOW, kept)}
    assert got == {
        "a": datetime(2026, 11, 30, 9, 0, tzinfo=PARIS),
        "b": datetime(2026, 11, 30, 17, 30, tzinfo=PARIS),
    }


def test_held_times_take_no_new_slot(cfg: Config, far_zone: None) -> None:
    """Times a kept queue file's deliveries hold (publisher.queueset), in any zone, are
    passed over like taken ones, for their account only."""
    q = queue(
        cfg,
        "posts:\n  - {id: a, accounts: [alpha, beta], text: one}\n",
    )
    nine = datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)
    held = {"alpha": {nine.astimezone(ZoneInfo("Asia/Tokyo"))}}
    got = {p.account: p.due_at for p in plan_deliveries(q, cfg, NOW, {}, held=held)}
    assert got == {
        "alpha": datetime(2026, 11, 30, 17, 30, tzinfo=PARIS),
        "beta": datetime(2026, 11, 30, 12, 0, tzinfo=PARIS),
    }
    assert {p.account: p.due_at for p in plan_deliveries(q, cfg, NOW, {})}["alpha"] == nine


def test_policy_violations_name_each_posts_own_file(cfg: Config, tmp_path: Path) -> None:
    """With a queue pattern, a warning points at the file the post comes from."""
    many = replace(cfg, queue_path=tmp_path / "queue.d" / "*.yaml")
    q = queue(
        many,
        "posts:\n  - {id: 'a', accounts: [alpha], text: one, not_after: 2026-11-30 08:30}\n",
    )
    q = replace(q, posts=tuple(replace(p, id=f"team-a.yaml:{p.id}") for p in q.posts))
    planned = plan_deliveries(q, many, NOW, {})
    [w] = policy_violations(planned, many, q)
    assert (w.file, w.line) == (str(tmp_path / "queue.d" / "team-a.yaml"), 2)
    [w] = policy_violations(planned, cfg, q)  # one file: the queue's own
    assert w.file == str(q.path)


def test_refusals_say_why(cfg: Config) -> None:
    with pytest.raises(ValueError) as err:
        list(next_slot_times([parse_slot("09:00")], PARIS, datetime(2026, 12, 1, 9, 0)))
    assert str(err.value) == "after must be timezone-aware"
    q = queue(cfg, "posts:\n  - {id: a, accounts: [alpha], text: one}\n")
    with pytest.raises(ValueError) as err:
        plan_deliveries(q, cfg, datetime(2026, 12, 1, 9, 0), {})
    assert str(err.value) == "now must be timezone-aware"


def test_a_slot_post_for_an_account_without_slots_is_refused(cfg: Config) -> None:
    """load_queue refuses such a post; the planner says so too if one reaches it."""
    q = queue(cfg, "posts:\n  - {id: a, at: 2026-12-01 09:00, accounts: [gamma], text: one}\n")
    untimed = replace(q, posts=[replace(q.posts[0], at=None)])
    with pytest.raises(ValueError) as err:
        plan_deliveries(untimed, cfg, NOW, {})
    assert str(err.value) == "a: account gamma has no slots (load_queue reports this)"


# --- a re-plan hands back the very objects it planned before


REPLAN = """
    posts:
      - {id: a, accounts: [alpha], text: one}
      - {id: b, at: 2026-12-01 10:00, accounts: [gamma], text: two, not_after: 2026-12-01 11:00}
"""


@pytest.mark.parametrize(
    ("edited", "kept_slot", "same"),
    [
        (REPLAN, True, {"a", "b"}),  # nothing changed: both are the old objects
        (REPLAN.replace("text: one", "text: one!"), True, {"b"}),  # content
        (REPLAN.replace("10:00", "10:05"), True, {"a"}),  # due time
        (REPLAN.replace("11:00", "11:05"), True, {"a"}),  # not_after
        (REPLAN, False, {"b"}),  # a's slot given anew, on another day: due time
        (REPLAN.replace("{id: a, accounts", "{id: a, at: 2026-11-30 09:00, accounts"), True, {"b"}),
    ],
)
def test_replan_keeps_what_did_not_change(
    cfg: Config, edited: str, kept_slot: bool, same: set[str]
) -> None:
    q = queue(cfg, REPLAN)
    first = plan_deliveries(q, cfg, NOW, {})
    previous = {(p.post_id, p.account): p for p in first}
    kept = {k: p.due_at for k, p in previous.items() if p.from_slot} if kept_slot else {}
    later = NOW + timedelta(days=1)
    second = plan_deliveries(queue(cfg, edited), cfg, later, kept, previous)
    reused = {p.post_id for p in second if p is previous[(p.post_id, p.account)]}
    assert reused == same
    for p in second:
        if p.post_id not in same:
            assert p != previous[(p.post_id, p.account)]


def test_replan_with_the_network_changed_builds_anew(cfg: Config, tmp_path: Path) -> None:
    q = queue(cfg, REPLAN)
    previous = {(p.post_id, p.account): p for p in plan_deliveries(q, cfg, NOW, {})}
    moved = {k: v for k, v in previous.items()}
    b = moved[("b", "gamma")]
    moved[("b", "gamma")] = replace(b, network="mastodon")
    second = plan_deliveries(q, cfg, NOW, {}, moved)
    [nb] = [p for p in second if p.post_id == "b"]
    assert nb is not moved[("b", "gamma")] and nb.network == "log" and nb == b


def test_replan_with_from_slot_changed_builds_anew(cfg: Config) -> None:
    q = queue(cfg, REPLAN)
    previous = {(p.post_id, p.account): p for p in plan_deliveries(q, cfg, NOW, {})}
    flipped = {k: replace(v, from_slot=not v.from_slot) for k, v in previous.items()}
    second = plan_deliveries(q, cfg, NOW, {}, flipped)
    assert all(p is not flipped[(p.post_id, p.account)] for p in second)
    assert {(p.post_id, p.account): p for p in second} == previous


# --- policy_violations


def test_a_slot_at_its_not_after_is_not_reported(cfg: Config) -> None:
    q = queue(
        cfg,
        """
        posts:
          - {id: a, accounts: [alpha], text: t, not_after: 2026-11-30 09:00}
          - {id: b, accounts: [alpha], text: t, not_after: 2026-11-30 17:29}
    """,
    )
    planned = plan_deliveries(q, cfg, NOW, {})
    [v] = policy_violations(planned, cfg, q)
    assert (v.file, v.line, v.column, v.field, v.severity) == (
        str(q.path),
        3,
        5,
        "accounts.alpha.slots",
        Severity.WARNING,
    )
    assert v.message == (
        "'b' gets alpha's slot at 2026-11-30 17:30 (+01:00), after its not_after "
        "(2026-11-30 17:29 (+01:00)): it will be missed"
    )


def test_violations_without_the_queue_point_at_the_top_of_the_queue_file(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path, PARIS, account("alpha", max_per_day=1), account("zeta", max_per_day=1)
    )
    q = queue(
        cfg,
        """
        posts:
          - {id: a, at: 2026-12-01 08:00, accounts: [alpha, zeta], text: t}
          - {id: b, at: 2026-12-01 09:00, accounts: [alpha, zeta], text: t}
    """,
    )
    planned = plan_deliveries(q, cfg, NOW, {})
    found = policy_violations(planned, cfg)
    assert [(v.file, v.line, v.column, v.field) for v in found] == [
        (str(cfg.queue_path), 1, 1, "accounts.alpha.max_per_day"),
        (str(cfg.queue_path), 1, 1, "accounts.zeta.max_per_day"),
    ]
    # an account no longer configured is skipped, and the ones after it still checked
    fewer = make_config(tmp_path, PARIS, account("zeta", max_per_day=1))
    assert [v.field for v in policy_violations(planned, fewer)] == ["accounts.zeta.max_per_day"]
