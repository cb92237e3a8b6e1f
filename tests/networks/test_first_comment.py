"""First comments end to end on the seven networks that take one, each against its strict
local server (the real reference PDS for Bluesky; Instagram's media fetched from a really
served directory): the post, then its comment on it; a comment
that failed is sent again alone; one whose answer was lost is found by the lookup, never sent
twice. Always exactly one post and one comment on the network.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from publisher.adapters.base import (
    Absent,
    Adapter,
    AdapterContext,
    AdapterError,
    AmbiguousError,
    DeliveryRef,
    Found,
    MediaItem,
    PostContent,
    Published,
    RateLimitedError,
    RemotePart,
    Rendered,
    Role,
    TransientError,
)
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.adapters.instagram import InstagramAdapter, InstagramSettings
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.adapters.threads import ThreadsAdapter, ThreadsSettings
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from publisher.testing import LocalServer
from publisher.testing.hosting import ServedDirectory
from tests.networks.bluesky.pds import Account, Pds, pds, pds_account  # noqa: F401 (fixtures)
from tests.networks.bluesky.test_bluesky import Proxy
from tests.networks.facebook.server import GraphServer
from tests.networks.instagram.server import InstagramServer
from tests.networks.linkedin.server import LinkedInServer
from tests.networks.mastodon.server import Failure, MastodonServer
from tests.networks.threads.server import ThreadsServer
from tests.networks.x.server import XServer

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TOKEN = "SECRET-first-comment-token-5e1f"
ORG = "urn:li:organization:5515715"
PAGE = "1234567890"
CREATE_RECORD = "com.atproto.repo.createRecord"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
GRAPH_LIMIT = (4, "(#4) Application request limit reached")


@dataclass
class Item:
    """What the network holds: a post, or a comment on the post ``on``."""

    id: str
    text: str
    on: str | None  # the post it is a comment (or reply) on; None: a post


@dataclass
class Net:
    name: str
    adapter: Adapter
    items: Callable[[], list[Item]]
    # The next comment fails without landing (a rate limit), or lands with its answer lost.
    refuse_comment: Callable[[], None]
    lose_comment_answer: Callable[[], None] | None
    media: tuple[MediaItem, ...] = ()  # the post's (Instagram posts always carry one)


def content(network: str, post_id: str, media: tuple[MediaItem, ...] = ()) -> PostContent:
    return PostContent(
        post_id=post_id,
        account=f"brand-{network}",
        network=network,
        text=f"Atelier couture samedi ({post_id}) ❄️",
        media=media,
        first_comment=f"Inscription gratuite : https://example.com/atelier ({post_id})",
    )


def ref(network: str, post_id: str) -> DeliveryRef:
    return DeliveryRef(7, post_id, f"brand-{network}", NOW)


@contextlib.asynccontextmanager
async def mastodon(ctx: AdapterContext, clock: FakeClock) -> AsyncIterator[Net]:
    async with MastodonServer(token=TOKEN, clock=clock) as server:
        settings = MastodonSettings(instance=server.url, token=Secret("MASTODON_TOKEN", TOKEN))

        def items() -> list[Item]:
            return [Item(s.id, s.text, s.in_reply_to_id) for s in server.statuses]

        def refuse() -> None:
            # The post goes through; the comment (the next status) is throttled.
            server.fail(
                "POST",
                "/api/v1/statuses",
                status=429,
                body={"error": "Too many requests"},
                headers=server.rate_headers(remaining=0, reset_at=NOW + timedelta(minutes=5)),
                skip=1,
            )

        def lose() -> None:
            server.fail("POST", "/api/v1/statuses", Failure(status=500, after=True, skip=1))

        yield Net("mastodon", MastodonAdapter("brand-mastodon", settings, ctx), items, refuse, lose)
        assert server.problems == []


@contextlib.asynccontextmanager
async def x(ctx: AdapterContext, clock: FakeClock) -> AsyncIterator[Net]:
    async with XServer(now=clock.now) as server:
        creds = {
            "api_key": server.consumer_key,
            "api_secret": server.consumer_secret,
            "access_token": server.access_token,
            "access_secret": server.access_secret,
        }
        settings = XSettings(
            **{k: Secret(f"X_{k.upper()}", v) for k, v in creds.items()}, api_base=server.url
        )

        def items() -> list[Item]:
            return [Item(p.id, p.text, p.reply_to) for p in server.created]

        def refuse() -> None:
            server.fail("POST", "/2/tweets", nth=2, status=429)  # the post, then the comment

        # The strict X server cannot create a post and lose its answer; X's lookup reads the
        # timeline in order, the comment after the post, as it always did for threads.
        yield Net("x", XAdapter("brand-x", settings, ctx), items, refuse, None)
        assert server.problems == []


@contextlib.asynccontextmanager
async def facebook(ctx: AdapterContext, clock: FakeClock) -> AsyncIterator[Net]:
    async with GraphServer(page_id=PAGE, token=TOKEN, now=clock.now) as server:
        settings = FacebookSettings(
            page_id=PAGE, page_token=Secret("FB_PAGE_TOKEN", TOKEN), api_base=server.url
        )

        def items() -> list[Item]:
            posts = [Item(p.id, p.message or "", None) for p in server.posts]
            return posts + [Item(c.id, c.message, c.post_id) for c in server.comments]

        def refuse() -> None:
            server.inject_error("comment", 4, "(#4) Application request limit reached")

        def lose() -> None:
            server.inject_drop("comment", commit=True)

        yield Net("facebook", FacebookAdapter("brand-facebook", settings, ctx), items, refuse, lose)


@contextlib.asynccontextmanager
async def linkedin(ctx: AdapterContext, clock: FakeClock) -> AsyncIterator[Net]:
    async with LinkedInServer(author=ORG, token=TOKEN, now=clock.now) as server:
        settings = LinkedInSettings(
            author=ORG, token=Secret("LINKEDIN_TOKEN", TOKEN), api_base=server.url
        )

        def items() -> list[Item]:
            posts = [Item(p.urn, p.text, None) for p in server.posts]
            return posts + [Item(c.urn, c.text, c.object) for c in server.comments]

        def refuse() -> None:
            server.inject("comment", 429, headers={"Retry-After": "60"})

        def lose() -> None:
            server.inject("comment", 500, commit=True)

        yield Net("linkedin", LinkedInAdapter("brand-linkedin", settings, ctx), items, refuse, lose)


@contextlib.asynccontextmanager
async def threads(ctx: AdapterContext, clock: FakeClock) -> AsyncIterator[Net]:
    async with ThreadsServer(token=TOKEN, now=clock.now) as server:
        settings = ThreadsSettings(
            user_id=server.user_id, token=Secret("THREADS_TOKEN", TOKEN), api_base=server.url
        )

        def items() -> list[Item]:
            return [Item(p.id, p.text or "", p.reply_to) for p in server.posts]

        def refuse() -> None:
            server.inject_error("reply publish", *GRAPH_LIMIT)

        def lose() -> None:
            server.inject_drop("reply publish", commit=True)

        yield Net("threads", ThreadsAdapter("brand-threads", settings, ctx), items, refuse, lose)


def instagram(public: Path) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def make(ctx: AdapterContext, clock: FakeClock) -> AsyncIterator[Net]:
        assert ctx.session is not None
        photo = public.parent / "atelier.jpg"
        photo.write_bytes(JPEG)
        item = MediaItem(MediaRef.beside(photo), "", "image/jpeg", len(JPEG))
        async with (
            InstagramServer(token=TOKEN, now=clock.now) as server,
            ServedDirectory(public, ctx.session) as served,
        ):
            settings = InstagramSettings(
                user_id=server.user_id, token=Secret("IG_TOKEN", TOKEN), api_base=server.url
            )
            adapter = InstagramAdapter("brand-instagram", settings, replace(ctx, host=served.host))

            def items() -> list[Item]:
                posts = [Item(p.id, p.text or "", None) for p in server.posts]
                return posts + [Item(c.id, c.text, c.media_id) for c in server.comments]

            def refuse() -> None:
                server.inject_error("comment", *GRAPH_LIMIT)

            def lose() -> None:
                server.inject_drop("comment", commit=True)

            yield Net("instagram", adapter, items, refuse, lose, (item,))

    return make


def bluesky(account: Account, pds_url: str) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def make(ctx: AdapterContext, clock: FakeClock) -> AsyncIterator[Net]:
        assert ctx.session is not None
        proxy = Proxy(pds_url, ctx.session)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy.handle)
        server = LocalServer(app)
        proxy.url = await server.start()
        settings = BlueskySettings(
            pds=proxy.url,
            handle=account.handle,
            app_password=Secret("BSKY_APP_PASSWORD", account.app_password),
        )
        before = {r["uri"] for r in account.posts()}

        def items() -> list[Item]:
            out = []
            for r in account.posts():
                if r["uri"] in before:
                    continue
                reply = r["value"].get("reply")
                on = reply["parent"]["uri"] if reply else None
                out.append(Item(r["uri"], r["value"]["text"], on))
            return out

        def refuse() -> None:
            proxy.plan[CREATE_RECORD] = ["forward", "503"]

        def lose() -> None:
            proxy.plan[CREATE_RECORD] = ["forward", "drop"]

        try:
            adapter = BlueskyAdapter("brand-bluesky", settings, ctx)
            yield Net("bluesky", adapter, items, refuse, lose)
        finally:
            proxy._hang.set()
            await server.stop()

    return make


NETWORKS = ["mastodon", "x", "bluesky", "facebook", "linkedin", "threads", "instagram"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def net(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Net]:
    name = request.param
    timeout = aiohttp.ClientTimeout(total=10, sock_connect=2, sock_read=5)

    async def wait(delay: timedelta) -> None:
        await clock.advance(delay)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        ctx = AdapterContext(session=session, clock=clock, timeout=timeout, wait=wait)
        if name == "bluesky":
            pds_server: Pds = request.getfixturevalue("pds")
            account: Account = request.getfixturevalue("pds_account")
            maker = bluesky(account, pds_server.url)
        elif name == "instagram":
            tmp_path: Path = request.getfixturevalue("tmp_path")
            maker = instagram(tmp_path / "public")
        else:
            maker = {
                "mastodon": mastodon,
                "x": x,
                "facebook": facebook,
                "linkedin": linkedin,
                "threads": threads,
            }[name]
        async with maker(ctx, clock) as made:
            yield made


def render(net: Net, post_id: str) -> Rendered:
    rendered = net.adapter.render(content(net.name, post_id, net.media))
    assert not rendered.errors, rendered.errors
    assert [p.role for p in rendered.parts] == [Role.POST, Role.COMMENT]
    return rendered


def assert_one_post_one_comment(net: Net, post_id: str, published: Published) -> None:
    """The network holds this delivery's post once and its comment once, on the post."""
    wanted = content(net.name, post_id, net.media)
    mine = [i for i in net.items() if f"({post_id})" in i.text]
    posts = [i for i in mine if i.on is None]
    comments = [i for i in mine if i.on is not None]
    assert len(posts) == 1 and len(comments) == 1, mine
    (post,), (comment,) = posts, comments
    assert comment.on == post.id
    # As the network shows it (X shortens the link to t.co): the comment's words.
    assert comment.text.startswith("Inscription gratuite : https://")
    assert comment.text.endswith(f"({post_id})") and wanted.text not in comment.text
    assert [p.index for p in published.parts] == [0, 1]
    assert published.parts[0].remote_id == post.id
    assert published.parts[1].remote_id == comment.id


