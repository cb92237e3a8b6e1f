"""The ``mastodon`` network: statuses, media and threads through the Mastodon REST API.

Each instance sets its own limits, so ``prepare`` asks ``/api/v2/instance`` once and render
uses the answer (before that, the account's settings). Statuses carry an ``Idempotency-Key``
(``ref.part_key(i)``): Mastodon keeps it for an hour per account, so the engine's resend of an
``unknown`` delivery with the same key cannot create a second status inside that hour.

Error mapping, and why:

* media uploads and reads (instance, media polls, timelines) create nothing anyone sees: an
  orphan upload is never attached and Mastodon deletes it, so every failure there is transient;
* the ``POST /api/v1/statuses`` request: a failure before the body left (connect) is transient;
  after it left (timeout, reset, 5xx other than 503, garbage 200) it is **ambiguous**, although
  the idempotency key makes a resend safe *within the hour*. The adapter cannot know when the
  engine will resend (backoff reaches an hour, the daemon may be stopped), and a transient
  error would tell the engine "nothing was created", which is false. Ambiguous keeps that
  fact; the engine, which knows when the first attempt left, resends with the same key inside
  the window and looks the post up after it;
* 503 stays transient: Mastodon answers it when it could not take its idempotency lock or its
  transaction was rolled back (nothing saved), or when no backend answered at all.
"""

from __future__ import annotations

import copy
import html
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator

from publisher.adapters.base import (
    Absent,
    AccountCheck,
    AccountSettings,
    Adapter,
    AdapterError,
    AmbiguousError,
    Attention,
    Capabilities,
    CheckStatus,
    DeliveryRef,
    Found,
    LengthKind,
    LengthRule,
    LookupResult,
    MediaItem,
    MediaLimits,
    OptionSpec,
    PermanentError,
    PostContent,
    Problem,
    Published,
    RateLimitedError,
    RemotePart,
    Rendered,
    Subject,
    TransientError,
    Unknowable,
)
from publisher.secrets import REDACTOR, Secret

log = logging.getLogger("publisher.network.mastodon")

INSTANCE_V2 = "/api/v2/instance"
INSTANCE_V1 = "/api/v1/instance"
STATUSES = "/api/v1/statuses"
MEDIA_UPLOAD = "/api/v2/media"
MEDIA_GET = "/api/v1/media/{id}"
VERIFY = "/api/v1/accounts/verify_credentials"
ACCOUNT_STATUSES = "/api/v1/accounts/{id}/statuses"

VISIBILITIES = ("public", "unlisted", "private", "direct")

# Mastodon 4.x defaults, used until the instance is asked.
DEFAULT_IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/avif"}
)
# The shared layer counts GIFs with videos (Mastodon turns them into gifv), so they go here.
DEFAULT_VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/quicktime", "image/gif"})
DEFAULT_IMAGE_BYTES = 16 * 1024 * 1024
DEFAULT_VIDEO_BYTES = 99 * 1024 * 1024
DEFAULT_MAX_MEDIA = 4
DEFAULT_ALT_MAX = 1500

# Media processing: wait 1 s, then doubling up to 10 s, for at most about five minutes.
MEDIA_POLL_FIRST = timedelta(seconds=1)
MEDIA_POLL_MAX = timedelta(seconds=10)
MEDIA_POLLS = 32

# A 429 without a usable reset: Mastodon's general window is five minutes.
DEFAULT_RATE_WAIT = timedelta(minutes=5)

# Lookup: pages of 40 statuses, at most this many, and this much clock skew tolerated.
LOOKUP_PAGE = 40
LOOKUP_MAX_PAGES = 10
LOOKUP_SKEW = timedelta(minutes=5)

