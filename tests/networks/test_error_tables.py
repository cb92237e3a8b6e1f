"""Every error code the adapter issues name: what each adapter raises, and what the engine does.

One row per code. Each row drives the real adapter against its network's local server (its
own failure injection; for Bluesky a small XRPC stand-in modelled on the fault harness's PDS
handlers; a connect timeout comes from the fault harness's black-hole listener), takes the
exception ``publish`` raised, and runs the engine's pure decision
``after_error(err, attempt, now, policy, rand)`` on it: our error class, then the action
(``RetryAt`` / ``GiveUp`` / ``Unresolved`` / ``HoldAccount``), its time, outcome and
attention. A reset time the network gave is kept to the second, never shortened.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from publisher.adapters.base import (
    AdapterContext,
    AdapterError,
    AmbiguousError,
    Attention,
    DeliveryRef,
    PermanentError,
    PostContent,
    RateLimitedError,
    TransientError,
)
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.engine.decide import (
    CREDENTIALS_RECHECK,
    GiveUp,
    HoldAccount,
    RetryAt,
    RetryPolicy,
    Unresolved,
    after_error,
)
from publisher.secrets import Secret
from publisher.states import Outcome
from publisher.testing.faults import Fault, FaultServer
from tests.networks.facebook.server import GraphServer, usage_headers
from tests.networks.linkedin.server import LinkedInServer, duplicate_body
from tests.networks.mastodon.server import NOT_PROCESSED, MastodonServer
from tests.networks.x import harness as harness_x
from tests.networks.x.server import XServer, invalid_request, problem

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    max_attempts=8,
    base_delay=timedelta(seconds=30),
    max_delay=timedelta(hours=1),
    jitter=0.2,
)
RAND = 0.5  # jitter factor exactly 1: attempt 1 waits base_delay
BACKOFF = NOW + timedelta(seconds=30)
HOLD = NOW + CREDENTIALS_RECHECK
TIMEOUT = aiohttp.ClientTimeout(total=3, sock_connect=0.5, sock_read=1.0)

Action = type[RetryAt] | type[GiveUp] | type[Unresolved] | type[HoldAccount]


@dataclass(frozen=True)
class Expect:
    error: type[AdapterError] | None  # None: published after all (a refreshed session)
    action: Action | None = None
    at: datetime | None = None  # RetryAt.at or HoldAccount.until
    outcome: Outcome | None = None
    attention: Attention | None = None
    limited: bool = False  # the whole account waits (RetryAt.account_limited_until == at)
    remote_id: str | None = None
    attempt: int = 1


def transient(at: datetime = BACKOFF, attempt: int = 1) -> Expect:
    return Expect(TransientError, RetryAt, at, Outcome.TRANSIENT, attempt=attempt)


def rate_limited(at: datetime, attention: Attention | None = None) -> Expect:
    return Expect(RateLimitedError, RetryAt, at, Outcome.RATE_LIMITED, attention, limited=True)


def ambiguous(remote_id: str | None = None) -> Expect:
    return Expect(AmbiguousError, Unresolved, remote_id=remote_id)


def refused(attention: Attention | None) -> Expect:
    return Expect(PermanentError, GiveUp, outcome=Outcome.PERMANENT, attention=attention)


CREDENTIALS = Expect(PermanentError, HoldAccount, HOLD, attention=Attention.CREDENTIALS)


@dataclass(frozen=True)
class Row:
    network: str
    case: str
    expect: Expect
    inject: Callable[[Any], object] | None = None  # called with the started server
    server: Mapping[str, Any] = field(default_factory=dict)  # server constructor arguments
    settings: Mapping[str, Any] = field(default_factory=dict)  # account settings overrides
    connect_timeout: bool = False  # point the adapter at a listener that never accepts

    @property
    def id(self) -> str:
        return f"{self.network}: {self.case}"


def epoch(when: datetime) -> str:
    return str(int(when.timestamp()))


def content(network: str) -> PostContent:
    return PostContent(
        post_id="winter-sale",
        account=f"brand-{network}",
        network=network,
        text="Les soldes d'hiver commencent ! Jusqu'à moins cinquante pour cent.",
    )


# ---------------------------------------------------------------------------
# X: POST /2/tweets.

X_POST = "/2/tweets"
X_RESET = NOW + timedelta(minutes=15)
X_DAY_RESET = NOW + timedelta(hours=6)

X_ROWS = [
    Row(
        "x",
        "429 with x-rate-limit-reset",
        rate_limited(X_RESET),
        lambda s: s.fail(
            "POST",
            X_POST,
            status=429,
            headers={
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": epoch(X_RESET),
            },
        ),
    ),
    Row(
        "x",
        "429 with the 24-hour post cap spent",
        rate_limited(X_DAY_RESET),
        lambda s: s.fail(
            "POST",
            X_POST,
            status=429,
            headers={
                "x-rate-limit-remaining": "12",
                "x-rate-limit-reset": epoch(X_RESET),
                "x-user-limit-24hour-limit": "17",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": epoch(X_DAY_RESET),
            },
        ),
    ),
    Row(
        "x",
        "429 without a reset",
        rate_limited(BACKOFF),
        lambda s: s.fail("POST", X_POST, status=429),
    ),
    Row("x", "500", ambiguous(), lambda s: s.fail("POST", X_POST, status=500)),
    Row("x", "502", ambiguous(), lambda s: s.fail("POST", X_POST, status=502)),
    Row("x", "503", ambiguous(), lambda s: s.fail("POST", X_POST, status=503)),
    Row("x", "timeout before the body left", transient(), connect_timeout=True),
    Row("x", "timeout after the body left", ambiguous(), lambda s: s.fail(
        "POST", X_POST, action="hang")),
    Row("x", "connection reset after the body left", ambiguous(), lambda s: s.fail(
        "POST", X_POST, action="reset")),
    Row(
        "x",
        "403 duplicate content",
        ambiguous(),
        lambda s: s.duplicate_texts.add(content("x").text),
    ),
    Row(
        "x",
        "403 not permitted",
        refused(Attention.PERMISSION),
        lambda s: s.fail(
            "POST",
            X_POST,
            status=403,
            body=problem(403, "Forbidden", "You are not permitted to perform this action."),
        ),
    ),
    Row(
        "x",
        "400 invalid request",
        refused(Attention.CONTENT),
        lambda s: s.fail("POST", X_POST, status=400, body=invalid_request("Invalid text")),
    ),
    Row("x", "401 (revoked token)", CREDENTIALS, settings={"access_secret": "revoked"}),
]


async def publish_x(row: Row, clock: FakeClock, session: aiohttp.ClientSession) -> Any:
    context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
    if row.connect_timeout:
        async with FaultServer(harness_x.HARNESS, Fault.TIMEOUT_BEFORE_BODY) as hole:
            adapter = harness_x.make(hole.url, context, harness_x.HARNESS.secrets)
            return await attempt(adapter, content("x"), clock)
    async with XServer(now=clock.now) as server:
        if row.inject is not None:
            row.inject(server)
        creds = {
            "api_key": server.consumer_key,
            "api_secret": server.consumer_secret,
            "access_token": server.access_token,
            "access_secret": server.access_secret,
            **row.settings,
        }
        settings = XSettings(
            **{k: Secret(f"X_{k.upper()}", v) for k, v in creds.items()}, api_base=server.url
        )
        result = await attempt(XAdapter("brand-x", settings, context), content("x"), clock)
        assert server.problems == []
        return result


# ---------------------------------------------------------------------------
# Facebook: POST /{page}/feed, Graph error codes.


def graph(code: int, **kw: Any) -> Callable[[Any], object]:
    return lambda s: s.inject_error("feed", code, f"injected Graph error {code}", **kw)


FB_ROWS = [
    Row("facebook", "code 1 (HTTP 500): the post may exist", ambiguous(), graph(1)),
    Row("facebook", "code 1 (HTTP 400)", transient(), graph(1, status=400)),
    Row("facebook", "code 2 (HTTP 500): the post may exist", ambiguous(), graph(2)),
    Row("facebook", "code 2 (HTTP 503)", transient(), graph(2, status=503)),
    Row(
        "facebook",
        "is_transient (on a code otherwise final)",
        transient(),
        graph(100, is_transient=True),
    ),
    Row("facebook", "code 4 (application limit)", rate_limited(BACKOFF), graph(4)),
    Row("facebook", "code 17 (user limit)", rate_limited(BACKOFF), graph(17)),
    Row(
        "facebook",
        "code 32 (page limit, BUC says 5 minutes)",
        rate_limited(NOW + timedelta(minutes=5)),
        graph(32, headers=usage_headers(5)),
    ),
    Row("facebook", "code 341 (application limit reached)", rate_limited(BACKOFF), graph(341)),
    Row(
        "facebook",
        "code 613 (calls exceeded, Retry-After)",
        rate_limited(NOW + timedelta(seconds=90)),
        graph(613, headers={"Retry-After": "90"}),
    ),
    Row("facebook", "code 190 (token invalid)", CREDENTIALS, graph(190)),
    Row("facebook", "code 190 (HTTP 401, wrong token)", CREDENTIALS, settings={"token": "wrong"}),
    Row("facebook", "code 102 (session)", CREDENTIALS, graph(102)),
    Row("facebook", "code 10 (permission)", refused(Attention.PERMISSION), graph(10)),
    Row("facebook", "code 200 (permission)", refused(Attention.PERMISSION), graph(200)),
    Row("facebook", "code 230 (permission)", refused(Attention.PERMISSION), graph(230)),
    Row("facebook", "code 299 (permission)", refused(Attention.PERMISSION), graph(299)),
    Row(
        "facebook",
        "code 368 (blocked for policy)",
        rate_limited(NOW + timedelta(hours=24), Attention.FLAGGED),
        graph(368),
    ),
    Row("facebook", "code 506 (duplicate post)", ambiguous(), graph(506)),
    Row("facebook", "code 100 (invalid parameter)", refused(Attention.CONTENT), graph(100)),
    Row(
        "facebook",
        "code 2 (HTTP 503) on the last attempt",
        Expect(TransientError, GiveUp, outcome=Outcome.TRANSIENT, attempt=POLICY.max_attempts),
        graph(2, status=503),
    ),
]


async def publish_facebook(row: Row, clock: FakeClock, session: aiohttp.ClientSession) -> Any:
    token = "EAAG-page-token-for-tests-4c1d"
    async with GraphServer(token=token, now=clock.now) as server:
        if row.inject is not None:
            row.inject(server)
        settings = FacebookSettings(
            page_id=server.page_id,
            page_token=Secret("FB_PAGE_TOKEN", row.settings.get("token", token)),
            api_base=server.url,
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = FacebookAdapter("brand-facebook", settings, context)
        return await attempt(adapter, content("facebook"), clock)


# ---------------------------------------------------------------------------
# Mastodon: POST /api/v1/statuses.

M_POST = "/api/v1/statuses"
M_RESET = NOW + timedelta(minutes=10)

MASTODON_ROWS = [
    Row(
        "mastodon",
        "429 with X-RateLimit-Reset",
        rate_limited(M_RESET),
        lambda s: s.throttle("POST", M_POST, reset_at=M_RESET),
    ),
    Row(
        "mastodon",
        "429 with Retry-After only",
        rate_limited(NOW + timedelta(seconds=120)),
        lambda s: s.fail(
            "POST", M_POST, status=429, body={"error": "Too many requests"},
            headers={"Retry-After": "120"},
        ),
    ),
    Row("mastodon", "401 (token invalid)", CREDENTIALS, settings={"token": "revoked"}),
    Row("mastodon", "403 (scope missing)", refused(Attention.PERMISSION),
        server={"scopes": frozenset({"read"})}),
    Row("mastodon", "422 (text over the instance's limit)", refused(Attention.CONTENT),
        server={"max_characters": 40}),
    Row(
        "mastodon",
        "422 (media not processed yet)",
        transient(),
        lambda s: s.fail("POST", M_POST, status=422, body={"error": NOT_PROCESSED}),
    ),
    Row("mastodon", "500: the status may exist", ambiguous(),
        lambda s: s.fail("POST", M_POST, status=500)),
    Row("mastodon", "503 (nothing saved)", transient(),
        lambda s: s.fail("POST", M_POST, status=503)),
]


async def publish_mastodon(row: Row, clock: FakeClock, session: aiohttp.ClientSession) -> Any:
    token = "test-token-0123456789"
    server = MastodonServer(token=token, clock=clock, **row.server)
    await server.__aenter__()
    try:
        if row.inject is not None:
            row.inject(server)
        settings = MastodonSettings(
            instance=server.url,
            token=Secret("MASTODON_TOKEN", row.settings.get("token", token)),
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = MastodonAdapter("brand-mastodon", settings, context)
        result = await attempt(adapter, content("mastodon"), clock)
    finally:
        await server.__aexit__(None, None, None)
    assert server.problems == [], "the server answered outside the Mastodon document"
    return result


# ---------------------------------------------------------------------------
# Bluesky: an XRPC stand-in (sessions as the reference PDS hands them out).

DID = "did:plc:errortables0000000000000"
B_RESET = NOW + timedelta(minutes=5)


@dataclass
class Xrpc:
    """Just enough of a PDS: sessions, and createRecord answering as the row wants."""

    create: str  # "expired-once", "auth-required", "rate-limit", "retry-after"
    refresh_ok: bool = True
    login_ok_after_first: bool = True
    calls: list[str] = field(default_factory=list)
    url: str = ""
    _logins: int = 0
    _runner: web.AppRunner | None = None

    def _session(self, n: int) -> dict[str, object]:
        return {
            "did": DID,
            "handle": "brand.test",
            "accessJwt": f"access-{n}",
            "refreshJwt": f"refresh-{n}",
            "active": True,
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        nsid = request.path.removeprefix("/xrpc/")
        self.calls.append(nsid)
        await request.read()
        auth = request.headers.get("Authorization", "")
        if nsid == "com.atproto.server.createSession":
            self._logins += 1
            if self._logins > 1 and not self.login_ok_after_first:
                refusal = {"error": "AuthenticationRequired", "message": "Invalid password"}
                return web.json_response(refusal, status=401)
            return web.json_response(self._session(1))
        if nsid == "com.atproto.server.refreshSession":
            if not self.refresh_ok or auth != "Bearer refresh-1":
                return web.json_response(
                    {"error": "ExpiredToken", "message": "Token has been revoked"}, status=400
                )
            return web.json_response(self._session(2))
        if nsid == "com.atproto.repo.getRecord":
            return web.json_response(
                {"error": "RecordNotFound", "message": "Could not locate record"}, status=400
            )
        if nsid != "com.atproto.repo.createRecord":
            return web.json_response({"error": "MethodNotImplemented"}, status=501)
        if self.create == "expired-once" and auth == "Bearer access-1":
            return web.json_response(
                {"error": "ExpiredToken", "message": "Token has expired"}, status=400
            )
        if self.create == "auth-required":
            return web.json_response(
                {"error": "AuthenticationRequired", "message": "Authentication Required"},
                status=401,
            )
        if self.create == "rate-limit":
            return web.json_response(
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                status=429,
                headers={
                    "RateLimit-Limit": "5000",
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": epoch(B_RESET),
                    "RateLimit-Policy": "5000;w=3600",
                },
            )
        if self.create == "retry-after":
            return web.json_response(
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                status=429,
                headers={"Retry-After": "45"},
            )
        body = json.loads(await request.read())
        return web.json_response(
            {"uri": f"at://{DID}/app.bsky.feed.post/{body['rkey']}", "cid": "bafyreiexample"}
        )

    async def __aenter__(self) -> Xrpc:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


BLUESKY_ROWS = [
    Row(
        "bluesky",
        "ExpiredToken: refreshed once, then published",
        Expect(None),
        server={"create": "expired-once"},
    ),
    Row(
        "bluesky",
        "ExpiredToken, refresh revoked and login refused",
        CREDENTIALS,
        server={"create": "expired-once", "refresh_ok": False, "login_ok_after_first": False},
    ),
    Row(
        "bluesky",
        "AuthenticationRequired even after a refresh",
        CREDENTIALS,
        server={"create": "auth-required"},
    ),
    Row("bluesky", "429 with RateLimit-Reset", rate_limited(B_RESET),
        server={"create": "rate-limit"}),
    Row("bluesky", "429 with Retry-After", rate_limited(NOW + timedelta(seconds=45)),
        server={"create": "retry-after"}),
]


async def publish_bluesky(row: Row, clock: FakeClock, session: aiohttp.ClientSession) -> Any:
    async with Xrpc(**row.server) as pds:
        settings = BlueskySettings(
            pds=pds.url, handle="brand.test", app_password=Secret("BSKY_APP_PASSWORD", "pw")
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = BlueskyAdapter("brand-bluesky", settings, context)
        result = await attempt(adapter, content("bluesky"), clock)
        if row.case.startswith("ExpiredToken: refreshed"):
            assert pds.calls.count("com.atproto.server.refreshSession") == 1, pds.calls
            assert pds.calls.count("com.atproto.repo.createRecord") == 2, pds.calls
        return result


# ---------------------------------------------------------------------------
# LinkedIn: POST /rest/posts.

LI_DUPLICATE = "urn:li:share:7300000000000000099"

LINKEDIN_ROWS = [
    Row(
        "linkedin",
        "422 DUPLICATE_POST",
        ambiguous(remote_id=LI_DUPLICATE),
        lambda s: s.inject("posts", 422, duplicate_body(LI_DUPLICATE)),
    ),
    Row(
        "linkedin",
        "429 with Retry-After",
        rate_limited(NOW + timedelta(seconds=120)),
        lambda s: s.inject("posts", 429, headers={"Retry-After": "120"}),
    ),
    Row("linkedin", "429 without Retry-After", rate_limited(BACKOFF),
        lambda s: s.inject("posts", 429)),
    Row("linkedin", "401 (token revoked)", CREDENTIALS, server={"token_revoked": True}),
]


async def publish_linkedin(row: Row, clock: FakeClock, session: aiohttp.ClientSession) -> Any:
    token = "AQV-linkedin-token-for-tests-8e2f"
    async with LinkedInServer(token=token, now=clock.now, **row.server) as server:
        if row.inject is not None:
            row.inject(server)
        settings = LinkedInSettings(
            author=server.author, token=Secret("LINKEDIN_TOKEN", token), api_base=server.url
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = LinkedInAdapter("brand-linkedin", settings, context)
        return await attempt(adapter, content("linkedin"), clock)


# ---------------------------------------------------------------------------
# The table.


async def attempt(adapter: Any, post: PostContent, clock: FakeClock) -> AdapterError | None:
    """Publish once; the error our adapter raised, or None if the post went out."""
    rendered = adapter.render(post)
    assert not rendered.errors, rendered.errors
    ref = DeliveryRef(7, post.post_id, post.account, clock.now())
    try:
        await adapter.publish(rendered, ref)
    except AdapterError as err:
        return err
    return None


Driver = Callable[[Row, FakeClock, aiohttp.ClientSession], Awaitable[Any]]
DRIVERS: dict[str, Driver] = {
    "x": publish_x,
    "facebook": publish_facebook,
    "mastodon": publish_mastodon,
    "bluesky": publish_bluesky,
    "linkedin": publish_linkedin,
}
ROWS = X_ROWS + FB_ROWS + MASTODON_ROWS + BLUESKY_ROWS + LINKEDIN_ROWS


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        yield http


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
async def test_error_code_maps_to_our_class_and_the_engines_action(
    row: Row, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock(NOW)
    err = await DRIVERS[row.network](row, clock, session)
    want = row.expect
    if want.error is None:
        assert err is None, f"expected the post to go out, got {err!r}"
        return
    assert isinstance(err, want.error), f"{type(err).__name__}: {err}"
    # The most specific of our classes: a RateLimitedError is no TransientError, etc.
    assert not any(
        isinstance(err, other)
        for other in (TransientError, RateLimitedError, PermanentError, AmbiguousError)
        if not issubclass(want.error, other)
    ), type(err).__mro__
    step = after_error(err, want.attempt, NOW, POLICY, RAND)
    assert type(step) is want.action, step
    if isinstance(step, RetryAt):
        assert step.at == want.at, (step.at, want.at)
        assert step.outcome is want.outcome, step
        assert step.attention is want.attention, step
        if want.limited:
            assert step.account_limited_until == step.at, step
            assert isinstance(err, RateLimitedError)
            given = err.reset_at or (NOW + err.retry_after if err.retry_after else None)
            if given is not None:
                assert step.at >= given, "the engine would come back before the reset"
        else:
            assert step.account_limited_until is None, step
    elif isinstance(step, GiveUp):
        assert step.outcome is want.outcome, step
        assert step.attention is want.attention, step
        assert step.reason, step
    elif isinstance(step, HoldAccount):
        assert step.until == want.at, step
        assert step.attention is want.attention, step
    else:
        assert isinstance(step, Unresolved)
        assert step.remote_id == want.remote_id, step


def test_every_listed_code_has_a_row() -> None:
    """The issues' lists, so a row dropped by mistake is noticed."""
    cases = {r.id for r in ROWS}
    listed = {
        "facebook": ["code 1 ", "code 2 ", "is_transient", "code 4 ", "code 17 ", "code 32 ",
                     "code 341 ", "code 613 ", "code 190 ", "code 102 ", "code 10 ",
                     "code 200 ", "code 299 ", "code 368 ", "code 506 "],
        "x": ["429 with x-rate-limit-reset", "429 without", "500", "503", "timeout before",
              "timeout after", "403 duplicate", "401"],
        "mastodon": ["429 with X-RateLimit-Reset", "401", "403", "422"],
        "bluesky": ["ExpiredToken", "AuthenticationRequired", "RateLimit-Reset"],
        "linkedin": ["422 DUPLICATE_POST", "429", "401"],
    }
    for network, needles in listed.items():
        for needle in needles:
            assert any(c.startswith(f"{network}: ") and needle in c for c in cases), (
                network,
                needle,
            )
