"""``publisher inbox``: the items heard, newest first, in local time, filtered; JSON by its
schema; ``handle``, ``ignore`` and ``reopen``; text from strangers made safe for a terminal."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from publisher.store import Store
from publisher.store.inbox import INBOX, ItemState, NewItem, watch_stream
from tests.test_audit import run_cli, write_config

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def seed(tmp_path: Path) -> None:
    async def go() -> None:
        store = await Store.open(f"sqlite:///{tmp_path / 'queue.db'}")
        try:
            await store.hear(
                "a",
                "mastodon",
                INBOX,
                [
                    NewItem(
                        "m1",
                        "mention",
                        "@ana@example.social",
                        "Votre lien est cassé",
                        "https://example.social/@ana/1",
                        datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
                    ),
                    NewItem(
                        "m2",
                        "reply",
                        "@bob@example.social",
                        "Bravo\x1b[2J pour le lancement",
                        "https://example.social/@bob/2",
                        datetime(2026, 11, 1, 11, 0, tzinfo=UTC),
                    ),
                ],
                "m2",
                NOW,
            )
            await store.hear(
                "b",
                "bluesky",
                watch_stream("brand"),
                [
                    NewItem(
                        "at://x/1",
                        "found",
                        "@carol.bsky.social",
                        "Acme est génial",
                        "https://bsky.app/profile/carol.bsky.social/post/1",
                        datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
                    )
                ],
                "c1",
                NOW,
            )
        finally:
            await store.close()

    asyncio.run(go())


def config(tmp_path: Path) -> Path:
    cfg = write_config(tmp_path)
    return cfg


def schema() -> dict[str, Any]:
    text = files("publisher").joinpath("schema/inbox.schema.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(doc)
    return doc


def test_lists_newest_first_in_local_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path)
    seed(tmp_path)
    assert run_cli(["inbox", "--config", str(cfg)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "said", "account", "kind", "from", "state", "text"]
    rows = [line for line in lines[1:] if line.split()[0].isdigit()]
    assert [r.split()[0] for r in rows] == ["3", "2", "1"]
    assert rows[0].split()[1:6] == ["2026-11-01", "13:00", "CET", "b", "found:brand"]
    assert "\x1b" not in "\n".join(lines)  # an escape sequence from a stranger is not run
    assert "Bravo\ufffd[2J pour le lancement" in rows[1]
    assert any(line.strip() == "https://example.social/@ana/1" for line in lines)


def test_json_filters_and_states(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path)
    seed(tmp_path)
    assert run_cli(["inbox", "--config", str(cfg), "--json", "--account", "a"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, schema())
    assert [i["id"] for i in doc["items"]] == [2, 1]
    assert doc["items"][1]["said_local"] == "2026-11-01T11:00:00+01:00"
    assert run_cli(["inbox", "--config", str(cfg), "handle", "1"]) == 0
    assert run_cli(["inbox", "--config", str(cfg), "ignore", "2"]) == 0
    capsys.readouterr()
    assert run_cli(["inbox", "--config", str(cfg), "--new", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, schema())
    assert [i["id"] for i in doc["items"]] == [3]
    assert run_cli(["inbox", "--config", str(cfg), "--watch", "brand", "--json"]) == 0
    assert [i["kind"] for i in json.loads(capsys.readouterr().out)["items"]] == ["found"]
    assert run_cli(["inbox", "--config", str(cfg), "reopen", "1"]) == 0
    assert capsys.readouterr().out == "1 item new\n"
    assert run_cli(["inbox", "--config", str(cfg), "--json"]) == 0
    states = {i["id"]: i["state"] for i in json.loads(capsys.readouterr().out)["items"]}
    assert states == {1: ItemState.NEW.value, 2: "ignored", 3: "new"}


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["handle"], "needs the ids"),
        (["7"], "an id without an action"),
        (["handle", "x1"], "not an inbox id: x1"),
        (["handle", "99"], "no inbox item 99"),
        (["close", "1"], "unknown action 'close'"),
        (["--account", "zz"], "zz"),
        (["--watch", "nope"], "no watch named 'nope' in publisher.toml, nor items"),
    ],
)
def test_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    cfg = config(tmp_path)
    seed(tmp_path)
    assert run_cli(["inbox", "--config", str(cfg), *argv]) != 0
    assert says in capsys.readouterr().err


def test_says_what_each_listening_network_cannot_hear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from publisher.adapters.registry import adapter_class

    cfg = tmp_path / "publisher.toml"
    cfg.write_text(
        f'database = "sqlite:///{tmp_path / "queue.db"}"\n'
        '[accounts.masto]\nnetwork = "mastodon"\ninstance = "https://mastodon.example"\n'
        'token = "${MASTODON_TOKEN}"\n'
        '[accounts.quiet]\nnetwork = "facebook"\npage_id = "1234567890"\n'
        'page_token = "${FB_TOKEN}"\nlisten = false\n',
        encoding="utf-8",
    )
    seed(tmp_path)
    assert run_cli(["inbox", "--config", str(cfg)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    hearing = adapter_class("mastodon").listening
    assert hearing is not None
    assert notes == [f"note: mastodon: {' '.join(hearing.limits.split())}"]  # not facebook's
