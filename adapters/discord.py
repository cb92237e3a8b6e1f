"""The ``discord`` network: messages to a channel through an incoming webhook.

The account is a webhook URL (``https://discord.com/api/webhooks/{id}/{token}``, from the
channel's Integrations settings): a ``Secret``, since whoever holds it can post. Its token
part is registered with the redactor too, so an error quoting only the path is scrubbed.

What is sent (discord.com/developers/docs/resources/webhook, "Execute Webhook"):
``POST {webhook_url}?wait=true`` (and ``thread_id`` for a thread of the channel), so Discord
answers with the message it saved. A text-only message is JSON; with files it is
``multipart/form-data`` with ``payload_json`` and ``files[n]``, each file listed in
``attachments`` with its alt text as ``description`` ("Uploading Files"). ``content`` takes
2,000 characters, counted in code points as Discord's API counts them (it measures Python
strings: discord/discord-api-docs#1315, answered by Discord's staff). A link card becomes
one ``rich`` embed (url, title, description, the thumb uploaded and named
``attachment://``). Mentions in the text ping nobody unless the post's ``ping`` option says
so (``allowed_mentions``). A long text becomes consecutive messages: a webhook cannot reply
to a message.

**Rate limits.** A 429 carries ``retry_after`` (seconds, a float) in its body and the bucket
headers (``X-RateLimit-Reset-After``, ``X-RateLimit-Reset``, ``X-RateLimit-Bucket``,
``X-RateLimit-Global``, ``X-RateLimit-Scope``): the body's wait is read first, then the
headers', then ``Retry-After`` (a Cloudflare ban sends only that); the reason names the
bucket and whether the limit is global.

**Unknown outcomes.** Execute Webhook has no idempotency key and, unlike Create Message, no
``nonce``; a webhook can read back a message only by its id (``GET
/webhooks/{id}/{token}/messages/{message_id}``) and cannot list the channel. A send whose
answer was lost gave no id, so nothing can find it: ``lookup`` answers ``Unknowable`` with
what the operator should check (``lookup_limit``, which ``publisher status`` shows too). The
parts of a long post already out are known by their ids and never sent again.

**Errors** (``{"code", "message"}``): an invalid token (401, 50027), a deleted webhook (404,
10015) or thread (10003), an archived or locked thread, a forum channel's webhook without a
``thread_id`` (220001) stop the account (``Attention.
CREDENTIALS``: held, nothing failed) until a human fixes its settings; other 4xx refuse the
post; 5xx but 503 after the body left are ambiguous.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator

from publisher.adapters import payload
from publisher.adapters.base import (
    AccountCheck,
    AccountSettings,
    AdapterContext,
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
    Problem,
    Progress,
    RateLimitedError,
    RemotePart,
    Rendered,
    RenderedPart,
    Subject,
    Unknowable,
)
from publisher.adapters.transport import Answer, HttpAdapter, Kind, Request
from publisher.adapters.waits import delay, seconds
from publisher.secrets import REDACTOR, Secret
from publisher.text import code_points

if TYPE_CHECKING:  # aiohttp loads with the first request: rendering needs none
    import aiohttp

log = logging.getLogger("publisher.network.discord")

CONTENT_LIMIT = 2000
MAX_FILES = 10
MAX_FILE_BYTES = 10 * 1024 * 1024  # the upload limit of a server without boosts
ALT_LIMIT = 1024  # an attachment's description
USERNAME_LIMIT = 80
BANNED_NAMES = ("discord", "clyde")  # Discord refuses a webhook username containing them
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/quicktime", "image/gif"})
TEXT_KEYS = frozenset({"content", "username", "title", "description"})

# JSON error codes (discord.com/developers/docs/topics/opcodes-and-status-codes).
UNKNOWN_CHANNEL = 10003
UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027
THREAD_ARCHIVED = 50083
THREAD_LOCKED = 160005
FORUM_NEEDS_THREAD = 220001  # a webhook of a forum channel posts only into a thread
ACCOUNT_CODES = frozenset(
    {
        UNKNOWN_CHANNEL,
        UNKNOWN_WEBHOOK,
        INVALID_WEBHOOK_TOKEN,
        THREAD_ARCHIVED,
        THREAD_LOCKED,
        FORUM_NEEDS_THREAD,
    }
)

_WEBHOOK_PATH = re.compile(r"(?P<base>/(?:.*/)?webhooks)/(?P<id>\d{1,20})/(?P<token>[\w.-]{8,})")

LOOKUP_LIMIT = (
    "a Discord webhook can read back a message only by the id its answer gave, and takes no "
    "nonce, so a message whose answer was lost is never found by a lookup (the parts of a "
    "long post already out are known and never sent again; only the message in doubt is "
    "unknown): look in the channel for it, then run `publisher resolve ID published` if it "
    "is there or `publisher resolve ID resend` if not"
)


class DiscordSettings(AccountSettings):
    webhook_url: Secret  # https://discord.com/api/webhooks/{id}/{token}
    thread_id: str | None = Field(default=None, pattern=r"^\d{1,20}$")
    username: str | None = Field(default=None, min_length=1, max_length=80)
    avatar_url: str | None = None

    @field_validator("thread_id", mode="before")
    @classmethod
    def _snowflake(cls, value: Any) -> Any:
        """A thread id written as a TOML number is the same id."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


