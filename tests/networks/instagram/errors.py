"""Instagram's error table: ``POST /{ig-user-id}/media_publish`` against the Instagram
server, a photo fetched from a really served directory."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import aiohttp

from publisher.adapters.base import AdapterContext, AdapterError, PostContent
from publisher.adapters.containers import ContainerAdapter
from publisher.adapters.instagram import InstagramAdapter, InstagramSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import ErrorCase, ErrorTable, ambiguous, attempt
from publisher.testing.hosting import ServedDirectory
from tests.networks.container_harness import LISTED, cases, drive, graph, media_item
from tests.networks.instagram.server import InstagramServer

TOKEN = "EAAG-ig-token-for-tests-1a2b"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"

POST = PostContent(
    post_id="winter-sale",
    account="brand-ig",
    network="instagram",
    text="Les soldes d'hiver commencent ! Jusqu'à moins cinquante pour cent.",
    media=(media_item("vitrine.jpg", JPEG, "image/jpeg", "La vitrine"),),
)

EXTRA = [
    # Instagram's own server error on the publish: it may be out.
    ErrorCase("code -1 (Instagram server error)", ambiguous(), graph(-1, subcode=2207001)),
]


async def publish(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    with tempfile.TemporaryDirectory() as public:
        async with ServedDirectory(Path(public), session) as served:

            def make(url: str, context: AdapterContext) -> InstagramAdapter:
                token = Secret("IG_TOKEN", case.settings.get("token", TOKEN))
                settings = InstagramSettings(user_id=server.user_id, token=token, api_base=url)
                return InstagramAdapter("brand-ig", settings, replace(context, host=served.host))

            async def run(adapter: ContainerAdapter, clock: FakeClock) -> AdapterError | None:
                return await attempt(adapter, POST, clock)

            server = InstagramServer(token=TOKEN, now=clock.now)
            return await drive(case, clock, session, server, make, run)


ERRORS = ErrorTable(publish, cases(EXTRA), listed=[*LISTED, "code -1 "])
