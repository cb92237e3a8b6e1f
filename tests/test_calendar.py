"""``publisher calendar --ics``: the plan as iCalendar, parsed back event by event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from publisher.commands.calendar import Event, events, to_ics
from publisher.schedule import PlannedDelivery
from publisher.states import DeliveryState
from tests.test_audit import Ledger, run_cli, seed

QUEUE = """\
posts:
  - id: spring
    at: 2027-03-28 09:00
    accounts: [a, b]
    text: |-
      Spring is here.
      Second line.
    overrides:
      b:
        text: Spring, for b.
  - id: later
    at: 2027-04-02 18:30
    accounts: [a]
    text: Later post
  - id: slotted
    accounts: [b]
    text: Goes in b's slot
"""


def write(tmp_path: Path, queue: str = QUEUE) -> Path:
    cfg = tmp_path / "publisher.toml"
    cfg.write_text(
        f'database = "sqlite:///{tmp_path / "queue.db"}"\n'
        'timezone = "Europe/Paris"\n'
        '[accounts.a]\nnetwork = "log"\n'
        '[accounts.b]\nnetwork = "log"\nslots = ["mon 10:00"]\n',
        encoding="utf-8",
    )
    (tmp_path / "queue.yaml").write_text(queue, encoding="utf-8")
    return cfg


def parsed(data: bytes) -> dict[str, dict[str, object]]:
    cal = Calendar.from_ical(data)
    assert str(cal["version"]) == "2.0" and str(cal["x-wr-timezone"]) == "Europe/Paris"
    out = {}
    for ev in cal.walk("VEVENT"):
        out[str(ev["uid"])] = {
            "start": ev.decoded("dtstart"),
            "summary": str(ev["summary"]),
            "description": str(ev["description"]),
            "accounts": str(ev["x-publisher-accounts"]),
            "categories": [str(c) for c in ev["categories"].cats],
            "status": str(ev["status"]),
        }
    return out


def test_one_event_per_post_and_time_parsed_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path)
    out = tmp_path / "plan.ics"
    assert run_cli(["calendar", "--ics", "--config", str(cfg), "--output", str(out)]) == 0
    found = parsed(out.read_bytes())
    assert out.stat().st_mode & 0o777 == 0o644
    spring = found["spring/20270328T070000Z@publisher"]  # 09:00 CEST, the day clocks change
    assert spring["start"] == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)
    assert spring["summary"] == "Spring is here."
    assert spring["accounts"] == "a,b" and spring["categories"] == ["log"]
    assert spring["status"] == "CONFIRMED"
    desc = str(spring["description"])
    assert "a (log): scheduled" in desc and "b (log): scheduled" in desc
    assert "— a:\nSpring is here.\nSecond line." in desc and "— b:\nSpring, for b." in desc
    later = found["later/20270402T163000Z@publisher"]
    assert later["start"] == datetime(2027, 4, 2, 16, 30, tzinfo=UTC)
    assert "(slot)" not in str(later["description"])
    (slotted,) = [v for k, v in found.items() if k.startswith("slotted/")]
    start = slotted["start"]
    assert isinstance(start, datetime)
    local = start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (local.weekday(), local.hour, local.minute) == (0, 10, 0)
    assert "Post slotted (slot)" in str(slotted["description"])
    assert len(found) == 3


def test_uids_are_stable_and_filters_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path)
    assert run_cli(["calendar", "--ics", "--config", str(cfg), "--from", "2027-03-01"]) == 0
    first = parsed(capsys.readouterr().out.encode())
    assert run_cli(["calendar", "--ics", "--config", str(cfg), "--from", "2027-03-01"]) == 0
    assert set(parsed(capsys.readouterr().out.encode())) == set(first)

    assert run_cli(["calendar", "--ics", "--config", str(cfg), "--from", "2027-03-28 09:00",
                    "--until", "2027-04-02 18:30"]) == 0
    window = parsed(capsys.readouterr().out.encode())
    assert "spring/20270328T070000Z@publisher" in window  # from is inclusive
    assert "later/20270402T163000Z@publisher" not in window  # until is exclusive

    assert run_cli(["calendar", "--ics", "--config", str(cfg), "--from", "2027-03-01",
                    "--account", "a"]) == 0
    only_a = parsed(capsys.readouterr().out.encode())
    assert sorted(k.split("/")[0] for k in only_a) == ["later", "spring"]
    assert only_a["spring/20270328T070000Z@publisher"]["accounts"] == "a"


def test_states_come_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path)
    led = Ledger()
    due = datetime(2027, 4, 2, 16, 30, tzinfo=UTC)
    led.add("a", DeliveryState.PUBLISHED, due, published=due, post="later")
    seed(tmp_path, led)
    assert run_cli(["calendar", "--ics", "--config", str(cfg), "--from", "2027-04-01"]) == 0
    later = parsed(capsys.readouterr().out.encode())["later/20270402T163000Z@publisher"]
    assert "a (log): published" in str(later["description"])


def test_a_broken_queue_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path, "posts:\n  - id: x\n    at: not a time\n    accounts: [a]\n    text: t\n")
    out = tmp_path / "plan.ics"
    out.write_bytes(b"previous calendar")
    assert run_cli(["calendar", "--ics", "--config", str(cfg), "--output", str(out)]) == 1
    assert "queue.yaml:3:" in capsys.readouterr().err
    assert out.read_bytes() == b"previous calendar"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".plan.ics")] == []


def test_without_ics_it_says_which_format() -> None:
    assert run_cli(["calendar"]) == 2


def _planned(post: str, account: str, at: datetime) -> PlannedDelivery:
    return PlannedDelivery(post, account, "log", at, False, None, "h")


def test_events_group_by_post_and_instant_and_cancelled_ones_say_so() -> None:
    t = datetime(2027, 1, 4, 9, tzinfo=UTC)
    found = events(
        [_planned("p", "b", t), _planned("p", "a", t), _planned("p", "c", t + timedelta(1))],
        {("p", "a"): "x" * 70, ("p", "b"): "x" * 70, ("p", "c"): "other"},
        {("p", "a"): "canceled", ("p", "b"): "skipped"},
    )
    assert [(e.at, [a for a, _, _ in e.accounts]) for e in found] == [
        (t, ["a", "b"]), (t + timedelta(1), ["c"])]
    first: Event = found[0]
    assert first.summary == "x" * 59 + "…"
    assert first.texts == (("a, b", "x" * 70),)
    cal = Calendar.from_ical(to_ics(found, zone="UTC", now=t))
    statuses = [str(ev["status"]) for ev in cal.walk("VEVENT")]
    assert statuses == ["CANCELLED", "CONFIRMED"]