@dataclass(frozen=True)
class _Webhook:
    url: str  # without query or fragment
    id: str


class DiscordAdapter(HttpAdapter):
    network = "discord"
    Settings = DiscordSettings
    lookup_limit = LOOKUP_LIMIT
    reset_headers = ("X-RateLimit-Reset",)
    post_options: ClassVar[Mapping[str, OptionSpec]] = MappingProxyType(
        {
            "username": OptionSpec(str, description="the name shown; the webhook's otherwise"),
            "avatar_url": OptionSpec(str, description="the avatar shown; the webhook's otherwise"),
            "ping": OptionSpec(
                bool, description="true: @mentions, @here and @everyone in the text notify"
            ),
        }
    )

    _guild_id: str | None = None  # learnt from the webhook object (``prepare``, ``check``)

    def __init__(self, account: str, settings: AccountSettings, context: AdapterContext) -> None:
        super().__init__(account, settings, context)
        secret = self._settings.webhook_url
        if secret.resolved:  # the token alone is a secret from the start, not at first use
            match = _WEBHOOK_PATH.fullmatch(urlsplit(secret.reveal().strip()).path.rstrip("/"))
            if match is not None:
                REDACTOR.add(match["token"])

    @property
    def _settings(self) -> DiscordSettings:
        assert isinstance(self.settings, DiscordSettings)
        return self.settings

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network="discord",
            length=LengthRule(code_points, CONTENT_LIMIT),
            media=MediaLimits(
                max_images=MAX_FILES,
                max_videos=MAX_FILES,
                max_image_bytes=MAX_FILE_BYTES,
                max_video_bytes=MAX_FILE_BYTES,
                image_types=IMAGE_TYPES,
                video_types=VIDEO_TYPES,
                alt_text_max=ALT_LIMIT,
                mix_images_and_video=True,
                max_items=MAX_FILES,
            ),
            threads=True,
            link_cards=True,
        )

    # ------------------------------------------------------------------ render and payloads

    def render(self, content: PostContent) -> Rendered:
        """The shared render, and Discord's own limits: the username, a link card's embed."""
        rendered = super().render(content)
        errors = []
        username = content.options.get("username") or self._settings.username
        if isinstance(username, str) and (
            len(username) > USERNAME_LIMIT or any(w in username.lower() for w in BANNED_NAMES)
        ):
            message = "username: at most 80 characters, without “discord” or “clyde”"
            errors.append(Problem(message, Subject.OPTION, key="username"))
        card = content.link
        if card is None:
            return rendered.with_problems(errors=errors)
        if len(card.title) > EMBED_TITLE_LIMIT:
            message = f"link card title: {len(card.title)} characters, at most 256"
            errors.append(Problem(message, Subject.LINK))
        if len(card.description) > EMBED_DESCRIPTION_LIMIT:
            message = f"link card description: {len(card.description)} characters, at most 4096"
            errors.append(Problem(message, Subject.LINK))
        if card.thumb is not None and len(content.media) >= MAX_FILES:
            message = f"the link card's thumb would be file {MAX_FILES + 1}; Discord takes 10"
            errors.append(Problem(message, Subject.LINK))
        return rendered.with_problems(errors=errors)

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        """The execute body (``payload_json`` when there are files); ``attachments[n]`` is
        ``files[n]``: the media in order, then the card's thumb."""
        s = self._settings
        body: dict[str, Any] = {}
        if text:
            body["content"] = text
        username = content.options.get("username") or s.username
        avatar = content.options.get("avatar_url") or s.avatar_url
        if isinstance(username, str):
            body["username"] = username
        if isinstance(avatar, str):
            body["avatar_url"] = avatar
        ping = content.options.get("ping") is True
        body["allowed_mentions"] = {"parse": ["users", "roles", "everyone"] if ping else []}
        attachments = [_attachment(i, m.filename, m.alt) for i, m in enumerate(media)]
        card = content.link if index == 0 else None
        if card is not None:
            embed: dict[str, Any] = {"url": card.url, "title": card.title or card.url}
            if card.description:
                embed["description"] = card.description
            if card.thumb is not None:
                name = f"thumb-{card.thumb.filename}"
                attachments.append(_attachment(len(attachments), name, ""))
                embed["thumbnail"] = {"url": f"attachment://{name}"}
            body["embeds"] = [embed]
        if attachments:
            body["attachments"] = attachments
        return body

    # ------------------------------------------------------------------ publish_part

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        hook = self._webhook()
        body = payload.fill(part.payload, text=TEXT_KEYS)
        files = list(part.media)
        if part.thumb is not None and "embeds" in body:
            files.append(part.thumb)
        what = f"posting part {part.index + 1}"
        params = {"wait": "true"}
        if self._settings.thread_id is not None:
            params["thread_id"] = self._settings.thread_id
        if files:
            form = await self._form(body, files)
            request = Request("POST", hook.url, Kind.CREATE, what, params=params, data=form)
        else:
            request = Request("POST", hook.url, Kind.CREATE, what, params=params, json=body)
        doc = (await self.send(request, expect=(200,))).object()
        message_id = doc.get("id")
        if not isinstance(message_id, str) or not message_id.isdigit():
            raise AmbiguousError(f"{what}: Discord answered 200 without a message id", status=200)
        channel = doc.get("channel_id")
        guild = doc.get("guild_id") if isinstance(doc.get("guild_id"), str) else self._guild_id
        url = None
        if isinstance(channel, str) and guild is not None:
            url = f"https://discord.com/channels/{guild}/{channel}/{message_id}"
        log.debug("%s: part %d is message %s", self.account, part.index + 1, message_id)
        return RemotePart(part.index, message_id, url)

    async def _form(self, body: Mapping[str, Any], files: Sequence[MediaItem]) -> aiohttp.FormData:
        import aiohttp

        form = aiohttp.FormData()
        form.add_field(
            "payload_json",
            json.dumps(body, ensure_ascii=False),
            content_type="application/json",
        )
        names = {a["id"]: a["filename"] for a in body.get("attachments", ())}
        for n, item in enumerate(files):
            found = await self.read_media(item)
            name = names.get(n, item.filename)
            form.add_field(f"files[{n}]", found.data, filename=name, content_type=found.mime_type)
        return form

    # ------------------------------------------------------------------ classify

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        """Discord's JSON ``code`` where it names the account's setup; the shared rules
        (429, 401, 403, 4xx content, 5xx) for the rest."""
        code = _code(answer)
        if answer.status != 429 and (code in ACCOUNT_CODES or answer.status == 401):
            return PermanentError(
                self.describe(answer), attention=Attention.CREDENTIALS, status=answer.status
            )
        return super().classify(answer, kind)

    def error_detail(self, answer: Answer) -> str:
        doc = answer.maybe_json()
        if not isinstance(doc, dict):
            return ""
        message = doc.get("message") if isinstance(doc.get("message"), str) else ""
        code = _code(answer)
        detail = f"{message} (code {code})" if code is not None else str(message)
        if isinstance(doc.get("errors"), dict):
            detail += f": {json.dumps(doc['errors'], ensure_ascii=False)}"
        return detail.strip()

    def rate_limited(self, answer: Answer, reason: str) -> RateLimitedError:
        """The body's ``retry_after``, else ``X-RateLimit-Reset-After``, else the shared
        reading (``X-RateLimit-Reset``, ``Retry-After``); the bucket and scope in the reason."""
        headers = answer.headers
        doc = answer.maybe_json()
        body_wait = doc.get("retry_after") if isinstance(doc, dict) else None
        wait = None
        if isinstance(body_wait, int | float) and not isinstance(body_wait, bool):
            wait = delay(float(body_wait))
        wait = wait or seconds(headers.get("X-RateLimit-Reset-After"))
        scope = [
            f"bucket {headers['X-RateLimit-Bucket']}" if "X-RateLimit-Bucket" in headers else "",
            "global" if headers.get("X-RateLimit-Global", "").lower() == "true" else "",
            f"scope {headers['X-RateLimit-Scope']}" if "X-RateLimit-Scope" in headers else "",
        ]
        said = ", ".join(s for s in scope if s)
        reason = self.scrub(f"{reason} ({said})") if said else reason
        if wait is None:
            return super().rate_limited(answer, reason)
        return RateLimitedError(reason, retry_after=wait, status=answer.status)

    # ------------------------------------------------------------------ lookup

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """Nothing to look up by: say what the operator can do (see the module's docstring)."""
        thread = self._settings.thread_id
        where = f"thread {thread} of the webhook's channel" if thread else "the webhook's channel"
        first = rendered.parts[0].text[:60] if rendered.parts else ""
        return Unknowable(
            f"{LOOKUP_LIMIT} (ID {ref.delivery_id}): look in {where} for a message sent from "
            f"{ref.scheduled_at:%Y-%m-%d %H:%M}Z on that begins {first!r}"
        )

    # ------------------------------------------------------------------ prepare and check

    async def prepare(self) -> None:
        """Learn the webhook's server, for message links."""
        await self._webhook_object()

    async def check(self) -> AccountCheck:
        """``GET {webhook_url}``: the webhook object (its answer holds the token: never
        logged, never kept but its name and ids)."""
        try:
            doc = await self._webhook_object()
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        name = doc.get("name") if isinstance(doc.get("name"), str) else "webhook"
        detail = (
            f"posts to channel {doc.get('channel_id')} of server {doc.get('guild_id')} "
            "(a webhook URL does not expire; deleting the webhook revokes it)"
        )
        return AccountCheck(CheckStatus.OK, identity=str(name), detail=detail)

    async def _webhook_object(self) -> dict[str, Any]:
        hook = self._webhook()
        request = Request("GET", hook.url, Kind.READ, "reading the webhook")
        doc = (await self.send(request, expect=(200,))).object()
        if isinstance(doc.get("guild_id"), str):
            self._guild_id = doc["guild_id"]
        return doc

    # ------------------------------------------------------------------ the webhook URL

    def _webhook(self) -> _Webhook:
        """The webhook URL, checked; its token registered with the redactor. A URL of
        another shape is the account's to fix, said without quoting it."""
        raw = self.reveal(self._settings.webhook_url).strip()
        parts = urlsplit(raw)
        match = _WEBHOOK_PATH.fullmatch(parts.path.rstrip("/"))
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.query
            or parts.fragment
            or match is None
        ):
            raise PermanentError(
                "webhook_url is not a Discord webhook URL "
                "(https://discord.com/api/webhooks/ID/TOKEN, without ?query)",
                attention=Attention.CREDENTIALS,
            )
        REDACTOR.add(match["token"])
        url = urlunsplit((parts.scheme, parts.netloc, match.group(0), "", ""))
        return _Webhook(url, match["id"])


def _attachment(index: int, filename: str, alt: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": index, "filename": filename}
    if alt:
        entry["description"] = alt
    return entry


def _code(answer: Answer) -> int | None:
    doc = answer.maybe_json()
    code = doc.get("code") if isinstance(doc, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None
