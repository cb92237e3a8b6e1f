"""An API version the network no longer serves holds the account: nothing fails, and once the
operator moves the version and the hold's recheck comes, every held post goes out.

The engine against the strict LinkedIn server (a retired ``LinkedIn-Version`` answers 426
NONEXISTENT_VERSION) and the strict Graph server (a version it does not serve answers Graph
error 2635), with the real adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from publisher.adapters.base import Adapter, AdapterContext
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.adapters.linkedin import DEFAULT_VERSION, LinkedInAdapter, LinkedInSettings
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.decide import CREDENTIALS_RECHECK
from publisher.engine.runtime import LIVE
from publisher.secrets import Secret
from publisher.states import DeliveryState
from publisher.store import Store
from tests.conftest import T0, Project
from tests.networks.facebook.server import GraphServer
from tests.networks.linkedin.server import LinkedInServer
from tests.test_cli import cli

TOKEN = "SECRET-version-hold-token-77aa"
ORG = "urn:li:organization:5515715"
PAGE = "1234567890"
QUEUE = "posts:\n" + "".join(
    f"  - {{id: p{i}, at: 2026-12-01 09:00, accounts: [alpha], text: Poste numéro {i}}}\n"
    for i in range(5)
)


@dataclass(frozen=True)
class Case:
    """A network whose server refuses ``old`` and serves ``new``."""

    server: Callable[[FakeClock], AbstractAsyncContextManager[Any]]
    adapter: Callable[[Any, AdapterContext, str], Adapter]
    published: Callable[[Any], int]
    old: str
    new: str
    setting: str


def _linkedin(server: LinkedInServer, ctx: AdapterContext, version: str) -> Adapter:
    settings = LinkedInSettings(
        author=ORG, token=Secret("LI_TOKEN", TOKEN), api_base=server.url, version=version
    )
    return LinkedInAdapter("alpha", settings, ctx)


def _facebook(server: GraphServer, ctx: AdapterContext, version: str) -> Adapter:
    settings = FacebookSettings(
        page_id=PAGE,
        page_token=Secret("FB_TOKEN", TOKEN),
        api_base=server.url,
        api_version=version,
    )
    return FacebookAdapter("alpha", settings, ctx)


CASES = {
    "linkedin": Case(
        lambda clock: LinkedInServer(author=ORG, token=TOKEN, now=clock.now),
        _linkedin,
        lambda server: len(server.posts),
        "202511",  # retired on 2026-11-16
        DEFAULT_VERSION,
        "`version`",
    ),
    "facebook": Case(
        lambda clock: GraphServer(page_id=PAGE, token=TOKEN, now=clock.now),
        _facebook,
        lambda server: len(server.posts),
        "v19.0",  # ended 2026-05-21; the strict server serves v23.0 only
        "v23.0",
        "`api_version`",
    ),
}


async def run_once(project: Project, store: Store, clock: FakeClock, adapter: Adapter) -> None:
    engine = Engine(
        project.config(), store, clock, {"alpha": adapter}, LIVE, EngineOptions(once=True)
    )
    await engine.run()


@pytest.mark.parametrize("network", sorted(CASES))
async def test_a_refused_version_holds_the_account_and_fails_nothing(
    project: Project, network: str
) -> None:
    case = CASES[network]
    project.write_queue(QUEUE)
    clock = FakeClock(T0)
    store = await Store.open(project.database)
    try:
        async with case.server(clock) as server, aiohttp.ClientSession() as session:
            ctx = AdapterContext(session=session, clock=clock)
            await run_once(project, store, clock, case.adapter(server, ctx, case.old))

            deliveries = [d for p in range(5) for d in await store.find(f"p{p}")]
            assert len(deliveries) == 5
            assert not [d for d in deliveries if d.state is DeliveryState.FAILED]
            assert {d.state for d in deliveries} <= {
                DeliveryState.RETRYING,
                DeliveryState.SCHEDULED,
            }
            assert case.published(server) == 0
            state = (await store.account_states())["alpha"]
            assert state.attention == "version"
            reason = state.attention_reason or ""
            assert case.old in reason and f"set {case.setting} of account alpha" in reason
            assert state.limited_until is not None
            assert state.limited_until >= T0 + CREDENTIALS_RECHECK
            # `status` says which account, why, and what to change.
            code, out, _ = await cli("status", "--config", str(project.config_path))
            assert code == 0
            (line,) = [x for x in out.splitlines() if x.startswith("account alpha:")]
            assert line.startswith("account alpha: version account needs attention (version)")
            assert f"set {case.setting} of account alpha to a served version" in line

            # Before the recheck nothing more is sent, even with the version fixed.
            fixed = case.adapter(server, ctx, case.new)
            await run_once(project, store, clock, fixed)
            assert case.published(server) == 0

            # The operator moved the version (a reload builds the adapter anew); at the
            # hold's recheck the held posts go out, each once.
            await clock.advance(CREDENTIALS_RECHECK + timedelta(seconds=1))
            await run_once(project, store, clock, fixed)
            deliveries = [d for p in range(5) for d in await store.find(f"p{p}")]
            assert [d.state for d in deliveries] == [DeliveryState.PUBLISHED] * 5
            assert case.published(server) == 5
            state = (await store.account_states())["alpha"]
            assert state.attention is None
    finally:
        await store.close()
