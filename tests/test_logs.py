"""Log lines: fields, formats, journald priorities, and no secret in any of them."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.logs import (
    NOISY_LOGGERS,
    BackgroundWriter,
    event,
    priority,
    setup_logging,
    under_journal,
)
from publisher.secrets import REDACTOR, Secret

log = logging.getLogger("publisher.test")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = [*NOISY_LOGGERS, "aiohttp.client", "tweepy.client", "urllib3.connectionpool"]
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for n, lv in levels.items():
        logging.getLogger(n).setLevel(lv)


@pytest.fixture
def canary() -> str:
    value = f"canary-{uuid.uuid4().hex}"
    Secret("CANARY", value)  # resolving a secret registers it, as config loading does
    return value


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_line_carries_the_fields() -> None:
    out = io.StringIO()
    setup_logging("text", "info", out)
    event(log, "info", "publish", "published", post="winter-sale", account="brand-x",
          network="x", delivery=17, attempt=2, state="published",
          remote_url="https://x.com/brand/status/1", error=None)
    [line] = lines(out)
    assert " INFO publisher.test: published " in line
    assert line.endswith(
        "action=publish post=winter-sale account=brand-x network=x delivery=17 attempt=2 "
        "state=published remote_url=https://x.com/brand/status/1"
    )
    assert "error=" not in line  # None fields are left out


def test_text_quotes_values_with_spaces() -> None:
    out = io.StringIO()
    setup_logging("text", "info", out)
    log.warning("retrying", extra={"action": "retry", "error": 'HTTP 503 "busy"', "post": "a"})
    [line] = lines(out)
    assert 'action=retry post=a error="HTTP 503 \\"busy\\""' in line


def test_json_lines_parse_and_carry_the_fields() -> None:
    out = io.StringIO()
    setup_logging("json", "debug", out)
    event(log, logging.INFO, "publish", "published", post="p1", account="brand-x",
          network="x", attempt=1, custom=3.5)
    log.debug("plain line")
    first, second = (json.loads(line) for line in lines(out))
    assert first["message"] == "published"
    assert first["level"] == "info"
    assert first["logger"] == "publisher.test"
    assert first["time"].endswith("Z")
    assert {k: first[k] for k in ("action", "post", "account", "network", "attempt", "custom")} == {
        "action": "publish", "post": "p1", "account": "brand-x", "network": "x",
        "attempt": 1, "custom": 3.5,
    }
    assert second["message"] == "plain line" and "action" not in second


def test_json_exception_stays_on_one_line() -> None:
    out = io.StringIO()
    setup_logging("json", "info", out)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("send failed", extra={"action": "publish"})
    [line] = lines(out)
    obj = json.loads(line)
    assert "Traceback" in obj["exception"] and "RuntimeError: boom" in obj["exception"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_canary_never_appears(fmt: str, canary: str) -> None:
    out = io.StringIO()
    setup_logging(fmt, "debug", out, quiet=())  # type: ignore[arg-type]
    log.info("token is %s", canary)
    event(log, "warning", "publish", f"rejected {canary}", error=f"401 for {canary}",
          remote_url=f"https://graph.example/me?access_token={canary}")
    try:
        raise PermissionError(f"bad credentials {canary}")
    except PermissionError:
        log.exception("failed with %s", canary, extra={"error": canary})
    log.info("stack", stack_info=True, extra={"account": canary})
    text = out.getvalue()
    assert canary not in text
    assert text.count("***") >= 7
    assert "PermissionError: bad credentials ***" in text
    if fmt == "json":
        for line in lines(out):
            json.loads(line)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_third_party_debug_lines_are_scrubbed(fmt: str, canary: str) -> None:
    out = io.StringIO()
    setup_logging(fmt, "debug", out, quiet=())  # type: ignore[arg-type]
    logging.getLogger("urllib3.connectionpool").debug('"POST /2/tweets?k=%s HTTP/1.1" 201', canary)
    logging.getLogger("aiohttp.client").debug("headers: {'Authorization': 'Bearer %s'}", canary)
    logging.getLogger("oauthlib.oauth1.rfc5849").debug("Signing request with secret %s", canary)
    text = out.getvalue()
    assert len(lines(out)) == 3
    assert canary not in text


def test_noisy_loggers_are_quiet_by_default(canary: str) -> None:
    out = io.StringIO()
    setup_logging("text", "debug", out)
    logging.getLogger("aiohttp.client").debug("request body %s", canary)
    logging.getLogger("tweepy.client").info("making API request")
    logging.getLogger("urllib3").warning("retrying %s", canary)
    log.debug("ours")
    text = out.getvalue()
    assert "request body" not in text and "making API request" not in text
    assert "retrying ***" in text and "publisher.test: ours" in text


@pytest.mark.parametrize(
    ("level", "prio"),
    [(logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3),
     (logging.CRITICAL, 2)],
)
def test_priority_prefixes(level: int, prio: int) -> None:
    assert priority(level) == prio
    out = io.StringIO()
    setup_logging("text", "debug", out, journal=True)
    event(log, level, "check", "hello", post="p")
    [line] = lines(out)
    assert line == f"<{prio}>publisher.test: hello action=check post=p"  # journald adds the time


def test_journal_traceback_lines_keep_the_priority() -> None:
    out = io.StringIO()
    setup_logging("text", "info", out, journal=True)
    try:
        raise ValueError("nope")
    except ValueError:
        log.error("failed", exc_info=True)
    got = lines(out)
    assert len(got) > 2
    assert all(line.startswith("<3>") for line in got)
    assert got[-1] == "<3>ValueError: nope"


def test_journal_prefix_on_json_lines() -> None:
    out = io.StringIO()
    setup_logging("json", "info", out, journal=True)
    log.warning("w")
    [line] = lines(out)
    assert line.startswith("<4>{")
    assert json.loads(line[3:])["level"] == "warning"


def test_journal_detected_from_journal_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(tmp_path / "stderr", "w", encoding="utf-8") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert under_journal(stream)
        setup_logging("text", "info", stream)
        log.info("to the journal")
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino + 1}")
        assert not under_journal(stream)
        setup_logging("text", "info", stream)
        log.info("to a file")
    first, second = (tmp_path / "stderr").read_text(encoding="utf-8").splitlines()
    assert first == "<6>publisher.test: to the journal"
    assert not second.startswith("<") and second.endswith(" INFO publisher.test: to a file")
    assert not under_journal(io.StringIO())
    assert not under_journal(stream, {})


def test_setup_twice_keeps_one_handler() -> None:
    out = io.StringIO()
    setup_logging("text", "info", out)
    setup_logging("text", "info", out)
    log.info("once")
    assert len(lines(out)) == 1


def test_bad_format_or_level() -> None:
    with pytest.raises(ValueError, match="log format"):
        setup_logging("xml", "info", io.StringIO())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log level"):
        setup_logging("text", "loud", io.StringIO())


def test_redactor_registry_is_shared(canary: str) -> None:
    assert REDACTOR.scrub(canary) == "***"


class _BlockedStream(io.StringIO):
    """A log destination that stalls (a busy disk, a full journald socket) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        assert self.release.wait(10)
        return super().write(text)


def test_background_writer_never_makes_the_caller_wait_and_loses_nothing(canary: str) -> None:
    out = _BlockedStream()
    handler = setup_logging("text", "info", out, background=True)
    event(log, "info", "publish", "first")
    assert out.entered.wait(10)  # the writer thread is stuck in the stream's write...
    for i in range(200):  # ...and the daemon goes on logging, without waiting for it
        event(log, "info", "publish", f"line {i} with {canary}")
    assert out.getvalue() == ""
    out.release.set()
    writer = handler.stream  # type: ignore[attr-defined]
    assert isinstance(writer, BackgroundWriter)
    writer.close()  # at exit: everything queued is written, in order
    got = lines(out)
    assert [line.split(": ", 1)[1].split(" action=")[0] for line in got] == [
        "first",
        *(f"line {i} with ***" for i in range(200)),
    ]
    assert canary not in out.getvalue()


def test_a_new_setup_closes_the_previous_background_writer() -> None:
    out = io.StringIO()
    first = setup_logging("text", "info", out, background=True)
    event(log, "info", "publish", "before")
    setup_logging("text", "info", io.StringIO())
    writer = first.stream  # type: ignore[attr-defined]
    assert not writer._thread.is_alive()
    assert "before" in out.getvalue()
