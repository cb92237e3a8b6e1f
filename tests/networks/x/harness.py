"""X in the shared fault harness: faults hit POST /2/tweets, after an image went up."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path

from aiohttp import web

from publisher.adapters.base import AdapterContext, AmbiguousError, MediaItem, PostContent
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from publisher.testing import Fault, HarnessNetwork
from tests.networks.x.errors import ERRORS
from tests.networks.x.server import XServer

MEDIA_ID = "1880000000000000001"
# A real PNG: the adapter checks what it reads is the type the sync recorded.
IMAGE = Path(__file__).parents[2] / "fixtures" / "pixel.png"
IMAGE_SIZE = IMAGE.stat().st_size


CONSUMER_KEY = "harness-consumer-key"


def make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> XAdapter:
    settings = XSettings(
        api_key=Secret("X_API_KEY", CONSUMER_KEY),
        api_secret=Secret("X_API_SECRET", secrets["secret"]),
        access_token=Secret("X_ACCESS_TOKEN", secrets["token"]),
        access_secret=Secret("X_ACCESS_SECRET", secrets["secret"]),
        api_base=base_url,
    )
    return XAdapter("brand-x", settings, context)


@contextlib.asynccontextmanager
async def serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    """The strict X server, for the account ``make`` builds."""
    async with XServer(
        now=clock.now,
        consumer_key=CONSUMER_KEY,
        consumer_secret=secrets["secret"],
        access_token=secrets["token"],
        access_secret=secrets["secret"],
    ) as server:
        yield server.url
        assert server.problems == [], server.problems


async def upload(request: web.Request) -> web.StreamResponse:
    await request.read()
    return web.json_response(
        {
            "data": {
                "id": MEDIA_ID,
                "media_key": f"3_{MEDIA_ID}",
                "size": IMAGE_SIZE,
                "expires_after_secs": 86400,
                "image": {"image_type": "image/png", "w": 1, "h": 1},
            }
        }
    )


async def metadata(request: web.Request) -> web.StreamResponse:
    await request.read()
    return web.json_response({"data": {"id": MEDIA_ID}})


def error_body(status: int) -> Mapping[str, object]:
    """X's about:blank problem document, as its 401/429/5xx answers carry."""
    titles = {401: "Unauthorized", 429: "Too Many Requests", 500: "Internal Server Error",
              503: "Service Unavailable"}
    title = titles.get(status, "Error")
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def rate_limit_headers(reset_at: datetime) -> Mapping[str, str]:
    return {
        "x-rate-limit-limit": "100",
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": str(int(reset_at.timestamp())),
    }


HARNESS = HarnessNetwork(
    network="x",
    make=make,
    content=PostContent(
        post_id="harness-x",
        account="brand-x",
        network="x",
        text="Soldes d'hiver ❄️ https://example.com/soldes #soldes",
        media=(MediaItem(MediaRef.beside(IMAGE), "Vitrine du magasin", "image/png", IMAGE_SIZE),),
    ),
    publish_method="POST",
    publish_path="/2/tweets",
    rate_limit_headers=rate_limit_headers,
    error_body=error_body,
    setup={("POST", "/2/media/upload"): upload, ("POST", "/2/media/metadata"): metadata},
    expected={
        # X's 503 comes from its application tier (an about:blank problem document with an
        # api-version header), i.e. after the request reached the service that creates posts,
        # and POST /2/tweets has no idempotency key: the post may exist, so resolve by lookup
        # rather than retry blindly (a blind retry would also meet the duplicate-content 403).
        Fault.HTTP_503: AmbiguousError,
    },
    # X's documented rate-limit headers are x-rate-limit-reset (above); the adapter does not
    # read Retry-After, so a 429 with only that header backs off like one without a reset.
    unread_resets=frozenset({Fault.RATE_LIMIT_RETRY_AFTER}),
    serve=serve,
    errors=ERRORS,
)
