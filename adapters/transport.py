"""The one HTTP boundary every network adapter shares: request in, answer or our error out.

A network builds on ``HttpAdapter`` and writes, in this order: its settings, ``capabilities``,
``build_payload``, ``publish_part``, ``classify``, ``lookup``, ``check``. Everything about
HTTP that is not the network's own rules is here, once:

**A request declares its kind** (``Kind``): ``READ`` creates nothing; ``UPLOAD`` creates
something nobody sees (a media upload no post attaches yet: an orphan is harmless);
``CREATE`` creates what the public sees (a post). The kind alone decides what a failure
means, so that one question, "did a request that creates a post leave?", has one name::

    answer = await self.send(Request("POST", url, Kind.CREATE, "posting part 1", json=body))

**Failures map once** (``exchange``), raised ``from`` the library's exception (a scrubbed
stand-in when its text holds a secret), every message scrubbed with ``Adapter.scrub``:

====================================================  ===============================
the request                                           becomes
====================================================  ===============================
never connected (``ClientConnectorError``, connect    ``TransientError``: nothing left
timeout)
an invalid URL (or not http/https)                    ``PermanentError`` (credentials:
                                                      the account's address needs a human)
failed after connecting (timeout, reset, a broken     ``AmbiguousError`` for ``CREATE``,
answer): its body may have left                       ``TransientError`` otherwise
====================================================  ===============================

Redirects are never followed: a redirected POST would be replayed as a GET, and an API that
redirects is one configured at the wrong address.

**One answer type** (``Answer``: status, headers, body, ``json()``). ``HttpAdapter.send``
returns it when its status is one of ``expect`` (any 2xx unless told), else raises
``classify(answer, kind)``: a shared default for the statuses every network means alike
(401, 403, 408, 429, 3xx, 5xx, an unexpected success) that a network extends with its quirks,
calling ``super().classify`` for the rest. ``describe`` words the reason (the network's
error text, via ``error_detail``); ``rate_limited`` reads the wait (``reset_headers``,
``Retry-After``, see ``publisher.adapters.waits``). ``expect=None`` returns every answer for
a network that must read the body first (Graph's error codes).

A 2xx body that is not what it should be is read with ``answer.document()`` or
``answer.object()``: unreadable, it means "it may exist" only for ``CREATE`` (``doubtful``).

**Credentials per attempt.** ``send`` passes each request through ``authorize`` just before
it leaves (the default sends it as built): the place for a signature that covers the attempt
(OAuth 1.0a's timestamp and nonce) or a token that may have been renewed meanwhile. After a
401 (or what ``credentials_refused`` says refuses the credentials: Bluesky's 400
``ExpiredToken``), ``reauthorize`` may give the request once more with renewed credentials
(an expired token refreshed): a refusal created nothing, so it goes again even for
``CREATE``, once.
A body that can go twice is ``bytes`` or a ``Request.data`` callable that builds a
``FormData`` afresh: aiohttp spends a ``FormData`` on sending it.

Placeholders in payloads are filled with ``publisher.adapters.payload.fill``; media is read
with ``Adapter.read_media``; the ``publish`` template (parts, partial progress, the policy for
an adapter's bug) is ``Adapter.publish`` in ``publisher.adapters.base``.

A network on the kit, in outline (``adapters/mastodon.py`` and ``adapters/facebook.py`` are
whole ones)::

    class ExampleAdapter(HttpAdapter):
        network = "example"
        Settings = ExampleSettings
        reset_headers = ("X-RateLimit-Reset",)

        def capabilities(self) -> Capabilities: ...

        def build_payload(self, text, media, index, total, content):
            body = {"text": text, "media_ids": [payload.media(i) for i in range(len(media))]}
            if index:
                body["reply_to"] = payload.part(index - 1)
            return body

        async def publish_part(self, part, progress):
            ids = [await self._upload(m) for m in part.media]  # Kind.UPLOAD requests
            body = payload.fill(part.payload, media=ids, parts=progress.remote_ids(),
                                text={"text"})
            request = Request("POST", self.base + "/posts", Kind.CREATE,
                              f"posting part {part.index + 1}", json=body, headers=self.auth())
            doc = (await self.send(request, expect=(200,))).object()
            return RemotePart(part.index, doc["id"])  # KeyError here: the template's policy

        def classify(self, answer, kind):
            if answer.status == 409:  # a quirk of this network's
                return AmbiguousError(self.describe(answer), status=409)
            return super().classify(answer, kind)

A network that confirms a doubtful create itself (Bluesky's record keys) catches the
``AmbiguousError`` a ``CREATE`` send raises and looks; one whose requests go through a library
(tweepy) calls ``base.create_leaving()`` before its create call and maps the library's errors
with ``doubtful`` and ``waits``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from publisher.adapters.base import (
    Adapter,
    AdapterContext,
    AdapterError,
    AmbiguousError,
    Attention,
    PermanentError,
    RateLimitedError,
    TransientError,
    create_leaving,
    safe_cause,
)
from publisher.adapters.waits import wait_from

if TYPE_CHECKING:  # aiohttp loads with the first request: rendering needs none
    import aiohttp

Scrub = Callable[[str], str]

SUCCESS = range(200, 300)
DETAIL_LIMIT = 300  # characters of a network's own error text kept in a reason, by default
CONTENT_STATUSES = frozenset({400, 413, 415, 422})  # the request itself was refused
_SCRUB_MARGIN = 16_384  # scrubbed beyond a cut: more than any encoded secret is long


class Kind(StrEnum):
    """What a request creates, which decides what a failure after it left means."""

    READ = "read"  # nothing
    UPLOAD = "upload"  # something nobody sees yet: resending is harmless
    CREATE = "create"  # what the public sees: after a failure it may exist


@dataclass(frozen=True)
class Request:
    """One HTTP request. ``what`` names it in every message ("posting part 2"): our words,
    never a secret. ``json`` is sent as a JSON body, ``data`` as is (bytes, a form, or a
    callable building the form for each attempt: see ``HttpAdapter.reauthorize``)."""

    method: str
    url: str | URL
    kind: Kind
    what: str
    params: Mapping[str, str] | None = None
    json: Any = None
    data: bytes | aiohttp.FormData | Callable[[], aiohttp.FormData] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A complete answer: status, headers (case-insensitive), the whole body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    request: Request

    @property
    def kind(self) -> Kind:
        return self.request.kind

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` if it is not."""
        return json.loads(self.body.decode("utf-8"))

    def maybe_json(self) -> Any:
        """The body as JSON, or None if it is not (an error page, say)."""
        try:
            return self.json()
        except ValueError:
            return None

    def document(self) -> Any:
        """The body of an answer we expected as JSON; otherwise our error (``doubtful``)."""
        try:
            return self.json()
        except ValueError as err:
            reason = f"{self.request.what}: HTTP {self.status} with a body that is not JSON"
            raise doubtful(self.kind, reason, status=self.status) from err

    def object(self) -> dict[str, Any]:
        """``document()`` when it is a JSON object; otherwise our error (``doubtful``)."""
        doc = self.document()
        if not isinstance(doc, dict):
            reason = f"{self.request.what}: HTTP {self.status} with an unexpected shape"
            raise doubtful(self.kind, reason, status=self.status)
        return doc