_MEDIA_PLACEHOLDER = re.compile(r"<media:(\d+)>")
_PART_PLACEHOLDER = re.compile(r"<part:(\d+)>")
# "@user@domain" shows (and counts) as "@user" on Mastodon.
_REMOTE_MENTION = re.compile(r"(?<![=/\w])@(\w+(?:[.-]+\w+)*)@[\w.-]+\w")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARAGRAPH = re.compile(r"</p>\s*<p[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


class MastodonSettings(AccountSettings):
    instance: str  # base URL, e.g. https://mastodon.social
    token: Secret
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    language: str | None = None
    max_characters: int = Field(default=500, ge=1)  # until the instance is asked
    url_length: int = Field(default=23, ge=1)

    @field_validator("instance")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if "://" not in value:
            value = f"https://{value}"
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("instance must be a URL like https://mastodon.social")
        if parts.query or parts.fragment:
            raise ValueError("instance must be the server's base URL, without ?query or #fragment")
        return value


@dataclass(frozen=True)
class InstanceLimits:
    """What ``/api/v2/instance`` said; render uses it once ``prepare`` ran."""

    max_characters: int
    url_length: int
    max_media: int = DEFAULT_MAX_MEDIA
    alt_text_max: int = DEFAULT_ALT_MAX
    image_bytes: int = DEFAULT_IMAGE_BYTES
    video_bytes: int = DEFAULT_VIDEO_BYTES
    image_types: frozenset[str] = DEFAULT_IMAGE_TYPES
    video_types: frozenset[str] = DEFAULT_VIDEO_TYPES


class _Stage(Enum):
    """Which request failed decides what a failure after the body left means."""

    READ = "read"  # GETs: nothing is created
    UPLOAD = "upload"  # media: an orphan upload is harmless
    CREATE = "create"  # a status: may exist after a failure


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class _Seen:
    """One status of the account's timeline, reduced to what matching needs."""

    id: str
    url: str | None
    created_at: datetime | None
    text: str  # comparable form
    in_reply_to_id: str | None
    alts: tuple[str, ...]


class MastodonAdapter(Adapter):
    network = "mastodon"
    # Mastodon keeps an Idempotency-Key for an hour from the status's creation; keep a margin.
    idempotency_window = timedelta(minutes=50)
    Settings = MastodonSettings
    post_options: ClassVar[Mapping[str, OptionSpec]] = MappingProxyType(
        {
            "visibility": OptionSpec(
                str, VISIBILITIES, "who sees the statuses; the account's `visibility` otherwise"
            ),
            "spoiler_text": OptionSpec(str, description="a content warning shown before the text"),
            "sensitive": OptionSpec(bool, description="mark the statuses and media sensitive"),
        }
    )

    _instance_limits: InstanceLimits | None = None
    _account_id: str | None = None
    _reserve: int = 0  # characters the content warning takes from every part
    # The last capabilities built, with what they were built from: render asks for every post.
    _caps: tuple[InstanceLimits | None, int, Capabilities] | None = None

    @property
    def _settings(self) -> MastodonSettings:
        assert isinstance(self.settings, MastodonSettings)
        return self.settings

    # ------------------------------------------------------------------ rules and render

    def capabilities(self) -> Capabilities:
        known = self._caps
        if known is not None and known[0] is self._instance_limits and known[1] == self._reserve:
            return known[2]
        s = self._settings
        inst = self._instance_limits or InstanceLimits(s.max_characters, s.url_length)
        caps = Capabilities(
            network="mastodon",
            length=LengthRule(
                LengthKind.MASTODON, max(inst.max_characters - self._reserve, 1), inst.url_length
            ),
            media=MediaLimits(
                max_images=inst.max_media,
                max_videos=1,
                max_image_bytes=inst.image_bytes,
                max_video_bytes=inst.video_bytes,
                image_types=inst.image_types,
                video_types=inst.video_types,
                alt_text_max=inst.alt_text_max,
                mix_images_and_video=False,
            ),
            threads=True,
        )
        self._caps = (self._instance_limits, self._reserve, caps)
        return caps

    def render(self, content: PostContent) -> Rendered:
        """Mastodon counts the content warning in each status's limit: reserve it, then split."""
        from publisher.adapters.shared import render_with

        spoiler = _spoiler(content)
        if not spoiler:
            return render_with(self, content)
        view = copy.copy(self)  # same settings and limits, a smaller length budget
        view._reserve = len(spoiler)
        rendered = render_with(view, content)
        note = f"the content warning takes {len(spoiler)} characters of every part"
        return rendered.with_problems(warnings=[Problem(note, Subject.OPTION, key="spoiler_text")])

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        body: dict[str, Any] = {}
        if text or not media:
            body["status"] = text
        if media:
            body["media_ids"] = [f"<media:{i}>" for i in range(len(media))]
        if index:
            body["in_reply_to_id"] = f"<part:{index - 1}>"
        visibility = content.options.get("visibility")
        body["visibility"] = visibility if visibility in VISIBILITIES else self._settings.visibility
        language = content.language or self._settings.language
        if language:
            body["language"] = language
        spoiler = _spoiler(content)
        if spoiler:
            body["spoiler_text"] = spoiler
        sensitive = content.options.get("sensitive")
        if isinstance(sensitive, bool):
            body["sensitive"] = sensitive
        return body

    # ------------------------------------------------------------------ prepare

    async def prepare(self) -> None:
        """Ask the instance for its limits; raises our errors, and until it succeeds the
        account's settings (max_characters, url_length) stay in force."""
        answer = await self._send("GET", INSTANCE_V2, stage=_Stage.READ, auth=False)
        if answer.status == 404:  # Mastodon before 4.0 and some compatible servers
            answer = await self._send("GET", INSTANCE_V1, stage=_Stage.READ, auth=False)
        if answer.status != 200:
            raise self._error_for(answer, _Stage.READ, "reading the instance's limits")
        try:
            doc = answer.json()
        except ValueError as err:
            raise TransientError("the instance's limits are not JSON", status=200) from err
        if not isinstance(doc, dict):
            raise TransientError("the instance's limits have an unexpected shape", status=200)
        self._instance_limits = _limits_from(doc, self._settings)
        log.debug("%s: instance limits %s", self.account, self._instance_limits)

    # ------------------------------------------------------------------ publish

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        if rendered.errors:
            raise PermanentError(
                "cannot publish as written: " + "; ".join(rendered.errors),
                attention=Attention.CONTENT,
            )
        out: dict[int, RemotePart] = {p.index: p for p in done}
        for part in rendered.parts:
            if part.index in out:
                continue
            try:
                media_ids = [await self._upload(m) for m in part.media]
                payload = _resolve(part.payload, media_ids, out)
                out[part.index] = await self._create_status(part.index, payload, ref)
            except AdapterError as err:
                raise err.with_partial(_ordered(out)) from err.__cause__
        return Published(_ordered(out))

    async def _create_status(
        self, index: int, payload: Mapping[str, Any], ref: DeliveryRef
    ) -> RemotePart:
        answer = await self._send(
            "POST",
            STATUSES,
            stage=_Stage.CREATE,
            json_body=payload,
            headers={"Idempotency-Key": ref.part_key(index)},
        )
        if answer.status != 200:
            raise self._error_for(answer, _Stage.CREATE, f"posting part {index + 1}")
        doc = _json_or(answer, _Stage.CREATE, "the new status")
        status_id = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(status_id, str) or not status_id:
            raise AmbiguousError(
                "Mastodon answered 200 without a status id: the status may exist", status=200
            )
        url = doc.get("url") if isinstance(doc.get("url"), str) else None
        log.debug("%s: part %d is status %s", self.account, index + 1, status_id)
        return RemotePart(index, status_id, url)

    async def _upload(self, item: MediaItem) -> str:
        found = await self.read_media(item)
        form = aiohttp.FormData()
        form.add_field("file", found.data, filename=item.filename, content_type=found.mime_type)
        if item.alt:
            form.add_field("description", item.alt)
        answer = await self._send("POST", MEDIA_UPLOAD, stage=_Stage.UPLOAD, form=form)
        if answer.status not in (200, 202):
            raise self._error_for(answer, _Stage.UPLOAD, f"uploading {item.filename}")
        doc = _json_or(answer, _Stage.UPLOAD, f"the upload of {item.filename}")
        media_id = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(media_id, str) or not media_id:
            raise TransientError(f"uploading {item.filename}: no media id in the answer")
        if answer.status == 202 or doc.get("url") is None:
            await self._wait_processed(media_id, item.filename)
        return media_id

    async def _wait_processed(self, media_id: str, name: str) -> None:
        """Mastodon attaches only processed media; poll (through the clock seam) until it is."""
        delay = MEDIA_POLL_FIRST
        for _ in range(MEDIA_POLLS):
            await self.context.pause(delay)
            delay = min(delay * 2, MEDIA_POLL_MAX)
            answer = await self._send("GET", MEDIA_GET.format(id=media_id), stage=_Stage.UPLOAD)
            if answer.status == 206:
                continue
            if answer.status != 200:
                raise self._error_for(answer, _Stage.UPLOAD, f"processing {name}")
            doc = _json_or(answer, _Stage.UPLOAD, f"the processing of {name}")
            if isinstance(doc, dict) and doc.get("url"):
                return
        raise TransientError(f"{name}: Mastodon is still processing it after {MEDIA_POLLS} checks")

    # ------------------------------------------------------------------ lookup and check

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """Find the delivery on the account's timeline by its text (Mastodon returns HTML)."""
        if not rendered.parts:
            return Unknowable("nothing was rendered to look for")
        first = rendered.parts[0]
        want = _comparable(first.text)
        alts = tuple(m.alt for m in first.media)
        if not want and not any(alts):
            return Unknowable("the post has neither text nor alt text to recognise it by")
        try:
            account_id = await self._own_account_id()
            seen, complete = await self._timeline(account_id, since - LOOKUP_SKEW)
        except AdapterError as err:
            return Unknowable(f"cannot read the timeline: {err.reason}")
        oldest_first = sorted(seen, key=lambda s: (len(s.id), s.id))
        head = next((s for s in oldest_first if _matches(s, want, alts)), None)
        if head is None:
            if complete:
                return Absent()
            return Unknowable(
                f"no match in the last {LOOKUP_PAGE * LOOKUP_MAX_PAGES} statuses, "
                "which do not reach back to the first attempt"
            )
        parts = [RemotePart(0, head.id, head.url)]
        for part in rendered.parts[1:]:
            prev = parts[-1].remote_id
            text = _comparable(part.text)
            reply = next(
                (s for s in oldest_first if s.in_reply_to_id == prev and s.text == text), None
            )
            if reply is None:
                break  # the rest of the thread is not out: the engine resumes from here
            parts.append(RemotePart(part.index, reply.id, reply.url))
        return Found(Published(tuple(parts)))

    async def check(self) -> AccountCheck:
        try:
            answer = await self._send("GET", VERIFY, stage=_Stage.READ)
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        if answer.status != 200:
            refused = self._error_for(answer, _Stage.READ, "verifying the token")
            return AccountCheck(CheckStatus.ATTENTION, detail=refused.reason)
        try:
            doc = answer.json()
        except ValueError:
            doc = None
        acct = doc.get("acct") if isinstance(doc, dict) else None
        if not isinstance(acct, str) or not acct:
            return AccountCheck(
                CheckStatus.ATTENTION, detail="verify_credentials answered without an account"
            )
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            self._account_id = doc["id"]
        host = urlsplit(self._settings.instance).hostname or self._settings.instance
        return AccountCheck(CheckStatus.OK, identity=f"@{acct}", detail=f"on {host}")

    async def _own_account_id(self) -> str:
        if self._account_id is not None:
            return self._account_id
        answer = await self._send("GET", VERIFY, stage=_Stage.READ)
        if answer.status != 200:
            raise self._error_for(answer, _Stage.READ, "verifying the token")
        doc = _json_or(answer, _Stage.READ, "verify_credentials")
        account_id = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(account_id, str) or not account_id:
            raise TransientError("verify_credentials answered without an account id")
        self._account_id = account_id
        return account_id

    async def _timeline(self, account_id: str, since: datetime) -> tuple[list[_Seen], bool]:
        """The account's statuses newer than ``since``; ``complete`` if they reach back to it."""
        seen: list[_Seen] = []
        max_id: str | None = None
        path = ACCOUNT_STATUSES.format(id=account_id)
        for _ in range(LOOKUP_MAX_PAGES):
            params = {"limit": str(LOOKUP_PAGE), "exclude_reblogs": "true"}
            if max_id is not None:
                params["max_id"] = max_id
            answer = await self._send("GET", path, stage=_Stage.READ, params=params)
            if answer.status != 200:
                raise self._error_for(answer, _Stage.READ, "reading the timeline")
            page = _json_or(answer, _Stage.READ, "the timeline")
            if not isinstance(page, list):
                raise TransientError("the timeline has an unexpected shape")
            if not page:
                return seen, True
            for raw in page:
                status = _seen(raw)
                if status is None:
                    raise TransientError("a timeline status has an unexpected shape")
                if status.created_at is not None and status.created_at < since:
                    return seen, True
                seen.append(status)
            max_id = seen[-1].id
            if len(page) < LOOKUP_PAGE:
                return seen, True
        return seen, False

    # ------------------------------------------------------------------ HTTP

    def _token(self) -> str:
        return self.reveal(self._settings.token)

    def _scrub(self, text: str) -> str:
        return self.scrub(text)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        stage: _Stage,
        auth: bool = True,
        json_body: Mapping[str, Any] | None = None,
        form: aiohttp.FormData | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Answer:
        """One request; every aiohttp failure becomes one of our errors, by stage."""
        send_headers = {"Accept": "application/json", **(headers or {})}
        if auth:
            send_headers["Authorization"] = f"Bearer {self._token()}"
        url = self._settings.instance + path
        what = f"{method} {path}"
        try:
            async with self.context.http().request(
                method,
                url,
                json=json_body,
                data=form,
                params=params,
                headers=send_headers,
                timeout=self.context.timeout,
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                return _Answer(resp.status, resp.headers, body)
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as err:
            # The connection never opened: nothing was sent.
            raise TransientError(self._scrub(f"{what}: cannot connect ({err})")) from err
        except aiohttp.InvalidURL as err:
            raise PermanentError(
                self._scrub(f"{what}: the instance URL is not valid ({err})"),
                attention=Attention.CREDENTIALS,
            ) from err
        except (aiohttp.ClientError, TimeoutError) as err:
            reason = self._scrub(f"{what}: no complete answer ({type(err).__name__}: {err})")
            if stage is _Stage.CREATE:
                raise AmbiguousError(
                    reason + "; the status may exist (same Idempotency-Key on resend)"
                ) from err
            raise TransientError(reason) from err

    def _error_for(self, answer: _Answer, stage: _Stage, doing: str) -> AdapterError:
        """An HTTP error status as our error; Mastodon's own ``error`` text is kept (scrubbed)."""
        status = answer.status
        detail = self._scrub(_error_text(answer))
        reason = f"{doing}: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 401:
            return PermanentError(reason, attention=Attention.CREDENTIALS, status=status)
        if status == 403:
            return PermanentError(reason, attention=Attention.PERMISSION, status=status)
        if status == 429:
            return self._rate_limited(answer, reason)
        if status == 422 and "finished processing" in detail:
            return TransientError(reason, status=status)  # media not ready yet
        if status == 404 and stage is _Stage.UPLOAD:
            return TransientError(reason, status=status)  # the upload vanished: upload again
        if status == 404:
            return PermanentError(reason, attention=Attention.CONTENT, status=status)
        if status == 410:
            return PermanentError(reason, attention=Attention.CREDENTIALS, status=status)
        if status == 408:
            return TransientError(reason, status=status)
        if 300 <= status < 400:
            where = self._scrub(answer.headers.get("Location", "elsewhere"))
            return PermanentError(
                f"{doing}: the instance redirects to {where}; set `instance` to the final address",
                status=status,
            )
        if 400 <= status < 500:
            return PermanentError(reason, attention=Attention.CONTENT, status=status)
        if status == 503 or stage is not _Stage.CREATE:
            return TransientError(reason, status=status)
        return AmbiguousError(reason + "; the status may exist", status=status)

    def _rate_limited(self, answer: _Answer, reason: str) -> RateLimitedError:
        now = self.context.clock.now()
        reset = _parse_time(answer.headers.get("X-RateLimit-Reset"))
        if reset is not None and reset > now:
            return RateLimitedError(reason, reset_at=reset, status=answer.status)
        retry_after = _parse_seconds(answer.headers.get("Retry-After"))
        return RateLimitedError(
            reason, retry_after=retry_after or DEFAULT_RATE_WAIT, status=answer.status
        )


# ---------------------------------------------------------------------- pure helpers


def _spoiler(content: PostContent) -> str:
    value = content.options.get("spoiler_text")
    return value.strip() if isinstance(value, str) else ""


def _ordered(parts: Mapping[int, RemotePart]) -> tuple[RemotePart, ...]:
    return tuple(parts[i] for i in sorted(parts))


def _resolve(value: Any, media_ids: Sequence[str], parts: Mapping[int, RemotePart]) -> Any:
    """The payload with "<media:N>" and "<part:N>" replaced by the ids learnt while publishing."""
    if isinstance(value, Mapping):
        return {k: _resolve(v, media_ids, parts) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(v, media_ids, parts) for v in value]
    if isinstance(value, str):
        if m := _MEDIA_PLACEHOLDER.fullmatch(value):
            n = int(m.group(1))
            if n >= len(media_ids):
                raise PermanentError(f"the payload names media {n}, only {len(media_ids)} uploaded")
            return media_ids[n]
        if m := _PART_PLACEHOLDER.fullmatch(value):
            n = int(m.group(1))
            if n not in parts:
                raise PermanentError(f"the payload replies to part {n + 1}, which is not out")
            return parts[n].remote_id
    return value


def _json_or(answer: _Answer, stage: _Stage, what: str) -> Any:
    """A 2xx body as JSON; garbage means "it may exist" only when creating a status."""
    try:
        return answer.json()
    except ValueError as err:
        reason = f"{what}: HTTP {answer.status} with a body that is not JSON"
        if stage is _Stage.CREATE:
            raise AmbiguousError(reason + "; the status may exist", status=answer.status) from err
        raise TransientError(reason, status=answer.status) from err


def _error_text(answer: _Answer) -> str:
    try:
        doc = answer.json()
    except ValueError:
        return ""
    if isinstance(doc, dict):
        text = doc.get("error")
        if isinstance(text, str):
            return REDACTOR.clip(text, 300)
    return ""


def _parse_time(value: str | None) -> datetime | None:
    """ISO 8601 as Mastodon sends it (``X-RateLimit-Reset``, ``created_at``); epoch too."""
    if not value:
        return None
    value = value.strip()
    try:
        if value.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), UTC)
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _parse_seconds(value: str | None) -> timedelta | None:
    if value and value.strip().isdigit():
        return timedelta(seconds=int(value.strip()))
    return None


