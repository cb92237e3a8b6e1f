"""A strict OAuth 2 authorization server for connect-flow tests, and a browser to drive it.

``CodeIssuer`` is the part every network shares (RFC 6749 4.1, RFC 7636, RFC 8252): its
authorization endpoint checks the client, the redirect URI (a loopback one on any port, RFC
8252 7.3, else exactly a registered one), the scopes, and PKCE where the network asks it,
then "consents" at once: a 302 to the redirect URI with a fresh code and the state it was
given (or ``error=access_denied``, told to refuse). ``redeem`` takes a code once: a wrong,
replayed or another client's code, another redirect URI, or a verifier that does not hash
to the challenge is refused with ``invalid_grant``. Each network's test server wires these
to its own routes and answers in its own shape.

``Browser`` plays the operator's browser: it GETs the authorization URL and follows the
redirects, the last of them to the flow's loopback listener, as a browser would; or stops
before the last and hands the address over to be pasted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web


class Pkce(StrEnum):
    REQUIRED = "required"  # X
    OPTIONAL = "optional"  # Mastodon 4.3+: checked when a challenge was sent
    UNSUPPORTED = "unsupported"  # LinkedIn, Meta: a challenge is refused


@dataclass
class Client:
    client_id: str
    client_secret: str | None  # None: a public client
    redirect_uris: tuple[str, ...] = ()  # empty: any loopback redirect


@dataclass
class Issued:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str | None
    redeemed: bool = False


class Refusal(Exception):
    """An OAuth error answer: ``error`` and a description, with its status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def is_loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1")


