"""X, Mastodon and LinkedIn connect flows against local authorization servers, driven by a
browser that follows the redirect to the flow's loopback listener."""

from __future__ import annotations

import asyncio
import base64
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.adapters.x_auth import fingerprint, read_token_file
from publisher.connect.flow import ConnectError, Purpose
from publisher.connect.oauth import challenge
from publisher.connect.oauth_nets import connect_linkedin, connect_mastodon, connect_x
from publisher.testing.oauth import BrowserTerminal, s256
from tests.conftest import T0
from tests.connect.kit import account, query_of, running
from tests.connect.servers import LinkedInServer, MastodonOAuth, XServer


def x_account(server: XServer, **extra: str) -> dict[str, str]:
    return {
        "api_base": server.url,
        "client_id": server.client.client_id,
        "client_secret": "${X_CLIENT_SECRET}",
        "oauth2_token": "${X_TOKEN}",
        "oauth2_refresh_token": "${X_REFRESH}",
        **extra,
    }


def x_env(server: XServer) -> dict[str, str]:
    return {"X_CLIENT_SECRET": server.client.client_secret or ""}


def test_pkce_challenge_is_rfc7636s_example() -> None:
    # RFC 7636 appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" == s256(verifier)


async def test_x_connect_follows_the_redirect_with_pkce(tmp_path: Path) -> None:
    async with XServer() as server, running() as run:
        terminal = run.terminal()
        ctx = run.context(terminal, port=0)
        acct = account("x", x_account(server, token_file=str(tmp_path / "x.json")), x_env(server))
        got = await connect_x(acct, ctx)
        asked = query_of(terminal.urls[0])
        assert asked["code_challenge_method"] == "S256"
        assert asked["scope"].split() == [
            "tweet.read",
            "tweet.write",
            "users.read",
            "media.write",
            "offline.access",
        ]
        [issued] = server.issuer.issued.values()
        assert issued.redeemed and issued.challenge == asked["code_challenge"]
        assert got.values["oauth2_token"] in server.tokens
        assert got.values["oauth2_refresh_token"] == server.refresh_tokens[0]
        assert got.identity == "@brand" and got.granted.missing == ()
        assert run.browser.landed[0][0] == 200  # the loopback page the browser ended on
        # The token file the adapter's Refresher keeps, seeded with the new pair.
        [keep] = got.keep
        keep.write(keep.path)
        pair = read_token_file(keep.path, "test")
        assert pair is not None and pair.access == got.values["oauth2_token"]
        assert pair.seed == fingerprint(got.values["oauth2_refresh_token"])
        assert pair.expires_at == T0 + timedelta(hours=2)
        assert keep.path.stat().st_mode & 0o777 == 0o600


async def test_x_public_client_and_extra_purposes() -> None:
    async with XServer(client_secret=None) as server, running() as run:
        terminal = run.terminal()
        table = x_account(server)
        del table["client_secret"]
        ctx = run.context(terminal, port=0, purposes=(Purpose.ENGAGEMENT, Purpose.LISTENING))
        got = await connect_x(account("x", table), ctx)
        assert {"like.read", "follows.read"} <= set(query_of(terminal.urls[0])["scope"].split())
        assert got.granted.missing == ()


async def test_x_missing_scope_is_reported() -> None:
    async with XServer() as server, running() as run:
        server.issuer.grant_only = frozenset({"tweet.read", "users.read", "tweet.write"})
        got = await connect_x(
            account("x", x_account(server), x_env(server)), run.context(run.terminal(), port=0)
        )
        assert got.granted.missing == ("media.write", "offline.access")
        assert "oauth2_refresh_token" not in got.values
        assert any("no refresh token" in n for n in got.notes)


async def test_a_callback_with_another_state_is_ignored_then_the_real_one_taken() -> None:
    async with XServer() as server, running() as run:
        # The browser is late: a forged callback arrives first, then the paste of a real one.
        terminal = BrowserTerminal(None)
        ctx = run.context(terminal, port=0)
        task = asyncio.create_task(connect_x(account("x", x_account(server), x_env(server)), ctx))
        await terminal.shown.wait()
        redirect_uri = query_of(terminal.urls[0])["redirect_uri"]
        async with run.session.get(f"{redirect_uri}?code=forged&state=wrong") as forged:
            assert forged.status == 400
        await run.browser.open(terminal.urls[0])
        got = await task
        assert got.values["oauth2_token"] in server.tokens
        assert "forged" not in [i for i in server.issuer.issued]


