"""Local servers for adapter tests: an aiohttp app on 127.0.0.1, and addresses that fail.

Every network's test server starts the same way (an ``AppRunner``, a ``TCPSite`` on a free
port, the URL read back); ``LocalServer`` is that start-up, written once. ``Blackhole`` is a
listener whose connect never completes (a connect timeout), ``Refusing`` an address where
nothing listens (a refused connection).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from types import TracebackType

from aiohttp import web

HOST = "127.0.0.1"


class LocalServer:
    """Serves ``app`` on 127.0.0.1 at a free port; ``url`` is set once started."""

    def __init__(self, app: web.Application, *, access_log: bool = True) -> None:
        self.app = app
        self._access_log = access_log
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.port = 0

    async def start(self) -> str:
        # No access log on demand: some networks' paging URLs carry tokens.
        if self._access_log:
            runner = web.AppRunner(self.app)
        else:
            runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.url = f"http://{HOST}:{self.port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def serve(app: web.Application, *, access_log: bool = True) -> AsyncIterator[str]:
    """``app`` served on 127.0.0.1 for the ``async with`` block; yields its URL."""
    async with LocalServer(app, access_log=access_log) as server:
        yield server.url


class Blackhole:
    """A listener whose accept queue is full: a connect to ``url`` never completes."""

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []
        self.url = ""

    def open(self) -> str:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((HOST, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((HOST, port))
            self._fillers.append(filler)
        self._listener = listener
        self.url = f"http://{HOST}:{port}"
        return self.url

    def close(self) -> None:
        for s in self._fillers:
            s.close()
        self._fillers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> Blackhole:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Refusing:
    """A port held on 127.0.0.1 without listening: a connect to ``url`` is refused at once.

    The socket is bound, so no other server takes the port while the test runs.
    """

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self.url = ""

    def open(self) -> str:
        held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.bind((HOST, 0))
        self._socket = held
        self.url = f"http://{HOST}:{held.getsockname()[1]}"
        return self.url

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Refusing:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
