"""The connect flows of Meta's networks: Facebook Pages and Instagram through Facebook Login,
Threads through its own OAuth on threads.net.

The documented shapes implemented here (developers.facebook.com, "Manually Build a Login
Flow", "Long-Lived Access Tokens", "Get Page Access Tokens"; the Instagram Graph API's "Get
Started"; Threads API "Get Access Tokens and Permissions" and "Long-Lived Access Tokens"):

1. Facebook Login: ``GET https://www.facebook.com/{version}/dialog/oauth`` (scopes comma
   separated), then ``GET /{version}/oauth/access_token`` with the app secret and the code:
   a short-lived user token (an hour or two).
2. ``GET /oauth/access_token?grant_type=fb_exchange_token``: the long-lived user token
   (60 days), and ``GET /me/permissions``: the scopes granted.
3. ``GET /me/accounts`` with it: each Page's token, which (obtained from a long-lived user
   token) does not expire. The page is the configured ``page_id``, the only one, or the
   operator's choice.
4. Instagram: ``GET /{page-id}?fields=instagram_business_account`` gives the Instagram
   professional account's id, published to with the same Page token.

Threads: ``GET https://threads.net/oauth/authorize``, ``POST
https://graph.threads.net/oauth/access_token`` (a short-lived token and the user id), then
``GET https://graph.threads.net/access_token?grant_type=th_exchange_token``: the long-lived
token (60 days, refreshed with ``th_refresh_token``).
"""

from __future__ import annotations

import secrets
from typing import Any

from publisher.connect.flow import (
    Account,
    ConnectError,
    Context,
    Flow,
    Granted,
    Obtained,
    Output,
    Purpose,
    Scopes,
)
from publisher.connect.oauth import (
    REGISTERED_PORT,
    Authorization,
    authorize,
    call,
    chosen_redirect,
    expires_at,
    redirect,
    scope_set,
    token_string,
)

GRAPH = "https://graph.facebook.com"
DIALOG = "https://www.facebook.com"
VERSION = "v23.0"

FACEBOOK_SCOPES = Scopes(
    {
        Purpose.PUBLISH: ("pages_show_list", "pages_manage_posts", "pages_read_engagement"),
        Purpose.ENGAGEMENT: ("read_insights", "pages_read_user_content"),
    }
)
INSTAGRAM_SCOPES = Scopes(
    {
        Purpose.PUBLISH: (
            "pages_show_list",
            "pages_read_engagement",
            "business_management",
            "instagram_basic",
            "instagram_content_publish",
        ),
        Purpose.ENGAGEMENT: ("instagram_manage_insights", "instagram_manage_comments"),
    }
)
THREADS_SCOPES = Scopes(
    {
        Purpose.PUBLISH: ("threads_basic", "threads_content_publish"),
        Purpose.ENGAGEMENT: ("threads_manage_insights", "threads_read_replies"),
        Purpose.LISTENING: ("threads_keyword_search",),
    }
)

# The settings the Instagram and Threads adapters may call them by: the first present wins.
APP_ID = ("client_id", "app_id")
APP_SECRET = ("client_secret", "app_secret")


def first_key(account: Account, keys: tuple[str, ...]) -> str:
    return next((k for k in keys if k in account.table), keys[0])


def _app(account: Account, what: str) -> tuple[str, str]:
    app_id = account.needs(first_key(account, APP_ID), f"to authorize: the {what} App ID")
    secret = account.needs(first_key(account, APP_SECRET), f"to authorize: the {what} App Secret")
    return app_id.strip(), secret


def _graph(account: Account) -> tuple[str, str, str]:
    """(graph base, dialog base, version): the dialog follows a graph that is not Meta's."""
    base = (account.text("api_base") or GRAPH).rstrip("/")
    version = account.text("api_version") or VERSION
    return base, DIALOG if base == GRAPH else base, version