async def test_a_pasted_redirect_address_works_without_a_loopback_browser() -> None:
    async with XServer() as server, running() as run:
        terminal = BrowserTerminal(None)
        ctx = run.context(terminal, port=0)
        task = asyncio.create_task(connect_x(account("x", x_account(server), x_env(server)), ctx))
        await terminal.shown.wait()
        landed = await run.browser.address_bar(terminal.urls[0])  # what the operator copies
        terminal.pastes.put_nowait("not an address")
        terminal.pastes.put_nowait(landed)
        got = await task
        assert got.values["oauth2_token"] in server.tokens
        assert any("neither" in s for s in terminal.said)


async def test_a_pasted_address_with_a_wrong_code_is_refused_by_the_server() -> None:
    async with XServer() as server, running() as run:
        terminal = BrowserTerminal(None)
        ctx = run.context(terminal, port=0)
        task = asyncio.create_task(connect_x(account("x", x_account(server), x_env(server)), ctx))
        await terminal.shown.wait()
        landed = await run.browser.address_bar(terminal.urls[0])
        state = query_of(landed)["state"]
        terminal.pastes.put_nowait(f"http://127.0.0.1:1/callback?code=made-up&state={state}")
        with pytest.raises(ConnectError, match="invalid_grant"):
            await task
        assert "invalid_grant" in server.issuer.refused


async def test_codes_are_single_use_and_bound_to_the_verifier() -> None:
    async with XServer() as server, running() as run:
        got = await connect_x(
            account("x", x_account(server), x_env(server)), run.context(run.terminal(), port=0)
        )
        assert got.values
        [(code, issued)] = server.issuer.issued.items()
        pair = f"{server.client.client_id}:{server.client.client_secret}".encode()
        basic = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": issued.redirect_uri,
            "code_verifier": "a" * 64,
            "client_id": server.client.client_id,
        }
        async with run.session.post(f"{server.url}/2/oauth2/token", data=form, headers=basic) as r:
            assert r.status == 400 and (await r.json())["error"] == "invalid_grant"
        # A fresh code with the wrong verifier is refused too.
        landed = await run.browser.address_bar(run.browser.visited[0])
        form["code"] = query_of(landed)["code"]
        async with run.session.post(f"{server.url}/2/oauth2/token", data=form, headers=basic) as r:
            assert r.status == 400
            assert "code_verifier" in (await r.json())["error_description"]


async def test_a_denied_authorization_and_an_abandoned_one() -> None:
    async with XServer() as server, running() as run:
        server.issuer.deny = True
        with pytest.raises(ConnectError, match="access_denied"):
            await connect_x(
                account("x", x_account(server), x_env(server)),
                run.context(run.terminal(), port=0),
            )
        nobody = BrowserTerminal(None)
        waiting = asyncio.create_task(
            connect_x(
                account("x", x_account(server), x_env(server)),
                run.context(nobody, port=0, timeout=600),
            )
        )
        await nobody.shown.wait()
        await run.clock.advance(timedelta(seconds=599))
        assert not waiting.done()
        await run.clock.advance(timedelta(seconds=1))
        with pytest.raises(ConnectError, match="no authorization within 600 s: abandoned"):
            await waiting
        assert server.tokens == {}


async def test_mastodon_registers_the_app_then_authorizes_with_pkce() -> None:
    oauth = MastodonOAuth()
    async with oauth.server() as api, running() as run:
        terminal = run.terminal()
        got = await connect_mastodon(
            account("mastodon", {"instance": api.url, "token": "${MASTO}"}), run.context(terminal)
        )
        [app] = oauth.apps
        asked = query_of(terminal.urls[0])
        assert app["redirect_uri"] == asked["redirect_uri"]
        assert asked["client_id"] == app["client_id"] and "code_challenge" in asked
        assert got.values == {"token": api.token}
        assert got.identity == f"@{api.username}" and got.granted.missing == ()
        assert api.scopes == {"read:accounts", "read:statuses", "write:media", "write:statuses"}


