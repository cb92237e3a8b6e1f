"""Facebook's exchange chain end to end (Login, long-lived user token, the Page's token that
does not expire), Instagram's ids from the same chain, and Threads' own long-lived token."""

from __future__ import annotations

import asyncio

import pytest

from publisher.connect.flow import ConnectError, Purpose
from publisher.connect.meta import connect_facebook, connect_instagram, connect_threads
from publisher.testing.oauth import BrowserTerminal
from tests.connect.kit import account, query_of, running
from tests.connect.meta_servers import GraphServer, Page, ThreadsServer


def fb_table(server: GraphServer, **extra: str) -> dict[str, str]:
    return {
        "api_base": server.url,
        "client_id": server.client.client_id,
        "client_secret": "${META_SECRET}",
        "page_token": "${FB_PAGE_TOKEN}",
        **extra,
    }


def env(server: GraphServer | ThreadsServer) -> dict[str, str]:
    return {"META_SECRET": server.client.client_secret or ""}


async def test_facebook_chain_ends_with_the_pages_permanent_token() -> None:
    pages = [Page("101", "Brand Page"), Page("202", "Other Page")]
    async with GraphServer(pages) as server, running() as run:
        terminal = run.terminal(choice=1)
        got = await connect_facebook(
            account("facebook", fb_table(server, page_id="${FB_PAGE_ID}"), env(server)),
            run.context(terminal, port=0),
        )
        asked = query_of(terminal.urls[0])
        assert asked["scope"] == "pages_show_list,pages_manage_posts,pages_read_engagement"
        # Login, then the code, then the exchange: in this order, each with what it needs.
        kinds = [q.get("grant_type", "code") for _, q in server.asked]
        assert kinds == ["code", "fb_exchange_token"]
        assert terminal.questions == ["Which Page publishes for this account?"]
        assert got.values["page_id"] == "202"
        token = got.values["page_token"]
        assert pages[1].tokens[token] is True  # from the long-lived user token: permanent
        assert got.granted.missing == () and got.identity == "Other Page (202)"


async def test_facebook_configured_page_is_taken_and_a_page_not_granted_refused() -> None:
    pages = [Page("101", "Brand Page"), Page("202", "Other Page")]
    async with GraphServer(pages) as server, running() as run:
        terminal = run.terminal()
        got = await connect_facebook(
            account("facebook", fb_table(server, page_id="101"), env(server)),
            run.context(terminal, port=0),
        )
        assert got.values["page_id"] == "101" and terminal.questions == []
        with pytest.raises(ConnectError, match="page 303 was not granted"):
            await connect_facebook(
                account("facebook", fb_table(server, page_id="303"), env(server)),
                run.context(run.terminal(), port=0),
            )


async def test_facebook_engagement_scopes_and_a_declined_one() -> None:
    async with GraphServer() as server, running() as run:
        server.issuer.grant_only = frozenset(
            {"pages_show_list", "pages_manage_posts", "pages_read_engagement", "read_insights"}
        )
        got = await connect_facebook(
            account("facebook", fb_table(server), env(server)),
            run.context(run.terminal(), port=0, purposes=(Purpose.ENGAGEMENT,)),
        )
        assert got.granted.missing == ("pages_read_user_content",)


async def test_facebook_wrong_app_secret_stops_at_the_code() -> None:
    async with GraphServer() as server, running() as run:
        with pytest.raises(ConnectError, match="invalid_client"):
            await connect_facebook(
                account("facebook", fb_table(server), {"META_SECRET": "wrong-secret-0123456789"}),
                run.context(run.terminal(), port=0),
            )
        assert server.long == {}


async def test_instagram_ids_and_token_come_from_the_same_chain() -> None:
    async with GraphServer() as server, running() as run:
        table = {
            "api_base": server.url,
            "app_id": server.client.client_id,
            "app_secret": "${META_SECRET}",
            "token": "${IG_TOKEN}",
            "user_id": "${IG_USER}",
        }
        terminal = run.terminal()
        got = await connect_instagram(
            account("instagram", table, env(server)), run.context(terminal, port=0)
        )
        assert "instagram_content_publish" in query_of(terminal.urls[0])["scope"].split(",")
        assert got.values["user_id"] == "17841400000000001"
        assert server.pages[0].tokens[got.values["token"]] is True


async def test_instagram_without_a_linked_account_says_so() -> None:
    async with GraphServer([Page("101", "Brand Page")]) as server, running() as run:
        table = {
            "api_base": server.url,
            "client_id": server.client.client_id,
            "client_secret": "${META_SECRET}",
            "access_token": "${IG_TOKEN}",
            "user_id": "${IG_USER}",
        }
        with pytest.raises(ConnectError, match="no Instagram professional account"):
            await connect_instagram(
                account("instagram", table, env(server)), run.context(run.terminal(), port=0)
            )


async def test_threads_exchanges_for_the_long_lived_token() -> None:
    async with ThreadsServer() as server, running() as run:
        table = {
            "api_base": server.url,
            "client_id": server.client.client_id,
            "client_secret": "${META_SECRET}",
            "token": "${THREADS_TOKEN}",
            "user_id": "${THREADS_USER}",
        }
        terminal = run.terminal()
        got = await connect_threads(
            account("threads", table, env(server)), run.context(terminal, port=0)
        )
        assert query_of(terminal.urls[0])["scope"] == "threads_basic,threads_content_publish"
        assert got.values["token"] in server.long
        assert got.values["user_id"] == str(server.user_id)
        assert got.identity == f"@brand ({server.user_id})"
        assert any("expires" in n for n in got.notes)
        assert got.granted.granted is None  # Threads does not say which it granted


async def test_threads_with_a_registered_https_redirect_is_pasted_back() -> None:
    """Threads wants an https redirect: no listener; the operator pastes where it landed."""
    async with ThreadsServer() as server, running() as run:
        registered = "https://brand.example/threads-callback"
        server.client.redirect_uris = (registered,)
        table = {
            "api_base": server.url,
            "client_id": server.client.client_id,
            "client_secret": "${META_SECRET}",
            "token": "${THREADS_TOKEN}",
            "threads_user_id": "${THREADS_USER}",
        }
        terminal = BrowserTerminal(None)
        task = asyncio.create_task(
            connect_threads(
                account("threads", table, env(server)),
                run.context(terminal, redirect_uri=registered),
            )
        )
        await terminal.shown.wait()
        landed = await run.browser.address_bar(terminal.urls[0])
        assert landed.startswith(registered + "?")
        terminal.pastes.put_nowait(landed)
        got = await task
        assert got.values["token"] in server.long
        assert got.values["threads_user_id"] == str(server.user_id)
