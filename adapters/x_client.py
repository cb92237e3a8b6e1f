"""tweepy's v2 client on the X adapter's transport, and tweepy's exception for an error status.

A module of its own so that rendering X posts (``validate``, ``dry-run``) never imports tweepy
(nor requests, which it brings): ``publisher.adapters.x`` imports this one where it makes a
request (``tests/test_fast_start.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from tweepy.asynchronous import AsyncClient
from tweepy.errors import (
    BadRequest,
    Forbidden,
    HTTPException,
    NotFound,
    TooManyRequests,
    TwitterServerError,
    Unauthorized,
)

if TYPE_CHECKING:
    from publisher.adapters.x import _Transport


def http_error(response: aiohttp.ClientResponse, body: bytes) -> HTTPException:
    """tweepy's exception for a status; tolerant of HTML and empty error bodies."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    document: dict[str, Any] = doc if isinstance(doc, dict) else {}
    status = response.status
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset", "")
        return TooManyRequests(
            response,
            response_json=document,
            reset_time=int(reset) if reset.isdigit() else None,
        )
    by_status: dict[int, type[HTTPException]] = {
        400: BadRequest,
        401: Unauthorized,
        403: Forbidden,
        404: NotFound,
    }
    cls = by_status.get(status, TwitterServerError if status >= 500 else HTTPException)
    return cls(response, response_json=document)


class XClient(AsyncClient):  # type: ignore[misc]
    """tweepy's v2 client on our transport.

    ``AsyncBaseClient.request`` is the only method that touches the network; it is replaced so
    that requests go to ``api_base`` (the host is hard-coded in tweepy), are signed for that
    host, run on the engine's shared session (tweepy would otherwise open and close a session
    per call), honour the engine's timeouts and never log credentials. ``return_type=dict``
    keeps X's JSON as it came, so shapes are checked here rather than inside tweepy's models.
    ``wait_on_rate_limit`` stays off: tweepy would spin on a 429 that has no reset header.
    """

    def __init__(self, transport: _Transport) -> None:
        super().__init__(return_type=dict, wait_on_rate_limit=False)
        self.session = transport.session
        self._transport = transport

    async def request(
        self,
        method: str,
        route: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        user_auth: bool = False,
    ) -> aiohttp.ClientResponse:
        # user_auth is moot: every call is made in the account's user context.
        query = sorted((k, str(v)) for k, v in (params or {}).items())
        response, _ = await self._transport.send(method, route, query=query, json_body=json)
        return response  # its body is cached: tweepy's response.json() reads it
