"""The OAuth 2 pieces every connect flow shares (RFC 6749, RFC 7636, RFC 8252).

* PKCE S256: a 64-character verifier, its SHA-256 challenge, base64url without padding.
* ``state``: 32 random bytes; a callback carrying another state is ignored, not obeyed.
* The loopback redirect: an aiohttp listener on 127.0.0.1 (a free port, or the one the app
  registration names) that takes one authorization response at ``/callback``. It logs no
  request (the query holds the code).
* The headless fallback: the operator pastes the redirect URL their browser ended on (or just
  the code); the first of the two that brings a code wins.
* ``call``: one JSON request to a network, its failure turned into a ``ConnectError`` whose
  message carries the network's own words, scrubbed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json as jsonlib
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from aiohttp import web

from publisher.connect.flow import ConnectError, Context
from publisher.secrets import REDACTOR

LOOPBACK = "127.0.0.1"
# The loopback port an app registration names by default (X, LinkedIn and Meta want the exact
# redirect URL allowed); ``--port`` chooses another.
REGISTERED_PORT = 8750
CALLBACK = "/callback"
BARE_CODE = re.compile(r"[A-Za-z0-9._~+/=%#!-]{8,}")  # a code as networks write them
DONE_PAGE = "<!doctype html><title>publisher</title><p>Connected: you can close this tab.</p>"


@dataclass(frozen=True)
class Pkce:
    verifier: str = field(repr=False)
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)  # 64 characters, within RFC 7636's 43..128
        return cls(verifier, challenge(verifier))


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Authorization:
    """One authorization request: the URL the browser opens, and what the answer must carry."""

    endpoint: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    pkce: Pkce | None = None
    scope_separator: str = " "
    extra: Mapping[str, str] = field(default_factory=dict)

    def url(self) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope_separator.join(self.scopes),
            "state": self.state,
            **self.extra,
        }
        if self.pkce is not None:
            query["code_challenge"] = self.pkce.challenge
            query["code_challenge_method"] = "S256"
        joiner = "&" if "?" in self.endpoint else "?"
        return f"{self.endpoint}{joiner}{urlencode(query)}"


def code_from(answer: Mapping[str, str], state: str) -> str:
    """The code of an authorization response, after its state; the network's refusal said."""
    if answer.get("state") != state:
        raise ConnectError("the authorization answer carries another state: not ours, refused")
    error = answer.get("error")
    if error:
        detail = answer.get("error_description") or answer.get("error_reason") or ""
        raise ConnectError(f"authorization refused: {error}{': ' + detail if detail else ''}")
    code = answer.get("code")
    if not code:
        raise ConnectError("the authorization answer carries no code")
    REDACTOR.add(code)
    return code


def pasted_answer(text: str) -> dict[str, str]:
    """What the operator pasted: the redirect URL (its query) or a bare code."""
    text = text.strip()
    if "?" in text or "://" in text:
        query = urlsplit(text).query or text.partition("?")[2]
        return {k: v[0] for k, v in parse_qs(query).items() if v}
    return {"code": text} if BARE_CODE.fullmatch(text) else {}


class Loopback:
    """The redirect listener; ``answers`` receives each authorization response with our state."""

    def __init__(self, port: int, state: str) -> None:
        self._port = port
        self._state = state
        self.answers: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._runner: web.AppRunner | None = None
        self.redirect_uri = ""

    async def _callback(self, request: web.Request) -> web.Response:
        answer = {k: v for k, v in request.query.items()}
        if answer.get("state") != self._state:
            # Another tab, or a forged request: ignored, the real answer may still come.
            return web.Response(status=400, text="unknown state")
        await self.answers.put(answer)
        return web.Response(text=DONE_PAGE, content_type="text/html")

    async def __aenter__(self) -> Loopback:
        app = web.Application()
        app.router.add_get(CALLBACK, self._callback)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, LOOPBACK, self._port).start()
        except OSError as err:
            await runner.cleanup()
            raise ConnectError(
                f"cannot listen on {LOOPBACK}:{self._port} for the redirect ({err.strerror}); "
                "free the port or choose another with --port (and allow it in the app)"
            ) from None
        self._runner = runner
        port = int(runner.addresses[0][1])
        self.redirect_uri = f"http://{LOOPBACK}:{port}{CALLBACK}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@contextlib.asynccontextmanager
async def redirect(ctx: Context, default_port: int, state: str) -> AsyncIterator[Loopback | None]:
    """The loopback listener, unless the operator gave a redirect URI of their own."""
    if ctx.options.redirect_uri is not None:
        yield None
        return
    port = ctx.options.port if ctx.options.port is not None else default_port
    async with Loopback(port, state) as loopback:
        yield loopback


