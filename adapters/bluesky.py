"""Bluesky: ``app.bsky.feed.post`` records written to the account's PDS over XRPC.

Idempotency comes from the record key: every delivery part gets a deterministic TID derived
from the delivery (its scheduled time and part key), and a PDS never holds two records under
one key. A resend after any doubtful outcome therefore either creates the post or collides
with the one already there (the reference PDS answers the collision with a 500), which
``com.atproto.repo.getRecord`` then confirms. That is why failures after the body left are
``TransientError`` here rather than ``AmbiguousError``: sending again cannot post twice.

The session (``createSession``, limited to 30 per 5 minutes by bsky.social) is made once per
adapter and refreshed with ``refreshSession`` when the PDS says the access token expired.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import regex
from pydantic import field_validator

from publisher.adapters.base import Absent as AbsentResult
from publisher.adapters.base import (
    AccountCheck,
    AccountSettings,
    Adapter,
    AdapterContext,
    AdapterError,
    AmbiguousError,
    Attention,
    Capabilities,
    CheckStatus,
    DeliveryRef,
    Found,
    LengthRule,
    LookupResult,
    MediaItem,
    MediaLimits,
    PermanentError,
    PostContent,
    Published,
    RateLimitedError,
    RemotePart,
    Rendered,
    TransientError,
    Unknowable,
)
from publisher.secrets import REDACTOR, MissingSecretError, Secret
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
_MEDIA = re.compile(r"<media:(\d+)>")
_ASPECT = re.compile(r"<aspect:(\d+)>")
_PART = re.compile(r"<part:(\d+)>")
_DID = re.compile(r"<did:([^>]+)>")
_THUMB = re.compile(r"<thumb:(.+)>", re.DOTALL)

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


def created_at(now: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as Bluesky's own clients write it."""
    now = now.astimezone(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


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
# HTTP plumbing.


class _Unsent(TransientError):
    """The request never reached the PDS."""


class _Lost(TransientError):
    """The request may have reached the PDS; its answer did not come back."""


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Mapping[str, str]
    doc: Any  # parsed JSON, or None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> str:
        if isinstance(self.doc, dict) and isinstance(self.doc.get("error"), str):
            return str(self.doc["error"])
        return ""

    @property
    def message(self) -> str:
        if isinstance(self.doc, dict) and isinstance(self.doc.get("message"), str):
            return REDACTOR.scrub(str(self.doc["message"]))[:300]
        return ""

    @property
    def token_rejected(self) -> bool:
        """The session's token is no good (expired, revoked): a refresh may fix it."""
        if self.error in _FLAGGED_ERRORS or self.error in _INACTIVE_ERRORS:
            return False
        return self.status == 401 or (self.status == 400 and self.error in _AUTH_ERRORS)

    def describe(self, what: str) -> str:
        detail = f"{self.error}: {self.message}" if self.error else self.message
        return f"{what}: HTTP {self.status}" + (f" ({detail})" if detail else "")


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


def _reset_time(headers: Mapping[str, str]) -> datetime | None:
    raw = headers.get("RateLimit-Reset") or headers.get("ratelimit-reset")
    try:
        return datetime.fromtimestamp(int(float(raw)), UTC) if raw else None
    except (ValueError, OverflowError, OSError):
        return None


def _retry_after(headers: Mapping[str, str]) -> timedelta | None:
    raw = headers.get("Retry-After")
    try:
        return timedelta(seconds=int(raw)) if raw else None
    except ValueError:
        return None


def _error_for(reply: _Reply, what: str) -> AdapterError:
    """Our error for a PDS refusal (anything but a 2xx)."""
    reason = reply.describe(what)
    status = reply.status
    if status == 429 or reply.error == "RateLimitExceeded":
        reset_at = _reset_time(reply.headers)
        retry_after = None if reset_at else _retry_after(reply.headers)
        return RateLimitedError(reason, reset_at=reset_at, retry_after=retry_after, status=status)
    if reply.error in _FLAGGED_ERRORS:
        return PermanentError(reason, attention=Attention.FLAGGED, status=status)
    if reply.error in _INACTIVE_ERRORS or reply.token_rejected:
        return PermanentError(reason, attention=Attention.CREDENTIALS, status=status)
    if status == 403:
        return PermanentError(reason, attention=Attention.PERMISSION, status=status)
    if status >= 500:
        return TransientError(reason, status=status)
    if status in (400, 413, 415):
        return PermanentError(reason, attention=Attention.CONTENT, status=status)
    return PermanentError(reason, status=status)


# ---------------------------------------------------------------------------
# The adapter.


class BlueskyAdapter(Adapter):
    network: ClassVar[str] = "bluesky"
    Settings = BlueskySettings

    def __init__(
        self, account: str, settings: AccountSettings, context: AdapterContext
    ) -> None:
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
                    {"image": f"<media:{i}>", "alt": m.alt, "aspectRatio": f"<aspect:{i}>"}
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
                external["thumb"] = f"<thumb:{content.link.thumb.name}>"
            record["embed"] = {"$type": "app.bsky.embed.external", "external": external}
        if index > 0:
            record["reply"] = {"root": "<part:0>", "parent": f"<part:{index - 1}>"}
        return {"repo": DID, "collection": POST, "rkey": RKEY, "record": record}

    # -- HTTP ------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        nsid: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        data: bytes | None = None,
        mime: str | None = None,
        token: str | None = None,
    ) -> _Reply:
        """One XRPC request; transport failures become ``_Unsent`` or ``_Lost``."""
        import aiohttp

        url = f"{self._settings.pds}/xrpc/{nsid}"
        headers: dict[str, str] = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if data is not None:
            headers["Content-Type"] = mime or "application/octet-stream"
        host = urlsplit(self._settings.pds).netloc
        try:
            async with self.context.http().request(
                method,
                url,
                params=params,
                json=body,
                data=data,
                headers=headers,
                timeout=self.context.timeout,
            ) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
            raise _Unsent(f"{nsid}: could not connect to {host} ({type(err).__name__})") from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise _Lost(f"{nsid}: no answer from {host} ({type(err).__name__})") from err
        try:
            doc = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            doc = None
        return _Reply(status, resp_headers, doc)

    async def _call(
        self,
        method: str,
        nsid: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        data: bytes | None = None,
        mime: str | None = None,
    ) -> _Reply:
        """An authenticated call; a rejected token is refreshed once and the call sent again."""
        session = await self._ensure_session()
        reply = await self._send(
            method, nsid, params=params, body=body, data=data, mime=mime, token=session.access
        )
        if reply.token_rejected:
            session = await self._renew(session)
            reply = await self._send(
                method, nsid, params=params, body=body, data=data, mime=mime, token=session.access
            )
        return reply

    # -- session ---------------------------------------------------------------

    def _adopt(self, reply: _Reply, what: str) -> _Session:
        doc = reply.doc
        try:
            session = _Session(
                did=str(doc["did"]),
                handle=str(doc.get("handle") or self._settings.handle),
                access=str(doc["accessJwt"]),
                refresh=str(doc["refreshJwt"]),
            )
        except (TypeError, KeyError) as err:
            raise TransientError(f"{what}: unexpected answer from the PDS") from err
        REDACTOR.add(session.access)
        REDACTOR.add(session.refresh)
        self._session = session
        return session

    async def _create_session(self) -> _Session:
        """A new session from the app password (rate-limited by the PDS: never per post)."""
        try:
            password = self._settings.app_password.reveal()
        except MissingSecretError as missing:
            raise PermanentError(str(missing), attention=Attention.CREDENTIALS) from missing
        body = {"identifier": self._settings.handle, "password": password}
        reply = await self._send("POST", "com.atproto.server.createSession", body=body)
        if not reply.ok:
            err = _error_for(reply, "createSession")
            if isinstance(err, PermanentError) and err.attention in (None, Attention.CONTENT):
                err.attention = Attention.CREDENTIALS  # a refused login is the account's
            raise err
        log.info("%s: new Bluesky session for %s", self.account, self._settings.handle)
        return self._adopt(reply, "createSession")

    async def _ensure_session(self) -> _Session:
        """The kept session; the first caller logs in, concurrent ones wait for it."""
        if self._session is not None:
            return self._session
        async with self._session_lock:
            if self._session is None:
                await self._create_session()
            assert self._session is not None
            return self._session

    async def _renew(self, stale: _Session) -> _Session:
        """Refresh the session once for every caller that saw ``stale`` rejected."""
        async with self._session_lock:
            if self._session is not None and self._session is not stale:
                return self._session  # another call already refreshed it
            reply = await self._send(
                "POST", "com.atproto.server.refreshSession", token=stale.refresh
            )
            if reply.ok:
                log.info("%s: Bluesky session refreshed", self.account)
                return self._adopt(reply, "refreshSession")
            if reply.status >= 500 or reply.status == 429 or reply.error in _FLAGGED_ERRORS:
                raise _error_for(reply, "refreshSession")
            # The refresh token is dead too (e.g. after 90 days): log in again.
            self._session = None
            return await self._create_session()

    # -- records -----------------------------------------------------------------

    def _repo(self) -> str:
        return self._session.did if self._session is not None else self._settings.handle

    def _url(self, rkey: str) -> str:
        handle = self._session.handle if self._session is not None else self._settings.handle
        return f"{APP_URL}/profile/{handle}/post/{rkey}"

    def _remote(self, index: int, rkey: str, uri: str, cid: str) -> RemotePart:
        return RemotePart(index, uri, self._url(rkey), {"uri": uri, "cid": cid, "rkey": rkey})

    async def _get_record(self, rkey: str) -> _Record | None:
        """The post under ``rkey``; None when the PDS says there is none; else ``_Unknown``."""
        params = {"repo": self._repo(), "collection": POST, "rkey": rkey}
        try:
            reply = await self._send("GET", "com.atproto.repo.getRecord", params=params)
        except TransientError as err:
            raise _Unknown(err.reason) from err
        if reply.status == 400 and reply.error == "RecordNotFound":
            return None
        if not reply.ok:
            raise _Unknown(reply.describe("getRecord"))
        doc = reply.doc
        if not (
            isinstance(doc, dict)
            and isinstance(doc.get("uri"), str)
            and isinstance(doc.get("cid"), str)
        ):
            raise _Unknown("getRecord: unexpected answer from the PDS")
        return _Record(doc["uri"], doc["cid"], doc.get("value"))

    async def _find(self, ref: DeliveryRef, index: int) -> RemotePart | None:
        """The delivery part's record under any of its candidate keys, or None if none."""
        for attempt in range(RKEY_CANDIDATES):
            rkey = record_key(ref, index, attempt)
            record = await self._get_record(rkey)
            if record is not None:
                return self._remote(index, rkey, record.uri, record.cid)
        return None

    async def _confirm(self, ref: DeliveryRef, index: int, rkey: str, why: str) -> RemotePart:
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

    async def _create(self, body: Mapping[str, Any], ref: DeliveryRef, index: int) -> RemotePart:
        """createRecord under the part's deterministic key; a collision means it is already out."""
        session = await self._ensure_session()
        for attempt in range(RKEY_CANDIDATES):
            rkey = record_key(ref, index, attempt)
            payload = {**body, "repo": session.did, "rkey": rkey}
            try:
                reply = await self._call("POST", "com.atproto.repo.createRecord", body=payload)
            except _Lost as err:
                return await self._confirm(ref, index, rkey, err.reason)
            if reply.ok:
                doc = reply.doc
                if (
                    isinstance(doc, dict)
                    and isinstance(doc.get("uri"), str)
                    and isinstance(doc.get("cid"), str)
                ):
                    return self._remote(index, rkey, doc["uri"], doc["cid"])
                return await self._confirm(
                    ref, index, rkey, "createRecord: unexpected answer from the PDS"
                )
            message = reply.message.lower()
            if reply.status == 400 and "record key" in message:
                log.warning("%s: record key %s refused (%s)", self.account, rkey, reply.message)
                continue
            if reply.status >= 500 or "already exist" in message:
                return await self._confirm(ref, index, rkey, reply.describe("createRecord"))
            raise _error_for(reply, "createRecord")
        raise PermanentError(
            "createRecord: the PDS refused every record key for this post",
            attention=Attention.CONTENT,
        )

    # -- publish -------------------------------------------------------------------

    async def _upload(self, item: MediaItem) -> tuple[dict[str, Any], bytes]:
        """The blob ref (and the bytes, for the aspect ratio); re-uploading is harmless."""
        found = await self.read_media(item)
        reply = await self._call(
            "POST", "com.atproto.repo.uploadBlob", data=found.data, mime=found.mime_type
        )
        if not reply.ok:
            raise _error_for(reply, f"uploadBlob {item.filename}")
        blob = reply.doc.get("blob") if isinstance(reply.doc, dict) else None
        if not isinstance(blob, dict) or blob.get("$type") != "blob":
            raise TransientError(f"uploadBlob {item.filename}: unexpected answer from the PDS")
        return blob, found.data

    async def _resolve(self, handle: str, cache: dict[str, str | None]) -> str | None:
        """A mentioned handle's DID; None (drop the facet, keep the text) if it has none."""
        if handle in cache:
            return cache[handle]
        reply = await self._send(
            "GET", "com.atproto.identity.resolveHandle", params={"handle": handle}
        )
        did: str | None = None
        if reply.ok and isinstance(reply.doc, dict) and isinstance(reply.doc.get("did"), str):
            did = reply.doc["did"]
        elif reply.status == 400:
            log.warning("%s: @%s does not resolve; mention left as text", self.account, handle)
        else:
            raise _error_for(reply, f"resolveHandle {handle}")
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

    async def _prepare(
        self,
        payload: Mapping[str, Any],
        media: Sequence[MediaItem],
        thumb: MediaItem | None,
        refs: Mapping[int, dict[str, str]],
        handles: dict[str, str | None],
    ) -> dict[str, Any]:
        """Upload the part's media and fill every placeholder but the record key.

        Placeholders are only looked for where ``build_payload`` puts them, so a post whose
        text happens to read ``<now>`` stays as written.
        """
        body = copy.deepcopy(dict(payload))
        session = await self._ensure_session()
        if body.get("repo") == DID:
            body["repo"] = session.did
        record = body["record"]
        if record.get("createdAt") == NOW:
            record["createdAt"] = created_at(self.context.clock.now())
        embed = record.get("embed") or {}
        if embed.get("$type") == "app.bsky.embed.images":
            for image in embed["images"]:
                if m := _MEDIA.fullmatch(str(image.get("image"))):
                    item = media[int(m.group(1))]
                    image["image"], data = await self._upload(item)
                    if _ASPECT.fullmatch(str(image.get("aspectRatio"))):
                        size = image_size(data)
                        if size is None:
                            del image["aspectRatio"]
                        else:
                            image["aspectRatio"] = {"width": size[0], "height": size[1]}
        external = embed.get("external") or {}
        if _THUMB.fullmatch(str(external.get("thumb"))):
            if thumb is None:
                raise PermanentError("the payload names a card thumbnail the post does not have")
            external["thumb"] = (await self._upload(thumb))[0]
        reply = record.get("reply") or {}
        for key in ("root", "parent"):
            if m := _PART.fullmatch(str(reply.get(key))):
                reply[key] = refs[int(m.group(1))]
        if "facets" in record:
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

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        out = list(done)
        try:
            refs = {p.index: await self._strong_ref(p) for p in done}
            handles: dict[str, str | None] = {}
            for part in rendered.parts[len(done) :]:
                body = await self._prepare(part.payload, part.media, part.thumb, refs, handles)
                remote = await self._create(body, ref, part.index)
                out.append(remote)
                refs[part.index] = {"uri": remote.extra["uri"], "cid": remote.extra["cid"]}
        except AdapterError as err:
            err.with_partial(out)
            raise
        except Exception as err:  # a bug here must still surface as one of our errors
            raise AmbiguousError(
                f"unexpected failure ({type(err).__name__}); the post may be out", partial=out
            ) from err
        return Published(tuple(out))

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

    async def check(self) -> AccountCheck:
        try:
            if self._session is None:
                session = await self._ensure_session()
            else:
                reply = await self._call("GET", "com.atproto.server.getSession")
                if not reply.ok:
                    raise _error_for(reply, "getSession")
                session = self._session
        except AdapterError as err:
            return AccountCheck(
                CheckStatus.ATTENTION, identity=self._settings.handle, detail=err.reason
            )
        return AccountCheck(
            CheckStatus.OK,
            identity=f"@{session.handle}",
            detail=f"{session.did} on {self._settings.pds}",
        )


class _Unknown(Exception):
    """The PDS could not say whether a record is there."""
