"""``reply_to:`` in validate and dry-run (issue 20): checked against the inbox where the
database is, said not checked where it is not; errors at the post's ``reply_to`` line."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cli import main
from publisher.store import Store
from publisher.store.inbox import INBOX, NewItem

CONFIG = """\
database = "sqlite:///{db}"
timezone = "Europe/Paris"
[accounts.masto]
network = "mastodon"
instance = "https://mastodon.example"
token = "${{MASTODON_TOKEN}}"
[accounts.sky]
network = "bluesky"
handle = "brand.example"
app_password = "${{BLUESKY_PASSWORD}}"
"""
QUEUE = """\
posts:
  - id: answer
    at: 2030-01-01 09:00
    accounts: [{account}]
    text: Merci, c'est corrigé !
    reply_to: {ref}
"""


def project(tmp_path: Path, ref: str, account: str = "masto") -> Path:
    cfg = tmp_path / "publisher.toml"
    cfg.write_text(CONFIG.format(db=tmp_path / "queue.db"), encoding="utf-8")
    (tmp_path / "queue.yaml").write_text(QUEUE.format(ref=ref, account=account), encoding="utf-8")
    return cfg


def hear(tmp_path: Path) -> None:
    async def go() -> None:
        store = await Store.open(f"sqlite:///{tmp_path / 'queue.db'}")
        try:
            item = NewItem(
                "110",
                "mention",
                "@ana@example.social",
                "Lien cassé",
                "https://mastodon.example/@ana/110",
                datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
            )
            await store.hear("masto", "mastodon", INBOX, [item], "110", datetime.now(UTC))
        finally:
            await store.close()

    asyncio.run(go())


def test_without_a_database_an_answer_is_said_unchecked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project(tmp_path, "1")
    assert main(["validate", "--config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert (
        "queue.yaml:6:15: warning: posts[0].reply_to: reply_to 1: not checked, no database here"
        in err
    )
    assert main(["dry-run", "--config", str(cfg), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    [d] = doc["deliveries"]
    assert d["parts"][0]["payload"]["in_reply_to_id"] == "<reply_to:1>"


@pytest.mark.parametrize("ref", ["1", "https://mastodon.example/@ana/110"])
def test_an_answer_to_an_item_in_the_inbox_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    cfg = project(tmp_path, ref)
    hear(tmp_path)
    assert main(["validate", "--config", str(cfg)]) == 0
    assert "reply_to" not in capsys.readouterr().err
    assert main(["dry-run", "--config", str(cfg), "--json"]) == 0
    [d] = json.loads(capsys.readouterr().out)["deliveries"]
    assert d["parts"][0]["payload"]["in_reply_to_id"] == "110"


def test_an_answer_to_no_item_is_an_error_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project(tmp_path, "7")
    hear(tmp_path)
    assert main(["validate", "--config", str(cfg)]) != 0
    err = capsys.readouterr().err
    assert "queue.yaml:6:15" in err and "reply_to 7: no such item in the inbox" in err


def test_an_answer_from_another_network_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project(tmp_path, "1", account="sky")
    hear(tmp_path)
    assert main(["validate", "--config", str(cfg)]) != 0
    err = capsys.readouterr().err
    assert "reply_to 1 was heard on mastodon: a bluesky account cannot answer it" in err


def test_reply_to_must_be_an_id_or_a_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project(tmp_path, "the-first-one")
    assert main(["validate", "--config", str(cfg)]) != 0
    err = capsys.readouterr().err
    assert "queue.yaml:6:15" in err and "expected an inbox id (digits)" in err
