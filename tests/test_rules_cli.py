"""validate, dry-run and status show the next occurrences of repeats and evergreen posts."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from publisher.store import Store
from tests.conftest import Project
from tests.test_cli import cli

PARIS = ZoneInfo("Europe/Paris")


def rules_queue(project: Project) -> list[str]:
    """A daily repeat from tomorrow 09:00 (Paris), and an evergreen post; the occurrences'
    ids."""
    project.accounts["alpha"]["slots"] = ["daily 12:00"]
    project.write_config()
    first = (datetime.now(PARIS) + timedelta(days=1)).date()
    project.write_queue(f"""\
        posts:
          - id: tips
            at: {first} 09:00
            accounts: [beta]
            text: A tip
            repeat: {{every: day, count: 3}}
          - id: green
            evergreen: true
            accounts: [alpha]
            text: Evergreen
        """)
    return [f"tips@{first + timedelta(days=i)}" for i in range(3)]


async def test_validate_shows_the_next_occurrences_and_the_evergreen_choice(
    project: Project,
) -> None:
    ids = rules_queue(project)
    code, out, err = await cli("validate", "--config", str(project.config_path))
    assert code == 0, err
    lines = out.splitlines()
    for pid in ids:
        [line] = [x for x in lines if f" {pid} → beta (repeat)" in x]
        assert "09:00" in line
    assert any("green~" in x and "(evergreen)" in x for x in lines), out
    assert any("the slot was free; this post was never published there yet" in x for x in lines)
    code, out, err = await cli("validate", "--format", "json", "--config", str(project.config_path))
    doc = json.loads(out)
    repeats = [n for n in doc["next"] if n["rule"] == "repeat"]
    assert [n["post"] for n in repeats] == ids
    assert all(n["at"][11:16] == "09:00" and n["account"] == "beta" for n in repeats)
    [green] = [n for n in doc["next"] if n["rule"] == "evergreen"]
    assert green["post"].startswith("green~") and green["at"][11:16] == "12:00"
    assert len(doc["evergreen"]) == 1


async def test_dry_run_and_status_show_each_occurrence(project: Project) -> None:
    ids = rules_queue(project)
    code, out, err = await cli("dry-run", "--json", "--config", str(project.config_path))
    assert code == 0, err
    got = {d["post"]: d for d in json.loads(out)["deliveries"]}
    for pid in ids:
        assert got[pid]["due_local"][11:16] == "09:00" and got[pid]["parts"][0]["text"] == "A tip"
    assert any(p.startswith("green~") for p in got)
    code, _, err = await cli("run", "--once", "--config", str(project.config_path))
    assert code == 0, err
    code, out, _ = await cli("status", "--json", "--config", str(project.config_path))
    nxt = [n["post"] for n in json.loads(out)["next"]]
    assert [p for p in nxt if p.startswith("tips@")] == ids
    assert sum(1 for p in nxt if p.startswith("green~")) == 1
    # Run again: the same plan, nothing added twice.
    code, _, err = await cli("run", "--once", "--config", str(project.config_path))
    assert code == 0, err
    code, out, _ = await cli("status", "--json", "--config", str(project.config_path))
    assert [n["post"] for n in json.loads(out)["next"]] == nxt


async def test_validate_counts_the_posts_written(project: Project) -> None:
    ids = rules_queue(project)
    code, out, _ = await cli("validate", "--format", "json", "--config", str(project.config_path))
    assert code == 0
    counts = json.loads(out)["counts"]
    # 2 posts written; 3 occurrences and 1 evergreen slot planned.
    assert (counts["posts"], counts["deliveries"]) == (2, len(ids) + 1)
    code, out, _ = await cli("validate", "--config", str(project.config_path))
    assert code == 0 and "valid — 2 posts, 4 deliveries" in out


async def test_a_problem_of_every_occurrence_is_said_once(project: Project) -> None:
    project.accounts = {
        "bird": {
            "network": "x",
            "api_key": "${NO_KEY}",
            "api_secret": "${NO_SECRET}",
            "access_token": "${NO_TOKEN}",
            "access_secret": "${NO_TOKEN_SECRET}",
        }
    }
    project.write_config()
    first = (datetime.now(PARIS) + timedelta(days=1)).date()
    project.write_queue(f"""\
        posts:
          - id: long
            at: {first} 09:00
            accounts: [bird]
            thread: false
            text: {"mot " * 92}fin
            repeat: {{every: day, count: 4}}
        """)
    code, _, err = await cli("validate", "--config", str(project.config_path))
    assert code == 1
    [line] = [x for x in err.splitlines() if "the limit is 280" in x]
    assert line.startswith(f"{project.queue_path}:6:")
    assert err.splitlines()[-1] == "1 error(s): 4 of 4 deliveries cannot be published as written"
    # A rule far ahead is checked too: its next occurrence is planned whatever the horizon.
    project.write_queue(project.queue_path.read_text().replace(str(first), "2099-12-01"))
    code, _, err = await cli("validate", "--config", str(project.config_path))
    assert code == 1 and "1 of 1 deliveries cannot be published" in err


async def test_run_once_processes_publish_an_occurrence_once(project: Project) -> None:
    """The real daemon, three `run --once` processes on one SQLite store: before the first
    occurrence, at it, and after; it goes out once, and the next one waits for tomorrow."""
    at = datetime.now(UTC) + timedelta(seconds=4)
    project.write_queue(f"""\
        posts:
          - id: daily
            at: "{at.isoformat(timespec="seconds")}"
            accounts: [alpha]
            text: Daily
            repeat: {{every: day, count: 3}}
        """)
    config = str(project.config_path)
    code, _, err = await cli("run", "--once", "--config", config)
    assert code == 0, err
    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()) + 0.5)
    for _ in range(2):
        code, _, err = await cli("run", "--once", "--config", config)
        assert code == 0, err
    store = await Store.open(project.database)
    try:
        rows = [d for d in await store.all_deliveries() if d.post_id.startswith("daily@")]
        attempts = await store.attempts()
    finally:
        await store.close()
    states = sorted((d.post_id, d.state.value) for d in rows)
    day = at.astimezone(PARIS).date()
    assert states == [
        (f"daily@{day}", "published"),
        (f"daily@{day + timedelta(days=1)}", "scheduled"),
        (f"daily@{day + timedelta(days=2)}", "scheduled"),
    ]
    assert [a.post_id for a in attempts] == [f"daily@{day}"]  # one attempt: never twice
