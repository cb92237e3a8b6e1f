"""The X (Twitter API v2) adapter: posts through tweepy, media through the v2 upload endpoints,
every request through the network kit (``publisher.adapters.transport``).

Why the pieces look the way they do:

* Posts, ``/2/users/me`` and the timeline are tweepy's calls (``create_tweet``, ``get_me``,
  ``get_users_tweets``), whose requests the kit sends (``x_tweepy``); tweepy has no v2 media
  upload, so media requests are built here. Either way ``authorize`` signs each attempt with
  the account's credentials (``x_auth``: OAuth 1.0a, or an OAuth 2 user token that
  ``reauthorize`` refreshes after a 401 and sends once more).
* Nothing visible exists until ``POST /2/tweets`` answers (``Kind.CREATE``), and X has no
  idempotency key for it: once that request's body has left, any 5xx (503 included: X's
  comes from the application tier that creates posts), a timeout, a reset, a garbled 2xx or
  the duplicate-content 403 is ambiguous, settled by ``lookup``. Media steps create nothing
  anybody sees (``Kind.UPLOAD``), so the same failures there are transient.
* A 429 waits for the window's reset, or for the 24-hour post cap's when that is spent.
* Lookups read the account's timeline and compare texts as X rewrites them (t.co links,
  HTML escapes, long posts cut short).
* Engagement reads (``GET /2/tweets?ids=…``, 100 ids a call; ``GET /2/users/me`` for the
  follower count) are off unless the account asks: X bills every post read (pay-per-use).
  What is asked and how the answer reads is in ``publisher.adapters.x_metrics``: a post X
  answers ``resource-not-found`` for is gone (deleted); one it will not show is unavailable.
* Listening (the mentions timeline, recent search for watches) is billed the same way and
  off unless the account asks (``publisher.adapters.x_listen``); an answer is a post whose
  first part replies to the item heard (``reply.in_reply_to_tweet_id``).
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from publisher.adapters import payload
from publisher.adapters.base import (
    MIN_LENGTH_LIMIT,
    Absent,
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
    HeardPage,
    LengthRule,
    LookupResult,
    MediaItem,
    MediaLimits,
    OwnPost,
    PermanentError,
    PostContent,
    PostReading,
    Progress,
    Published,
    RateLimitedError,
    RemotePart,
    Rendered,
    RenderedPart,
    Role,
    TransientError,
    Unknowable,
)
from publisher.adapters.engagement import PostGone, counted
from publisher.adapters.transport import Answer, HttpAdapter, Kind, Request, doubtful
from publisher.adapters.waits import reset_time
from publisher.adapters.x_auth import (
    TOKEN_ROUTE,
    USER_AGENT,
    Auth,
    Bearer,
    Credentials,
    Fixed,
    OAuth1,
    Refresher,
    RefreshSettings,
)
from publisher.adapters.x_listen import LISTENING, found, mention, read_pages, search_query
from publisher.adapters.x_metrics import ENGAGEMENT, READ_BATCH, by_fields, readings
from publisher.media import MediaFile
from publisher.secrets import Secret
from publisher.text import x_weighted_length

if TYPE_CHECKING:
    import aiohttp

    from publisher.adapters.x_tweepy import TweepyClient

log = logging.getLogger("publisher.network.x")

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
# A GIF is uploaded as "tweet_gif" and counts against the one video slot.
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "image/gif"})
STATUS_URL = "https://x.com/i/web/status/{id}"
DUPLICATE_MARK = "duplicate content"
TEXT_KEYS = frozenset({"text"})  # the editor's words: no placeholders
# The limits a 429 may name; the window's reset always counts, a 24-hour cap's when spent.
WINDOW_LIMIT = "x-rate-limit"
DAY_LIMITS = ("x-user-limit-24hour", "x-app-limit-24hour")

CHUNK_BYTES = 4 * 1024 * 1024  # X takes APPEND segments of up to 5 MB
MAX_PROCESSING_WAIT = timedelta(minutes=15)  # beyond it, retry later (a fresh upload)
MAX_CHECK_AFTER = timedelta(minutes=5)
LOOKUP_PAGES = 5  # 500 posts since `since`: a publishing account never gets near it
LOOKUP_MARGIN = timedelta(minutes=5)  # our clock and X's may disagree a little

_OAUTH1_FIELDS = ("api_key", "api_secret", "access_token", "access_secret")
_REFRESH_FIELDS = ("oauth2_refresh_token", "client_id", "client_secret", "token_file")
_DIGITS = re.compile(r"[0-9]{1,19}")


class XSettings(AccountSettings):
    """One X account: OAuth 1.0a user context (four secrets) or an OAuth 2 user token.

    An OAuth 2 token lasts two hours; with ``oauth2_refresh_token`` (the app asked for
    ``offline.access``) the adapter refreshes it itself. X rotates the refresh token on every
    refresh, so the current pair lives in ``token_file``; the configured pair only seeds it.
    """

    api_key: Secret | None = None
    api_secret: Secret | None = None
    access_token: Secret | None = None
    access_secret: Secret | None = None
    oauth2_token: Secret | None = None
    oauth2_refresh_token: Secret | None = None
    client_id: str | None = None  # the app's OAuth 2.0 Client ID (not a secret)
    client_secret: Secret | None = None  # confidential clients only
    token_file: str | None = None
    api_base: str = "https://api.x.com"
    max_length: int = Field(default=280, ge=MIN_LENGTH_LIMIT)  # paid accounts may post more
    user_id: str | None = Field(default=None, pattern=r"^[0-9]{1,19}$")

    @model_validator(mode="after")
    def _one_credential_set(self) -> XSettings:
        given = [name for name in _OAUTH1_FIELDS if getattr(self, name) is not None]
        if self.oauth2_token is not None and given:
            raise ValueError(
                "set either the OAuth 1.0a keys (api_key, api_secret, access_token, "
                f"access_secret) or oauth2_token, not both (found {', '.join(given)} "
                "and oauth2_token)"
            )
        if self.oauth2_token is None and not given:
            raise ValueError(
                "no X credentials: set api_key, api_secret, access_token and access_secret "
                "(OAuth 1.0a user context) or oauth2_token (OAuth 2 user token)"
            )
        if given and len(given) != len(_OAUTH1_FIELDS):
            missing = [name for name in _OAUTH1_FIELDS if name not in given]
            raise ValueError(
                "OAuth 1.0a needs all of api_key, api_secret, access_token and access_secret "
                f"(missing: {', '.join(missing)})"
            )
        if not self.api_base.startswith(("https://", "http://")):
            raise ValueError(f"api_base must be an http(s) URL, not {self.api_base!r}")
        self._check_refresh()
        return self

    def _check_refresh(self) -> None:
        extras = [name for name in _REFRESH_FIELDS if getattr(self, name) is not None]
        if extras and self.oauth2_token is None:
            raise ValueError(
                f"{', '.join(extras)} only go with oauth2_token (OAuth 2 user context), "
                "not with the OAuth 1.0a keys"
            )
        if self.oauth2_refresh_token is None:
            if extras:
                raise ValueError(
                    f"{', '.join(extras)} only serve to refresh the OAuth 2 token: "
                    "set oauth2_refresh_token too"
                )
            return
        if not (self.client_id or "").strip():
            raise ValueError(
                "oauth2_refresh_token needs client_id (the app's OAuth 2.0 Client ID, from "
                "its Keys and tokens page in the X developer console)"
            )
        if self.token_file is None:
            raise ValueError(
                "oauth2_refresh_token needs token_file: X replaces the refresh token on every "
                "refresh, so the current one must be kept in a file (e.g. "
                "/var/lib/publisher/x-<account>.json)"
            )
        if not Path(self.token_file).is_absolute():
            raise ValueError(f"token_file must be an absolute path, not {self.token_file!r}")

    def refreshing(self) -> RefreshSettings | None:
        """What refreshing the OAuth 2 token needs; None without a refresh token."""
        if self.oauth2_refresh_token is None:
            return None
        assert self.oauth2_token is not None  # checked above, with the two below
        assert self.client_id is not None and self.token_file is not None
        return RefreshSettings(
            access=self.oauth2_token,
            refresh=self.oauth2_refresh_token,
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_url=self.api_base.rstrip("/") + TOKEN_ROUTE,
            token_file=Path(self.token_file),
        )


class XAdapter(HttpAdapter):
    network = "x"
    Settings = XSettings
    engagement = ENGAGEMENT
    listening = LISTENING  # off unless the account asks: X bills reads (``x_listen``)
    # X's own words run long (a message per refused parameter): keep more of them.
    detail_limit = 500

    def __init__(self, account: str, settings: AccountSettings, context: AdapterContext) -> None:
        super().__init__(account, settings, context)
        self._me: str | None = None  # user id learnt from /2/users/me
        refreshing = self._settings.refreshing()
        self._refresher = (
            Refresher(account, refreshing, context, self.classify)
            if refreshing is not None
            else None
        )

    @property
    def _settings(self) -> XSettings:
        assert isinstance(self.settings, XSettings)
        return self.settings

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        length = LengthRule(x_weighted_length, self._settings.max_length)
        return Capabilities(
            network="x",
            length=length,
            media=MediaLimits(
                max_images=4,
                max_videos=1,
                max_image_bytes=5 * 1024 * 1024,
                max_video_bytes=512 * 1024 * 1024,
                image_types=IMAGE_TYPES,
                video_types=VIDEO_TYPES,
                alt_text_max=1000,
                mix_images_and_video=False,
            ),
            threads=True,
            comments=Comments(length),  # a reply to self, counted as a post is
        )

    # ------------------------------------------------------------------ build_payload

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        # X's backend wants "text" even when empty (a media-only post).
        body: dict[str, Any] = {"text": text}
        if media:
            body["media"] = {"media_ids": [payload.media(i) for i in range(len(media))]}
        if index:
            body["reply"] = {"in_reply_to_tweet_id": payload.part(index - 1)}
        elif content.reply_to is not None and content.reply_to.resolved:  # an answer
            body["reply"] = {"in_reply_to_tweet_id": content.reply_to.remote_id}
        return body

    # ------------------------------------------------------------------ publish_part

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        total = len(progress.rendered.post_parts)
        label = f"part {part.index + 1}/{total}" if total > 1 else "the post"
        if part.role is Role.COMMENT:
            label = "the first comment"
        media_ids = [
            await self._upload(item, f"media {i + 1} of {label}")
            for i, item in enumerate(part.media)
        ]
        body = payload.fill(
            part.payload, media=media_ids, parts=progress.remote_ids(), text=TEXT_KEYS
        )
        what = f"posting {label}"
        doc = await self._tweepy(Kind.CREATE, what).create_tweet(
            **_tweet_kwargs(body), user_auth=True
        )
        remote_id = _id_of(doc, Kind.CREATE, what)
        return RemotePart(part.index, remote_id, STATUS_URL.format(id=remote_id))

    async def _upload(self, item: MediaItem, label: str) -> str:
        what = f"uploading {label} ({item.filename})"
        found = await self.read_media(item)
        if item.kind == "image":
            # One multipart POST: images are small enough to go at once.
            form = _multipart(
                {"media_category": "tweet_image"}, found.data, item.filename, found.mime_type
            )
            doc = await self._media("POST", "/2/media/upload", what, data=form)
        else:
            doc = await self._upload_chunked(item, found, what)
        media_id, info = _upload_result(doc, what)
        await self._await_processing(media_id, info, what)
        if item.alt:
            alt = f"setting the alt text of {label}"
            body = {"id": media_id, "metadata": {"alt_text": {"text": item.alt}}}
            _id_of(await self._media("POST", "/2/media/metadata", alt, json=body), Kind.UPLOAD, alt)
        return media_id

    async def _upload_chunked(self, item: MediaItem, found: MediaFile, what: str) -> dict[str, Any]:
        """initialize / append (segments) / finalize, for videos and GIFs: segments of the
        bytes read once (``read_media``), never of the file read again."""
        data = memoryview(found.data)
        size = len(data)
        category = "tweet_gif" if item.kind == "gif" else "tweet_video"
        init = {"media_type": found.mime_type, "total_bytes": size, "media_category": category}
        doc = await self._media("POST", "/2/media/upload/initialize", what, json=init)
        media_id, _ = _upload_result(doc, what)
        for segment, offset in enumerate(range(0, max(size, 1), CHUNK_BYTES)):
            chunk = bytes(data[offset : offset + CHUNK_BYTES])
            form = _multipart(
                {"segment_index": str(segment)}, chunk, "blob", "application/octet-stream"
            )
            route = f"/2/media/upload/{media_id}/append"
            request = self._request(
                "POST", route, Kind.UPLOAD, f"{what}, segment {segment}", data=form
            )
            answer = await self.send(request)
            if answer.body.strip():  # X answers an empty 2xx; a body must be readable
                answer.object()
        return await self._media("POST", f"/2/media/upload/{media_id}/finalize", what)

    async def _await_processing(
        self, media_id: str, info: dict[str, Any] | None, what: str
    ) -> None:
        """Poll STATUS as X asks (check_after_secs), through the clock seam."""
        waited = timedelta(0)
        while info is not None:
            state = info.get("state")
            if state == "succeeded":
                return
            if state == "failed":
                raise PermanentError(
                    f"X could not process the media while {what}", attention=Attention.CONTENT
                )
            if state not in ("pending", "in_progress"):
                raise TransientError(f"X reported processing state {state!r} while {what}")
            after = info.get("check_after_secs")
            seconds = after if isinstance(after, int) and after > 0 else 1
            delay = min(timedelta(seconds=seconds), MAX_CHECK_AFTER)
            if waited + delay > MAX_PROCESSING_WAIT:
                raise TransientError(f"X was still processing after {waited} while {what}")
            await self.context.pause(delay)
            waited += delay
            status = f"{what} (status)"
            query = {"command": "STATUS", "media_id": media_id}
            doc = await self._media("GET", "/2/media/upload", status, params=query)
            _, info = _upload_result(doc, status)

    async def _media(
        self,
        method: str,
        route: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        """One media step (it creates nothing anybody sees) and its JSON object."""
        request = self._request(
            method, route, Kind.UPLOAD, what, params=params, json=json, data=data
        )
        return (await self.send(request)).object()

    # ------------------------------------------------------------------ classify

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        """X's quirks; the shared default for the rest."""
        status = answer.status
        if status == 401:
            return PermanentError(
                f"{self.describe(answer)}: account needs attention",
                attention=Attention.CREDENTIALS,
                status=status,
            )
        if status == 403 and DUPLICATE_MARK in self.error_detail(answer).casefold():
            if kind is Kind.CREATE:  # a resend of a post that went out: it may exist
                return AmbiguousError(
                    f"{self.describe(answer)}: it may already be out", status=status
                )
            return PermanentError(self.describe(answer), status=status)
        if status >= 500 and kind is Kind.CREATE:  # 503 too: see the module's docstring
            return AmbiguousError(f"{self.describe(answer)}; the post may exist", status=status)
        return super().classify(answer, kind)

    def error_detail(self, answer: Answer) -> str:
        """X's own words: ``errors[].message`` (a v2 invalid request) or an OAuth ``error``,
        else the problem document's ``detail``."""
        doc = answer.maybe_json()
        if not isinstance(doc, dict):
            return ""
        errors = doc["errors"] if isinstance(doc.get("errors"), list) else []
        found = [e.get("message") if isinstance(e, dict) else e for e in errors]
        found.append(doc.get("error"))
        texts = [t.strip() for t in found if isinstance(t, str) and t.strip()]
        if not texts and isinstance(doc.get("detail"), str):
            texts = [doc["detail"].strip()]
        return "; ".join(dict.fromkeys(texts))

    def rate_limited(self, answer: Answer, reason: str) -> RateLimitedError:
        """When a 429 lifts: the window's reset, or a 24-hour post cap's when it is spent
        (the later one); without one, as ``Retry-After`` says, if it does."""
        now = self.context.clock.now()
        headers = answer.headers
        spent = [WINDOW_LIMIT] + [
            limit for limit in DAY_LIMITS if headers.get(f"{limit}-remaining", "0").strip() == "0"
        ]
        resets = [reset_time(headers.get(f"{limit}-reset"), now) for limit in spent]
        reset_at = max((when for when in resets if when is not None), default=None)
        if reset_at is None:
            return super().rate_limited(answer, reason)
        return RateLimitedError(
            f"{reason} (until {reset_at.isoformat()})", reset_at=reset_at, status=answer.status
        )

    # ------------------------------------------------------------------ lookup

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """Find the post (and its thread) in the account's timeline since ``since``.

        Absent only when the whole timeline since then was read and the first part is not in
        it. X's timeline can lag a fresh post by seconds: the engine looks up after a delay.
        """
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        try:
            tweets, complete = await self._timeline(since)
        except AdapterError as err:
            return Unknowable(err.reason)
        tweets.sort()
        found: list[RemotePart] = []
        after = -1
        for part in rendered.parts:
            match = next((t for t in tweets if t[0] > after and _same_post(part.text, t[1])), None)
            if match is None:
                break
            found.append(RemotePart(part.index, str(match[0]), STATUS_URL.format(id=match[0])))
            after = match[0]
        if found:
            return Found(Published(tuple(found)))
        if complete:
            return Absent()
        return Unknowable(f"more than {LOOKUP_PAGES * 100} posts since {since.isoformat()}")

    async def _timeline(self, since: datetime) -> tuple[list[tuple[int, str]], bool]:
        """(id, text) of the account's posts since ``since``; whether they reach back to it."""
        what = "reading the timeline"
        user_id = await self._user_id()
        client = self._tweepy(Kind.READ, what)
        tweets: list[tuple[int, str]] = []
        token: str | None = None
        for _ in range(LOOKUP_PAGES):
            params: dict[str, Any] = {
                "start_time": since - LOOKUP_MARGIN,
                "max_results": 100,
                "tweet_fields": ["created_at", "text"],
            }
            if token:
                params["pagination_token"] = token
            doc = await client.get_users_tweets(user_id, user_auth=True, **params)
            items = (doc.get("data") or []) if isinstance(doc, dict) else None
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise TransientError(f"{what}: the answer has an unexpected shape")
            for item in items:
                tid, text = item.get("id"), item.get("text")
                if isinstance(tid, str) and _DIGITS.fullmatch(tid) and isinstance(text, str):
                    tweets.append((int(tid), text))
            meta = doc.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token:
                return tweets, True
        return tweets, False

    async def _user_id(self) -> str:
        if self._settings.user_id:
            return self._settings.user_id
        if self._me is None:
            what = "reading the account's id"
            doc = await self._tweepy(Kind.READ, what).get_me(user_auth=True)
            self._me = _id_of(doc, Kind.READ, what)
        return self._me

    # ------------------------------------------------------------------ engagement

    async def read_engagement(self, remote_ids: Sequence[str]) -> Sequence[PostReading]:
        """The figures of these posts, 100 a call (``publisher.adapters.x_metrics``)."""
        out: list[PostReading] = []
        for start in range(0, len(remote_ids), READ_BATCH):
            out.extend(await self._read_posts(remote_ids[start : start + READ_BATCH]))
        return out

    async def _read_posts(self, ids: Sequence[str]) -> list[PostReading]:
        """One read per set of fields (see ``x_metrics.by_fields``); an id that is no X id
        is gone without a request."""
        found: dict[str, PostReading] = {}
        valid = [i for i in ids if _DIGITS.fullmatch(i)]
        for fields, group in by_fields(valid, self.context.clock.now()).items():
            what = f"reading the figures of {len(group)} post(s)"
            doc = await self._tweepy(Kind.READ, what).get_tweets(
                group, tweet_fields=list(fields), user_auth=True
            )
            if not (isinstance(doc, dict) and ("data" in doc or "errors" in doc)):
                raise TransientError(f"{what}: the answer has neither data nor errors")
            non_public = "non_public_metrics" in fields
            found.update((r.remote_id, r) for r in readings(doc, group, non_public))
        return [found.get(i) or PostGone(i, "not an X post id") for i in ids]

    # ------------------------------------------------------------------ listening

    async def read_inbox(self, cursor: str | None, own_posts: Sequence[OwnPost]) -> HeardPage:
        """The account's mentions timeline, replies and quotes told apart (``x_listen``)."""
        me = await self._user_id()
        own = {p.remote_id for p in own_posts}

        async def fetch(params: dict[str, Any]) -> Any:
            client = self._tweepy(Kind.READ, "reading the mentions")
            return await client.get_users_mentions(me, user_auth=True, **params)

        return await read_pages(
            fetch, cursor, lambda p, u: mention(p, u, me, own), token_name="pagination_token"
        )

    async def search(self, terms: Sequence[str], cursor: str | None) -> HeardPage:
        """Recent posts (7 days) matching any of ``terms``."""
        query = search_query(terms)

        async def fetch(params: dict[str, Any]) -> Any:
            client = self._tweepy(Kind.READ, "searching recent posts")
            return await client.search_recent_tweets(query, user_auth=True, **params)

        return await read_pages(fetch, cursor, found, token_name="next_token", query=query)

    async def read_followers(self) -> int:
        what = "reading the follower count"
        doc = await self._tweepy(Kind.READ, what).get_me(
            user_fields=["public_metrics"], user_auth=True
        )
        public = _data(doc, Kind.READ, what).get("public_metrics")
        followers = counted(public.get("followers_count") if isinstance(public, dict) else None)
        if followers is None:
            raise TransientError(f"{what}: the answer has no public_metrics.followers_count")
        return followers

    # ------------------------------------------------------------------ check

    async def check(self) -> AccountCheck:
        what = "checking the account"
        try:
            doc = await self._tweepy(Kind.READ, what).get_me(user_auth=True)
            data = _data(doc, Kind.READ, what)
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        user_id, username = data.get("id"), data.get("username")
        if not isinstance(user_id, str) or not isinstance(username, str):
            return AccountCheck(
                CheckStatus.ATTENTION, detail=f"{what}: the answer has no id or username"
            )
        configured = self._settings.user_id
        if configured and configured != user_id:
            return AccountCheck(
                CheckStatus.ATTENTION,
                identity=f"@{username}",
                detail=f"user_id {configured} is set but the credentials are @{username} "
                f"({user_id})",
            )
        self._me = user_id
        return AccountCheck(CheckStatus.OK, identity=f"@{username}")

    # ------------------------------------------------------------------ requests

    def _request(
        self,
        method: str,
        route: str,
        kind: Kind,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Callable[[], aiohttp.FormData] | None = None,
    ) -> Request:
        """A request to ``api_base``; ``authorize`` adds the credentials for each attempt."""
        url = self._settings.api_base.rstrip("/") + route
        headers = {"User-Agent": USER_AGENT}
        return Request(
            method, url, kind, what, params=params, json=json, data=data, headers=headers
        )

    def _tweepy(self, kind: Kind, what: str) -> TweepyClient:
        """tweepy's client for one call, its requests sent by ``send`` as ``kind``."""
        from publisher.adapters.x_tweepy import TweepyClient

        async def send(method: str, route: str, params: Mapping[str, str], body: Any) -> Answer:
            request = self._request(method, route, kind, what, params=params, json=body)
            return await self.send(request)

        return TweepyClient(send)

    async def authorize(self, request: Request) -> Request:
        """Signed for this attempt (OAuth 1.0a), or with the current OAuth 2 token."""
        return self._signed(request, await self._auth().credentials())

    async def reauthorize(self, request: Request, refused: Answer) -> Request | None:
        """After a 401, once more with a refreshed OAuth 2 token, if there is a refresh token."""
        sent = refused.request.headers.get("Authorization", "")
        renewed = await self._auth().renew(sent)
        return self._signed(request, renewed) if renewed is not None else None

    def _signed(self, request: Request, credentials: Credentials) -> Request:
        query = sorted((request.params or {}).items())
        now = self.context.clock.now()
        url, auth = credentials.authorize(request.method, str(request.url), query, now)
        return replace(request, url=url, params=None, headers={**request.headers, **auth})

    def _auth(self) -> Auth:
        if self._refresher is not None:
            return self._refresher
        s = self._settings
        if s.oauth2_token is not None:
            return Fixed(Bearer(self.reveal(s.oauth2_token)))
        assert s.api_key and s.api_secret and s.access_token and s.access_secret
        return Fixed(
            OAuth1(
                self.reveal(s.api_key),
                self.reveal(s.api_secret),
                self.reveal(s.access_token),
                self.reveal(s.access_secret),
            )
        )

    def secrets(self) -> tuple[Secret, ...]:
        rotated = self._refresher.tokens() if self._refresher is not None else ()
        return (*super().secrets(), *(Secret("token_file", v) for v in rotated))