async def _user_token(
    account: Account, ctx: Context, needed: tuple[str, ...]
) -> tuple[str, Granted, list[str]]:
    """Facebook Login then the long-lived exchange: the user token and the scopes granted."""
    graph, dialog, version = _graph(account)
    app_id, app_secret = _app(account, "Meta app's")
    state = secrets.token_urlsafe(32)
    async with redirect(ctx, REGISTERED_PORT, state) as loopback:
        redirect_uri = chosen_redirect(ctx, loopback)
        auth = Authorization(
            f"{dialog}/{version}/dialog/oauth",
            app_id,
            redirect_uri,
            needed,
            state=state,
            scope_separator=",",
        )
        code = await authorize(ctx, auth, loopback)
    api = f"{graph}/{version}"
    what = "exchanging the code for a user token"
    short = await call(
        ctx,
        "GET",
        f"{api}/oauth/access_token",
        what,
        params={
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "client_secret": app_secret,
            "code": code,
        },
    )
    what = "exchanging for a long-lived user token"
    long = await call(
        ctx,
        "GET",
        f"{api}/oauth/access_token",
        what,
        params={
            "grant_type": "fb_exchange_token",
            "client_id": app_id,
            "client_secret": app_secret,
            "fb_exchange_token": token_string(short, "access_token", what),
        },
    )
    user = token_string(long, "access_token", what)
    perms = await call(
        ctx,
        "GET",
        f"{api}/me/permissions",
        "reading the permissions",
        params={"access_token": user},
    )
    rows = perms.get("data") if isinstance(perms.get("data"), list) else []
    granted = frozenset(
        str(r.get("permission"))
        for r in rows or []
        if isinstance(r, dict) and r.get("status") == "granted"
    )
    return user, Granted(needed, granted), []


async def _page(account: Account, ctx: Context, user: str, wanted: str | None) -> dict[str, Any]:
    """The page to publish as: ``wanted``, the only one, or the operator's choice."""
    graph, _, version = _graph(account)
    doc = await call(
        ctx,
        "GET",
        f"{graph}/{version}/me/accounts",
        "listing the pages",
        params={"access_token": user, "fields": "id,name,access_token"},
    )
    pages = [
        p
        for p in (doc.get("data") if isinstance(doc.get("data"), list) else []) or []
        if isinstance(p, dict) and isinstance(p.get("id"), str)
    ]
    for page in pages:
        if isinstance(page.get("access_token"), str):
            token_string(page, "access_token", "listing the pages")
    if not pages:
        raise ConnectError("the login granted no Page: choose at least one Page in the dialog")
    if wanted:
        for page in pages:
            if page["id"] == wanted:
                return page
        found = ", ".join(f"{p.get('name')} ({p['id']})" for p in pages)
        raise ConnectError(f"page {wanted} was not granted (granted: {found})")
    if len(pages) == 1:
        return pages[0]
    names = [f"{p.get('name')} ({p['id']})" for p in pages]
    return pages[await ctx.terminal.choose("Which Page publishes for this account?", names)]


async def connect_facebook(account: Account, ctx: Context) -> Obtained:
    needed = FACEBOOK_SCOPES.needed(ctx.options.purposes)
    user, granted, notes = await _user_token(account, ctx, needed)
    page = await _page(account, ctx, user, account.text("page_id"))
    token = token_string(page, "access_token", "reading the Page token")
    values = {"page_token": token, "page_id": page["id"]}
    return Obtained(values, granted, f"{page.get('name')} ({page['id']})", tuple(notes))


FACEBOOK_FLOW = Flow(
    "facebook",
    (Output(("page_token",)), Output(("page_id",), secret=False)),
    connect_facebook,
)

INSTAGRAM_TOKEN = ("token", "access_token", "page_token")
INSTAGRAM_USER = ("user_id", "ig_user_id", "instagram_id")


