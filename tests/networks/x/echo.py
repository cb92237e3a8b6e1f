"""The strict X server, refusing every post with an error that quotes the request back.

Servers and the proxies in front of them do this: a debug field with the request's
``Authorization`` header, re-encoded (percent-encoded, base64, a JWT-like blob, JSON with
escaped slashes, hex), and the post's own text. ``EchoingX`` answers ``POST /2/tweets`` with
``status`` and such an echo, one encoding per request in turn (``ECHOES``), after the strict
server has checked the request's signature or token like any other.
"""

from __future__ import annotations

import base64
import contextvars
import itertools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from aiohttp import web

from tests.networks.x.server import INVALID_REQUEST, Recorded, Reject, XServer

_REQUEST: contextvars.ContextVar[web.Request] = contextvars.ContextVar("echo_request")


def _credentials(header: str) -> list[str]:
    """The credentials in an ``Authorization`` header: an OAuth 1.0a header's consumer key
    and token (percent-decoded, as the server reads them), or a bearer token."""
    if header.startswith("Bearer "):
        return [header[len("Bearer ") :]]
    params = dict(re.findall(r'(\w+)="([^"]*)"', header))
    return [unquote(params["oauth_consumer_key"]), unquote(params["oauth_token"])]


def _b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def _b64url(data: str) -> str:
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


# Each: (name, what the debug field says given the Authorization header).
ECHOES: list[tuple[str, Callable[[str], str]]] = [
    ("header as sent", lambda h: f"auth={h}"),
    ("header percent-encoded", lambda h: "auth=" + quote(h, safe="")),
    ("header form-encoded", lambda h: "auth=" + quote_plus(h)),
    ("credentials in a Basic header", lambda h: "Basic " + _b64(":".join(_credentials(h)))),
    ("credentials base64, one by one", lambda h: " ".join(_b64("x" + c) for c in _credentials(h))),
    ("JWT-like blob", lambda h: "trace=" + _b64url(json.dumps({"sub": "1", "authorization": h}))),
    ("JSON with escaped slashes", lambda h: json.dumps({"authorization": h}).replace("/", "\\/")),
    ("credentials hex", lambda h: " ".join(c.encode().hex() for c in _credentials(h))),
    ("credentials in a URL", lambda h: "see https://debug.example/?" + "&".join(
        f"c{i}={quote(c, safe='')}" for i, c in enumerate(_credentials(h)))),
]


class EchoingX(XServer):
    """Refuses each post with ``status`` and the next echo of ``ECHOES``, and the post's text
    when ``echo_text`` is set."""

    def __init__(self, *, status: int = 400, echo_text: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = status
        self.echo_text = echo_text
        self.echoed: list[str] = []
        self._turn = itertools.count()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        _REQUEST.set(request)
        return await super()._handle(request)

    async def _dispatch(
        self, route: str, path_id: str | None, record: Recorded
    ) -> tuple[int, dict[str, Any]]:
        if route != "/2/tweets":
            return await super()._dispatch(route, path_id, record)
        header = _REQUEST.get().headers["Authorization"]
        name, echo = ECHOES[next(self._turn) % len(ECHOES)]
        message = f"request refused ({name}): {echo(header)}"
        if self.echo_text:
            message += f"; your text: {record.json.get('text', '')}"
        self.echoed.append(message)
        if self.status == 401:
            body: dict[str, Any] = {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": message,
            }
        else:
            body = {
                "errors": [{"message": message, "parameters": {}}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": INVALID_REQUEST,
            }
        raise Reject(self.status, body, f"echo: {name}")
