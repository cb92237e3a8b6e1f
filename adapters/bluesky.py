"""Bluesky: ``app.bsky.feed.post`` records written to the account's PDS over XRPC.

Idempotency comes from the record key: every delivery part gets a deterministic TID derived
from the delivery (its scheduled time and part key), and a PDS never holds two records under
one key. A resend after any doubtful outcome therefore either creates the post or collides
with the one already there (the reference PDS answers the collision with a 500), which
``com.atproto.repo.getRecord`` then confirms. That is why failures after the body left are
``TransientError`` here rather than ``AmbiguousError``: sending again cannot post twice.

On the network kit (``publisher.adapters.transport``): the ``AmbiguousError`` a lost
``createRecord`` raises is settled here by reading the key back, and a 5xx or a collision
likewise, before the shared ``classify`` sees the answer.

The session (``createSession``, limited to 30 per 5 minutes by bsky.social) is made once per
adapter (``authorize`` adds its access token to calls made as the account) and refreshed
with ``refreshSession`` when the PDS says the access token expired: a 400 ``ExpiredToken``
(``credentials_refused``), after which ``reauthorize`` sends the call once more.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

import regex
from pydantic import field_validator

from publisher.adapters import payload
from publisher.adapters.base import Absent as AbsentResult
from publisher.adapters.base import (
    AccountCheck,
    AccountSettings,
    AdapterContext,
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
    PermanentError,
    PostContent,
    Problem,
    Progress,
    Published,
    RemotePart,
    Rendered,
    RenderedPart,
    Subject,
    TransientError,
    Unknowable,
)
from publisher.adapters.bluesky_listen import (
    EMPTY_FLOOR,
    LIST_NOTIFICATIONS,
    SEARCH_POSTS,
    created_at,
    inbox_fetch,
    reply_of,
    search_fetch,
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
from publisher.adapters.listen_paging import Place, decode, encode, walk, walk_terms
from publisher.adapters.listening import HeardPage, ItemKind, Listening, OwnPost
from publisher.adapters.transport import SUCCESS, Answer, HttpAdapter, Kind, Request
from publisher.secrets import REDACTOR, Secret
from publisher.text import find_entities, grapheme_length

log = logging.getLogger("publisher.network.bluesky")

POST = "app.bsky.feed.post"
APP_URL = "https://bsky.app"
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
GIF_TYPES = frozenset({"image/gif"})
MAX_BLOB_BYTES = 1_000_000
ALT_TEXT_MAX = 2000
TAG_MAX_GRAPHEMES = 64
TAG_MAX_BYTES = 640

# Placeholders in a rendered payload, filled at publish time.
NOW = "<now>"  # createdAt: render may not read the clock
RKEY = "<rkey>"  # the delivery part's deterministic TID
DID = "<did>"  # the account's DID, learnt from the session
_ASPECT = re.compile(r"<aspect:(\d+)>")  # an image's aspect ratio, read from its bytes
_DID = re.compile(r"<did:([^>]+)>")  # a mentioned handle's DID, resolved
# Keys holding the editor's words, never placeholders (see ``payload.fill``).
_WORDS = frozenset({"text", "alt", "title", "description", "uri", "tag", "langs"})

CREATE_SESSION = "com.atproto.server.createSession"
REFRESH_SESSION = "com.atproto.server.refreshSession"
GET_SESSION = "com.atproto.server.getSession"
CREATE_RECORD = "com.atproto.repo.createRecord"
GET_RECORD = "com.atproto.repo.getRecord"
UPLOAD_BLOB = "com.atproto.repo.uploadBlob"
RESOLVE_HANDLE = "com.atproto.identity.resolveHandle"
GET_POSTS = "app.bsky.feed.getPosts"  # the PDS proxies app.bsky.* to the account's AppView
GET_PROFILE = "app.bsky.actor.getProfile"
# with the access token
_AS_ACCOUNT = frozenset(
    {CREATE_RECORD, UPLOAD_BLOB, GET_SESSION, GET_POSTS, GET_PROFILE}
    | {LIST_NOTIFICATIONS, SEARCH_POSTS}
)
GET_POSTS_MAX = 25  # the lexicon's uris maxLength
# Our names for a postView's counts (app.bsky.feed.defs#postView: all optional integers).
POST_COUNTS = MappingProxyType(
    {LIKES: "likeCount", REPOSTS: "repostCount", REPLIES: "replyCount", QUOTES: "quoteCount"}
)

# TIDs: https://atproto.com/specs/tid
_B32 = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RKEY_CANDIDATES = 3  # a PDS refuses rkeys that happen to spell a slur: try the next one

_HANDLE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")

_AUTH_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthMissing"})
_FLAGGED_ERRORS = frozenset({"AccountTakedown", "AccountSuspended", "RepoTakendown"})
_INACTIVE_ERRORS = frozenset({"AccountDeactivated", "RepoDeactivated", "RepoSuspended"})


class BlueskySettings(AccountSettings):
    pds: str = "https://bsky.social"
    handle: str
    app_password: Secret

    @field_validator("pds")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("handle")
    @classmethod
    def _bare_handle(cls, value: str) -> str:
        return value.strip().removeprefix("@").lower()


# ---------------------------------------------------------------------------
# Pure helpers: record keys, timestamps, facets, image sizes.


def tid(micros: int, clock_id: int) -> str:
    """A TID: 53 bits of microseconds then a 10-bit clock id, base32-sortable, top bit 0."""
    if not 0 <= micros < 2**53 or not 0 <= clock_id < 2**10:
        raise ValueError("TID out of range")
    value = (micros << 10) | clock_id
    return "".join(_B32[(value >> (5 * (12 - i))) & 31] for i in range(13))


def record_key(ref: DeliveryRef, index: int, attempt: int = 0) -> str:
    """The deterministic rkey of one delivery part, so a resend collides instead of reposting.

    The whole seconds of the scheduled time, plus a microsecond offset and a clock id both
    drawn from the delivery's identity: two posts scheduled for the same second still get
    different keys (about 2^-30 odds of a clash), and thread parts sort in order.
    """
    seconds = (ref.scheduled_at - _EPOCH) // timedelta(seconds=1)
    offset = int.from_bytes(hashlib.sha256(ref.idempotency_key.encode()).digest()[:8]) % 999_000
    clock = hashlib.sha256(f"{ref.part_key(index)}\x00{attempt}".encode()).digest()
    clock_id = int.from_bytes(clock[:2]) & 0x3FF
    return tid(seconds * 1_000_000 + offset + index, clock_id)


def _byte_offsets(text: str) -> list[int]:
    """UTF-8 byte offset of every code-point index (and of the end)."""
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + len(ch.encode("utf-8")))
    return offsets


def facets_for(text: str) -> list[dict[str, Any]]:
    """Links, mentions and hashtags as richtext facets with UTF-8 byte offsets.

    A mention's DID is only known at publish time: it appears as ``<did:HANDLE>``.
    """
    offsets = _byte_offsets(text)
    facets: list[dict[str, Any]] = []
    for entity in find_entities(text):
        feature: dict[str, Any]
        if entity.kind == "url":
            uri = entity.text if _SCHEME.match(entity.text) else f"https://{entity.text}"
            feature = {"$type": "app.bsky.richtext.facet#link", "uri": uri}
        elif entity.kind == "mention":
            handle = entity.text[1:].lower()
            if not _HANDLE.match(handle):  # ``@name`` or ``@a@b.c`` is no Bluesky handle
                continue
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": f"<did:{handle}>"}
        elif entity.kind == "hashtag":
            tag = entity.text[1:]
            too_long = len(regex.findall(r"\X", tag)) > TAG_MAX_GRAPHEMES
            if too_long or len(tag.encode()) > TAG_MAX_BYTES:
                continue
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": tag}
        else:
            continue
        facets.append(
            {
                "index": {"byteStart": offsets[entity.start], "byteEnd": offsets[entity.end]},
                "features": [feature],
            }
        )
    return facets


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF, JPEG or WebP, from its header; None if unsure."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            w, h = struct.unpack(">II", data[16:24])
            return (w, h) if w and h else None
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return (w, h) if w and h else None
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return (w & 0x3FFF, h & 0x3FFF)
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
            if chunk == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return (w, h)
            return None
        if data[:2] == b"\xff\xd8":
            i, turned = 2, False
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    return None
                marker = data[i + 1]
                if marker == 0xFF:  # fill byte
                    i += 1
                    continue
                length = int.from_bytes(data[i + 2 : i + 4])
                if marker == 0xE1 and data[i + 4 : i + 10] == b"Exif\x00\x00":
                    turned = _exif_orientation(data[i + 10 : i + 2 + length]) in (5, 6, 7, 8)
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                    if not (w and h):
                        return None
                    return (h, w) if turned else (w, h)  # shown rotated a quarter turn
                i += 2 + length
    except (struct.error, IndexError):
        return None
    return None


def _exif_orientation(tiff: bytes) -> int:
    """The EXIF orientation tag (1-8) of a TIFF block; 1 (upright) when absent."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return 1
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for n in range(count):
        entry = tiff[ifd + 2 + 12 * n : ifd + 14 + 12 * n]
        tag, _kind, _count, value = struct.unpack(order + "HHIH", entry[:10])
        if tag == 0x0112:
            return int(value)
    return 1


