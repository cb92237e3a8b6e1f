"""``publisher audit``'s inbox section (issue 20 item 6): per account and local ISO week, items
received, answered, share answered, median time to answer, beside posting frequency.

Every test seeds a real store through its own API, as the listener and the engine do: items
are heard (``Store.hear``, at a chosen ``now``: their ``received_at``), answers are linked
(``plan_answer``), published (a delivery in the ledger) and settled (``settle_answers``),
and people's decisions are recorded (``set_item_state``).
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from publisher.audit import AccountTarget, By, Scope, audit
from publisher.cli import main
from publisher.inbox_report import InboxReport, InboxRow, inbox_report, outcome, report_json
from publisher.store import Store
from publisher.store.inbox import INBOX, InboxItem, ItemState, NewItem, watch_stream
from tests.test_audit import PARIS, Ledger, at, audit_schema

SINCE, UNTIL = at("2026-10-12 00:00"), at("2026-11-09 00:00")  # ISO weeks 42 to 45 (Paris)
NOW = at("2026-11-20 12:00")
M = timedelta(minutes=1)
H = timedelta(hours=1)


@dataclass
class Said:
    """One item to seed: heard at ``received``, then answered, ignored or handled."""

    account: str
    received: datetime
    answered: datetime | None = None  # our reply's publication
    state: ItemState | None = None  # a person's decision
    stream: str = INBOX
    network: str = "log"


@dataclass
class Inbox:
    said: list[Said] = field(default_factory=list)

    def add(self, account: str, received: datetime, **kw: Any) -> Said:
        s = Said(account, received, **kw)
        self.said.append(s)
        return s

    async def write(self, url: str, ledger: Ledger | None = None) -> list[int]:
        """The items' ids, in the order added. Answers are deliveries of ``ledger`` (written
        first, with any other posts it holds)."""
        ledger = ledger or Ledger()
        answers = {
            n: ledger.publish(s.account, s.answered, network=s.network)
            for n, s in enumerate(self.said)
            if s.answered is not None
        }
        await ledger.write(url)
        posts = {d["id"]: d["post_id"] for d in ledger.deliveries}
        store = await Store.open(url)
        try:
            ids = []
            for n, s in enumerate(self.said):
                item = NewItem(
                    f"r{n}", "mention", "@someone", f"item {n}", f"https://log.example/i/{n}",
                    s.received - 5 * M,
                )
                [item_id] = await store.hear(
                    s.account, s.network, s.stream, [item], f"c{n}", s.received
                )
                ids.append(item_id)
                if n in answers:
                    await store.plan_answer(item_id, posts[answers[n]], s.account)
                if s.state is not None:
                    await store.set_item_state(item_id, s.state, s.received + H)
            settled = await store.settle_answers(NOW)
            assert sorted(settled) == sorted(ids[n] for n in answers)
        finally:
            await store.close()
        return ids


def known_inbox() -> Inbox:
    """Account a listens, over ISO weeks 42-45 of 2026 in Paris; week 43 ends with the change
    back to winter time (2026-10-25 03:00 CEST → 02:00 CET: 169 hours).

    a, week 42: five items: answered after 30 min, 2 h, and 26 h (the last one received on
      Sunday, answered on Tuesday of week 43), one ignored, one still open.
    a, week 43: answered after 45 min across the clock change (02:30 CEST → 02:15 CET), and
      after 20 min at 23:30 CET on Sunday the 25th (22:30Z: still week 43 locally); one
      handled by hand (no reply of ours).
    a, week 44: one received at 00:30 on Monday the 26th (23:30Z on Sunday), open; one
      ignored; one found by a watch (counted apart).
    a, week 45: nothing.
    b does not listen and received one item in week 45; c listens and received nothing;
    d neither listens nor received anything (not shown); e received one item before the
    window only (not shown).
    """
    box = Inbox()
    box.add("a", at("2026-10-12 10:00"), answered=at("2026-10-12 10:30"))
    box.add("a", at("2026-10-13 09:00"), answered=at("2026-10-13 11:00"))
    box.add("a", at("2026-10-14 12:00"), state=ItemState.IGNORED)
    box.add("a", at("2026-10-15 12:00"))
    box.add("a", at("2026-10-18 23:00"), answered=at("2026-10-20 01:00"))
    box.add("a", at("2026-10-25T02:30:00+02:00"), answered=at("2026-10-25T02:15:00+01:00"))
    box.add("a", at("2026-10-25T23:30:00+01:00"), answered=at("2026-10-25T23:50:00+01:00"))
    box.add("a", at("2026-10-20 08:00"), state=ItemState.HANDLED)
    box.add("a", at("2026-10-26T00:30:00+01:00"))
    box.add("a", at("2026-10-28 09:00"), state=ItemState.IGNORED)
    box.add("a", at("2026-10-29 09:00"), stream=watch_stream("brand"))
    # Outside the window: [since, until) by received_at.
    box.add("a", at("2026-10-11 23:59"))
    box.add("a", at("2026-11-09 00:00"), answered=at("2026-11-09 00:10"))
    box.add("b", at("2026-11-04 15:00"))
    box.add("e", at("2026-10-01 10:00"))
    return box


TARGETS = {
    name: AccountTarget(name, "log", 3) for name in ("a", "b", "c", "d")
}
LISTENING = ("a", "c")


async def report_from(
    url: str,
    *,
    listening: tuple[str, ...] = LISTENING,
    by: By = By.WEEK,
    now: datetime = NOW,
    **kw: Any,
) -> InboxReport:
    store = await Store.open(url)
    try:
        deliveries = await store.all_deliveries()
        attempts = await store.attempts()
        items = await store.inbox_items(since=SINCE, until=UNTIL)
    finally:
        await store.close()
    posting = audit(
        deliveries, attempts, TARGETS, since=SINCE, until=UNTIL, zone=PARIS, now=now, by=by, **kw
    )
    return inbox_report(posting, items, listening, **kw)


def row(rep: InboxReport, account: str, period: str) -> InboxRow:
    [r] = [r for r in (*rep.rows, *rep.totals) if r.account == account and r.period == period]
    return r


def figures(r: InboxRow) -> tuple[Any, ...]:
    return (r.received, r.answered, r.handled, r.ignored, r.open, r.share_answered,
            r.median_answer, r.watched, r.published)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'queue.db'}"


# ----------------------------------------------------------------------------- the figures


async def test_exact_weekly_figures_across_the_dst_change(db_url: str) -> None:
    await known_inbox().write(db_url)
    rep = await report_from(db_url)
    assert rep.accounts == ("a", "b", "c")  # d: no listening, no item; e: none in the window
    # received, answered, by hand, ignored, open, share, median, watched, posts (our answers)
    assert figures(row(rep, "a", "2026-W42")) == (5, 3, 0, 1, 1, 0.75, 2 * H, 0, 2)
    # 45 min across the clock change (the wall clock says -15 min), and 20 min: the median
    # of two by nearest rank is the lower one.
    assert figures(row(rep, "a", "2026-W43")) == (3, 2, 1, 0, 0, 2 / 3, 20 * M, 0, 3)
    assert figures(row(rep, "a", "2026-W44")) == (2, 0, 0, 1, 1, 0.0, None, 1, 0)
    assert figures(row(rep, "a", "2026-W45")) == (0, 0, 0, 0, 0, None, None, 0, 0)
    w43 = row(rep, "a", "2026-W43")
    assert w43.answer_times == (20 * M, 45 * M)
    assert w43.end - w43.start == 169 * H
    # The item answered the next week counts in the week it was received, with its 26 hours.
    assert row(rep, "a", "2026-W42").answer_times == (30 * M, 2 * H, 26 * H)
    # The window's totals: 10 said to a, 5 answered of 8 not ignored; median of 5 times.
    assert figures(row(rep, "a", "total")) == (10, 5, 1, 2, 2, 5 / 8, 45 * M, 1, 5)
    assert figures(row(rep, "b", "2026-W45")) == (1, 0, 0, 0, 1, 0.0, None, 0, 0)
    assert figures(row(rep, "c", "total")) == (0, 0, 0, 0, 0, None, None, 0, 0)
    assert [r.listens for r in rep.totals] == [True, False, True, True]
    everything = rep.totals[-1]
    assert (everything.scope, everything.account, everything.network) == (Scope.ALL, "*", "*")
    assert figures(everything) == (11, 5, 1, 2, 3, 5 / 9, 45 * M, 1, 5)
    assert [(r.account, r.period) for r in rep.rows][:4] == [
        ("a", "2026-W42"), ("a", "2026-W43"), ("a", "2026-W44"), ("a", "2026-W45")]
    assert len(rep.rows) == 3 * 4


async def test_periods_are_those_of_the_posting_audit(db: str) -> None:
    """By day, the Sunday of the clock change lasts 25 hours and holds both of its items;
    the Monday 00:30 item is Monday's, though UTC still says Sunday."""
    await known_inbox().write(db)
    rep = await report_from(db, by=By.DAY)
    sunday = row(rep, "a", "2026-10-25")
    assert sunday.end - sunday.start == 25 * H
    assert figures(sunday) == (2, 2, 0, 0, 0, 1.0, 20 * M, 0, 2)
    assert figures(row(rep, "a", "2026-10-26")) == (1, 0, 0, 0, 1, 0.0, None, 0, 0)


