"""What every strict network test server shares: its start-up, and the answers tests inject.

A network's test server (``tests/networks/<net>/server.py``) speaks the network's documented
API and refuses what the network would (or, stricter, what it would silently ignore). Around
that, each needs the same plumbing, written once here:

- ``StrictServer``: served on 127.0.0.1 (``LocalServer``, without an access log: paging
  URLs carry tokens), as an ``async with`` block; ``route(request)`` is the network's own;
  raising ``Reject(response)`` anywhere in it answers with that response.
- Injected answers per endpoint (``inject_raw``, ``inject_drop``), taken by the endpoint with
  ``take(endpoint)``: an answer instead of the work, or after it (``commit``: the request
  "landed" and its answer was lost), or a connection reset (``drop``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from publisher.testing.servers import LocalServer


@dataclass
class Injection:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]
    commit: bool  # do the work first, then answer with this (the request "landed")
    drop: bool = False  # no answer at all: the connection is reset


class Reject(Exception):
    """Answer the request being routed with ``response`` at once."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__(response.status)
        self.response = response


class _Drop(Exception):
    pass


class StrictServer:
    """A network's test server: lifecycle and injections (see the module's docstring).
    Subclasses (dataclasses, usually) call ``super().__post_init__()``."""

    url: str
    client_max_size = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        self._server: LocalServer | None = None
        self._injections: dict[str, list[Injection]] = {}

    @abstractmethod
    async def route(self, request: web.Request) -> web.StreamResponse:
        """The network's answer to ``request`` (or ``Reject``)."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        app = web.Application(client_max_size=self.client_max_size)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = LocalServer(app, access_log=False)
        self.url = await self._server.start()
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def __aenter__(self) -> StrictServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self.route(request)
        except Reject as reject:
            return reject.response
        except _Drop:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=204)  # never reaches the client

    # ------------------------------------------------------------------ injections

    def inject_raw(
        self,
        endpoint: str,
        status: int,
        body: str,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        commit: bool = False,
        times: int = 1,
    ) -> None:
        """The next ``times`` valid requests to ``endpoint`` get exactly this answer."""
        injection = Injection(status, body.encode(), content_type, dict(headers or {}), commit)
        self._injections.setdefault(endpoint, []).extend([injection] * times)

    def inject_drop(self, endpoint: str, *, commit: bool = False, times: int = 1) -> None:
        """The next ``times`` valid requests to ``endpoint`` see their connection reset."""
        injection = Injection(0, b"", "", {}, commit, drop=True)
        self._injections.setdefault(endpoint, []).extend([injection] * times)

    def take(self, endpoint: str) -> Injection | None:
        """The next answer injected for ``endpoint``, if any (the endpoint calls it once
        the request is found valid)."""
        queue = self._injections.get(endpoint)
        return queue.pop(0) if queue else None

    @staticmethod
    def answer(injection: Injection) -> web.Response:
        """The injected answer (a dropped connection is raised, and done by ``_handle``)."""
        if injection.drop:
            raise _Drop
        return web.Response(
            status=injection.status,
            body=injection.body,
            content_type=injection.content_type,
            headers=injection.headers,
        )
