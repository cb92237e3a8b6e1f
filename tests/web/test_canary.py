"""What the web view must never show: secrets, tokens, server paths, files outside the media
roots; and what it must refuse: an address beyond loopback without a token, anything but GET.

Every page and response is fetched (in-process, no browser) from the example with every
secret set to a canary value, a ledger whose recorded error carries a secret and a server
path, and a media link that leads out of the media roots; none of them may appear.
"""

from __future__ import annotations

import base64
import contextlib
import re
import urllib.parse
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from publisher.cli import main as cli_main
from publisher.clock import FakeClock
from publisher.commands.common import UserError
from publisher.commands.plan import current_plan
from publisher.commands.run import _listeners
from publisher.config import Config
from publisher.engine.observe import Health
from publisher.web.app import View, add_routes, check_bind, mount
from publisher.web.inbox import inbox_summary
from tests.paths import ROOT
from tests.web.site import NOW, config_of, example, free_port, seed

NAMES = [
    "X_API_KEY",
    "X_API_SECRET",
    "X_ACCESS_TOKEN",
    "X_ACCESS_SECRET",
    "FB_PAGE_TOKEN",
    "MASTODON_TOKEN",
    "BSKY_APP_PASSWORD",
    "TELEGRAM_BOT_TOKEN",
    "DISCORD_WEBHOOK_URL",
    "IG_TOKEN",
    "THREADS_TOKEN",
    "WEB_TOKEN",
]
SECRETS = {name: f"canary-{name.lower()}-7Qm2Zx9Lp4" for name in NAMES}
SECRETS["DISCORD_WEBHOOK_URL"] = "https://discord.com/api/webhooks/42/canary-hook-7Qm2Zx9Lp4"
TOKEN = SECRETS["WEB_TOKEN"]
WEB = '\n[web]\ntoken = "${WEB_TOKEN}"\n'
# A file outside every media root, reachable only through a link that leads out of them.
OUTSIDE = b"\x89PNG\r\n\x1a\n" + b"canary-outside-the-roots" * 20
LEAK = """
  - id: leaky-media
    at: 2026-12-04 11:00
    accounts: [brand-masto]
    text: A picture from somewhere it must not come from.
    media:
      - file: media/leak.png
        alt: nothing to see
"""


def forms(value: str) -> set[str]:
    """The ways a value could show in a response."""
    raw = value.encode()
    return {
        value,
        urllib.parse.quote(value, safe=""),
        base64.b64encode(raw).decode(),
        value.encode("unicode_escape").decode(),
    }


def canary_site(tmp_path: Path, *, leak: bool) -> tuple[Config, list[str]]:
    """The example with canary secrets (and, with ``leak``, a media link out of the roots);
    what must never be seen."""
    root = tmp_path / "srv"
    root.mkdir()
    path = example(root, extra_config=WEB)
    if leak:
        (tmp_path / "outside.png").write_bytes(OUTSIDE)
        (root / "media" / "leak.png").symlink_to(tmp_path / "outside.png")
        with (root / "queue.yaml").open("a", encoding="utf-8") as f:
            f.write(LEAK)
    config = config_of(path, SECRETS)
    # The daemon scrubs what it records; a row that escaped would still not reach a page.
    seed(config, error=f"HTTP 401 for {SECRETS['X_ACCESS_TOKEN']} reading {root}/publisher.toml")
    never = [s for value in SECRETS.values() for s in forms(value)]
    never += [str(tmp_path), "canary-outside-the-roots", str(Path.home()), str(ROOT)]
    return config, never


@contextlib.asynccontextmanager
async def client_of(config: Config) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    add_routes(app, View(config, FakeClock(NOW), config.web.token, {"Inbox": inbox_summary}))
    async with TestClient(TestServer(app)) as c:
        yield c


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


async def crawl(
    client: TestClient[web.Request, web.Application], paths: list[str], never: list[str]
) -> list[str]:
    """Every path, and every image the pages show; none may carry what ``never`` lists.
    Returns "STATUS PATH" for each."""
    seen: list[str] = []
    media: set[str] = set()
    i = 0
    while i < len(paths):
        path = paths[i]
        i += 1
        for headers in (auth(), {}):  # what a stranger is told too
            response = await client.get(path, headers=headers)
            text = (await response.read()).decode("utf-8", "replace")
            head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
            for bad in never:
                assert bad not in text and bad not in head, (path, bad)
            if not headers:
                assert response.status == 401, path
                continue
            seen.append(f"{response.status} {path}")
            if response.content_type == "text/html":
                for found in re.findall(r'src="(/media\?[^"]+)"', text):
                    url = found.replace("&amp;", "&")
                    if url not in media:
                        media.add(url)
                        paths.append(url)
    return seen


PAGES = [
    "/",
    "/calendar",
    "/calendar?view=month&at=2026-12-01",
    "/calendar?at=2026-12-01",
    "/status",
    "/audit",
    "/static/style.css",
    "/static/view.js",
    "/static/..%2Fapp.py",
    "/preview?post=nope",
    "/media?post=winter-sale-launch&account=brand-x&part=0&item=../../outside.png",
    "/media?post=winter-sale-launch&account=brand-x&part=0&item=9",
]


