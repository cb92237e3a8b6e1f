"""The example, copied into a scratch directory, with a ledger and a post that cannot be
published; and the web view served from a thread, on a clock the test sets."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import threading
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web

from publisher.clock import FakeClock
from publisher.config import Config, SecretPolicy, load_config
from publisher.secrets import SecretSource
from publisher.states import DeliveryState
from publisher.web.app import View, add_routes
from tests.paths import ROOT
from tests.test_audit import Ledger

T = TypeVar("T")
PARIS = ZoneInfo("Europe/Paris")
# Monday of the example's week: its posts go out from Tuesday 1 to Sunday 6 December 2026.
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)
FAILED_ERROR = "HTTP 401: token revoked; reconnect the account"
# A post X cannot take: too long, and not allowed to become a thread.
TOO_LONG = """
  - id: too-long-for-x
    at: 2026-12-03 16:00
    accounts: [brand-x]
    thread: "off"
    text: |
      {text}
""".format(text="Un texte bien trop long pour X, qui ne doit pas devenir un fil. " * 6)


def example(tmp: Path, *, extra_config: str = "") -> Path:
    """The example's config, queue (plus ``TOO_LONG``) and media in ``tmp``; its path."""
    shutil.copytree(ROOT / "examples" / "media", tmp / "media")
    shutil.copy(ROOT / "examples" / "queue.yaml", tmp / "queue.yaml")
    with (tmp / "queue.yaml").open("a", encoding="utf-8") as f:
        f.write(TOO_LONG)
    text = (ROOT / "examples" / "publisher.toml").read_text(encoding="utf-8")
    (tmp / "publisher.toml").write_text(text + extra_config, encoding="utf-8")
    return tmp / "publisher.toml"


def config_of(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    source = SecretSource(dict(environ or {}), None)
    return load_config(path, secrets=SecretPolicy.WARN, source=source)


def seed(config: Config, error: str = FAILED_ERROR) -> None:
    """A ledger: the launch went out everywhere but X, where it failed."""
    led = Ledger()
    launch = datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)
    led.add(
        "brand-x", DeliveryState.FAILED, launch, network="x", error=error, post="winter-sale-launch"
    )
    led.add(
        "brand-masto",
        DeliveryState.PUBLISHED,
        launch,
        published=launch,
        network="mastodon",
        post="winter-sale-launch",
    )
    in_thread(led.write(config.database_url))
    in_thread(_heard(config.database_url))


async def _heard(url: str) -> None:
    """Two mentions heard by the Mastodon account, one answered, one waiting."""
    from publisher.store import Store
    from publisher.store.inbox import INBOX, ItemState, NewItem

    store = await Store.open(url)
    try:
        said = datetime(2026, 11, 29, 10, 0, tzinfo=PARIS)  # the day before NOW
        items = [
            NewItem(
                "9001",
                "mention",
                "@ana@example.social",
                "Livrez-vous en Belgique ?",
                "https://mastodon.example/@ana/9001",
                said,
            ),
            NewItem(
                "9002",
                "reply",
                "@bob@example.social",
                "Super, merci !",
                "https://mastodon.example/@bob/9002",
                said + timedelta(minutes=5),
            ),
        ]
        ids = await store.hear("brand-masto", "mastodon", INBOX, items, "9002", said)
        await store.set_item_state(ids[1], ItemState.HANDLED, said + timedelta(hours=1))
    finally:
        await store.close()


def in_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a loop of its own thread: Playwright's sync API keeps a
    loop running in the test's thread, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def served(config: Config, now: datetime = NOW) -> Iterator[str]:
    """The web view of ``config`` on 127.0.0.1 (its base URL), from a thread of its own."""
    loop = asyncio.new_event_loop()
    port = free_port()
    started = threading.Event()
    stopped = asyncio.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        app = web.Application()
        add_routes(app, View(config, FakeClock(now), None))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            started.set()
            await stopped.wait()
        finally:
            await runner.cleanup()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as err:  # reported to the test below
            failure.append(err)
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(60)
    if failure:
        raise failure[0]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stopped.set)
        thread.join(60)
        loop.close()
