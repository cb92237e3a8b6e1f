"""Every OAuth flow against its local server: a spent code replayed, a wrong code, another
client's code and (where PKCE is used) another verifier are refused; an answer carrying
another state ends the flow with nothing obtained."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from publisher.connect.flow import Account, ConnectError, Context, Obtained
from publisher.connect.meta import connect_facebook, connect_threads
from publisher.connect.oauth_nets import connect_linkedin, connect_mastodon, connect_x
from publisher.testing.oauth import BrowserTerminal, CodeIssuer, Refusal
from tests.connect.kit import account, query_of, running
from tests.connect.meta_servers import GraphServer, ThreadsServer
from tests.connect.servers import LinkedInServer, MastodonOAuth, XServer


@dataclass
class Case:
    issuer: CodeIssuer
    account: Account
    run: Callable[[Account, Context], Awaitable[Obtained]]
    pkce: bool


def app_table(url: str, client_id: str, **extra: str) -> dict[str, str]:
    return {"api_base": url, "client_id": client_id, "client_secret": "${SECRET}", **extra}


@asynccontextmanager
async def case(network: str) -> AsyncIterator[Case]:
    if network == "x":
        async with XServer() as x:
            table = app_table(x.url, x.client.client_id, oauth2_token="${T}")
            env = {"SECRET": x.client.client_secret or ""}
            yield Case(x.issuer, account("x", table, env), connect_x, True)
    elif network == "mastodon":
        oauth = MastodonOAuth()
        async with oauth.server() as api:
            table = {"instance": api.url, "token": "${T}"}
            yield Case(oauth.issuer, account("mastodon", table), connect_mastodon, True)
    elif network == "linkedin":
        async with LinkedInServer() as li:
            table = app_table(li.url, li.client.client_id, author="urn:li:organization:1")
            env = {"SECRET": li.client.client_secret or ""}
            yield Case(li.issuer, account("linkedin", table, env), connect_linkedin, False)
    elif network == "facebook":
        async with GraphServer() as graph:
            table = app_table(graph.url, graph.client.client_id, page_token="${T}")
            env = {"SECRET": graph.client.client_secret or ""}
            yield Case(graph.issuer, account("facebook", table, env), connect_facebook, False)
    else:
        async with ThreadsServer() as threads:
            table = app_table(threads.url, threads.client.client_id, token="${T}")
            env = {"SECRET": threads.client.client_secret or ""}
            yield Case(threads.issuer, account("threads", table, env), connect_threads, False)


NETWORKS = ["x", "mastodon", "linkedin", "facebook", "threads"]


def refused(issuer: CodeIssuer, params: dict[str, str], basic: Any) -> str:
    # Facebook's code exchange is a GET without grant_type; the others name the grant.
    grant_type = "authorization_code" if "grant_type" in params else None
    with pytest.raises(Refusal) as err:
        issuer.redeem(params, basic, grant_type=grant_type)
    return err.value.description


@pytest.mark.parametrize("network", NETWORKS)
async def test_codes_are_spent_once_and_bound_to_their_client(network: str) -> None:
    async with case(network) as c, running() as run:
        await c.run(c.account, run.context(run.terminal(), port=0))
        [(params, basic)] = c.issuer.redemptions
        assert refused(c.issuer, params, basic) == "code already used"
        assert refused(c.issuer, {**params, "code": "made-up-code"}, basic) == "unknown code"
        # A fresh code, then presented with another verifier (PKCE) or another redirect.
        landed = await run.browser.address_bar(run.browser.visited[0])
        fresh = {**params, "code": query_of(landed)["code"]}
        if c.pkce:
            other = {**fresh, "code_verifier": "b" * 64}
            assert refused(c.issuer, other, basic) == "code_verifier does not match"
        else:
            other = {**fresh, "redirect_uri": "http://127.0.0.1:1/elsewhere"}
            assert (
                refused(c.issuer, other, basic) == "redirect_uri differs from the authorization's"
            )
        assert c.issuer.refused.count("invalid_grant") == 3


@pytest.mark.parametrize("network", NETWORKS)
async def test_an_answer_with_another_state_ends_the_flow(network: str) -> None:
    async with case(network) as c, running() as run:
        terminal = BrowserTerminal(None)
        task = asyncio.create_task(c.run(c.account, run.context(terminal, port=0)))
        await terminal.shown.wait()
        landed = await run.browser.address_bar(terminal.urls[0])
        forged = landed.replace(f"state={query_of(landed)['state']}", "state=" + "f" * 43)
        terminal.pastes.put_nowait(forged)
        with pytest.raises(ConnectError, match="another state"):
            await task
        assert c.issuer.redemptions == []  # the code was never presented