async def test_no_items_and_no_listening_account(db: str) -> None:
    await Inbox().write(db)
    rep = await report_from(db, listening=())
    assert rep.accounts == () and rep.rows == () and rep.totals == () and rep.networks == ()
    assert report_json(rep) == {"accounts": [], "rows": [], "totals": []}
    # A listening account with nothing received: zeros, no share, no median.
    rep = await report_from(db, listening=("c",))
    assert rep.accounts == ("c",)
    assert all(figures(r) == (0, 0, 0, 0, 0, None, None, 0, 0) for r in rep.rows)
    assert [n.share for n in rep.networks] == [(None, None, None, None)]


async def test_filters_and_accounts_only_the_inbox_knows(db: str) -> None:
    box = known_inbox()
    box.add("gone", at("2026-10-13 10:00"), network="other")  # no config, no posts
    await box.write(db)
    rep = await report_from(db)
    assert rep.accounts == ("a", "b", "c", "gone")
    gone = row(rep, "gone", "total")
    assert gone.network == "other" and not gone.listens
    assert (gone.received, gone.published) == (1, 0)  # it never posted: 0, not unknown
    assert row(rep, "gone", "2026-W42").published == 0
    assert (await report_from(db, accounts=["b"])).accounts == ("b",)
    assert (await report_from(db, networks=["other"])).accounts == ("gone",)
    assert (await report_from(db, networks=["log"])).accounts == ("a", "b", "c")