async def test_no_secret_or_server_path_in_any_response(tmp_path: Path) -> None:
    config, never = canary_site(tmp_path, leak=False)
    view = await current_plan(config, NOW)
    posts = sorted({p.post_id for p in view.planned})
    async with client_of(config) as client:
        seen = await crawl(
            client, [*PAGES, *(f"/preview?post={urllib.parse.quote(p)}" for p in posts)], never
        )
    assert {"200 /status", "200 /audit", "404 /preview?post=nope"} <= set(seen)
    assert "404 /static/..%2Fapp.py" in seen
    images = [s for s in seen if "/media?" in s and "item=9" not in s and "outside" not in s]
    assert len(images) >= 4 and all(s.startswith("200") for s in images)  # the previews' own
    assert all(s.startswith("404") for s in seen if "item=9" in s or "outside" in s)


async def test_media_outside_the_roots_is_never_served(tmp_path: Path) -> None:
    config, never = canary_site(tmp_path, leak=True)
    async with client_of(config) as client:
        seen = await crawl(
            client,
            [
                *PAGES,
                "/media?post=leaky-media&account=brand-masto&part=0&item=0",
                "/preview?post=leaky-media",
            ],
            never,
        )
        calendar = await (await client.get("/calendar", headers=auth())).text()
    # The queue cannot be read: the calendar says where and why, by the file's name alone.
    lines = config.queue_path.read_text(encoding="utf-8").splitlines()
    line = lines.index("      - file: media/leak.png") + 1
    assert f"queue.yaml:{line}:" in calendar and "leads out of its media root" in calendar
    assert "404 /media?post=leaky-media&account=brand-masto&part=0&item=0" in seen


async def test_the_token_is_needed_and_nothing_but_get_is_served(tmp_path: Path) -> None:
    config, _ = canary_site(tmp_path, leak=False)
    async with client_of(config) as client:
        await _token_and_methods(client)


async def _token_and_methods(client: TestClient[web.Request, web.Application]) -> None:
    assert (await client.get("/calendar")).status == 401
    assert (await client.get("/calendar", headers={"Authorization": "Bearer nope"})).status == 401
    basic = base64.b64encode(f"editor:{TOKEN}".encode()).decode()
    assert (
        await client.get("/calendar", headers={"Authorization": f"Basic {basic}"})
    ).status == 200
    ok = await client.get("/calendar", headers=auth())
    assert ok.status == 200
    assert "default-src 'none'" in ok.headers["Content-Security-Policy"]
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert (await client.request(method, "/calendar", headers=auth())).status == 405


def test_a_non_loopback_bind_without_a_token_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example(tmp_path)
    port = free_port()
    assert cli_main(["web", "--config", str(path), "--listen", f"0.0.0.0:{port}"]) == 1
    err = capsys.readouterr().err
    assert "needs a token" in err and "refusing to start" in err
    with pytest.raises(UserError, match="needs a token"):
        check_bind("192.0.2.7", None, "--listen")
    check_bind("127.0.0.1", None, "--listen")
    check_bind("::1", None, "--listen")
    check_bind("localhost", None, "--listen")


async def test_the_daemon_refuses_a_web_view_beyond_loopback_without_a_token(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = config_of(example(tmp_path, extra_config=f'\n[web]\nlisten = "0.0.0.0:{port}"\n'))
    clock = FakeClock(NOW)
    with pytest.raises(UserError, match="refusing to start"):
        await _listeners(config, clock, None, Health(clock), mount)


async def test_the_daemon_serves_the_view_on_its_metrics_listener(tmp_path: Path) -> None:
    port = free_port()
    extra = f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n\n[web]\non_metrics = true\n'
    config = config_of(example(tmp_path, extra_config=extra))
    clock = FakeClock(NOW + timedelta(days=1))
    from publisher.engine.observe import Metrics
    from publisher.store import Store

    store = await Store.open(config.database_url)
    runners = await _listeners(config, clock, Metrics(store), Health(clock), mount)
    try:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/calendar?at=2026-12-01") as r:
                assert r.status == 200
                assert 'data-post="winter-sale-launch"' in await r.text()
            async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
                assert r.status == 200
    finally:
        for runner in runners:
            await runner.cleanup()
        await store.close()


async def test_the_status_page_sums_up_the_inbox(tmp_path: Path) -> None:
    config, _never = canary_site(tmp_path, leak=False)
    async with client_of(config) as client:
        response = await client.get("/status", headers=auth())
        text = await response.text()
    section = text[text.index(">Inbox</h2>") :]
    cells = re.findall(r"<td>([^<]*)</td>", section[: section.index("</table>")])
    row = cells[cells.index("brand-masto") : cells.index("brand-masto") + 5]
    assert row[:4] == ["brand-masto", "1", "2", "0"]  # waiting, heard, answered by a post
    assert row[4] == "Sun 29 Nov 10:00"


async def test_the_audit_page_shows_the_inbox_beside_posting_and_engagement(
    tmp_path: Path,
) -> None:
    config, _never = canary_site(tmp_path, leak=False)
    async with client_of(config) as client:
        response = await client.get("/audit", headers=auth())
        text = await response.text()
    assert response.status == 200
    section = text[text.index('id="inbox-title"') :]
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in section  # the share answered chart
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td>((?:<td>[^<]*</td>)+)</tr>", section)
    masto = [r for r in rows if r[0] == "brand-masto" and "2026-W48" in r[1]]
    assert masto, rows
    cells = re.findall(r"<td>([^<]*)</td>", masto[0][2])
    # Received 2: one handled by hand (not an answer), one open; none ignored.
    assert cells == ["2", "0", "0%", "–", "0", "1"]
