"""X OAuth 2 token refresh: once per expiry however many publishes, rotated pair kept on disk."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import stat
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from publisher.adapters.base import (
    AdapterContext,
    AdapterError,
    Attention,
    CheckStatus,
    DeliveryRef,
    MediaItem,
    PermanentError,
    PostContent,
    Rendered,
    TransientError,
)
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.logs import setup_logging
from publisher.media import MediaRef
from publisher.secrets import REDACTOR, Secret
from tests.networks.x.server import XServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
SEED_ACCESS = "xb2-oauth2-user-token-0005"  # XServer's first pair, as configured
SEED_REFRESH = "xr2-oauth2-refresh-token-0006"


# ---------------------------------------------------------------------------
# Fixtures and helpers.


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[XServer]:
    async with XServer(now=clock.now) as srv:
        yield srv
    assert srv.problems == [], srv.problems


@pytest.fixture
async def context(clock: FakeClock) -> AsyncIterator[AdapterContext]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=2)

    async def wait(delay: timedelta) -> None:
        await clock.advance(delay)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield AdapterContext(session=session, clock=clock, timeout=timeout, wait=wait)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return state / "x-brand.json"


def oauth2_settings(server: XServer, token_file: Path, **changes: Any) -> XSettings:
    """The configured seed pair: what X issued first, whatever it holds now."""
    secret = server.client_secret
    values: dict[str, Any] = {
        "oauth2_token": Secret("X_OAUTH2_TOKEN", SEED_ACCESS),
        "oauth2_refresh_token": Secret("X_OAUTH2_REFRESH", SEED_REFRESH),
        "client_id": server.client_id,
        "client_secret": Secret("X_CLIENT_SECRET", secret) if secret is not None else None,
        "token_file": str(token_file),
        "api_base": server.url,
        **changes,
    }
    return XSettings(**{k: v for k, v in values.items() if v is not None})


def adapter_for(
    server: XServer, context: AdapterContext, token_file: Path, **changes: Any
) -> XAdapter:
    return XAdapter("brand-x", oauth2_settings(server, token_file, **changes), context)


def content(text: str, post_id: str = "p1", **kw: Any) -> PostContent:
    return PostContent(post_id=post_id, account="brand-x", network="x", text=text, **kw)


def ref(post_id: str = "p1") -> DeliveryRef:
    return DeliveryRef(1, post_id, "brand-x", NOW)


def render(adapter: XAdapter, post: PostContent) -> Rendered:
    rendered = adapter.render(post)
    assert not rendered.errors, rendered.errors
    return rendered


async def publish(adapter: XAdapter, text: str, post_id: str = "p1") -> str:
    published = await adapter.publish(render(adapter, content(text, post_id)), ref(post_id))
    return published.remote_id


def saved(token_file: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(token_file.read_text(encoding="utf-8"))
    return doc


def every_token(server: XServer) -> list[str]:
    values = [SEED_ACCESS, SEED_REFRESH]
    values += [v for pair in server.issued for v in pair]
    if server.client_secret:
        values.append(server.client_secret)
    return values


def error_text(err: BaseException) -> str:
    reason = err.reason if isinstance(err, AdapterError) else ""
    return "\n".join([str(err), repr(err), reason, "".join(traceback.format_exception(err))])


# ---------------------------------------------------------------------------
# Refreshing.


async def test_expired_token_is_refreshed_once_and_the_post_goes_out(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    adapter = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    remote_id = await publish(adapter, "Bonjour")
    [post] = server.created
    assert post.id == remote_id and post.auth == "oauth2"
    [refresh] = server.token_requests
    assert refresh.auth == "basic"  # confidential client: HTTP Basic
    assert refresh.form == {
        "grant_type": "refresh_token",
        "refresh_token": SEED_REFRESH,
        "client_id": server.client_id,
    }
    assert refresh.status == 200
    # The first POST /2/tweets met a 401, the second one (new token) went out.
    assert [r.status for r in server.hits("POST", "/2/tweets")] == [401, 201]
    # The rotated pair is on disk, owner-only, with its expiry.
    [(access, refresh_token)] = server.issued
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    doc = saved(token_file)
    assert (doc["access_token"], doc["refresh_token"]) == (access, refresh_token)
    assert datetime.fromisoformat(doc["expires_at"]) == NOW + timedelta(hours=2)
    assert [p.name for p in token_file.parent.iterdir()] == [token_file.name]  # no temp left
    # The old refresh token is spent at X: the adapter must never send it again.
    assert server.refresh_token == refresh_token


async def test_five_concurrent_publishes_share_one_refresh(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    adapter = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    ids = await asyncio.gather(
        *(publish(adapter, f"Post number {i}", f"p{i}") for i in range(5))
    )
    assert len(server.token_requests) == 1
    # All five met the 401 (they ran at once); four waited for the one refresh.
    statuses = [r.status for r in server.hits("POST", "/2/tweets")]
    assert sorted(statuses) == [201] * 5 + [401] * 5
    assert len(server.created) == 5
    assert sorted(ids) == sorted(p.id for p in server.created)
    assert {p.body["text"] for p in server.created} == {f"Post number {i}" for i in range(5)}
    assert saved(token_file)["access_token"] == server.access_token_now


async def test_a_token_older_than_the_current_one_retries_without_refreshing(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    adapter = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    await publish(adapter, "First")  # refreshes
    assert len(server.token_requests) == 1
    # The next publish starts from the new token straight away.
    await publish(adapter, "Second", "p2")
    assert len(server.token_requests) == 1
    assert [r.status for r in server.hits("POST", "/2/tweets")] == [401, 201, 201]


async def test_media_upload_is_sent_again_after_the_refresh(
    server: XServer, context: AdapterContext, token_file: Path, tmp_path: Path
) -> None:
    image = tmp_path / "shop.png"
    image.write_bytes(PNG)
    adapter = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    photo = MediaItem(MediaRef.beside(image), "La vitrine", "image/png", len(PNG))
    post = content("Vitrine", media=(photo,))
    await adapter.publish(render(adapter, post), ref())
    assert [r.status for r in server.hits("POST", "/2/media/upload")] == [401, 200]
    [media] = server.media.values()
    assert media.content == PNG  # the multipart body was rebuilt whole for the resend
    assert media.alt_text == "La vitrine"
    assert len(server.token_requests) == 1
    assert len(server.created) == 1


async def test_proactive_refresh_a_minute_before_expiry(
    server: XServer, context: AdapterContext, token_file: Path, clock: FakeClock
) -> None:
    adapter = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    await publish(adapter, "First")
    await clock.advance(timedelta(hours=2) - timedelta(seconds=30))
    await publish(adapter, "Second", "p2")
    assert len(server.token_requests) == 2
    # No 401 for the second post: the token was renewed before it was sent.
    assert [r.status for r in server.hits("POST", "/2/tweets")] == [401, 201, 201]


async def test_public_client_sends_client_id_in_the_body(
    clock: FakeClock, context: AdapterContext, token_file: Path
) -> None:
    async with XServer(now=clock.now, client_secret=None) as server:
        adapter = adapter_for(server, context, token_file)
        server.expire_access_tokens()
        await publish(adapter, "Bonjour")
        [refresh] = server.token_requests
        assert refresh.auth == "public"
        assert refresh.form is not None and refresh.form["client_id"] == server.client_id
        assert len(server.created) == 1


async def test_still_401_after_the_refresh_is_a_credentials_error(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    adapter = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    # The resend is the first POST /2/tweets the server lets through authentication.
    server.fail("POST", "/2/tweets", nth=1, status=401)
    with pytest.raises(PermanentError) as info:
        await publish(adapter, "Bonjour")
    assert info.value.attention is Attention.CREDENTIALS
    assert "account needs attention" in info.value.reason
    assert len(server.token_requests) == 1  # one refresh, one resend, no loop
    assert server.created == []


# ---------------------------------------------------------------------------
# When the refresh fails.


async def test_refused_refresh_token_holds_the_account_without_leaking(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    adapter = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    server.revoke_refresh_token()
    with pytest.raises(PermanentError) as info:
        await publish(adapter, "Bonjour")
    err = info.value
    assert err.attention is Attention.CREDENTIALS
    assert "account needs attention: refresh token refused" in err.reason
    assert "invalid_request" in err.reason
    assert server.created == []
    text = error_text(err)
    for token in every_token(server):
        assert token not in text
    # The refused token is not sent again on the next attempt (the engine retries later).
    with pytest.raises(PermanentError) as again:
        await publish(adapter, "Bonjour")
    assert again.value.attention is Attention.CREDENTIALS
    assert "refresh token refused" in again.value.reason
    assert len(server.token_requests) == 1
    assert not token_file.exists()
    check = await adapter.check()
    assert check.status is CheckStatus.ATTENTION and "refresh token refused" in check.detail


async def test_wrong_client_secret_is_a_credentials_error(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    adapter = adapter_for(
        server, context, token_file, client_secret=Secret("X_CLIENT_SECRET", "not-the-secret")
    )
    server.expire_access_tokens()
    with pytest.raises(PermanentError) as info:
        await publish(adapter, "Bonjour")
    assert info.value.attention is Attention.CREDENTIALS
    assert "client_id, client_secret" in info.value.reason
    assert "not-the-secret" not in error_text(info.value)
    assert server.refresh_token == SEED_REFRESH  # nothing was rotated


async def test_token_endpoint_5xx_is_transient_even_while_posting(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    adapter = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    server.fail("POST", "/2/oauth2/token", status=503)
    with pytest.raises(TransientError) as info:  # a 401 created nothing: not ambiguous
        await publish(adapter, "Bonjour")
    assert "refreshing the OAuth 2 token" in info.value.reason
    # The refresh token was not spent: the next attempt refreshes and posts.
    await publish(adapter, "Bonjour")
    assert len(server.token_requests) == 2
    assert len(server.created) == 1


# ---------------------------------------------------------------------------
# The token file.


async def test_a_new_adapter_reads_the_rotated_pair_from_the_token_file(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    first = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    await publish(first, "Before the restart")
    # A restart: same configuration, whose pair X no longer accepts.
    second = adapter_for(server, context, token_file)
    await publish(second, "After the restart", "p2")
    assert len(server.token_requests) == 1  # the saved access token was used as it was
    assert [r.status for r in server.hits("POST", "/2/tweets")] == [401, 201, 201]
    # And when it expires, the saved refresh token (not the configured, spent one) is used.
    server.expire_access_tokens()
    await publish(second, "Later", "p3")
    assert len(server.token_requests) == 2
    assert server.token_requests[1].form is not None
    assert server.token_requests[1].form["refresh_token"] == server.issued[0][1]
    assert server.token_requests[1].status == 200


async def test_an_instance_takes_the_pair_another_instance_saved(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    # A config reload builds a second adapter while the first one is still around.
    old = adapter_for(server, context, token_file)
    new = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    await publish(new, "From the new instance")
    # The old instance holds the spent pair; it must read the file, not spend it.
    await publish(old, "From the old instance", "p2")
    assert len(server.token_requests) == 1
    assert len(server.created) == 2


async def test_a_newly_configured_pair_wins_over_an_old_token_file(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    first = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    await publish(first, "Before")
    # The operator authorized the app again: X issued a fresh pair, now in the config.
    server.expire_access_tokens()
    server.revoke_refresh_token()
    server.refresh_token = "xr2-reauthorized-refresh-0099"
    second = adapter_for(
        server,
        context,
        token_file,
        oauth2_refresh_token=Secret("X_OAUTH2_REFRESH", "xr2-reauthorized-refresh-0099"),
    )
    await publish(second, "After", "p2")
    assert server.token_requests[-1].form is not None
    assert server.token_requests[-1].form["refresh_token"] == "xr2-reauthorized-refresh-0099"
    assert saved(token_file)["refresh_token"] == server.refresh_token


async def test_group_readable_token_file_is_refused(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    secret_pair = {"access_token": SEED_ACCESS, "refresh_token": SEED_REFRESH}
    token_file.write_text(json.dumps(secret_pair), encoding="utf-8")
    token_file.chmod(0o640)
    adapter = adapter_for(server, context, token_file)  # building it never fails
    with pytest.raises(PermanentError) as info:
        await publish(adapter, "Bonjour")
    err = info.value
    assert err.attention is Attention.CREDENTIALS
    assert "readable by group or others" in err.reason
    assert f"chmod 600 {token_file}" in err.reason
    assert "accounts.brand-x.token_file" in err.reason
    assert server.requests == []
    for value in secret_pair.values():
        assert value not in error_text(err)
    check = await adapter.check()
    assert check.status is CheckStatus.ATTENTION
    assert "readable by group or others" in check.detail
    # Once fixed, the same adapter uses it: no restart needed.
    token_file.chmod(0o600)
    await publish(adapter, "Bonjour")
    assert len(server.created) == 1


async def test_a_token_file_that_is_not_ours_is_refused(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    token_file.write_text("access_token=xb2-not-json-0044\n", encoding="utf-8")
    token_file.chmod(0o600)
    adapter = adapter_for(server, context, token_file)
    with pytest.raises(PermanentError) as info:
        await publish(adapter, "Bonjour")
    assert info.value.attention is Attention.CREDENTIALS
    assert "not a JSON object with access_token and refresh_token" in info.value.reason
    assert "xb2-not-json-0044" not in error_text(info.value)
    assert server.requests == []


async def test_unwritable_token_file_still_posts_and_says_so(
    server: XServer,
    context: AdapterContext,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nowhere = tmp_path / "missing-dir" / "x-brand.json"
    adapter = adapter_for(server, context, nowhere)
    server.expire_access_tokens()
    with caplog.at_level(logging.ERROR, logger="publisher.network.x"):
        await publish(adapter, "Bonjour")
    assert len(server.created) == 1
    assert any("cannot save the refreshed X tokens" in r.getMessage() for r in caplog.records)
    # The rotated pair is still used from memory.
    server.expire_access_tokens()
    await publish(adapter, "Encore", "p2")
    assert server.token_requests[-1].form is not None
    assert server.token_requests[-1].form["refresh_token"] == server.issued[0][1]


# ---------------------------------------------------------------------------
# Secrets never show.


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = setup_logging("text", "debug", stream, journal=False, quiet=())
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_no_token_in_logs_errors_or_reprs(
    server: XServer,
    context: AdapterContext,
    token_file: Path,
    log_stream: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = adapter_for(server, context, token_file)
    server.expire_access_tokens()
    await asyncio.gather(*(publish(adapter, f"Post {i}", f"p{i}") for i in range(3)))
    server.expire_access_tokens()
    server.revoke_refresh_token()
    with pytest.raises(PermanentError) as info:
        await publish(adapter, "Refused", "p9")
    tokens = every_token(server)
    assert len(tokens) == 5  # the seed pair, the rotated pair, the client secret
    pair = f"{server.client_id}:{server.client_secret}".encode()
    tokens.append(base64.b64encode(pair).decode())
    # Every value is known to the process-wide redactor.
    for token in tokens:
        assert REDACTOR.scrub(f"x {token} y") == "x *** y"
    # Nothing we log carries one, even before scrubbing; nor the formatted lines.
    raw = "\n".join(r.getMessage() for r in caplog.records)
    assert "X OAuth 2 token refreshed" in raw
    shown = "\n".join(
        [
            raw,
            log_stream.getvalue(),
            error_text(info.value),
            repr(adapter.settings),
            str(adapter.settings.model_dump()),
            repr(adapter.secrets()),
            repr(vars(adapter)),
            repr(vars(adapter._refresher)),
        ]
    )
    for token in tokens:
        assert token not in shown
    assert "X OAuth 2 token refreshed" in log_stream.getvalue()


# ---------------------------------------------------------------------------
# Settings.


def test_settings_for_refreshing() -> None:
    s = Secret("S", "value-1234")
    ok = XSettings(
        oauth2_token=s,
        oauth2_refresh_token=s,
        client_id="abc",
        token_file="/var/lib/publisher/x-brand.json",
    )
    assert ok.client_secret is None  # a public client
    with pytest.raises(ValidationError, match="oauth2_refresh_token needs client_id"):
        XSettings(oauth2_token=s, oauth2_refresh_token=s, token_file="/var/lib/p/x.json")
    with pytest.raises(ValidationError, match="oauth2_refresh_token needs token_file"):
        XSettings(oauth2_token=s, oauth2_refresh_token=s, client_id="abc")
    with pytest.raises(ValidationError, match="token_file must be an absolute path"):
        XSettings(oauth2_token=s, oauth2_refresh_token=s, client_id="abc", token_file="x.json")
    with pytest.raises(ValidationError, match="set oauth2_refresh_token too"):
        XSettings(oauth2_token=s, client_id="abc", client_secret=s)
    with pytest.raises(ValidationError, match="only go with oauth2_token"):
        XSettings(api_key=s, api_secret=s, access_token=s, access_secret=s, client_id="abc")
    with pytest.raises(ValidationError, match="no X credentials"):
        XSettings(oauth2_refresh_token=s, client_id="abc", token_file="/x.json")
    assert "value-1234" not in repr(ok)


async def test_unresolved_seed_with_no_token_file_is_a_credentials_error(
    server: XServer, context: AdapterContext, token_file: Path
) -> None:
    adapter = adapter_for(
        server, context, token_file, oauth2_refresh_token=Secret("X_OAUTH2_REFRESH", None)
    )
    with pytest.raises(PermanentError) as info:
        await publish(adapter, "Bonjour")
    assert info.value.attention is Attention.CREDENTIALS
    assert "X_OAUTH2_REFRESH" in info.value.reason
    assert server.requests == []