async def test_share_per_network(db: str) -> None:
    await known_inbox().write(db)
    rep = await report_from(db)
    [log] = rep.networks
    assert log.network == "log"
    # W42: a 3 of 4; W43: a 2 of 3; W44: a 0 of 1; W45: b 0 of 1 (c received nothing).
    assert log.share == (0.75, 2 / 3, 0.0, 0.0)


def test_each_item_is_in_one_bucket() -> None:
    def item(state: ItemState, answered: datetime | None) -> InboxItem:
        return InboxItem(1, "log", "r", "a", None, "mention", "@x", "", "t", "", NOW, NOW,
                         None, None, {}, state, None, None, None, answered, None)

    assert outcome(item(ItemState.NEW, None)) == "open"
    assert outcome(item(ItemState.HANDLED, None)) == "handled"
    assert outcome(item(ItemState.IGNORED, None)) == "ignored"
    # Answered wins over any later decision: reopened or ignored after our reply, still ours.
    assert outcome(item(ItemState.NEW, NOW)) == "answered"
    assert outcome(item(ItemState.IGNORED, NOW)) == "answered"


# ------------------------------------------------------------------------------ JSON, CLI


async def test_json_rows_match_the_schema(db: str) -> None:
    await known_inbox().write(db)
    rep = await report_from(db)
    from publisher.audit import report_json as posting_json

    doc = posting_json(rep.posting)
    doc["inbox"] = report_json(rep)
    doc = json.loads(json.dumps(doc))
    jsonschema.validate(doc, audit_schema())
    w43 = next(r for r in doc["inbox"]["rows"] if r["account"] == "a" and r["period"] == "2026-W43")
    assert w43 == {
        "scope": "account", "account": "a", "network": "log", "period": "2026-W43",
        "start": "2026-10-19T00:00:00+02:00", "end": "2026-10-26T00:00:00+01:00",
        "complete": True, "listens": True, "published": 3, "received": 3, "answered": 2,
        "handled": 1, "ignored": 0, "open": 0, "share_answered": 0.667,
        "median_answer_s": 1200, "watched": 0,
    }
    w45 = next(r for r in doc["inbox"]["rows"] if r["account"] == "a" and r["period"] == "2026-W45")
    assert (w45["share_answered"], w45["median_answer_s"]) == (None, None)
    assert doc["inbox"]["totals"][0]["start"] == "2026-10-12T00:00:00+02:00"
    assert doc["inbox"]["totals"][0]["end"] == "2026-11-09T00:00:00+01:00"
    assert [(t["scope"], t["account"]) for t in doc["inbox"]["totals"]] == [
        ("account", "a"), ("account", "b"), ("account", "c"), ("all", "*")]
    doc["inbox"]["rows"][0]["extra"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, audit_schema())


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "publisher.toml"
    cfg.write_text(
        f'database = "sqlite:///{tmp_path / "queue.db"}"\n'
        'timezone = "Europe/Paris"\n'
        '[accounts.a]\nnetwork = "log"\ntarget_per_week = 3\n'
        '[accounts.d]\nnetwork = "log"\ntarget_per_week = 3\n',
        encoding="utf-8",
    )
    return cfg


