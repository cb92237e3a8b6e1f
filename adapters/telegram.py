"""The ``telegram`` network: a bot posting to a channel or a group through the Bot API.

Requests go to ``{api_base}/bot{token}/{method}`` (core.telegram.org/bots/api, "Making
requests"): the bot token is in the URL path. It is a ``Secret`` (registered with the
redactor when resolved), every ``Request.what`` is our own words and never the URL, and every
error text is scrubbed, so the token reaches no log, error or traceback.

What is sent (the shapes documented at core.telegram.org/bots/api):

* text only: ``sendMessage`` (JSON) with ``text``; no ``parse_mode``, so the text is sent as
  written and "after entities parsing" is the text itself;
* one photo or one video: ``sendPhoto`` / ``sendVideo`` (multipart, the file as ``photo`` /
  ``video``, the text as ``caption``);
* 2-10 photos and videos: ``sendMediaGroup`` (multipart: ``media`` a JSON array of
  ``InputMediaPhoto``/``InputMediaVideo`` naming ``attach://fileN``, the caption on the first).

**Length.** Telegram limits ``text`` to 4,096 and ``caption`` to 1,024 "characters after
entities parsing". Which characters it does not say: its entity offsets are UTF-16 code units,
and many clients count the limit so, while a published measurement against the live API
(FerroxLabs/wayland#934, 2026-08) found 4,096 emoji beyond the BMP accepted, i.e. a limit in
code points. The rule implemented is UTF-16 code units (``publisher.text.utf16_units``): never
fewer than the code points, so a post accepted here is accepted whichever way Telegram
counts; the cost is that a text rich in such emoji splits earlier than it might. A post with
media has the caption's 1,024 on every part, so the whole thread splits alike.

**Threads.** A long post becomes a reply chain: each part after the first answers the one
before it (``reply_parameters.message_id``; a media group is answered through its first
message). Replies show as such in channels and groups alike, and in a topic
(``message_thread_id``) the chain stays in the topic.

**No idempotency, no lookup.** The Bot API has neither an idempotency key nor a way for a bot
to read a chat's history (``getUpdates`` brings updates a bot receives, and not reliably its
own channel posts). So a send whose answer is lost is ambiguous (``Kind.CREATE``), and
``lookup`` can only say so: ``Unknowable``, with what the operator should check
(``lookup_limit``, which ``publisher status`` shows too). Parts of a thread already out are
known by their ids and never sent again; only the part in doubt is the operator's to settle.

**Errors** (``{"ok": false, "error_code", "description", "parameters"}``): 429, or any answer
with ``parameters.retry_after``, is rate limited for that many seconds; a group upgraded to a
supergroup (``parameters.migrate_to_chat_id``), a chat not found, a bot kicked, not a member or
without admin rights, a wrong or revoked token (401, and 404 for a token Telegram does not
know) stop the whole account (``Attention.CREDENTIALS``: held, nothing failed) until a human
fixes the account's settings; other 400s refuse the post (``Attention.CONTENT``).
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import field_validator

from publisher.adapters import payload
from publisher.adapters.base import (
    AccountCheck,
    AccountSettings,
    AdapterError,
    AmbiguousError,
    Attention,
    Capabilities,
    CheckStatus,
    DeliveryRef,
    LengthRule,
    LookupResult,
    MediaItem,
    MediaLimits,
    OptionSpec,
    PermanentError,
    PostContent,
    Progress,
    RateLimitedError,
    RemotePart,
    Rendered,
    RenderedPart,
    Unknowable,
)
from publisher.adapters.shared import render_with
from publisher.adapters.transport import Answer, HttpAdapter, Kind, Request, doubtful
from publisher.adapters.waits import delay
from publisher.secrets import Secret
from publisher.text import utf16_units

if TYPE_CHECKING:  # aiohttp loads with the first request: rendering needs none
    import aiohttp

log = logging.getLogger("publisher.network.telegram")

TEXT_LIMIT = 4096  # sendMessage text, UTF-16 code units
CAPTION_LIMIT = 1024  # a photo's, a video's, a media group's caption
MAX_GROUP = 10  # sendMediaGroup takes 2-10 items
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # "The photo must be at most 10 MB in size"
MAX_VIDEO_BYTES = 50 * 1024 * 1024  # bots upload files of up to 50 MB
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4"})  # "Telegram clients support MPEG4 videos"
TEXT_KEYS = frozenset({"text", "caption"})  # the editor's words: no placeholders

# What a 400/403 says when the account's setup, not the post, is wrong: the chat id, the
# bot's membership or rights, the topic. Matched in the description, lower case.
ACCOUNT_PROBLEMS = (
    "chat not found",
    "bot was kicked",
    "bot is not a member",
    "not enough rights to send text",
    "need administrator rights",
    "have no rights to send a message",
    "chat_write_forbidden",
    "message thread not found",
    "topic_closed",
    "topic_deleted",
    "group chat was upgraded",
)

_CHAT_ID = re.compile(r"-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")

LOOKUP_LIMIT = (
    "Telegram gives a bot no way to read a chat's history, so an unknown delivery is never "
    "settled by a lookup (the parts of a long post already out are known and never sent "
    "again; only the message in doubt is unknown): look in the chat for it, then run "
    "`publisher resolve ID published` if it is there or `publisher resolve ID resend` if not"
)


class TelegramSettings(AccountSettings):
    bot_token: Secret
    chat_id: str  # "-1001234567890", or "@channelname" for a public channel
    message_thread_id: int | None = None  # a forum topic of a supergroup
    api_base: str = "https://api.telegram.org"

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not _CHAT_ID.fullmatch(value.strip()):
            raise ValueError("chat_id must be a chat's number (-100…) or @channelname")
        return value.strip() if isinstance(value, str) else value

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("api_base must be a URL like https://api.telegram.org")
        return value


@dataclass(frozen=True)
class _TelegramError:
    """The error fields of a Bot API answer, as far as they are there."""

    code: int | None
    description: str
    retry_after: float | None
    migrate_to: int | None


class TelegramAdapter(HttpAdapter):
    network = "telegram"
    Settings = TelegramSettings
    lookup_limit = LOOKUP_LIMIT
    post_options: ClassVar[Mapping[str, OptionSpec]] = MappingProxyType(
        {
            "silent": OptionSpec(bool, description="send without a notification sound"),
            "link_preview": OptionSpec(
                bool, description="false: show no preview of the text's first link"
            ),
        }
    )

    _caption: bool = False  # a view for a post with media: the caption's limit

    @property
    def _settings(self) -> TelegramSettings:
        assert isinstance(self.settings, TelegramSettings)
        return self.settings

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network="telegram",
            length=LengthRule(utf16_units, CAPTION_LIMIT if self._caption else TEXT_LIMIT),
            media=MediaLimits(
                max_images=MAX_GROUP,
                max_videos=MAX_GROUP,
                max_image_bytes=MAX_PHOTO_BYTES,
                max_video_bytes=MAX_VIDEO_BYTES,
                image_types=PHOTO_TYPES,
                video_types=VIDEO_TYPES,
                alt_text_max=0,  # the Bot API has no alt text
                mix_images_and_video=True,
                max_items=MAX_GROUP,
            ),
            threads=True,
        )

    # ------------------------------------------------------------------ render and payloads

    def render(self, content: PostContent) -> Rendered:
        """With media the text is a caption: 1,024 for every part."""
        if not content.media:
            return render_with(self, content)
        view = copy.copy(self)
        view._caption = True
        return render_with(view, content)

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        """The method's parameters; which method follows from the keys (``_method``)."""
        s = self._settings
        body: dict[str, Any] = {"chat_id": s.chat_id}
        if s.message_thread_id is not None:
            body["message_thread_id"] = s.message_thread_id
        if len(media) == 1:
            kind = "photo" if media[0].kind == "image" else "video"
            body[kind] = payload.media(0)
            if text:
                body["caption"] = text
        elif media:
            group: list[dict[str, Any]] = []
            for i, item in enumerate(media):
                entry = {"type": "photo" if item.kind == "image" else "video"}
                entry["media"] = payload.media(i)
                group.append(entry)
            if text:
                group[0]["caption"] = text
            body["media"] = group
        else:
            body["text"] = text
            if content.options.get("link_preview") is False:
                body["link_preview_options"] = {"is_disabled": True}
        if index:
            body["reply_parameters"] = {"message_id": payload.part(index - 1)}
        if content.options.get("silent") is True:
            body["disable_notification"] = True
        return body

    # ------------------------------------------------------------------ publish_part

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        parents = {i: int(remote) for i, remote in progress.remote_ids().items()}
        method = _method(part.payload)
        what = f"posting part {part.index + 1} ({method})"
        if method == "sendMessage":
            body = payload.fill(part.payload, parts=parents, text=TEXT_KEYS)
            result = await self._call(method, Kind.CREATE, what, json=body)
        else:
            form = await self._form(part, parents)
            result = await self._call(method, Kind.CREATE, what, data=form)
        messages = result if isinstance(result, list) else [result]
        found = [_message_id(m) for m in messages]
        ids = [i for i in found if i is not None]
        if not ids or len(ids) != len(found):
            raise AmbiguousError(f"{what}: Telegram answered ok without the message ids")
        first = messages[0]
        extra = {"message_ids": tuple(str(i) for i in ids)} if len(ids) > 1 else {}
        url = message_url(first.get("chat"), ids[0])
        log.debug("%s: part %d is message %s", self.account, part.index + 1, ids[0])
        return RemotePart(part.index, str(ids[0]), url, extra)

    async def _form(self, part: RenderedPart, parents: Mapping[int, int]) -> aiohttp.FormData:
        """A multipart body: each file as its own part, the rest as fields (objects as JSON,
        as the Bot API takes them in a form); a media group names its files ``attach://``."""
        import aiohttp

        form = aiohttp.FormData()
        names = [f"file{i}" for i in range(len(part.media))]
        grouped = "media" in part.payload
        fields = payload.fill(
            part.payload,
            media=[f"attach://{n}" for n in names] if grouped else names,
            parts=parents,
            text=TEXT_KEYS,
        )
        for key, value in fields.items():
            if key in ("photo", "video"):
                await self._add_file(form, key, part.media[0])
            elif isinstance(value, dict | list):
                form.add_field(key, json.dumps(value, ensure_ascii=False))
            elif isinstance(value, bool):
                form.add_field(key, "true" if value else "false")
            else:
                form.add_field(key, str(value))
        if grouped:
            for name, item in zip(names, part.media, strict=True):
                await self._add_file(form, name, item)
        return form

    async def _add_file(self, form: aiohttp.FormData, name: str, item: MediaItem) -> None:
        found = await self.read_media(item)
        form.add_field(name, found.data, filename=item.filename, content_type=found.mime_type)

    # ------------------------------------------------------------------ classify

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        """The Bot API's error fields decide; the shared default for the rest (5xx)."""
        err = _telegram_error(answer)
        status = answer.status
        reason = self.describe(answer)
        if err.retry_after is not None or status == 429:
            if err.retry_after is None:
                return super().classify(answer, kind)
            wait = delay(err.retry_after)
            return RateLimitedError(reason, retry_after=wait, status=status)
        if err.migrate_to is not None:
            return PermanentError(
                f"{reason}; the group is a supergroup now: set chat_id = {err.migrate_to}",
                attention=Attention.CREDENTIALS,
                status=status,
            )
        lowered = err.description.lower()
        if status in (401, 404) or any(p in lowered for p in ACCOUNT_PROBLEMS):
            return PermanentError(reason, attention=Attention.CREDENTIALS, status=status)
        if status == 403 or "not enough rights" in lowered:
            # a group that forbids this kind of message (photos, say): this post, not all
            return PermanentError(reason, attention=Attention.PERMISSION, status=status)
        if 400 <= status < 500:
            return PermanentError(reason, attention=Attention.CONTENT, status=status)
        return super().classify(answer, kind)

    def error_detail(self, answer: Answer) -> str:
        return _telegram_error(answer).description

    # ------------------------------------------------------------------ lookup

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """Nothing to read: say what the operator can do (see the module's docstring)."""
        chat, topic = self._settings.chat_id, self._settings.message_thread_id
        where = f" (topic {topic})" if topic is not None else ""
        first = rendered.parts[0].text[:60] if rendered.parts else ""
        return Unknowable(
            f"{LOOKUP_LIMIT} (ID {ref.delivery_id}): look in chat {chat}{where} for a message "
            f"sent from {ref.scheduled_at:%Y-%m-%d %H:%M}Z on that begins {first!r}"
        )

    # ------------------------------------------------------------------ check

    async def check(self) -> AccountCheck:
        """``getMe`` (the token works), ``getChat`` (the bot sees the chat) and
        ``getChatMember`` of the bot itself (it may post there)."""
        chat_id = self._settings.chat_id
        try:
            bot = await self._call("getMe", Kind.READ, "checking the bot token")
            chat = await self._call(
                "getChat", Kind.READ, "checking the chat", json={"chat_id": chat_id}
            )
            bot_id = bot.get("id") if isinstance(bot, dict) else None
            member = await self._call(
                "getChatMember",
                Kind.READ,
                "checking the bot's rights",
                json={"chat_id": chat_id, "user_id": bot_id},
            )
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        if not isinstance(bot, dict) or not isinstance(chat, dict) or not isinstance(member, dict):
            return AccountCheck(CheckStatus.ATTENTION, detail="Telegram answered an odd shape")
        name = bot.get("username")
        identity = f"@{name}" if isinstance(name, str) else str(bot_id or "a bot")
        title = chat.get("title") or chat.get("username") or chat_id
        kind = chat.get("type", "chat")
        problem = _posting_problem(str(kind), member)
        if problem:
            return AccountCheck(
                CheckStatus.ATTENTION, identity=identity, detail=f"{kind} {title!s}: {problem}"
            )
        detail = f"posts to {kind} {title!s} (bot tokens do not expire)"
        return AccountCheck(CheckStatus.OK, identity=identity, detail=detail)

    # ------------------------------------------------------------------ requests

    async def _call(
        self,
        method: str,
        kind: Kind,
        what: str,
        *,
        json: Any = None,
        data: aiohttp.FormData | None = None,
    ) -> Any:
        """One Bot API call: its ``result``, or our error. The token is in the URL path."""
        s = self._settings
        url = f"{s.api_base}/bot{self.reveal(s.bot_token)}/{method}"
        request = Request("POST", url, kind, what, json=json, data=data)
        answer = await self.send(request, expect=(200,))
        doc = answer.object()
        if doc.get("ok") is not True or "result" not in doc:
            raise doubtful(kind, f"{what}: HTTP 200 without ok and a result", status=200)
        return doc["result"]