@pytest.mark.parametrize("net", NETWORKS, indirect=True)
async def test_the_post_then_its_first_comment(net: Net) -> None:
    rendered = render(net, "e2e")
    published = await net.adapter.publish(rendered, ref(net.name, "e2e"))
    assert_one_post_one_comment(net, "e2e", published)
    # Everything out: publishing again sends nothing.
    again = await net.adapter.publish(rendered, ref(net.name, "e2e"), published.parts)
    assert again == published
    assert_one_post_one_comment(net, "e2e", again)


@pytest.mark.parametrize("net", NETWORKS, indirect=True)
async def test_a_comment_that_failed_is_sent_again_alone(net: Net) -> None:
    rendered = render(net, "retry")
    r = ref(net.name, "retry")
    net.refuse_comment()
    with pytest.raises((RateLimitedError, TransientError)) as info:
        await net.adapter.publish(rendered, r)
    # The post is out and carried; the comment is not.
    assert [p.index for p in info.value.partial] == [0]
    # What the engine does: the next attempt with the parts out so far sends the comment only.
    published = await net.adapter.publish(rendered, r, info.value.partial)
    assert_one_post_one_comment(net, "retry", published)
    # A lookup now finds both, so an unknown outcome here would never resend either.
    found = await net.adapter.lookup(r, rendered, NOW - timedelta(hours=1))
    assert isinstance(found, Found)
    assert [p.remote_id for p in found.published.parts] == [p.remote_id for p in published.parts]


