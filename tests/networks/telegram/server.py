"""A strict local Telegram Bot API on 127.0.0.1: the methods the adapter uses, as documented.

``/bot{token}/{method}`` (core.telegram.org/bots/api): a wrong token is 401 "Unauthorized",
a path that names no method 404 "Not Found", every answer ``{"ok", "result"}`` or ``{"ok":
false, "error_code", "description", "parameters"}``. Stricter than Telegram on purpose, which
ignores parameters it does not know: an unknown parameter, a JSON body where a file must be
uploaded, an ``attach://`` naming no file or a file no item names is a 400 whose description
starts with "strict server:".

Methods: ``getMe``, ``getChat``, ``sendMessage`` (JSON or form), ``sendPhoto``,
``sendVideo``, ``sendMediaGroup`` (multipart). Lengths are checked in code points, as a
measurement against the live API found Telegram counts them (FerroxLabs/wayland#934): the
adapter's UTF-16 rule is the stricter one, and ``utf16`` lets tests check it apart. Tests
inject answers per method (``inject``), after the message is kept if ``commit`` (the request
landed), or a dropped connection (``drop``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web

from publisher.testing.servers import LocalServer

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4"})
MAX_PHOTO_BYTES = 10 * 1024 * 1024

COMMON = frozenset(
    {
        "business_connection_id",
        "chat_id",
        "message_thread_id",
        "direct_messages_topic_id",
        "disable_notification",
        "protect_content",
        "allow_paid_broadcast",
        "message_effect_id",
        "reply_parameters",
        "reply_markup",
    }
)
PARAMETERS: Mapping[str, frozenset[str]] = {
    "getMe": frozenset(),
    "getChat": frozenset({"chat_id"}),
    "getChatMember": frozenset({"chat_id", "user_id"}),
    "sendMessage": COMMON | {"text", "parse_mode", "entities", "link_preview_options"},
    "sendPhoto": COMMON
    | {
        "photo",
        "caption",
        "parse_mode",
        "caption_entities",
        "show_caption_above_media",
        "has_spoiler",
    },
    "sendVideo": COMMON
    | {
        "video",
        "duration",
        "width",
        "height",
        "thumbnail",
        "cover",
        "start_timestamp",
        "caption",
        "parse_mode",
        "caption_entities",
        "show_caption_above_media",
        "has_spoiler",
        "supports_streaming",
    },
    "sendMediaGroup": (COMMON - {"reply_markup"}) | {"media"},
}
REPLY_PARAMETERS = frozenset(
    {
        "message_id",
        "chat_id",
        "allow_sending_without_reply",
        "quote",
        "quote_parse_mode",
        "quote_entities",
        "quote_position",
        "checklist_task_id",
    }
)
LINK_PREVIEW = frozenset(
    {"is_disabled", "url", "prefer_small_media", "prefer_large_media", "show_above_text"}
)
INPUT_MEDIA = {
    "photo": frozenset(
        {
            "type",
            "media",
            "caption",
            "parse_mode",
            "caption_entities",
            "show_caption_above_media",
            "has_spoiler",
        }
    ),
    "video": frozenset(
        {
            "type",
            "media",
            "thumbnail",
            "cover",
            "start_timestamp",
            "caption",
            "parse_mode",
            "caption_entities",
            "show_caption_above_media",
            "width",
            "height",
            "duration",
            "supports_streaming",
            "has_spoiler",
        }
    ),
}


def utf16(text: str) -> int:
    """UTF-16 code units, computed here apart from the adapter's rule."""
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def error_body(code: int, description: str, **parameters: int) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


@dataclass
class Message:
    message_id: int
    date: datetime
    kind: str  # "text", "photo" or "video"
    text: str | None = None
    caption: str | None = None
    file: tuple[str, str, bytes] | None = None  # filename, content type, bytes
    reply_to: int | None = None
    thread_id: int | None = None
    media_group_id: str | None = None
    silent: bool = False
    preview_disabled: bool = False


@dataclass
class _Injection:
    status: int
    body: dict[str, Any] | None
    commit: bool
    drop: bool = False


class _Refuse(Exception):
    def __init__(self, status: int, description: str, **parameters: int) -> None:
        super().__init__(description)
        self.response = web.json_response(
            error_body(status, description, **parameters), status=status
        )


class _Drop(Exception):
    pass


