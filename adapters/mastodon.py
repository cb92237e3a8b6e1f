"""The ``mastodon`` network: statuses, media and threads through the Mastodon REST API.

Each instance sets its own limits, so ``prepare`` asks ``/api/v2/instance`` once and render
uses the answer (before that, the account's settings). Statuses carry an ``Idempotency-Key``
(``ref.part_key(i)``): Mastodon keeps it for an hour per account, so the engine's resend of an
``unknown`` delivery with the same key cannot create a second status inside that hour.

Error mapping (the shared boundary, ``publisher.adapters.transport``, plus ``classify``), and
why:

* media uploads and reads (instance, media polls, timelines) create nothing anyone sees: an
  orphan upload is never attached and Mastodon deletes it, so every failure there is transient
  (``Kind.READ``, ``Kind.UPLOAD``);
* the ``POST /api/v1/statuses`` request (``Kind.CREATE``): a failure before the body left
  (connect) is transient; after it left (timeout, reset, 5xx other than 503, garbage 200) it
  is **ambiguous**, although the idempotency key makes a resend safe *within the hour*. The
  adapter cannot know when the engine will resend (backoff reaches an hour, the daemon may be
  stopped), and a transient error would tell the engine "nothing was created", which is
  false. Ambiguous keeps that fact; the engine, which knows when the first attempt left,
  resends with the same key inside the window and looks the post up after it;
* 503 stays transient: Mastodon answers it when it could not take its idempotency lock or its
  transaction was rolled back (nothing saved), or when no backend answered at all.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator

from publisher.adapters import payload
from publisher.adapters.base import (
    Absent,
    AccountCheck,
    AccountSettings,
    AdapterError,
    AmbiguousError,
    Attention,
    Capabilities,
    CheckStatus,
    Comments,
    DeliveryRef,
    Found,
    LengthRule,
    LookupResult,
    MediaItem,
    MediaLimits,
    OptionSpec,
    PermanentError,
    PostContent,
    Problem,
    Progress,
    Published,
    RemotePart,
    Rendered,
    RenderedPart,
    Role,
    Subject,
    TransientError,
    Unknowable,
)
from publisher.adapters.engagement import (
    LIKES,
    QUOTES,
    REPLIES,
    REPOSTS,
    Engagement,
    PostGone,
    PostReading,
    counted,
    numbers_from,
)
from publisher.adapters.listen_paging import (
    Fetch,
    Page,
    Place,
    decode,
    encode,
    walk,
    walk_terms,
)
from publisher.adapters.listening import HeardPage, ItemKind, Listening, OwnPost
from publisher.adapters.mastodon_listen import (
    EMPTY_FLOOR,
    NOTIFICATIONS,
    html_to_text,
    notification_params,
    notifications_page,
    statuses_page,
    statuses_request,
    tag_of,
)
from publisher.adapters.shared import render_with
from publisher.adapters.transport import Answer, HttpAdapter, Kind, Request
from publisher.adapters.waits import instant
from publisher.secrets import Secret
from publisher.text import extract_mentions, extract_urls

if TYPE_CHECKING:  # aiohttp loads with the first request: rendering needs none
    import aiohttp

log = logging.getLogger("publisher.network.mastodon")

INSTANCE_V2 = "/api/v2/instance"
INSTANCE_V1 = "/api/v1/instance"
STATUSES = "/api/v1/statuses"
STATUS = "/api/v1/statuses/{id}"
MEDIA_UPLOAD = "/api/v2/media"
MEDIA_GET = "/api/v1/media/{id}"
VERIFY = "/api/v1/accounts/verify_credentials"
ACCOUNT_STATUSES = "/api/v1/accounts/{id}/statuses"

# Our names for the Status entity's counts.
STATUS_COUNTS = MappingProxyType(
    {
        LIKES: "favourites_count",
        REPOSTS: "reblogs_count",
        REPLIES: "replies_count",
        QUOTES: "quotes_count",
    }
)
VISIBILITIES = ("public", "unlisted", "private", "direct")
TEXT_KEYS = frozenset({"status", "spoiler_text"})  # the editor's words: no placeholders

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

# Lookup: pages of 40 statuses, at most this many, and this much clock skew tolerated.
LOOKUP_PAGE = 40
LOOKUP_MAX_PAGES = 10
LOOKUP_SKEW = timedelta(minutes=5)

# "@user@domain" shows (and counts) as "@user" on Mastodon.
_REMOTE_MENTION = re.compile(r"(?<![=/\w])@(\w+(?:[.-]+\w+)*)@[\w.-]+\w")


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


@dataclass(frozen=True)
class _Seen:
    """One status of the account's timeline, reduced to what matching needs."""

    id: str
    url: str | None
    created_at: datetime | None
    text: str  # comparable form
    in_reply_to_id: str | None
    alts: tuple[str, ...]


