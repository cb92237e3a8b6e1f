"""Logging: one event per line, text for people and journald, JSON for machines.

Events carry fields (``action``, ``post``, ``account``, ``network``, ...) passed with
``event(...)`` or ``logger.info(msg, extra={...})``. Every line is scrubbed of registered
secrets by the formatter, after everything (message, fields, traceback) is in it: the
formatter sits on the root handler, so third-party loggers (aiohttp, tweepy, urllib3,
oauthlib) are scrubbed too, not only ours. What an editor wrote is shown as written, so the
log never confirms a guessed secret (``publisher.redact``): the ``post`` field, values marked
``Verbatim`` and, in a line about a post, its ``PostScope`` names.

Under systemd the text lines start with an sd-daemon priority (``<6>`` for info) that
journald turns into the entry's priority, so ``journalctl -p warning`` works; journald adds
the timestamp, so the line has none.
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Literal

from publisher.redact import REDACTOR, Verbatim

# The fields the daemon uses, in the order they are printed; any other extra comes after.
FIELDS = (
    "action",
    "post",
    "account",
    "network",
    "delivery",
    "attempt",
    "state",
    "remote_url",
    "error",
)

# Libraries that log request details (headers, bodies, OAuth signatures) at DEBUG/INFO.
NOISY_LOGGERS = (
    "aiohttp",
    "tweepy",
    "urllib3",
    "requests",
    "requests_oauthlib",
    "oauthlib",
    "asyncpg",
    "watchfiles",
    "alembic",
)

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

_BARE = re.compile(r"^[^\s\"'=\\]+$")


def priority(levelno: int) -> int:
    """The syslog priority (sd-daemon(3)) of a Python level."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def event(
    logger: logging.Logger, level: int | str, action: str, msg: str, **fields: object
) -> None:
    """Log one event; fields that are None are left out so callers can pass them freely."""
    levelno = level if isinstance(level, int) else _level(level)
    if not logger.isEnabledFor(levelno):
        return
    extra = {"action": action, **{k: v for k, v in fields.items() if v is not None}}
    logger.log(levelno, "%s", msg, extra=extra, stacklevel=2)


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event fields of a record: the known ones in order, then any other extra."""
    attrs = vars(record)
    extra = attrs.keys() - _RECORD_ATTRS  # a set difference in C: a record has ~25 attributes
    out = {k: attrs[k] for k in FIELDS if k in extra and attrs[k] is not None}
    rest = sorted(k for k in extra if k not in out and attrs[k] is not None and k not in FIELDS)
    out.update((k, attrs[k]) for k in rest)
    return out


def _level(name: str) -> int:
    try:
        return LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r} (use {', '.join(LEVELS)})") from None


def _scrub(value: object, kept: list[str]) -> str:
    return REDACTOR.scrub(value if isinstance(value, str) else str(value), keep=kept, echoes=False)


def _kept(record: logging.LogRecord) -> list[str]:
    """What the line shows as written (the redactor also keeps it as quoting writes it)."""
    out: list[str] = []
    post = getattr(record, "post", None)
    if isinstance(post, str):
        out.append(post)
    if isinstance(record.msg, Verbatim):
        out.append(record.msg)
    args = record.args
    values = args.values() if isinstance(args, Mapping) else args or ()
    out.extend(a for a in values if isinstance(a, Verbatim))
    out.extend(v for v in event_fields(record).values() if isinstance(v, Verbatim))
    return out


class _Formatter(logging.Formatter):
    """Common part: scrub everything, and prefix every line with its priority if asked."""

    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        kept = _kept(record)
        text = REDACTOR.scrub(self.render(record, kept), keep=kept, echoes=False)
        if not self.journal:
            return text
        prefix = f"<{priority(record.levelno)}>"
        # journald makes one entry per line: each traceback line keeps the event's priority.
        return "\n".join(prefix + line for line in text.split("\n"))

    def render(self, record: logging.LogRecord, kept: list[str]) -> str:
        raise NotImplementedError

    def details(self, record: logging.LogRecord) -> str:
        """Traceback and stack, if any, as text (not cached on the record: it is unscrubbed)."""
        parts = []
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        elif record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)

    @staticmethod
    def timestamp(record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, tz=UTC)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(_Formatter):
    """``[time LEVEL ]logger: message key=value ...``, then traceback lines."""

    def render(self, record: logging.LogRecord, kept: list[str]) -> str:
        # The whole line is scrubbed in ``format``; only a value about to be quoted is
        # scrubbed first, since quoting could escape a secret's characters out of sight.
        head = f"{record.name}: {record.getMessage()}"
        if not self.journal:  # journald has its own timestamp and priority
            head = f"{self.timestamp(record)} {record.levelname} {head}"
        pairs = [f"{k}={_quote(v, kept)}" for k, v in event_fields(record).items()]
        line = " ".join([head, *pairs])
        details = self.details(record)
        return f"{line}\n{details}" if details else line


class JsonFormatter(_Formatter):
    """One JSON object per line: time, level, logger, message, the fields, exception."""

    def render(self, record: logging.LogRecord, kept: list[str]) -> str:
        obj: dict[str, Any] = {
            "time": self.timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _scrub(record.getMessage(), kept),
        }
        for key, value in event_fields(record).items():
            obj.setdefault(key, _json_value(value, kept))
        details = self.details(record)
        if details:
            obj["exception"] = _scrub(details, kept)
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _quote(value: object, kept: list[str]) -> str:
    text = value if isinstance(value, str) else str(value)
    if _BARE.match(text):
        return text
    return json.dumps(_scrub(text, kept), ensure_ascii=False)


def _json_value(value: object, kept: list[str]) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return _scrub(value, kept)


def under_journal(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """True if ``stream`` is the journal's stdout/stderr connection (``$JOURNAL_STREAM``)."""
    env = os.environ if environ is None else environ
    dev, _, ino = env.get("JOURNAL_STREAM", "").partition(":")
    if not dev or not ino:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False  # not a real file (StringIO, a closed or replaced stream)
    return f"{st.st_dev}:{st.st_ino}" == f"{dev}:{ino}"


