"""kill -9 of the real daemon between a post and its first comment: after the restart the
network holds exactly one post and one comment on it, whether the comment had landed or not.

The daemon runs as a process against the strict Mastodon server (in this test's process);
the comment's request hangs (after the status was created, or before), the daemon is killed
while it waits, then started again. The delivery is unknown and is settled as Mastodon
allows: resent under the same Idempotency-Keys inside the hour, so the post is not posted
again and the comment exactly once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import processes
from tests.networks.mastodon.server import Failure, MastodonServer
from tests.processes import Daemon, start_daemon

TOKEN = "first-comment-kill-token-8c2e"
COMMENT = "Inscription gratuite : https://example.com/atelier"


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def write_files(root: Path, url: str, at: datetime) -> Path:
    config = root / "publisher.toml"
    config.write_text(
        f'queue = "queue.yaml"\ndatabase = "sqlite:///{root}/queue.db"\n'
        'timezone = "Europe/Paris"\nmax_lateness = "2h"\n'
        '[engine]\nshutdown_timeout = "5s"\ndebounce = "100ms"\nresolve_delay = "1s"\n'
        f'[accounts.masto]\nnetwork = "mastodon"\ninstance = "{url}"\n'
        'token = "${MASTO_TOKEN}"\n',
        encoding="utf-8",
    )
    (root / "queue.yaml").write_text(
        "posts:\n  - id: atelier\n"
        f"    at: {at.isoformat()}\n"
        "    accounts: [masto]\n"
        "    text: Atelier couture samedi à 14 h.\n"
        f'    first_comment: "{COMMENT}"\n',
        encoding="utf-8",
    )
    return config


async def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not reached in {timeout:.0f} s")


@pytest.mark.parametrize("landed", [True, False], ids=["comment-landed", "comment-not-landed"])
async def test_kill_9_between_the_post_and_its_comment(tmp_path: Path, landed: bool) -> None:
    env = {**os.environ, "MASTO_TOKEN": TOKEN}
    env.pop("NOTIFY_SOCKET", None)
    daemons: list[Daemon] = []
    async with MastodonServer(token=TOKEN, clock=WallClock()) as server:
        # The post goes through; the comment's request then hangs until the daemon dies.
        server.fail("POST", "/api/v1/statuses", Failure(mode="hang", after=landed, skip=1))
        config = write_files(tmp_path, server.url, datetime.now(UTC) + timedelta(seconds=1))
        try:
            daemons.append(start_daemon(config, log=tmp_path / "first.log", env=env))
            posts = [h for h in server.hits if h == ("POST", "/api/v1/statuses")]

            def comment_sent() -> bool:
                posts[:] = [h for h in server.hits if h == ("POST", "/api/v1/statuses")]
                return len(posts) == 2

            await wait_for(comment_sent, "the comment's request")
            daemons[0].proc.kill()
            daemons[0].proc.wait()
            assert len(server.statuses) == (2 if landed else 1)

            daemons.append(start_daemon(config, log=tmp_path / "second.log", env=env))

            def published() -> bool:
                doc = processes.status_json(config, env=env)
                return bool(doc["counts"].get("published") == 1)

            await wait_for(published, "published after the restart")
            assert daemons[1].terminate() == 0, daemons[1].output()[-3000:]
        finally:
            for d in daemons:
                d.kill()
        statuses = list(server.statuses)
    post = [s for s in statuses if s.in_reply_to_id is None]
    comments = [s for s in statuses if s.in_reply_to_id is not None]
    assert len(post) == 1 and len(comments) == 1, statuses
    assert comments[0].in_reply_to_id == post[0].id
    assert comments[0].text == COMMENT
