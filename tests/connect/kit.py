"""What the connect-flow tests share: an account as a table, and a flow run with a browser."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from publisher.clock import FakeClock
from publisher.connect.flow import Account, Context, Options
from publisher.secrets import SecretSource
from publisher.testing.oauth import Browser, BrowserTerminal
from tests.conftest import T0


def account(
    network: str, table: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Account:
    return Account(
        "brand",
        network,
        {"network": network, **table},
        SecretSource(dict(env or {}), None),
        Path("publisher.toml"),
    )


@dataclass
class Run:
    session: aiohttp.ClientSession
    browser: Browser
    clock: FakeClock

    def context(self, terminal: BrowserTerminal, **options: Any) -> Context:
        return Context(self.session, terminal, self.clock, Options(**options))

    def terminal(self, **kw: Any) -> BrowserTerminal:
        return BrowserTerminal(self.browser, **kw)


@asynccontextmanager
async def running() -> AsyncIterator[Run]:
    async with aiohttp.ClientSession() as session, aiohttp.ClientSession() as browsing:
        yield Run(session, Browser(browsing), FakeClock(T0))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