WINDOW = ["--since", "2026-10-12", "--until", "2026-11-09"]


def seed(tmp_path: Path, box: Inbox) -> None:
    asyncio.run(box.write(f"sqlite:///{tmp_path / 'queue.db'}"))


def test_cli_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No network of the config listens ("log" cannot): the accounts shown are those that
    received items (a, and b and e that only the inbox knows: e's is outside the window)."""
    cfg = write_config(tmp_path)
    seed(tmp_path, known_inbox())
    assert main(["audit", "--config", str(cfg), *WINDOW, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, audit_schema())
    inbox = doc["inbox"]
    assert inbox["accounts"] == ["a", "b"]
    got = [(r["account"], r["period"], r["received"], r["answered"], r["share_answered"],
            r["median_answer_s"]) for r in inbox["rows"]]
    assert got == [
        ("a", "2026-W42", 5, 3, 0.75, 7200), ("a", "2026-W43", 3, 2, 0.667, 1200),
        ("a", "2026-W44", 2, 0, 0.0, None), ("a", "2026-W45", 0, 0, None, None),
        ("b", "2026-W42", 0, 0, None, None), ("b", "2026-W43", 0, 0, None, None),
        ("b", "2026-W44", 0, 0, None, None), ("b", "2026-W45", 1, 0, 0.0, None),
    ]
    assert all(r["listens"] is False for r in inbox["rows"])

    assert main(["audit", "--config", str(cfg), *WINDOW]) == 0
    out = capsys.readouterr().out
    section = out[out.index("inbox:"):].splitlines()
    assert section[1].split() == [
        "account", "network", "period", "posts", "received", "answered", "share", "median",
        "answer", "by", "hand", "ignored", "open", "watched"]
    w42 = next(line for line in section if line.startswith("a ") and "2026-W42" in line)
    assert w42.split() == ["a", "log", "2026-W42", "2", "5", "3", "75%", "2h00m", "0", "1", "1",
                           "0"]
    w43 = next(line for line in section if line.startswith("a ") and "2026-W43" in line)
    assert w43.split()[6:8] == ["67%", "20m00s"]
    total = next(line for line in section if line.startswith("* "))
    assert total.split()[2:8] == ["total", "5", "11", "5", "56%", "45m00s"]
    # --account narrows the section too; an account only the inbox knows is a known name.
    assert main(["audit", "--config", str(cfg), *WINDOW, "--account", "b",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["inbox"]["accounts"] == ["b"]


def test_cli_without_items_has_no_section(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, Inbox())
    assert main(["audit", "--config", str(cfg), *WINDOW]) == 0
    assert "inbox:" not in capsys.readouterr().out
    assert main(["audit", "--config", str(cfg), *WINDOW, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["inbox"] == {
        "accounts": [], "rows": [], "totals": []}


def test_chart_has_an_inbox_panel(tmp_path: Path) -> None:
    from PIL import Image

    cfg = write_config(tmp_path)
    seed(tmp_path, known_inbox())
    png, svg = tmp_path / "audit.png", tmp_path / "audit.svg"
    assert main(["audit", "--config", str(cfg), *WINDOW, "--chart", str(png)]) == 0
    with Image.open(png) as img:
        assert img.size == (1000, 900)
    assert main(["audit", "--config", str(cfg), *WINDOW, "--engagement", "--chart",
                 str(svg)]) == 0
    root = ET.parse(svg).getroot()
    assert root.get("height") == "936pt"  # 500 + 400 (engagement) + 400 (inbox) px
    text = svg.read_text(encoding="utf-8")
    assert "Inbox items answered" in text


def test_chart_without_inbox_keeps_its_size(tmp_path: Path) -> None:
    from PIL import Image

    cfg = write_config(tmp_path)
    seed(tmp_path, Inbox())
    png = tmp_path / "audit.png"
    assert main(["audit", "--config", str(cfg), *WINDOW, "--chart", str(png)]) == 0
    with Image.open(png) as img:
        assert img.size == (1000, 500)


def schema(name: str) -> dict[str, Any]:
    from importlib.resources import files

    text = files("publisher").joinpath(f"schema/{name}.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_the_two_schemas_describe_one_inbox() -> None:
    """The posting and the engagement documents carry the same section: one definition,
    written twice (each schema stands alone), kept equal here."""
    posting, earned = schema("audit"), schema("engagement")
    assert posting["properties"]["inbox"] == earned["properties"]["inbox"]
    assert posting["$defs"]["inbox_row"] == earned["$defs"]["inbox_row"]
    assert "inbox" not in posting["required"] and "inbox" not in earned["required"]


def test_cli_engagement_json_and_table_carry_the_inbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, known_inbox())
    assert main(["audit", "--config", str(cfg), *WINDOW, "--engagement", "--format",
                 "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, schema("engagement"))
    assert doc["inbox"]["accounts"] == ["a", "b"]
    assert doc["inbox"]["totals"][0]["share_answered"] == 0.625
    assert main(["audit", "--config", str(cfg), *WINDOW, "--engagement"]) == 0
    out = capsys.readouterr().out
    assert "inbox:" in out and "every figure is read at snapshot age" in out
    # CSV stays one table: the posting (or engagement) rows only.
    assert main(["audit", "--config", str(cfg), *WINDOW, "--format", "csv"]) == 0
    assert "received" not in capsys.readouterr().out


async def test_chart_draws_no_empty_inbox_panel(db: str, tmp_path: Path) -> None:
    """A listening account that received nothing is in the table, not in the chart."""
    from PIL import Image

    from publisher.chart import render

    await Inbox().write(db)
    rep = await report_from(db, listening=("c",))
    assert rep.accounts == ("c",)
    png = tmp_path / "quiet.png"
    render(rep.posting, png, None, rep)
    with Image.open(png) as img:
        assert img.size == (1000, 500)
    box = Inbox()
    box.add("c", at("2026-10-20 10:00"), state=ItemState.IGNORED)  # nothing to answer still
    await box.write(f"sqlite:///{tmp_path / 'ignored.db'}")
    rep = await report_from(f"sqlite:///{tmp_path / 'ignored.db'}", listening=("c",))
    render(rep.posting, png, None, rep)
    with Image.open(png) as img:
        assert img.size == (1000, 500)


async def test_the_report_keeps_to_its_window_whatever_it_is_given(db: str) -> None:
    """Handed every item the store holds (not only the window's), the figures are the same:
    an item received at ``until`` exactly, or before ``since``, is outside."""
    await known_inbox().write(db)
    windowed = await report_from(db)
    store = await Store.open(db)
    try:
        everything = await store.inbox_items()
    finally:
        await store.close()
    assert len(everything) == len(known_inbox().said)
    rep = inbox_report(windowed.posting, everything, LISTENING)
    assert rep.accounts == ("a", "b", "c")  # e's only item is before the window
    assert [figures(r) for r in (*rep.rows, *rep.totals)] == [
        figures(r) for r in (*windowed.rows, *windowed.totals)]


async def test_the_window_s_edges_and_unfinished_periods(db: str) -> None:
    """An item received at ``since`` exactly is in the first week, one a microsecond before
    ``until`` in the last, one at ``until`` in none; a period ending at ``now`` is over."""
    box = Inbox()
    box.add("b", SINCE)
    box.add("b", UNTIL - timedelta(microseconds=1))
    box.add("b", UNTIL)
    await box.write(db)
    end_w44 = at("2026-11-02 00:00")
    rep = await report_from(db, listening=(), now=end_w44)
    assert rep.accounts == ("b",)
    assert [r.received for r in rep.rows] == [1, 0, 0, 1]
    assert [r.complete for r in rep.rows] == [True, True, True, False]
    assert row(rep, "b", "total").received == 2
    assert rep.totals[-1].listens is False  # no shown account listens


def test_cli_group_file_keeps_the_inbox_per_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows per queue file above; the inbox, an account's, stays per account below, with
    each account's own posts beside."""
    cfg = write_config(tmp_path)
    seed(tmp_path, known_inbox())
    assert main(["audit", "--config", str(cfg), *WINDOW, "--group", "file",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, audit_schema())
    assert {r["scope"] for r in doc["rows"]} == {"file"}
    inbox = doc["inbox"]
    assert inbox["accounts"] == ["a", "b"]
    assert [(r["period"], r["published"], r["received"]) for r in inbox["rows"][:4]] == [
        ("2026-W42", 2, 5), ("2026-W43", 3, 3), ("2026-W44", 0, 2), ("2026-W45", 0, 0)]


async def test_the_section_needs_an_audit_per_account(db: str) -> None:
    await known_inbox().write(db)
    store = await Store.open(db)
    try:
        deliveries, attempts = await store.all_deliveries(), await store.attempts()
    finally:
        await store.close()
    per_file = audit(deliveries, attempts, TARGETS, since=SINCE, until=UNTIL, zone=PARIS,
                     now=NOW, files="queue.yaml")
    with pytest.raises(ValueError, match="per account"):
        inbox_report(per_file, [], LISTENING)
