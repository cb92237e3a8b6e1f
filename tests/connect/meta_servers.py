"""Local Meta servers for the Facebook/Instagram and Threads connect flows.

``GraphServer`` speaks the documented shapes of Facebook Login and the Graph API's token
calls (errors as Graph writes them: ``{"error": {"message", "type", "code"}}``):
``/{v}/dialog/oauth``, ``/{v}/oauth/access_token`` (the code; ``fb_exchange_token`` for the
long-lived user token), ``/{v}/me/permissions``, ``/{v}/me/accounts`` (a Page token from a
long-lived user token never expires: the server marks them, and only those, as permanent),
``/{v}/{page-id}?fields=instagram_business_account``.

``ThreadsServer``: ``/oauth/authorize``, ``POST /oauth/access_token`` (short-lived token and
user id), ``GET /access_token?grant_type=th_exchange_token`` (long-lived), ``/v1.0/me``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from publisher.testing.oauth import Client, CodeIssuer, Pkce, Refusal
from publisher.testing.servers import LocalServer

VERSION = "v23.0"
META_SCOPES = frozenset(
    {
        "pages_show_list",
        "pages_manage_posts",
        "pages_read_engagement",
        "read_insights",
        "pages_read_user_content",
        "business_management",
        "instagram_basic",
        "instagram_content_publish",
        "instagram_manage_insights",
        "instagram_manage_comments",
    }
)


def graph_error(message: str, code: int = 190, status: int = 400) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "OAuthException", "code": code}}, status=status
    )


@dataclass
class Page:
    id: str
    name: str
    instagram: str | None = None
    tokens: dict[str, bool] = field(default_factory=dict)  # token: permanent


class GraphServer:
    def __init__(self, pages: list[Page] | None = None) -> None:
        self.client = Client("1234567890", "meta-app-secret-0123456789")
        self.issuer = CodeIssuer([self.client], META_SCOPES, Pkce.UNSUPPORTED, scope_separator=",")
        self.pages = pages or [Page("101", "Brand Page", instagram="17841400000000001")]
        self.short: dict[str, tuple[str, ...]] = {}  # short-lived user token: scopes
        self.long: dict[str, tuple[str, ...]] = {}
        self.asked: list[tuple[str, dict[str, str]]] = []
        self._server: LocalServer | None = None
        self.url = ""

    def _user(self, token: str | None) -> tuple[str, ...] | None:
        if token in self.long:
            return self.long[token]
        return self.short.get(token or "")

    async def _dialog(self, request: web.Request) -> web.Response:
        return self.issuer.authorize(dict(request.query))

    async def _access_token(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.asked.append(("access_token", q))
        if q.get("grant_type") == "fb_exchange_token":
            if set(q) != {"grant_type", "client_id", "client_secret", "fb_exchange_token"}:
                return graph_error(f"unexpected parameters {sorted(q)}", 100)
            if (q["client_id"], q["client_secret"]) != (
                self.client.client_id,
                self.client.client_secret,
            ):
                return graph_error("Error validating client secret.", 1)
            scopes = self.short.get(q["fb_exchange_token"])
            if scopes is None:
                return graph_error("Invalid OAuth access token.")
            token = "EAAL" + secrets.token_urlsafe(40)
            self.long[token] = scopes
            return web.json_response(
                {"access_token": token, "token_type": "bearer", "expires_in": 5183944}
            )
        if set(q) != {"client_id", "redirect_uri", "client_secret", "code"}:
            return graph_error(f"unexpected parameters {sorted(q)}", 100)
        try:
            issued = self.issuer.redeem(q, grant_type=None)
        except Refusal as err:
            return graph_error(f"{err.error}: {err.description}", 100)
        token = "EAAS" + secrets.token_urlsafe(40)
        self.short[token] = issued.scopes
        return web.json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": 5400}
        )

    async def _permissions(self, request: web.Request) -> web.Response:
        scopes = self._user(request.query.get("access_token"))
        if scopes is None:
            return graph_error("Invalid OAuth access token.")
        rows = [{"permission": s, "status": "granted"} for s in scopes]
        return web.json_response({"data": rows})

    async def _accounts(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token")
        if self._user(token) is None:
            return graph_error("Invalid OAuth access token.")
        permanent = token in self.long  # from a long-lived user token: never expires
        data = []
        for page in self.pages:
            page_token = "EAAP" + secrets.token_urlsafe(40)
            page.tokens[page_token] = permanent
            data.append({"id": page.id, "name": page.name, "access_token": page_token})
        return web.json_response({"data": data, "paging": {"cursors": {}}})

    @staticmethod
    def _token(request: web.Request) -> str | None:
        """The token of a Graph call: ``access_token`` in the query, or a bearer header."""
        header = request.headers.get("Authorization", "")
        return header.removeprefix("Bearer ") if header else request.query.get("access_token")

    def _page_of(self, token: str | None) -> Page | None:
        return next((p for p in self.pages if token in p.tokens), None)

    async def _node(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        page = next((p for p in self.pages if p.id == node), None)
        if page is None:
            return graph_error(f"Unsupported get request. Object {node} does not exist", 100)
        if self._token(request) not in page.tokens:
            return graph_error("Invalid OAuth access token.")
        fields = request.query.get("fields")
        doc: dict[str, Any] = {"id": page.id}
        if fields == "id,name":  # the adapter's check
            doc["name"] = page.name
        elif fields == "instagram_business_account":
            if page.instagram:
                doc["instagram_business_account"] = {"id": page.instagram}
        else:
            return graph_error("unexpected fields", 100)
        return web.json_response(doc)

    async def _debug_token(self, request: web.Request) -> web.Response:
        page = self._page_of(self._token(request))
        if page is None:
            return graph_error("Invalid OAuth access token.")
        inspected = request.query.get("input_token")
        permanent = page.tokens.get(inspected or "")
        if permanent is None:
            return web.json_response({"data": {"is_valid": False}})
        # A Page token from a long-lived user token: expires_at 0 (never).
        expires = 0 if permanent else 1_764_600_000
        return web.json_response(
            {"data": {"is_valid": True, "type": "PAGE", "expires_at": expires}}
        )

    async def __aenter__(self) -> GraphServer:
        app = web.Application()
        app.router.add_get(f"/{VERSION}/dialog/oauth", self._dialog)
        app.router.add_get(f"/{VERSION}/oauth/access_token", self._access_token)
        app.router.add_get(f"/{VERSION}/me/permissions", self._permissions)
        app.router.add_get(f"/{VERSION}/me/accounts", self._accounts)
        app.router.add_get(f"/{VERSION}/debug_token", self._debug_token)
        app.router.add_get(f"/{VERSION}/{{node}}", self._node)
        self._server = LocalServer(app, access_log=False)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()


THREADS_SCOPES = frozenset(
    {
        "threads_basic",
        "threads_content_publish",
        "threads_manage_insights",
        "threads_read_replies",
        "threads_keyword_search",
    }
)


class ThreadsServer:
    def __init__(self) -> None:
        self.client = Client("9876543210", "threads-app-secret-0123456789")
        self.issuer = CodeIssuer(
            [self.client], THREADS_SCOPES, Pkce.UNSUPPORTED, scope_separator=","
        )
        self.short: set[str] = set()
        self.long: set[str] = set()
        self.user_id = 17841401234567890
        self._server: LocalServer | None = None
        self.url = ""

    async def _authorize(self, request: web.Request) -> web.Response:
        return self.issuer.authorize(dict(request.query))

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        if set(form) != {"client_id", "client_secret", "grant_type", "redirect_uri", "code"}:
            return graph_error(f"unexpected parameters {sorted(form)}", 100)
        try:
            self.issuer.redeem(form)
        except Refusal as err:
            return graph_error(f"{err.error}: {err.description}", 100)
        token = "THQS" + secrets.token_urlsafe(40)
        self.short.add(token)
        return web.json_response({"access_token": token, "user_id": self.user_id})

    async def _exchange(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        if set(q) != {"grant_type", "client_secret", "access_token"}:
            return graph_error(f"unexpected parameters {sorted(q)}", 100)
        if (
            q["grant_type"] != "th_exchange_token"
            or q["client_secret"] != self.client.client_secret
        ):
            return graph_error("Error validating client secret.", 1)
        if q["access_token"] not in self.short:
            return graph_error("Invalid OAuth access token.")
        token = "THQL" + secrets.token_urlsafe(40)
        self.long.add(token)
        return web.json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": 5183944}
        )

    async def _me(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.long:
            return graph_error("Invalid OAuth access token.")
        return web.json_response({"id": str(self.user_id), "username": "brand"})

    async def __aenter__(self) -> ThreadsServer:
        app = web.Application()
        app.router.add_get("/oauth/authorize", self._authorize)
        app.router.add_post("/oauth/access_token", self._token)
        app.router.add_get("/access_token", self._exchange)
        app.router.add_get("/v1.0/me", self._me)
        self._server = LocalServer(app, access_log=False)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()
