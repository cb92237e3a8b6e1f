"""Threads' error table: ``POST /{user-id}/threads_publish`` against the Threads server."""

from __future__ import annotations

import aiohttp

from publisher.adapters.base import AdapterContext, AdapterError
from publisher.adapters.containers import ContainerAdapter
from publisher.adapters.threads import ThreadsAdapter, ThreadsSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import ErrorCase, ErrorTable, attempt
from publisher.testing.errors import content
from tests.networks.container_harness import LISTED, cases, drive
from tests.networks.threads.server import ThreadsServer

TOKEN = "THAA-threads-token-for-tests-3c4d"


async def publish(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    def make(url: str, context: AdapterContext) -> ThreadsAdapter:
        token = Secret("THREADS_TOKEN", case.settings.get("token", TOKEN))
        settings = ThreadsSettings(user_id=server.user_id, token=token, api_base=url)
        return ThreadsAdapter("brand-threads", settings, context)

    async def run(adapter: ContainerAdapter, clock: FakeClock) -> AdapterError | None:
        return await attempt(adapter, content("threads"), clock)

    server = ThreadsServer(token=TOKEN, now=clock.now)
    return await drive(case, clock, session, server, make, run)


ERRORS = ErrorTable(publish, cases([]), listed=LISTED)
