"""One table-driven fault harness that every HTTP adapter passes.

A network joins by defining, in ``tests/networks/<network>/harness.py``, a module-level
``HARNESS = HarnessNetwork(...)``. ``test_fault_harness.py`` finds every such module and runs
each fault mode against each network: a real aiohttp server on 127.0.0.1 answers the
network's *publish* request with the fault, while its setup requests (sessions, instance
info, media uploads) are answered by the network's own ``setup`` handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from aiohttp import web

from publisher.adapters.base import (
    Adapter,
    AdapterContext,
    AdapterError,
    AmbiguousError,
    PermanentError,
    PostContent,
    RateLimitedError,
    TransientError,
)


class Fault(StrEnum):
    HTTP_500 = "http-500"
    HTTP_503 = "http-503"
    RATE_LIMIT_WITH_RESET = "429-with-reset"
    RATE_LIMIT_NO_RESET = "429-without-reset"
    TIMEOUT_BEFORE_BODY = "timeout-before-body"  # connect never completes
    TIMEOUT_AFTER_BODY = "timeout-after-body"  # body read, no answer ever
    RESET_AFTER_BODY = "reset-after-body"  # body read, connection dropped
    HTML_ERROR = "html-error-body"  # 502 with an HTML page
    TRUNCATED_JSON = "truncated-json"  # 200 with half a JSON document
    INVALID_JSON = "invalid-json"  # 200 with something that is not JSON
    UNEXPECTED_SHAPE = "unexpected-shape"  # 200 with JSON of the wrong shape
    UNAUTHORIZED = "401"


# What each fault must become unless a network says otherwise. A 5xx or a garbage 200
# after the body left may mean the post exists: ambiguous, never a blind retry.
DEFAULT_EXPECTED: dict[Fault, type[AdapterError]] = {
    Fault.HTTP_500: AmbiguousError,
    Fault.HTTP_503: TransientError,
    Fault.RATE_LIMIT_WITH_RESET: RateLimitedError,
    Fault.RATE_LIMIT_NO_RESET: RateLimitedError,
    Fault.TIMEOUT_BEFORE_BODY: TransientError,
    Fault.TIMEOUT_AFTER_BODY: AmbiguousError,
    Fault.RESET_AFTER_BODY: AmbiguousError,
    Fault.HTML_ERROR: AmbiguousError,
    Fault.TRUNCATED_JSON: AmbiguousError,
    Fault.INVALID_JSON: AmbiguousError,
    Fault.UNEXPECTED_SHAPE: AmbiguousError,
    Fault.UNAUTHORIZED: PermanentError,
}

RESET_AT = datetime(2026, 12, 1, 9, 15, tzinfo=UTC)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class HarnessNetwork:
    """How to point one network's adapter at the fault server.

    ``make(base_url, context, secrets)`` builds the adapter for an account whose secret
    values are ``secrets`` (the harness checks none of them leaks into an error), using the
    ``context`` the harness gives (its HTTP session has short timeouts).
    ``publish_path`` is the path of the request the fault applies to; ``setup`` answers
    every other (method, path) the adapter needs before it.
    ``rate_limit_headers(reset_at)`` are the headers of the network's 429 with a reset.
    ``error_body(status)`` is the network's JSON error document for an HTTP status.
    """

    network: str
    make: Callable[[str, AdapterContext, Mapping[str, str]], Adapter]
    content: PostContent
    publish_method: str
    publish_path: str
    rate_limit_headers: Callable[[datetime], Mapping[str, str]]
    error_body: Callable[[int], Mapping[str, object]]
    setup: Mapping[tuple[str, str], Handler] = field(default_factory=dict)
    expected: Mapping[Fault, type[AdapterError]] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(
        default_factory=lambda: {
            "token": "SECRET-harness-token-7f3a9c",
            "secret": "SECRET-harness-secret-b41d2e",
        }
    )

    def expect(self, fault: Fault) -> type[AdapterError]:
        return self.expected.get(fault, DEFAULT_EXPECTED[fault])


class FaultServer:
    """A real HTTP server on 127.0.0.1 that answers the publish request with one fault."""

    def __init__(self, net: HarnessNetwork, fault: Fault) -> None:
        self.net = net
        self.fault = fault
        self.hits: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self._blackhole: socket.socket | None = None
        self._fillers: list[socket.socket] = []
        self._hang = asyncio.Event()
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append((request.method, request.path))
        key = (request.method, request.path)
        if key != (self.net.publish_method, self.net.publish_path):
            handler = self.net.setup.get(key)
            if handler is None:
                return web.json_response({"error": f"no route {key}"}, status=404)
            return await handler(request)
        await request.read()  # the body has left the client
        f = self.fault
        if f in (Fault.HTTP_500, Fault.HTTP_503, Fault.UNAUTHORIZED):
            status = {Fault.HTTP_500: 500, Fault.HTTP_503: 503, Fault.UNAUTHORIZED: 401}[f]
            return web.json_response(self.net.error_body(status), status=status)
        if f is Fault.RATE_LIMIT_WITH_RESET:
            headers = dict(self.net.rate_limit_headers(RESET_AT))
            return web.json_response(self.net.error_body(429), status=429, headers=headers)
        if f is Fault.RATE_LIMIT_NO_RESET:
            return web.json_response(self.net.error_body(429), status=429)
        if f is Fault.TIMEOUT_AFTER_BODY:
            await self._hang.wait()
        if f is Fault.RESET_AFTER_BODY:
            assert request.transport is not None
            request.transport.abort()
            await self._hang.wait()
        if f is Fault.HTML_ERROR:
            return web.Response(
                status=502,
                text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            )
        if f is Fault.TRUNCATED_JSON:
            return web.Response(
                status=200, text='{"data": {"id": "12', content_type="application/json"
            )
        if f is Fault.INVALID_JSON:
            return web.Response(status=200, text="OK, posted!", content_type="application/json")
        if f is Fault.UNEXPECTED_SHAPE:
            return web.json_response({"unexpected": [1, 2, 3]})
        raise AssertionError(f"unhandled fault {f}")

    async def __aenter__(self) -> FaultServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        if self.fault is Fault.TIMEOUT_BEFORE_BODY:
            self.url = self._blackhole_url()
        return self

    def _blackhole_url(self) -> str:
        """A listener whose accept queue is full: the connect itself times out."""
        bh = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        bh.bind(("127.0.0.1", 0))
        bh.listen(0)
        port = bh.getsockname()[1]
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            self._fillers.append(filler)
        self._blackhole = bh
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self._hang.set()
        for s in self._fillers:
            s.close()
        if self._blackhole is not None:
            self._blackhole.close()
        if self._runner is not None:
            await self._runner.cleanup()


HARNESS_TIMEOUT = timedelta(seconds=1.5)
