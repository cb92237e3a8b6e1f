"""Finding a secret in text, in whatever form it travels, and in what reaches the log.

``traces`` is computed here independently of ``publisher.redact`` (the scrubber under test):
every 8-character piece of text that only the secret could have made.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from publisher.logs import JsonFormatter, TextFormatter


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def traces(value: str) -> set[str]:
    """Every 8-character piece of text that only the secret could have made: of the value,
    its percent-encodings, JSON strings, base64 at each of the three byte offsets (the
    characters that depend on its bytes alone, both alphabets) and hex. Computed here,
    independently of ``publisher.redact``."""
    texts = {
        value,
        quote(value, safe=""),
        quote(quote(value, safe=""), safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    out: set[str] = set()
    for text in texts | {t.replace("/", "\\/") for t in texts}:
        data = text.encode()
        for pad in range(3):
            encoded = _b64(bytes(pad) + data)
            first, end = -(-8 * pad // 6), 8 * (pad + len(data)) // 6
            core = encoded[first:end]
            texts_b64 = {core, core.replace("+", "-").replace("/", "_")}
            for c in texts_b64:
                out.update(c[i : i + 8] for i in range(len(c) - 7))
        out.update(text[i : i + 8] for i in range(len(text) - 7))
    for h in (value.encode().hex(), value.encode().hex().upper()):
        out.update(h[i : i + 8] for i in range(len(h) - 7))
    return out


def leaks(text: str, *secrets: str) -> list[str]:
    """The traces of ``secrets`` found in ``text``; empty when none is there in any form."""
    return sorted({t for s in secrets for t in traces(s) if t in text})


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class LogCapture:
    """Every record logged meanwhile, as the daemon's text and JSON formatters write it."""

    def __init__(self, handler: _Keep) -> None:
        self._handler = handler

    @property
    def records(self) -> list[logging.LogRecord]:
        return list(self._handler.records)

    def text(self) -> str:
        """What reached the log: each record as the text and the JSON formatter write it."""
        formatters: list[logging.Formatter] = [TextFormatter(False), JsonFormatter(False)]
        return "\n".join(f.format(r) for r in self._handler.records for f in formatters)


@contextmanager
def captured_logs() -> Iterator[LogCapture]:
    """Catch every record of every logger, DEBUG and up, for the ``with`` block."""
    root = logging.getLogger()
    handler = _Keep()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield LogCapture(handler)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