@pytest.mark.parametrize("net", NETWORKS, indirect=True)
async def test_a_crash_between_the_post_and_its_comment_sends_the_comment_only(net: Net) -> None:
    """The daemon died with the post out and its comment not sent: the delivery is unknown,
    the lookup finds the post alone, and the engine resumes with the comment."""
    rendered = render(net, "crash")
    r = ref(net.name, "crash")
    net.refuse_comment()
    with pytest.raises(AdapterError):
        await net.adapter.publish(rendered, r)
    found = await net.adapter.lookup(r, rendered, NOW - timedelta(hours=1))
    if net.name == "bluesky":
        # Bluesky says absent while any part is missing: a resend is safe there, the post's
        # record key collides and is confirmed, and only the comment is created.
        assert isinstance(found, Absent)
        done: tuple[RemotePart, ...] = ()
    else:
        assert isinstance(found, Found)
        assert [p.index for p in found.published.parts] == [0]  # the post, not its comment
        done = found.published.parts
    published = await net.adapter.publish(rendered, r, done)
    assert_one_post_one_comment(net, "crash", published)


@pytest.mark.parametrize("net", [n for n in NETWORKS if n != "x"], indirect=True)
async def test_a_comment_whose_answer_was_lost_is_found_not_sent_twice(net: Net) -> None:
    rendered = render(net, "lost")
    r = ref(net.name, "lost")
    assert net.lose_comment_answer is not None
    net.lose_comment_answer()
    try:
        published = await net.adapter.publish(rendered, r)
    except AmbiguousError as err:
        assert [p.index for p in err.partial] == [0]
        found = await net.adapter.lookup(r, rendered, NOW - timedelta(hours=1))
        assert isinstance(found, Found)
        published = found.published
    # Bluesky settles it itself: the comment's record key is read back.
    assert_one_post_one_comment(net, "lost", published)


def test_linkedins_comment_payload() -> None:
    """The exact Comments API body (the bundled example has no LinkedIn account, so its
    snapshot, tests/snapshots/example_payloads.json, holds the other four networks')."""
    settings = LinkedInSettings(author=ORG, token=Secret("LINKEDIN_TOKEN", TOKEN))
    adapter = LinkedInAdapter("brand-linkedin", settings, AdapterContext(None, FakeClock(NOW)))
    rendered = adapter.render(content("linkedin", "snap"))
    comment = rendered.parts[-1]
    assert comment.role is Role.COMMENT and comment.limit == 1_250
    assert comment.payload == {
        "actor": ORG,
        "object": "<part:0>",
        "message": {"text": "Inscription gratuite : https://example.com/atelier (snap)"},
    }
