"""A public media host for tests: a directory served over HTTP on 127.0.0.1.

Networks that fetch media from a URL (Instagram, Threads) are tested with a real
``DirectoryHost`` whose directory a ``LocalServer`` serves, as nginx would: the host writes
and verifies for real, and the network's local test server can fetch the URL it is given.
``fetched`` lists every path requested (the host's own check and the network's fetch), so a
test can assert the network fetched what was published.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from publisher.mediahost.directory import DirectoryHost
from publisher.testing.servers import LocalServer

PREFIX = "/media/"


class ServedDirectory:
    """``directory`` served under ``base_url``; ``host`` writes into it.

    ``async with ServedDirectory(tmp_path / "public", session) as served:``, then
    ``AdapterContext(session=session, clock=clock, host=served.host)``.
    """

    def __init__(self, directory: Path, session: aiohttp.ClientSession) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.fetched: list[str] = []
        app = web.Application(middlewares=[self._note])
        app.router.add_static(PREFIX, directory)
        self.server = LocalServer(app, access_log=False)
        self._session = session
        self._host: DirectoryHost | None = None

    @web.middleware
    async def _note(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.fetched.append(request.path)
        return await handler(request)

    @property
    def base_url(self) -> str:
        return self.server.url + PREFIX

    @property
    def host(self) -> DirectoryHost:
        if self._host is None:
            raise RuntimeError("the directory is not served yet (use `async with`)")
        return self._host

    def names(self) -> list[str]:
        """The files stored, by name (temporary files excepted)."""
        return sorted(p.name for p in self.directory.iterdir() if not p.name.startswith("."))

    async def __aenter__(self) -> ServedDirectory:
        await self.server.start()
        self._host = DirectoryHost(self.directory, self.base_url, self._session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()