def _limits_from(doc: Mapping[str, Any], settings: MastodonSettings) -> InstanceLimits:
    """Read v2 ``configuration`` (or v1's, or ``max_toot_chars``); keep defaults for the rest."""
    config = _mapping(doc.get("configuration"))
    statuses = _mapping(config.get("statuses"))
    media = _mapping(config.get("media_attachments"))

    def positive(source: Mapping[str, Any], key: str, default: int) -> int:
        value = source.get(key)
        return value if isinstance(value, int) and value > 0 else default

    fallback_max = positive(doc, "max_toot_chars", settings.max_characters)
    types = media.get("supported_mime_types")
    image_types, video_types = DEFAULT_IMAGE_TYPES, DEFAULT_VIDEO_TYPES
    if isinstance(types, list) and all(isinstance(t, str) for t in types):
        image_types = frozenset(t for t in types if t.startswith("image/") and t != "image/gif")
        video_types = frozenset(t for t in types if t.startswith("video/") or t == "image/gif")
    return InstanceLimits(
        max_characters=positive(statuses, "max_characters", fallback_max),
        url_length=positive(statuses, "characters_reserved_per_url", settings.url_length),
        max_media=positive(statuses, "max_media_attachments", DEFAULT_MAX_MEDIA),
        alt_text_max=positive(media, "description_limit", DEFAULT_ALT_MAX),
        image_bytes=positive(media, "image_size_limit", DEFAULT_IMAGE_BYTES),
        video_bytes=positive(media, "video_size_limit", DEFAULT_VIDEO_BYTES),
        image_types=image_types,
        video_types=video_types,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def html_to_text(content: str) -> str:
    """Mastodon's status HTML back to plain text: paragraphs, line breaks, entities."""
    text = _PARAGRAPH.sub("\n\n", content)
    text = _BR.sub("\n", text)
    return html.unescape(_TAG.sub("", text))


def _comparable(text: str) -> str:
    """Text as both sides can agree on: remote mentions shortened, whitespace collapsed."""
    return " ".join(_REMOTE_MENTION.sub(r"@\1", text).split())


def _seen(raw: Any) -> _Seen | None:
    if not isinstance(raw, dict):
        return None
    status_id, content = raw.get("id"), raw.get("content")
    if not isinstance(status_id, str) or not isinstance(content, str):
        return None
    created: datetime | None = None
    if isinstance(raw.get("created_at"), str):
        created = _parse_time(raw["created_at"])
    attachments = raw.get("media_attachments")
    alts = tuple(
        a.get("description") or ""
        for a in (attachments if isinstance(attachments, list) else [])
        if isinstance(a, dict)
    )
    reply_to = raw.get("in_reply_to_id")
    url = raw.get("url")
    return _Seen(
        id=status_id,
        url=url if isinstance(url, str) else None,
        created_at=created,
        text=_comparable(html_to_text(content)),
        in_reply_to_id=reply_to if isinstance(reply_to, str) else None,
        alts=alts,
    )


def _matches(status: _Seen, text: str, alts: tuple[str, ...]) -> bool:
    if status.text != text:
        return False
    if alts:
        return len(status.alts) == len(alts) and all(
            _comparable(a) == _comparable(b) for a, b in zip(status.alts, alts, strict=True)
        )
    return True