def mastodon_length(text: str, url_length: int = 23) -> int:
    """Mastodon's rule: a URL with a scheme counts ``url_length``, ``@user@domain`` as ``@user``.

    Mastodon reserves the URL length only for links with ``http(s)://``; a bare domain counts
    as written. Everything else is counted in code points, which is never less than the
    grapheme clusters Mastodon's server counts, so a post we accept is never refused.
    """
    if "." not in text:
        return len(text)
    length = len(text)
    urls = extract_urls(text, without_protocol=False)
    for url in urls:
        length += url_length - (url.end - url.start)
    # URLs and mentions both come in order, none overlapping its own kind: one sweep finds the
    # mentions inside a URL (a pair-by-pair check is quadratic in a text full of both).
    j = 0
    for start, end, local_end in extract_mentions(text):
        while j < len(urls) and urls[j].end <= start:
            j += 1
        if local_end == end or (j < len(urls) and urls[j].start < end):
            continue
        length -= end - local_end
    return length


class MastodonAdapter(HttpAdapter):
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
    # GET /api/v1/statuses/:id (the Status entity's counts; quotes_count since 4.5) and
    # verify_credentials' followers_count: one status per request, no batch read.
    engagement = Engagement(
        metrics=(LIKES, REPOSTS, REPLIES, QUOTES),
        limits="impressions and clicks are not reported by Mastodon; quotes from 4.5 on",
    )
    # GET /api/v1/notifications (mention, quote); watches through hashtag timelines and
    # full-text search (see adapters/mastodon_listen.py).
    listening = Listening(
        kinds=(ItemKind.MENTION, ItemKind.REPLY, ItemKind.QUOTE),
        search=True,
        limits=(
            "replies and mentions, and quotes from Mastodon 4.5 on; #hashtag watches read the "
            "hashtag timeline, word watches need the instance's full-text search (and find "
            "only posts whose authors allow search); 300 calls per 5 minutes"
        ),
    )
    # Rack::Attack's reset is an ISO 8601 time; a 429 without one: the general five minutes.
    reset_headers = ("X-RateLimit-Reset",)
    default_rate_wait = timedelta(minutes=5)

    _instance_limits: InstanceLimits | None = None
    _account_id: str | None = None
    _reserve: int = 0  # characters the content warning takes from every part
    # The last capabilities built, with what they were built from: render asks for every post.
    _caps: tuple[InstanceLimits | None, int, Capabilities] | None = None

    @property
    def _settings(self) -> MastodonSettings:
        assert isinstance(self.settings, MastodonSettings)
        return self.settings

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        known = self._caps
        if known is not None and known[0] is self._instance_limits and known[1] == self._reserve:
            return known[2]
        s = self._settings
        inst = self._instance_limits or InstanceLimits(s.max_characters, s.url_length)
        length = LengthRule(
            functools.partial(mastodon_length, url_length=inst.url_length),
            max(inst.max_characters - self._reserve, 1),
        )
        caps = Capabilities(
            network="mastodon",
            length=length,
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
            # The first comment is a reply to self: a status like any other.
            comments=Comments(length),
        )
        self._caps = (self._instance_limits, self._reserve, caps)
        return caps

    async def prepare(self) -> None:
        """Ask the instance for its limits; raises our errors, and until it succeeds the
        account's settings (max_characters, url_length) stay in force."""
        what = "reading the instance's limits"
        answer = await self.send(
            self._request("GET", INSTANCE_V2, Kind.READ, what, auth=False), expect=(200, 404)
        )
        if answer.status == 404:  # Mastodon before 4.0 and some compatible servers
            answer = await self.send(
                self._request("GET", INSTANCE_V1, Kind.READ, what, auth=False), expect=(200,)
            )
        self._instance_limits = _limits_from(answer.object(), self._settings)
        log.debug("%s: instance limits %s", self.account, self._instance_limits)

    # ------------------------------------------------------------------ render and payloads

    def render(self, content: PostContent) -> Rendered:
        """Mastodon counts the content warning in each status's limit: reserve it, then split."""
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
            body["media_ids"] = [payload.media(i) for i in range(len(media))]
        if index:
            body["in_reply_to_id"] = payload.part(index - 1)
        elif content.reply_to is not None and content.reply_to.resolved:
            body["in_reply_to_id"] = content.reply_to.remote_id  # an answer to a heard item
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

    # ------------------------------------------------------------------ publish_part

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        media_ids = [await self._upload(m) for m in part.media]
        body = payload.fill(
            part.payload, media=media_ids, parts=progress.remote_ids(), text=TEXT_KEYS
        )
        request = self._request(
            "POST",
            STATUSES,
            Kind.CREATE,
            f"posting part {part.index + 1}",
            json=body,
            headers={"Idempotency-Key": progress.ref.part_key(part.index)},
        )
        doc = (await self.send(request, expect=(200,))).object()
        status_id = doc.get("id")
        if not isinstance(status_id, str) or not status_id:
            raise AmbiguousError(
                "Mastodon answered 200 without a status id: the status may exist", status=200
            )
        url = doc.get("url") if isinstance(doc.get("url"), str) else None
        log.debug("%s: part %d is status %s", self.account, part.index + 1, status_id)
        return RemotePart(part.index, status_id, url)

    async def _upload(self, item: MediaItem) -> str:
        found = await self.read_media(item)
        import aiohttp

        form = aiohttp.FormData()
        form.add_field("file", found.data, filename=item.filename, content_type=found.mime_type)
        if item.alt:
            form.add_field("description", item.alt)
        what = f"uploading {item.filename}"
        request = self._request("POST", MEDIA_UPLOAD, Kind.UPLOAD, what, data=form)
        answer = await self.send(request, expect=(200, 202))
        doc = answer.object()
        media_id = doc.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise TransientError(f"uploading {item.filename}: no media id in the answer")
        if answer.status == 202 or doc.get("url") is None:
            await self._wait_processed(media_id, item.filename)
        return media_id

    async def _wait_processed(self, media_id: str, name: str) -> None:
        """Mastodon attaches only processed media; poll (through the clock seam) until it is."""
        delay = MEDIA_POLL_FIRST
        path = MEDIA_GET.format(id=media_id)
        for _ in range(MEDIA_POLLS):
            await self.context.pause(delay)
            delay = min(delay * 2, MEDIA_POLL_MAX)
            request = self._request("GET", path, Kind.UPLOAD, f"processing {name}")
            answer = await self.send(request, expect=(200, 206))
            if answer.status == 206:
                continue
            if answer.object().get("url"):
                return
        raise TransientError(f"{name}: Mastodon is still processing it after {MEDIA_POLLS} checks")

    # ------------------------------------------------------------------ classify

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        """Mastodon's quirks; the shared default for the rest. Its own ``error`` text is kept
        in the reason (scrubbed)."""
        status = answer.status
        if status == 422 and "finished processing" in self.error_detail(answer):
            return TransientError(self.describe(answer), status=status)  # media not ready yet
        if status == 404 and kind is Kind.UPLOAD:
            return TransientError(self.describe(answer), status=status)  # gone: upload again
        if status == 410:
            return PermanentError(
                self.describe(answer), attention=Attention.CREDENTIALS, status=status
            )
        if 400 <= status < 500 and status not in (401, 403, 408, 429):
            return PermanentError(self.describe(answer), attention=Attention.CONTENT, status=status)
        return super().classify(answer, kind)

    # ------------------------------------------------------------------ lookup
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
            # A thread part replies to the part before it; the first comment to the post.
            prev = parts[0 if part.role is Role.COMMENT else -1].remote_id
            text = _comparable(part.text)
            reply = next(
                (s for s in oldest_first if s.in_reply_to_id == prev and s.text == text), None
            )
            if reply is None:
                break  # the rest of the thread is not out: the engine resumes from here
            parts.append(RemotePart(part.index, reply.id, reply.url))
        return Found(Published(tuple(parts)))

    async def _own_account_id(self) -> str:
        if self._account_id is not None:
            return self._account_id
        request = self._request("GET", VERIFY, Kind.READ, "verifying the token")
        answer = await self.send(request, expect=(200,))
        account_id = answer.object().get("id")
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
            request = self._request("GET", path, Kind.READ, "reading the timeline", params=params)
            page = (await self.send(request, expect=(200,))).document()
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

    # ------------------------------------------------------------------ engagement

    async def read_engagement(self, remote_ids: Sequence[str]) -> Sequence[PostReading]:
        """Each status's counts (``GET /api/v1/statuses/:id``); 404 or 410: deleted."""
        out: list[PostReading] = []
        for remote_id in remote_ids:
            path = STATUS.format(id=quote(remote_id, safe=""))
            request = self._request("GET", path, Kind.READ, "reading a status's counts")
            answer = await self.send(request, expect=(200, 404, 410))
            if answer.status != 200:
                out.append(PostGone(remote_id, self.describe(answer)))
                continue
            doc = answer.object()
            if doc.get("id") != remote_id:
                raise TransientError("reading a status's counts: the answer is another status")
            out.append(numbers_from(remote_id, doc, STATUS_COUNTS))
        return out

    async def read_followers(self) -> int:
        request = self._request("GET", VERIFY, Kind.READ, "reading the follower count")
        doc = (await self.send(request, expect=(200,))).object()
        count = counted(doc.get("followers_count"))
        if count is None:
            raise TransientError("verify_credentials answered without a followers_count")
        return count

    # ------------------------------------------------------------------ listening

    async def read_inbox(self, cursor: str | None, own_posts: Sequence[OwnPost]) -> HeardPage:
        """Mentions, replies and quotes from the notifications, newest first from the kept
        place (see ``publisher.adapters.listen_paging``)."""
        own_id = await self._own_account_id()

        async def fetch(place: Place) -> Page:
            doc = await self._read(NOTIFICATIONS, notification_params(place), "notifications")
            return notifications_page(doc, own_id)

        place = decode(cursor).get("inbox", Place())
        items, place, more = await walk(place, fetch, empty_floor=EMPTY_FLOOR)
        return HeardPage(tuple(items), encode({"inbox": place}), more)

    async def search(self, terms: Sequence[str], cursor: str | None) -> HeardPage:
        """Each term's new statuses: a #tag's hashtag timeline, a word's full-text search."""
        return await walk_terms(terms, cursor, self._term_fetch, empty_floor=EMPTY_FLOOR)

    def _term_fetch(self, term: str) -> Fetch:
        searched = tag_of(term) is None

        async def fetch(place: Place) -> Page:
            path, params = statuses_request(term, place)
            what = "searching statuses" if searched else "reading a hashtag timeline"
            return statuses_page(await self._read(path, params, what), searched=searched)

        return fetch

    async def _read(self, path: str, params: list[tuple[str, str]], what: str) -> Any:
        from multidict import MultiDict

        request = self._request("GET", path, Kind.READ, what, params=MultiDict(params))
        return (await self.send(request, expect=(200,))).document()

    # ------------------------------------------------------------------ check

    async def check(self) -> AccountCheck:
        request = self._request("GET", VERIFY, Kind.READ, "verifying the token")
        try:
            answer = await self.send(request, expect=(200,))
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        doc = answer.maybe_json()
        acct = doc.get("acct") if isinstance(doc, dict) else None
        if not isinstance(doc, dict) or not isinstance(acct, str) or not acct:
            return AccountCheck(
                CheckStatus.ATTENTION, detail="verify_credentials answered without an account"
            )
        if isinstance(doc.get("id"), str):
            self._account_id = doc["id"]
        host = urlsplit(self._settings.instance).hostname or self._settings.instance
        return AccountCheck(CheckStatus.OK, identity=f"@{acct}", detail=f"on {host}")

    # ------------------------------------------------------------------ requests

    def _request(
        self,
        method: str,
        path: str,
        kind: Kind,
        what: str,
        *,
        auth: bool = True,
        json: Any = None,
        data: aiohttp.FormData | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        """A request to the instance; the token goes in the Authorization header only."""
        sent = {"Accept": "application/json", **(headers or {})}
        if auth:
            sent["Authorization"] = f"Bearer {self.reveal(self._settings.token)}"
        url = self._settings.instance + path
        return Request(method, url, kind, what, params=params, json=json, data=data, headers=sent)


# ---------------------------------------------------------------------- pure helpers


def _spoiler(content: PostContent) -> str:
    value = content.options.get("spoiler_text")
    return value.strip() if isinstance(value, str) else ""


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
        created = instant(raw["created_at"])
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