@dataclass
class CodeIssuer:
    clients: list[Client]
    scopes: frozenset[str]
    pkce: Pkce
    scope_separator: str = " "
    deny: bool = False  # the operator clicks "Cancel"
    grant_only: frozenset[str] | None = None  # grant these of the scopes asked; None: all
    issued: dict[str, Issued] = field(default_factory=dict)
    authorizations: list[dict[str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    # What each successful redemption presented, so a test can present it again (a replay).
    redemptions: list[tuple[dict[str, str], tuple[str, str] | None]] = field(default_factory=list)

    def client(self, client_id: str | None) -> Client:
        for c in self.clients:
            if c.client_id == client_id:
                return c
        raise Refusal("invalid_client", "unknown client", 401)

    def _redirect_allowed(self, client: Client, uri: str) -> bool:
        if client.redirect_uris:
            # A registered loopback URI matches on any port (RFC 8252 7.3).
            return any(
                uri == r
                or (
                    is_loopback(r)
                    and is_loopback(uri)
                    and urlsplit(r).path == urlsplit(uri).path
                    and urlsplit(r).port in (None, urlsplit(uri).port)
                )
                for r in client.redirect_uris
            )
        return is_loopback(uri)

    def authorize(self, query: dict[str, str]) -> web.Response:
        """The authorization endpoint: a 302 to the redirect URI, or a 400 page."""
        self.authorizations.append(dict(query))
        try:
            client = self.client(query.get("client_id"))
            redirect = query.get("redirect_uri", "")
            if not self._redirect_allowed(client, redirect):
                raise Refusal("invalid_request", "redirect_uri not allowed for this app")
            if query.get("response_type") != "code":
                raise Refusal("unsupported_response_type", "response_type must be code")
            state = query.get("state", "")
            if len(state) < 16:
                raise Refusal("invalid_request", "state missing or guessable")
            asked = tuple(s for s in query.get("scope", "").split(self.scope_separator) if s)
            unknown = [s for s in asked if s not in self.scopes]
            if unknown or not asked:
                raise Refusal("invalid_scope", f"unknown scopes {unknown}")
            challenge = query.get("code_challenge")
            method = query.get("code_challenge_method")
            if self.pkce is Pkce.UNSUPPORTED and challenge is not None:
                raise Refusal("invalid_request", "code_challenge not supported")
            if self.pkce is Pkce.REQUIRED and challenge is None:
                raise Refusal("invalid_request", "code_challenge required")
            if challenge is not None and (method != "S256" or len(challenge) != 43):
                raise Refusal("invalid_request", "code_challenge_method must be S256")
            extra = set(query) - {
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "state",
                "code_challenge",
                "code_challenge_method",
            }
            if extra:
                raise Refusal("invalid_request", f"unknown parameters {sorted(extra)}")
        except Refusal as err:
            self.refused.append(err.error)
            return web.Response(status=400, text=f"{err.error}: {err.description}")
        if self.deny:
            answer = {"error": "access_denied", "error_description": "the user said no"}
        else:
            code = secrets.token_urlsafe(24)
            granted = (
                asked
                if self.grant_only is None
                else tuple(s for s in asked if s in self.grant_only)
            )
            self.issued[code] = Issued(client.client_id, redirect, granted, challenge)
            answer = {"code": code}
        answer["state"] = state
        raise web.HTTPFound(f"{redirect}?{urlencode(answer)}")

    def redeem(
        self,
        params: dict[str, str],
        basic: tuple[str, str] | None = None,
        *,
        grant_type: str | None = "authorization_code",
    ) -> Issued:
        """The token endpoint's checks; the code is spent even when refused for its verifier."""
        try:
            if grant_type is not None and params.get("grant_type") != grant_type:
                raise Refusal("unsupported_grant_type", "grant_type")
            client_id, secret = basic if basic else (params.get("client_id"), None)
            client = self.client(client_id)
            secret = secret if basic else params.get("client_secret")
            if client.client_secret is not None and secret != client.client_secret:
                raise Refusal("invalid_client", "client authentication failed", 401)
            issued = self.issued.get(params.get("code", ""))
            if issued is None or issued.client_id != client.client_id:
                raise Refusal("invalid_grant", "unknown code")
            if issued.redeemed:
                raise Refusal("invalid_grant", "code already used")
            issued.redeemed = True
            if params.get("redirect_uri") != issued.redirect_uri:
                raise Refusal("invalid_grant", "redirect_uri differs from the authorization's")
            verifier = params.get("code_verifier")
            if issued.challenge is not None and (
                verifier is None or s256(verifier) != issued.challenge
            ):
                raise Refusal("invalid_grant", "code_verifier does not match")
            if issued.challenge is None and verifier is not None:
                raise Refusal("invalid_request", "code_verifier without a challenge")
            self.redemptions.append((dict(params), basic))
            return issued
        except Refusal as err:
            self.refused.append(err.error)
            raise


def refusal_response(err: Refusal) -> web.Response:
    return web.json_response(
        {"error": err.error, "error_description": err.description}, status=err.status
    )


def basic_auth(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


class Browser:
    """The operator's browser: follows the authorization URL's redirects to the loopback."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.visited: list[str] = []
        self.landed: list[tuple[int, str]] = []  # status and body of the last page

    async def open(self, url: str) -> None:
        self.visited.append(url)
        async with self.session.get(url, allow_redirects=True) as response:
            self.landed.append((response.status, await response.text()))

    async def address_bar(self, url: str) -> str:
        """Where the authorization URL leads, without going there (a headless server's
        loopback is not the browser's): what the operator copies."""
        async with self.session.get(url, allow_redirects=False) as response:
            location = response.headers.get("Location")
            if response.status != 302 or location is None:
                raise AssertionError(f"no redirect: {response.status} {await response.text()}")
            return location


class BrowserTerminal:
    """The operator for a test: the browser follows the redirect; answers are given ahead."""

    def __init__(
        self,
        browser: Browser | None,
        *,
        answers: Sequence[str] = (),
        pastes: Sequence[str] = (),
        choice: int = 0,
    ) -> None:
        self.browser = browser
        self.answers = list(answers)
        self.pastes: asyncio.Queue[str] = asyncio.Queue()
        for p in pastes:
            self.pastes.put_nowait(p)
        self.choice = choice
        self.said: list[str] = []
        self.questions: list[str] = []
        self.urls: list[str] = []
        self._tabs: list[asyncio.Task[None]] = []
        self.shown = asyncio.Event()  # set once the flow showed its authorization URL

    def say(self, text: str) -> None:
        self.said.append(text)

    async def browse(self, url: str) -> None:
        self.urls.append(url)
        self.shown.set()
        if self.browser is not None:
            # As a real browser: in the background, while the flow waits for the redirect.
            self._tabs.append(asyncio.get_running_loop().create_task(self.browser.open(url)))

    async def pasted(self) -> str:
        return await self.pastes.get()

    async def choose(self, question: str, options: Sequence[str]) -> int:
        self.questions.append(question)
        return self.choice

    async def ask(self, question: str, *, hidden: bool) -> str:
        self.questions.append(question)
        if not self.answers:
            raise AssertionError(f"unexpected question {question!r}")
        return self.answers.pop(0)
