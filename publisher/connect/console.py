"""The operator's terminal: messages on stderr (stdout stays for the result and ``--print``),
the browser opened where there is one, lines read from stdin for pastes and answers.

stdin is read by one daemon thread, so waiting for a paste never blocks the event loop (the
loopback redirect may come first) nor the interpreter's exit. A hidden answer on a terminal
goes through ``getpass``.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
import threading
import webbrowser
from collections.abc import Callable, Sequence

from publisher.connect.flow import ConnectError


def has_browser() -> bool:
    """A graphical session (or $BROWSER) to open a URL in; a server over SSH has none."""
    if os.environ.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def _in_daemon_thread(read: Callable[[], str]) -> str:
    """``read()`` off the loop, in a thread that does not hold the exit up (Ctrl-C while a
    prompt waits must end the command, not wait for Enter)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def run() -> None:
        try:
            value = read()
        except BaseException as err:  # EOF, Ctrl-C at the prompt: handed to the flow
            failure = ConnectError(f"no answer ({type(err).__name__}): abandoned, nothing stored")
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, answer, None, failure)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, answer, value, None)

    threading.Thread(target=run, name="connect-prompt", daemon=True).start()
    return await answer


def _settle(future: asyncio.Future[str], value: str | None, error: Exception | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert value is not None
        future.set_result(value)


class Console:
    def __init__(self, *, browser: bool) -> None:
        self._browser = browser
        self._lines: asyncio.Queue[str | None] | None = None

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    async def browse(self, url: str) -> None:
        if not (self._browser and has_browser()):
            return
        # webbrowser may wait for the browser command: not on the loop, which serves the
        # redirect it leads to.
        opened = await asyncio.to_thread(webbrowser.open, url)
        if not opened:
            self.say("(no browser could be opened: open the address yourself)")

    def _reader(self) -> asyncio.Queue[str | None]:
        if self._lines is None:
            loop = asyncio.get_running_loop()
            lines: asyncio.Queue[str | None] = asyncio.Queue()

            def read() -> None:
                try:
                    for line in sys.stdin:
                        loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
                except (OSError, ValueError, RuntimeError):
                    pass  # no stdin (a service, a test's capture): nobody can type
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                    loop.call_soon_threadsafe(lines.put_nowait, None)

            threading.Thread(target=read, name="connect-stdin", daemon=True).start()
            self._lines = lines
        return self._lines

    async def _line(self) -> str | None:
        lines = self._reader()
        line = await lines.get()
        if line is None:
            lines.put_nowait(None)  # stays at end of input
        return line

    async def pasted(self) -> str:
        while True:
            line = await self._line()
            if line is None:
                await asyncio.Event().wait()  # no stdin: only the redirect can answer
            elif line.strip():
                return line

    async def ask(self, question: str, *, hidden: bool) -> str:
        if hidden and sys.stdin.isatty():
            return await _in_daemon_thread(lambda: getpass.getpass(question, sys.stderr))
        print(question, end="", file=sys.stderr, flush=True)
        line = await self._line()
        if line is None:
            raise ConnectError("no answer (stdin is closed): abandoned, nothing stored")
        return line

    async def choose(self, question: str, options: Sequence[str]) -> int:
        self.say(question)
        for i, option in enumerate(options, 1):
            self.say(f"  {i}. {option}")
        while True:
            answer = (await self.ask(f"Number (1-{len(options)}): ", hidden=False)).strip()
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return int(answer) - 1
            self.say("Not one of the numbers shown.")
