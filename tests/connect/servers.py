"""Local authorization servers for X, Mastodon and LinkedIn, in each network's documented
shape, built on ``publisher.testing.oauth`` (the checks every OAuth server makes).

* X: ``GET /i/oauth2/authorize`` (PKCE required), ``POST /2/oauth2/token`` (HTTP Basic for a
  confidential client, ``client_id`` in the body for a public one), ``GET /2/users/me``.
* Mastodon: mounted on the strict ``MastodonServer`` (tests/networks/mastodon), so the token
  it issues is the one the API then takes, with the scopes granted: ``POST /api/v1/apps``,
  ``GET /oauth/authorize``, ``POST /oauth/token``, and the RFC 8414 metadata that says PKCE.
* LinkedIn: ``GET /oauth/v2/authorization``, ``POST /oauth/v2/accessToken`` (client id and
  secret in the body; scopes answered comma separated).
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from publisher.testing.oauth import (
    Client,
    CodeIssuer,
    Pkce,
    Refusal,
    basic_auth,
    refusal_response,
)
from publisher.testing.servers import LocalServer
from tests.networks.mastodon.server import MastodonServer

X_SCOPES = frozenset(
    {
        "tweet.read",
        "tweet.write",
        "users.read",
        "media.write",
        "offline.access",
        "like.read",
        "follows.read",
    }
)


async def _form(request: web.Request, allowed: set[str]) -> dict[str, str]:
    form = {k: str(v) for k, v in (await request.post()).items()}
    unknown = set(form) - allowed
    if unknown:
        raise Refusal("invalid_request", f"unknown fields {sorted(unknown)}")
    return form


class XServer:
    def __init__(self, *, client_secret: str | None = "x-secret-0123456789abcdef") -> None:
        self.client = Client("x-client-id", client_secret)
        self.issuer = CodeIssuer([self.client], X_SCOPES, Pkce.REQUIRED)
        self.tokens: dict[str, tuple[str, ...]] = {}  # access token: scopes
        self.refresh_tokens: list[str] = []
        self.next_token: str | None = None  # a canary to hand out
        self.next_refresh: str | None = None
        self._server: LocalServer | None = None
        self.url = ""

    async def _authorize(self, request: web.Request) -> web.Response:
        return self.issuer.authorize(dict(request.query))

    async def _token(self, request: web.Request) -> web.Response:
        try:
            form = await _form(
                request, {"grant_type", "code", "redirect_uri", "code_verifier", "client_id"}
            )
            issued = self.issuer.redeem(form, basic_auth(request))
        except Refusal as err:
            return refusal_response(err)
        access = self.next_token or secrets.token_urlsafe(32)
        self.tokens[access] = issued.scopes
        doc: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": access,
            "scope": " ".join(issued.scopes),
        }
        if "offline.access" in issued.scopes:
            doc["refresh_token"] = self.next_refresh or secrets.token_urlsafe(32)
            self.refresh_tokens.append(doc["refresh_token"])
        return web.json_response(doc)

    async def _me(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return web.json_response({"title": "Unauthorized", "status": 401}, status=401)
        return web.json_response({"data": {"id": "1234", "name": "Brand", "username": "brand"}})

    async def __aenter__(self) -> XServer:
        app = web.Application()
        app.router.add_get("/i/oauth2/authorize", self._authorize)
        app.router.add_post("/2/oauth2/token", self._token)
        app.router.add_get("/2/users/me", self._me)
        self._server = LocalServer(app, access_log=False)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()


MASTODON_SCOPES = frozenset(
    {
        "read",
        "write",
        "read:accounts",
        "read:statuses",
        "read:notifications",
        "read:search",
        "write:media",
        "write:statuses",
    }
)


class MastodonOAuth:
    """The OAuth side of an instance, mounted on a ``MastodonServer``: the token it issues
    becomes the one the server's API accepts, with the scopes granted."""

    def __init__(self, *, pkce: bool = True, token: str | None = None) -> None:
        self.pkce = pkce
        self.issuer = CodeIssuer([], MASTODON_SCOPES, Pkce.OPTIONAL if pkce else Pkce.UNSUPPORTED)
        self.apps: list[dict[str, Any]] = []
        self.next_token = token
        self.api: MastodonServer | None = None

    def server(self, **kw: Any) -> MastodonServer:
        self.api = MastodonServer(mount=self.mount, token="not-issued-yet-0123456789", **kw)
        return self.api

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/.well-known/oauth-authorization-server", self._metadata)
        app.router.add_post("/api/v1/apps", self._apps)
        app.router.add_get("/oauth/authorize", self._authorize)
        app.router.add_post("/oauth/token", self._token)

    async def _metadata(self, request: web.Request) -> web.Response:
        if not self.pkce:
            return web.json_response({"error": "Record not found"}, status=404)
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "issuer": base + "/",
                "authorization_endpoint": base + "/oauth/authorize",
                "token_endpoint": base + "/oauth/token",
                "scopes_supported": sorted(MASTODON_SCOPES),
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _apps(self, request: web.Request) -> web.Response:
        try:
            form = await _form(request, {"client_name", "redirect_uris", "scopes", "website"})
        except Refusal as err:
            return web.json_response({"error": err.description}, status=422)
        scopes = form.get("scopes", "read").split(" ")
        if not form.get("client_name") or any(s not in MASTODON_SCOPES for s in scopes):
            return web.json_response({"error": "Validation failed"}, status=422)
        client = Client(
            secrets.token_urlsafe(16), secrets.token_urlsafe(32), (form["redirect_uris"],)
        )
        self.issuer.clients.append(client)
        app = {
            "id": str(len(self.apps) + 1),
            "name": form["client_name"],
            "website": form.get("website"),
            "scopes": scopes,
            "redirect_uri": form["redirect_uris"],
            "redirect_uris": [form["redirect_uris"]],
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "client_secret_expires_at": 0,
        }
        self.apps.append(app)
        return web.json_response(app)

    async def _authorize(self, request: web.Request) -> web.Response:
        return self.issuer.authorize(dict(request.query))

    async def _token(self, request: web.Request) -> web.Response:
        try:
            form = await _form(
                request,
                {
                    "grant_type",
                    "code",
                    "client_id",
                    "client_secret",
                    "redirect_uri",
                    "scope",
                    "code_verifier",
                },
            )
            form.pop("scope", None)
            issued = self.issuer.redeem(form)
        except Refusal as err:
            return refusal_response(err)
        token = self.next_token or secrets.token_urlsafe(32)
        assert self.api is not None
        self.api.token = token
        self.api.scopes = frozenset(issued.scopes)
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": " ".join(issued.scopes),
                "created_at": 1733000000,
            }
        )