# ---------------------------------------------------------------------------
# The adapter.


@dataclass
class _Session:
    did: str
    handle: str
    access: str = field(repr=False)
    refresh: str = field(repr=False)


@dataclass(frozen=True)
class _Record:
    uri: str
    cid: str
    value: Any


class _Unknown(Exception):
    """The PDS could not say whether a record is there."""


def _nsid(request: Request) -> str:
    return str(request.url).rsplit("/xrpc/", 1)[-1].split("?", 1)[0]


def _xrpc_error(answer: Answer) -> tuple[str, str]:
    """The XRPC error name and message of an answer (empty when it has none)."""
    doc = answer.maybe_json()
    if not isinstance(doc, dict):
        return "", ""
    error, message = doc.get("error"), doc.get("message")
    return (error if isinstance(error, str) else ""), (message if isinstance(message, str) else "")


class BlueskyAdapter(HttpAdapter):
    network: ClassVar[str] = "bluesky"
    Settings = BlueskySettings
    reset_headers = ("RateLimit-Reset",)  # epoch seconds, as the PDS's rate limiter sends it
    # app.bsky.feed.getPosts (25 posts a call) and app.bsky.actor.getProfile's followersCount.
    engagement = Engagement(
        metrics=(LIKES, REPOSTS, REPLIES, QUOTES),
        batch=GET_POSTS_MAX,
        limits="impressions and clicks are not reported by Bluesky",
    )
    # listNotifications (mention, reply, quote) and searchPosts, through the PDS's AppView
    # proxy (see adapters/bluesky_listen.py).
    listening = Listening(
        kinds=(ItemKind.MENTION, ItemKind.REPLY, ItemKind.QUOTE),
        search=True,
        limits=(
            "mentions, replies and quotes (not likes or reposts); searches find posts the "
            "AppView indexed, by their sort time; the PDS allows 3000 calls per 5 minutes an IP"
        ),
    )

    def __init__(self, account: str, settings: AccountSettings, context: AdapterContext) -> None:
        super().__init__(account, settings, context)
        self._session: _Session | None = None
        self._session_lock = asyncio.Lock()

    @property
    def _settings(self) -> BlueskySettings:
        assert isinstance(self.settings, BlueskySettings)
        return self.settings

    def capabilities(self) -> Capabilities:
        # The shared layer counts a GIF as a video; Bluesky takes one as an image, so a post
        # may carry up to 4 images or a single GIF.
        return Capabilities(
            network="bluesky",
            length=LengthRule(grapheme_length, 300),
            media=MediaLimits(
                max_images=4,
                max_videos=1,
                max_image_bytes=MAX_BLOB_BYTES,
                max_video_bytes=MAX_BLOB_BYTES,
                image_types=IMAGE_TYPES,
                video_types=GIF_TYPES,
                alt_text_max=ALT_TEXT_MAX,
                mix_images_and_video=False,
            ),
            threads=True,
            link_cards=True,
            # The first comment is a reply to self (root and parent: the post), under its own
            # deterministic record key like every part.
            comments=Comments(LengthRule(grapheme_length, 300)),
        )

    # -- render --------------------------------------------------------------

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": NOW}
        if content.language:
            record["langs"] = [content.language]
        facets = facets_for(text)
        if facets:
            record["facets"] = facets
        if media:
            record["embed"] = {
                "$type": "app.bsky.embed.images",
                "images": [
                    {"image": payload.media(i), "alt": m.alt, "aspectRatio": f"<aspect:{i}>"}
                    for i, m in enumerate(media)
                ],
            }
        elif index == 0 and content.link is not None:
            external: dict[str, Any] = {
                "uri": content.link.url,
                "title": content.link.title,
                "description": content.link.description,
            }
            if content.link.thumb is not None:
                external["thumb"] = payload.thumb(content.link.thumb.name)
            record["embed"] = {"$type": "app.bsky.embed.external", "external": external}
        answer = reply_of(content.reply_to.refs) if content.reply_to is not None else None
        if index > 0:
            root = answer["root"] if answer is not None else payload.part(0)
            record["reply"] = {"root": root, "parent": payload.part(index - 1)}
        elif answer is not None:
            record["reply"] = answer  # an answer to a heard item: in its thread, under it
        return {"repo": DID, "collection": POST, "rkey": RKEY, "record": record}

    def render(self, content: PostContent) -> Rendered:
        """An answer needs the item's strong refs (heard with it): without them, nothing."""
        rendered = super().render(content)
        target = content.reply_to
        if target is None or not target.resolved or reply_of(target.refs) is not None:
            return rendered
        message = f"reply_to {target.ref}: the item's post and thread refs are not known"
        return rendered.with_problems(errors=[Problem(message, Subject.REPLY)])

    # -- publish -------------------------------------------------------------------

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """Upload the part's media, fill its placeholders, create it under its record key."""
        body = await self._prepare(part, progress)
        return await self._create(body, progress.ref, part.index)

    async def _prepare(self, part: RenderedPart, progress: Progress) -> dict[str, Any]:
        """The part's body with every placeholder filled but the record key and the repo.

        Placeholders are only looked for where ``build_payload`` puts them, so a post whose
        text happens to read ``<now>`` or ``<media:0>`` stays as written.
        """
        uploads = [await self._upload(item) for item in part.media]
        external = ((part.payload["record"].get("embed") or {}).get("external")) or {}
        thumb = None
        if payload.is_thumb(external.get("thumb")) and part.thumb is not None:
            thumb = (await self._upload(part.thumb))[0]
        replied = {0, part.index - 1} if part.index else set()
        refs = {n: await self._strong_ref(progress.out[n]) for n in replied if n in progress.out}
        body: dict[str, Any] = payload.fill(
            part.payload, media=[blob for blob, _ in uploads], parts=refs, thumb=thumb, text=_WORDS
        )
        record = body["record"]
        if record.get("createdAt") == NOW:
            record["createdAt"] = created_at(self.context.clock.now())
        for image in (record.get("embed") or {}).get("images") or ():
            if m := _ASPECT.fullmatch(str(image.get("aspectRatio"))):
                size = image_size(uploads[int(m.group(1))][1])
                if size is None:
                    del image["aspectRatio"]
                else:
                    image["aspectRatio"] = {"width": size[0], "height": size[1]}
        if "facets" in record:
            handles: dict[str, str | None] = {}
            kept = []
            for facet in record["facets"]:
                feature = facet["features"][0]
                if m := _DID.fullmatch(str(feature.get("did"))):
                    did = await self._resolve(m.group(1), handles)
                    if did is None:
                        continue  # the handle stays in the text, unlinked
                    feature["did"] = did
                kept.append(facet)
            if kept:
                record["facets"] = kept
            else:
                del record["facets"]
        return body

    async def _upload(self, item: MediaItem) -> tuple[dict[str, Any], bytes]:
        """The blob ref (and the bytes, for the aspect ratio); re-uploading is harmless."""
        found = await self.read_media(item)
        what = f"uploadBlob {item.filename}"
        headers = {"Content-Type": found.mime_type or "application/octet-stream"}
        request = self._xrpc(
            "POST", UPLOAD_BLOB, Kind.UPLOAD, what, data=found.data, headers=headers
        )
        blob = (await self.send(request)).object().get("blob")
        if not isinstance(blob, dict) or blob.get("$type") != "blob":
            raise TransientError(f"{what}: unexpected answer from the PDS")
        return blob, found.data

    async def _resolve(self, handle: str, cache: dict[str, str | None]) -> str | None:
        """A mentioned handle's DID; None (drop the facet, keep the text) if it has none."""
        if handle in cache:
            return cache[handle]
        what = f"resolveHandle {handle}"
        request = self._xrpc("GET", RESOLVE_HANDLE, Kind.READ, what, params={"handle": handle})
        answer = await self.send(request, expect=None)
        doc = answer.maybe_json()
        did: str | None = None
        if answer.status in SUCCESS and isinstance(doc, dict) and isinstance(doc.get("did"), str):
            did = doc["did"]
        elif answer.status == 400:
            log.warning("%s: @%s does not resolve; mention left as text", self.account, handle)
        else:
            raise self.classify(answer, Kind.READ)
        cache[handle] = did
        return did

    async def _strong_ref(self, part: RemotePart) -> dict[str, str]:
        """{uri, cid} of a part already out, read back if the store kept only its id."""
        uri, cid = part.extra.get("uri"), part.extra.get("cid")
        if isinstance(uri, str) and isinstance(cid, str):
            return {"uri": uri, "cid": cid}
        rkey = part.remote_id.rsplit("/", 1)[-1]
        try:
            record = await self._get_record(rkey)
        except _Unknown as err:
            raise TransientError(f"cannot read back thread part {part.index}: {err}") from err
        if record is None:
            raise PermanentError(
                f"thread part {part.index} ({part.remote_id}) is gone; cannot reply to it",
                attention=Attention.CONTENT,
            )
        return {"uri": record.uri, "cid": record.cid}

    async def _create(self, body: Mapping[str, Any], ref: DeliveryRef, index: int) -> RemotePart:
        """createRecord under the part's deterministic key; a collision means it is already
        out, and a doubtful create is settled by reading that key back."""
        session = await self._ensure_session()
        for attempt in range(RKEY_CANDIDATES):
            rkey = record_key(ref, index, attempt)
            sent = {**body, "repo": session.did, "rkey": rkey}
            request = self._xrpc("POST", CREATE_RECORD, Kind.CREATE, "createRecord", json=sent)
            try:
                answer = await self.send(request, expect=None)
            except AmbiguousError as err:  # the answer was lost: the key says whether it is out
                return await self._confirm(index, rkey, err.reason)
            if answer.status in SUCCESS:
                doc = answer.maybe_json()
                if (
                    isinstance(doc, dict)
                    and isinstance(doc.get("uri"), str)
                    and isinstance(doc.get("cid"), str)
                ):
                    return self._remote(index, rkey, doc["uri"], doc["cid"])
                return await self._confirm(
                    index, rkey, "createRecord: unexpected answer from the PDS"
                )
            message = _xrpc_error(answer)[1]
            if answer.status == 400 and "record key" in message.lower():
                log.warning(
                    "%s: record key %s refused (%s)", self.account, rkey, self.scrub(message)
                )
                continue
            if answer.status >= 500 or "already exist" in message.lower():
                return await self._confirm(index, rkey, self.describe(answer))
            raise self.classify(answer, Kind.CREATE)
        raise PermanentError(
            "createRecord: the PDS refused every record key for this post",
            attention=Attention.CONTENT,
        )

    async def _confirm(self, index: int, rkey: str, why: str) -> RemotePart:
        """After a doubtful create: the record if it is there, else a safe-to-resend error."""
        try:
            record = await self._get_record(rkey)
        except _Unknown as err:
            raise TransientError(
                f"{why}; could not check ({err}); a resend reuses record key {rkey}, "
                "so it cannot post twice"
            ) from err
        if record is None:
            raise TransientError(f"{why}; the post is not there, a resend is safe")
        log.info("%s: part %d already on the PDS as %s", self.account, index, record.uri)
        return self._remote(index, rkey, record.uri, record.cid)

    def _remote(self, index: int, rkey: str, uri: str, cid: str) -> RemotePart:
        handle = self._session.handle if self._session is not None else self._settings.handle
        url = f"{APP_URL}/profile/{handle}/post/{rkey}"
        return RemotePart(index, uri, url, {"uri": uri, "cid": cid, "rkey": rkey})

    # -- errors and the session ------------------------------------------------------

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        """XRPC error names first (a rate limit, a flagged or inactive account, a refused
        token may come with any status), then the shared rules."""
        error = _xrpc_error(answer)[0]
        if answer.status == 429 or error == "RateLimitExceeded":
            return self.rate_limited(answer, self.describe(answer))
        if error in _FLAGGED_ERRORS:
            reason = self.describe(answer)
            return PermanentError(reason, attention=Attention.FLAGGED, status=answer.status)
        if error in _INACTIVE_ERRORS or self.credentials_refused(answer):
            reason = self.describe(answer)
            return PermanentError(reason, attention=Attention.CREDENTIALS, status=answer.status)
        return super().classify(answer, kind)

    def credentials_refused(self, answer: Answer) -> bool:
        """The session's token is no good (expired, revoked): a refresh may fix it. An expired
        token is a 400 ``ExpiredToken``; a flagged or inactive account is not a token's fault."""
        error = _xrpc_error(answer)[0]
        if error in _FLAGGED_ERRORS or error in _INACTIVE_ERRORS:
            return False
        return answer.status == 401 or (answer.status == 400 and error in _AUTH_ERRORS)

    async def authorize(self, request: Request) -> Request:
        """Calls made as the account carry the session's access token (logging in first)."""
        if _nsid(request) not in _AS_ACCOUNT:
            return request
        session = await self._ensure_session()
        auth = {"Authorization": f"Bearer {session.access}"}
        return replace(request, headers={**request.headers, **auth})

    async def reauthorize(self, request: Request, refused: Answer) -> Request | None:
        """A refused access token is refreshed once (or the account logs in again)."""
        if _nsid(request) not in _AS_ACCOUNT:
            return None
        await self._renew(refused.request.headers.get("Authorization", ""))
        return await self.authorize(request)

    def _xrpc(
        self,
        method: str,
        nsid: str,
        kind: Kind,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        """One XRPC request; ``authorize`` adds the session's token to calls as the account."""
        url = f"{self._settings.pds}/xrpc/{nsid}"
        return Request(
            method, url, kind, what, params=params, json=json, data=data, headers=headers or {}
        )

    def _adopt(self, answer: Answer, what: str) -> _Session:
        doc = answer.maybe_json()
        try:
            session = _Session(
                did=str(doc["did"]),
                handle=str(doc.get("handle") or self._settings.handle),
                access=str(doc["accessJwt"]),
                refresh=str(doc["refreshJwt"]),
            )
        except (TypeError, KeyError, AttributeError) as err:
            raise TransientError(f"{what}: unexpected answer from the PDS") from err
        REDACTOR.add(session.access)
        REDACTOR.add(session.refresh)
        self._session = session
        return session

    async def _create_session(self) -> _Session:
        """A new session from the app password (rate-limited by the PDS: never per post)."""
        password = self.reveal(self._settings.app_password)
        body = {"identifier": self._settings.handle, "password": password}
        # A session is nothing anybody sees: UPLOAD, as resending it is harmless.
        request = self._xrpc("POST", CREATE_SESSION, Kind.UPLOAD, "createSession", json=body)
        try:
            answer = await self.send(request)
        except PermanentError as err:
            if err.attention in (None, Attention.CONTENT):
                err.attention = Attention.CREDENTIALS  # a refused login is the account's
            raise
        log.info("%s: new Bluesky session for %s", self.account, self._settings.handle)
        return self._adopt(answer, "createSession")

    async def _ensure_session(self) -> _Session:
        """The kept session; the first caller logs in, concurrent ones wait for it."""
        if self._session is not None:
            return self._session
        async with self._session_lock:
            if self._session is None:
                await self._create_session()
            assert self._session is not None
            return self._session

    async def _renew(self, sent: str) -> _Session:
        """Refresh the session once for every caller whose ``sent`` Authorization was refused."""
        async with self._session_lock:
            stale = self._session
            if stale is None:
                return await self._create_session()
            if sent != f"Bearer {stale.access}":
                return stale  # another call already refreshed it
            headers = {"Authorization": f"Bearer {stale.refresh}"}
            request = self._xrpc(
                "POST", REFRESH_SESSION, Kind.UPLOAD, "refreshSession", headers=headers
            )
            answer = await self.send(request, expect=None)
            if answer.status in SUCCESS:
                log.info("%s: Bluesky session refreshed", self.account)
                return self._adopt(answer, "refreshSession")
            error = _xrpc_error(answer)[0]
            if answer.status >= 500 or answer.status == 429 or error in _FLAGGED_ERRORS:
                raise self.classify(answer, Kind.UPLOAD)
            # The refresh token is dead too (e.g. after 90 days): log in again.
            self._session = None
            return await self._create_session()

    # -- reconciliation and checks ---------------------------------------------

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """Found when every part is under its key; Absent when any is missing.

        A missing part makes a resend safe even when earlier parts are out: their keys
        collide and are confirmed, so the resend only adds what is missing.
        """
        parts: list[RemotePart] = []
        try:
            for part in rendered.parts:
                found = await self._find(ref, part.index)
                if found is None:
                    return AbsentResult()
                parts.append(found)
        except _Unknown as err:
            return Unknowable(str(err))
        return Found(Published(tuple(parts)))

    async def _find(self, ref: DeliveryRef, index: int) -> RemotePart | None:
        """The delivery part's record under any of its candidate keys, or None if none."""
        for attempt in range(RKEY_CANDIDATES):
            rkey = record_key(ref, index, attempt)
            record = await self._get_record(rkey)
            if record is not None:
                return self._remote(index, rkey, record.uri, record.cid)
        return None

    async def _get_record(self, rkey: str) -> _Record | None:
        """The post under ``rkey``; None when the PDS says there is none; else ``_Unknown``."""
        repo = self._session.did if self._session is not None else self._settings.handle
        params = {"repo": repo, "collection": POST, "rkey": rkey}
        request = self._xrpc("GET", GET_RECORD, Kind.READ, "getRecord", params=params)
        try:
            answer = await self.send(request, expect=None)
        except AdapterError as err:
            raise _Unknown(err.reason) from err
        if answer.status == 400 and _xrpc_error(answer)[0] == "RecordNotFound":
            return None
        if answer.status not in SUCCESS:
            raise _Unknown(self.describe(answer))
        doc = answer.maybe_json()
        if not (
            isinstance(doc, dict)
            and isinstance(doc.get("uri"), str)
            and isinstance(doc.get("cid"), str)
        ):
            raise _Unknown("getRecord: unexpected answer from the PDS")
        return _Record(doc["uri"], doc["cid"], doc.get("value"))

    # -- engagement --------------------------------------------------------------------

    async def read_engagement(self, remote_ids: Sequence[str]) -> Sequence[PostReading]:
        """The posts' counts (``app.bsky.feed.getPosts``). A post the answer leaves out is
        gone: the AppView omits posts that were deleted (or cannot be seen any more)."""
        from multidict import MultiDict

        out: list[PostReading] = []
        for start in range(0, len(remote_ids), GET_POSTS_MAX):
            uris = list(remote_ids[start : start + GET_POSTS_MAX])
            params = MultiDict([("uris", uri) for uri in uris])
            request = self._xrpc("GET", GET_POSTS, Kind.READ, "getPosts", params=params)
            doc = (await self.send(request)).object()
            posts = doc.get("posts")
            if not isinstance(posts, list):
                raise TransientError("getPosts: unexpected answer (no posts)")
            views = {
                p["uri"]: p for p in posts if isinstance(p, dict) and isinstance(p.get("uri"), str)
            }
            for uri in uris:
                view = views.get(uri)
                if view is None:
                    out.append(PostGone(uri, "getPosts: not in the answer (deleted)"))
                else:
                    out.append(numbers_from(uri, view, POST_COUNTS))
        return out

    async def read_followers(self) -> int:
        session = await self._ensure_session()
        params = {"actor": session.did}
        request = self._xrpc("GET", GET_PROFILE, Kind.READ, "getProfile", params=params)
        doc = (await self.send(request)).object()
        count = counted(doc.get("followersCount"))
        if count is None:
            raise TransientError("getProfile: the answer has no followersCount")
        return count

    # -- listening -----------------------------------------------------------------------

    async def read_inbox(self, cursor: str | None, own_posts: Sequence[OwnPost]) -> HeardPage:
        place = decode(cursor).get("inbox", Place())
        items, place, more = await walk(place, inbox_fetch(self._read), empty_floor=EMPTY_FLOOR)
        return HeardPage(tuple(items), encode({"inbox": place}), more)

    async def search(self, terms: Sequence[str], cursor: str | None) -> HeardPage:
        return await walk_terms(
            terms, cursor, lambda term: search_fetch(self._read, term), empty_floor=EMPTY_FLOOR
        )

    async def _read(self, nsid: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        from multidict import MultiDict

        what = nsid.rsplit(".", 1)[-1]
        request = self._xrpc("GET", nsid, Kind.READ, what, params=MultiDict(params))
        return (await self.send(request)).object()

    # -- checks --------------------------------------------------------------------------

    async def check(self) -> AccountCheck:
        try:
            session = self._session
            if session is None:
                session = await self._ensure_session()
            else:
                await self.send(self._xrpc("GET", GET_SESSION, Kind.READ, "getSession"))
                session = self._session or session
        except AdapterError as err:
            return AccountCheck(
                CheckStatus.ATTENTION, identity=self._settings.handle, detail=err.reason
            )
        return AccountCheck(
            CheckStatus.OK,
            identity=f"@{session.handle}",
            detail=f"{session.did} on {self._settings.pds}",
        )
