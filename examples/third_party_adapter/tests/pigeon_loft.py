"""The pigeon loft as a local test server on 127.0.0.1, speaking the loft's API.

It keeps every message sent, checks the bearer token, and can be told to answer the next
request to a path with an error (``fail``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from publisher.testing import LocalServer

TOKEN = "loft-token-for-tests-51f0c2"


@dataclass
class Message:
    id: str
    text: str
    created_at: datetime


@dataclass
class Failure:
    status: int
    code: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


def error_body(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


@dataclass
class Loft:
    token: str = TOKEN
    name: str = "Colombier du Port"
    max_length: int = 280
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    messages: list[Message] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._failures: dict[str, list[Failure]] = {}
        self._server: LocalServer | None = None

    def fail(self, path: str, failure: Failure) -> None:
        """Answer the next request to ``path`` with ``failure``."""
        self._failures.setdefault(path, []).append(failure)

    async def _guard(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(
                error_body("unauthorized", "this token opens no loft"), status=401
            )
        queued = self._failures.get(request.path)
        if queued:
            f = queued.pop(0)
            return web.json_response(
                error_body(f.code, f.message), status=f.status, headers=dict(f.headers)
            )
        return None

    def _doc(self, m: Message) -> dict[str, str]:
        return {
            "id": m.id,
            "url": f"{self.url}/m/{m.id}",
            "text": m.text,
            "created_at": m.created_at.isoformat(),
        }

    async def _send(self, request: web.Request) -> web.Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        body = await request.json()
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return web.json_response(error_body("invalid", "a message needs text"), status=400)
        if len(text) > self.max_length:
            return web.json_response(
                error_body("too_long", f"at most {self.max_length} characters"), status=400
            )
        message = Message(f"m{len(self.messages) + 1}", text, self.now())
        self.messages.append(message)
        return web.json_response(self._doc(message), status=201)

    async def _list(self, request: web.Request) -> web.Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        try:
            since = datetime.fromisoformat(request.query["since"])
        except (KeyError, ValueError):
            return web.json_response(error_body("invalid", "since: an ISO time"), status=400)
        sent = [self._doc(m) for m in self.messages if m.created_at >= since]
        return web.json_response({"messages": sent})

    async def _me(self, request: web.Request) -> web.Response:
        refused = await self._guard(request)
        return refused or web.json_response({"loft": self.name})

    async def __aenter__(self) -> Loft:
        app = web.Application()
        app.router.add_post("/v1/messages", self._send)
        app.router.add_get("/v1/messages", self._list)
        app.router.add_get("/v1/me", self._me)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()
