"""The network kit: one HTTP boundary, bounded waits, placeholders, the publish template.

Every request goes to a real aiohttp server on 127.0.0.1 (``KitServer``) that answers each
path as a test tells it; ``Probe`` is a small network written on the kit the way a real one
is (settings, capabilities, build_payload, publish_part), with a switch that plants a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
import pytest
from aiohttp import web

from publisher.adapters import payload
from publisher.adapters.base import (
    AccountSettings,
    AdapterContext,
    AdapterError,
    AmbiguousError,
    Attention,
    Capabilities,
    DeliveryRef,
    LengthKind,
    LengthRule,
    MediaLimits,
    PermanentError,
    PostContent,
    Progress,
    RateLimitedError,
    RemotePart,
    RenderedPart,
    ScrubbedCause,
    TransientError,
    create_leaving,
)
from publisher.adapters.facebook import usage_retry_after
from publisher.adapters.linkedin import retry_after as linkedin_retry_after
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.adapters.transport import Answer, HttpAdapter, Kind, Request
from publisher.adapters.waits import (
    MAX_WAIT,
    Wait,
    delay,
    instant,
    reset_time,
    retry_after,
    seconds,
    wait_from,
)
from publisher.clock import FakeClock
from publisher.secrets import Secret

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TOKEN = "kit-SECRET-token-4e1f9a2b"
ABSURD = "9" * 40  # seconds, or an epoch: overflows timedelta and datetime alike
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---------------------------------------------------------------------------- the server


class KitServer:
    """A real HTTP server on 127.0.0.1: each path answers as ``on(path, handler)`` says;
    every request's (method, path, body) is recorded."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.hits: list[tuple[str, str, bytes]] = []
        self.hang = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def on(self, path: str, handler: Handler) -> None:
        self.handlers[path] = handler

    def reply(self, path: str, status: int = 200, body: Any = None, **headers: str) -> None:
        """``path`` answers ``status`` with ``body`` (JSON unless bytes or str)."""

        async def answer(request: web.Request) -> web.StreamResponse:
            if isinstance(body, bytes | str):
                return web.Response(status=status, body=body, headers=headers)
            return web.json_response(body, status=status, headers=headers)

        self.on(path, answer)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()  # the body has left the client
        self.hits.append((request.method, request.path, body))
        handler = self.handlers.get(request.path)
        if handler is None:
            return web.json_response({"error": f"no route {request.path}"}, status=404)
        return await handler(request)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.hits]

    async def __aenter__(self) -> KitServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.hang.set()
        if self._runner is not None:
            await self._runner.cleanup()