def doubtful(kind: Kind, reason: str, *, status: int | None = None) -> AdapterError:
    """What a request that may have been carried out, with no usable answer, means: for a
    ``CREATE`` the post may exist (``AmbiguousError``); otherwise trying again is safe."""
    if kind is Kind.CREATE:
        return AmbiguousError(f"{reason}; it may have been created", status=status)
    return TransientError(reason, status=status)


def clipped(scrub: Scrub, text: str, limit: int) -> str:
    """At most ``limit`` characters of ``text``, scrubbed before it is cut (a secret cut in
    half would no longer match)."""
    return scrub(text[: limit + _SCRUB_MARGIN])[:limit]


async def exchange(context: AdapterContext, request: Request, *, scrub: Scrub) -> Answer:
    """Send ``request`` once on the context's session, within its timeout; the answer,
    whatever its status, or our error (see the module's table). ``scrub(text) -> text`` masks
    secrets in every message."""
    import aiohttp

    what = f"{request.what} ({request.method})"
    session = context.http()
    try:
        async with session.request(
            request.method,
            request.url,
            params=request.params,
            json=request.json,
            data=request.data() if callable(request.data) else request.data,
            headers=dict(request.headers),
            timeout=context.timeout,
            allow_redirects=False,
        ) as resp:
            body = await resp.read()
            return Answer(resp.status, CIMultiDictProxy(CIMultiDict(resp.headers)), body, request)
    except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as err:
        # The connection never opened: nothing was sent.
        reason = scrub(f"{what}: cannot connect ({type(err).__name__}: {err})")
        raise TransientError(reason) from safe_cause(err, scrub)
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as err:
        reason = scrub(f"{what}: the URL is not valid ({err}); check the account's address")
        raise PermanentError(reason, attention=Attention.CREDENTIALS) from safe_cause(err, scrub)
    except (aiohttp.ClientError, TimeoutError) as err:
        reason = scrub(f"{what}: no complete answer ({type(err).__name__}: {err})")
        raise doubtful(request.kind, reason) from safe_cause(err, scrub)


