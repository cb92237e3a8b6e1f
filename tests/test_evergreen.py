"""evergreen: which post fills which free slot, from ``now`` and the ledger (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.diagnostics import InvalidFileError
from publisher.rules import Expansion, expand
from publisher.states import CANCELED_BY_SYNC, DeliveryState
from publisher.store.plan import PlanEntry
from tests.conftest import Project
from tests.test_schedule import PARIS, account, make_config, queue

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 08:00 in Paris, a Tuesday

GREENS = """
    posts:
      - id: green-a
        evergreen: true
        accounts: [alpha]
        text: A
      - id: green-b
        evergreen: true
        accounts: [alpha]
        text: B
      - id: green-c
        evergreen: true
        accounts: [alpha]
        text: C
    """


def config(tmp_path: Path, **policy: object) -> Config:
    return make_config(tmp_path, PARIS, account("alpha", "daily 09:00", "daily 18:00", **policy))


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).astimezone(UTC)


def published(pid: str, when: str, state: DeliveryState = DeliveryState.PUBLISHED) -> PlanEntry:
    t = paris(when)
    done = t if state is DeliveryState.PUBLISHED else None
    return PlanEntry(0, pid, "alpha", state, t, t, None, False, "h", None, None, done)


def index(*entries: PlanEntry) -> dict[tuple[str, str], PlanEntry]:
    return {(e.post_id, e.account): e for e in entries}


def chosen(e: Expansion) -> list[tuple[str, str]]:
    return [(p.id, p.at.astimezone(PARIS).strftime("%m-%d %H:%M")) for p in e.queue.posts if p.at]


def test_never_published_first_in_file_order(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    e = expand(queue(cfg, GREENS), cfg, NOW, {}, {})
    assert chosen(e) == [("green-a~2026-12-01T0900", "12-01 09:00")]
    [c] = e.choices
    assert c.reason(cfg) == (
        "evergreen 'green-a' → alpha at 2026-12-01 09:00 (+01:00): the slot was free; this post "
        "was never published there yet"
    )
    assert e.replan_at == paris("2026-12-01 09:01")  # plan the next one once this one is due


def test_least_recently_published_first_and_the_reason_says_when(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    led = index(
        published("green-a~2026-10-01T0900", "2026-10-01 09:00"),
        published("green-b~2026-09-01T0900", "2026-09-01 09:00"),
        published("green-c~2026-10-15T1800", "2026-10-15 18:00"),
        published("green-b~2026-08-01T0900", "2026-08-01 09:00"),
    )
    e = expand(queue(cfg, GREENS), cfg, NOW, led, {})
    assert chosen(e) == [("green-b~2026-12-01T0900", "12-01 09:00")]
    assert "least recently published (2026-09-01 09:00 (+02:00))" in e.choices[0].reason(cfg)


def test_never_again_within_the_gap(tmp_path: Path) -> None:
    cfg = config(tmp_path, evergreen_gap=timedelta(days=30))
    recent = index(
        published("green-a~2026-11-20T0900", "2026-11-20 09:00"),
        published("green-b~2026-11-25T0900", "2026-11-25 09:00"),
        published("green-c~2026-11-30T1800", "2026-11-30 18:00"),
    )
    e = expand(queue(cfg, GREENS), cfg, NOW, recent, {})
    assert chosen(e) == [] and e.choices == []  # all within 30 days, in the 14 days looked at
    # green-a's 30 days are over on 20 December at 09:00: it goes then, when that is near.
    later = expand(queue(cfg, GREENS), cfg, paris("2026-12-19 20:00"), recent, {})
    assert chosen(later) == [("green-a~2026-12-20T0900", "12-20 09:00")]


def test_a_gap_shorter_than_a_day_lets_the_order_rotate(tmp_path: Path) -> None:
    cfg = config(tmp_path, evergreen_gap=timedelta(hours=1))
    led = index(published("green-a~2026-11-30T1800", "2026-11-30 18:00"))
    e = expand(queue(cfg, GREENS), cfg, NOW, led, {})
    assert chosen(e) == [("green-b~2026-12-01T0900", "12-01 09:00")]


def test_a_planned_post_takes_the_slot_first(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    text = (
        GREENS.rstrip(" ")
        + """\
      - id: news
        accounts: [alpha]
        text: Not evergreen, takes the next free slot
    """
    )
    e = expand(queue(cfg, text), cfg, NOW, {}, {})
    # news has the 09:00 slot; the evergreen post the next one nothing else takes.
    assert chosen(e) == [("green-a~2026-12-01T1800", "12-01 18:00")]
    timed = (
        GREENS.rstrip(" ")
        + """\
      - id: timed
        at: 2026-12-01 18:00
        accounts: [alpha]
        text: Timed
    """
    )
    e = expand(queue(cfg, timed), cfg, paris("2026-12-01 10:00"), {}, {})
    assert chosen(e) == [("timed", "12-01 18:00"), ("green-a~2026-12-02T0900", "12-02 09:00")]


def test_within_the_accounts_caps(tmp_path: Path) -> None:
    timed = (
        GREENS.rstrip(" ")
        + """\
      - id: timed
        at: 2026-12-01 12:00
        accounts: [alpha]
        text: Timed
    """
    )
    per_day = config(tmp_path, max_per_day=1)
    e = expand(queue(per_day, timed), per_day, NOW, {}, {})
    assert chosen(e)[-1] == ("green-a~2026-12-02T0900", "12-02 09:00")  # one a day: taken
    # What went out counts too: one published today at 07:30 fills the day.
    led = index(published("earlier", "2026-12-01 07:30"))
    e = expand(queue(per_day, GREENS), per_day, NOW, led, {})
    assert chosen(e) == [("green-a~2026-12-02T0900", "12-02 09:00")]
    spaced = config(tmp_path, min_interval=timedelta(hours=4))
    e = expand(queue(spaced, timed), spaced, NOW, {}, {})
    # 09:00 is 3 hours before the 12:00 post: the 18:00 slot is the first far enough.
    assert chosen(e)[-1] == ("green-a~2026-12-01T1800", "12-01 18:00")


def test_one_on_its_way_is_kept_and_no_other_is_chosen_meanwhile(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    sending = published("green-a~2026-12-01T0900", "2026-12-01 09:00", DeliveryState.SENDING)
    # A sync just after 09:00, with green-a still out: kept as it is, counted as green-a's
    # latest, and the next slot goes to green-b.
    e = expand(queue(cfg, GREENS), cfg, paris("2026-12-01 09:00:30"), index(sending), {})
    assert chosen(e) == [
        ("green-a~2026-12-01T0900", "12-01 09:00"),
        ("green-b~2026-12-01T1800", "12-01 18:00"),
    ]
    assert [c.post_id for c in e.choices] == ["green-b"]  # the kept one is no new choice
    # Claimed ahead of its time (sending before 09:00): nothing else is chosen until it is out.
    e = expand(queue(cfg, GREENS), cfg, paris("2026-12-01 08:59"), index(sending), {})
    assert chosen(e) == [("green-a~2026-12-01T0900", "12-01 09:00")] and e.choices == []


def test_a_choice_already_stored_is_not_announced_again(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    first = expand(queue(cfg, GREENS), cfg, NOW, {}, {})
    stored = published("green-a~2026-12-01T0900", "2026-12-01 09:00", DeliveryState.SCHEDULED)
    again = expand(queue(cfg, GREENS), cfg, NOW + timedelta(minutes=5), index(stored), {})
    assert chosen(again) == chosen(first) and again.choices == []


def test_accounts_choosing_the_same_post_and_slot_share_one_dated_post(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path, PARIS, account("alpha", "daily 09:00"), account("beta", "daily 09:00")
    )
    q = queue(
        cfg,
        """
        posts:
          - id: green
            evergreen: true
            accounts: [beta, alpha]
            text: Both
        """,
    )
    e = expand(q, cfg, NOW, {}, {})
    [p] = e.queue.posts
    assert (p.id, p.accounts) == ("green~2026-12-01T0900", ("beta", "alpha"))
    assert sorted(c.account for c in e.choices) == ["alpha", "beta"]


def test_a_published_post_of_the_plan_counts_once_against_max_per_day(tmp_path: Path) -> None:
    cfg = config(tmp_path, max_per_day=2)
    text = (
        GREENS.rstrip(" ")
        + "      - {id: early, at: 2026-12-01 07:30, accounts: [alpha], text: E}\n"
    )
    led = index(published("early", "2026-12-01 07:30"))
    e = expand(queue(cfg, text), cfg, paris("2026-12-01 08:00"), led, {})
    # early (planned, and out) and the evergreen post at 09:00: two that day.
    assert chosen(e)[-1] == ("green-a~2026-12-01T0900", "12-01 09:00")


def test_a_slot_whose_evergreen_delivery_a_human_dropped_is_not_filled_again(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path)
    t = paris("2026-12-01 09:00")
    by_hand = PlanEntry(
        0,
        "green-a~2026-12-01T0900",
        "alpha",
        DeliveryState.CANCELED,
        t,
        t,
        None,
        False,
        "h",
        None,
        "dropped by hand",
    )
    e = expand(queue(cfg, GREENS), cfg, NOW, index(by_hand), {})
    assert chosen(e) == [("green-a~2026-12-01T1800", "12-01 18:00")]
    by_sync = replace(by_hand, reason=CANCELED_BY_SYNC)  # moved by a post, which left since
    e = expand(queue(cfg, GREENS), cfg, NOW, index(by_sync), {})
    assert chosen(e) == [("green-a~2026-12-01T0900", "12-01 09:00")]


def test_not_after_ends_an_evergreen_post(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    text = """
        posts:
          - id: seasonal
            evergreen: true
            not_after: 2026-12-01 12:00
            accounts: [alpha]
            text: Until noon
          - id: always
            evergreen: true
            accounts: [alpha]
            text: Always
        """
    e = expand(queue(cfg, text), cfg, NOW, {}, {})
    [p] = e.queue.posts
    assert (p.id, p.not_after) == ("seasonal~2026-12-01T0900", paris("2026-12-01 12:00"))
    later = expand(queue(cfg, text), cfg, paris("2026-12-01 10:00"), {}, {})
    assert chosen(later) == [("always~2026-12-01T1800", "12-01 18:00")]


def test_evergreen_gap_in_the_config(project: Project) -> None:
    project.accounts["alpha"].update(slots=["daily 09:00"], evergreen_gap="12h")
    project.write_config()
    config = project.config()
    assert config.accounts["alpha"].evergreen_gap == timedelta(hours=12)
    assert config.accounts["beta"].evergreen_gap == timedelta(days=30)  # the default
    project.accounts["alpha"]["evergreen_gap"] = "often"
    project.write_config()
    with pytest.raises(InvalidFileError) as err:
        project.config()
    [d] = [d for d in err.value.errors if "evergreen_gap" in d.field]
    assert d.file.endswith("publisher.toml") and d.line > 1 and "not a duration" in d.message
