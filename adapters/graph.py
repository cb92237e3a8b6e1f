"""What every network on Meta's Graph API shares: Facebook Pages, Instagram and Threads.

One request helper (``GraphAdapter.graph``), one reading of Graph's ``error`` object
(``classify``: the code decides, the HTTP status only where there is no code), the waits
Graph gives in its usage headers, and the lookup of a post among the account's recent ones
matched by its text (Graph keeps no request keys, so that is the only way to settle an
unknown outcome), and a post's first comment on its ``/comments`` edge, posted and found again
(Facebook's, Instagram's).

The token travels only in the ``Authorization`` header, never in a payload (dry-run prints
payloads) nor in a request URL (Facebook's ``debug_token`` excepted: Graph takes its
``input_token`` nowhere else); Graph echoes ``access_token=`` into error texts and paging URLs
anyway, so every text is scrubbed of that parameter too.

Graph error codes: developers.facebook.com/docs/graph-api/guides/error-handling (Instagram
and Threads answer with the same ``{"error": {"message", "type", "code", "error_subcode",
"is_transient", "fbtrace_id"}}`` document).
"""

from __future__ import annotations

import json
import re
import unicodedata
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict

from publisher.adapters.base import (
    Absent,
    AdapterError,
    AmbiguousError,
    Attention,
    Found,
    LookupResult,
    PermanentError,
    Published,
    RateLimitedError,
    RemotePart,
    Rendered,
    TransientError,
    Unknowable,
)
from publisher.adapters.transport import Answer, HttpAdapter, Kind, Request, clipped, doubtful
from publisher.adapters.waits import delay, seconds
from publisher.secrets import Secret

if TYPE_CHECKING:  # aiohttp loads with the first request: rendering needs none
    import aiohttp

RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, 80001})  # 80001: Page-level BUC limit
CREDENTIAL_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
TRANSIENT_CODES = frozenset({1, 2})
FLAGGED_CODE = 368  # temporarily blocked for policy violations
# "You are calling a deprecated version of the API": the configured `api_version` is refused.
# (Graph mostly serves a call to an expired version with the oldest one it still serves;
# where it refuses instead, this is the code.) The operator's to fix: the account is held.
VERSION_CODES = frozenset({2635})
DUPLICATE_CODE = 506  # duplicate status message
CONTENT_CODES = frozenset({100, 1609005})  # invalid parameter, link could not be posted
ALIASES_MISSING = 803  # "(#803) Some of the aliases you requested do not exist"
FLAGGED_BACKOFF = timedelta(hours=24)
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage")

LOOKUP_PAGES = 5  # pages of the account's posts read before giving up with Unknowable
LOOKUP_SLACK = timedelta(minutes=10)  # clock skew between us and Graph's timestamps

_TOKEN_PARAM = re.compile(r"((?:access|input)_token=)[^&\s\"'<>]+", re.IGNORECASE)


@dataclass(frozen=True)
class GraphError:
    """The ``error`` object of a Graph answer, as far as it is there."""

    code: int | None
    subcode: int | None
    transient: bool
    message: str


@dataclass(frozen=True)
class Listing:
    """How to read an account's recent posts for a lookup: the edge, and the names of the
    text, time and link fields on it (Facebook ``message``/``created_time``/
    ``permalink_url``, Instagram ``caption``/``timestamp``/``permalink``...)."""

    path: str
    text: str
    time: str
    link: str


@dataclass(frozen=True)
class CommentListing:
    """How to read a post's comments for a lookup: the query (``fields``, ``limit``, a
    filter) and the name of the text field (Facebook ``message``, Instagram ``text``)."""

    params: Mapping[str, str]
    text: str


def usage_retry_after(headers: Mapping[str, str]) -> timedelta | None:
    """The longest ``estimated_time_to_regain_access`` (minutes) in Graph's usage headers,
    else ``Retry-After``; bounded like every wait (``publisher.adapters.waits``)."""
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
    return delay(minutes * 60) or seconds(headers.get("Retry-After"))


