"""The fault server: a real HTTP server on 127.0.0.1 that answers one request with a fault.

A network's harness row (``HarnessNetwork``) says which request creates a post and how its
setup requests (sessions, instance info, media uploads) are answered. ``FaultServer`` plays
the network: setup requests get the row's own handlers, the publish request gets the fault
(or, ``everywhere=True``, every request does: for lookups and checks). Connection faults
need no server at all: a refused connect, a connect that never completes.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote, quote_plus

from aiohttp import web

from publisher.adapters.base import (
    AdapterError,
    AmbiguousError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from publisher.testing.servers import Blackhole, LocalServer, Refusing


class FaultTarget(Protocol):
    """What the fault server needs of a network's harness row (``HarnessNetwork``): where
    its post request goes, and how its errors and rate-limit headers look."""

    @property
    def publish_method(self) -> str: ...
    @property
    def publish_path(self) -> str: ...
    @property
    def setup(self) -> Mapping[tuple[str, str], Handler]: ...
    @property
    def rate_limit_headers(self) -> Callable[[datetime], Mapping[str, str]]: ...
    @property
    def error_body(self) -> Callable[[int], Mapping[str, object]]: ...


class Fault(StrEnum):
    HTTP_500 = "http-500"
    HTTP_503 = "http-503"
    RATE_LIMIT_WITH_RESET = "429-with-reset"  # the network's own reset headers
    RATE_LIMIT_RETRY_AFTER = "429-retry-after"  # Retry-After in seconds, nothing else
    RATE_LIMIT_NO_RESET = "429-without-reset"
    CONNECTION_REFUSED = "connection-refused"  # nothing listens: nothing left
    TIMEOUT_BEFORE_BODY = "timeout-before-body"  # connect never completes
    TIMEOUT_AFTER_BODY = "timeout-after-body"  # body read, no answer ever
    RESET_AFTER_BODY = "reset-after-body"  # body read, connection dropped
    RESET_MID_ANSWER = "reset-mid-answer"  # 200 and half its body, then dropped
    HTML_ERROR = "html-error-body"  # 502 with an HTML page
    EMPTY_ANSWER = "empty-200"  # 200 with no body at all
    TRUNCATED_JSON = "truncated-json"  # 200 with half a JSON document
    INVALID_JSON = "invalid-json"  # 200 with something that is not JSON
    UNEXPECTED_SHAPE = "unexpected-shape"  # 200 with JSON of the wrong shape
    UNAUTHORIZED = "401"
    UNAUTHORIZED_ECHO = "401-quoting-the-request"  # the request, credentials and all, quoted


# What each fault must become unless a network says otherwise. A 5xx or a garbage 200
# after the body left may mean the post exists: ambiguous, never a blind retry. A connect
# that failed sent nothing: transient.
DEFAULT_EXPECTED: Mapping[Fault, type[AdapterError]] = {
    Fault.HTTP_500: AmbiguousError,
    Fault.HTTP_503: TransientError,
    Fault.RATE_LIMIT_WITH_RESET: RateLimitedError,
    Fault.RATE_LIMIT_RETRY_AFTER: RateLimitedError,
    Fault.RATE_LIMIT_NO_RESET: RateLimitedError,
    Fault.CONNECTION_REFUSED: TransientError,
    Fault.TIMEOUT_BEFORE_BODY: TransientError,
    Fault.TIMEOUT_AFTER_BODY: AmbiguousError,
    Fault.RESET_AFTER_BODY: AmbiguousError,
    Fault.RESET_MID_ANSWER: AmbiguousError,
    Fault.HTML_ERROR: AmbiguousError,
    Fault.EMPTY_ANSWER: AmbiguousError,
    Fault.TRUNCATED_JSON: AmbiguousError,
    Fault.INVALID_JSON: AmbiguousError,
    Fault.UNEXPECTED_SHAPE: AmbiguousError,
    Fault.UNAUTHORIZED: PermanentError,
    Fault.UNAUTHORIZED_ECHO: PermanentError,
}

# The harness's clock starts at HARNESS_NOW; a rate limit resets at RESET_AT.
HARNESS_NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RESET_AT = datetime(2026, 12, 1, 9, 15, tzinfo=UTC)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# How a careless server or proxy quotes a request back: each form in turn, in one answer.
ECHO_FORMS: Mapping[str, Callable[[str], str]] = {
    "as sent": lambda t: t,
    "percent-encoded": lambda t: quote(t, safe=""),
    "form-encoded": quote_plus,
    "JSON, slashes escaped": lambda t: json.dumps(t)[1:-1].replace("/", "\\/"),
    "base64": lambda t: base64.b64encode(t.encode()).decode(),
    "base64url": lambda t: base64.urlsafe_b64encode(t.encode()).decode().rstrip("="),
    "hex": lambda t: t.encode().hex(),
}


def echo_of(request: web.Request, body: bytes) -> str:
    """The request line, every header and the body, quoted back in each of ``ECHO_FORMS``."""
    lines = [f"{request.method} {request.path_qs}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines.append(body[:2000].decode("utf-8", "replace"))
    text = "\n".join(lines)
    return " ".join(f"[{name}] {form(text)}" for name, form in ECHO_FORMS.items())


def _with_echo(doc: object, echo: str) -> object:
    """``doc`` with ``echo`` after every string in it: wherever the adapter reads its
    message from, the quoted request is there."""
    if isinstance(doc, str):
        return f"{doc} {echo}"
    if isinstance(doc, Mapping):
        return {k: _with_echo(v, echo) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_with_echo(v, echo) for v in doc]
    return doc


class FaultServer:
    """A real HTTP server on 127.0.0.1 that answers the publish request with one fault.

    ``everywhere``: every request gets the fault, setup requests included (a lookup or a
    check against a network that fails).
    """

    def __init__(self, net: FaultTarget, fault: Fault, *, everywhere: bool = False) -> None:
        self.net = net
        self.fault = fault
        self.everywhere = everywhere
        self.hits: list[tuple[str, str]] = []
        self._server: LocalServer | None = None
        self._blackhole = Blackhole()
        self._refusing = Refusing()
        self._hang = asyncio.Event()
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append((request.method, request.path))
        key = (request.method, request.path)
        if not self.everywhere and key != (self.net.publish_method, self.net.publish_path):
            handler = self.net.setup.get(key)
            if handler is None:
                return web.json_response({"error": f"no route {key}"}, status=404)
            return await handler(request)
        body = await request.read()  # the body has left the client
        return await self.answer(request, body)

    async def answer(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """The fault, as the answer to ``request`` (whose ``body`` was read)."""
        f = self.fault
        if f in (Fault.HTTP_500, Fault.HTTP_503, Fault.UNAUTHORIZED):
            status = {Fault.HTTP_500: 500, Fault.HTTP_503: 503, Fault.UNAUTHORIZED: 401}[f]
            return web.json_response(self.net.error_body(status), status=status)
        if f is Fault.UNAUTHORIZED_ECHO:
            doc = _with_echo(self.net.error_body(401), echo_of(request, body))
            return web.json_response(doc, status=401)
        if f is Fault.RATE_LIMIT_WITH_RESET:
            headers = dict(self.net.rate_limit_headers(RESET_AT))
            return web.json_response(self.net.error_body(429), status=429, headers=headers)
        if f is Fault.RATE_LIMIT_RETRY_AFTER:
            seconds = int((RESET_AT - HARNESS_NOW).total_seconds())
            headers = {"Retry-After": str(seconds)}
            return web.json_response(self.net.error_body(429), status=429, headers=headers)
        if f is Fault.RATE_LIMIT_NO_RESET:
            return web.json_response(self.net.error_body(429), status=429)
        if f is Fault.TIMEOUT_AFTER_BODY:
            await self._hang.wait()
        if f is Fault.RESET_AFTER_BODY:
            assert request.transport is not None
            request.transport.abort()
            await self._hang.wait()
        if f is Fault.RESET_MID_ANSWER:
            return await self._reset_mid_answer(request)
        if f is Fault.HTML_ERROR:
            return web.Response(
                status=502,
                text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            )
        if f is Fault.EMPTY_ANSWER:
            return web.Response(status=200, body=b"", content_type="application/json")
        if f is Fault.TRUNCATED_JSON:
            return web.Response(
                status=200, text='{"data": {"id": "12', content_type="application/json"
            )
        if f is Fault.INVALID_JSON:
            return web.Response(status=200, text="OK, posted!", content_type="application/json")
        if f is Fault.UNEXPECTED_SHAPE:
            return web.json_response({"unexpected": [1, 2, 3]})
        raise AssertionError(f"{f} is not answered by a server")

    async def _reset_mid_answer(self, request: web.Request) -> web.StreamResponse:
        """A 200 announcing a whole JSON document, half of it sent, then the line cut."""
        doc = json.dumps({"id": "1234567890", "data": {"id": "1234567890"}, "pad": "x" * 4096})
        data = doc.encode()
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "application/json", "Content-Length": str(len(data))},
        )
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        assert request.transport is not None
        request.transport.abort()
        await self._hang.wait()
        return response

    async def __aenter__(self) -> FaultServer:
        if self.fault is Fault.TIMEOUT_BEFORE_BODY:
            self.url = self._blackhole.open()
            return self
        if self.fault is Fault.CONNECTION_REFUSED:
            self.url = self._refusing.open()
            return self
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._hang.set()
        self._blackhole.close()
        self._refusing.close()
        if self._server is not None:
            await self._server.stop()
