"""The connect flows of the networks with a plain authorization code: X, Mastodon, LinkedIn.

Each is the documented shape, as implemented here:

* X (OAuth 2.0 Authorization Code with PKCE, docs.x.com "OAuth 2.0 Authorization Code Flow
  with PKCE"): ``GET https://x.com/i/oauth2/authorize`` then ``POST /2/oauth2/token`` on the API
  with ``code_verifier``; a confidential client authenticates with HTTP Basic, a public one
  sends ``client_id``. ``offline.access`` brings a refresh token, which the adapter's
  ``Refresher`` rotates in ``token_file`` (the pair is seeded there too).
* Mastodon (docs.joinmastodon.org, "OAuth" and ``POST /api/v1/apps``): the app is registered
  on the instance for this redirect URI and these scopes, then ``GET /oauth/authorize`` and
  ``POST /oauth/token``; PKCE S256 when ``/.well-known/oauth-authorization-server`` lists it
  (Mastodon 4.3 and later).
* LinkedIn (learn.microsoft.com, "Authorization Code Flow (3-legged OAuth)"):
  ``GET https://www.linkedin.com/oauth/v2/authorization`` then ``POST /oauth/v2/accessToken``
  with the app's client id and secret; the token lasts ``expires_in`` (60 days), recorded in
  ``token_expires`` for the adapter's expiry warning.

A network whose ``api_base`` is not its own (a proxy, a test server) has its authorization
pages there too.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from publisher.adapters.x_auth import TokenPair, fingerprint, write_token_file
from publisher.connect.flow import (
    Account,
    ConnectError,
    Context,
    Flow,
    Granted,
    Keep,
    Obtained,
    Output,
    Purpose,
    Scopes,
)
from publisher.connect.oauth import (
    REGISTERED_PORT,
    Authorization,
    Pkce,
    authorize,
    bearer,
    call,
    chosen_redirect,
    expires_at,
    redirect,
    scope_set,
    token_string,
)

# ---------------------------------------------------------------------------- X

X_API = "https://api.x.com"
X_AUTHORIZE = "https://x.com/i/oauth2/authorize"
X_SCOPES = Scopes(
    {
        Purpose.PUBLISH: (
            "tweet.read",
            "tweet.write",
            "users.read",
            "media.write",
            "offline.access",
        ),
        Purpose.ENGAGEMENT: ("like.read",),
        Purpose.LISTENING: ("follows.read",),
    }
)


def _token_file(ctx: Context, path: Path, access: str, refresh: str, doc: dict[str, Any]) -> Keep:
    """The adapter's ``token_file`` seeded with the new pair, its expiry and its seed: the
    ``Refresher`` then refreshes on time instead of after a 401."""
    now = ctx.clock.now()
    lifetime = doc.get("expires_in")
    expires = (
        now + timedelta(seconds=lifetime)
        if isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime > 0
        else None
    )
    pair = TokenPair(access, refresh, expires, fingerprint(refresh))
    return Keep(path, lambda p: write_token_file(p, pair, now))


async def connect_x(account: Account, ctx: Context) -> Obtained:
    api = (account.text("api_base") or X_API).rstrip("/")
    endpoint = X_AUTHORIZE if api == X_API else f"{api}/i/oauth2/authorize"
    client_id = account.needs("client_id", "to authorize: the app's OAuth 2.0 Client ID").strip()
    client_secret = account.text("client_secret")  # a confidential client's; None: public
    needed = X_SCOPES.needed(ctx.options.purposes)
    state, pkce = secrets.token_urlsafe(32), Pkce.new()
    async with redirect(ctx, REGISTERED_PORT, state) as loopback:
        redirect_uri = chosen_redirect(ctx, loopback)
        auth = Authorization(endpoint, client_id, redirect_uri, needed, state=state, pkce=pkce)
        code = await authorize(ctx, auth, loopback)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": pkce.verifier,
        "client_id": client_id,
    }
    basic = (client_id, client_secret) if client_secret else None
    what = "exchanging the code for X tokens"
    doc = await call(ctx, "POST", f"{api}/2/oauth2/token", what, form=form, basic=basic)
    access = token_string(doc, "access_token", what)
    values = {"oauth2_token": access}
    keep: tuple[Keep, ...] = ()
    notes: list[str] = []
    refresh = doc.get("refresh_token")
    if isinstance(refresh, str) and refresh:
        refresh = token_string(doc, "refresh_token", what)
        values["oauth2_refresh_token"] = refresh
        token_file = account.text("token_file")
        if token_file:
            keep = (_token_file(ctx, Path(token_file), access, refresh, doc),)
    else:
        notes.append("X gave no refresh token (offline.access not granted): the token lasts 2 h")
    me = await call(ctx, "GET", f"{api}/2/users/me", "reading the account", headers=bearer(access))
    data = me.get("data") if isinstance(me.get("data"), dict) else {}
    identity = f"@{data.get('username')}" if isinstance(data, dict) else "?"
    granted = Granted(needed, scope_set(doc.get("scope")))
    return Obtained(values, granted, identity, tuple(notes), keep)


X_FLOW = Flow(
    "x",
    (
        Output(("oauth2_token",)),
        Output(("oauth2_refresh_token",), required=False),
    ),
    connect_x,
)

# ---------------------------------------------------------------------------- Mastodon

MASTODON_SCOPES = Scopes(
    {
        Purpose.PUBLISH: ("read:accounts", "read:statuses", "write:media", "write:statuses"),
        Purpose.ENGAGEMENT: ("read:notifications",),
        Purpose.LISTENING: ("read:search",),
    }
)


def instance_url(value: str) -> str:
    value = value.strip().rstrip("/")
    return value if "://" in value else f"https://{value}"


async def _supports_pkce(ctx: Context, instance: str) -> bool:
    try:
        meta = await call(
            ctx, "GET", f"{instance}/.well-known/oauth-authorization-server", "reading metadata"
        )
    except ConnectError:
        return False  # before Mastodon 4.3: no metadata, no PKCE
    methods = meta.get("code_challenge_methods_supported")
    return isinstance(methods, list) and "S256" in methods


async def connect_mastodon(account: Account, ctx: Context) -> Obtained:
    instance = instance_url(account.needs("instance", "(the server's base URL)"))
    needed = MASTODON_SCOPES.needed(ctx.options.purposes)
    pkce = Pkce.new() if await _supports_pkce(ctx, instance) else None
    state = secrets.token_urlsafe(32)
    async with redirect(ctx, 0, state) as loopback:
        redirect_uri = chosen_redirect(ctx, loopback)
        app = await call(
            ctx,
            "POST",
            f"{instance}/api/v1/apps",
            "registering the app on the instance",
            form={
                "client_name": f"publisher ({account.name})",
                "redirect_uris": redirect_uri,
                "scopes": " ".join(needed),
            },
        )
        client_id = token_string(app, "client_id", "registering the app")
        client_secret = token_string(app, "client_secret", "registering the app")
        auth = Authorization(
            f"{instance}/oauth/authorize", client_id, redirect_uri, needed, state=state, pkce=pkce
        )
        code = await authorize(ctx, auth, loopback)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
        "scope": " ".join(needed),
    }
    if pkce is not None:
        form["code_verifier"] = pkce.verifier
    what = "exchanging the code for a Mastodon token"
    doc = await call(ctx, "POST", f"{instance}/oauth/token", what, form=form)
    token = token_string(doc, "access_token", what)
    me = await call(
        ctx,
        "GET",
        f"{instance}/api/v1/accounts/verify_credentials",
        "reading the account",
        headers=bearer(token),
    )
    identity = f"@{me.get('acct') or me.get('username')}"
    notes = () if pkce else ("the instance does not offer PKCE: the code was sent without it",)
    return Obtained({"token": token}, Granted(needed, scope_set(doc.get("scope"))), identity, notes)


MASTODON_FLOW = Flow("mastodon", (Output(("token",)),), connect_mastodon)

# ---------------------------------------------------------------------------- LinkedIn

LINKEDIN_API = "https://api.linkedin.com"
LINKEDIN_AUTH = "https://www.linkedin.com"
LINKEDIN_SCOPES = Scopes(
    {
        Purpose.PUBLISH: ("w_organization_social", "rw_organization_admin"),
        Purpose.ENGAGEMENT: ("r_organization_social",),
    }
)
LINKEDIN_MEMBER_SCOPES = Scopes(
    {Purpose.PUBLISH: ("openid", "profile", "w_member_social"), Purpose.ENGAGEMENT: ()}
)


def linkedin_scopes(author: str | None) -> Scopes:
    """A member posts with the member scopes, a page (organization) with the page ones."""
    member = author is not None and author.strip().startswith("urn:li:person:")
    return LINKEDIN_MEMBER_SCOPES if member else LINKEDIN_SCOPES


async def connect_linkedin(account: Account, ctx: Context) -> Obtained:
    api = (account.text("api_base") or LINKEDIN_API).rstrip("/")
    base = LINKEDIN_AUTH if api == LINKEDIN_API else api
    client_id = account.needs("client_id", "to authorize: the app's Client ID").strip()
    client_secret = account.needs("client_secret", "to authorize: the app's Primary Client Secret")
    needed = linkedin_scopes(account.text("author")).needed(ctx.options.purposes)
    state = secrets.token_urlsafe(32)
    async with redirect(ctx, REGISTERED_PORT, state) as loopback:
        redirect_uri = chosen_redirect(ctx, loopback)
        auth = Authorization(
            f"{base}/oauth/v2/authorization", client_id, redirect_uri, needed, state=state
        )
        code = await authorize(ctx, auth, loopback)
    what = "exchanging the code for a LinkedIn token"
    doc = await call(
        ctx,
        "POST",
        f"{base}/oauth/v2/accessToken",
        what,
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    token = token_string(doc, "access_token", what)
    values = {"token": token}
    expires = expires_at(ctx, doc)
    notes: list[str] = []
    if expires is not None:
        values["token_expires"] = expires
        notes.append(f"the token expires {expires}: run accounts connect again before then")
    granted = Granted(needed, scope_set(doc.get("scope"), ","))
    return Obtained(values, granted, account.text("author") or "", tuple(notes))


LINKEDIN_FLOW = Flow(
    "linkedin",
    (Output(("token",)), Output(("token_expires",), secret=False, required=False)),
    connect_linkedin,
)
