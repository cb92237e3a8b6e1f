"""The kit's credentials per attempt: ``authorize`` before every attempt, ``reauthorize`` once
after a 401, bodies built afresh for a resend, and how much of a network's words a reason keeps.

``Signing`` is a small network on the kit whose every attempt carries a fresh signature (a
counter standing for OAuth 1.0a's nonce) and whose token can be renewed, talking to a real
aiohttp server on 127.0.0.1 that refuses stale tokens with 401.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from publisher.adapters.base import (
    AccountSettings,
    AdapterContext,
    Attention,
    Capabilities,
    DeliveryRef,
    LengthRule,
    MediaLimits,
    PermanentError,
    PostContent,
    Progress,
    RemotePart,
    RenderedPart,
)
from publisher.adapters.transport import Answer, HttpAdapter, Kind, Request
from publisher.clock import FakeClock
from publisher.text import code_points

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Seen:
    path: str
    authorization: str
    signature: str
    body: bytes


@dataclass
class AuthServer:
    """Accepts ``Bearer <live>`` only; ``/words`` refuses with a long error text."""

    live: str = "token-1"
    refusal: int = 401  # the status a stale token meets (Bluesky's is a 400 ExpiredToken)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        auth = request.headers.get("Authorization", "")
        self.seen.append(Seen(request.path, auth, request.headers.get("X-Signature", ""), body))
        if request.path == "/words":
            return web.json_response({"error": "w" * 450 + " END"}, status=400)
        if auth != f"Bearer {self.live}":
            return web.json_response({"error": "ExpiredToken"}, status=self.refusal)
        return web.json_response({"id": str(len(self.seen))})

    async def __aenter__(self) -> AuthServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class SigningSettings(AccountSettings):
    base: str
    renewable: bool = True


class Signing(HttpAdapter):
    """Signs each attempt (``X-Signature``: a counter) and holds a token it can renew."""

    network = "signing"
    Settings = SigningSettings

    def __init__(self, account: str, settings: AccountSettings, context: AdapterContext) -> None:
        super().__init__(account, settings, context)
        self.token = "token-1"
        self.signed = 0
        self.renewals: list[str] = []  # the Authorization header each renewal was asked for
        self.bug_in_authorize = False

    @property
    def _settings(self) -> SigningSettings:
        assert isinstance(self.settings, SigningSettings)
        return self.settings

    def capabilities(self) -> Capabilities:
        return Capabilities("signing", LengthRule(code_points, 100), MediaLimits(), True)

    def build_payload(
        self, text: str, media: Any, index: int, total: int, content: PostContent
    ) -> dict[str, Any]:
        return {"text": text}

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        answer = await self.send(self.request("/posts", Kind.CREATE, json=dict(part.payload)))
        return RemotePart(part.index, str(answer.object()["id"]))

    def request(self, path: str, kind: Kind, **kw: Any) -> Request:
        return Request("POST", self._settings.base + path, kind, f"{kind} {path}", **kw)

    async def authorize(self, request: Request) -> Request:
        if self.bug_in_authorize:
            raise RuntimeError("planted in authorize")
        self.signed += 1
        headers = {"Authorization": f"Bearer {self.token}", "X-Signature": str(self.signed)}
        return replace(request, headers={**request.headers, **headers})

    async def reauthorize(self, request: Request, refused: Answer) -> Request | None:
        self.renewals.append(refused.request.headers["Authorization"])
        if not self._settings.renewable:
            return None
        self.token = "token-2"
        return await self.authorize(request)


@pytest.fixture
async def server() -> AsyncIterator[AuthServer]:
    async with AuthServer() as srv:
        yield srv


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Signing]]:
    async with aiohttp.ClientSession() as session:
        context = AdapterContext(session=session, clock=FakeClock(NOW))

        def build(base: str, cls: type[Signing] = Signing, **settings: Any) -> Signing:
            return cls("acct", SigningSettings(base=base, **settings), context)

        yield build


def form() -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("media", b"\x89PNG whole body", filename="a.png", content_type="image/png")
    return data


async def test_every_attempt_is_authorized_anew(
    server: AuthServer, make: Callable[..., Signing]
) -> None:
    net = make(server.url)
    for _ in range(2):
        await net.send(net.request("/posts", Kind.READ, json={}))
    assert [s.signature for s in server.seen] == ["1", "2"]
    assert all(s.authorization == "Bearer token-1" for s in server.seen)


async def test_a_401_goes_once_more_with_renewed_credentials_even_a_create(
    server: AuthServer, make: Callable[..., Signing]
) -> None:
    server.live = "token-2"
    net = make(server.url)
    answer = await net.send(net.request("/posts", Kind.CREATE, json={"text": "hi"}))
    assert answer.status == 200
    assert [(s.authorization, s.signature, s.body) for s in server.seen] == [
        ("Bearer token-1", "1", b'{"text": "hi"}'),
        ("Bearer token-2", "2", b'{"text": "hi"}'),
    ]
    assert net.renewals == ["Bearer token-1"]  # what the refused request carried


async def test_a_second_401_is_classified_and_nothing_loops(
    server: AuthServer, make: Callable[..., Signing]
) -> None:
    server.live = "token-3"
    net = make(server.url)
    with pytest.raises(PermanentError) as info:
        await net.send(net.request("/posts", Kind.CREATE, json={}))
    assert info.value.attention is Attention.CREDENTIALS and info.value.status == 401
    assert len(server.seen) == 2 and net.renewals == ["Bearer token-1"]


async def test_without_renewal_a_401_is_final(
    server: AuthServer, make: Callable[..., Signing]
) -> None:
    server.live = "token-2"
    net = make(server.url, renewable=False)
    with pytest.raises(PermanentError):
        await net.send(net.request("/posts", Kind.READ, json={}))
    assert len(server.seen) == 1


async def test_a_form_built_per_attempt_goes_whole_twice(
    server: AuthServer, make: Callable[..., Signing]
) -> None:
    server.live = "token-2"
    net = make(server.url)
    await net.send(net.request("/media", Kind.UPLOAD, data=form))
    first, second = server.seen
    assert b"\x89PNG whole body" in first.body
    assert second.authorization == "Bearer token-2"
    assert b"\x89PNG whole body" in second.body  # a spent FormData would send nothing


async def test_a_bug_in_authorize_before_a_create_left_means_nothing_was_sent(
    server: AuthServer, make: Callable[..., Signing]
) -> None:
    net = make(server.url)
    net.bug_in_authorize = True
    post = PostContent(post_id="p", account="acct", network="signing", text="hi")
    with pytest.raises(PermanentError) as info:
        await net.publish(net.render(post), DeliveryRef(1, "p", "acct", NOW))
    assert "nothing of it sent" in info.value.reason
    assert server.seen == []


async def test_a_network_may_keep_more_of_its_own_words(
    server: AuthServer, make: Callable[..., Signing]
) -> None:
    class Wordy(Signing):
        detail_limit = 500

    for cls, kept in ((Signing, False), (Wordy, True)):  # 300 characters by default
        net = make(server.url, cls)
        with pytest.raises(PermanentError) as info:
            await net.send(net.request("/words", Kind.READ, json={}))
        assert info.value.reason.endswith("END") is kept


async def test_a_network_says_which_refusals_are_of_its_credentials(
    server: AuthServer, make: Callable[..., Signing]
) -> None:
    """A 400 is the post's fault by default; a network whose stale token meets one (Bluesky's
    ``ExpiredToken``) says so in ``credentials_refused``, and the token is renewed."""

    class Expiring(Signing):
        def credentials_refused(self, answer: Answer) -> bool:
            expired = answer.status == 400 and answer.json().get("error") == "ExpiredToken"
            return expired or super().credentials_refused(answer)

    server.live, server.refusal = "token-2", 400
    plain = make(server.url)
    with pytest.raises(PermanentError) as info:
        await plain.send(plain.request("/posts", Kind.CREATE, json={}))
    assert info.value.attention is Attention.CONTENT and plain.renewals == []

    net = make(server.url, Expiring)
    answer = await net.send(net.request("/posts", Kind.CREATE, json={"text": "hi"}))
    assert answer.status == 200 and net.renewals == ["Bearer token-1"]
    assert [s.authorization for s in server.seen[1:]] == ["Bearer token-1", "Bearer token-2"]
