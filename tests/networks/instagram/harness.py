"""Instagram in the shared fault harness: faults hit ``POST /{ig-user-id}/media_publish``.

The post is a photo: the fault server answers the limit, the container and its status, and
serves the public directory the real ``DirectoryHost`` writes the photo into and checks (see
``tests.networks.container_harness``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from publisher.adapters.base import AdapterContext, PostContent
from publisher.adapters.instagram import InstagramAdapter, InstagramSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import HarnessNetwork
from tests.networks.container_harness import (
    harness_error_body,
    media_item,
    media_setup,
    public_dir,
    rate_limit_headers,
    setup,
    with_host,
)
from tests.networks.instagram.errors import ERRORS, JPEG
from tests.networks.instagram.server import INSTAGRAM, InstagramServer

USER_ID = "17841400000000001"


def _make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> InstagramAdapter:
    settings = InstagramSettings(
        user_id=USER_ID, token=Secret("IG_TOKEN", secrets["token"]), api_base=base_url
    )
    return InstagramAdapter("brand-ig", settings, with_host(base_url, context))


@contextlib.asynccontextmanager
async def _serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    async with InstagramServer(
        user_id=USER_ID,
        token=secrets["token"],
        now=clock.now,
        processing_polls=0,
        public_dir=public_dir(),
    ) as server:
        yield server.url


HARNESS = HarnessNetwork(
    network="instagram",
    make=_make,
    content=PostContent(
        post_id="winter-sale-launch",
        account="brand-ig",
        network="instagram",
        text="Les soldes d'hiver commencent ! ❄️ #soldes",
        media=(media_item("soldes.jpg", JPEG, "image/jpeg", "La vitrine des soldes"),),
    ),
    publish_method="POST",
    publish_path=f"/v23.0/{USER_ID}/media_publish",
    setup={**setup(INSTAGRAM, "v23.0", USER_ID), **media_setup(JPEG, ".jpg")},
    rate_limit_headers=rate_limit_headers,
    error_body=harness_error_body,
    serve=_serve,
    errors=ERRORS,
)
