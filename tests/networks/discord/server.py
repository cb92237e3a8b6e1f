"""A strict local Discord webhook endpoint on 127.0.0.1, as Discord documents it.

``/api/webhooks/{id}/{token}`` (discord.com/developers/docs/resources/webhook): ``GET`` the
webhook object, ``POST`` Execute Webhook (``wait``, ``thread_id``; JSON, or
``multipart/form-data`` with ``payload_json`` and ``files[n]`` as "Uploading Files" says),
``GET .../messages/{id}``. A wrong token is 401 ``Invalid Webhook Token`` (50027), an unknown
webhook 404 (10015), an unknown thread 404 ``Unknown Channel`` (10003); errors are ``{"code",
"message"}``, a bad body 400 ``Invalid Form Body`` (50035) with ``errors``. Stricter than
Discord: a JSON or form key the documentation does not list, an ``attachments`` entry without
its ``files[n]`` (or a file no entry lists), an ``attachment://`` naming no file, a query
parameter Discord does not take are all refused. Every answer carries the bucket headers;
tests inject answers (``inject``), after keeping the message if ``commit``, or a dropped
connection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web

from publisher.testing.servers import LocalServer

CONTENT_LIMIT = 2000
BODY_KEYS = frozenset(
    {
        "content",
        "username",
        "avatar_url",
        "tts",
        "embeds",
        "allowed_mentions",
        "components",
        "attachments",
        "flags",
        "thread_name",
        "applied_tags",
        "poll",
    }
)
EMBED_KEYS = frozenset(
    {
        "title",
        "type",
        "description",
        "url",
        "timestamp",
        "color",
        "footer",
        "image",
        "thumbnail",
        "author",
        "fields",
    }
)
ATTACHMENT_KEYS = frozenset({"id", "filename", "description"})
MENTION_KEYS = frozenset({"parse", "roles", "users", "replied_user"})
MENTION_TYPES = frozenset({"users", "roles", "everyone"})
FILE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "video/mp4",
        "video/webm",
        "video/quicktime",
    }
)
MAX_FILE_BYTES = 10 * 1024 * 1024
_FILE_FIELD = re.compile(r"files\[(\d+)\]")


def error_body(code: int, message: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def rate_headers(
    reset_at: datetime, now: datetime, *, bucket: str = "d8e1f6a1c2b3"
) -> dict[str, str]:
    """The bucket headers of an exhausted bucket, resetting at ``reset_at``."""
    after = max((reset_at - now).total_seconds(), 0.0)
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{reset_at.timestamp():.3f}",
        "X-RateLimit-Reset-After": f"{after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": "shared",
    }


@dataclass
class Message:
    id: str
    channel_id: str
    payload: dict[str, Any]
    files: dict[int, tuple[str, str, bytes]]  # n: filename, content type, bytes
    timestamp: datetime


@dataclass
class _Injection:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    commit: bool
    drop: bool = False


class _Refuse(Exception):
    def __init__(self, status: int, code: int, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.response = web.json_response(error_body(code, message, errors), status=status)


class _Drop(Exception):
    pass


def _invalid(path: str, message: str) -> _Refuse:
    """Discord's 50035, the failing field's path in ``errors``."""
    node: dict[str, Any] = {"_errors": [{"code": "BASE_TYPE_INVALID", "message": message}]}
    for key in reversed(path.split(".")):
        node = {key: node}
    return _Refuse(400, 50035, "Invalid Form Body", node)


@dataclass
class DiscordServer:
    webhook_id: str = "1187654321098765432"
    token: str = "wh-SECRET-token-for-tests-0123456789abcdefABCDEF"
    guild_id: str = "1100000000000000001"
    channel_id: str = "1100000000000000002"
    threads: frozenset[str] = frozenset()
    name: str = "Brand announcements"
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    messages: list[Message] = field(default_factory=list)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, type
    url: str = ""

    def __post_init__(self) -> None:
        self._server: LocalServer | None = None
        self._injections: list[_Injection] = []
        self._sequence = 0

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/api/webhooks/{self.webhook_id}/{self.token}"

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> DiscordServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = LocalServer(app, access_log=False)  # the token is in every path
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    # ------------------------------------------------------------------ test controls

    def inject(
        self,
        status: int,
        body: dict[str, Any] | None,
        *,
        headers: Mapping[str, str] | None = None,
        commit: bool = False,
        times: int = 1,
    ) -> None:
        """The next ``times`` valid executes get this answer (after keeping the message if
        ``commit``)."""
        injection = _Injection(status, body, dict(headers or {}), commit)
        self._injections.extend([injection] * times)

    def drop(self, *, commit: bool = False) -> None:
        self._injections.append(_Injection(0, None, {}, commit, drop=True))

    # ------------------------------------------------------------------ plumbing

    def _snowflake(self) -> str:
        self._sequence += 1
        millis = int(self.now().timestamp() * 1000) - 1420070400000
        return str((millis << 22) + self._sequence)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._route(request)
        except _Refuse as refusal:
            return refusal.response
        except _Drop:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=204)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        segments = request.path.split("/")[1:]
        if segments[:2] != ["api", "webhooks"] or len(segments) not in (4, 6):
            raise _Refuse(404, 0, "404: Not Found")
        hook_id, token = segments[2], segments[3]
        if hook_id != self.webhook_id:
            raise _Refuse(404, 10015, "Unknown Webhook")
        if token != self.token:
            raise _Refuse(401, 50027, "Invalid Webhook Token")
        self.calls.append((request.method, "/".join(segments[4:]), request.content_type))
        if len(segments) == 6:
            if segments[4] != "messages" or request.method != "GET":
                raise _Refuse(405, 0, "405: Method Not Allowed")
            return self._get_message(request, segments[5])
        if request.method == "GET":
            if request.query:
                raise _Refuse(400, 50035, "strict server: GET webhook takes no query")
            return web.json_response(self._webhook_json())
        if request.method != "POST":
            raise _Refuse(405, 0, "405: Method Not Allowed")
        return await self._execute(request)

    def _channel(self, request: web.Request) -> str:
        thread = request.query.get("thread_id")
        if thread is None:
            return self.channel_id
        if thread not in self.threads:
            raise _Refuse(404, 10003, "Unknown Channel")
        return thread

    async def _execute(self, request: web.Request) -> web.StreamResponse:
        unknown = set(request.query) - {"wait", "thread_id", "with_components"}
        if unknown:
            raise _Refuse(400, 50035, f"strict server: unknown query parameters {sorted(unknown)}")
        wait = request.query.get("wait", "false")
        if wait not in ("true", "false", "1", "0", "True", "False"):
            raise _invalid("wait", "Must be a boolean")
        channel = self._channel(request)
        body, files = await self._read(request)
        self._validate(body, files)
        injection = self._injections.pop(0) if self._injections else None
        if injection is not None and not injection.commit:
            return self._answer(injection)
        message = Message(self._snowflake(), channel, body, files, self.now())
        self.messages.append(message)
        if injection is not None:
            return self._answer(injection)
        if wait in ("false", "0", "False"):
            return web.Response(status=204, headers=self._bucket())
        return web.json_response(self._message_json(message), headers=self._bucket())

    async def _read(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[int, tuple[str, str, bytes]]]:
        ctype = request.content_type
        if ctype == "application/json":
            try:
                doc = json.loads(await request.read())
            except ValueError:
                raise _Refuse(400, 50109, "The request body contains invalid JSON.") from None
            if not isinstance(doc, dict):
                raise _Refuse(400, 50109, "The request body contains invalid JSON.")
            return doc, {}
        if ctype != "multipart/form-data":
            raise _Refuse(400, 50035, f"strict server: {ctype} is not a body Discord reads")
        body: dict[str, Any] | None = None
        files: dict[int, tuple[str, str, bytes]] = {}
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise _Refuse(400, 50035, "strict server: nested multipart")
            name = part.name or ""
            if name == "payload_json" and part.filename is None and body is None:
                try:
                    doc = json.loads(await part.text())
                except ValueError:
                    raise _Refuse(400, 50109, "The request body contains invalid JSON.") from None
                if not isinstance(doc, dict):
                    raise _invalid("payload_json", "Must be a JSON object")
                body = doc
                continue
            m = _FILE_FIELD.fullmatch(name)
            if m is None or part.filename is None or int(m.group(1)) in files:
                raise _Refuse(400, 50035, f"strict server: unexpected form part {name!r}")
            ctype_part = part.headers.get("Content-Type", "application/octet-stream")
            files[int(m.group(1))] = (part.filename, ctype_part, bytes(await part.read()))
        if body is None:
            raise _Refuse(400, 50035, "strict server: a form without payload_json")
        return body, files

    def _validate(
        self, body: Mapping[str, Any], files: Mapping[int, tuple[str, str, bytes]]
    ) -> None:
        unknown = set(body) - BODY_KEYS
        if unknown:
            raise _invalid(sorted(unknown)[0], "strict server: not a documented field")
        content = body.get("content", "")
        if not isinstance(content, str):
            raise _invalid("content", "Must be a string")
        if len(content) > CONTENT_LIMIT:
            raise _invalid("content", f"Must be {CONTENT_LIMIT} or fewer in length.")
        username = body.get("username")
        if username is not None and (
            not isinstance(username, str)
            or not 1 <= len(username) <= 80
            or any(w in username.lower() for w in ("discord", "clyde"))
        ):
            raise _invalid("username", "Username cannot contain discord or clyde")
        mentions = body.get("allowed_mentions")
        if mentions is not None and (
            not isinstance(mentions, dict)
            or set(mentions) - MENTION_KEYS
            or not set(mentions.get("parse", [])) <= MENTION_TYPES
        ):
            raise _invalid("allowed_mentions", "strict server: not an allowed mentions object")
        names = self._attachments(body.get("attachments"), files)
        embeds = body.get("embeds", [])
        if not isinstance(embeds, list) or len(embeds) > 10:
            raise _invalid("embeds", "Must be 10 or fewer in length.")
        for i, embed in enumerate(embeds):
            self._embed(i, embed, names)
        if not content.strip() and not embeds and not files:
            raise _Refuse(400, 50006, "Cannot send an empty message")

    def _attachments(self, value: Any, files: Mapping[int, tuple[str, str, bytes]]) -> set[str]:
        if value is None:
            if files:
                raise _Refuse(400, 50035, "strict server: files without attachments entries")
            return set()
        if not isinstance(value, list) or len(value) > 10:
            raise _invalid("attachments", "Must be 10 or fewer in length.")
        ids: set[int] = set()
        names: set[str] = set()
        for i, entry in enumerate(value):
            if not isinstance(entry, dict) or set(entry) - ATTACHMENT_KEYS or "id" not in entry:
                raise _invalid(f"attachments.{i}", "strict server: not a partial attachment")
            n = entry["id"]
            if not isinstance(n, int) or n not in files or n in ids:
                raise _invalid(f"attachments.{i}.id", "Unknown attachment file")
            ids.add(n)
            description = entry.get("description")
            if description is not None and (
                not isinstance(description, str) or len(description) > 1024
            ):
                raise _invalid(f"attachments.{i}.description", "Must be 1024 or fewer in length.")
            filename, ctype, data = files[n]
            if ctype not in FILE_TYPES or not data:
                raise _invalid(
                    f"files.{n}", f"strict server: {ctype} is not a file this test takes"
                )
            if len(data) > MAX_FILE_BYTES:
                raise _Refuse(413, 40005, "Request entity too large")
            names.add(entry.get("filename", filename))
        if ids != set(files):
            raise _Refuse(
                400, 50035, f"strict server: files[n] no entry lists: {sorted(set(files) - ids)}"
            )
        return names

    @staticmethod
    def _embed(i: int, embed: Any, names: set[str]) -> None:
        if not isinstance(embed, dict) or set(embed) - EMBED_KEYS:
            raise _invalid(f"embeds.{i}", "strict server: not an embed object")
        if len(str(embed.get("title", ""))) > 256:
            raise _invalid(f"embeds.{i}.title", "Must be 256 or fewer in length.")
        if len(str(embed.get("description", ""))) > 4096:
            raise _invalid(f"embeds.{i}.description", "Must be 4096 or fewer in length.")
        for key in ("thumbnail", "image"):
            media = embed.get(key)
            if media is None:
                continue
            url = media.get("url") if isinstance(media, dict) else None
            if not isinstance(url, str) or set(media) != {"url"}:
                raise _invalid(f"embeds.{i}.{key}", "strict server: only url may be set")
            if url.startswith("attachment://") and url.removeprefix("attachment://") not in names:
                raise _invalid(f"embeds.{i}.{key}.url", "Unknown attachment")

    def _get_message(self, request: web.Request, message_id: str) -> web.Response:
        channel = self._channel(request)
        found = next(
            (m for m in self.messages if m.id == message_id and m.channel_id == channel), None
        )
        if found is None:
            raise _Refuse(404, 10008, "Unknown Message")
        return web.json_response(self._message_json(found), headers=self._bucket())

    def _answer(self, injection: _Injection) -> web.Response:
        if injection.drop:
            raise _Drop
        return web.json_response(injection.body, status=injection.status, headers=injection.headers)

    def _bucket(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "4",
            "X-RateLimit-Reset": f"{self.now().timestamp() + 2:.3f}",
            "X-RateLimit-Reset-After": "2.000",
            "X-RateLimit-Bucket": "d8e1f6a1c2b3",
        }

    # ------------------------------------------------------------------ documented shapes

    def _webhook_json(self) -> dict[str, Any]:
        return {
            "application_id": None,
            "avatar": None,
            "channel_id": self.channel_id,
            "guild_id": self.guild_id,
            "id": self.webhook_id,
            "name": self.name,
            "type": 1,
            "token": self.token,
        }

    def _message_json(self, m: Message) -> dict[str, Any]:
        body = m.payload
        attachments = []
        described = {a["id"]: a for a in body.get("attachments", [])}
        for n, (filename, ctype, data) in sorted(m.files.items()):
            entry = described.get(n, {})
            name = entry.get("filename", filename)
            attachments.append(
                {
                    "id": str(int(m.id) + n + 1),
                    "filename": name,
                    "size": len(data),
                    "url": f"https://cdn.discordapp.com/attachments/{m.channel_id}/{m.id}/{name}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{m.channel_id}/{m.id}/{name}",
                    "content_type": ctype,
                    **({"description": entry["description"]} if "description" in entry else {}),
                }
            )
        return {
            "type": 0,
            "channel_id": m.channel_id,
            "content": body.get("content", ""),
            "attachments": attachments,
            "embeds": [{"type": "rich", **e} for e in body.get("embeds", [])],
            "timestamp": m.timestamp.isoformat(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "id": m.id,
            "author": {
                "bot": True,
                "id": self.webhook_id,
                "username": body.get("username", self.name),
                "avatar": None,
                "discriminator": "0000",
            },
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "webhook_id": self.webhook_id,
        }
