"""Mastodon's listening against the strict local Mastodon (issue 20): notifications (mention,
reply, quote) and watches (hashtag timelines, full-text search) paged newest first from a
kept cursor, and an answer published as a reply."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from publisher.adapters.base import (
    PostContent,
    RateLimitedError,
    ReplyTarget,
    TransientError,
)
from publisher.adapters.listen_paging import PAGES_PER_READ
from publisher.adapters.listening import HeardPage, ItemKind
from publisher.adapters.mastodon import MastodonAdapter
from publisher.clock import FakeClock
from tests.networks.mastodon import test_mastodon as base
from tests.networks.mastodon.server import MastodonServer
from tests.networks.mastodon.test_mastodon import post, ref_for

clock, session, waited = base.clock, base.session, base.waited
servers, server, make = base.servers, base.server, base.make

PAGE = 80  # the notifications page the adapter asks for (the documented maximum)


def asked(server: MastodonServer, path: str) -> list[list[tuple[str, str]]]:
    return [a.raw_query for a in server.accepted if a.path == path]


async def test_first_read_is_the_newest_page_only(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    ids = [server.hear(ItemKind.MENTION, f"@brand bonjour {n}")[0] for n in range(PAGE + 20)]
    adapter = make(server)
    page = await adapter.read_inbox(None, [])
    assert [h.remote_id for h in page.items] == list(reversed(ids))[:PAGE]
    assert page.more is False and page.cursor
    [query] = asked(server, "/api/v1/notifications")
    assert query == [("types[]", "mention"), ("types[]", "quote"), ("limit", "80")]

    later = server.hear(ItemKind.MENTION, "@brand encore moi")[0]
    again = await adapter.read_inbox(page.cursor, [])
    assert [h.remote_id for h in again.items] == [later]
    since = dict(asked(server, "/api/v1/notifications")[-1])["since_id"]
    assert since == server.notifications[-2].id  # the newest read before


async def test_pages_walk_down_to_the_cursor_and_nothing_is_lost(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    adapter = make(server)
    server.hear(ItemKind.MENTION, "@brand premier")
    first = await adapter.read_inbox(None, [])
    burst = [server.hear(ItemKind.MENTION, f"@brand flot {n}")[0] for n in range(PAGE * 4)]
    one = await adapter.read_inbox(first.cursor, [])
    assert one.more is True and len(one.items) == PAGE * PAGES_PER_READ
    # Arrivals between pages sit above the walk: the read after it finds them.
    during = [server.hear(ItemKind.MENTION, f"@brand pendant {n}")[0] for n in range(3)]
    two = await adapter.read_inbox(one.cursor, [])
    assert two.more is False
    three = await adapter.read_inbox(two.cursor, [])
    heard = [h.remote_id for p in (one, two, three) for h in p.items]
    assert set(heard) == set(burst) | set(during)
    assert len(heard) == len(set(heard))
    four = await adapter.read_inbox(three.cursor, [])
    assert four.items == () and four.more is False


async def test_an_empty_first_read_keeps_everything_after_it(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    adapter = make(server)
    empty = await adapter.read_inbox(None, [])
    assert empty.items == () and empty.cursor
    ids = [server.hear(ItemKind.MENTION, f"@brand {n}")[0] for n in range(PAGE + 5)]
    page = await adapter.read_inbox(empty.cursor, [])
    more = await adapter.read_inbox(page.cursor, []) if page.more else HeardPage((), None)
    assert {h.remote_id for h in (*page.items, *more.items)} == set(ids)


async def test_kinds_texts_authors_and_what_they_answer(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    ours = server.add_status("Les soldes commencent #soldes")
    mention_id, mention_url = server.hear(
        ItemKind.MENTION, "@brand Bonjour & merci\nà demain\n\nhttps://example.com/a", author="ana"
    )
    reply_id, _ = server.hear(ItemKind.REPLY, "@brand Super !", author="bob", answers=ours.id)
    quote_id, _ = server.hear(ItemKind.QUOTE, "Regardez ça", author="cy", answers=ours.id)
    server.notify("favourite", ours)  # not said to the account: never heard
    server.notify("follow", None)
    page = await make(server).read_inbox(None, [])
    by_id = {h.remote_id: h for h in page.items}
    assert list(by_id) == [quote_id, reply_id, mention_id]
    mention, reply, quote = by_id[mention_id], by_id[reply_id], by_id[quote_id]
    assert mention.kind is ItemKind.MENTION and mention.answers == ""
    assert mention.text == "@brand Bonjour & merci\nà demain\n\nhttps://example.com/a"
    assert mention.author == "@ana@elsewhere.example" and mention.author_name == "Ana"
    assert mention.url == mention_url == f"https://elsewhere.example/@ana/{mention_id}"
    assert mention.created_at == base.NOW and mention.created_at.tzinfo is not None
    assert (reply.kind, reply.answers, reply.text) == (ItemKind.REPLY, ours.id, "@brand Super !")
    assert (quote.kind, quote.answers, quote.author) == (
        ItemKind.QUOTE, ours.id, "@cy@elsewhere.example"
    )


async def test_a_server_that_ignores_types_still_gives_only_what_was_said(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    server.filters_types = False
    ours = server.add_status("Les soldes")
    server.notify("favourite", ours)
    mention = server.hear(ItemKind.MENTION, "@brand salut")[0]
    server.notify("reblog", ours)
    page = await make(server).read_inbox(None, [])
    assert [h.remote_id for h in page.items] == [mention]


async def test_a_mention_in_a_reply_to_someone_else_is_a_mention(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    theirs = server.post_public("Qui connaît une bonne boutique ?", author="dee")
    status = server.post_public("@brand peut-être ?", author="eve")
    status.in_reply_to_id = theirs.id
    server.notify("mention", status)
    [heard] = (await make(server).read_inbox(None, [])).items
    assert heard.kind is ItemKind.MENTION and heard.answers == ""


async def test_a_content_warning_is_kept_before_the_text(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    server.hear(ItemKind.MENTION, "@brand le prix ?")
    server.statuses[-1].spoiler_text = "Soldes"
    [heard] = (await make(server).read_inbox(None, [])).items
    assert heard.text == "[Soldes]\n\n@brand le prix ?"


async def test_rate_limit_reads_the_reset(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    reset = datetime(2026, 12, 1, 9, 5, 30, tzinfo=UTC)
    server.throttle("GET", "/api/v1/notifications", reset)
    with pytest.raises(RateLimitedError) as info:
        await make(server).read_inbox(None, [])
    assert info.value.reset_at == reset


async def test_the_instance_window_limits_reads_too(
    servers: base.MakeServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    server = await servers(rate_limit=2)
    adapter = make(server)
    await adapter.read_inbox(None, [])  # verify_credentials, then notifications
    with pytest.raises(RateLimitedError) as info:
        await adapter.read_inbox(None, [])
    assert info.value.reset_at == clock.now() + timedelta(minutes=5)


@pytest.mark.parametrize(
    "body",
    [{"unexpected": [1, 2, 3]}, [{"type": "mention"}], [{"id": "1", "type": "mention",
                                                       "status": {"id": "2"}}]],
)
async def test_a_garbage_answer_is_a_clear_transient_error(
    server: MastodonServer, make: Callable[..., MastodonAdapter], body: object
) -> None:
    server.fail("GET", "/api/v1/notifications", status=200, body=body)
    with pytest.raises(TransientError) as info:
        await make(server).read_inbox(None, [])
    assert "notifications" in info.value.reason or "status" in info.value.reason


async def test_a_cursor_we_cannot_read_starts_afresh(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    ids = [server.hear(ItemKind.MENTION, f"@brand {n}")[0] for n in range(3)]
    page = await make(server).read_inbox("not ours", [])
    assert [h.remote_id for h in page.items] == list(reversed(ids))
    assert json.loads(page.cursor or "")["v"] == 1


# ---------------------------------------------------------------------------- watches


async def test_search_reads_hashtag_timelines_and_full_text_with_a_cursor(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    adapter = make(server)
    old = server.post_public("Vieux #Launch")
    first = await adapter.search(["#launch", "publisher"], None)
    assert [h.remote_id for h in first.items] == [old.id]
    assert first.items[0].kind is ItemKind.FOUND

    tagged = server.post_public("Nouveau #launch !", author="fay")
    worded = server.post_public("J'aime Publisher beaucoup", author="gus")
    server.post_public("Rien à voir")
    again = await adapter.search(["#launch", "publisher"], first.cursor)
    assert {h.remote_id for h in again.items} == {tagged.id, worded.id}
    found = {h.remote_id: h for h in again.items}
    assert found[worded.id].text == "J'aime Publisher beaucoup"
    assert found[worded.id].author == "@gus@elsewhere.example"

    [tag_query] = [a.raw_query for a in server.accepted
                   if a.template == "/api/v1/timelines/tag/{hashtag}"][-1:]
    assert ("since_id", old.id) in tag_query and ("limit", "40") in tag_query
    [search_query] = [a.raw_query for a in server.accepted if a.path == "/api/v2/search"][-1:]
    assert dict(search_query) == {
        "q": "publisher", "type": "statuses", "resolve": "false", "limit": "40",
        "min_id": "0",
    }
    last = await adapter.search(["#launch", "publisher"], again.cursor)
    assert last.items == ()


async def test_search_pages_down_and_a_new_term_starts_at_its_newest_page(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    adapter = make(server)
    server.post_public("#soldes un")
    first = await adapter.search(["#soldes"], None)
    many = [server.post_public(f"#soldes n{n}").id for n in range(40 * 3 + 7)]
    one = await adapter.search(["#soldes", "#hiver"], first.cursor)
    assert one.more is True and len(one.items) == 40 * PAGES_PER_READ
    two = await adapter.search(["#soldes", "#hiver"], one.cursor)
    assert two.more is False
    assert {h.remote_id for h in (*one.items, *two.items)} == set(many)
    assert set(json.loads(two.cursor or "")["places"]) == {"#soldes", "#hiver"}


async def test_an_instance_without_full_text_search_finds_no_words(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    server.full_text_search = False
    server.post_public("publisher #publisher")
    page = await make(server).search(["publisher", "#publisher"], None)
    assert [h.text for h in page.items] == ["publisher #publisher"]  # the hashtag's only


async def test_search_rate_limit_and_garbage(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    reset = datetime(2026, 12, 1, 9, 7, tzinfo=UTC)
    server.throttle("GET", "/api/v2/search", reset)
    with pytest.raises(RateLimitedError) as info:
        await make(server).search(["mot"], None)
    assert info.value.reset_at == reset
    server.fail("GET", "/api/v2/search", status=200, body=[1, 2])
    with pytest.raises(TransientError, match="search"):
        await make(server).search(["mot"], None)


# ---------------------------------------------------------------------------- answers


async def test_an_answer_is_published_as_a_reply(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    heard_id, url = server.hear(ItemKind.MENTION, "@brand vous ouvrez dimanche ?")
    [heard] = (await adapter.read_inbox(None, [])).items
    target = ReplyTarget(url, network="mastodon", remote_id=heard.remote_id, refs=heard.reply)
    content: PostContent = post("Oui, de 10 h à 18 h !", reply_to=target)
    rendered = adapter.render(content)
    assert not rendered.errors
    assert rendered.parts[0].payload["in_reply_to_id"] == heard_id
    published = await adapter.publish(rendered, ref_for(content, clock))
    assert server.replies_to(heard_id) == [published.parts[0].remote_id]
    body = server.accepted_for("POST", "/api/v1/statuses")[-1].json
    assert body["in_reply_to_id"] == heard_id and body["status"] == "Oui, de 10 h à 18 h !"


async def test_a_threaded_answer_chains_its_parts_under_the_item(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    heard_id, url = server.hear(ItemKind.MENTION, "@brand racontez-nous")
    target = ReplyTarget(url, network="mastodon", remote_id=heard_id)
    content = post("Alors. " * 120, reply_to=target)
    rendered = adapter.render(content)
    assert not rendered.errors and len(rendered.parts) > 1
    published = await adapter.publish(rendered, ref_for(content, clock))
    first, second = published.parts[0].remote_id, published.parts[1].remote_id
    assert server.replies_to(heard_id) == [first]
    assert server.status(second) is not None and server.status(second).in_reply_to_id == first


async def test_an_unresolved_target_sends_nothing(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    rendered = make(server).render(post("Merci", reply_to=ReplyTarget("42")))
    assert rendered.errors and "no such item" in rendered.errors[0]