async def test_mastodon_before_4_3_goes_without_pkce() -> None:
    oauth = MastodonOAuth(pkce=False)
    async with oauth.server() as api, running() as run:
        terminal = run.terminal()
        got = await connect_mastodon(
            account("mastodon", {"instance": api.url, "token": "${MASTO}"}), run.context(terminal)
        )
        assert "code_challenge" not in query_of(terminal.urls[0])
        assert got.values == {"token": api.token}
        assert any("PKCE" in n for n in got.notes)


async def test_linkedin_records_the_expiry_and_the_scopes_granted() -> None:
    async with LinkedInServer() as server, running() as run:
        table = {
            "api_base": server.url,
            "author": "urn:li:organization:5515715",
            "token": "${LI_TOKEN}",
            "token_expires": "${LI_EXPIRES}",
            "client_id": server.client.client_id,
            "client_secret": "${LI_SECRET}",
        }
        env = {"LI_SECRET": server.client.client_secret or ""}
        terminal = run.terminal()
        got = await connect_linkedin(account("linkedin", table, env), run.context(terminal, port=0))
        assert "code_challenge" not in query_of(terminal.urls[0])
        assert got.values["token"] == server.tokens[0]
        assert got.values["token_expires"] == (T0 + timedelta(days=60)).isoformat()
        assert got.granted.missing == ()
        # A member's token asks the member scopes.
        table["author"] = "urn:li:person:AbC-123"
        terminal = run.terminal()
        got = await connect_linkedin(account("linkedin", table, env), run.context(terminal, port=0))
        assert query_of(terminal.urls[0])["scope"].split() == [
            "openid",
            "profile",
            "w_member_social",
        ]


async def test_linkedin_wrong_client_secret_is_refused() -> None:
    async with LinkedInServer() as server, running() as run:
        table = {
            "api_base": server.url,
            "author": "urn:li:organization:1",
            "token": "${LI_TOKEN}",
            "client_id": server.client.client_id,
            "client_secret": "${LI_SECRET}",
        }
        env = {"LI_SECRET": "not-the-secret-0123456789"}
        with pytest.raises(ConnectError, match="401"):
            await connect_linkedin(
                account("linkedin", table, env), run.context(run.terminal(), port=0)
            )
        assert "not-the-secret" not in "".join(server.issuer.refused)


async def test_a_taken_loopback_port_is_said_with_the_way_out() -> None:
    async with XServer() as server, running() as run:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(ConnectError, match=f"127.0.0.1:{port}.*--port"):
                await connect_x(
                    account("x", x_account(server), x_env(server)),
                    run.context(run.terminal(), port=port),
                )
        assert server.issuer.authorizations == []


async def test_the_registered_port_is_used_when_the_app_names_it() -> None:
    async with XServer() as server, running() as run:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server.client.redirect_uris = (f"http://127.0.0.1:{port}/callback",)
        terminal = run.terminal()
        got = await connect_x(
            account("x", x_account(server), x_env(server)), run.context(terminal, port=port)
        )
        assert query_of(terminal.urls[0])["redirect_uri"] == f"http://127.0.0.1:{port}/callback"
        assert got.values["oauth2_token"] in server.tokens


async def test_mastodon_out_of_band_code_is_pasted() -> None:
    oauth = MastodonOAuth()
    async with oauth.server() as api, running() as run:
        terminal = BrowserTerminal(None)
        oob = "urn:ietf:wg:oauth:2.0:oob"
        task = asyncio.create_task(
            connect_mastodon(
                account("mastodon", {"instance": api.url, "token": "${MASTO}"}),
                run.context(terminal, redirect_uri=oob),
            )
        )
        await terminal.shown.wait()
        shown_page = await run.browser.address_bar(terminal.urls[0])  # the code, on a page
        assert shown_page.startswith(oob + "?")
        terminal.pastes.put_nowait(query_of(shown_page)["code"])  # the code alone
        got = await task
        assert got.values == {"token": api.token} and oauth.apps[0]["redirect_uri"] == oob