def _posting_problem(chat_type: str, member: Mapping[str, Any]) -> str:
    """Why the bot, a member of the chat as ``getChatMember`` describes it, cannot post
    there; empty when it can. A channel takes posts from administrators with the right to
    post; a group from any member not restricted from sending."""
    status = member.get("status")
    if status in ("left", "kicked"):
        return "the bot is not in the chat: add it"
    if chat_type == "channel":
        if status == "creator":
            return ""
        if status != "administrator" or member.get("can_post_messages") is not True:
            return "the bot cannot post: make it an administrator with the right to post"
        return ""
    if status == "restricted" and member.get("can_send_messages") is not True:
        return "the bot is restricted from sending messages in the group"
    return ""


def _message_id(message: Any) -> int | None:
    value = message.get("message_id") if isinstance(message, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _method(body: Mapping[str, Any]) -> str:
    if "media" in body:
        return "sendMediaGroup"
    if "photo" in body:
        return "sendPhoto"
    if "video" in body:
        return "sendVideo"
    return "sendMessage"


def _telegram_error(answer: Answer) -> _TelegramError:
    doc = answer.maybe_json()
    fields: Mapping[str, Any] = doc if isinstance(doc, dict) else {}
    params = fields.get("parameters")
    params = params if isinstance(params, dict) else {}
    code = fields.get("error_code")
    retry = params.get("retry_after")
    migrate = params.get("migrate_to_chat_id")
    description = fields.get("description")
    return _TelegramError(
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        description=description.strip() if isinstance(description, str) else "",
        retry_after=float(retry)
        if isinstance(retry, int | float) and not isinstance(retry, bool)
        else None,
        migrate_to=migrate if isinstance(migrate, int) and not isinstance(migrate, bool) else None,
    )


def message_url(chat: Any, message_id: int) -> str | None:
    """A link to the message: t.me/<username>/<id> for a public chat, t.me/c/<id>/<id> for a
    private channel or supergroup; none for a basic group, which has no message links."""
    if not isinstance(chat, dict):
        return None
    username = chat.get("username")
    if isinstance(username, str) and username:
        return f"https://t.me/{username}/{message_id}"
    chat_id = chat.get("id")
    if isinstance(chat_id, int) and str(chat_id).startswith("-100"):
        return f"https://t.me/c/{str(chat_id)[4:]}/{message_id}"
    return None
