"""What editors write out of habit: YAML booleans for `thread:`, and a date alone for a time
given to a command (local midnight, the same for every command)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from publisher.adapters.base import ThreadMode
from publisher.commands.common import parse_when
from publisher.config import SecretPolicy
from publisher.diagnostics import InvalidFileError
from publisher.queuefile import load_queue
from publisher.states import DeliveryState
from publisher.store import Store
from publisher.times import TimeFormatError, parse_time
from tests.conftest import Project
from tests.test_cli import cli

PARIS = ZoneInfo("Europe/Paris")

# ------------------------------------------------------------------ thread: true / false


def test_thread_true_means_auto_and_false_means_off_at_every_level(project: Project) -> None:
    project.write_queue("""\
        defaults:
          thread: false
        posts:
          - {id: a, at: 2099-12-01 09:00, accounts: [alpha], text: A}
          - {id: b, at: 2099-12-01 09:00, accounts: [alpha], text: B, thread: true}
          - id: c
            at: 2099-12-01 09:00
            accounts: [alpha, beta]
            text: C
            thread: true
            overrides:
              beta: {thread: false}
          - {id: d, at: 2099-12-01 09:00, accounts: [alpha], text: D, thread: numbered}
        """)
    config = project.config(SecretPolicy.WARN)
    posts = {p.id: p for p in load_queue(project.queue_path, config).posts}
    assert posts["a"].thread is ThreadMode.OFF  # from defaults
    assert posts["b"].thread is ThreadMode.AUTO
    assert posts["c"].content_for(config.accounts["alpha"]).thread is ThreadMode.AUTO
    assert posts["c"].content_for(config.accounts["beta"]).thread is ThreadMode.OFF
    assert posts["d"].thread is ThreadMode.NUMBERED


async def test_thread_false_stops_a_long_text_like_off(project: Project) -> None:
    """The issue's case: `thread: false` is taken, and means that too long is an error."""
    project.accounts = {"short": {"network": "log", "max_length": 50}}
    project.write_config()
    long = "mot " * 20 + "fin"  # 83 characters
    for word in ("off", "false"):
        project.write_queue(f"""\
            posts:
              - id: a
                at: 2099-12-01 09:00
                accounts: [short]
                thread: {word}
                text: {long}
            """)
        code, _, err = await cli("validate", "--config", str(project.config_path))
        assert code == 1, err
        assert f"{project.queue_path}:6:11: posts[0].text: text is 83 long, the limit is 50 " in err


@pytest.mark.parametrize("word", ["yes", "on", "1", "none"])
def test_other_words_for_thread_are_refused_saying_what_to_write(
    project: Project, word: str
) -> None:
    project.write_queue(f"""\
        posts:
          - id: a
            at: 2099-12-01 09:00
            accounts: [alpha]
            text: A
            thread: {word}
        """)
    with pytest.raises(InvalidFileError) as err:
        load_queue(project.queue_path, project.config(SecretPolicy.WARN))
    [d] = err.value.errors
    assert (d.line, d.column, d.field) == (6, 13, "posts[0].thread")
    assert "is not one of: auto, numbered, off (true means auto, false off)" in d.message


def test_the_schema_lets_editors_write_booleans_for_thread() -> None:
    import jsonschema

    from publisher.queuefile import json_schema

    schema = json_schema()
    for value in (True, False, "off", "auto", "numbered"):
        doc = {"posts": [{"id": "a", "text": "A", "thread": value}]}
        jsonschema.validate(doc, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"posts": [{"id": "a", "thread": "yes"}]}, schema)


# ------------------------------------------------------------------ a date alone


def test_a_date_alone_is_local_midnight_for_commands() -> None:
    assert parse_when("2026-12-02", PARIS) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert parse_when(" 2026-07-14 ", PARIS) == datetime(2026, 7, 13, 22, 0, tzinfo=UTC)
    assert parse_when("2026-12-02", PARIS) == parse_when("2026-12-02 00:00", PARIS)
    # A midnight the clocks skip (Chile moves from 00:00 to 01:00) is the day's first instant.
    santiago = ZoneInfo("America/Santiago")
    first = parse_when("2026-09-06", santiago)
    assert first.astimezone(santiago).hour == 1
    assert first == parse_when("2026-09-06 00:00", santiago)


def test_the_queue_file_still_wants_a_time_of_day() -> None:
    """A post at midnight is seldom meant: `at: 2026-12-01` stays an error in queue.yaml."""
    with pytest.raises(TimeFormatError, match="has no time of day"):
        parse_time("2026-12-01", PARIS)


QUEUE = """\
posts:
  - {id: late-on-the-1st, at: 2099-12-01 23:30, accounts: [alpha], text: A}
  - {id: midnight, at: 2099-12-02 00:00, accounts: [alpha], text: B}
  - {id: late-on-the-2nd, at: 2099-12-02 23:59, accounts: [alpha], text: C}
  - {id: next-midnight, at: 2099-12-03 00:00, accounts: [alpha], text: D}
"""


async def test_dry_run_takes_a_day_as_its_window(project: Project) -> None:
    project.write_queue(QUEUE)
    config = ("--config", str(project.config_path))
    code, out, err = await cli(
        "dry-run", "--json", "--from", "2099-12-02", "--until", "2099-12-03", *config
    )
    assert code == 0, err
    assert [d["post"] for d in json.loads(out)["deliveries"]] == ["midnight", "late-on-the-2nd"]
    code, same, _ = await cli(
        "dry-run", "--json", "--from", "2099-12-02 00:00", "--until", "2099-12-03 00:00", *config
    )
    assert code == 0
    assert json.loads(same)["deliveries"] == json.loads(out)["deliveries"]


@pytest.mark.parametrize(
    "args",
    [
        ("dry-run", "--from", "2099-12-02"),
        ("dry-run", "--until", "2099-12-03"),
        ("audit", "--since", "2026-01-01"),
        ("audit", "--until", "2099-12-03"),
        ("history", "--since", "2026-01-01"),
        ("history", "--until", "2099-12-03"),
    ],
    ids=lambda a: " ".join(a),
)
async def test_every_command_takes_a_date_alone(project: Project, args: tuple[str, ...]) -> None:
    project.write_queue(QUEUE)
    store = await Store.open(project.database)  # audit and history read an existing ledger
    await store.close()
    code, _, err = await cli(*args, "--config", str(project.config_path))
    assert code == 0, err
    assert "time of day" not in err


def test_time_travel_to_a_date_starts_at_its_local_midnight(project: Project) -> None:
    """`run --dry-run --once --time-travel 2099-12-02`: the clock starts at local midnight, so
    the posts due by then go out (in the rehearsal) and the later ones wait."""
    project.write_queue(QUEUE)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "publisher.cli",
            "run",
            "--dry-run",
            "--once",
            "--time-travel",
            "2099-12-02",
            "--config",
            str(project.config_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    states = asyncio.run(_rehearsal_states(project))
    assert states == {
        "late-on-the-1st": DeliveryState.DRY_RUN,
        "midnight": DeliveryState.DRY_RUN,
        "late-on-the-2nd": DeliveryState.SCHEDULED,
        "next-midnight": DeliveryState.SCHEDULED,
    }


async def _rehearsal_states(project: Project) -> dict[str, DeliveryState]:
    store = await Store.open(f"sqlite:///{project.root / 'queue.dry-run.db'}")
    try:
        return {d.post_id: d.state for d in await store.all_deliveries()}
    finally:
        await store.close()
