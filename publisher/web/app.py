"""The web view's HTTP side: routes, the token check, headers. GET only: nothing changes.

``add_routes`` puts the pages on an aiohttp application: one of its own (``publisher web``,
``[web] listen``) or the daemon's metrics listener (``[web] on_metrics``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from publisher.clock import Clock
from publisher.commands.common import UserError
from publisher.config import Config
from publisher.durations import format_duration
from publisher.media import MediaError, open_media
from publisher.queueset import media_roots
from publisher.secrets import Secret
from publisher.web import pages
from publisher.web.inbox import inbox_summary
from publisher.web.previews import find_media, rendered

if TYPE_CHECKING:
    from publisher.web.pages import Section

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADERS = {
    # No script, style or image from anywhere else; nothing may frame the pages.
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {"style.css": "text/css", "view.js": "text/javascript"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` only ever means this machine (a name is looked up: it may not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(a[4][0]).is_loopback for a in found)


def check_bind(host: str, token: Secret | None, where: str) -> None:
    """A view anyone on the network could reach needs a token: refuse to start without."""
    if is_loopback(host):
        return
    if token is None or not token.resolved:
        raise UserError(
            f"{where}: {host} is not a loopback address: the web view needs a token there "
            '([web] token = "${NAME}", a credential reference); refusing to start'
        )


def _authorized(request: web.Request, token: Secret | None) -> bool:
    if token is None:
        return True
    expected = token.reveal().encode()
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    given = b""
    if scheme.lower() == "bearer":
        given = value.strip().encode()
    elif scheme.lower() == "basic":
        try:
            given = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
        except (binascii.Error, ValueError):
            given = b""
    return hmac.compare_digest(given, expected)


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("publisher.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    return env


class View:
    """The pages of one config; ``clock`` is the daemon's (or the command's)."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        token: Secret | None,
        sections: Mapping[str, Section] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.token = token
        self.sections = dict(sections or {})
        self.env = environment()

    def guarded(self, handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            if not _authorized(request, self.token):
                return web.Response(
                    status=401,
                    text="a token is needed: Authorization: Bearer TOKEN (or Basic, as password)",
                    headers={**HEADERS, "WWW-Authenticate": 'Basic realm="publisher"'},
                )
            response = await handler(request)
            response.headers.update(HEADERS)
            return response

        return run

    def page(self, template: str, code: int = 200, **values: Any) -> web.Response:
        html = self.env.get_template(template).render({"zone": str(self.config.timezone), **values})
        return web.Response(text=html, status=code, content_type="text/html", charset="utf-8")

    def now(self) -> datetime:
        return self.clock.now()

    async def index(self, request: web.Request) -> web.StreamResponse:
        status = await pages.status(self.config, self.now(), self.sections)
        cal = await pages.calendar(self.config, self.now(), "week", None)
        return self.page("index.html", title="Overview", here="/", status=status, cal=cal)

    async def calendar(self, request: web.Request) -> web.StreamResponse:
        values = await pages.calendar(
            self.config, self.now(), request.query.get("view"), request.query.get("at")
        )
        return self.page("calendar.html", title="Calendar", here="/calendar", **values)

    async def preview(self, request: web.Request) -> web.StreamResponse:
        post_id = request.query.get("post", "")
        values = await pages.preview(self.config, self.now(), post_id)
        if values is None:
            return self.page(
                "missing.html", code=404, title="No such post", here="", post_id=post_id
            )
        return self.page("preview.html", title=f"Preview of {post_id}", here="", **values)

    async def status(self, request: web.Request) -> web.StreamResponse:
        status = await pages.status(self.config, self.now(), self.sections)
        return self.page("status.html", title="Status", here="/status", status=status)

    async def audit(self, request: web.Request) -> web.StreamResponse:
        values = await pages.audit_page(self.config, self.now())
        return self.page("audit.html", title="Audit", here="/audit", **values)

    async def media(self, request: web.Request) -> web.StreamResponse:
        """A preview's image: looked up in the post's render, opened beneath the media
        roots (``publisher.media``), never by a path the request gives."""
        q = request.query
        view = await pages.plan(self.config, self.now())
        part = q.get("part", "")
        if isinstance(view, list) or not part.isdigit():
            raise web.HTTPNotFound()
        item = find_media(
            rendered(view, self.config, q.get("post", "")),
            q.get("account", ""),
            int(part),
            q.get("item", ""),
        )
        if item is None:
            raise web.HTTPNotFound()
        roots = media_roots(self.config)
        try:
            found = await asyncio.to_thread(open_media, item.file, roots)
        except MediaError:
            raise web.HTTPNotFound() from None
        return web.Response(body=found.data, content_type=found.mime_type)

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        data = files("publisher.web").joinpath("static", name).read_bytes()
        return web.Response(body=data, content_type=STATIC[name])


def add_routes(app: web.Application, view: View) -> None:
    g = view.guarded
    app.router.add_get("/", g(view.index))
    app.router.add_get("/calendar", g(view.calendar))
    app.router.add_get("/preview", g(view.preview))
    app.router.add_get("/status", g(view.status))
    app.router.add_get("/audit", g(view.audit))
    app.router.add_get("/media", g(view.media))
    app.router.add_get("/static/{name}", g(view.static))


def mount(app: web.Application, config: Config, clock: Clock) -> None:
    """The daemon's web view (``[web]``), on ``app``: what ``publisher.commands.run`` is
    handed. UserError when the address it is served on needs a token it lacks."""
    from publisher.config import parse_listen

    listen = config.web.listen or config.metrics.listen
    host, _ = parse_listen(listen)
    which = "[web] listen" if config.web.listen else "[metrics] listen (with [web] on_metrics)"
    check_bind(host, config.web.token, f"{config.path.name}: {which} = {listen!r}")
    add_routes(app, View(config, clock, config.web.token, sections={"Inbox": inbox_summary}))