class GraphAdapter(HttpAdapter):
    """An adapter on a Graph API: its root URL and token, the error codes, the lookup."""

    # Where the network's own codes (Instagram's publishing limit) say "for now".
    extra_rate_limit_codes: ClassVar[frozenset[int]] = frozenset()

    @abstractmethod
    def graph_root(self) -> str:
        """The API's base with its version, without a trailing slash."""

    @abstractmethod
    def graph_token(self) -> Secret:
        """The access token every request carries."""

    # ------------------------------------------------------------------ requests

    async def graph(
        self,
        method: str,
        path: str,
        kind: Kind,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: aiohttp.FormData | None = None,
    ) -> dict[str, Any]:
        """One Graph call: its JSON object, or our error."""
        answer = await self.graph_call(
            method, path, kind, what, params=params, json=json, data=data
        )
        return self.graph_object(answer, kind, what)

    async def graph_call(
        self,
        method: str,
        path: str,
        kind: Kind,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: aiohttp.FormData | None = None,
    ) -> Answer:
        """One Graph call's answer, whatever its status (``graph_object`` reads it): for a
        caller that reads some refusals itself (a batch naming a deleted post)."""
        url = f"{self.graph_root()}/{path}"
        headers = {"Authorization": f"Bearer {self.reveal(self.graph_token())}"}
        request = Request(
            method, url, kind, what, params=params, json=json, data=data, headers=headers
        )
        return await self.send(request, expect=None)

    def graph_object(self, answer: Answer, kind: Kind, what: str) -> dict[str, Any]:
        """The JSON object of a Graph answer, or our error. Graph may put an ``error`` object
        in any answer, so every answer is read before its status decides."""
        doc = answer.maybe_json()
        if (isinstance(doc, dict) and isinstance(doc.get("error"), dict)) or answer.status >= 400:
            raise self.classify(answer, kind)
        if answer.status != 200 or not isinstance(doc, dict):
            snippet = clipped(self.scrub, answer.body.decode("utf-8", "replace"), 80)
            reason = f"{what}: unexpected answer (HTTP {answer.status}): {snippet!r}"
            raise doubtful(kind, reason, status=answer.status)
        return doc

    # ------------------------------------------------------------------ classify

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        """Graph's ``error.code`` decides; the shared default where there is none."""
        err = graph_error(answer)
        code, status = err.code, answer.status
        if code is None:
            return super().classify(answer, kind)
        reason = self.describe(answer)
        if code in RATE_LIMIT_CODES or code in self.extra_rate_limit_codes:
            return self.rate_limited(answer, reason)
        if code == FLAGGED_CODE:
            return RateLimitedError(
                reason, retry_after=FLAGGED_BACKOFF, attention=Attention.FLAGGED, status=status
            )
        if code in CREDENTIAL_CODES:
            return PermanentError(reason, attention=Attention.CREDENTIALS, status=status)
        if code in VERSION_CODES:
            version = self.graph_root().rsplit("/", 1)[-1]
            return PermanentError(
                f"{reason}: Graph API {version} is refused; set `api_version` of account "
                f"{self.account} to a served version and reload the daemon: its held posts "
                "then go out",
                attention=Attention.VERSION,
                status=status,
            )
        if code in PERMISSION_CODES or (code == 100 and err.subcode == 33):
            # 100/33: the object is missing or not visible to this token
            return PermanentError(reason, attention=Attention.PERMISSION, status=status)
        if code == DUPLICATE_CODE:
            return AmbiguousError(
                f"{reason}; an identical post may already be there", status=status
            )
        if status >= 500 and status != 503:
            # No idempotency key on Graph: a 5xx after the body left may hide a post.
            return doubtful(kind, reason, status=status)
        if status >= 500 or code in TRANSIENT_CODES or err.transient:
            return TransientError(reason, status=status)
        if status == 429:
            return self.rate_limited(answer, reason)
        if code in CONTENT_CODES:
            return PermanentError(reason, attention=Attention.CONTENT, status=status)
        return PermanentError(reason, status=status)

    def describe(self, answer: Answer) -> str:
        err = graph_error(answer)
        label = "Graph"
        if err.code is not None:
            label = f"Graph error {err.code}" + (f"/{err.subcode}" if err.subcode else "")
        message = err.message or "no message"
        return self.scrub(f"{answer.request.what}: {label} (HTTP {answer.status}): {message}")

    def rate_limited(self, answer: Answer, reason: str) -> RateLimitedError:
        """Graph says how long in its usage headers, in minutes."""
        wait = usage_retry_after(answer.headers)
        return RateLimitedError(reason, retry_after=wait, status=answer.status)

    def scrub(self, text: str) -> str:
        # Graph error bodies may echo URLs with the token in the query.
        return super().scrub(_TOKEN_PARAM.sub(r"\1***", text))

    # ------------------------------------------------------------------ lookup

    async def find_by_text(
        self,
        listing: Listing,
        wanted_text: str,
        since: datetime,
        url_of: Callable[[str], str | None],
        *,
        extra: Mapping[str, str] | None = None,
    ) -> LookupResult:
        """The earliest of the account's posts since ``since`` whose text is ``wanted_text``,
        read page by page (at most ``LOOKUP_PAGES``); ``url_of(id)`` is a post's address when
        Graph gives none. Absent only when every page since then was read."""
        wanted = normalize(wanted_text)
        if not wanted:
            return Unknowable("a post without text cannot be told apart among the account's")
        params: dict[str, str] = {
            "since": str(int((since - LOOKUP_SLACK).timestamp())),
            "fields": f"id,{listing.text},{listing.time},{listing.link}",
            "limit": "100",
            **(extra or {}),
        }
        matches: list[tuple[datetime, RemotePart]] = []
        try:
            for _ in range(LOOKUP_PAGES):
                doc = await self.graph("GET", listing.path, Kind.READ, "lookup", params=params)
                data = doc.get("data")
                if not isinstance(data, list):
                    return Unknowable("lookup: Graph answered without a data list")
                for post in data:
                    if not isinstance(post, dict) or not isinstance(post.get("id"), str):
                        continue
                    text = post.get(listing.text)
                    if isinstance(text, str) and normalize(text) == wanted:
                        url = post.get(listing.link)
                        remote = RemotePart(
                            0, post["id"], url if isinstance(url, str) else url_of(post["id"])
                        )
                        created = graph_time(post.get(listing.time)) or since
                        matches.append((created, remote))
                following = next_params(doc.get("paging"))
                if following is None:
                    break
                params = {**params, **following}
            else:
                if not matches:
                    return Unknowable(f"lookup: more than {LOOKUP_PAGES} pages of posts to read")
        except AdapterError as err:
            return Unknowable(f"lookup failed: {err.reason}")
        if matches:
            matches.sort(key=lambda m: m[0])
            return Found(Published((matches[0][1],)))
        return Absent()

    # ------------------------------------------------------------------ first comments

    async def post_comment(self, post: RemotePart, body: Mapping[str, Any]) -> str:
        """``POST /{post-id}/comments`` with ``body``: the comment's id. Graph keeps no
        request keys, so a lost answer is ambiguous (a lookup settles it)."""
        path = f"{post.remote_id}/comments"
        doc = await self.graph("POST", path, Kind.CREATE, "first comment", json=dict(body))
        comment_id = doc.get("id")
        if not isinstance(comment_id, str) or not comment_id:
            raise AmbiguousError("first comment: Graph answered 200 without an id")
        return comment_id

    async def find_comment(
        self,
        post_id: str,
        text: str,
        listing: CommentListing,
        mine: Callable[[Mapping[str, Any]], bool],
        *,
        edge: str = "comments",
    ) -> str | None:
        """The id of the comment on ``post_id`` reading ``text`` that ``mine`` accepts, if
        there is one; raises our error when the comments cannot all be read (a comment missing
        from a partial read would be sent twice). ``edge``: Instagram lists a comment's
        replies on ``/replies``."""
        wanted = normalize(text)
        params = dict(listing.params)
        for _ in range(LOOKUP_PAGES):
            doc = await self.graph(
                "GET", f"{post_id}/{edge}", Kind.READ, f"lookup: {edge}", params=params
            )
            data = doc.get("data")
            if not isinstance(data, list):
                raise TransientError("lookup: Graph answered the comments without a data list")
            for comment in data:
                if not isinstance(comment, dict) or not isinstance(comment.get("id"), str):
                    continue
                message = comment.get(listing.text)
                if isinstance(message, str) and normalize(message) == wanted and mine(comment):
                    return str(comment["id"])
            following = next_params(doc.get("paging"))
            if following is None:
                return None
            params = {**params, **following}
        raise TransientError(f"lookup: more than {LOOKUP_PAGES} pages of comments to read")

    @staticmethod
    async def with_comment(
        found: LookupResult, rendered: Rendered, find: Callable[[str, str], Awaitable[str | None]]
    ) -> LookupResult:
        """A lookup's post with its first comment when ``find(post_id, text)`` finds it; the
        post alone when the comment is not out (the engine sends it, and only it); Unknowable
        when the comments cannot be read, never a blind resend."""
        comment = rendered.comment
        if not isinstance(found, Found) or comment is None:
            return found
        post = found.published.parts[0]
        try:
            comment_id = await find(post.remote_id, comment.text)
        except AdapterError as err:
            return Unknowable(f"the post is {post.remote_id}; its comments: {err.reason}")
        if comment_id is None:
            return found
        return Found(Published((post, RemotePart(comment.index, comment_id, post.url))))

    async def token_expiry(self, label: str) -> tuple[datetime | None, str, bool]:
        """When the token (``label``: "page token", "token") or its data access expires,
        through ``debug_token`` (expiry, detail, still valid); best effort: a failure there
        only means the expiry is unknown. The one request whose URL carries the token
        (``input_token``): Graph takes it nowhere else, and every text is scrubbed of it."""
        token = self.reveal(self.graph_token())
        try:
            doc = await self.graph(
                "GET", "debug_token", Kind.READ, "check", params={"input_token": token}
            )
        except AdapterError as err:
            return None, f"token expiry unknown ({err.reason})", True
        data = doc.get("data")
        if not isinstance(data, dict):
            return None, "token expiry unknown", True
        if data.get("is_valid") is False:
            return None, f"debug_token says the {label} is not valid", False
        times = {
            "token": graph_time(data.get("expires_at")),
            "data access": graph_time(data.get("data_access_expires_at")),
        }
        known = {k: v for k, v in times.items() if v is not None}
        if not known:
            return None, f"the {label} does not expire", True
        which, when = min(known.items(), key=lambda kv: kv[1])
        return when, f"{which} expires {when.isoformat()}", True


def graph_error(answer: Answer) -> GraphError:
    doc = answer.maybe_json()
    error = doc.get("error") if isinstance(doc, dict) else None
    fields: Mapping[str, Any] = error if isinstance(error, dict) else {}
    return GraphError(
        code=as_int(fields.get("code")),
        subcode=as_int(fields.get("error_subcode")),
        transient=fields.get("is_transient") is True,
        message=str(fields.get("error_user_msg") or fields.get("message") or "").strip(),
    )


def names_missing(answer: Answer) -> bool:
    """Graph's word for an id it has not (any more): 803 from a multi-id read, 100/33 from
    a read of the object itself (or of an edge the object does not have)."""
    err = graph_error(answer)
    return err.code == ALIASES_MISSING or (err.code == 100 and err.subcode == 33)


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


def normalize(text: str) -> str:
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def graph_time(value: Any) -> datetime | None:
    """Graph's ``created_time``/``timestamp`` (``2026-12-01T09:00:00+0000``) or a unix time."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
        except ValueError:
            return None
    return None


def next_params(paging: Any) -> dict[str, str] | None:
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
