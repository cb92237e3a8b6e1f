"""Facebook Pages through the Graph API, with aiohttp directly.

Not facebook-sdk: its last release (3.1.0, 2018) rejects every Graph API version still
served today and is synchronous, so it would block the daemon's event loop.

Graph has no idempotency key. A feed post (or a published photo) whose answer is lost is
therefore ambiguous and is resolved by ``lookup`` (the page's posts, matched by message),
never by sending again. Photos of a multi-photo post are first uploaded unpublished: nothing
is visible until the feed post that attaches them, so their failures are plain transient.

The page token travels only in the ``Authorization`` header, never in a payload (dry-run
prints payloads) nor in a request URL, except ``input_token`` of ``debug_token`` in
``check()``, which Graph takes nowhere else; every error text is scrubbed of it anyway.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from multidict import CIMultiDict

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
    PermanentError,
    PostContent,
    Problem,
    Published,
    RateLimitedError,
    RemotePart,
    Rendered,
    RenderedPart,
    Subject,
    TransientError,
    Unknowable,
)
from publisher.secrets import REDACTOR, Secret

log = logging.getLogger("publisher.network.facebook")

MAX_LENGTH = 63_206  # Graph's limit on a post's message, in characters
MAX_PHOTOS = 10
MAX_PHOTO_BYTES = 4 * 1024 * 1024
# Graph's documented photo formats. GIF is left out: the shared layer counts GIFs as
# video, and Graph would flatten an animated GIF to a still photo anyway.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/bmp", "image/tiff"})

# Graph error codes (developers.facebook.com/docs/graph-api/guides/error-handling).
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, 80001})  # 80001: Page-level BUC limit
CREDENTIAL_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
TRANSIENT_CODES = frozenset({1, 2})
FLAGGED_CODE = 368  # temporarily blocked for policy violations
DUPLICATE_CODE = 506  # duplicate status message
CONTENT_CODES = frozenset({100, 1609005})  # invalid parameter, link could not be posted
FLAGGED_BACKOFF = timedelta(hours=24)
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage")

LOOKUP_PAGES = 5  # pages of the page's posts read before giving up with Unknowable
LOOKUP_SLACK = timedelta(minutes=10)  # clock skew between us and Graph's created_time

_PLACEHOLDER = re.compile(r"<media:(\d+)>")
_TOKEN_PARAM = re.compile(r"((?:access|input)_token=)[^&\s\"'<>]+", re.IGNORECASE)


class FacebookSettings(AccountSettings):
    page_id: str
    page_token: Secret
    api_base: str = "https://graph.facebook.com"
    api_version: str = "v23.0"


@dataclass(frozen=True)
class _Step:
    """One Graph request; ``visible`` when its success would be public (no blind resend)."""

    what: str
    visible: bool


def usage_retry_after(headers: Mapping[str, str]) -> timedelta | None:
    """The longest ``estimated_time_to_regain_access`` (minutes) in Graph's usage headers."""
    headers = CIMultiDict(headers)  # Graph over HTTP/2 sends them lowercase
    minutes = 0.0
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        for value in _values_of(doc, "estimated_time_to_regain_access"):
            minutes = max(minutes, value)
    if minutes > 0:
        return timedelta(minutes=minutes)
    retry_after = headers.get("Retry-After", "").strip()
    if retry_after.isdigit() and int(retry_after) > 0:
        return timedelta(seconds=int(retry_after))
    return None


def _values_of(doc: Any, key: str) -> Iterator[float]:
    """Every number under ``key`` anywhere in a JSON document (BUC nests them per business)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == key and isinstance(v, int | float) and not isinstance(v, bool):
                yield float(v)
            else:
                yield from _values_of(v, key)
    elif isinstance(doc, list):
        for item in doc:
            yield from _values_of(item, key)


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _timestamp(value: Any) -> datetime | None:
    """Graph's ``created_time`` (``2026-12-01T09:00:00+0000``) or a unix time."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
        except ValueError:
            return None
    return None


def post_url(post_id: str) -> str:
    return f"https://www.facebook.com/{post_id}"