@dataclass
class TelegramServer:
    token: str = "123456789:AAH-test-bot-token-for-publisher"
    chat_id: int = -1001234567890
    chat_username: str | None = "brandchannel"
    chat_type: str = "channel"
    chat_title: str = "Brand"
    bot_username: str = "brand_publisher_bot"
    # The bot's membership as getChatMember gives it (ChatMemberAdministrator by default).
    bot_member: dict[str, Any] = field(
        default_factory=lambda: {"status": "administrator", "can_post_messages": True}
    )
    topics: frozenset[int] = frozenset()
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    messages: list[Message] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # method, content type
    url: str = ""

    def __post_init__(self) -> None:
        self._server: LocalServer | None = None
        self._injections: dict[str, list[_Injection]] = {}
        self._next_id = 100
        self._groups = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> TelegramServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # No access log: the token is in every request's path.
        self._server = LocalServer(app, access_log=False)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    # ------------------------------------------------------------------ test controls

    def inject(
        self,
        method: str,
        status: int,
        description: str = "",
        *,
        body: dict[str, Any] | None = None,
        commit: bool = False,
        times: int = 1,
        **parameters: int,
    ) -> None:
        """The next ``times`` valid calls of ``method`` get this answer (an error document
        unless ``body`` is given), after keeping the message when ``commit``."""
        doc = body if body is not None else error_body(status, description, **parameters)
        self._injections.setdefault(method, []).extend([_Injection(status, doc, commit)] * times)

    def drop(self, method: str, *, commit: bool = False) -> None:
        """The next valid call of ``method`` sees its connection reset."""
        self._injections.setdefault(method, []).append(_Injection(0, None, commit, drop=True))

    def add_message(self, text: str) -> Message:
        """A message already in the chat (someone else's, or earlier)."""
        return self._keep(Message(self._new_id(), self.now(), "text", text=text))

    # ------------------------------------------------------------------ plumbing

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _keep(self, message: Message) -> Message:
        self.messages.append(message)
        return message

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._route(request)
        except _Refuse as refusal:
            return refusal.response
        except _Drop:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=204)  # never reaches the client

    async def _route(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.split("/")
        if len(parts) != 3 or parts[0] != "" or not parts[1].startswith("bot"):
            raise _Refuse(404, "Not Found")
        if parts[1][3:] != self.token:
            raise _Refuse(401, "Unauthorized")
        method = parts[2]
        if method not in PARAMETERS:
            raise _Refuse(404, "Not Found: method not found")
        if request.method not in ("GET", "POST"):
            raise _Refuse(405, "Method Not Allowed")
        if request.query:
            raise _Refuse(400, "strict server: parameters go in the body, not the query")
        params, files = await self._read(request, method)
        self.calls.append((method, request.content_type))
        unknown = set(params) - PARAMETERS[method]
        if unknown:
            raise _Refuse(400, f"strict server: unknown parameters {sorted(unknown)}")
        if method == "getMe":
            return self._ok(self._bot())
        self._check_chat(params)
        if method == "getChat":
            return self._ok(self._chat(full=True))
        if method == "getChatMember":
            return self._ok(self._member(params.get("user_id")))
        messages = self._validate_send(method, params, files)
        injection = self._take(method)
        if injection is not None and not injection.commit:
            return self._answer(injection)
        for m in messages:
            self._keep(m)
        if injection is not None:
            return self._answer(injection)
        docs = [self._message_json(m) for m in messages]
        return self._ok(docs if method == "sendMediaGroup" else docs[0])

    async def _read(
        self, request: web.Request, method: str
    ) -> tuple[dict[str, Any], dict[str, tuple[str, str, bytes]]]:
        files: dict[str, tuple[str, str, bytes]] = {}
        ctype = request.content_type
        if not request.body_exists:
            return {}, files
        if ctype == "application/json":
            raw = await request.read()
            try:
                doc = json.loads(raw)
            except ValueError:
                raise _Refuse(400, "Bad Request: can't parse JSON object") from None
            if not isinstance(doc, dict):
                raise _Refuse(400, "Bad Request: JSON object expected")
            return doc, files
        if ctype != "multipart/form-data":
            raise _Refuse(400, f"strict server: {ctype} is not a body this server reads")
        fields: dict[str, Any] = {}
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise _Refuse(400, "strict server: nested multipart")
            name = part.name or ""
            if name in fields or name in files:
                raise _Refuse(400, f"strict server: {name!r} given twice")
            if part.filename is not None:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                files[name] = (part.filename, content_type, bytes(await part.read()))
            else:
                fields[name] = _form_value(name, await part.text())
        return fields, files

    def _check_chat(self, params: Mapping[str, Any]) -> None:
        chat = params.get("chat_id")
        known = {str(self.chat_id), self.chat_id}
        if self.chat_username:
            known.add(f"@{self.chat_username}")
        if chat not in known:
            raise _Refuse(400, "Bad Request: chat not found")

    def _validate_send(
        self, method: str, params: Mapping[str, Any], files: Mapping[str, tuple[str, str, bytes]]
    ) -> list[Message]:
        thread = params.get("message_thread_id")
        if thread is not None and (not isinstance(thread, int) or thread not in self.topics):
            raise _Refuse(400, "Bad Request: message thread not found")
        reply_to = self._reply_to(params.get("reply_parameters"))
        silent = params.get("disable_notification") is True
        now = self.now()
        if method == "sendMessage":
            if files:
                raise _Refuse(400, "strict server: sendMessage takes no files")
            text = params.get("text")
            if not isinstance(text, str) or not text.strip():
                raise _Refuse(400, "Bad Request: message text is empty")
            if len(text.strip()) > TEXT_LIMIT:
                raise _Refuse(400, "Bad Request: message is too long")
            preview = params.get("link_preview_options")
            if preview is not None and (
                not isinstance(preview, dict) or set(preview) - LINK_PREVIEW
            ):
                raise _Refuse(400, "strict server: link_preview_options is not one")
            disabled = isinstance(preview, dict) and preview.get("is_disabled") is True
            return [
                Message(
                    self._new_id(),
                    now,
                    "text",
                    text=text.strip(),
                    reply_to=reply_to,
                    thread_id=thread,
                    silent=silent,
                    preview_disabled=disabled,
                )
            ]
        caption = self._caption(params.get("caption"))
        if method in ("sendPhoto", "sendVideo"):
            kind = "photo" if method == "sendPhoto" else "video"
            name = params.get(kind)
            if name is not None or kind not in files:
                raise _Refuse(400, f"strict server: {kind} must be uploaded as a file part")
            if set(files) != {kind}:
                raise _Refuse(400, f"strict server: files no parameter names: {sorted(files)}")
            data = self._file(kind, files[kind])
            return [
                Message(
                    self._new_id(),
                    now,
                    kind,
                    caption=caption,
                    file=data,
                    reply_to=reply_to,
                    thread_id=thread,
                    silent=silent,
                )
            ]
        return self._group(params.get("media"), files, reply_to, thread, silent)

    def _group(
        self,
        media: Any,
        files: Mapping[str, tuple[str, str, bytes]],
        reply_to: int | None,
        thread: int | None,
        silent: bool,
    ) -> list[Message]:
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _Refuse(400, "Bad Request: wrong number of media in the group (2-10)")
        self._groups += 1
        group_id = f"1380{self._groups:08d}"
        named: list[str] = []
        out = []
        for i, item in enumerate(media):
            if not isinstance(item, dict) or item.get("type") not in INPUT_MEDIA:
                raise _Refuse(400, f"Bad Request: can't parse InputMedia #{i}")
            kind = item["type"]
            if set(item) - INPUT_MEDIA[kind]:
                raise _Refuse(400, f"strict server: unknown InputMedia fields #{i}")
            ref = item.get("media")
            if not isinstance(ref, str) or not ref.startswith("attach://"):
                raise _Refuse(400, f"strict server: media #{i} must name an uploaded file")
            name = ref.removeprefix("attach://")
            if name not in files or name in named:
                raise _Refuse(400, f"Bad Request: file {name!r} of media #{i} not found")
            named.append(name)
            data = self._file(kind, files[name])
            caption = self._caption(item.get("caption"))
            out.append(
                Message(
                    self._new_id(),
                    self.now(),
                    kind,
                    caption=caption,
                    file=data,
                    reply_to=reply_to,
                    thread_id=thread,
                    silent=silent,
                    media_group_id=group_id,
                )
            )
        if set(files) != set(named):
            raise _Refuse(
                400, f"strict server: files no item names: {sorted(set(files) - set(named))}"
            )
        return out

    def _reply_to(self, value: Any) -> int | None:
        if value is None:
            return None
        if not isinstance(value, dict) or set(value) - REPLY_PARAMETERS:
            raise _Refuse(400, "strict server: reply_parameters is not a ReplyParameters")
        target = value.get("message_id")
        if not isinstance(target, int) or not any(m.message_id == target for m in self.messages):
            raise _Refuse(400, "Bad Request: message to be replied not found")
        return target

    @staticmethod
    def _caption(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _Refuse(400, "strict server: caption is not a string")
        if len(value.strip()) > CAPTION_LIMIT:
            raise _Refuse(400, "Bad Request: message caption is too long")
        return value.strip()

    @staticmethod
    def _file(kind: str, file: tuple[str, str, bytes]) -> tuple[str, str, bytes]:
        _, ctype, data = file
        types = PHOTO_TYPES if kind == "photo" else VIDEO_TYPES
        if ctype not in types or not data:
            raise _Refuse(400, f"Bad Request: wrong type of the web page content ({ctype})")
        if kind == "photo" and len(data) > MAX_PHOTO_BYTES:
            raise _Refuse(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        return file

    def _take(self, method: str) -> _Injection | None:
        queue = self._injections.get(method)
        return queue.pop(0) if queue else None

    @staticmethod
    def _answer(injection: _Injection) -> web.Response:
        if injection.drop:
            raise _Drop
        return web.json_response(injection.body, status=injection.status)

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    # ------------------------------------------------------------------ documented shapes

    def _bot(self) -> dict[str, Any]:
        return {
            "id": int(self.token.split(":")[0]),
            "is_bot": True,
            "first_name": "Brand publisher",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _member(self, user_id: Any) -> dict[str, Any]:
        if user_id != self._bot()["id"]:
            raise _Refuse(400, "Bad Request: PARTICIPANT_ID_INVALID")
        member = {"user": self._bot(), **self.bot_member}
        if member["status"] == "administrator":
            rights = (
                "can_be_edited",
                "is_anonymous",
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_promote_members",
                "can_change_info",
                "can_invite_users",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
            )
            member = {**dict.fromkeys(rights, False), **member}
        return member

    def _chat(self, *, full: bool = False) -> dict[str, Any]:
        chat: dict[str, Any] = {
            "id": self.chat_id,
            "type": self.chat_type,
            "title": self.chat_title,
        }
        if self.chat_username:
            chat["username"] = self.chat_username
        if full:
            chat["accent_color_id"] = 0
            chat["max_reaction_count"] = 11
        return chat

    def _message_json(self, m: Message) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "message_id": m.message_id,
            "date": int(m.date.timestamp()),
            "chat": self._chat(),
        }
        if self.chat_type == "channel":
            doc["sender_chat"] = self._chat()
        else:
            doc["from"] = self._bot()
        if m.thread_id is not None:
            doc["message_thread_id"] = m.thread_id
            doc["is_topic_message"] = True
        if m.reply_to is not None:
            parent = next(p for p in self.messages if p.message_id == m.reply_to)
            doc["reply_to_message"] = {
                "message_id": parent.message_id,
                "date": int(parent.date.timestamp()),
                "chat": self._chat(),
            }
        if m.media_group_id is not None:
            doc["media_group_id"] = m.media_group_id
        if m.text is not None:
            doc["text"] = m.text
        if m.caption is not None:
            doc["caption"] = m.caption
        if m.kind == "photo":
            doc["photo"] = [
                {
                    "file_id": f"AgAC{m.message_id}",
                    "file_unique_id": f"AQAD{m.message_id}",
                    "width": 90,
                    "height": 90,
                    "file_size": len(m.file[2]) if m.file else 0,
                }
            ]
        if m.kind == "video":
            doc["video"] = {
                "file_id": f"BAAC{m.message_id}",
                "file_unique_id": f"AgAD{m.message_id}",
                "width": 640,
                "height": 360,
                "duration": 1,
            }
        return doc


def _form_value(name: str, text: str) -> Any:
    """A form field as the Bot API reads it: objects and numbers are JSON-serialized."""
    if name in (
        "reply_parameters",
        "media",
        "link_preview_options",
        "caption_entities",
        "reply_markup",
        "entities",
    ):
        try:
            return json.loads(text)
        except ValueError:
            raise _Refuse(400, f"Bad Request: can't parse {name} JSON object") from None
    if name in ("message_thread_id", "duration", "width", "height"):
        try:
            return int(text)
        except ValueError:
            raise _Refuse(400, f"Bad Request: {name} is not a number") from None
    if name in (
        "disable_notification",
        "protect_content",
        "has_spoiler",
        "supports_streaming",
        "show_caption_above_media",
    ):
        if text not in ("true", "false"):
            raise _Refuse(400, f"strict server: {name} must be true or false")
        return text == "true"
    if name == "chat_id" and text.lstrip("-").isdigit():
        return int(text)
    return text
