"""Importing a feed into a file: fetched, decided, checked whole, written; and ``[feeds]``.

``publisher feed import`` and the daemon's ``[feeds]`` task share this: the new file text is
parsed as a queue file before it replaces the old one, so a feed cannot leave a file that
``validate`` refuses; the GUID memory (``<file>.feeds.json``) is written after the file, and
post ids derived from GUIDs cover a crash between the two writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.clock import Clock
from publisher.config import Config, FeedSource
from publisher.diagnostics import Diagnostic, InvalidFileError
from publisher.feeds import (
    FeedError,
    append_posts,
    dump_memory,
    load_memory,
    parse_feed,
    post_for,
    select,
)
from publisher.files import write_atomically
from publisher.queuefile import load_queue, queue_text

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("publisher.feeds")

MAX_FEED_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT = 30.0
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"


def memory_path(target: Path) -> Path:
    return target.with_name(target.name + ".feeds.json")


@dataclass(frozen=True)
class ImportPlan:
    """What an import writes: the new file text and memory (None: unchanged), and a line."""

    text: str | None
    memory: str | None
    summary: str
    imported: int


def plan_import(
    data: bytes,
    url: str,
    target: Path,
    template: str,
    accounts: Sequence[str],
    at: str | None,
    limit: int,
) -> ImportPlan:
    """Decide the import from the files as they are now; raises FeedError."""
    items = parse_feed(data, url)
    current = queue_text(target, target.read_bytes()) if target.exists() else ""
    mem_file = memory_path(target)
    memory = load_memory(mem_file.read_text(encoding="utf-8") if mem_file.exists() else None)
    remembered = memory.setdefault(url, set())
    ids = {i.post_id for i in items if i.post_id in current}
    chosen = select(items, remembered, ids, limit)
    posts = [post_for(item, template, accounts, at) for item in chosen.new]
    text = append_posts(current, posts, url) if posts else None
    before = set(remembered)
    remembered.update(i.guid for i in (*chosen.new, *chosen.skipped))
    remembered.update(i.guid for i in items if i.post_id in ids)
    summary = f"{len(chosen.new)} new item(s) from {url} appended to {target}"
    if chosen.skipped:
        summary += f"; {len(chosen.skipped)} older new item(s) remembered, not imported (--max)"
    if chosen.seen:
        summary += f"; {chosen.seen} already imported"
    memory_text = dump_memory(memory) if remembered != before else None
    return ImportPlan(text, memory_text, summary, len(chosen.new))


def apply_import(config: Config, target: Path, plan: ImportPlan) -> None:
    """Check the new text as a queue file, then write it and the memory. Raises
    InvalidFileError (nothing written) when the result would not pass ``validate``."""
    if plan.text is not None:
        load_queue(target, config, data=plan.text.encode())
        write_atomically(target, plan.text.encode())
    if plan.memory is not None:
        write_atomically(memory_path(target), plan.memory.encode())


async def fetch(url: str, session: aiohttp.ClientSession | None = None) -> bytes:
    """The feed's bytes: over HTTP(S) (``session``, or one of its own), or a local file.
    Raises FeedError saying why not."""
    if not url.startswith(("http://", "https://")):
        try:
            data = await asyncio.to_thread(Path(url).read_bytes)
        except OSError as err:
            raise FeedError(f"cannot read {url}: {err.strerror or err}") from None
        return _bounded(url, data)
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    try:
        if session is None:
            async with aiohttp.ClientSession(timeout=timeout) as own:
                return await _get(own, url, timeout)
        return await _get(session, url, timeout)
    except (aiohttp.ClientError, TimeoutError) as err:
        raise FeedError(f"cannot fetch {url}: {type(err).__name__} {err}".rstrip()) from None


async def _get(session: aiohttp.ClientSession, url: str, bound: aiohttp.ClientTimeout) -> bytes:
    async with session.get(url, headers={"Accept": _ACCEPT}, timeout=bound) as resp:
        if resp.status != 200:
            raise FeedError(f"{url}: HTTP {resp.status} {resp.reason or ''}".rstrip())
        return _bounded(url, await resp.content.read(MAX_FEED_BYTES + 1))


def _bounded(url: str, data: bytes) -> bytes:
    if len(data) > MAX_FEED_BYTES:
        raise FeedError(f"{url}: larger than {MAX_FEED_BYTES // 2**20} MiB")
    return data


async def import_source(
    config: Config, source: FeedSource, target: Path, session: aiohttp.ClientSession | None
) -> ImportPlan:
    """One configured source into ``target``; raises FeedError or InvalidFileError."""
    data = await fetch(source.url, session)
    plan = plan_import(data, source.url, target, source.text, source.accounts, None, source.max)
    apply_import(config, target, plan)
    return plan


async def feed_loop(
    config: Config, clock: Clock, session: aiohttp.ClientSession | None, stop: asyncio.Event
) -> None:
    """``[feeds]``: every ``every``, each source into ``[feeds] into``. A source that fails is
    logged and tried again next round; the loop never stops the daemon."""
    target = config.feeds_path
    if target is None or not config.feeds.source:
        return
    while not stop.is_set():
        for source in config.feeds.source:
            try:
                plan = await import_source(config, source, target, session)
            except FeedError as err:
                log.error("feed %s: %s", source.url, err, extra={"action": "feed"})
            except InvalidFileError as err:
                first: Diagnostic = err.diagnostics[0]
                log.error(
                    "feed %s: its posts would make %s invalid, nothing written: %s",
                    source.url,
                    target,
                    first,
                    extra={"action": "feed"},
                )
            except OSError as err:
                log.error(
                    "feed %s: cannot write %s: %s",
                    source.url,
                    target,
                    err.strerror or err,
                    extra={"action": "feed"},
                )
            else:
                if plan.imported:
                    log.info("%s", plan.summary, extra={"action": "feed"})
        await clock.sleep_until(clock.now() + config.feeds.every, stop)