async def reset_after_body(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.abort()
    await asyncio.sleep(5)
    return web.Response()


def hanging(server: KitServer) -> Handler:
    async def hang(request: web.Request) -> web.StreamResponse:
        await server.hang.wait()
        return web.Response()

    return hang


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def black_hole() -> Any:
    """A listener whose accept queue is full: connecting to it times out."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    port = hole.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for s in fillers:
            s.close()
        hole.close()


# ---------------------------------------------------------------------------- the probe network


class ProbeSettings(AccountSettings):
    base: str
    token: Secret
    threads: bool = True
    # A planted bug: raised in publish_part of part ``bug_part``, before or after its post.
    bug: Literal["none", "before", "after"] = "none"
    bug_part: int = 0


class Probe(HttpAdapter):
    """A network written on the kit: POST /media (upload), POST /posts (create)."""

    network = "probe"
    Settings = ProbeSettings
    reset_headers = ("X-RateLimit-Reset",)

    @property
    def _settings(self) -> ProbeSettings:
        assert isinstance(self.settings, ProbeSettings)
        return self.settings

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network="probe",
            length=LengthRule(LengthKind.CHARACTERS, 100),
            media=MediaLimits(max_images=4, image_types=frozenset({"image/png"})),
            threads=self._settings.threads,
        )

    def build_payload(
        self, text: str, media: Any, index: int, total: int, content: PostContent
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text}
        if index:
            body["reply_to"] = payload.part(index - 1)
        return body

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        s = self._settings
        planted = s.bug if part.index == s.bug_part else "none"
        if planted == "before":
            raise KeyError(f"planted before the post, token {s.token.reveal()}")
        body = payload.fill(part.payload, parts=progress.remote_ids(), text={"text"})
        answer = await self.send(self.request("POST", "/posts", Kind.CREATE, json=body))
        if planted == "after":
            raise RuntimeError(f"planted after the post, token {s.token.reveal()}")
        return RemotePart(part.index, str(answer.object()["id"]))

    def request(self, method: str, path: str, kind: Kind, **kw: Any) -> Request:
        headers = {"Authorization": f"Bearer {self.reveal(self._settings.token)}"}
        what = f"{kind} {path}"
        return Request(method, self._settings.base + path, kind, what, headers=headers, **kw)


@pytest.fixture
async def server() -> AsyncIterator[KitServer]:
    async with KitServer() as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def make(session: aiohttp.ClientSession, clock: FakeClock) -> Callable[..., Probe]:
    def build(base: str, connect: float = 5.0, **settings: Any) -> Probe:
        # Generous but for the read (the hanging server) and what a test needs to time out.
        timeout = aiohttp.ClientTimeout(total=10, sock_connect=connect, sock_read=1.0)
        context = AdapterContext(session=session, clock=clock, timeout=timeout)
        return Probe(
            "probe-account", ProbeSettings(base=base, token=Secret("T", TOKEN), **settings), context
        )

    return build


def content(text: str = "Bonjour", *parts: str) -> PostContent:
    return PostContent(
        post_id="kit-post",
        account="probe-account",
        network="probe",
        text=text,
        extra_parts=parts,
    )


def ref() -> DeliveryRef:
    return DeliveryRef(1, "kit-post", "probe-account", NOW)


def no_secret(err: BaseException) -> None:
    text = "\n".join([str(err), repr(err), "".join(traceback.format_exception(err))])
    assert TOKEN not in text, text


# ---------------------------------------------------------------------------- failures map once


@pytest.mark.parametrize("kind", list(Kind))
async def test_no_connection_is_transient_for_every_kind(
    make: Callable[..., Probe], kind: Kind
) -> None:
    probe = make(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(TransientError) as info:
        await probe.send(probe.request("POST", "/x", kind, json={}))
    assert "cannot connect" in info.value.reason
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)  # raised from it


@pytest.mark.parametrize("kind", list(Kind))
async def test_connect_timeout_is_transient_for_every_kind(
    make: Callable[..., Probe], kind: Kind
) -> None:
    with black_hole() as url:
        probe = make(url, connect=0.3)
        with pytest.raises(TransientError) as info:
            await probe.send(probe.request("POST", "/x", kind, json={}))
    assert isinstance(info.value.__cause__, aiohttp.ConnectionTimeoutError)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [(Kind.CREATE, AmbiguousError), (Kind.UPLOAD, TransientError), (Kind.READ, TransientError)],
)
@pytest.mark.parametrize("fault", ["reset", "hang"])
async def test_a_failure_after_the_body_left_depends_on_the_kind(
    server: KitServer,
    make: Callable[..., Probe],
    kind: Kind,
    expected: type[AdapterError],
    fault: str,
) -> None:
    server.on("/x", reset_after_body if fault == "reset" else hanging(server))
    probe = make(server.url)
    with pytest.raises(AdapterError) as info:
        await probe.send(probe.request("POST", "/x", kind, json={"text": "hi"}))
    assert type(info.value) is expected
    assert server.hits == [("POST", "/x", b'{"text": "hi"}')]  # the body did leave
    cause = info.value.__cause__
    assert isinstance(cause, aiohttp.ClientError | TimeoutError)
    no_secret(info.value)


async def test_an_invalid_url_is_permanent_and_its_secret_stays_out(
    make: Callable[..., Probe],
) -> None:
    probe = make("http://127.0.0.1:notaport")
    request = probe.request("GET", f"/x?token={TOKEN}", Kind.READ)
    with pytest.raises(PermanentError) as info:
        await probe.send(request)
    assert info.value.attention is Attention.CREDENTIALS
    # aiohttp's error quotes the URL, token and all: the cause is a scrubbed stand-in.
    assert isinstance(info.value.__cause__, ScrubbedCause)
    assert "InvalidUrlClientError" in str(info.value.__cause__)
    no_secret(info.value)
    ftp = replace(request, url="ftp://127.0.0.1/x")
    with pytest.raises(PermanentError):
        await probe.send(ftp)


async def test_redirects_are_not_followed(server: KitServer, make: Callable[..., Probe]) -> None:
    server.reply("/old", 301, "", Location=f"{server.url}/new")
    server.reply("/new", 200, {"id": "1"})
    probe = make(server.url)
    with pytest.raises(PermanentError) as info:
        await probe.send(probe.request("POST", "/old", Kind.CREATE, json={}))
    assert info.value.status == 301 and "/new" in info.value.reason
    assert server.paths() == ["/old"]
    answer = await probe.send(probe.request("POST", "/old", Kind.CREATE, json={}), expect=None)
    assert answer.status == 301 and answer.headers["location"].endswith("/new")


# ---------------------------------------------------------------------------- one answer type


async def test_the_answer(server: KitServer, make: Callable[..., Probe]) -> None:
    server.reply("/doc", 200, {"id": "7"}, **{"X-Thing": "yes"})
    probe = make(server.url)
    answer = await probe.send(probe.request("GET", "/doc", Kind.READ))
    assert isinstance(answer, Answer)
    assert (answer.status, answer.body, answer.json()) == (200, b'{"id": "7"}', {"id": "7"})
    assert answer.headers["x-thing"] == "yes" and answer.kind is Kind.READ
    assert answer.object() == {"id": "7"} and answer.document() == {"id": "7"}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [(Kind.CREATE, AmbiguousError), (Kind.UPLOAD, TransientError), (Kind.READ, TransientError)],
)
@pytest.mark.parametrize("body", [b"OK, posted!", b'{"id": "12', b"[1, 2]"])
async def test_an_unreadable_success_means_what_the_kind_says(
    server: KitServer,
    make: Callable[..., Probe],
    kind: Kind,
    expected: type[AdapterError],
    body: bytes,
) -> None:
    server.reply("/x", 200, body)
    probe = make(server.url)
    answer = await probe.send(probe.request("POST", "/x", kind, json={}))
    assert answer.maybe_json() is None or body == b"[1, 2]"
    with pytest.raises(AdapterError) as info:
        answer.object()
    assert type(info.value) is expected and info.value.status == 200


async def test_an_unexpected_success_status_is_doubtful(
    server: KitServer, make: Callable[..., Probe]
) -> None:
    server.reply("/x", 204, b"")
    probe = make(server.url)
    with pytest.raises(AmbiguousError):
        await probe.send(probe.request("POST", "/x", Kind.CREATE), expect=(200,))
    with pytest.raises(TransientError):
        await probe.send(probe.request("POST", "/x", Kind.UPLOAD), expect=(200,))


# ---------------------------------------------------------------------------- the shared classify

CLASSIFY: list[tuple[int, Kind, type[AdapterError], Attention | None]] = [
    (401, Kind.READ, PermanentError, Attention.CREDENTIALS),
    (403, Kind.CREATE, PermanentError, Attention.PERMISSION),
    (408, Kind.CREATE, TransientError, None),
    (429, Kind.CREATE, RateLimitedError, None),
    (400, Kind.CREATE, PermanentError, Attention.CONTENT),
    (422, Kind.UPLOAD, PermanentError, Attention.CONTENT),
    (404, Kind.CREATE, PermanentError, None),
    (500, Kind.CREATE, AmbiguousError, None),
    (502, Kind.CREATE, AmbiguousError, None),
    (500, Kind.UPLOAD, TransientError, None),
    (500, Kind.READ, TransientError, None),
    (503, Kind.CREATE, TransientError, None),
]


@pytest.mark.parametrize(("status", "kind", "expected", "attention"), CLASSIFY)
async def test_the_shared_classify(
    server: KitServer,
    make: Callable[..., Probe],
    status: int,
    kind: Kind,
    expected: type[AdapterError],
    attention: Attention | None,
) -> None:
    # The network's own words are kept, scrubbed: this one echoes the token.
    server.reply("/x", status, {"error": f"refused ({status}) for Bearer {TOKEN}"})
    probe = make(server.url)
    with pytest.raises(AdapterError) as info:
        await probe.send(probe.request("POST", "/x", kind, json={}))
    err = info.value
    assert type(err) is expected and err.status == status
    assert getattr(err, "attention", None) is attention
    assert f"refused ({status}) for Bearer ***" in err.reason
    no_secret(err)


@pytest.mark.parametrize(
    ("headers", "reset_at", "after"),
    [
        ({"Retry-After": "120"}, None, timedelta(seconds=120)),
        ({"Retry-After": ABSURD}, None, MAX_WAIT),
        ({"Retry-After": "Tue, 01 Dec 2026 09:30:00 GMT"}, NOW + timedelta(minutes=30), None),
        ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, NOW + MAX_WAIT, None),
        (
            {"X-RateLimit-Reset": str(int((NOW + timedelta(minutes=4)).timestamp()))},
            NOW + timedelta(minutes=4),
            None,
        ),
        ({"X-RateLimit-Reset": ABSURD}, NOW + MAX_WAIT, None),
        ({"X-RateLimit-Reset": "9999-12-31T23:59:59Z", "Retry-After": "5"}, NOW + MAX_WAIT, None),
        (
            {"X-RateLimit-Reset": "2026-12-01T08:00:00Z", "Retry-After": "5"},
            None,
            timedelta(seconds=5),
        ),
        ({}, None, None),
    ],
)
async def test_a_429_reads_its_wait_bounded(
    server: KitServer,
    make: Callable[..., Probe],
    headers: dict[str, str],
    reset_at: datetime | None,
    after: timedelta | None,
) -> None:
    server.reply("/x", 429, {"error": "slow down"}, **headers)
    probe = make(server.url)
    with pytest.raises(RateLimitedError) as info:
        await probe.send(probe.request("POST", "/x", Kind.CREATE, json={}))
    assert (info.value.reset_at, info.value.retry_after) == (reset_at, after)


# ---------------------------------------------------------------------------- waits, pure


def test_waits_are_read_in_every_form_and_bounded() -> None:
    assert seconds("120") == timedelta(seconds=120)
    assert seconds(" 1.5 ") == timedelta(seconds=1.5)
    assert seconds(ABSURD) == MAX_WAIT
    assert seconds("0") is None and seconds("-5") is None and seconds("soon") is None
    assert seconds(None) is None and seconds("") is None
    assert delay(float("inf")) == MAX_WAIT and delay(float("nan")) is None and delay(-1) is None
    assert delay(60) == timedelta(minutes=1)

    assert instant("2026-12-01T09:04:30.123456Z") == NOW + timedelta(
        minutes=4, seconds=30, microseconds=123456
    )
    assert instant("2026-12-01T10:00:00+01:00") == NOW
    assert instant("2026-12-01T09:00:00") == NOW  # no offset: UTC
    assert instant(str(int(NOW.timestamp()))) == NOW
    assert instant("Tue, 01 Dec 2026 09:00:00 GMT") == NOW
    assert instant(ABSURD) == datetime.max.replace(tzinfo=UTC)
    assert instant("tomorrow") is None and instant(None) is None

    assert reset_time(str(int(NOW.timestamp()) + 60), NOW) == NOW + timedelta(minutes=1)
    assert reset_time(ABSURD, NOW) == NOW + MAX_WAIT
    assert reset_time("99999999999.5", NOW) == NOW + MAX_WAIT
    assert reset_time(str(int(NOW.timestamp())), NOW) is None  # not to come: no wait
    assert reset_time("garbage", NOW) is None

    assert retry_after("Tue, 01 Dec 2026 08:00:00 GMT", NOW) == Wait()  # past
    assert retry_after("30", NOW) == Wait(retry_after=timedelta(seconds=30))
    assert wait_from(
        {"ratelimit-reset": str(int(NOW.timestamp()) + 9)}, NOW, reset=("RateLimit-Reset",)
    ) == Wait(reset_at=NOW + timedelta(seconds=9))
    # A clamped wait never overflows the engine's arithmetic.
    assert NOW + MAX_WAIT > NOW


def test_facebook_and_linkedin_waits_are_bounded() -> None:
    """Graph's minutes and both networks' Retry-After overflowed timedelta before the kit."""
    usage = {"X-App-Usage": json.dumps({"estimated_time_to_regain_access": 10**300})}
    assert usage_retry_after(usage) == MAX_WAIT
    assert usage_retry_after({"Retry-After": ABSURD}) == MAX_WAIT
    assert linkedin_retry_after({"Retry-After": ABSURD}, NOW) == (None, MAX_WAIT)
    far = "Fri, 31 Dec 9999 23:59:59 GMT"
    assert linkedin_retry_after({"Retry-After": far}, NOW) == (NOW + MAX_WAIT, None)


# ---------------------------------------------------------------------------- placeholders


def test_fill_replaces_placeholders_and_leaves_the_editors_words() -> None:
    body = {
        "text": "<media:0>",  # the editor wrote exactly that
        "media": [payload.media(0), payload.media(1)],
        "reply": {"parent": payload.part(1), "root": payload.part(0)},
        "card": {"thumb": payload.thumb("pics/a.png"), "title": "<part:0>"},
        "n": 3,
    }
    filled = payload.fill(
        body,
        media=["m0", {"blob": 1}],
        parts={0: "p0", 1: {"uri": "u1"}},
        thumb="t",
        text={"text", "title"},
    )
    assert filled == {
        "text": "<media:0>",
        "media": ["m0", {"blob": 1}],
        "reply": {"parent": {"uri": "u1"}, "root": "p0"},
        "card": {"thumb": "t", "title": "<part:0>"},
        "n": 3,
    }
    assert body["media"] == ["<media:0>", "<media:1>"]  # the payload itself is unchanged
    assert payload.media_index("<media:12>") == 12 and payload.media_index("x") is None
    with pytest.raises(PermanentError, match="only 1 uploaded"):
        payload.fill({"m": payload.media(1)}, media=["m0"])
    with pytest.raises(PermanentError, match="part 3, which is not out"):
        payload.fill({"r": payload.part(2)}, parts={0: "p0"})
    with pytest.raises(PermanentError, match="thumbnail"):
        payload.fill({"t": payload.thumb("a.png")})


# ---------------------------------------------------------------------------- the publish template


def posts(server: KitServer) -> list[dict[str, Any]]:
    return [json.loads(body) for _, path, body in server.hits if path == "/posts"]


def counting(server: KitServer, fail_on: int = 0, status: int = 500) -> None:
    """/posts answers ids 100, 101, ...; the ``fail_on``-th post (1-based) gets ``status``."""
    seen = [0]

    async def create(request: web.Request) -> web.StreamResponse:
        seen[0] += 1
        if seen[0] == fail_on:
            return web.json_response({"error": "boom"}, status=status)
        return web.json_response({"id": str(99 + seen[0])})

    server.on("/posts", create)


async def test_a_thread_goes_out_part_by_part(
    server: KitServer, make: Callable[..., Probe]
) -> None:
    counting(server)
    probe = make(server.url)
    rendered = probe.render(content("one", "two", "three"))
    published = await probe.publish(rendered, ref())
    assert [p.remote_id for p in published.parts] == ["100", "101", "102"]
    assert posts(server) == [
        {"text": "one"},
        {"text": "two", "reply_to": "100"},
        {"text": "three", "reply_to": "101"},
    ]


async def test_parts_already_out_are_skipped(server: KitServer, make: Callable[..., Probe]) -> None:
    counting(server)
    probe = make(server.url)
    rendered = probe.render(content("one", "two", "three"))
    done = (RemotePart(0, "7"),)
    published = await probe.publish(rendered, ref(), done)
    assert [p.remote_id for p in published.parts] == ["7", "100", "101"]
    assert posts(server)[0] == {"text": "two", "reply_to": "7"}
    server.hits.clear()
    everything = (RemotePart(0, "7"), RemotePart(1, "8"), RemotePart(2, "9"))
    assert (await probe.publish(rendered, ref(), everything)).parts == everything
    assert server.hits == []


async def test_render_errors_and_threads_where_there_are_none_are_refused(
    server: KitServer, make: Callable[..., Probe]
) -> None:
    probe = make(server.url)
    with pytest.raises(PermanentError) as info:
        await probe.publish(probe.render(content("")), ref())
    assert info.value.attention is Attention.CONTENT
    assert info.value.reason.startswith("cannot publish as written: ")
    thread = probe.render(content("one", "two"))
    with pytest.raises(PermanentError, match="a probe post is one part, this one has 2"):
        await make(server.url, threads=False).publish(thread, ref())
    assert server.hits == []


async def test_an_error_carries_the_parts_out_so_far(
    server: KitServer, make: Callable[..., Probe]
) -> None:
    counting(server, fail_on=2)
    probe = make(server.url)
    rendered = probe.render(content("one", "two", "three"))
    with pytest.raises(AmbiguousError) as info:
        await probe.publish(rendered, ref())
    assert info.value.partial == (RemotePart(0, "100"),) and info.value.status == 500
    resumed = await probe.publish(rendered, ref(), info.value.partial)
    assert [p.remote_id for p in resumed.parts] == ["100", "102", "103"]


async def test_a_bug_before_the_post_left_is_permanent_and_logged_scrubbed(
    server: KitServer, make: Callable[..., Probe], caplog: pytest.LogCaptureFixture
) -> None:
    counting(server)
    probe = make(server.url, bug="before", bug_part=1)
    rendered = probe.render(content("one", "two"))
    with (
        caplog.at_level(logging.ERROR, logger="publisher.network.probe"),
        pytest.raises(PermanentError) as info,
    ):
        await probe.publish(rendered, ref())
    err = info.value
    assert "adapter bug" in err.reason and "part 2/2" in err.reason and "KeyError" in err.reason
    assert err.attention is None
    assert err.partial == (RemotePart(0, "100"),)  # part 1 is out, and says so
    assert len(posts(server)) == 1
    no_secret(err)
    (record,) = caplog.records
    logged = record.getMessage()
    assert "Traceback" in logged and "planted before the post" in logged
    assert TOKEN not in logged


async def test_a_bug_after_the_post_left_is_ambiguous(
    server: KitServer, make: Callable[..., Probe]
) -> None:
    counting(server)
    probe = make(server.url, bug="after", bug_part=0)
    with pytest.raises(AmbiguousError) as info:
        await probe.publish(probe.render(content("one", "two")), ref())
    assert "adapter bug" in info.value.reason and "RuntimeError" in info.value.reason
    assert info.value.partial == ()
    assert len(posts(server)) == 1  # it is out: only a lookup may say so
    no_secret(info.value)


async def test_a_post_sent_for_an_earlier_part_does_not_make_a_later_bug_ambiguous(
    server: KitServer, make: Callable[..., Probe]
) -> None:
    """The "did a create leave" question is asked per part, and only inside a publish."""
    counting(server)
    create_leaving()  # outside any publish: no effect
    probe = make(server.url, bug="before", bug_part=2)
    with pytest.raises(PermanentError) as info:
        await probe.publish(probe.render(content("one", "two", "three")), ref())
    assert [p.remote_id for p in info.value.partial] == ["100", "101"]


# ---------------------------------------------------------------------------- converted networks


async def test_mastodon_bounds_an_absurd_retry_after(
    server: KitServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Before the kit: ``timedelta(seconds=int(...))`` raised OverflowError out of publish."""
    server.reply("/api/v1/statuses", 429, {"error": "Too many requests"}, **{"Retry-After": ABSURD})
    context = AdapterContext(session=session, clock=clock)
    settings = MastodonSettings(instance=server.url, token=Secret("MASTODON_TOKEN", TOKEN))
    adapter = MastodonAdapter("brand-masto", settings, context)
    post = PostContent(post_id="p", account="brand-masto", network="mastodon", text="Salut")
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(post), ref())
    assert info.value.retry_after == MAX_WAIT and info.value.reset_at is None


async def test_mastodon_publishes_a_text_that_reads_like_a_placeholder(
    server: KitServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Before the kit every string was a placeholder candidate: this text was refused."""
    server.reply("/api/v1/statuses", 200, {"id": "1", "url": "https://m.example/@a/1"})
    context = AdapterContext(session=session, clock=clock)
    settings = MastodonSettings(instance=server.url, token=Secret("MASTODON_TOKEN", TOKEN))
    adapter = MastodonAdapter("brand-masto", settings, context)
    post = PostContent(post_id="p", account="brand-masto", network="mastodon", text="<media:0>")
    published = await adapter.publish(adapter.render(post), ref())
    assert published.remote_id == "1"
    assert json.loads(server.hits[0][2])["status"] == "<media:0>"