class FacebookAdapter(Adapter):
    network = "facebook"
    Settings = FacebookSettings

    @property
    def _settings(self) -> FacebookSettings:
        assert isinstance(self.settings, FacebookSettings)
        return self.settings

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network="facebook",
            length=LengthRule(LengthKind.CHARACTERS, MAX_LENGTH),
            media=MediaLimits(
                max_images=MAX_PHOTOS,
                max_videos=0,
                max_image_bytes=MAX_PHOTO_BYTES,
                image_types=PHOTO_TYPES,
                alt_text_max=0,  # the publish API has no alt-text field
            ),
            threads=False,
            link_cards=True,
        )

    # ------------------------------------------------------------------ render (pure)

    def render(self, content: PostContent) -> Rendered:
        """The shared render, plus what Graph does with an editor's link card."""
        rendered = super().render(content)
        link = content.link
        if link is None:
            return rendered
        notes: list[Problem] = []
        if content.media:
            missing = "" if link.url in content.text else f"; {link.url} is not in the text"
            notes.append(
                Problem(
                    "link card dropped: a Facebook post with photos shows the photos, "
                    f"not a link preview{missing}",
                    Subject.LINK,
                )
            )
        elif link.title or link.description or link.thumb is not None:
            notes.append(
                Problem(
                    "Facebook builds the link preview from the page itself; the card's "
                    "title, description and thumbnail are not sent",
                    Subject.LINK,
                )
            )
        return rendered.with_problems(warnings=notes)

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        """One photo: the ``/photos`` body; several: the ``/feed`` body attaching them."""
        if len(media) == 1:
            photo: dict[str, Any] = {"source": "<media:0>"}
            if text:
                photo["caption"] = text
            return photo
        body: dict[str, Any] = {}
        if text:
            body["message"] = text
        if media:
            body["attached_media"] = [{"media_fbid": f"<media:{i}>"} for i in range(len(media))]
        elif content.link is not None:
            body["link"] = content.link.url
        return body

    # ------------------------------------------------------------------ publish

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        if done:  # one part only: it is out already
            return Published(tuple(done))
        if rendered.errors:
            raise PermanentError(
                "cannot publish: " + "; ".join(rendered.errors), attention=Attention.CONTENT
            )
        if len(rendered.parts) != 1:
            raise PermanentError(
                f"a Facebook post is one part, this one has {len(rendered.parts)}",
                attention=Attention.CONTENT,
            )
        part = rendered.parts[0]
        sent: list[_Step] = []
        try:
            if "source" in part.payload:
                remote = await self._publish_photo(part, sent)
            else:
                remote = await self._publish_feed(part, sent)
        except AdapterError:
            raise
        except Exception as err:  # a bug of ours: still exactly one of our types
            reason = self._scrub(f"unexpected {type(err).__name__} while publishing: {err}")
            log.error("%s", self._scrub("".join(traceback.format_exception(err))))
            if any(step.visible for step in sent):
                raise AmbiguousError(reason) from None
            raise PermanentError(reason) from None
        log.debug("%s: published %s", self.account, remote.url)
        return Published((remote,))

    async def _publish_photo(self, part: RenderedPart, sent: list[_Step]) -> RemotePart:
        step = _Step("photo post", visible=True)
        form = await self._form(part.payload, part.media)
        sent.append(step)
        doc = await self._request("POST", f"{self._settings.page_id}/photos", step, form=form)
        photo_id = doc.get("id")
        post_id = doc.get("post_id") or photo_id
        if not isinstance(post_id, str) or not post_id:
            raise AmbiguousError(f"{step.what}: Graph answered 200 without an id")
        extra = {"photo_id": photo_id} if isinstance(photo_id, str) else {}
        return RemotePart(part.index, post_id, post_url(post_id), extra)

    async def _publish_feed(self, part: RenderedPart, sent: list[_Step]) -> RemotePart:
        page = self._settings.page_id
        ids: list[str] = []
        for i in range(len(part.media)):
            upload = _Step(f"photo {i + 1}/{len(part.media)} upload (unpublished)", visible=False)
            form = await self._form({"source": f"<media:{i}>", "published": False}, part.media)
            sent.append(upload)
            doc = await self._request("POST", f"{page}/photos", upload, form=form)
            fbid = doc.get("id")
            if not isinstance(fbid, str) or not fbid:
                raise TransientError(f"{upload.what}: Graph answered 200 without an id")
            ids.append(fbid)
        body = _substitute(part.payload, ids)
        step = _Step("feed post", visible=True)
        sent.append(step)
        doc = await self._request("POST", f"{page}/feed", step, json_body=body)
        post_id = doc.get("id")
        if not isinstance(post_id, str) or not post_id:
            raise AmbiguousError(f"{step.what}: Graph answered 200 without an id")
        extra = {"photo_ids": tuple(ids)} if ids else {}
        return RemotePart(part.index, post_id, post_url(post_id), extra)

    async def _form(
        self, payload: Mapping[str, Any], media: Sequence[MediaItem]
    ) -> aiohttp.FormData:
        """A multipart body; a "<media:N>" value becomes that file's bytes."""
        form = aiohttp.FormData()
        for key, value in payload.items():
            match = _PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
            if match is not None:
                item = media[int(match.group(1))]
                found = await self.read_media(item)
                form.add_field(
                    key, found.data, filename=item.filename, content_type=found.mime_type
                )
            elif isinstance(value, bool):
                form.add_field(key, "true" if value else "false")
            else:
                form.add_field(key, str(value))
        return form

    # ------------------------------------------------------------------ HTTP boundary

    def _token(self) -> str:
        return self.reveal(self._settings.page_token)

    def _scrub(self, text: str) -> str:
        # Graph error bodies may echo URLs with the token in the query.
        return self.scrub(_TOKEN_PARAM.sub(r"\1***", text))

    def _url(self, path: str) -> str:
        s = self._settings
        return f"{s.api_base.rstrip('/')}/{s.api_version}/{path}"

    async def _request(
        self,
        method: str,
        path: str,
        step: _Step,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        form: aiohttp.FormData | None = None,
    ) -> dict[str, Any]:
        """One Graph call; every failure leaves as exactly one of our error types."""
        headers = {"Authorization": f"Bearer {self._token()}"}
        may_have_landed = AmbiguousError if step.visible else TransientError
        try:
            async with self.context.http().request(
                method,
                self._url(path),
                params=params,
                json=json_body,
                data=form,
                headers=headers,
                timeout=self.context.timeout,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                answer_headers = CIMultiDict(resp.headers)
                raw = await resp.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
            # The connection never opened: nothing was sent.
            raise TransientError(
                self._scrub(f"{step.what}: cannot connect to Graph ({type(err).__name__})")
            ) from self._cause(err)
        except aiohttp.InvalidURL as err:
            raise PermanentError(
                self._scrub(f"{step.what}: invalid Graph URL (check api_base)")
            ) from self._cause(err)
        except (TimeoutError, aiohttp.ClientError) as err:
            raise may_have_landed(
                self._scrub(f"{step.what}: no answer from Graph ({type(err).__name__}: {err})")
            ) from self._cause(err)
        try:
            doc: Any = json.loads(raw)
        except ValueError:
            doc = None
        error = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(error, dict) or status >= 400:
            raise self._map_error(status, answer_headers, error, step)
        if status != 200 or not isinstance(doc, dict):
            snippet = REDACTOR.clip(raw, 80)
            raise may_have_landed(
                self._scrub(f"{step.what}: unexpected answer (HTTP {status}): {snippet!r}"),
                status=status,
            )
        return doc

    def _cause(self, err: BaseException) -> BaseException | None:
        """Chain the library's exception unless its text carries a secret."""
        text = f"{err!s} {err!r}"
        return err if self._scrub(text) == text else None

    def _map_error(
        self, status: int, headers: Mapping[str, str], error: Any, step: _Step
    ) -> AdapterError:
        """Graph's ``error.code`` decides; the HTTP status only where there is no code."""
        err: Mapping[str, Any] = error if isinstance(error, dict) else {}
        code = _as_int(err.get("code"))
        subcode = _as_int(err.get("error_subcode"))
        transient = err.get("is_transient") is True
        message = str(err.get("error_user_msg") or err.get("message") or "").strip()
        label = f"Graph error {code}" + (f"/{subcode}" if subcode else "") if code else "Graph"
        reason = self._scrub(f"{step.what}: {label} (HTTP {status}): {message or 'no message'}")
        if code in RATE_LIMIT_CODES or (code is None and status == 429):
            return RateLimitedError(reason, retry_after=usage_retry_after(headers), status=status)
        if code == FLAGGED_CODE:
            return RateLimitedError(
                reason, retry_after=FLAGGED_BACKOFF, attention=Attention.FLAGGED, status=status
            )
        if code in CREDENTIAL_CODES or (code is None and status == 401):
            return PermanentError(reason, attention=Attention.CREDENTIALS, status=status)
        if (
            code in PERMISSION_CODES
            or (code == 100 and subcode == 33)  # object missing or not visible to this token
            or (code is None and status == 403)
        ):
            return PermanentError(reason, attention=Attention.PERMISSION, status=status)
        if code == DUPLICATE_CODE:
            return AmbiguousError(
                f"{reason}; an identical post may already be on the page", status=status
            )
        if status >= 500 and status != 503 and step.visible:
            # No idempotency key on Graph: a 5xx after the body left may hide a post.
            return AmbiguousError(reason, status=status)
        if status >= 500 or code in TRANSIENT_CODES or transient:
            return TransientError(reason, status=status)
        if status == 429:
            return RateLimitedError(reason, retry_after=usage_retry_after(headers), status=status)
        if code in CONTENT_CODES:
            return PermanentError(reason, attention=Attention.CONTENT, status=status)
        return PermanentError(reason, status=status)

    # ------------------------------------------------------------------ lookup

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """The page's posts since ``since``, matched by message: Graph keeps no request keys."""
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        wanted = _normalize(rendered.parts[0].text)
        if not wanted:
            return Unknowable("a post without text cannot be told apart among the page's posts")
        step = _Step("lookup", visible=False)
        params: dict[str, str] = {
            "since": str(int((since - LOOKUP_SLACK).timestamp())),
            "fields": "id,message,created_time,permalink_url",
            "limit": "100",
        }
        path = f"{self._settings.page_id}/posts"
        matches: list[tuple[datetime, RemotePart]] = []
        try:
            for _ in range(LOOKUP_PAGES):
                doc = await self._request("GET", path, step, params=params)
                data = doc.get("data")
                if not isinstance(data, list):
                    return Unknowable("lookup: Graph answered without a data list")
                for post in data:
                    if not isinstance(post, dict) or not isinstance(post.get("id"), str):
                        continue
                    message = post.get("message")
                    if isinstance(message, str) and _normalize(message) == wanted:
                        url = post.get("permalink_url")
                        remote = RemotePart(
                            0, post["id"], url if isinstance(url, str) else post_url(post["id"])
                        )
                        created = _timestamp(post.get("created_time")) or since
                        matches.append((created, remote))
                following = _next_params(doc.get("paging"))
                if following is None:
                    break
                params = {**params, **following}
            else:
                if not matches:
                    return Unknowable(f"lookup: more than {LOOKUP_PAGES} pages of posts to read")
        except AdapterError as err:
            return Unknowable(self._scrub(f"lookup failed: {err.reason}"))
        if matches:
            matches.sort(key=lambda m: m[0])
            return Found(Published((matches[0][1],)))
        return Absent()

    # ------------------------------------------------------------------ check

    async def check(self) -> AccountCheck:
        step = _Step("check", visible=False)
        page_id = self._settings.page_id
        try:
            doc = await self._request("GET", page_id, step, params={"fields": "id,name"})
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        name = doc.get("name")
        if not isinstance(name, str):
            detail = "check: Graph answered without the page's name"
            return AccountCheck(CheckStatus.ATTENTION, detail=detail)
        identity = f"{name} ({page_id})"
        expires_at, detail, valid = await self._token_expiry(step)
        status = CheckStatus.OK if valid else CheckStatus.ATTENTION
        return AccountCheck(status, identity=identity, expires_at=expires_at, detail=detail)

    async def _token_expiry(self, step: _Step) -> tuple[datetime | None, str, bool]:
        """Best effort through ``debug_token``: a failure there only means expiry unknown."""
        try:
            doc = await self._request(
                "GET", "debug_token", step, params={"input_token": self._token()}
            )
        except AdapterError as err:
            return None, self._scrub(f"token expiry unknown ({err.reason})"), True
        data = doc.get("data")
        if not isinstance(data, dict):
            return None, "token expiry unknown", True
        if data.get("is_valid") is False:
            return None, "debug_token says the page token is not valid", False
        times = {
            "token": _timestamp(data.get("expires_at")),
            "data access": _timestamp(data.get("data_access_expires_at")),
        }
        known = {k: v for k, v in times.items() if v is not None}
        if not known:
            return None, "the page token does not expire", True
        which, when = min(known.items(), key=lambda kv: kv[1])
        return when, f"{which} expires {when.isoformat()}", True


def _substitute(payload: Any, ids: Sequence[str]) -> Any:
    """The payload with every "<media:N>" replaced by the N-th uploaded photo's id."""
    if isinstance(payload, str):
        match = _PLACEHOLDER.fullmatch(payload)
        if match is None:
            return payload
        index = int(match.group(1))
        if index >= len(ids):
            raise PermanentError(f"payload names media {index}, only {len(ids)} uploaded")
        return ids[index]
    if isinstance(payload, Mapping):
        return {k: _substitute(v, ids) for k, v in payload.items()}
    if isinstance(payload, list | tuple):
        return [_substitute(v, ids) for v in payload]
    return payload


def _next_params(paging: Any) -> dict[str, str] | None:
    """The query of the next page, without the ``access_token`` Graph echoes into it."""
    if not isinstance(paging, dict):
        return None
    following = paging.get("next")
    if not isinstance(following, str) or not following:
        return None
    query = dict(parse_qsl(urlsplit(following).query))
    query.pop("access_token", None)
    if "after" not in query and "until" not in query:
        cursors = paging.get("cursors")
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not isinstance(after, str):
            return None
        query["after"] = after
    return query
