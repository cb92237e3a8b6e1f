"""What the harness rows and error tables of Instagram and Threads share.

The fault server plays the network up to the publish request (``POST /{user}/{publish}``,
where the fault hits): its setup handlers answer the publishing limit (nothing spent), the
container's creation and its status (``FINISHED``), and, for a post with media, the public
media directory the ``DirectoryHost`` writes into and checks (``media_setup``).

No ``expected`` override: Graph has no idempotency key, so a lost or garbled answer to the
publish is ambiguous (the lookup settles it), exactly the harness's defaults; every request
before it creates nothing anyone sees.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from publisher.adapters.base import (
    AdapterContext,
    AdapterError,
    Attention,
    MediaItem,
    TransientError,
)
from publisher.adapters.containers import ContainerAdapter
from publisher.clock import FakeClock
from publisher.engine.decide import GiveUp
from publisher.media import MediaRef
from publisher.mediahost.directory import DirectoryHost
from publisher.mediahost.served import content_name
from publisher.states import Outcome
from publisher.testing import (
    BACKOFF,
    CREDENTIALS,
    HARNESS_NOW,
    NOW,
    ErrorCase,
    Expect,
    ambiguous,
    rate_limited,
    refused,
    transient,
)
from publisher.testing.errors import POLICY, TIMEOUT
from publisher.testing.faults import Handler
from publisher.testing.graph import error_body, usage_headers
from tests.networks.containers import ContainerServer, Dialect

CONTAINER_ID = "17999000000000001"
MEDIA_PREFIX = "/public/"
# The harness's DirectoryHost writes here (it lives as long as the test process).
_PUBLIC = tempfile.TemporaryDirectory(prefix="publisher-harness-public-")


def setup(dialect: Dialect, version: str, user_id: str) -> dict[tuple[str, str], Handler]:
    """The answers before the publish: limit, container, status."""
    base = f"/{version}/{user_id}"

    async def limit(request: web.Request) -> web.StreamResponse:
        config = {"quota_total": dialect.quota_total, "quota_duration": 86400}
        return web.json_response({"data": [{"quota_usage": 0, "config": config}]})

    async def create(request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": CONTAINER_ID})

    async def status(request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": CONTAINER_ID, dialect.status_field: "FINISHED"})

    return {
        ("GET", f"{base}/{dialect.limit}"): limit,
        ("POST", f"{base}/{dialect.create}"): create,
        ("GET", f"/{version}/{CONTAINER_ID}"): status,
    }


def media_setup(data: bytes, suffix: str) -> dict[tuple[str, str], Handler]:
    """The public directory serving ``data`` under its content-hash name."""
    name = content_name(hashlib.sha256(data).hexdigest(), suffix)

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, content_type="application/octet-stream")

    return {("GET", MEDIA_PREFIX + name): serve}


def with_host(base_url: str, context: AdapterContext) -> AdapterContext:
    """``context`` with a real ``DirectoryHost`` over the harness's public directory, its
    URLs under ``base_url`` (the fault server answers them: ``media_setup``). Without a
    session (rendering only) there is nothing to fetch with, and no host."""
    if context.session is None:
        return context
    host = DirectoryHost(Path(_PUBLIC.name), base_url + MEDIA_PREFIX, context.session)
    return replace(context, host=host)


def rate_limit_headers(reset_at: datetime) -> Mapping[str, str]:
    return usage_headers((reset_at - HARNESS_NOW).total_seconds() / 60)


def harness_error_body(status: int) -> Mapping[str, object]:
    """What Graph sends with each status the harness uses."""
    if status == 401:
        return error_body(190, "Error validating access token: The session has been invalidated")
    if status == 429:
        return error_body(4, "(#4) Application request limit reached")
    if status in (500, 503):
        return error_body(
            2,
            "An unexpected error has occurred. Please retry your request later.",
            is_transient=True,
        )
    return error_body(1, "An unknown error has occurred.")


def graph(code: int, **kw: Any) -> Callable[[ContainerServer], object]:
    return lambda s: s.inject_error("publish", code, f"injected Graph error {code}", **kw)


def spent(hours_left: int) -> Callable[[ContainerServer], object]:
    """The account's limit spent, the oldest post inside the window leaving it in
    ``hours_left`` hours."""

    def fill(server: ContainerServer) -> None:
        first = NOW - timedelta(hours=24 - hours_left)
        for i in range(server.total):
            server.add_post(f"earlier post {i}", first + timedelta(seconds=i))

    return fill


def cases(extra: list[ErrorCase]) -> list[ErrorCase]:
    """The Graph codes on the publish request, the publishing limit, and ``extra``."""
    return [
        ErrorCase("code 1 (HTTP 500): the post may exist", ambiguous(), graph(1)),
        ErrorCase("code 2 (HTTP 503)", transient(), graph(2, status=503)),
        ErrorCase("is_transient", transient(), graph(100, is_transient=True)),
        ErrorCase("code 4 (application limit)", rate_limited(BACKOFF), graph(4)),
        ErrorCase("code 17 (user limit)", rate_limited(BACKOFF), graph(17)),
        ErrorCase(
            "code 32 (usage says 5 minutes)",
            rate_limited(NOW + timedelta(minutes=5)),
            graph(32, headers=usage_headers(5)),
        ),
        ErrorCase(
            "code 613 (Retry-After)",
            rate_limited(NOW + timedelta(seconds=90)),
            graph(613, headers={"Retry-After": "90"}),
        ),
        ErrorCase(
            "code 9/2207042 (publishing limit, refused at publish)",
            rate_limited(BACKOFF),
            graph(9, subcode=2207042),
        ),
        ErrorCase(
            "publishing limit spent before publishing: held until the window frees",
            rate_limited(NOW + timedelta(hours=3)),
            spent(3),
        ),
        ErrorCase("code 190 (token invalid)", CREDENTIALS, graph(190)),
        ErrorCase("code 190 (HTTP 401, wrong token)", CREDENTIALS, settings={"token": "wrong"}),
        ErrorCase("code 10 (permission)", refused(Attention.PERMISSION), graph(10)),
        ErrorCase("code 200 (permission)", refused(Attention.PERMISSION), graph(200)),
        ErrorCase(
            "code 368 (blocked for policy)",
            rate_limited(NOW + timedelta(hours=24), Attention.FLAGGED),
            graph(368),
        ),
        ErrorCase("code 100 (invalid parameter)", refused(Attention.CONTENT), graph(100)),
        ErrorCase(
            "code 2 (HTTP 503) on the last attempt",
            Expect(TransientError, GiveUp, outcome=Outcome.TRANSIENT, attempt=POLICY.max_attempts),
            graph(2, status=503),
        ),
        *extra,
    ]


LISTED = [
    "code 1 ",
    "code 2 ",
    "is_transient",
    "code 4 ",
    "code 17 ",
    "code 32 ",
    "code 613 ",
    "code 9/2207042",
    "publishing limit spent",
    "code 190 ",
    "code 10 ",
    "code 200 ",
    "code 368 ",
    "code 100 ",
]

Publish = Callable[[ContainerAdapter, FakeClock], Awaitable[AdapterError | None]]


async def drive(
    case: ErrorCase,
    clock: FakeClock,
    session: aiohttp.ClientSession,
    server: ContainerServer,
    make: Callable[[str, AdapterContext], ContainerAdapter],
    publish: Publish,
) -> AdapterError | None:
    """Run ``case`` against ``server`` (not started yet) with the adapter ``make`` builds;
    containers are ready at once (the clock stays at ``NOW``: polling is tested apart)."""
    server.processing_polls = 0
    async with server:
        if case.inject is not None:
            case.inject(server)
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = make(server.url, context)
        return await publish(adapter, clock)


def public_dir() -> Path:
    """The harness's public directory (a container server may serve it: ``public_dir``)."""
    return Path(_PUBLIC.name)


def public_files() -> list[bytes]:
    """Every file the harness's host wrote."""
    return [p.read_bytes() for p in Path(_PUBLIC.name).iterdir() if p.is_file()]


_FILES = tempfile.TemporaryDirectory(prefix="publisher-harness-media-")


def media_item(name: str, data: bytes, mime_type: str, alt: str = "") -> MediaItem:
    """A media file for a harness row's post (written once, beside nothing else)."""
    path = Path(_FILES.name) / name
    path.write_bytes(data)
    return MediaItem(MediaRef.beside(path), alt, mime_type, len(data))
