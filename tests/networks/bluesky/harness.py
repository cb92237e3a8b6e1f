"""Bluesky in the shared fault harness: faults hit ``POST /xrpc/com.atproto.repo.createRecord``.

The fault server plays the PDS: its setup handlers answer ``createSession`` and
``refreshSession`` as the reference PDS does, and ``getRecord`` with ``RecordNotFound``.

Overrides, and why they are right: every post is created under a deterministic record key
(a TID derived from the delivery), and a PDS never holds two records under one key. So when
the answer to a create is lost (timeout, reset, cut mid-answer), garbled (HTML, empty,
truncated or unexpected JSON) or a 5xx, the adapter asks ``getRecord`` for that key: there,
the post is published; proved absent or not checkable, sending again is safe because a
resend either creates the post or collides with the one already there. That is
``TransientError``, not ``AmbiguousError``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime

from aiohttp import web

from publisher.adapters.base import AdapterContext, AdapterError, PostContent, TransientError
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import Fault, HarnessNetwork
from tests.networks.bluesky.errors import ERRORS
from tests.networks.bluesky.xrpc import Xrpc

HANDLE = "brand.bsky.social"
DID = "did:plc:harnessbrand00000000000"
ACCESS = "SECRET-harness-token-7f3a9c"  # the harness's "token" secret: must never leak


def _session_doc(access: str) -> dict[str, object]:
    return {
        "did": DID,
        "handle": HANDLE,
        "accessJwt": access,
        "refreshJwt": f"refresh-{access}",
        "active": True,
    }


async def _create_session(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if body.get("identifier") != HANDLE or not body.get("password"):
        return web.json_response(
            {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
            status=401,
        )
    return web.json_response(_session_doc(ACCESS))


async def _refresh_session(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Authorization") != f"Bearer refresh-{ACCESS}":
        return web.json_response(
            {"error": "ExpiredToken", "message": "Token has been revoked"}, status=400
        )
    return web.json_response(_session_doc(ACCESS))


async def _get_record(request: web.Request) -> web.StreamResponse:
    uri = f"at://{DID}/app.bsky.feed.post/{request.query.get('rkey', '')}"
    return web.json_response(
        {"error": "RecordNotFound", "message": f"Could not locate record: {uri}"}, status=400
    )


def _make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> BlueskyAdapter:
    settings = BlueskySettings(
        pds=base_url, handle=HANDLE, app_password=Secret("BSKY_APP_PASSWORD", secrets["secret"])
    )
    return BlueskyAdapter("brand-bsky", settings, context)


@contextlib.asynccontextmanager
async def _serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    """The XRPC stand-in, its access tokens made from the harness's token secret."""
    async with Xrpc(access=secrets["token"]) as pds:
        yield pds.url


def _rate_limit_headers(reset_at: datetime) -> Mapping[str, str]:
    """The headers of the PDS's rate limiter (xrpc-server): reset in epoch seconds."""
    return {
        "RateLimit-Limit": "5000",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(int(reset_at.timestamp())),
        "RateLimit-Policy": "5000;w=3600",
    }


def _error_body(status: int) -> Mapping[str, object]:
    """XRPC error documents as the reference PDS sends them."""
    if status == 401:
        return {"error": "AuthenticationRequired", "message": "Authentication Required"}
    if status == 429:
        return {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
    if status == 503:
        return {"error": "NotEnoughResources", "message": "Service Unavailable"}
    return {"error": "InternalServerError", "message": "Internal Server Error"}


_RESEND_IS_SAFE: dict[Fault, type[AdapterError]] = {
    fault: TransientError
    for fault in (
        Fault.HTTP_500,
        Fault.TIMEOUT_AFTER_BODY,
        Fault.RESET_AFTER_BODY,
        Fault.RESET_MID_ANSWER,
        Fault.HTML_ERROR,
        Fault.EMPTY_ANSWER,
        Fault.TRUNCATED_JSON,
        Fault.INVALID_JSON,
        Fault.UNEXPECTED_SHAPE,
    )
}

HARNESS = HarnessNetwork(
    network="bluesky",
    make=_make,
    content=PostContent(
        post_id="winter-sale-launch",
        account="brand-bsky",
        network="bluesky",
        text="Les soldes d'hiver commencent ! ❄️ #soldes\nhttps://example.com/soldes",
        language="fr",
    ),
    publish_method="POST",
    publish_path="/xrpc/com.atproto.repo.createRecord",
    rate_limit_headers=_rate_limit_headers,
    error_body=_error_body,
    setup={
        ("POST", "/xrpc/com.atproto.server.createSession"): _create_session,
        ("POST", "/xrpc/com.atproto.server.refreshSession"): _refresh_session,
        ("GET", "/xrpc/com.atproto.repo.getRecord"): _get_record,
    },
    expected=_RESEND_IS_SAFE,
    secrets={"token": ACCESS, "secret": "SECRET-harness-secret-b41d2e"},
    serve=_serve,
    errors=ERRORS,
)
