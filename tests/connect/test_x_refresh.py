"""X connected, then published to: the pair the connect stores seeds the adapter's
``token_file``, so the adapter refreshes on time with the refresh token the connect got, on the
existing strict X server (tests/networks/x)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from publisher.adapters.base import AdapterContext, DeliveryRef, PostContent
from publisher.adapters.x import XAdapter, XSettings
from publisher.adapters.x_auth import read_token_file
from publisher.connect import FLOWS
from publisher.connect.oauth_nets import connect_x
from publisher.connect.targets import place, plan
from publisher.connect.vault import store
from publisher.secrets import Secret, SecretSource
from tests.conftest import T0
from tests.connect.kit import account, running
from tests.connect.servers import XServer as XAuthorization
from tests.networks.x.server import XServer

ACCESS = "xb2-connected-access-token-0123456789"
REFRESH = "xr2-connected-refresh-token-0123456789"


async def test_connected_tokens_publish_then_refresh_on_time(tmp_path: Path) -> None:
    token_file = tmp_path / "state" / "x-brand.json"
    token_file.parent.mkdir(mode=0o700)
    creds = tmp_path / "creds"
    async with running() as run, XAuthorization() as auth:
        auth.next_token, auth.next_refresh = ACCESS, REFRESH
        table = {
            "api_base": auth.url,
            "client_id": auth.client.client_id,
            "client_secret": "${X_CLIENT_SECRET}",
            "oauth2_token": "${X_TOKEN}",
            "oauth2_refresh_token": "${X_REFRESH}",
            "token_file": str(token_file),
        }
        acct = account("x", table, {"X_CLIENT_SECRET": auth.client.client_secret or ""})
        got = await connect_x(acct, run.context(run.terminal(), port=0))
        store(creds, place(acct, plan(acct, FLOWS["x"]), got).values)
        for keep in got.keep:
            keep.write(keep.path)
        source = SecretSource({}, creds)
        async with XServer(
            bearer_token=ACCESS,
            refresh_token=REFRESH,
            client_id=auth.client.client_id,
            client_secret=auth.client.client_secret,
            now=run.clock.now,
        ) as api:
            settings = XSettings(
                api_base=api.url,
                oauth2_token=Secret("X_TOKEN", source.lookup("X_TOKEN", "t")),
                oauth2_refresh_token=Secret("X_REFRESH", source.lookup("X_REFRESH", "t")),
                client_id=auth.client.client_id,
                client_secret=Secret("X_CLIENT_SECRET", auth.client.client_secret),
                token_file=str(token_file),
            )
            adapter = XAdapter("brand", settings, AdapterContext(run.session, run.clock))

            async def publish(post_id: str, text: str) -> None:
                post = PostContent(post_id=post_id, account="brand", network="x", text=text)
                rendered = adapter.render(post)
                await adapter.publish(rendered, DeliveryRef(1, post_id, "brand", T0))

            await publish("p1", "Connected")
            assert api.token_requests == []  # the connected token is good for two hours
            await run.clock.advance(timedelta(hours=2))
            await publish("p2", "Two hours later")
            [refresh] = api.token_requests
            assert refresh.form["refresh_token"] == REFRESH  # the one the connect stored
            assert [p.body["text"] for p in api.created] == ["Connected", "Two hours later"]
            kept = read_token_file(token_file, "t")
            assert kept is not None and (kept.access, kept.refresh) == api.issued[0]