def chosen_redirect(ctx: Context, loopback: Loopback | None) -> str:
    """The redirect URI of this flow: the listener's, or the one the operator gave."""
    uri = loopback.redirect_uri if loopback is not None else ctx.options.redirect_uri
    assert uri is not None  # redirect() gives a listener unless a redirect URI was given
    return uri


def expires_at(ctx: Context, doc: Mapping[str, Any]) -> str | None:
    """``expires_in`` (seconds from now) as an ISO time; None when the answer has none."""
    lifetime = doc.get("expires_in")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
        return None
    return (ctx.clock.now() + timedelta(seconds=lifetime)).isoformat(timespec="seconds")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def authorize(ctx: Context, auth: Authorization, loopback: Loopback | None) -> str:
    """Show the authorization URL, then the code of the first answer (loopback or pasted)."""
    url = auth.url()
    ctx.terminal.say(f"Open this address to authorize publisher:\n\n  {url}\n")
    ctx.terminal.say(
        "Waiting for the redirect. On a machine without a browser, open it elsewhere, then "
        "paste here the address the browser ended on (or the code) and press Enter."
    )
    await ctx.terminal.browse(url)

    async def from_paste() -> dict[str, str]:
        while True:
            answer = pasted_answer(await ctx.terminal.pasted())
            if answer.get("code") or answer.get("error"):
                # A bare code carries no state: the operator copied it themselves.
                return answer if "state" in answer else {**answer, "state": auth.state}
            ctx.terminal.say("That is neither the redirect address nor a code; paste again.")

    answers: list[asyncio.Future[dict[str, str]]] = [asyncio.ensure_future(from_paste())]
    if loopback is not None:
        answers.append(asyncio.ensure_future(loopback.answers.get()))
    deadline = ctx.clock.now() + timedelta(seconds=ctx.options.timeout)
    give_up: asyncio.Future[None] = asyncio.ensure_future(ctx.clock.sleep_until(deadline))
    waiters: list[asyncio.Future[Any]] = [*answers, give_up]  # the deadline: the clock seam
    try:
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    answered = [a for a in answers if a in done]
    if not answered:
        raise ConnectError(
            f"no authorization within {ctx.options.timeout:.0f} s: abandoned, nothing stored"
        )
    return code_from(answered[0].result(), auth.state)


async def call(
    ctx: Context,
    method: str,
    url: str,
    what: str,
    *,
    params: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    basic: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One request answered with a JSON object; anything else is a ``ConnectError``."""
    sent = dict(headers or {})
    if basic is not None:  # RFC 6749 2.3.1: the client's credentials, HTTP Basic
        pair = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode("ascii")
        REDACTOR.add(pair)
        sent["Authorization"] = f"Basic {pair}"
    try:
        async with ctx.session.request(
            method,
            url,
            params=params,
            data=form,
            json=json,
            headers=sent,
            allow_redirects=False,
        ) as response:
            status = response.status
            body = await response.text()
    except (aiohttp.ClientError, TimeoutError) as err:
        raise ConnectError(f"{what}: cannot reach {_origin(url)} ({type(err).__name__})") from None
    try:
        doc = jsonlib.loads(body) if body else {}
    except ValueError:
        doc = None
    if not 200 <= status < 300:
        raise ConnectError(f"{what}: {_origin(url)} answered {status}{_why(doc)}")
    if not isinstance(doc, dict):
        raise ConnectError(f"{what}: {_origin(url)} answered with something else than JSON")
    return doc


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _why(doc: Any) -> str:
    """The network's own reason, from the usual places, short."""
    if not isinstance(doc, dict):
        return ""
    error, description = doc.get("error"), doc.get("error_description")
    if isinstance(error, str) and isinstance(description, str):  # RFC 6749 5.2
        return f": {error}: {description[:200]}"
    for key in ("error_description", "message", "error", "description", "detail"):
        value = doc.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("type")
        if isinstance(value, str) and value:
            return f": {value[:200]}"
    return ""


def token_string(doc: Mapping[str, Any], key: str, what: str) -> str:
    """A token out of an answer, registered for scrubbing before anything can print it."""
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise ConnectError(f"{what}: the answer has no {key}")
    REDACTOR.add(value)
    return value


def scope_set(value: Any, separator: str = " ") -> frozenset[str] | None:
    if isinstance(value, list):
        return frozenset(str(s) for s in value)
    if not isinstance(value, str):
        return None
    return frozenset(s.strip() for s in value.replace(",", separator).split(separator) if s.strip())