# ---------------------------------------------------------------------- pure helpers


def _multipart(
    fields: Mapping[str, str], content: bytes, filename: str, content_type: str
) -> Callable[[], aiohttp.FormData]:
    """A multipart body with one file part ("media"), built afresh for each attempt (aiohttp
    spends a FormData on sending it, and a request goes again after a token refresh)."""

    def build() -> aiohttp.FormData:
        import aiohttp

        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field("media", content, filename=filename, content_type=content_type)
        return form

    return build


def _tweet_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    """``create_tweet`` arguments that make tweepy send exactly ``body``."""
    unknown = set(body) - {"text", "media", "reply"}
    if unknown:
        raise PermanentError(f"X payload has fields this adapter cannot send: {sorted(unknown)}")
    kwargs: dict[str, Any] = {"text": body.get("text", "")}
    if "media" in body:
        kwargs["media_ids"] = list(body["media"]["media_ids"])
    if "reply" in body:
        kwargs["in_reply_to_tweet_id"] = body["reply"]["in_reply_to_tweet_id"]
    return kwargs


def _data(doc: Any, kind: Kind, what: str) -> dict[str, Any]:
    """The ``data`` object of an answer; without one, what a garbled success means."""
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        raise doubtful(kind, f"{what}: the answer has no data object")
    data: dict[str, Any] = doc["data"]
    return data


