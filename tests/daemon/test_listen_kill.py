"""kill -9 of the real daemon while it listens and answers (issue 20), against the strict
Mastodon server in this test's process:

- killed between the answer going out and its item being marked handled (the answer's
  request hangs after the status was created): after the restart Mastodon holds one answer
  (the unknown delivery is resent under the same Idempotency-Key), and the item is handled;
- what was said while the daemon was down is heard after the restart, nothing twice (the
  cursor was kept with the items it led to).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.adapters.listening import ItemKind
from tests.daemon.test_first_comment_kill import WallClock
from tests.networks.mastodon.server import Failure, MastodonServer
from tests.processes import Daemon, run_publisher, start_daemon

TOKEN = "listen-kill-token-5d1a"


def write_config(root: Path, url: str) -> Path:
    config = root / "publisher.toml"
    config.write_text(
        f'queue = "queue.yaml"\ndatabase = "sqlite:///{root}/queue.db"\n'
        'timezone = "Europe/Paris"\nmax_lateness = "2h"\n'
        '[engine]\nshutdown_timeout = "5s"\ndebounce = "100ms"\nresolve_delay = "1s"\n'
        f'[accounts.masto]\nnetwork = "mastodon"\ninstance = "{url}"\n'
        'token = "${MASTO_TOKEN}"\nlisten_interval = "1s"\n',
        encoding="utf-8",
    )
    (root / "queue.yaml").write_text("posts: []\n", encoding="utf-8")
    return config


def answer(root: Path, item: int, at: datetime) -> None:
    (root / "queue.yaml").write_text(
        "posts:\n  - id: answer\n"
        f"    at: {at.isoformat()}\n"
        "    accounts: [masto]\n"
        "    text: Oui, nous livrons en Belgique.\n"
        f"    reply_to: {item}\n",
        encoding="utf-8",
    )


def inbox(config: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    out = run_publisher("inbox", "--json", "--config", str(config), env=env)
    if out.returncode != 0:  # no database yet
        return []
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


async def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not reached in {timeout:.0f} s")


async def test_kill_9_between_an_answer_and_its_mark_and_while_listening(tmp_path: Path) -> None:
    env = {**os.environ, "MASTO_TOKEN": TOKEN}
    env.pop("NOTIFY_SOCKET", None)
    daemons: list[Daemon] = []
    async with MastodonServer(token=TOKEN, clock=WallClock()) as server:
        config = write_config(tmp_path, server.url)
        try:
            daemons.append(start_daemon(config, log=tmp_path / "first.log", env=env))
            await wait_for(lambda: bool(server.hits), "the first read")
            asked, _ = server.hear(ItemKind.MENTION, "Livrez-vous en Belgique ?", author="ana")
            await wait_for(lambda: len(inbox(config, env)) == 1, "the mention heard")
            [item] = inbox(config, env)
            # The answer lands, its answer never comes back: the daemon is killed waiting.
            server.fail("POST", "/api/v1/statuses", Failure(mode="hang", after=True))
            answer(tmp_path, item["id"], datetime.now(UTC) + timedelta(seconds=1))
            await wait_for(lambda: len(server.replies_to(asked)) == 1, "the answer sent")
            daemons[0].proc.kill()
            daemons[0].proc.wait()
            assert inbox(config, env)[0]["state"] == "new"
            # Said while the daemon is down.
            later, _ = server.hear(ItemKind.MENTION, "Et en Suisse ?", author="bob")
            daemons.append(start_daemon(config, log=tmp_path / "second.log", env=env))

            def settled() -> bool:
                return sorted(i["state"] for i in inbox(config, env)) == ["handled", "new"]

            await wait_for(settled, "the answer marked, the new mention heard")
            assert daemons[1].terminate() == 0, daemons[1].output()[-3000:]
        finally:
            for d in daemons:
                d.kill()
        items = inbox(config, env)
        assert len(server.replies_to(asked)) == 1, server.statuses
        assert len(items) == 2
        by_text = {i["text"]: i for i in items}
        assert by_text["Livrez-vous en Belgique ?"]["state"] == "handled"
        assert by_text["Livrez-vous en Belgique ?"]["answer"] == "answer"
        assert by_text["Et en Suisse ?"]["state"] == "new"
        assert later != asked