LINKEDIN_SCOPES = frozenset(
    {
        "openid",
        "profile",
        "w_member_social",
        "w_organization_social",
        "rw_organization_admin",
        "r_organization_social",
    }
)


class LinkedInServer:
    def __init__(self) -> None:
        self.client = Client("li-client-id", "li-secret-0123456789abcdef")
        self.issuer = CodeIssuer([self.client], LINKEDIN_SCOPES, Pkce.UNSUPPORTED)
        self.tokens: list[str] = []
        self._server: LocalServer | None = None
        self.url = ""

    async def _authorize(self, request: web.Request) -> web.Response:
        return self.issuer.authorize(dict(request.query))

    async def _token(self, request: web.Request) -> web.Response:
        try:
            form = await _form(
                request, {"grant_type", "code", "redirect_uri", "client_id", "client_secret"}
            )
            issued = self.issuer.redeem(form)
        except Refusal as err:
            return refusal_response(err)
        token = secrets.token_urlsafe(40)
        self.tokens.append(token)
        return web.json_response(
            {"access_token": token, "expires_in": 5184000, "scope": ",".join(issued.scopes)}
        )

    async def __aenter__(self) -> LinkedInServer:
        app = web.Application()
        app.router.add_get("/oauth/v2/authorization", self._authorize)
        app.router.add_post("/oauth/v2/accessToken", self._token)
        self._server = LocalServer(app, access_log=False)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()