async def connect_instagram(account: Account, ctx: Context) -> Obtained:
    needed = INSTAGRAM_SCOPES.needed(ctx.options.purposes)
    user, granted, notes = await _user_token(account, ctx, needed)
    page = await _page(account, ctx, user, account.text("page_id"))
    token = token_string(page, "access_token", "reading the Page token")
    graph, _, version = _graph(account)
    doc = await call(
        ctx,
        "GET",
        f"{graph}/{version}/{page['id']}",
        "finding the Instagram account",
        params={"fields": "instagram_business_account", "access_token": token},
    )
    linked = doc.get("instagram_business_account")
    if not isinstance(linked, dict) or not isinstance(linked.get("id"), str):
        raise ConnectError(
            f"the Page {page.get('name')} ({page['id']}) has no Instagram professional account "
            "linked: link one in the Page's settings, then connect again"
        )
    ig = linked["id"]
    values = {
        first_key(account, INSTAGRAM_TOKEN): token,
        first_key(account, INSTAGRAM_USER): ig,
    }
    if "page_id" in account.table:
        values["page_id"] = page["id"]
    return Obtained(values, granted, f"Instagram {ig} (Page {page.get('name')})", tuple(notes))


INSTAGRAM_FLOW = Flow(
    "instagram",
    (
        Output(INSTAGRAM_TOKEN),
        Output(INSTAGRAM_USER, secret=False),
        Output(("page_id",), secret=False, required=False),
    ),
    connect_instagram,
)

THREADS_GRAPH = "https://graph.threads.net"
THREADS_AUTHORIZE = "https://threads.net/oauth/authorize"
THREADS_VERSION = "v1.0"
THREADS_TOKEN = ("token", "access_token")
THREADS_USER = ("user_id", "threads_user_id")


async def connect_threads(account: Account, ctx: Context) -> Obtained:
    graph = (account.text("api_base") or THREADS_GRAPH).rstrip("/")
    endpoint = THREADS_AUTHORIZE if graph == THREADS_GRAPH else f"{graph}/oauth/authorize"
    app_id, app_secret = _app(account, "Threads app's")
    needed = THREADS_SCOPES.needed(ctx.options.purposes)
    state = secrets.token_urlsafe(32)
    async with redirect(ctx, REGISTERED_PORT, state) as loopback:
        redirect_uri = chosen_redirect(ctx, loopback)
        auth = Authorization(
            endpoint, app_id, redirect_uri, needed, state=state, scope_separator=","
        )
        code = await authorize(ctx, auth, loopback)
    what = "exchanging the code for a Threads token"
    short = await call(
        ctx,
        "POST",
        f"{graph}/oauth/access_token",
        what,
        form={
            "client_id": app_id,
            "client_secret": app_secret,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )
    short_token = token_string(short, "access_token", what)
    what = "exchanging for a long-lived Threads token"
    long = await call(
        ctx,
        "GET",
        f"{graph}/access_token",
        what,
        params={
            "grant_type": "th_exchange_token",
            "client_secret": app_secret,
            "access_token": short_token,
        },
    )
    token = token_string(long, "access_token", what)
    me = await call(
        ctx,
        "GET",
        f"{graph}/{account.text('api_version') or THREADS_VERSION}/me",
        "reading the account",
        params={"fields": "id,username", "access_token": token},
    )
    user_id = me.get("id") or short.get("user_id")
    if not isinstance(user_id, (str, int)) or isinstance(user_id, bool):
        raise ConnectError("reading the account: Threads answered without the user id")
    values = {
        first_key(account, THREADS_TOKEN): token,
        first_key(account, THREADS_USER): str(user_id),
    }
    notes = []
    expires = expires_at(ctx, long)
    if expires is not None:
        notes.append(f"the Threads token expires {expires} unless refreshed (th_refresh_token)")
    granted = Granted(needed, scope_set(short.get("scope") or long.get("scope"), ","))
    return Obtained(values, granted, f"@{me.get('username')} ({user_id})", tuple(notes))


THREADS_FLOW = Flow(
    "threads",
    (Output(THREADS_TOKEN), Output(THREADS_USER, secret=False)),
    connect_threads,
)