class BackgroundWriter:
    """A stream whose writes happen in a thread of their own.

    The daemon's event loop formats (and scrubs) each line itself but never waits on the
    write: a log file on a disk busy with the database's fsyncs, or a journald socket that is
    full, must not hold back the next post. Lines are written in order, in batches: once woken,
    the writer lets a burst's lines gather for ``linger`` seconds, so a thousand lines cost a
    few wake-ups and writes, not a thousand. ``close`` (also run at exit) writes whatever is
    still queued; only a SIGKILL can lose the last few lines.
    """

    def __init__(self, stream: IO[str], linger: float = 0.02) -> None:
        self.stream = stream
        self.linger = linger
        self._lines: collections.deque[str] = collections.deque()
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="publisher-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def write(self, text: str) -> int:
        self._lines.append(text)
        if not self._wake.is_set():
            self._wake.set()
        return len(text)

    def flush(self) -> None:
        """Nothing to do here: the writer thread flushes after each batch."""

    def fileno(self) -> int:
        return self.stream.fileno()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if not self._closing:
                time.sleep(self.linger)
            self._wake.clear()  # before draining: a line added after this wakes us again
            batch: list[str] = []
            while self._lines:
                batch.append(self._lines.popleft())
            if batch:
                try:
                    self.stream.write("".join(batch))
                    self.stream.flush()
                except (OSError, ValueError):  # a closed or broken stream: nothing to do
                    pass
            if self._closing and not self._lines:
                return

    def close(self) -> None:
        if self._thread.is_alive():
            self._closing = True
            self._wake.set()
            self._thread.join(timeout=10)
        atexit.unregister(self.close)


def setup_logging(
    format: Literal["text", "json"] = "text",  # the config key's name, hence the shadowing
    level: str = "info",
    stream: IO[str] | None = None,
    *,
    journal: bool | None = None,
    quiet: Iterable[str] = NOISY_LOGGERS,
    background: bool = False,
) -> logging.Handler:
    """Install the one root handler (replacing a previous one of ours) and return it.

    ``journal``: None detects journald on ``stream``; True always prefixes priorities.
    ``quiet``: loggers set to WARNING, whatever ``level`` is.
    ``background``: write from a thread (``BackgroundWriter``), for the daemon.
    """
    if format not in ("text", "json"):
        raise ValueError(f"unknown log format {format!r} (use text or json)")
    stream = sys.stderr if stream is None else stream
    use_journal = under_journal(stream) if journal is None else journal
    formatter: logging.Formatter = (
        JsonFormatter(use_journal) if format == "json" else TextFormatter(use_journal)
    )
    target: Any = BackgroundWriter(stream) if background else stream
    handler = logging.StreamHandler(target)
    handler.setFormatter(formatter)
    handler.set_name("publisher")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "publisher":
            root.removeHandler(old)
            previous = getattr(old, "stream", None)
            if isinstance(previous, BackgroundWriter):
                previous.close()
    root.addHandler(handler)
    root.setLevel(_level(level))
    # No line shows a source file, thread or process: spare every record looking them up
    # (the logging HOWTO's "Optimization"; finding the caller walks the stack each time).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
