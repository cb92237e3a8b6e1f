"""tweepy's X API v2 client, its requests sent through the network kit.

tweepy builds each call's route, query and JSON body (``create_tweet``, ``get_me``,
``get_users_tweets``). ``AsyncBaseClient.request``, the one method of it that touches the
network, is replaced: it hard-codes ``api.twitter.com``, opens an aiohttp session of its own
when it has none, logs the Authorization header at DEBUG and ``await``s ``response.json()``
on error bodies that may be HTML. Here it hands the request to ``send`` (``XAdapter``'s:
signed per attempt, sent on the engine's session, refused answers classified by X's table)
and gives tweepy the answer's JSON. ``return_type=dict`` keeps X's JSON as it came, so the
adapter checks its shape; ``wait_on_rate_limit`` stays off: the engine waits, not tweepy.

Imported only when a request is made: tweepy brings aiohttp, oauthlib and requests with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tweepy.asynchronous import AsyncClient

from publisher.adapters.transport import Answer

# (method, route, query, JSON body) -> the answer, any 2xx; anything else raises our error.
Send = Callable[[str, str, Mapping[str, str], Any], Awaitable[Answer]]


class TweepyClient(AsyncClient):  # type: ignore[misc]
    """tweepy's v2 client whose every request goes through ``send``."""

    def __init__(self, send: Send) -> None:
        super().__init__(return_type=dict, wait_on_rate_limit=False)
        self._send = send

    async def request(
        self,
        method: str,
        route: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        user_auth: bool = False,
    ) -> _Body:
        # user_auth is moot: every call is made in the account's user context.
        query = {k: str(v) for k, v in (params or {}).items()}
        return _Body(await self._send(method, route, query, json))


class _Body:
    """What tweepy reads of a response: ``await response.json()``."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer

    async def json(self) -> Any:
        """The answer's JSON; not JSON, our error (``Answer.document``)."""
        return self._answer.document()
