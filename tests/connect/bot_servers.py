"""Local servers for the flows that check a pasted credential: a PDS's ``createSession``,
the Telegram Bot API (``getMe``, ``getChat``, ``getChatMember``; ``{"ok", "result"}`` or
``{"ok": false, "error_code", "description"}``), and a Discord webhook (``GET
/api/webhooks/{id}/{token}``; a wrong token is ``401 Invalid Webhook Token``, code 50027)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from aiohttp import web

from publisher.testing.servers import LocalServer


class Served(ABC):
    """A LocalServer around one app, started and stopped with ``async with``."""

    def __init__(self) -> None:
        self._server: LocalServer | None = None
        self.url = ""
        self.hits: list[str] = []

    @abstractmethod
    def routes(self, app: web.Application) -> None:
        """Add the server's routes."""

    async def __aenter__(self) -> Any:
        app = web.Application()
        self.routes(app)
        self._server = LocalServer(app, access_log=False)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()


class PdsServer(Served):
    def __init__(self, handle: str = "brand.test", password: str = "abcd-efgh-ijkl-mnop") -> None:
        super().__init__()
        self.handle = handle
        self.password = password

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/xrpc/com.atproto.server.createSession", self._session)

    async def _session(self, request: web.Request) -> web.Response:
        self.hits.append("createSession")
        body = await request.json()
        if not set(body) <= {"identifier", "password", "authFactorToken", "allowTakendown"}:
            return web.json_response(
                {"error": "InvalidRequest", "message": "bad input"}, status=400
            )
        if (body.get("identifier"), body.get("password")) != (self.handle, self.password):
            return web.json_response(
                {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
                status=401,
            )
        return web.json_response(
            {
                "did": "did:plc:brand0000000000000000000",
                "handle": self.handle,
                "accessJwt": "eyJhY2Nlc3Mi.payload-access.signature",
                "refreshJwt": "eyJyZWZyZXNoIi.payload-refresh.signature",
                "active": True,
            }
        )


class TelegramServer(Served):
    def __init__(
        self,
        token: str = "123456789:AAF0123456789abcdefghijklmnopqrstuv",
        chat: str = "@brandchannel",
        can_post: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.chat = chat
        self.can_post = can_post

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/bot{token}/{method}", self._method)

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.hits.append(method)
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        if method == "getMe":
            result: dict[str, Any] = {
                "id": 123456789,
                "is_bot": True,
                "first_name": "Brand",
                "username": "brand_bot",
            }
        elif request.query.get("chat_id") not in (self.chat, "-1001234567890"):
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
                status=400,
            )
        elif method == "getChat":
            result = {"id": -1001234567890, "type": "channel", "title": "Brand news"}
        elif method == "getChatMember" and request.query.get("user_id") == "123456789":
            result = {
                "status": "administrator",
                "user": {"id": 123456789, "is_bot": True, "first_name": "Brand"},
                "can_post_messages": self.can_post,
            }
        else:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.json_response({"ok": True, "result": result})


class DiscordServer(Served):
    def __init__(
        self, webhook_id: str = "1180000000000000001", token: str = "tokEn-0123456789_abcdefghij"
    ) -> None:
        super().__init__()
        self.webhook_id = webhook_id
        self.token = token

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/webhooks/{id}/{token}", self._webhook)

    def webhook_url(self, token: str | None = None) -> str:
        return f"{self.url}/api/webhooks/{self.webhook_id}/{token or self.token}"

    async def _webhook(self, request: web.Request) -> web.Response:
        self.hits.append("webhook")
        if request.match_info["id"] != self.webhook_id:
            return web.json_response({"message": "Unknown Webhook", "code": 10015}, status=404)
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"message": "Invalid Webhook Token", "code": 50027}, status=401
            )
        return web.json_response(
            {
                "application_id": None,
                "avatar": None,
                "channel_id": "1170000000000000002",
                "guild_id": "1160000000000000003",
                "id": self.webhook_id,
                "name": "Brand",
                "type": 1,
                "token": self.token,
            }
        )