def _id_of(doc: Any, kind: Kind, what: str) -> str:
    value = _data(doc, kind, what).get("id")
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise doubtful(kind, f"{what}: the answer has no id")
    return value


def _upload_result(doc: dict[str, Any], what: str) -> tuple[str, dict[str, Any] | None]:
    """A media step's id and its processing info, if X is still processing."""
    media_id = _id_of(doc, Kind.UPLOAD, what)
    info = _data(doc, Kind.UPLOAD, what).get("processing_info")
    return media_id, info if isinstance(info, dict) else None


_URLISH = re.compile(r"(?:https?://|www\.)\S+|\b(?:[\w-]+\.)+[a-z]{2,}(?:/\S*)?", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """A post's text as comparable with what X gives back.

    X rewrites links to t.co, appends a t.co link for media and HTML-escapes ``&<>``; anything
    URL-like is dropped on both sides, so a bare domain X linkified compares equal too.
    """
    text = unicodedata.normalize("NFC", html.unescape(text))
    return " ".join(_URLISH.sub(" ", text).split()).casefold()


def _same_post(ours: str, theirs: str) -> bool:
    a, b = normalize_text(ours), normalize_text(theirs)
    if a == b:
        return True
    # A long post (over 280, paid accounts) comes back cut in `text`, the rest being in
    # note_tweet: accept a long shared prefix, for such posts only.
    b = b.rstrip("…").rstrip()
    return x_weighted_length(ours) > 280 and len(b) >= 100 and a.startswith(b)
