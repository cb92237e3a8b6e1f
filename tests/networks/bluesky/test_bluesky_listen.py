"""Bluesky's listening against the XRPC stand-in (issue 20): listNotifications (mention,
reply, quote) and searchPosts, paged newest first by cursor from a kept place, and an answer
published as a reply (root and parent strong refs) that the stand-in checks.

The reference PDS (``pds.py``) proxies ``app.bsky.*`` to an AppView it does not run, so these
reads are answered by the stand-in (``xrpc_listen.py``), with the lexicons' parameters only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from publisher.adapters.base import (
    AdapterContext,
    DeliveryRef,
    PostContent,
    RateLimitedError,
    ReplyTarget,
    TransientError,
)
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.adapters.listen_paging import PAGES_PER_READ
from publisher.adapters.listening import ItemKind
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import NOW
from publisher.testing.errors import TIMEOUT
from tests.networks.bluesky.xrpc import B_RESET, Xrpc
from tests.networks.bluesky.xrpc_listen import LIST_NOTIFICATIONS, SEARCH_POSTS

PAGE = 100


@pytest.fixture
async def pds() -> AsyncIterator[Xrpc]:
    async with Xrpc() as server:
        yield server


@pytest.fixture
async def adapter(pds: Xrpc) -> AsyncIterator[BlueskyAdapter]:
    async with aiohttp.ClientSession() as session:
        settings = BlueskySettings(
            pds=pds.url, handle="brand.test", app_password=Secret("BSKY_APP_PASSWORD", "pw")
        )
        context = AdapterContext(session=session, clock=FakeClock(NOW), timeout=TIMEOUT)
        yield BlueskyAdapter("brand-bluesky", settings, context)


def content(text: str, **kw: object) -> PostContent:
    return PostContent(
        post_id=str(kw.pop("post_id", "answer")), account="brand-bluesky", network="bluesky",
        text=text, **kw,  # type: ignore[arg-type]
    )


async def publish(adapter: BlueskyAdapter, post: PostContent) -> list[str]:
    rendered = adapter.render(post)
    assert not rendered.errors, rendered.errors
    published = await adapter.publish(rendered, DeliveryRef(7, post.post_id, post.account, NOW))
    return [p.remote_id for p in published.parts]


def asked(pds: Xrpc, nsid: str) -> list[list[tuple[str, str]]]:
    return [pairs for n, pairs in pds.listen_asked if n == nsid]


async def test_first_read_is_the_newest_page_only(pds: Xrpc, adapter: BlueskyAdapter) -> None:
    uris = [pds.hear(ItemKind.MENTION, f"@brand.test salut {n}")[0] for n in range(PAGE + 20)]
    page = await adapter.read_inbox(None, [])
    assert [h.remote_id for h in page.items] == list(reversed(uris))[:PAGE]
    assert page.more is False and page.cursor
    assert asked(pds, LIST_NOTIFICATIONS) == [
        [("reasons", "mention"), ("reasons", "reply"), ("reasons", "quote"), ("limit", "100")]
    ]
    later = pds.hear(ItemKind.MENTION, "@brand.test encore")[0]
    again = await adapter.read_inbox(page.cursor, [])
    assert [h.remote_id for h in again.items] == [later]


async def test_pages_walk_down_by_cursor_and_nothing_is_lost(
    pds: Xrpc, adapter: BlueskyAdapter
) -> None:
    pds.hear(ItemKind.MENTION, "@brand.test premier")
    first = await adapter.read_inbox(None, [])
    burst = [pds.hear(ItemKind.MENTION, f"flot {n}")[0] for n in range(PAGE * 4 + 3)]
    one = await adapter.read_inbox(first.cursor, [])
    assert one.more is True and len(one.items) == PAGE * PAGES_PER_READ
    assert asked(pds, LIST_NOTIFICATIONS)[-1][-1][0] == "cursor"  # walking down
    during = [pds.hear(ItemKind.MENTION, f"pendant {n}")[0] for n in range(3)]
    two = await adapter.read_inbox(one.cursor, [])
    assert two.more is False
    three = await adapter.read_inbox(two.cursor, [])
    heard = [h.remote_id for p in (one, two, three) for h in p.items]
    assert set(heard) == set(burst) | set(during)
    assert len(heard) == len(set(heard))
    assert (await adapter.read_inbox(three.cursor, [])).items == ()


async def test_an_empty_first_read_keeps_everything_after_it(
    pds: Xrpc, adapter: BlueskyAdapter
) -> None:
    empty = await adapter.read_inbox(None, [])
    assert empty.items == () and empty.cursor
    uris = [pds.hear(ItemKind.MENTION, f"{n}")[0] for n in range(PAGE + 5)]
    page = await adapter.read_inbox(empty.cursor, [])
    assert {h.remote_id for h in page.items} == set(uris)


async def test_kinds_texts_urls_and_reply_refs(pds: Xrpc, adapter: BlueskyAdapter) -> None:
    [ours] = await publish(adapter, content("Les soldes commencent", post_id="soldes"))
    mention, url = pds.hear(ItemKind.MENTION, "@brand.test bonjour", author="ana")
    reply, _ = pds.hear(ItemKind.REPLY, "Super !", author="bob", answers=ours)
    quote, _ = pds.hear(ItemKind.QUOTE, "Regardez", author="cy", answers=ours)
    pds.notify("like", pds.posts[mention])  # not said to the account: never heard
    page = await adapter.read_inbox(None, [])
    by_uri = {h.remote_id: h for h in page.items}
    assert list(by_uri) == [quote, reply, mention]
    m, r, q = by_uri[mention], by_uri[reply], by_uri[quote]
    assert (m.kind, m.text, m.author, m.answers) == (
        ItemKind.MENTION, "@brand.test bonjour", "@ana.bsky.social", ""
    )
    rkey = mention.rsplit("/", 1)[-1]
    assert m.url == url == f"https://bsky.app/profile/ana.bsky.social/post/{rkey}"
    assert m.created_at == NOW + timedelta(seconds=1) and m.created_at.tzinfo is not None
    assert m.reply == {
        "root_uri": mention, "root_cid": pds.posts[mention].cid,
        "parent_uri": mention, "parent_cid": pds.posts[mention].cid,
    }
    assert (r.kind, r.answers) == (ItemKind.REPLY, ours)
    assert r.reply["root_uri"] == ours and r.reply["parent_uri"] == reply  # thread kept
    assert (q.kind, q.answers, q.author) == (ItemKind.QUOTE, ours, "@cy.bsky.social")


async def test_rate_limit_reads_the_reset(pds: Xrpc, adapter: BlueskyAdapter) -> None:
    pds.reads = "rate-limit"
    with pytest.raises(RateLimitedError) as info:
        await adapter.read_inbox(None, [])
    assert info.value.reset_at == B_RESET
    with pytest.raises(RateLimitedError):
        await adapter.search(["publisher"], None)


@pytest.mark.parametrize(
    "doc",
    [
        {"notes": []},
        {"notifications": [{"uri": "at://x", "reason": "mention"}]},
        {"notifications": "none"},
    ],
)
async def test_a_garbage_answer_is_a_clear_transient_error(
    pds: Xrpc, adapter: BlueskyAdapter, doc: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pds, "listen", lambda nsid, query: (200, doc))
    with pytest.raises(TransientError, match="listNotifications"):
        await adapter.read_inbox(None, [])


async def test_the_stand_in_refuses_what_the_lexicon_does_not_define(pds: Xrpc) -> None:
    status, doc = pds.listen(SEARCH_POSTS, _Query([("q", "x"), ("since_id", "3")]))
    assert status == 400 and doc["error"] == "InvalidRequest"
    status, doc = pds.listen(LIST_NOTIFICATIONS, _Query([("limit", "101")]))
    assert status == 400


# ---------------------------------------------------------------------------- search


async def test_search_with_a_cursor_finds_only_what_is_new(
    pds: Xrpc, adapter: BlueskyAdapter
) -> None:
    old = pds.post_public("Vieux #launch")
    first = await adapter.search(["#launch", "publisher"], None)
    assert [h.remote_id for h in first.items] == [old.uri]
    assert first.items[0].kind is ItemKind.FOUND
    tagged = pds.post_public("Nouveau #launch")
    worded = pds.post_public("J'aime publisher", author="gus")
    # Written before the floor, indexed after it: ``since`` reaches back for it.
    late = pds.post_public("publisher en retard", written=NOW - timedelta(minutes=5))
    again = await adapter.search(["#launch", "publisher"], first.cursor)
    assert {h.remote_id for h in again.items} == {tagged.uri, worded.uri, late.uri}
    launch_query = dict(asked(pds, SEARCH_POSTS)[-2])
    assert launch_query["sort"] == "latest" and launch_query["q"] == "#launch"
    assert launch_query["since"] == "2026-12-01T08:50:01.000Z"  # the floor, less 10 minutes
    last = await adapter.search(["#launch", "publisher"], again.cursor)
    assert last.items == ()


async def test_search_pages_down_and_terms_keep_their_own_places(
    pds: Xrpc, adapter: BlueskyAdapter
) -> None:
    pds.post_public("soldes un")
    first = await adapter.search(["soldes"], None)
    many = [pds.post_public(f"soldes {n}").uri for n in range(PAGE * 3 + 9)]
    one = await adapter.search(["soldes", "hiver"], first.cursor)
    assert one.more is True and len(one.items) == PAGE * PAGES_PER_READ
    two = await adapter.search(["soldes", "hiver"], one.cursor)
    assert two.more is False
    assert {h.remote_id for h in (*one.items, *two.items)} == set(many)
    assert set(json.loads(two.cursor or "")["places"]) == {"soldes", "hiver"}


# ---------------------------------------------------------------------------- answers


async def test_an_answer_replies_with_root_and_parent(
    pds: Xrpc, adapter: BlueskyAdapter
) -> None:
    [ours] = await publish(adapter, content("Les soldes", post_id="soldes"))
    reply_uri, url = pds.hear(ItemKind.REPLY, "Jusqu'à quand ?", answers=ours)
    [heard] = (await adapter.read_inbox(None, [])).items
    target = ReplyTarget(url, network="bluesky", remote_id=heard.remote_id, refs=heard.reply)
    answer = content("Jusqu'à dimanche !", reply_to=target)
    rendered = adapter.render(answer)
    assert rendered.parts[0].payload["record"]["reply"] == {
        "root": {"uri": ours, "cid": "bafyreiexample"},
        "parent": {"uri": reply_uri, "cid": pds.posts[reply_uri].cid},
    }
    [sent] = await publish(adapter, answer)
    assert pds.replies_to(reply_uri) == [sent]


async def test_a_threaded_answer_keeps_the_conversation_root(
    pds: Xrpc, adapter: BlueskyAdapter
) -> None:
    mention, url = pds.hear(ItemKind.MENTION, "@brand.test racontez")
    [heard] = (await adapter.read_inbox(None, [])).items
    target = ReplyTarget(url, network="bluesky", remote_id=mention, refs=heard.reply)
    sent = await publish(adapter, content("Alors. " * 60, reply_to=target))
    assert len(sent) > 1 and pds.replies_to(mention) == [sent[0]]
    second = pds.records[sent[1].rsplit("/", 1)[-1]]["value"]["reply"]
    assert second["root"] == {"uri": mention, "cid": pds.posts[mention].cid}
    assert second["parent"]["uri"] == sent[0]


async def test_an_answer_without_the_items_refs_is_not_sent(adapter: BlueskyAdapter) -> None:
    target = ReplyTarget("https://bsky.app/x", network="bluesky", remote_id="at://did:plc:a/p/1")
    rendered = adapter.render(content("Merci", reply_to=target))
    assert rendered.errors and "refs are not known" in rendered.errors[0]


class _Query:
    """A query as aiohttp hands it over (repeated names kept)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self.pairs

    def get(self, name: str, default: object = None) -> object:
        return next((v for k, v in self.pairs if k == name), default)

    def getall(self, name: str, default: list[str]) -> list[str]:
        return [v for k, v in self.pairs if k == name] or default
