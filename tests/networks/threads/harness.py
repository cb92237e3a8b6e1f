"""Threads in the shared fault harness: faults hit ``POST /{user-id}/threads_publish``; the
fault server answers the limit, the container and its status before it (see
``tests.networks.container_harness``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from publisher.adapters.base import AdapterContext, PostContent
from publisher.adapters.threads import ThreadsAdapter, ThreadsSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import HarnessNetwork
from tests.networks.container_harness import harness_error_body, rate_limit_headers, setup
from tests.networks.threads.errors import ERRORS
from tests.networks.threads.server import THREADS, ThreadsServer

USER_ID = "26000000000000001"


def _make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> ThreadsAdapter:
    settings = ThreadsSettings(
        user_id=USER_ID, token=Secret("THREADS_TOKEN", secrets["token"]), api_base=base_url
    )
    return ThreadsAdapter("brand-threads", settings, context)


@contextlib.asynccontextmanager
async def _serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    async with ThreadsServer(user_id=USER_ID, token=secrets["token"], now=clock.now) as server:
        yield server.url


HARNESS = HarnessNetwork(
    network="threads",
    make=_make,
    content=PostContent(
        post_id="winter-sale-launch",
        account="brand-threads",
        network="threads",
        text="Les soldes d'hiver commencent ! ❄️ #soldes\nhttps://example.com/soldes",
    ),
    publish_method="POST",
    publish_path=f"/v1.0/{USER_ID}/threads_publish",
    setup=setup(THREADS, "v1.0", USER_ID),
    rate_limit_headers=rate_limit_headers,
    error_body=harness_error_body,
    serve=_serve,
    errors=ERRORS,
)
