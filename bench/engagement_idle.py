"""What engagement collection costs a daemon at rest (issue 16).

``python -m bench.engagement_idle`` from the repository root.

A ledger of 10,000 published posts (``--posts``), each with its engagement readings pending
(1h, 24h, 7d, 30d: none due in the window), is held by the same daemon twice, on copies of
the same database: once with ``engagement = false`` (the baseline), once with the default
ages. For each: the CPU time (utime + stime from ``/proc``) over an idle window after it is
ready and has settled, and its RSS (``VmRSS``) and peak RSS (``VmHWM``). Printed as ratios
collecting / baseline, measured in the same run on the same machine. Nothing asserts.

The posts are published for real first: ``publisher run`` sends them to ``bench/sink.py``
(which also answers the reads, ``GET /api/v1/statuses/:id`` and ``verify_credentials``), so
the ledger is what a daemon leaves behind, not rows written by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.run import (
    Account,
    Daemon,
    SinkProcess,
    burst_posts,
    reap_children,
    say,
    sqlite_published,
    timed_queue,
    wait_published,
    write_config,
)

ACCOUNTS = 10


@dataclass(frozen=True)
class Rest:
    """One daemon at rest: CPU over the window, memory at its end."""

    cpu_per_minute: float
    rss_mb: float
    hwm_mb: float
    ready_s: float
    pending: int  # readings pending in its database at the end


def engagement_config(path: Path, setting: str) -> None:
    """Each account's table gets ``engagement = <setting>`` ("" leaves the default)."""
    if not setting:
        return
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        lines.append(line)
        if line.startswith("network = "):
            lines.append(f"engagement = {setting}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def pending(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        with contextlib.suppress(sqlite3.OperationalError):  # no table: no readings
            row = conn.execute(
                "SELECT count(*) FROM engagement_due WHERE state = 'pending'"
            ).fetchone()
            return int(row[0])
        return 0
    finally:
        conn.close()


async def at_rest(root: Path, settle: float, window: float) -> Rest:
    daemon = Daemon(root / "publisher.toml", root, "daemon").start()
    try:
        ready = await daemon.wait_ready(180)
        await asyncio.sleep(settle)  # its first passes done (the collector plans at start)
        cpu0, t0 = daemon.cpu_seconds(), time.monotonic()
        await asyncio.sleep(window)
        cpu1, elapsed = daemon.cpu_seconds(), time.monotonic() - t0
        rss, hwm = daemon.memory_mb("VmRSS"), daemon.memory_mb("VmHWM")
    finally:
        daemon.stop()
    return Rest((cpu1 - cpu0) / (elapsed / 60), rss, hwm, ready, pending(root / "queue.db"))


async def measure(posts: int, window: float, settle: float, workdir: Path) -> tuple[Rest, Rest]:
    """The same ledger of ``posts`` published posts held at rest with engagement off, then on."""
    names = [f"brand-{i:02d}" for i in range(ACCOUNTS)]
    accounts = [Account(n, network="mastodon") for n in names]
    async with aiohttp.ClientSession() as http:
        with SinkProcess(workdir, http) as sink:
            # 1. The ledger: every post published by a daemon that collects nothing.
            source = workdir / "source"
            config = write_config(
                source, accounts, database=f"sqlite:///{source}/queue.db", sink_url=sink.url
            )
            engagement_config(config, "false")
            due = time.time() + 15
            queue = timed_queue(burst_posts(posts, names, due, per_post=1))
            (source / "queue.yaml").write_text(queue, encoding="utf-8")
            say("engagement", f"publishing {posts:,} posts to the sink")
            publisher = Daemon(config, source, "publish").start()
            try:
                await publisher.wait_ready(180)
                db = source / "queue.db"

                async def published() -> int:
                    return sqlite_published(db)

                await wait_published(sink, posts, published, 600, [publisher])
            finally:
                publisher.stop()
            # 2. The same ledger held twice: engagement off, then the default ages.
            rests: dict[str, Rest] = {}
            for name, setting in (("off", "false"), ("on", "")):
                root = workdir / name
                root.mkdir()
                shutil.copy(source / "queue.db", root / "queue.db")
                shutil.copy(source / "queue.yaml", root / "queue.yaml")
                config = write_config(
                    root, accounts, database=f"sqlite:///{root}/queue.db", sink_url=sink.url
                )
                engagement_config(config, setting)
                say("engagement", f"engagement {name}: {window:.0f} s at rest")
                rests[name] = await at_rest(root, settle, window)
    return rests["off"], rests["on"]


async def main(posts: int, window: float, settle: float, workdir: Path) -> None:
    off, on = await measure(posts, window, settle, workdir)
    print(f"\nEngagement at rest: {posts:,} published posts, {ACCOUNTS} Mastodon accounts")
    print(f"{'':34} {'off':>10} {'on':>10} {'on / off':>9}")
    rows = [
        ("CPU while idle (CPU-s per minute)", off.cpu_per_minute, on.cpu_per_minute, "{:.3f}"),
        ("RSS at the end (MB)", off.rss_mb, on.rss_mb, "{:.0f}"),
        ("peak RSS, start included (MB)", off.hwm_mb, on.hwm_mb, "{:.0f}"),
        ("start → ready (s)", off.ready_s, on.ready_s, "{:.1f}"),
    ]
    for label, a, b, fmt in rows:
        ratio = f"{b / a:.2f}" if a > 0 else "n/a"
        print(f"{label:34} {fmt.format(a):>10} {fmt.format(b):>10} {ratio:>9}")
    print(f"{'readings pending':34} {off.pending:>10,} {on.pending:>10,}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0, help="idle window, seconds")
    parser.add_argument("--settle", type=float, default=10.0, help="after ready, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="publisher-engagement-"))
    try:
        asyncio.run(main(args.posts, args.window, args.settle, workdir))
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        reap_children()
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    cli()