class HttpAdapter(Adapter):
    """An adapter that speaks HTTP through the shared boundary (see the module's docstring)."""

    # Reset headers the network sends with a 429, in the order they are trusted (epoch
    # seconds or ISO 8601); Retry-After is always read after them.
    reset_headers: ClassVar[tuple[str, ...]] = ()
    # The wait of a 429 that names none; None: the engine backs off as for a transient error.
    default_rate_wait: ClassVar[timedelta | None] = None
    # Characters of the network's own error text kept in a reason (``describe``).
    detail_limit: ClassVar[int] = DETAIL_LIMIT

    async def send(self, request: Request, *, expect: Collection[int] | None = SUCCESS) -> Answer:
        """Send ``request`` (through ``authorize``; once more after a refusal of its
        credentials, a 401 by default, if ``reauthorize`` says so); an answer whose status
        is not in ``expect`` is raised as ``classify(answer, kind)`` (``expect=None``: every
        answer is returned)."""
        answer = await self._attempt(await self.authorize(request))
        if self.credentials_refused(answer):
            again = await self.reauthorize(request, answer)
            if again is not None:
                answer = await self._attempt(again)
        if expect is not None and answer.status not in expect:
            raise self.classify(answer, request.kind)
        return answer

    async def _attempt(self, request: Request) -> Answer:
        if request.kind is Kind.CREATE:
            create_leaving()
        return await exchange(self.context, request, scrub=self.scrub)

    async def authorize(self, request: Request) -> Request:
        """``request`` as it leaves on one attempt, credentials added; called before each
        attempt, so a signature covering a timestamp and a nonce (OAuth 1.0a) is made anew.
        It may raise our errors (a missing secret: ``PermanentError``). The default sends the
        request as built (credentials already in its headers)."""
        return request

    async def reauthorize(self, request: Request, refused: Answer) -> Request | None:
        """After ``refused`` (a 401 to ``request``, or whatever ``credentials_refused`` says;
        ``refused.request`` is what was sent): the request to send once more with renewed
        credentials, usually ``authorize(request)`` after a token refresh, or None when the
        refusal is final (the default). A refusal of credentials created nothing, so this is
        safe for ``CREATE`` too; a second refusal is classified as usual."""
        return None

    def credentials_refused(self, answer: Answer) -> bool:
        """Whether ``answer`` refuses the credentials sent (``reauthorize`` may renew them): a
        401, by default; a network that says so otherwise (Bluesky's 400 ``ExpiredToken``)
        extends it."""
        return answer.status == 401

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        """Our error for an answer that is not a success; networks extend it with their
        quirks and call ``super().classify`` for the rest."""
        status = answer.status
        reason = self.describe(answer)
        if status == 401:
            return PermanentError(reason, attention=Attention.CREDENTIALS, status=status)
        if status == 403:
            return PermanentError(reason, attention=Attention.PERMISSION, status=status)
        if status == 429:
            return self.rate_limited(answer, reason)
        if status == 408:
            return TransientError(reason, status=status)
        if 300 <= status < 400:
            where = clipped(self.scrub, answer.headers.get("Location", "elsewhere"), 200)
            return PermanentError(
                f"{answer.request.what}: HTTP {status}, redirected to {where}; redirects are "
                "not followed: configure the final address",
                status=status,
            )
        if status < 300:
            return doubtful(kind, f"{reason} (unexpected)", status=status)
        if status in CONTENT_STATUSES:
            return PermanentError(reason, attention=Attention.CONTENT, status=status)
        if status < 500:
            return PermanentError(reason, status=status)
        if status == 503:  # nobody took the request: a proxy, or a lock the server could not get
            return TransientError(reason, status=status)
        return doubtful(kind, reason, status=status)

    def describe(self, answer: Answer) -> str:
        """The reason for a refusal: the request, the status, the network's own words."""
        detail = self.error_detail(answer)
        head = f"{answer.request.what}: HTTP {answer.status}"
        if not detail:
            return self.scrub(head)
        return clipped(self.scrub, f"{head}: {detail}", len(head) + 2 + self.detail_limit)

    def error_detail(self, answer: Answer) -> str:
        """The network's own error text in the body (unscrubbed: ``describe`` scrubs it).
        The default reads a JSON object's ``error``, ``message``, ``detail`` and
        ``error_description`` strings."""
        doc = answer.maybe_json()
        if not isinstance(doc, dict):
            return ""
        keys = ("error", "message", "detail", "error_description")
        texts = [doc[k].strip() for k in keys if isinstance(doc.get(k), str) and doc[k].strip()]
        return ": ".join(dict.fromkeys(texts))

    def rate_limited(self, answer: Answer, reason: str) -> RateLimitedError:
        """A 429 as our error, with the wait its headers ask for."""
        wait = wait_from(answer.headers, self.context.clock.now(), reset=self.reset_headers)
        retry_after = wait.retry_after
        if wait.reset_at is None and retry_after is None:
            retry_after = self.default_rate_wait
        return RateLimitedError(
            reason, reset_at=wait.reset_at, retry_after=retry_after, status=answer.status
        )
